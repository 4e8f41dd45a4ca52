package analytics

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// benchPartitions and benchFlush lay the benchmark's sink out as issue 12 defines it: 1,000,000
// records per table are 1,000 objects of 1,000 lines per table (3,000 in all), ~20% re-sends,
// ~700 MB.
const benchPartitions, benchFlush = 4, 1000

// benchInput returns a directory holding the first n records per table of the generated history
// (seed 1) in the sink layout. It is generated once and kept in the temporary directory (the name
// carries the generator's version), since writing ~700 MB takes longer than the job itself.
func benchInput(b *testing.B, n int) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("pinpipe-bench-v2-%d", n))
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	require.NoError(b, os.RemoveAll(dir))
	writeSinkRange(b, dir, 1, 0, n, benchPartitions, benchFlush)
	require.NoError(b, os.WriteFile(done, nil, 0o644))
	return dir
}

// benchRows is PINPIPE_BENCH_ROWS, or def.
func benchRows(b *testing.B, def int) int {
	if s := os.Getenv("PINPIPE_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(b, err, "PINPIPE_BENCH_ROWS")
		return n
	}
	return def
}

// procStats is what one run of a program cost, measured by the kernel for the whole process.
type procStats struct {
	wall, cpu time.Duration // cpu: user + system, every thread
	rss       int64         // peak resident set, bytes
}

// runProc runs a program to its end and returns its cost and its standard output.
func runProc(b *testing.B, name string, args ...string) (procStats, []byte) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t := time.Now()
	err := cmd.Run()
	wall := time.Since(t)
	require.NoError(b, err, "%s %v: %s", filepath.Base(name), args, stderr.String())
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return procStats{
		wall: wall,
		cpu:  time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		rss:  ru.Maxrss * 1024, // Linux reports kilobytes
	}, stdout.Bytes()
}

// buildBench builds pinpipe and the reference (analytics/internal/reference) the same way, once.
func buildBench(b *testing.B) (pinpipe, reference string) {
	dir := b.TempDir()
	for _, p := range []struct{ out, pkg string }{{"pinpipe", "./cmd/pinpipe"}, {"reference", "./analytics/internal/reference"}} {
		cmd := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", filepath.Join(dir, p.out), p.pkg)
		cmd.Dir = testenv.RepoRoot()
		out, err := cmd.CombinedOutput()
		require.NoError(b, err, "go build %s: %s", p.pkg, out)
	}
	return filepath.Join(dir, "pinpipe"), filepath.Join(dir, "reference")
}

// median is the median of the values of one measure.
func median(xs []int64) int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkAnalyse is issue 12's comparison. It runs `pinpipe analyse` and the reference
// (analytics/internal/reference: one DuckDB process, read_json, the cleaning in SQL, DISTINCT ON
// (ind), the eight outputs with median(), read back into Go, no file written) as child processes
// over the same 1,000,000 records per table, alternating (3 rounds, the order swapped each round;
// PINPIPE_BENCH_ROUNDS changes it), and reports the median wall time, CPU time (user + system)
// and peak RSS of each whole process, and ours over the reference's. It checks that both give the
// same eight outputs. PINPIPE_BENCH_ROWS tries another size (e.g. 5000000).
//
//	go test ./analytics -run '^$' -bench 'BenchmarkAnalyse$' -benchtime 1x -timeout 60m
func BenchmarkAnalyse(b *testing.B) {
	n := benchRows(b, 1_000_000)
	rounds := 3
	if s := os.Getenv("PINPIPE_BENCH_ROUNDS"); s != "" {
		var err error
		rounds, err = strconv.Atoi(s)
		require.NoError(b, err, "PINPIPE_BENCH_ROUNDS")
	}
	input := benchInput(b, n)
	warmCache(b, input)
	pinpipe, reference := buildBench(b)
	var ours, ref [3][]int64 // wall ns, cpu ns, rss bytes
	add := func(m *[3][]int64, s procStats) {
		m[0], m[1], m[2] = append(m[0], int64(s.wall)), append(m[1], int64(s.cpu)), append(m[2], s.rss)
	}
	b.ResetTimer()
	for range b.N {
		for r := range rounds {
			out := filepath.Join(b.TempDir(), "out")
			runOurs := func() {
				s, _ := runProc(b, pinpipe, "analyse", "--input", input, "--user-id", "demo", "--out", out)
				add(&ours, s)
			}
			var refOut []byte
			runRef := func() {
				s, stdout := runProc(b, reference, "--input", input, "--user-id", "demo")
				add(&ref, s)
				refOut = stdout
			}
			if r%2 == 0 {
				runOurs()
				runRef()
			} else {
				runRef()
				runOurs()
			}
			if r == 0 {
				// Same answers: the reference's eight outputs are pinpipe's CSV files.
				var want bytes.Buffer
				for _, o := range Outputs {
					body, err := os.ReadFile(filepath.Join(out, o.Name+".csv"))
					require.NoError(b, err)
					fmt.Fprintf(&want, "# %s\n%s", o.Name, body)
				}
				require.Equal(b, want.String(), string(refOut), "pinpipe and the reference disagree")
			}
			require.NoError(b, os.RemoveAll(out))
		}
	}
	b.StopTimer()
	w, c, m := median(ours[0]), median(ours[1]), median(ours[2])
	rw, rc, rm := median(ref[0]), median(ref[1]), median(ref[2])
	b.ReportMetric(time.Duration(w).Seconds(), "pinpipe-s")
	b.ReportMetric(time.Duration(rw).Seconds(), "ref-s")
	b.ReportMetric(float64(w)/float64(rw), "x-wall")
	b.ReportMetric(time.Duration(c).Seconds(), "pinpipe-cpu-s")
	b.ReportMetric(time.Duration(rc).Seconds(), "ref-cpu-s")
	b.ReportMetric(float64(c)/float64(rc), "x-cpu")
	b.ReportMetric(float64(m)/(1<<20), "pinpipe-MiB")
	b.ReportMetric(float64(rm)/(1<<20), "ref-MiB")
	b.ReportMetric(float64(m)/float64(rm), "x-rss")
	b.Logf("%d records per table, %d rounds (median):\n  pinpipe analyse  wall %.2fs  cpu %.2fs  peak %.0f MiB\n  reference        wall %.2fs  cpu %.2fs  peak %.0f MiB\n  ratio            wall %.2fx  cpu %.2fx  peak %.2fx",
		n, rounds, time.Duration(w).Seconds(), time.Duration(c).Seconds(), float64(m)/(1<<20),
		time.Duration(rw).Seconds(), time.Duration(rc).Seconds(), float64(rm)/(1<<20),
		float64(w)/float64(rw), float64(c)/float64(rc), float64(m)/float64(rm))
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
