package sqldialect

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/stretchr/testify/require"
)

// MedianExpr is written in SQL that DuckDB runs too, so DuckDB can check it against its own
// exact median(): same value for every group, odd and even counts, nulls, ties, a group with no
// value at all.
func TestMedianExprIsTheExactMedian(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("CREATE TABLE t (g INTEGER, x BIGINT)")
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(1, 2))
	var rows []string
	for g := 0; g < 200; g++ {
		n := g % 9 // 0..8 values: empty, odd and even groups
		for i := 0; i < n; i++ {
			v := fmt.Sprint(r.IntN(50) * 1000) // ties are likely
			if r.IntN(5) == 0 {
				v = "NULL"
			}
			rows = append(rows, fmt.Sprintf("(%d, %s)", g, v))
		}
		if n == 0 {
			rows = append(rows, fmt.Sprintf("(%d, NULL)", g))
		}
	}
	_, err = db.Exec("INSERT INTO t VALUES " + strings.Join(rows, ","))
	require.NoError(t, err)

	q := "SELECT g, median(x), " + MedianExpr("x") + " FROM t GROUP BY g ORDER BY g"
	res, err := db.Query(q)
	require.NoError(t, err, q)
	defer res.Close()
	groups := 0
	for res.Next() {
		var g int
		var want, got sql.NullFloat64
		require.NoError(t, res.Scan(&g, &want, &got))
		require.Equal(t, want, got, "group %d", g)
		groups++
	}
	require.NoError(t, res.Err())
	require.Equal(t, 200, groups)
}
