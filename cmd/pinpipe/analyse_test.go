package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/analytics/sqldialect"
	"github.com/pinpipe/pinpipe/internal/testenv"
)

func writeSink(t *testing.T, dir string, files map[string]string) {
	for key, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(key))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
}

func TestAnalyseAndQuery(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "res")
	writeSink(t, in, map[string]string{
		"topics/abc.pin/partition=0/abc.pin+0+0000000000.json": `{"index": 1, "poster_name": "Ann", "follower_count": "5k", "category": "art"}
{"index": 2, "poster_name": "Bob", "follower_count": "7", "category": "travel"}
`,
		"topics/abc.geo/partition=0/abc.geo+0+0000000000.json": `{"ind": 1, "timestamp": "2019-01-01 00:00:00", "latitude": 1, "longitude": 2, "country": "Chad"}
{"ind": 2, "timestamp": "2019-01-01T00:00:00", "latitude": 1, "longitude": 2, "country": "Chad"}
`,
		"topics/abc.user/partition=0/abc.user+0+0000000000.json": `{"ind": 1, "first_name": "A", "last_name": "B", "age": 30, "date_joined": "2016-01-01 00:00:00"}
{"ind": 2, "first_name": "C", "last_name": "D", "age": 40, "date_joined": "2016-01-01 00:00:00"}
`,
	})
	// Flags from the environment twins; --input pointing at topics/ itself is accepted.
	code, stdout, stderr := runCLI(t, map[string]string{"PINPIPE_USER_ID": "abc", "PINPIPE_OUT": out},
		"analyse", "--input", filepath.Join(in, "topics"))
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Chad     Ann          5000")
	assert.Contains(t, stdout, "Report: "+filepath.Join(out, "report.html"))
	assert.FileExists(t, filepath.Join(out, "clean", "pin", "pin.parquet"))

	code, stdout, stderr = runCLI(t, nil, "query", "--data", out, `SELECT u.user_name, p.follower_count FROM pin p JOIN "user" u USING (ind) ORDER BY 2 DESC`)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "user_name  follower_count\n---------  --------------\nA B        5000\nC D        7\n", stdout)

	code, stdout, _ = runCLI(t, nil, "query", "--data", out, "--format", "csv", `SELECT country, coordinates FROM geo ORDER BY ind`)
	require.Equal(t, 0, code)
	assert.Equal(t, "country,coordinates\nChad,\"[1, 2]\"\nChad,\"[1, 2]\"\n", stdout)

	code, _, stderr = runCLI(t, nil, "query", "--data", out, `SELECT nope FROM pin`)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "pinpipe query: query:")

	code, _, stderr = runCLI(t, nil, "query", "--data", t.TempDir(), `SELECT 1`)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "point --data at the --out directory")

	code, _, stderr = runCLI(t, nil, "analyse", "--input", in, "--out", out)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `no sink objects for user "demo"`)
	assert.Contains(t, stderr, "topics there: abc.geo, abc.pin, abc.user; is --user-id right?")

	code, _, _ = runCLI(t, nil, "analyse")
	assert.Equal(t, 2, code)

	// The shipped SQL files run as they are, from --file or after "--" (they start with a comment).
	sqlFile := filepath.Join(testenv.RepoRoot(), "analytics", "sql", "top_user_by_country.sql")
	code, stdout, stderr = runCLI(t, nil, "query", "--data", out, "--file", sqlFile)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Chad     Ann          5000")
	body, err := os.ReadFile(sqlFile)
	require.NoError(t, err)
	code, stdout, stderr = runCLI(t, nil, "query", "--data", out, "--", string(body))
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Chad     Ann          5000")
	code, _, _ = runCLI(t, nil, "query", "--data", out, "--file", sqlFile, "SELECT 1")
	assert.Equal(t, 2, code)
}

func TestAnalyseIncrementalAndSQL(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "res")
	writeSink(t, in, map[string]string{
		"topics/demo.pin/partition=0/demo.pin+0+0000000000.json":   `{"index": 1, "poster_name": "Ann", "follower_count": "5k", "category": "art"}` + "\n",
		"topics/demo.geo/partition=0/demo.geo+0+0000000000.json":   `{"ind": 1, "timestamp": "2019-01-01 00:00:00", "latitude": 1, "longitude": 2, "country": "Chad"}` + "\n",
		"topics/demo.user/partition=0/demo.user+0+0000000000.json": `{"ind": 1, "first_name": "A", "last_name": "B", "age": 30, "date_joined": "2016-01-01 00:00:00"}` + "\n",
	})
	code, stdout, stderr := runCLI(t, map[string]string{"PINPIPE_INCREMENTAL": "true"}, "analyse", "--input", in, "--out", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "read 3 objects (0 late, below their partition's watermark), skipped 0 read before")
	writeSink(t, in, map[string]string{
		"topics/demo.pin/partition=0/demo.pin+0+0000000001.json": `{"index": 2, "poster_name": "Bob", "follower_count": "7M", "category": "art"}` + "\n",
	})
	code, stdout, stderr = runCLI(t, nil, "analyse", "--incremental", "--input", in, "--out", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "read 1 object (0 late, below their partition's watermark), skipped 3 read before; 1 new row, 3 from earlier runs")
	code, stdout, stderr = runCLI(t, nil, "query", "--data", out, "SELECT count(*) AS n FROM pin")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "n\n-\n2\n", stdout, "query reads every run's clean file")

	code, stdout, stderr = runCLI(t, nil, "analyse", "--incremental", "--skip-analysis", "--input", in, "--out", out)
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, stdout, "Report:")

	// pinpipe sql: the file's stages as the one statement a full run executes; Athena's form
	// from the one translation: the same text.
	code, stdout, _ = runCLI(t, nil, "sql", "median_followers_by_age_group")
	require.Equal(t, 0, code)
	body, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "analytics", "sql", "median_followers_by_age_group.sql"))
	require.NoError(t, err)
	one, err := sqldialect.Statement(string(body))
	require.NoError(t, err)
	assert.Equal(t, one, stdout)
	assert.Contains(t, stdout, `WITH "partials" AS (`)
	code, stdout, _ = runCLI(t, nil, "sql", "--dialect", "athena", "median_followers_by_age_group")
	require.Equal(t, 0, code)
	want, err := sqldialect.Athena(string(body))
	require.NoError(t, err)
	assert.Equal(t, want, stdout)
	assert.Equal(t, one, stdout)
	assert.NotContains(t, sqldialect.Mask(stdout), "median(")
	code, stdout, _ = runCLI(t, nil, "sql", "--dialect", "athena")
	require.Equal(t, 0, code)
	for i, name := range []string{"top_category_by_country", "top_category_by_year", "top_user_by_country", "top_country_by_followers",
		"median_followers_by_age_group", "users_joined_by_year", "median_followers_by_join_year", "median_followers_by_join_year_and_age_group"} {
		head := "-- " + name + "\n"
		if i > 0 {
			head = "\n\n" + head
		}
		assert.Equal(t, 1, strings.Count(stdout, head), "all eight, each under its name: %s", name)
	}
	code, _, stderr = runCLI(t, nil, "sql", "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `unknown output "nope"`)
	code, _, _ = runCLI(t, nil, "sql", "--dialect", "trino")
	assert.Equal(t, 2, code)
}
