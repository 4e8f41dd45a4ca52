package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/analytics/sqldialect"
	"github.com/pinpipe/pinpipe/record"
)

// The golden dataset: a dozen posts made by hand to cover every dirty value, both datetime forms,
// repeats (one with different values: the first wins), join misses on each side, ties in every
// "top" output, ages on every group boundary and even-count medians. The expected outputs below
// were worked out by hand from this table, not produced by the code:
//
//	ind  category        poster  followers          country  geo time   age  joined
//	1    art             Ann     10k                Albania  2018       17   2015 (T form)
//	2    art             Bob     2M (re-sent as 1k) Albania  2019 (T)   18   2015
//	3    travel          Cat     500                Albania  2019       24   2016 (user re-sent)
//	4    travel          (placeholders: every column null but category, unique_id, type, save)
//	                                                Albania  2020       25   2016
//	5    diy-and-crafts  Eve     3k                 Chad     2020 (T)   35   2017 (geo re-sent)
//	6    beauty          Fay     3k                 Chad     2020       36   2017
//	7    beauty          Gus     2M                 Peru     2021       50   2020
//	8    quotes          Ivy     7                  Peru     2022       51   2014
//	9    art             Hal     9M                 (no geo)            (no user)
//	10   (no pin)                                   Peru     2017       30   2018
//	12   "" (null)       Jo      40                 "" null  2018       24   2016
//	13   quotes          Kim     1.5k               Peru     2022       (no user)
//	14   art             Lu      45                 (no geo)            18   2019
func pinLine(ind int, cat, poster, followers string) string {
	return fmt.Sprintf(`{"index": %d, "unique_id": "u-%d", "title": "Title %d", "description": "About %d", "poster_name": %q, "follower_count": %q, "tag_list": "a,b", "is_image_or_video": "image", "image_src": "https://example.invalid/%d.jpg", "downloaded": 1, "save_location": "Local save in /data/%s", "category": %q}`,
		ind, ind, ind, ind, poster, followers, ind, cat, cat)
}

func geoLine(ind int, country, ts string) string {
	return fmt.Sprintf(`{"ind": %d, "timestamp": %q, "latitude": %d.25, "longitude": -%d.5, "country": %q}`, ind, ts, ind, ind, country)
}

func userLine(ind int, first string, age int, joined string) string {
	return fmt.Sprintf(`{"ind": %d, "first_name": %q, "last_name": "Smith", "age": %d, "date_joined": %q}`, ind, first, age, joined)
}

const placeholderPin = `{"index": 4, "unique_id": "u-4", "title": "No Title Data Available", "description": "No description available Story format", "poster_name": "User Info Error", "follower_count": "User Info Error", "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e", "is_image_or_video": "multi-video(story page format)", "image_src": "Image src error.", "downloaded": 0, "save_location": "Local save in /data/travel", "category": "travel"}`

const emptyPin = `{"index": 12, "unique_id": "", "title": "", "description": "Untitled", "poster_name": "Jo", "follower_count": "40", "tag_list": "", "is_image_or_video": "image", "image_src": "", "downloaded": 0, "save_location": "", "category": ""}`

// goldenObjects is the sink layout: object key → lines.
func goldenObjects() map[string][]string {
	return map[string][]string{
		"topics/demo.pin/partition=0/demo.pin+0+0000000000.json": {
			pinLine(1, "art", "Ann", "10k"), pinLine(2, "art", "Bob", "2M"), pinLine(3, "travel", "Cat", "500"), placeholderPin,
		},
		"topics/demo.pin/partition=0/demo.pin+0+0000000004.json": {
			pinLine(5, "diy-and-crafts", "Eve", "3k"), "", `not json`, pinLine(2, "art", "Bob", "1k"), pinLine(6, "beauty", "Fay", "3k"),
		},
		"topics/demo.pin/partition=1/demo.pin+1+0000000000.json": {
			pinLine(7, "beauty", "Gus", "2M"), pinLine(8, "quotes", "Ivy", "7"), pinLine(9, "art", "Hal", "9M"), emptyPin,
			pinLine(13, "quotes", "Kim", "1.5k"), pinLine(14, "art", "Lu", "45"),
		},
		"topics/demo.pin/partition=1/README.txt": {"not part of the sink layout"},
		"topics/demo.geo/partition=0/demo.geo+0+0000000000.json": {
			geoLine(1, "Albania", "2018-03-01 10:00:00"), geoLine(2, "Albania", "2019-05-05T05:05:05"),
			geoLine(3, "Albania", "2019-07-07 07:07:07"), geoLine(4, "Albania", "2020-01-01 00:00:00"),
			geoLine(5, "Chad", "2020-02-02T02:02:02"), geoLine(5, "Chad", "2020-02-02T02:02:02"),
			`{"ind": 99, "timestamp": "yesterday", "latitude": 1, "longitude": 2, "country": "Chad"}`,
		},
		"topics/demo.geo/partition=0/demo.geo+0+0000000007.json": {
			geoLine(6, "Chad", "2020-03-03 03:03:03"), geoLine(7, "Peru", "2021-04-04 04:04:04"),
			geoLine(8, "Peru", "2022-12-31 23:59:59"), geoLine(10, "Peru", "2017-06-06 06:06:06"),
			geoLine(12, "", "2018-01-01 00:00:00"), geoLine(13, "Peru", "2022-01-01 00:00:00"),
		},
		"topics/demo.user/partition=0/demo.user+0+0000000000.json": {
			userLine(1, "Ann", 17, "2015-01-02T03:04:05"), userLine(2, "Bob", 18, "2015-06-01 00:00:00"),
			userLine(3, "Cat", 24, "2016-01-01 00:00:00"), userLine(3, "Cat", 24, "2016-01-01 00:00:00"),
			userLine(4, "Dan", 25, "2016-02-02 00:00:00"), userLine(5, "Eve", 35, "2017-01-01 00:00:00"),
			`{"ind": 98, "first_name": "Old", "last_name": "Timer", "age": "old", "date_joined": "2016-01-01 00:00:00"}`,
		},
		"topics/demo.user/partition=2/demo.user+2+0000000000.json": {
			userLine(6, "Fay", 36, "2017-05-05 00:00:00"), userLine(7, "Gus", 50, "2020-01-01 00:00:00"),
			userLine(8, "Ivy", 51, "2014-12-31 23:59:59"), userLine(10, "Ned", 30, "2018-08-08 08:08:08"),
			userLine(12, "Jo", 24, "2016-03-03 00:00:00"), userLine(14, "Lu", 18, "2019-02-02 00:00:00"),
		},
		// Another user's topic in the same bucket is not read.
		"topics/other.pin/partition=0/other.pin+0+0000000000.json": {pinLine(1, "art", "Zed", "99M")},
	}
}

func writeObjects(t testing.TB, dir string, objs map[string][]string) {
	t.Helper()
	for key, lines := range objs {
		p := filepath.Join(dir, filepath.FromSlash(key))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	}
}

// goldenOutputs are the eight outputs of the golden dataset, worked out by hand, as CSV.
var goldenOutputs = map[string]string{
	"top_category_by_country": `country,category,category_count
Albania,art,2
Chad,beauty,1
Peru,quotes,2
`,
	"top_category_by_year": `post_year,category,category_count
2018,art,1
2019,art,1
2020,beauty,1
2021,beauty,1
2022,quotes,2
`,
	"top_user_by_country": `country,poster_name,follower_count
Albania,Bob,2000000
Chad,Eve,3000
Peru,Gus,2000000
`,
	"top_country_by_followers": `country,poster_name,follower_count
Albania,Bob,2000000
`,
	"median_followers_by_age_group": `age_group,median_follower_count
18-24,272.5
25-35,3000
36-50,1001500
+50,7
`,
	"users_joined_by_year": `post_year,number_users_joined
2015,2
2016,3
2017,2
2018,1
2019,1
2020,1
`,
	"median_followers_by_join_year": `post_year,median_follower_count
2015,1005000
2016,270
2017,3000
2019,45
2020,2000000
`,
	"median_followers_by_join_year_and_age_group": `age_group,post_year,median_follower_count
18-24,2015,2000000
18-24,2016,270
18-24,2019,45
25-35,2017,3000
36-50,2017,3000
36-50,2020,2000000
`,
}

func runGolden(t *testing.T, input string) (*BatchReport, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	rep, err := RunBatch(context.Background(), BatchConfig{Input: input, UserID: "demo", Out: out})
	require.NoError(t, err)
	return rep, out
}

func TestBatchGolden(t *testing.T) {
	in := t.TempDir()
	writeObjects(t, in, goldenObjects())
	rep, out := runGolden(t, in)

	for _, o := range Outputs {
		got, err := os.ReadFile(filepath.Join(out, o.Name+".csv"))
		require.NoError(t, err)
		assert.Equal(t, goldenOutputs[o.Name], string(got), o.Name)
	}
	require.Len(t, goldenOutputs, len(Outputs))

	// The JSON twin: an array of objects with the contract's keys, numbers as numbers.
	js, err := os.ReadFile(filepath.Join(out, "median_followers_by_age_group.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `[{"age_group":"18-24","median_follower_count":272.5},{"age_group":"25-35","median_follower_count":3000},
		{"age_group":"36-50","median_follower_count":1001500},{"age_group":"+50","median_follower_count":7}]`, string(js))
	js, err = os.ReadFile(filepath.Join(out, "top_country_by_followers.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `[{"country":"Albania","poster_name":"Bob","follower_count":2000000}]`, string(js))

	assert.Equal(t, []KindStats{
		{Kind: record.Pin, Objects: 3, Records: 14, Rows: 12, Duplicates: 1, Quarantined: 1},
		{Kind: record.Geo, Objects: 2, Records: 13, Rows: 11, Duplicates: 1, Quarantined: 1},
		{Kind: record.User, Objects: 2, Records: 13, Rows: 11, Duplicates: 1, Quarantined: 1},
	}, rep.Kinds)
	assert.Equal(t, []string{"topics/demo.pin/partition=1/README.txt"}, rep.Ignored)

	// Quarantine: each unusable line with its object key, line number and reason.
	q, err := os.ReadFile(filepath.Join(out, "quarantine.jsonl"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(q)), "\n")
	require.Len(t, lines, 3)
	var first quarantined
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.Equal(t, quarantined{Key: "topics/demo.pin/partition=0/demo.pin+0+0000000004.json", Line: 3, Kind: "pin",
		Reason: "pin record: malformed JSON: want a JSON object at byte 0, found 'n'", Record: "not json"}, first)
	assert.Contains(t, lines[1], `"reason":"geo record: timestamp: \"yesterday\" is not a datetime`)
	assert.Contains(t, lines[2], `"reason":"user record: age: \"old\" is not an integer"`)

	for _, f := range []string{"clean/pin/pin.parquet", "clean/geo/geo.parquet", "clean/user/user.parquet", "report.html"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
	assert.Equal(t, filepath.Join(out, "report.html"), rep.ReportPath)
	assert.Len(t, rep.Files, 8*2+3+2)

	var buf bytes.Buffer
	rep.Print(&buf)
	assert.Contains(t, buf.String(), "Median follower count by age group (median_followers_by_age_group)")
	assert.Contains(t, buf.String(), "18-24      272.5")
	assert.Contains(t, buf.String(), "Report: "+rep.ReportPath)
}

// TestBatchAndStreamAgree reads the clean Parquet tables back and compares them with what the
// stream cleaner makes of the same raw lines (first of each ind): the two paths give identical
// rows, column types included.
func TestBatchAndStreamAgree(t *testing.T) {
	in := t.TempDir()
	objs := goldenObjects()
	writeObjects(t, in, objs)
	_, out := runGolden(t, in)

	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, kind := range record.Kinds {
		var recs []StreamRecord
		for _, k := range keys {
			if strings.HasPrefix(k, "topics/demo."+string(kind)+"/") && strings.HasSuffix(k, ".json") {
				for i, l := range objs[k] {
					recs = append(recs, StreamRecord{ID: fmt.Sprint(k, i), Data: []byte(l)})
				}
			}
		}
		var want []string
		seen := map[int64]bool{}
		for _, r := range CleanStream(kind, recs) {
			if r.Err != nil || seen[r.Row.Ind()] {
				continue
			}
			seen[r.Row.Ind()] = true
			// The clean row, encoded as the batch rows are below: the stream's own JSON sends
			// timestamps as epoch microseconds for Firehose (clean/stream.go; tested there).
			js, err := json.Marshal(r.Row)
			require.NoError(t, err)
			want = append(want, string(js))
		}
		sort.Strings(want)

		rows, err := Query(context.Background(), out, fmt.Sprintf(`SELECT * FROM %s ORDER BY ind`, quoteIdent(string(kind))))
		require.NoError(t, err)
		var got []string
		for _, row := range rows.Rows {
			// Rebuild the clean row from the Parquet values and encode it as the stream does.
			js, err := json.Marshal(rowFromValues(t, kind, rows.Columns, row))
			require.NoError(t, err)
			got = append(got, string(js))
		}
		sort.Strings(got)
		assert.Equal(t, want, got, kind)
	}
}

// rowFromValues turns a row of a clean table back into a clean.Row via its JSON form.
func rowFromValues(t *testing.T, kind record.Kind, cols []string, vals []any) clean.Row {
	m := map[string]any{}
	for i, c := range cols {
		m[c] = vals[i]
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	var row clean.Row
	switch kind {
	case record.Pin:
		row = &clean.Pin{}
	case record.Geo:
		row = &clean.Geo{}
	case record.User:
		row = &clean.User{}
	}
	require.NoError(t, json.Unmarshal(b, row))
	return row
}

func TestBatchCancelled(t *testing.T) {
	in := t.TempDir()
	writeSinkDir(t, in, 5000, 2, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := RunBatch(ctx, BatchConfig{Input: in, Out: t.TempDir()})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestBatchConfigErrors(t *testing.T) {
	ctx := context.Background()
	_, err := RunBatch(ctx, BatchConfig{Input: t.TempDir(), UserID: "Bad_ID", Out: t.TempDir()})
	assert.ErrorContains(t, err, "--user-id")
	_, err = RunBatch(ctx, BatchConfig{Out: t.TempDir()})
	assert.ErrorContains(t, err, "--input is required")
	_, err = RunBatch(ctx, BatchConfig{Input: t.TempDir()})
	assert.ErrorContains(t, err, "--out is required")
	_, err = RunBatch(ctx, BatchConfig{Input: filepath.Join(t.TempDir(), "nope"), Out: t.TempDir()})
	assert.ErrorContains(t, err, "input:")

	// One kind missing entirely is named.
	in := t.TempDir()
	objs := goldenObjects()
	for k := range objs {
		if strings.HasPrefix(k, "topics/demo.geo/") {
			delete(objs, k)
		}
	}
	writeObjects(t, in, objs)
	_, err = RunBatch(ctx, BatchConfig{Input: in, Out: t.TempDir()})
	assert.ErrorContains(t, err, "no sink objects under "+in+"/topics/demo.geo/")
}

// TestBatchCleanSchema checks that the clean Parquet tables have exactly the contract's columns
// and types, whatever the stage tables look like (a geo's coordinates are staged as two numbers).
func TestBatchCleanSchema(t *testing.T) {
	in := t.TempDir()
	writeObjects(t, in, goldenObjects())
	_, out := runGolden(t, in)
	for _, k := range record.Kinds {
		res, err := Query(context.Background(), out, fmt.Sprintf(
			`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM %s)`, quoteIdent(tableName(k))))
		require.NoError(t, err)
		var want, got []string
		for _, c := range clean.Columns(k) {
			want = append(want, c.Name+" "+c.Type)
		}
		for _, row := range res.Rows {
			got = append(got, fmt.Sprint(row[0], " ", row[1]))
		}
		assert.Equal(t, want, got, k)
	}
}

// TestAthenaFormGivesTheSameAnswers runs each output's Athena form (analytics/sqldialect: the
// file's stages as one statement, DuckDB-only syntax refused) over the golden clean tables: both
// forms give the same rows.
func TestAthenaFormGivesTheSameAnswers(t *testing.T) {
	in := t.TempDir()
	writeObjects(t, in, goldenObjects())
	rep, out := runGolden(t, in)
	for _, o := range Outputs {
		q, err := o.File()
		require.NoError(t, err)
		athena, err := sqldialect.Athena(q)
		require.NoError(t, err)
		res, err := Query(context.Background(), out, athena)
		require.NoError(t, err, o.Name)
		assert.Equal(t, rep.Result(o.Name).Rows, res.Rows, o.Name)
	}
}

// TestBatchMemoryLimit: with DuckDB's memory bounded low (64 MB; the 5,000,000-row benchmark
// sink runs in 1.9 GB of RSS at --memory-limit 1500MB, against 2.7 GB without), the job gives
// the same answers, full and incremental; a limit that is not a size is refused before any work.
func TestBatchMemoryLimit(t *testing.T) {
	in := t.TempDir()
	writeSinkDir(t, in, 60_000, 2, 1000)
	_, want := fullRun(t, in)
	got := filepath.Join(t.TempDir(), "limited")
	_, err := RunBatch(context.Background(), BatchConfig{Input: in, Out: got, MemoryLimit: "64MB"})
	require.NoError(t, err)
	requireSameOutputs(t, want, got)
	inc := filepath.Join(t.TempDir(), "inc")
	_, err = RunBatch(context.Background(), BatchConfig{Input: in, Out: inc, Incremental: true, MemoryLimit: "64MB"})
	require.NoError(t, err)
	requireSameOutputs(t, want, inc)

	_, err = RunBatch(context.Background(), BatchConfig{Input: in, Out: t.TempDir(), MemoryLimit: "lots"})
	assert.ErrorContains(t, err, `--memory-limit "lots": want a number and a unit, e.g. 2GB`)
}
