package athena_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/constructs/athena"
	"github.com/pinpipe/pinpipe/constructs/golambda"
	"github.com/pinpipe/pinpipe/stacks"
)

// The analysis queries bound to streaming tables that carry re-sent records give exactly the
// batch answers over the same records kept once per ind (run in DuckDB, which shares the SQL the
// files use with Athena).
func TestStreamingQueriesEqualBatchQueries(t *testing.T) {
	root, err := golambda.FindModuleRoot()
	require.NoError(t, err)
	queries, err := stacks.AthenaQueries(filepath.Join(root, stacks.AnalysisSQLDir))
	require.NoError(t, err)
	require.Len(t, queries, 8)

	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	const user = "demo"
	setup := []string{
		"SELECT setseed(0.42)",
		`CREATE TABLE demo_pin_table AS SELECT i::BIGINT AS ind, 'u' || i AS unique_id, 't' AS title, 'd' AS description,
			CASE WHEN i % 11 = 0 THEN NULL ELSE (random() * 1000000)::BIGINT END AS follower_count,
			'poster' || (i % 40) AS poster_name, 'a,b' AS tag_list, 'image' AS is_image_or_video, 'http://x' AS image_src,
			'/data/x' AS save_location, ['art', 'travel', 'quotes', 'finance'][1 + (i % 4)::INT] AS category
			FROM range(0, 400) r(i)`,
		`CREATE TABLE demo_geo_table AS SELECT i::BIGINT AS ind, 'Country' || (i % 9) AS country, [1.0, 2.0] AS coordinates,
			TIMESTAMP '2017-06-01 00:00:00' + to_days((random() * 2000)::INT) AS "timestamp" FROM range(0, 400) r(i)`,
		`CREATE TABLE demo_user_table AS SELECT i::BIGINT AS ind, 'name' || i AS user_name, (15 + random() * 50)::BIGINT AS age,
			TIMESTAMP '2015-01-01 00:00:00' + to_days((random() * 2000)::INT) AS date_joined FROM range(0, 400) r(i)`,
	}
	for _, k := range []string{"pin", "geo", "user"} {
		table := user + "_" + k + "_table"
		setup = append(setup,
			// The batch tables: one row per ind.
			fmt.Sprintf(`CREATE TABLE "%s" AS SELECT * FROM %s`, k, table),
			// The stream re-sent some records.
			fmt.Sprintf(`INSERT INTO %s SELECT * FROM %s WHERE ind %% 7 = 0`, table, table))
	}
	for _, q := range setup {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}

	views := stacks.StreamingViews(user)
	for name, q := range queries {
		bound, err := athena.Bind(q, views)
		require.NoError(t, err)
		want, got := rows(t, db, q), rows(t, db, bound)
		require.NotEmpty(t, want, name)
		assert.Equal(t, want, got, name)
	}
}

func rows(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	r, err := db.Query(q)
	require.NoError(t, err, q)
	defer r.Close()
	cols, err := r.Columns()
	require.NoError(t, err)
	var out []string
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, r.Scan(ptrs...))
		out = append(out, strings.TrimSpace(fmt.Sprint(vals...)))
	}
	require.NoError(t, r.Err())
	return out
}
