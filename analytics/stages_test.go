package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/analytics/sqldialect"
	"github.com/pinpipe/pinpipe/record"
)

// randomTables fills clean tables pin, geo and "user" with n random posts shaped to reach the
// rules' edges: join misses on both sides, nulls in every key and measure, many ties (few distinct
// names and counts), groups of odd and even sizes, and follower counts past 2^53, where a DOUBLE
// no longer holds every integer and a median computed another way would round differently.
func randomTables(t *testing.T, db *sql.DB, seed float64, n int) {
	t.Helper()
	stmts := []string{fmt.Sprintf("SELECT setseed(%g)", seed)}
	for _, k := range record.Kinds {
		stmts = append(stmts, clean.TableDDL(k, tableName(k)))
	}
	stmts = append(stmts,
		fmt.Sprintf(`INSERT INTO pin (ind, unique_id, category, poster_name, follower_count)
		SELECT i, 'u' || i,
		       CASE WHEN random() < 0.05 THEN NULL ELSE ['art', 'travel', 'quotes', 'finance', 'beauty'][1 + CAST(floor(random() * 5) AS INT)] END,
		       CASE WHEN random() < 0.05 THEN NULL ELSE 'Poster ' || CAST(floor(random() * 30) AS INT) END,
		       CASE WHEN random() < 0.08 THEN NULL
		            WHEN random() < 0.6 THEN CAST(floor(random() * 20) AS BIGINT)
		            WHEN random() < 0.5 THEN CAST(floor(random() * 1000) AS BIGINT) * 1000
		            ELSE [9007199254740993, 9007199254740995, 4611686018427387903, 4611686018427387905, 1000000000000000001][1 + CAST(floor(random() * 5) AS INT)]
		       END
		FROM range(%d) r(i) WHERE random() < 0.93`, n),
		fmt.Sprintf(`INSERT INTO geo
		SELECT i, CASE WHEN random() < 0.05 THEN NULL ELSE 'Country ' || CAST(floor(random() * 7) AS INT) END,
		       [1.5, -2.5],
		       CASE WHEN random() < 0.05 THEN NULL ELSE TIMESTAMP '2016-01-01 00:00:00' + to_days(CAST(floor(random() * 2900) AS INT)) END
		FROM range(%d) r(i) WHERE random() < 0.9`, n),
		fmt.Sprintf(`INSERT INTO "user"
		SELECT i, 'name ' || i,
		       CASE WHEN random() < 0.05 THEN NULL ELSE CAST(10 + floor(random() * 60) AS BIGINT) END,
		       CASE WHEN random() < 0.05 THEN NULL ELSE TIMESTAMP '2013-01-01 00:00:00' + to_days(CAST(floor(random() * 3200) AS INT)) END
		FROM range(%d) r(i) WHERE random() < 0.9`, n))
	for _, q := range stmts {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
}

// referenceQuery is output o as the benchmark reference writes it: one plain DuckDB query, its
// medians DuckDB's own median() (analytics/internal/reference/sql).
func referenceQuery(t *testing.T, o Output) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("internal", "reference", "sql", o.Name+".sql"))
	require.NoError(t, err)
	return string(b)
}

func resultText(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	_, rows, err := runQuery(context.Background(), db, q)
	require.NoError(t, err, q)
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%#v", r)) // types and exact values: 3000 and 3000.0 differ
	}
	return out
}

// TestStagesGiveThePlainAnswers checks each output's stages against the same analysis written
// as one plain DuckDB query with DuckDB's median() (the rule's owner), over random tables:
//   - the one statement (what a full run and Athena execute) gives the same rows, DOUBLE medians
//     equal to the last bit;
//   - so do the stages run apart, the partial over three disjoint sets of posts, merged in two
//     steps (two sets, then that with the third: merging merged rows), then the final — what
//     incremental runs do day after day.
func TestStagesGiveThePlainAnswers(t *testing.T) {
	for _, seed := range []float64{0.1, 0.5, 0.9} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			db, connector, err := openDuck(context.Background())
			require.NoError(t, err)
			defer connector.Close()
			defer db.Close()
			randomTables(t, db, seed, 3000)
			for _, o := range Outputs {
				want := resultText(t, db, referenceQuery(t, o))
				require.NotEmpty(t, want, o.Name)

				q, err := o.SQL()
				require.NoError(t, err)
				assert.Equal(t, want, resultText(t, db, q), "%s: the one statement", o.Name)

				st, err := o.Stages()
				require.NoError(t, err)
				part := func(j int) string {
					var ctes []sqldialect.CTE
					for _, k := range record.Kinds {
						ctes = append(ctes, sqldialect.CTE{Name: string(k),
							Query: fmt.Sprintf("SELECT * FROM main.%s WHERE ind %% 3 = %d", quoteIdent(tableName(k)), j)})
					}
					p, err := sqldialect.With(st.Partial, ctes...)
					require.NoError(t, err)
					return "SELECT * FROM (\n" + p + "\n)"
				}
				merge := func(parts ...string) string {
					var union string
					for i, p := range parts {
						if i > 0 {
							union += "\nUNION ALL\n"
						}
						union += p
					}
					m, err := sqldialect.With(st.Merge, sqldialect.CTE{Name: sqldialect.Partials, Query: union})
					require.NoError(t, err)
					return "SELECT * FROM (\n" + m + "\n)"
				}
				merged := merge(merge(part(0), part(1)), part(2))
				final, err := sqldialect.With(st.Final, sqldialect.CTE{Name: sqldialect.Merged, Query: merged})
				require.NoError(t, err)
				assert.Equal(t, want, resultText(t, db, final), "%s: the stages apart", o.Name)
			}
		})
	}
}

// The medians' final stage, on groups built to be hard: one value; two; an even count whose
// middle values are far apart, past 2^53, of such different sizes that another order of the
// same arithmetic rounds differently, or equal; many ties around the middle. The answer is
// DuckDB's median() over the same values, to the last bit.
func TestMedianFromCountsIsDuckDBMedian(t *testing.T) {
	db, connector, err := openDuck(context.Background())
	require.NoError(t, err)
	defer connector.Close()
	defer db.Close()
	groups := map[string][]int64{
		"one":         {7},
		"two":         {1, 2},
		"even far":    {0, 9007199254740993},
		"lopsided":    {1, 18014398509481988}, // (hi - lo) * 0.5 + lo rounds another way than lo * 0.5 + hi * 0.5
		"past 2^53":   {9007199254740993, 9007199254740995, 9007199254740997, 9007199254740999},
		"huge":        {4611686018427387903, 4611686018427387905, 9223372036854775807, 9223372036854775806},
		"odd":         {5, 1, 3},
		"even equal":  {4, 4, 4, 4},
		"ties middle": {1, 2, 2, 2, 2, 3, 9, 9},
		"negatives":   {-5, -3, 10, 11, 12, -7},
	}
	_, err = db.Exec(`CREATE TABLE v (g VARCHAR, x BIGINT)`)
	require.NoError(t, err)
	for g, xs := range groups {
		for _, x := range xs {
			_, err := db.Exec(`INSERT INTO v VALUES (?, ?)`, g, x)
			require.NoError(t, err)
		}
	}
	o := Outputs[4]
	require.Equal(t, "median_followers_by_age_group", o.Name)
	st, err := o.Stages()
	require.NoError(t, err)
	// The groups stand for age groups: the final reads merged (age_group, follower_count, posts).
	final, err := sqldialect.With(st.Final, sqldialect.CTE{Name: sqldialect.Merged,
		Query: "SELECT g AS age_group, x AS follower_count, count(*) AS posts FROM v GROUP BY g, x"})
	require.NoError(t, err)
	_, got, err := runQuery(context.Background(), db, final)
	require.NoError(t, err, final)
	_, want, err := runQuery(context.Background(), db, "SELECT g, median(x) FROM v GROUP BY g")
	require.NoError(t, err)
	wantBy := map[string]any{}
	for _, r := range want {
		wantBy[r[0].(string)] = r[1]
	}
	require.Len(t, got, len(groups))
	for _, r := range got {
		assert.Equal(t, wantBy[r[0].(string)], r[1], "group %s", r[0])
	}
}
