package analytics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchInput returns a directory holding n generated posts (n rows per table, 2% repeats) in
// the sink layout with flush size 1,000 over 3 partitions. It is generated once and kept in the
// temporary directory (the name carries the generator's version), since writing ~700 MB takes
// longer than the job itself.
func benchInput(b *testing.B, n int) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("pinpipe-bench-v1-%d", n))
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	require.NoError(b, os.RemoveAll(dir))
	writeSinkDir(b, dir, n, 3, 1000)
	require.NoError(b, os.WriteFile(done, nil, 0o644))
	return dir
}

// referenceSQL is the reference of BenchmarkAnalyse: DuckDB alone doing the same cleaning in SQL
// over the same files with read_json, keeping one row per ind, then the same eight queries and
// the same clean Parquet files. It is only a yardstick; the cleaning rules live in package clean.
const referenceSQL = `
CREATE TABLE pin AS
SELECT DISTINCT ON (ind) * FROM (
  SELECT "index" AS ind,
    nullif(trim(unique_id), '') AS unique_id,
    CASE WHEN trim(title) IN ('', 'No Title Data Available') THEN NULL ELSE title END AS title,
    CASE WHEN trim(description) IN ('', 'No description available Story format', 'No description available', 'Untitled') THEN NULL ELSE description END AS description,
    CASE WHEN regexp_full_match(follower_count, '[0-9]+k') THEN CAST(rtrim(follower_count, 'k') AS BIGINT) * 1000
         WHEN regexp_full_match(follower_count, '[0-9]+M') THEN CAST(rtrim(follower_count, 'M') AS BIGINT) * 1000000
         WHEN regexp_full_match(follower_count, '[0-9]+') THEN CAST(follower_count AS BIGINT) END AS follower_count,
    CASE WHEN trim(poster_name) IN ('', 'User Info Error') THEN NULL ELSE poster_name END AS poster_name,
    CASE WHEN trim(tag_list) IN ('', 'N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e') THEN NULL ELSE tag_list END AS tag_list,
    nullif(trim(is_image_or_video), '') AS is_image_or_video,
    CASE WHEN trim(image_src) IN ('', 'Image src error.') THEN NULL ELSE image_src END AS image_src,
    nullif(regexp_extract(save_location, '/.*'), '') AS save_location,
    nullif(trim(category), '') AS category
  FROM read_json('%[1]s/topics/demo.pin/*/*.json', format = 'newline_delimited', columns = {
    "index": 'BIGINT', unique_id: 'VARCHAR', title: 'VARCHAR', description: 'VARCHAR', poster_name: 'VARCHAR',
    follower_count: 'VARCHAR', tag_list: 'VARCHAR', is_image_or_video: 'VARCHAR', image_src: 'VARCHAR',
    downloaded: 'BIGINT', save_location: 'VARCHAR', category: 'VARCHAR'}));
CREATE TABLE geo AS
SELECT DISTINCT ON (ind) ind, nullif(trim(country), '') AS country,
  [latitude, longitude]::DOUBLE[] AS coordinates,
  CAST(replace("timestamp", 'T', ' ') AS TIMESTAMP) AS "timestamp"
FROM read_json('%[1]s/topics/demo.geo/*/*.json', format = 'newline_delimited', columns = {
  ind: 'BIGINT', "timestamp": 'VARCHAR', latitude: 'DOUBLE', longitude: 'DOUBLE', country: 'VARCHAR'});
CREATE TABLE "user" AS
SELECT DISTINCT ON (ind) ind, nullif(concat_ws(' ', nullif(trim(first_name), ''), nullif(trim(last_name), '')), '') AS user_name,
  age, CAST(replace(date_joined, 'T', ' ') AS TIMESTAMP) AS date_joined
FROM read_json('%[1]s/topics/demo.user/*/*.json', format = 'newline_delimited', columns = {
  ind: 'BIGINT', first_name: 'VARCHAR', last_name: 'VARCHAR', age: 'BIGINT', date_joined: 'VARCHAR'});
`

// runReference runs referenceSQL, the eight outputs and the Parquet copies, in a fresh DuckDB.
func runReference(ctx context.Context, input, out string) error {
	db, connector, err := openDuck(ctx)
	if err != nil {
		return err
	}
	defer connector.Close()
	defer db.Close()
	if _, err := db.ExecContext(ctx, fmt.Sprintf(referenceSQL, input)); err != nil {
		return err
	}
	for _, o := range Outputs {
		if _, err := runOutput(ctx, db, o); err != nil {
			return err
		}
	}
	for _, t := range []string{"pin", "geo", "user"} {
		q := fmt.Sprintf(`COPY %s TO %s (FORMAT parquet, COMPRESSION zstd)`, quoteIdent(t), quoteString(filepath.Join(out, t+".parquet")))
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkAnalyse runs the batch job end to end on 1,000,000 rows per table (3,000 objects of
// 1,000 records) and, in the same iteration, the DuckDB-only reference over the same files. It
// reports both times and their ratio (x-read_json: the goal is at most 1.5).
// Set PINPIPE_BENCH_ROWS to try another size.
func BenchmarkAnalyse(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("PINPIPE_BENCH_ROWS"); s != "" {
		fmt.Sscan(s, &n)
	}
	input := benchInput(b, n)
	warmCache(b, input)
	ctx := context.Background()
	var ours, ref, oursCPU, refCPU time.Duration
	b.ResetTimer()
	for range b.N {
		out := b.TempDir()
		t, c := time.Now(), cpuTime()
		rep, err := RunBatch(ctx, BatchConfig{Input: input, UserID: "demo", Out: out})
		require.NoError(b, err)
		ours, oursCPU = ours+time.Since(t), oursCPU+cpuTime()-c
		require.Equal(b, int64(n), rep.Kinds[0].Records)

		t, c = time.Now(), cpuTime()
		require.NoError(b, runReference(ctx, input, b.TempDir()))
		ref, refCPU = ref+time.Since(t), refCPU+cpuTime()-c
	}
	// Wall times on a shared machine vary with its load; CPU times (user+system of the whole
	// process, DuckDB's threads included) do not, so both ratios are reported.
	b.ReportMetric(ours.Seconds()/float64(b.N), "pinpipe-s/op")
	b.ReportMetric(ref.Seconds()/float64(b.N), "read_json-s/op")
	b.ReportMetric(ours.Seconds()/ref.Seconds(), "x-read_json")
	b.ReportMetric(oursCPU.Seconds()/float64(b.N), "pinpipe-cpu-s/op")
	b.ReportMetric(refCPU.Seconds()/float64(b.N), "read_json-cpu-s/op")
	b.ReportMetric(oursCPU.Seconds()/refCPU.Seconds(), "x-read_json-cpu")
}

// warmCache reads every file under dir once, so neither side of a comparison pays for the
// first read from disk.
func warmCache(b *testing.B, dir string) {
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = os.ReadFile(p)
		return err
	})
	require.NoError(b, err)
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkS3TinyObjects reads 50,000 one-record objects (the original sink's flush.size=1)
// from gofakes3 in-process and reports objects per second for the whole job.
func BenchmarkS3TinyObjects(b *testing.B) {
	backend := fakeS3(b, "sink")
	objects := putSink(b, backend, "sink", "", "", 50_000/3)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		_, err := RunBatch(ctx, BatchConfig{Input: "s3://sink", UserID: "demo", Out: b.TempDir()})
		require.NoError(b, err)
	}
	b.ReportMetric(float64(objects)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}
