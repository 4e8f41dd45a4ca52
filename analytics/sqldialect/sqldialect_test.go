package sqldialect

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTranslateMedian(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "SELECT median(x) FROM t", "SELECT " + MedianExpr("x") + " FROM t"},
		{"upper case and space", "SELECT MEDIAN (p.follower_count) AS m", "SELECT " + MedianExpr("p.follower_count") + " AS m"},
		{"nested argument", "SELECT median(coalesce(a, b))", "SELECT " + MedianExpr("coalesce(a, b)")},
		{"two", "SELECT median(a), median(b)", "SELECT " + MedianExpr("a") + ", " + MedianExpr("b")},
		{"comment untouched", "-- the median(x) of t\nSELECT 1", "-- the median(x) of t\nSELECT 1"},
		{"string untouched", "SELECT 'median(x)'", "SELECT 'median(x)'"},
		{"word, not call", "SELECT median_x FROM t", "SELECT median_x FROM t"},
		{"portable text unchanged", "SELECT EXTRACT(YEAR FROM \"timestamp\"), avg(CAST(a AS DOUBLE)) FROM \"user\"", "SELECT EXTRACT(YEAR FROM \"timestamp\"), avg(CAST(a AS DOUBLE)) FROM \"user\""},
		{"trino replace() is fine", "SELECT replace(a, 'x')", "SELECT replace(a, 'x')"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Athena(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestTranslateRejectsDuckDBOnly(t *testing.T) {
	for _, tc := range []struct{ in, wantErr string }{
		{"SELECT a::int", "line 1: the :: cast is DuckDB-only"},
		{"SELECT 1\nFROM t QUALIFY row_number() OVER () = 1", "line 2: QUALIFY"},
		{"SELECT a FROM t WHERE a ILIKE 'x%'", "ILIKE"},
		{"SELECT * EXCLUDE (a) FROM t", "EXCLUDE/REPLACE"},
		{"SELECT quantile_cont(a, 0.5) FROM t", "this function"},
		{"SELECT * FROM read_parquet('x')", "this function"},
		{"SELECT a // 2", "// integer division"},
		{"SELECT median(a, b)", "median takes one argument"},
		{"SELECT median(a", "unbalanced"},
	} {
		_, err := Athena(tc.in)
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.wantErr, tc.in)
		assert.True(t, strings.HasPrefix(err.Error(), "sqldialect.Athena: "), err.Error())
	}
}

// The rewrite is reversible: putting median(x) back where MedianExpr(x) stands gives the input,
// so nothing but the median changed.
func TestTranslateOnlyTouchesMedian(t *testing.T) {
	in := "WITH a AS (SELECT g, median(v) AS m FROM t GROUP BY g)\n-- median(v) in a comment\nSELECT g, median(m * 2) FROM a GROUP BY g"
	out, err := Athena(in)
	require.NoError(t, err)
	back := strings.ReplaceAll(strings.ReplaceAll(out, MedianExpr("v"), "median(v)"), MedianExpr("m * 2"), "median(m * 2)")
	assert.Equal(t, in, back)
}

func FuzzAthena(f *testing.F) {
	for _, s := range []string{"SELECT median(x) FROM t", "SELECT 'a''b' -- c\n/* d */", "median((", "SELECT \"median\"(x)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		out, err := Athena(sql) // must not panic
		if err == nil && !medianCall.MatchString(Mask(sql)) && out != sql {
			t.Fatalf("no median in %q but output changed: %q", sql, out)
		}
	})
}
