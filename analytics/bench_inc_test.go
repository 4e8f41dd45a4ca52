package analytics

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchGrown returns a sink holding the first n+extra records of the benchmarks' history: the
// files of benchInput(n), hard-linked, and the extra records' objects. n and extra are
// multiples of benchPartitions*benchFlush.
func benchGrown(b *testing.B, n, extra int) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("pinpipe-bench-v2-%d+%d", n, extra))
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	base := benchInput(b, n)
	require.NoError(b, os.RemoveAll(dir))
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == done || filepath.Base(p) == ".complete" {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		return os.Link(p, filepath.Join(dir, rel))
	})
	require.NoError(b, err)
	writeSinkRange(b, dir, 1, n, n+extra, benchPartitions, benchFlush)
	require.NoError(b, os.WriteFile(done, nil, 0o644))
	return dir
}

// benchState returns an output directory holding the incremental state after a --full run over
// the first n records (made once with pinpipe, kept in the temporary directory; the name carries
// the state's layout version).
func benchState(b *testing.B, pinpipe string, n int) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("pinpipe-bench-state-v%d-%d", stateVersion, n))
	done := dir + ".complete"
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	require.NoError(b, os.RemoveAll(dir))
	runProc(b, pinpipe, "analyse", "--full", "--input", benchInput(b, n), "--out", dir)
	require.NoError(b, os.WriteFile(done, nil, 0o644))
	return dir
}

// copyDir copies a directory tree (the state an incremental run starts from).
func copyDir(b *testing.B, from, to string) {
	out, err := exec.Command("cp", "-a", from, to).CombinedOutput()
	require.NoError(b, err, "%s", out)
}

// BenchmarkAnalyseIncremental is issue 13's growth benchmark. The daily run: 100,000 new records
// per table (100 objects of 1,000 per table) over a history of 1,000,000, `pinpipe analyse
// --incremental` against a full `pinpipe analyse` over the same 1,100,000 (alternating, median of
// 3, whole processes). The growth: the same 100,000 new records over a history of 5,000,000.
// Goals: daily <= 0.35x full; incremental 5M / incremental 1M < 1.5x. PINPIPE_BENCH_HISTORY
// sets the larger history (default 5000000); 0 skips it. The first round checks that the daily
// run's JSON outputs equal the full run's, byte for byte; PINPIPE_BENCH_CHECK_LARGE=1 checks
// the larger history's too (one more full run).
//
//	go test ./analytics -run '^$' -bench 'BenchmarkAnalyseIncremental$' -benchtime 1x -timeout 90m
func BenchmarkAnalyseIncremental(b *testing.B) {
	const small, extra, rounds = 1_000_000, 100_000, 3
	large := 5_000_000
	if s := os.Getenv("PINPIPE_BENCH_HISTORY"); s != "" {
		_, err := fmt.Sscan(s, &large)
		require.NoError(b, err, "PINPIPE_BENCH_HISTORY")
	}
	pinpipe, _ := buildBench(b)
	// run is one run over history+extra records: a full run, or an incremental one starting
	// from the state of a run over the history. It returns the run's cost and its output
	// directory, which the caller removes.
	run := func(history int, full bool) (procStats, string) {
		in := benchGrown(b, history, extra)
		state := benchState(b, pinpipe, history)
		warmCache(b, in)
		out := filepath.Join(b.TempDir(), "out")
		args := []string{"analyse", "--input", in, "--out", out}
		if full {
			s, _ := runProc(b, pinpipe, args...)
			return s, out
		}
		copyDir(b, state, out)
		s, stdout := runProc(b, pinpipe, append(args, "--incremental")...)
		require.Contains(b, string(stdout), fmt.Sprintf("read %d objects (0 late", 3*extra/benchFlush))
		require.NotContains(b, string(stdout), "Rebuilt")
		return s, out
	}
	// sameOutputs checks that an incremental run's JSON outputs are a full run's, byte for byte.
	sameOutputs := func(full, inc string) {
		for _, o := range Outputs {
			want, err := os.ReadFile(filepath.Join(full, o.Name+".json"))
			require.NoError(b, err)
			got, err := os.ReadFile(filepath.Join(inc, o.Name+".json"))
			require.NoError(b, err)
			require.Equal(b, string(want), string(got), "%s: the incremental run and a full run disagree", o.Name)
		}
	}
	med := func(s []procStats) procStats {
		var w, c, r []int64
		for _, x := range s {
			w, c, r = append(w, int64(x.wall)), append(c, int64(x.cpu)), append(r, x.rss)
		}
		return procStats{time.Duration(median(w)), time.Duration(median(c)), median(r)}
	}
	if large > 0 {
		benchState(b, pinpipe, large) // made before the clock starts
		benchGrown(b, large, extra)
	}
	b.ResetTimer()
	for range b.N {
		// Round by round: the daily run, the full run, the daily run over the larger history,
		// so that each ratio compares runs made under the same load.
		var inc1, full1, inc5 []procStats
		for r := range rounds {
			si, inc := run(small, false)
			sf, full := run(small, true)
			inc1, full1 = append(inc1, si), append(full1, sf)
			if r == 0 {
				sameOutputs(full, inc)
			}
			require.NoError(b, os.RemoveAll(inc))
			require.NoError(b, os.RemoveAll(full))
			if large > 0 {
				s, inc := run(large, false)
				inc5 = append(inc5, s)
				if r == 0 && os.Getenv("PINPIPE_BENCH_CHECK_LARGE") != "" {
					_, full := run(large, true) // a minute or more at 5M: on request
					sameOutputs(full, inc)
					require.NoError(b, os.RemoveAll(full))
				}
				require.NoError(b, os.RemoveAll(inc))
			}
		}
		i1, f1 := med(inc1), med(full1)
		b.ReportMetric(i1.wall.Seconds(), "inc-1M-s")
		b.ReportMetric(f1.wall.Seconds(), "full-1.1M-s")
		b.ReportMetric(i1.wall.Seconds()/f1.wall.Seconds(), "x-daily-wall")
		b.ReportMetric(i1.cpu.Seconds()/f1.cpu.Seconds(), "x-daily-cpu")
		b.Logf("daily run, +%d records per table over %d:\n  incremental  wall %.2fs  cpu %.2fs  peak %.0f MiB\n  full         wall %.2fs  cpu %.2fs  peak %.0f MiB\n  ratio        wall %.2fx  cpu %.2fx",
			extra, small, i1.wall.Seconds(), i1.cpu.Seconds(), float64(i1.rss)/(1<<20),
			f1.wall.Seconds(), f1.cpu.Seconds(), float64(f1.rss)/(1<<20), i1.wall.Seconds()/f1.wall.Seconds(), i1.cpu.Seconds()/f1.cpu.Seconds())
		if large > 0 {
			i5 := med(inc5)
			b.ReportMetric(i5.wall.Seconds(), "inc-large-s")
			b.ReportMetric(i5.wall.Seconds()/i1.wall.Seconds(), "x-growth-wall")
			b.ReportMetric(i5.cpu.Seconds()/i1.cpu.Seconds(), "x-growth-cpu")
			b.Logf("growth, the same +%d over %d instead of %d:\n  incremental  wall %.2fs  cpu %.2fs  peak %.0f MiB\n  growth       wall %.2fx  cpu %.2fx",
				extra, large, small, i5.wall.Seconds(), i5.cpu.Seconds(), float64(i5.rss)/(1<<20),
				i5.wall.Seconds()/i1.wall.Seconds(), i5.cpu.Seconds()/i1.cpu.Seconds())
		}
	}
}
