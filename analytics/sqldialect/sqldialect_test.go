package sqldialect

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// staged is a small analysis file in stages: posts per category, the top category.
const staged = `-- Posts per category.
-- The top one.

-- @partial: counts
SELECT category, count(*) AS n
FROM pin
GROUP BY category

-- @merge
SELECT category, CAST(sum(n) AS BIGINT) AS n FROM partials GROUP BY category;

-- @final
WITH ranked AS (SELECT category, n, row_number() OVER (ORDER BY n DESC, category) AS rn FROM merged)
SELECT category, n FROM ranked WHERE rn = 1
`

func TestSplit(t *testing.T) {
	st, err := Split(staged)
	require.NoError(t, err)
	assert.Equal(t, "-- Posts per category.\n-- The top one.\n\n", st.Header)
	assert.Equal(t, "-- partial: counts\nSELECT category, count(*) AS n\nFROM pin\nGROUP BY category", st.Partial, "the marker a plain comment")
	assert.Equal(t, "-- merge\nSELECT category, CAST(sum(n) AS BIGINT) AS n FROM partials GROUP BY category", st.Merge, "a trailing ; is dropped")
	assert.True(t, strings.HasPrefix(st.Final, "-- final\nWITH ranked AS"))
	assert.True(t, HasStages(staged))
	assert.False(t, HasStages("SELECT 1 -- @partial"))
}

func TestSplitErrors(t *testing.T) {
	for _, tc := range []struct{ in, wantErr string }{
		{"SELECT 1", "found 0"},
		{"-- @partial\nSELECT 1 FROM pin\n-- @final\nSELECT 1 FROM merged", "found 2"},
		{"-- @merge\nSELECT 1 FROM partials\n-- @partial\nSELECT 1 FROM pin\n-- @final\nSELECT 1 FROM merged", "line 1: -- @merge where -- @partial belongs"},
		{"-- @partial\n-- nothing\n-- @merge\nSELECT 1 FROM partials\n-- @final\nSELECT 1 FROM merged", "line 1: the partial stage has no statement"},
		{"-- @partial\nSELECT 1 FROM pin; SELECT 2\n-- @merge\nSELECT 1 FROM partials\n-- @final\nSELECT 1 FROM merged", "more than one statement"},
		{"-- @partial\nSELECT 1 FROM pin\n-- @merge\nSELECT 1 FROM pin\n-- @final\nSELECT 1 FROM merged", "the merge stage must read partials"},
		{"-- @partial\nSELECT 1 FROM pin\n-- @merge\nSELECT 1 FROM partials\n-- @final\nSELECT 1 FROM partials", "the final stage must read merged"},
		{"-- @partial\nSELECT 1 FROM merged\n-- @merge\nSELECT 1 FROM partials\n-- @final\nSELECT 1 FROM merged", "the partial stage reads the clean tables, not merged"},
	} {
		_, err := Split(tc.in)
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.wantErr, tc.in)
		_, err = Statement(tc.in)
		if HasStages(tc.in) {
			assert.Error(t, err, "Statement refuses what Split refuses: %s", tc.in)
		}
	}
	// A marker in quoted text or a block comment is not a marker.
	assert.False(t, HasStages("SELECT '\n-- @partial\n'"))
	assert.False(t, HasStages("/*\n-- @partial\n*/ SELECT 1"))
}

func TestRelations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`SELECT * FROM pin p JOIN "user" u ON u.ind = p.ind`, []string{"pin", "user"}},
		{`SELECT EXTRACT(YEAR FROM g."timestamp") FROM geo g`, []string{"geo"}},
		{`SELECT trim(BOTH ' ' FROM x), substring(y FROM 2) FROM t`, []string{"t"}},
		{"WITH a AS (SELECT x FROM Pin) SELECT * FROM a -- FROM geo\nJOIN b ON true", []string{"pin", "a", "b"}},
		{`SELECT 'FROM geo' FROM (SELECT 1 FROM partials) s`, []string{"partials"}},
	} {
		assert.Equal(t, tc.want, Relations(tc.in), tc.in)
	}
}

func TestWith(t *testing.T) {
	ctes := []CTE{{"pin", "SELECT 1 AS a"}, {"user", "SELECT 2 AS b"}}
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "SELECT * FROM pin", "WITH \"pin\" AS (SELECT 1 AS a),\n     \"user\" AS (SELECT 2 AS b)\nSELECT * FROM pin"},
		{"comments kept first", "-- c\n-- d\nSELECT 1", "-- c\n-- d\nWITH \"pin\" AS (SELECT 1 AS a),\n     \"user\" AS (SELECT 2 AS b)\nSELECT 1"},
		{"own WITH merged", "-- c\nWITH x AS (SELECT 3)\nSELECT * FROM x", "-- c\nWITH \"pin\" AS (SELECT 1 AS a),\n     \"user\" AS (SELECT 2 AS b),\nx AS (SELECT 3)\nSELECT * FROM x"},
		{"with in a comment is not the query's", "-- with x\nSELECT 1", "-- with x\nWITH \"pin\" AS (SELECT 1 AS a),\n     \"user\" AS (SELECT 2 AS b)\nSELECT 1"},
	} {
		got, err := With(tc.in, ctes...)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
	got, err := With("SELECT * FROM a", CTE{"a", "SELECT 1\nFROM t"})
	require.NoError(t, err)
	assert.Equal(t, "WITH \"a\" AS (\n    SELECT 1\n    FROM t\n)\nSELECT * FROM a", got, "a multi-line definition on lines of its own")
	_, err = With("SELECT 1", CTE{"Bad Name", "SELECT 1"})
	assert.ErrorContains(t, err, `name "Bad Name" is not a plain lower-case identifier`)
	_, err = With("SELECT 1", CTE{"a", " -- nothing"})
	assert.ErrorContains(t, err, `"a" has no query`)
	_, err = With("  ", ctes...)
	assert.ErrorContains(t, err, "empty query")
}

// The composed statement runs in DuckDB (whose WITH semantics Trino shares) and gives what the
// stages give one after the other, and what the stages give over a union of partials.
func TestStatementRuns(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE pin AS SELECT * FROM (VALUES ('art'), ('art'), ('travel'), ('beauty'), ('travel'), ('art')) t(category)`)
	require.NoError(t, err)
	q, err := Statement(staged)
	require.NoError(t, err)
	assert.Equal(t, `-- Posts per category.
-- The top one.

WITH "partials" AS (
    -- partial: counts
    SELECT category, count(*) AS n
    FROM pin
    GROUP BY category
),
"merged" AS (
    -- merge
    SELECT category, CAST(sum(n) AS BIGINT) AS n FROM partials GROUP BY category
),
-- final
ranked AS (SELECT category, n, row_number() OVER (ORDER BY n DESC, category) AS rn FROM merged)
SELECT category, n FROM ranked WHERE rn = 1
`, q)
	assert.False(t, HasStages(q), "a composed statement has no markers left")
	again, err := Statement(q)
	require.NoError(t, err)
	assert.Equal(t, q, again)
	var cat string
	var n int64
	require.NoError(t, db.QueryRow(q).Scan(&cat, &n), q)
	assert.Equal(t, "art", cat)
	assert.Equal(t, int64(3), n)

	// The stages apart: the partial over two halves, merged, then the final.
	st, err := Split(staged)
	require.NoError(t, err)
	half := func(cond string) string {
		q, err := With(st.Partial, CTE{"pin", "SELECT * FROM main.pin WHERE " + cond})
		require.NoError(t, err)
		return q
	}
	merge, err := With(st.Merge, CTE{Partials, "SELECT * FROM (" + half("category < 'b'") + ")\nUNION ALL\nSELECT * FROM (" + half("category >= 'b'") + ")"})
	require.NoError(t, err)
	final, err := With(st.Final, CTE{Merged, merge})
	require.NoError(t, err)
	require.NoError(t, db.QueryRow(final).Scan(&cat, &n), final)
	assert.Equal(t, "art", cat)
	assert.Equal(t, int64(3), n)

	// A file without stages is a statement already.
	same, err := Statement("SELECT 1")
	require.NoError(t, err)
	assert.Equal(t, "SELECT 1", same)
}

func TestAthenaRejectsDuckDBOnly(t *testing.T) {
	for _, tc := range []struct{ in, wantErr string }{
		{"SELECT a::int", "line 1: the :: cast is DuckDB-only"},
		{"SELECT 1\nFROM t QUALIFY row_number() OVER () = 1", "line 2: QUALIFY"},
		{"SELECT a FROM t WHERE a ILIKE 'x%'", "ILIKE"},
		{"SELECT * EXCLUDE (a) FROM t", "EXCLUDE/REPLACE"},
		{"SELECT quantile_cont(a, 0.5) FROM t", "this function"},
		{"SELECT * FROM read_parquet('x')", "this function"},
		{"SELECT a // 2", "// integer division"},
		{"SELECT median(a) FROM t", "median() is DuckDB-only; Trino has only an approximate median"},
	} {
		_, err := Athena(tc.in)
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.wantErr, tc.in)
		assert.True(t, strings.HasPrefix(err.Error(), "sqldialect.Athena: "), err.Error())
	}
	// Comments and quoted text are not code.
	q, err := Athena("-- median(x) :: QUALIFY\nSELECT 'median(x)' AS \"a::b\"")
	require.NoError(t, err)
	assert.Equal(t, "-- median(x) :: QUALIFY\nSELECT 'median(x)' AS \"a::b\"", q)
	q, err = Athena(staged)
	require.NoError(t, err)
	want, err := Statement(staged)
	require.NoError(t, err)
	assert.Equal(t, want, q, "Athena runs the composed statement")
}

func FuzzAthena(f *testing.F) {
	for _, s := range []string{"SELECT median(x) FROM t", "SELECT 'a''b' -- c\n/* d */", "median((", "SELECT \"median\"(x)", staged, "-- @partial\n-- @merge\n-- @final\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		out, err := Athena(sql) // must not panic
		if err == nil && !HasStages(sql) && out != sql {
			t.Fatalf("no stages in %q but output changed: %q", sql, out)
		}
		Relations(sql)
	})
}
