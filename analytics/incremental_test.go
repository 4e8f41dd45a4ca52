package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/record"
)

// growSink writes the records [lo, hi) of the generated history (2 partitions, 10 records per
// object) into dir, except the objects in hold (keys), which it returns for later.
func growSink(t *testing.T, dir string, lo, hi int, hold ...string) {
	t.Helper()
	writeSinkRange(t, dir, 3, lo, hi, 2, 10)
	for _, key := range hold {
		require.NoError(t, os.Remove(filepath.Join(dir, filepath.FromSlash(key))))
	}
}

// fullRun runs the job without state on a fresh output directory.
func fullRun(t *testing.T, in string) (*BatchReport, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "full")
	rep, err := RunBatch(context.Background(), BatchConfig{Input: in, Out: out})
	require.NoError(t, err)
	return rep, out
}

// incRun runs the job incrementally into out.
func incRun(t *testing.T, in, out string) *BatchReport {
	t.Helper()
	rep, err := RunBatch(context.Background(), BatchConfig{Input: in, Out: out, Incremental: true})
	require.NoError(t, err)
	return rep
}

// requireSameOutputs checks that every output file (JSON byte for byte, CSV too) and every clean
// table (its rows, in any file layout) are the same in two result directories.
func requireSameOutputs(t *testing.T, want, got string) {
	t.Helper()
	for _, o := range Outputs {
		for _, ext := range []string{".json", ".csv"} {
			w, err := os.ReadFile(filepath.Join(want, o.Name+ext))
			require.NoError(t, err)
			g, err := os.ReadFile(filepath.Join(got, o.Name+ext))
			require.NoError(t, err)
			require.Equal(t, string(w), string(g), "%s%s", o.Name, ext)
		}
	}
	for _, k := range record.Kinds {
		require.Equal(t, cleanRows(t, want, k), cleanRows(t, got, k), "clean %s rows", k)
	}
}

// cleanRows reads every clean Parquet file of kind k under out, as sorted text rows.
func cleanRows(t *testing.T, out string, k record.Kind) []string {
	t.Helper()
	db, connector, err := openDuck(context.Background())
	require.NoError(t, err)
	defer connector.Close()
	defer db.Close()
	glob := filepath.Join(out, "clean", string(k), "*.parquet")
	_, rows, err := runQuery(context.Background(), db, fmt.Sprintf("SELECT * FROM read_parquet(%s)", quoteString(glob)))
	require.NoError(t, err)
	var s []string
	for _, r := range rows {
		s = append(s, fmt.Sprint(r...))
	}
	sort.Strings(s)
	return s
}

func objectKey(k record.Kind, p, off int) string { return sinkKey(record.Topic("demo", k), p, off) }

// TestIncrementalEqualsFull grows a sink in three steps and checks each incremental run against
// a full run over the same objects: an object held back from step 1 arrives in step 2 below its
// partition's watermark (late), re-sends cross the steps (20% of the records re-send an earlier
// post), and step 3 adds nothing.
func TestIncrementalEqualsFull(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	late := objectKey(record.Pin, 1, 60) // records 120..139 of the history, partition 1
	growSink(t, in, 0, 400, late)

	rep := incRun(t, in, out)
	_, full := fullRun(t, in)
	requireSameOutputs(t, full, out)
	assert.NotEmpty(t, rep.Run)
	for _, k := range rep.Kinds {
		assert.Zero(t, k.Skipped, k.Kind)
		assert.Zero(t, k.Late, k.Kind)
		assert.Zero(t, k.HistoryRows, k.Kind)
	}

	// Step 2: 400 more records, and the held-back object.
	writeSinkRange(t, in, 3, 0, 400, 2, 10) // rewrites step 1's objects as they were, adds the late one
	writeSinkRange(t, in, 3, 400, 800, 2, 10)
	rep = incRun(t, in, out)
	_, full = fullRun(t, in)
	requireSameOutputs(t, full, out)
	pin := rep.Kinds[0]
	assert.Equal(t, 39, pin.Skipped, "step 1's pin objects are not read again")
	assert.Equal(t, 41, pin.Objects, "40 new pin objects and the late one")
	assert.Equal(t, 1, pin.Late)
	assert.Equal(t, int64(410), pin.Records)
	assert.False(t, pin.Rebuilt, "re-sends are the same record: nothing is rebuilt")
	assert.Positive(t, pin.HistoryRows)
	for _, k := range rep.Kinds[1:] {
		assert.Equal(t, 40, k.Skipped, k.Kind)
		assert.Equal(t, 40, k.Objects, k.Kind)
		assert.Zero(t, k.Late, k.Kind)
	}
	var repeatsAcross int64
	for _, k := range rep.Kinds {
		repeatsAcross += k.Duplicates
	}
	assert.Positive(t, repeatsAcross)

	// Step 3: nothing new.
	rep = incRun(t, in, out)
	requireSameOutputs(t, full, out)
	for _, k := range rep.Kinds {
		assert.Zero(t, k.Objects, k.Kind)
		assert.Equal(t, 80, k.Skipped, k.Kind)
		assert.Zero(t, k.Rows, k.Kind)
	}
	st := readState(t, out)
	require.Len(t, st.Runs, 3)
	assert.Equal(t, 1, st.Runs[1].Late)
	assert.Equal(t, 0, st.Runs[2].Objects)
	// The clean files are exactly the ones the state names: one per run that added rows.
	requireFilesAreState(t, out, st)
	assert.Len(t, st.Clean[record.Pin], 2, "no file for the run that added nothing")

	// --full rebuilds: one file per kind, the earlier runs' files removed after the commit.
	rep, err := RunBatch(context.Background(), BatchConfig{Input: in, Out: out, Full: true})
	require.NoError(t, err)
	requireSameOutputs(t, full, out)
	st = readState(t, out)
	requireFilesAreState(t, out, st)
	assert.Len(t, st.Clean[record.Pin], 1)
	assert.NotEmpty(t, rep.Removed)
}

// TestIncrementalDifferentRecordRebuilds: an ind kept by an earlier run comes again with another
// record, in an object whose key sorts first (partition 0). A full run keeps that new row (first
// by object key and line); the incremental run detects the difference and rebuilds the kind.
func TestIncrementalDifferentRecordRebuilds(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	writeObjects(t, in, map[string][]string{
		"topics/demo.pin/partition=1/demo.pin+1+0000000000.json":   {pinLine(1, "art", "Ann", "10k"), pinLine(2, "art", "Bob", "5k")},
		"topics/demo.geo/partition=0/demo.geo+0+0000000000.json":   {geoLine(1, "Chad", "2020-01-01 00:00:00"), geoLine(2, "Chad", "2020-01-01 00:00:00")},
		"topics/demo.user/partition=0/demo.user+0+0000000000.json": {userLine(1, "Ann", 30, "2016-01-01 00:00:00"), userLine(2, "Bob", 40, "2016-01-01 00:00:00")},
	})
	incRun(t, in, out)
	writeObjects(t, in, map[string][]string{
		"topics/demo.pin/partition=0/demo.pin+0+0000000000.json": {pinLine(1, "art", "Ann", "99M")},
		"topics/demo.geo/partition=0/demo.geo+0+0000000002.json": {geoLine(2, "Chad", "2020-01-01 00:00:00")},
	})
	rep := incRun(t, in, out)
	_, full := fullRun(t, in)
	requireSameOutputs(t, full, out)
	assert.True(t, rep.Kinds[0].Rebuilt, "pin: ind 1 came again with 99M followers")
	assert.False(t, rep.Kinds[1].Rebuilt, "geo: ind 2 came again, the same record")
	top, err := os.ReadFile(filepath.Join(out, "top_country_by_followers.csv"))
	require.NoError(t, err)
	assert.Equal(t, "country,poster_name,follower_count\nChad,Ann,99000000\n", string(top))
	st := readState(t, out)
	requireFilesAreState(t, out, st)
	assert.Len(t, st.Clean[record.Pin], 1, "the rebuilt kind's earlier file is gone")
	assert.Len(t, st.Clean[record.Geo], 1, "geo added no row")
}

func readState(t *testing.T, out string) *runState {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(stateFile)))
	require.NoError(t, err)
	var st runState
	require.NoError(t, json.Unmarshal(b, &st))
	return &st
}

// requireFilesAreState checks that the state's folders hold exactly the files the state names.
func requireFilesAreState(t *testing.T, out string, st *runState) {
	t.Helper()
	want := append([]string{stateFile}, st.files()...)
	var got []string
	for _, folder := range stateFolders {
		files, err := dirSource{out}.list(context.Background(), folder+"/")
		require.NoError(t, err)
		got = append(got, files...)
	}
	sort.Strings(want)
	sort.Strings(got)
	require.Equal(t, want, got)
}

// crashPoints are the steps of an incremental run's commit (see incremental.write).
var crashPoints = []string{"written", "published", "committed", "removed"}

// TestIncrementalCrashAnywhere stops a run at each step of its commit and checks that the state
// on disk is the old one until the commit and names only files that exist, and that the next run
// gives the outputs of one clean run.
func TestIncrementalCrashAnywhere(t *testing.T) {
	for _, point := range crashPoints {
		t.Run(point, func(t *testing.T) {
			in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
			growSink(t, in, 0, 200)
			incRun(t, in, out)
			before := readState(t, out)
			growSink(t, in, 200, 400)

			stop := errors.New("stopped at " + point)
			crashHook = func(p string) error {
				if p == point {
					return stop
				}
				return nil
			}
			_, err := RunBatch(context.Background(), BatchConfig{Input: in, Out: out, Incremental: true})
			crashHook = nil
			require.ErrorIs(t, err, stop)

			after := readState(t, out)
			committed := point == "committed" || point == "removed"
			assert.Equal(t, committed, len(after.Runs) == 2, "the state moves only at the commit")
			if !committed {
				assert.Equal(t, before, after)
			}
			for _, f := range after.files() {
				assert.FileExists(t, filepath.Join(out, filepath.FromSlash(f)), "the state names only written files")
			}

			incRun(t, in, out)
			_, full := fullRun(t, in)
			requireSameOutputs(t, full, out)
			requireFilesAreState(t, out, readState(t, out))
		})
	}
}

// TestIncrementalKilled kills a child process (this test binary) with SIGKILL at each step of
// an incremental run's commit, then runs again and compares with a full run.
func TestIncrementalKilled(t *testing.T) {
	if point := os.Getenv("PINPIPE_TEST_KILL_AT"); point != "" {
		// The child: run until the point, then die as a kill -9 would.
		crashHook = func(p string) error {
			if p == point {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
			return nil
		}
		_, err := RunBatch(context.Background(), BatchConfig{Input: os.Getenv("PINPIPE_TEST_IN"),
			Out: os.Getenv("PINPIPE_TEST_OUT"), Incremental: true})
		t.Fatalf("not killed at %s: %v", point, err)
	}
	for _, point := range crashPoints {
		t.Run(point, func(t *testing.T) {
			in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
			growSink(t, in, 0, 200)
			incRun(t, in, out)
			growSink(t, in, 200, 400)

			cmd := exec.Command(os.Args[0], "-test.run=^TestIncrementalKilled$", "-test.count=1")
			cmd.Env = append(os.Environ(), "PINPIPE_TEST_KILL_AT="+point, "PINPIPE_TEST_IN="+in, "PINPIPE_TEST_OUT="+out)
			outp, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "%s", outp)
			ws := exit.Sys().(syscall.WaitStatus)
			require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "killed by SIGKILL: %v\n%s", err, outp)

			for _, f := range readState(t, out).files() {
				assert.FileExists(t, filepath.Join(out, filepath.FromSlash(f)))
			}
			rep := incRun(t, in, out)
			_, full := fullRun(t, in)
			requireSameOutputs(t, full, out)
			requireFilesAreState(t, out, readState(t, out))
			if point == "written" || point == "published" {
				assert.NotEmpty(t, rep.Removed, "the killed run's files are removed")
				assert.Equal(t, 20, rep.Kinds[0].Objects, "the killed run's objects are read again")
			}
		})
	}
}

// TestIncrementalWithoutStateReplaces: a run without --incremental over an incremental output
// leaves only its own files (no state, no run files adding rows to its tables).
func TestIncrementalThenPlainRun(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	growSink(t, in, 0, 200)
	incRun(t, in, out)
	rep, err := RunBatch(context.Background(), BatchConfig{Input: in, Out: out})
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(out, filepath.FromSlash(stateFile)))
	_, full := fullRun(t, in)
	requireSameOutputs(t, full, out)
	assert.NotEmpty(t, rep.Removed)
	entries, err := os.ReadDir(filepath.Join(out, "clean", "pin"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "pin.parquet", entries[0].Name())
}

func TestIncrementalStateErrors(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	growSink(t, in, 0, 40)
	incRun(t, in, out)
	_, err := RunBatch(context.Background(), BatchConfig{Input: in, Out: out, UserID: "other", Incremental: true})
	assert.Error(t, err) // no sink objects for "other"

	// A state that cannot be read is refused with the way out, and --full rebuilds over it.
	require.NoError(t, os.WriteFile(filepath.Join(out, filepath.FromSlash(stateFile)), []byte("{not json"), 0o644))
	_, err = RunBatch(context.Background(), BatchConfig{Input: in, Out: out, Incremental: true})
	assert.ErrorContains(t, err, "run with --full to rebuild")
	_, err = RunBatch(context.Background(), BatchConfig{Input: in, Out: out, Full: true})
	require.NoError(t, err)
	_, full := fullRun(t, in)
	requireSameOutputs(t, full, out)
	requireFilesAreState(t, out, readState(t, out))

	// Objects not named by offset cannot be placed: a clear error, not a skip.
	writeObjects(t, in, map[string][]string{"topics/demo.geo/partition=0/extra.json": {geoLine(1, "Chad", "2020-01-01 00:00:00")}})
	_, err = RunBatch(context.Background(), BatchConfig{Input: in, Out: out, Incremental: true})
	assert.ErrorContains(t, err, "topics/demo.geo/partition=0/extra.json: the incremental mode needs the sink's object names")
}

func TestObjectPosition(t *testing.T) {
	for _, tc := range []struct {
		key, part string
		off       int64
		ok        bool
	}{
		{"topics/demo.pin/partition=0/demo.pin+0+0000000000.json", "demo.pin/partition=0", 0, true},
		{"topics/demo.pin/partition=12/demo.pin+12+0000012345.json", "demo.pin/partition=12", 12345, true},
		{"topics/demo.pin/partition=1/demo.pin+0+0000000000.json", "", 0, false}, // partition mismatch
		{"topics/demo.pin/partition=0/demo.pin+0+.json", "", 0, false},
		{"topics/demo.pin/partition=0/demo.pin+0+-1.json", "", 0, false},
		{"topics/demo.pin/partition=0/x.json", "", 0, false},
	} {
		part, off, err := objectPosition(tc.key)
		if !tc.ok {
			assert.Error(t, err, tc.key)
			continue
		}
		require.NoError(t, err, tc.key)
		assert.Equal(t, tc.part, part)
		assert.Equal(t, tc.off, off)
	}
}

// TestIncrementalS3 keeps the state in S3 (gofakes3): two steps, each equal to a full run, the
// bucket holding exactly the files the state names, and a run stopped before its commit
// recovered by the next.
func TestIncrementalS3(t *testing.T) {
	backend := fakeS3(t, "res")
	in := t.TempDir()
	ctx := context.Background()
	download := func() string {
		dir := t.TempDir()
		list, err := backend.ListBucket("res", nil, gofakes3.ListBucketPage{})
		require.NoError(t, err)
		for _, o := range list.Contents {
			obj, err := backend.GetObject("res", o.Key, nil)
			require.NoError(t, err)
			b, err := io.ReadAll(obj.Contents)
			obj.Contents.Close()
			require.NoError(t, err)
			rel, ok := strings.CutPrefix(o.Key, "out/")
			require.True(t, ok, o.Key)
			p := filepath.Join(dir, filepath.FromSlash(rel))
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, b, 0o644))
		}
		return dir
	}
	growSink(t, in, 0, 200)
	_, err := RunBatch(ctx, BatchConfig{Input: in, Out: "s3://res/out", Incremental: true})
	require.NoError(t, err)
	_, full := fullRun(t, in)
	got := download()
	requireSameOutputs(t, full, got)
	requireFilesAreState(t, got, readState(t, got))

	growSink(t, in, 200, 400)
	crashHook = func(p string) error {
		if p == "published" {
			return errors.New("stopped")
		}
		return nil
	}
	_, err = RunBatch(ctx, BatchConfig{Input: in, Out: "s3://res/out", Incremental: true})
	crashHook = nil
	require.Error(t, err)
	rep, err := RunBatch(ctx, BatchConfig{Input: in, Out: "s3://res/out", Incremental: true})
	require.NoError(t, err)
	assert.NotEmpty(t, rep.Removed, "the stopped run's uploads are removed")
	assert.Equal(t, "s3://res/out/report.html", rep.ReportPath)
	_, full = fullRun(t, in)
	got = download()
	requireSameOutputs(t, full, got)
	requireFilesAreState(t, got, readState(t, got))
}

// TestIncrementalS3SkipAnalysis: the clean-only run (Athena runs the analyses) over an S3 state:
// no outputs, no report, the clean files of both steps equal to a full run's.
func TestIncrementalS3SkipAnalysis(t *testing.T) {
	backend := fakeS3(t, "res")
	in := t.TempDir()
	ctx := context.Background()
	for _, step := range [][2]int{{0, 200}, {200, 400}} {
		growSink(t, in, step[0], step[1])
		rep, err := RunBatch(ctx, BatchConfig{Input: in, Out: "s3://res/out", Incremental: true, SkipAnalysis: true})
		require.NoError(t, err)
		assert.Empty(t, rep.Results)
		assert.Empty(t, rep.ReportPath)
		if step[0] > 0 {
			assert.Positive(t, rep.Kinds[0].HistoryRows)
		}
	}
	list, err := backend.ListBucket("res", nil, gofakes3.ListBucketPage{})
	require.NoError(t, err)
	dir := t.TempDir()
	for _, o := range list.Contents {
		assert.False(t, strings.HasSuffix(o.Key, ".csv") || strings.HasSuffix(o.Key, ".html"), o.Key)
		obj, err := backend.GetObject("res", o.Key, nil)
		require.NoError(t, err)
		b, err := io.ReadAll(obj.Contents)
		obj.Contents.Close()
		require.NoError(t, err)
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(o.Key, "out/")))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
	_, full := fullRun(t, in)
	for _, k := range record.Kinds {
		require.Equal(t, cleanRows(t, full, k), cleanRows(t, dir, k), "clean %s rows", k)
	}
	requireFilesAreState(t, dir, readState(t, dir))
}

// TestIncrementalRecutObject: a sink restart re-cut a partition: a new object name starts below
// the watermark and holds records already read (and one new). It is read (late), its re-sent
// records change nothing, its new one is added, and the outputs are a full run's.
func TestIncrementalRecutObject(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	growSink(t, in, 0, 40) // partitions 0 and 1, objects at offsets 0 and 10 of each
	incRun(t, in, out)
	_, geos, _ := genLines(3, 40)
	var recut []string
	for o := 5; o < 20; o++ { // records at offsets 5..19 of partition 0: record o*2
		recut = append(recut, string(geos[o*2]))
	}
	recut = append(recut, geoLine(99999, "Chad", "2021-01-01 00:00:00"))
	writeObjects(t, in, map[string][]string{objectKey(record.Geo, 0, 5): recut})
	rep := incRun(t, in, out)
	_, full := fullRun(t, in)
	requireSameOutputs(t, full, out)
	geo := rep.Kinds[1]
	assert.Equal(t, 1, geo.Objects)
	assert.Equal(t, 1, geo.Late)
	assert.Equal(t, int64(1), geo.Rows, "only ind 99999 is new")
	assert.Equal(t, int64(15), geo.Duplicates)
	assert.False(t, geo.Rebuilt)
}

// TestIncrementalCompacts: once a table has maxCleanFiles run files, a run writes all its rows as
// one file and the others go; the outputs stay a full run's.
func TestIncrementalCompacts(t *testing.T) {
	defer func(n int) { maxCleanFiles = n }(maxCleanFiles)
	maxCleanFiles = 2
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	var rep *BatchReport
	for step := range 4 {
		growSink(t, in, step*40, (step+1)*40)
		rep = incRun(t, in, out)
		_, full := fullRun(t, in)
		requireSameOutputs(t, full, out)
		st := readState(t, out)
		requireFilesAreState(t, out, st)
		want := []int{1, 2, 1, 2}[step]
		assert.Len(t, st.Clean[record.Pin], want, "step %d", step)
		assert.Equal(t, step == 2, rep.Kinds[0].Compacted, "step %d", step)
	}
	var buf strings.Builder
	rep.Print(&buf)
	assert.Contains(t, buf.String(), "skipped 36 read before")
}

// incEqualsFull writes objs (if any) into the sink, runs the job incrementally into out and
// checks it against a full run over the same objects, and the state's folders against the state.
func incEqualsFull(t *testing.T, in, out string, objs map[string][]string) *BatchReport {
	t.Helper()
	writeObjects(t, in, objs)
	rep := incRun(t, in, out)
	_, full := fullRun(t, in)
	requireSameOutputs(t, full, out)
	requireFilesAreState(t, out, readState(t, out))
	return rep
}

// unmatchedInds returns the inds in a state's unmatched file of a pair ("pin-geo").
func unmatchedInds(t *testing.T, out string, st *runState, pair string) []int64 {
	t.Helper()
	rel, ok := st.Unmatched[pair]
	require.True(t, ok, "the state names the %s rows", pair)
	res, err := Query(context.Background(), out, fmt.Sprintf("SELECT ind FROM read_parquet(%s) ORDER BY ind", quoteString(filepath.Join(out, rel))))
	require.NoError(t, err)
	var inds []int64
	for _, r := range res.Rows {
		inds = append(inds, r[0].(int64))
	}
	return inds
}

// TestIncrementalJoinsAcrossRuns: a post whose geolocation and user arrive runs later, and a
// geolocation whose post arrives later, are joined as a full run joins them; meanwhile the
// rows wait in the state's unmatched files (and only they: a run reads no earlier rows).
func TestIncrementalJoinsAcrossRuns(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	step := func(objs map[string][]string) *BatchReport {
		t.Helper()
		rep := incEqualsFull(t, in, out, objs)
		for _, k := range rep.Kinds {
			assert.False(t, k.Rebuilt, k.Kind)
		}
		return rep
	}
	// Step 1: ind 1's pin alone; ind 2's geo and user alone; ind 3 whole.
	step(map[string][]string{
		"topics/demo.pin/partition=0/demo.pin+0+0000000000.json":   {pinLine(1, "art", "Ann", "10k"), pinLine(3, "travel", "Cat", "3k")},
		"topics/demo.geo/partition=0/demo.geo+0+0000000000.json":   {geoLine(2, "Chad", "2020-01-01 00:00:00"), geoLine(3, "Peru", "2019-01-01 00:00:00")},
		"topics/demo.user/partition=0/demo.user+0+0000000000.json": {userLine(2, "Bob", 30, "2016-01-01 00:00:00"), userLine(3, "Cat", 40, "2017-01-01 00:00:00")},
	})
	st := readState(t, out)
	assert.Equal(t, []int64{1}, unmatchedInds(t, out, st, "pin-geo"))
	assert.Equal(t, []int64{1}, unmatchedInds(t, out, st, "pin-user"))
	assert.Equal(t, []int64{2}, unmatchedInds(t, out, st, "geo-pin"))
	assert.Equal(t, []int64{2}, unmatchedInds(t, out, st, "user-pin"))

	// Step 2: other posts; ind 1's user comes.
	step(map[string][]string{
		"topics/demo.pin/partition=0/demo.pin+0+0000000002.json":   {pinLine(4, "art", "Dan", "99")},
		"topics/demo.geo/partition=0/demo.geo+0+0000000002.json":   {geoLine(4, "Chad", "2021-01-01 00:00:00")},
		"topics/demo.user/partition=0/demo.user+0+0000000002.json": {userLine(4, "Dan", 22, "2015-01-01 00:00:00"), userLine(1, "Ann", 25, "2016-06-01 00:00:00")},
	})
	st = readState(t, out)
	assert.Equal(t, []int64{1}, unmatchedInds(t, out, st, "pin-geo"))
	assert.Empty(t, unmatchedInds(t, out, st, "pin-user"))
	assert.Equal(t, []int64{2}, unmatchedInds(t, out, st, "geo-pin"))

	// Step 3: ind 1's geo and ind 2's pin come: every pair is formed.
	rep := step(map[string][]string{
		"topics/demo.pin/partition=0/demo.pin+0+0000000003.json": {pinLine(2, "beauty", "Bob", "2M")},
		"topics/demo.geo/partition=0/demo.geo+0+0000000003.json": {geoLine(1, "Albania", "2018-01-01 00:00:00")},
	})
	assert.Equal(t, int64(1), rep.Kinds[0].Rows)
	st = readState(t, out)
	for _, pair := range []string{"pin-geo", "pin-user", "geo-pin", "user-pin"} {
		assert.Empty(t, unmatchedInds(t, out, st, pair), pair)
	}
	top, err := os.ReadFile(filepath.Join(out, "top_country_by_followers.csv"))
	require.NoError(t, err)
	assert.Equal(t, "country,poster_name,follower_count\nChad,Bob,2000000\n", string(top))
}

// TestIncrementalRepeatOrder places repeats against the kept rows as a full run orders keys: as
// strings, so partition=10 sorts before partition=2 (and partition=3 after it).
func TestIncrementalRepeatOrder(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	geo := func(p, off int) string {
		return fmt.Sprintf("topics/demo.geo/partition=%d/demo.geo+%d+%010d.json", p, p, off)
	}
	user := func(p, off int) string {
		return fmt.Sprintf("topics/demo.user/partition=%d/demo.user+%d+%010d.json", p, p, off)
	}
	step := func(objs map[string][]string) *BatchReport {
		t.Helper()
		return incEqualsFull(t, in, out, objs)
	}
	// Step 1: inds 5 and 6 kept from partition 2.
	step(map[string][]string{
		"topics/demo.pin/partition=0/demo.pin+0+0000000000.json": {pinLine(5, "art", "Eve", "5k"), pinLine(6, "art", "Fay", "6k")},
		geo(2, 0):  {geoLine(5, "Chad", "2020-01-01 00:00:00"), geoLine(6, "Peru", "2020-01-01 00:00:00")},
		user(2, 0): {userLine(5, "Eve", 30, "2016-01-01 00:00:00"), userLine(6, "Fay", 40, "2016-01-01 00:00:00")},
	})
	// Step 2: ind 5 again, the same record, in partition 10 (sorts first: no change, and the
	// ind is now placed there); ind 6 with another country in partition 3 (sorts after: a full
	// run keeps partition 2's row).
	rep := step(map[string][]string{
		geo(10, 0):  {geoLine(5, "Chad", "2020-01-01 00:00:00")},
		geo(3, 0):   {geoLine(6, "Fiji", "2020-01-01 00:00:00")},
		user(2, 50): {userLine(99, "Zed", 20, "2016-01-01 00:00:00")},
	})
	g := rep.Kinds[1]
	assert.False(t, g.Rebuilt)
	assert.Equal(t, int64(1), g.Compared, "only the repeat in partition 10 might sort first")
	assert.Equal(t, int64(2), g.Duplicates)
	// Step 3: ind 5 with another country in partition 2, after its last object: partition 10's
	// row (the same as the first) sorts first, so nothing changes and nothing is compared; a
	// user of ind 6 with another age, late in partition 2 (below its last object, read in step
	// 2): the state does not know where in the partition the kept row sits, so the repeat might
	// sort first; it is compared, differs, and the kind is rebuilt (which finds the kept row
	// sorts first after all: the outputs stay a full run's).
	rep = step(map[string][]string{
		geo(2, 2):  {geoLine(5, "Laos", "2020-01-01 00:00:00")},
		user(2, 1): {userLine(6, "Fay", 55, "2016-01-01 00:00:00")},
	})
	assert.False(t, rep.Kinds[1].Rebuilt, "geo: the kept row (now partition 10's) sorts first")
	assert.Zero(t, rep.Kinds[1].Compared)
	assert.True(t, rep.Kinds[2].Rebuilt, "user: a late object with another record")
	// Step 4: ind 6 with another country in partition 10: sorts before partition 2's row, so a
	// full run keeps it: geo is rebuilt.
	rep = step(map[string][]string{geo(10, 1): {geoLine(6, "Mali", "2020-01-01 00:00:00")}})
	assert.True(t, rep.Kinds[1].Rebuilt)
	top, err := os.ReadFile(filepath.Join(out, "top_user_by_country.csv"))
	require.NoError(t, err)
	assert.Equal(t, "country,poster_name,follower_count\nChad,Eve,5000\nMali,Fay,6000\n", string(top))
	// Step 5: ind 6 again, Mali, in partition 2 (after its kept row, now partition 10's): nothing.
	rep = step(map[string][]string{geo(2, 3): {geoLine(6, "Mali", "2020-01-01 00:00:00")}})
	assert.False(t, rep.Kinds[1].Rebuilt)
}

// TestIncrementalManyPartitions grows a sink of eleven partitions (partition=10 sorts before
// partition=2) in steps, 20% of its records re-sends of earlier posts: re-sends that land in a
// partition sorting first are compared by fingerprint and change nothing; every run equals a
// full run.
func TestIncrementalManyPartitions(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	var compared int64
	for step := range 4 {
		writeSinkRange(t, in, 5, step*330, (step+1)*330, 11, 10)
		rep := incRun(t, in, out)
		_, full := fullRun(t, in)
		requireSameOutputs(t, full, out)
		for _, k := range rep.Kinds {
			assert.False(t, k.Rebuilt, "step %d %s", step, k.Kind)
			compared += k.Compared
		}
	}
	assert.Positive(t, compared)
	requireFilesAreState(t, out, readState(t, out))
}

// TestIncrementalStaleSummary: an output whose merged rows were made by another text of its
// partial or merge stage (the hash in the file name differs) is made again from every row.
func TestIncrementalStaleSummary(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	growSink(t, in, 0, 200)
	incRun(t, in, out)
	st := readState(t, out)
	old := st.Merged["top_category_by_country"]
	stale := strings.Replace(old, "top_category_by_country-", "top_category_by_country-0000", 1)
	require.NoError(t, os.Rename(filepath.Join(out, old), filepath.Join(out, stale)))
	// Counts that are wrong: if they were merged, the outputs would differ from a full run's.
	_, err := Query(context.Background(), out, fmt.Sprintf("COPY (SELECT country, category, category_count * 7 AS category_count FROM read_parquet(%s)) TO %s (FORMAT parquet)",
		quoteString(filepath.Join(out, stale)), quoteString(filepath.Join(out, stale+".x"))))
	require.NoError(t, err)
	require.NoError(t, os.Rename(filepath.Join(out, stale+".x"), filepath.Join(out, stale)))
	st.Merged["top_category_by_country"] = stale
	require.NoError(t, os.WriteFile(filepath.Join(out, stateFile), st.encode(), 0o644))

	growSink(t, in, 200, 400)
	incEqualsFull(t, in, out, nil)
}

// TestIncrementalOlderState: a state of the previous layout (version 1) is rebuilt from every
// object, its files replaced, and the run says so.
func TestIncrementalOlderState(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "inc")
	growSink(t, in, 0, 200)
	incRun(t, in, out)
	st := readState(t, out)
	st.Version = 1
	st.Seen = map[record.Kind]string{record.Pin: "_state/old/seen-pin.roaring"}
	require.NoError(t, os.MkdirAll(filepath.Join(out, "_state", "old"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(out, "_state", "old", "seen-pin.roaring"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(out, stateFile), st.encode(), 0o644))

	growSink(t, in, 200, 400)
	rep := incEqualsFull(t, in, out, nil)
	assert.Contains(t, rep.Rebuilt, "older pinpipe (layout 1, now 2)")
	assert.Contains(t, rep.Removed, "_state/old/seen-pin.roaring")
	assert.Equal(t, 40, rep.Kinds[0].Objects, "every object is read")
	var buf strings.Builder
	rep.Print(&buf)
	assert.Contains(t, buf.String(), "Rebuilt the state from every object: the state was written by an older pinpipe")

	st = readState(t, out)
	st.Version = 3
	require.NoError(t, os.WriteFile(filepath.Join(out, stateFile), st.encode(), 0o644))
	_, err := RunBatch(context.Background(), BatchConfig{Input: in, Out: out, Incremental: true})
	assert.ErrorContains(t, err, "version 3, written by a newer pinpipe")
}
