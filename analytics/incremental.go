package analytics

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/analytics/outlayout"
	"github.com/pinpipe/pinpipe/record"
)

// The incremental mode (`pinpipe analyse --incremental`) reads only the sink objects that no
// earlier run read, and keeps what it needs to know under --out:
//
//	_state/state.json               the commit point: written last, atomically (see runState)
//	_state/<run>/seen-<kind>.roaring the inds kept so far, per kind (roaring64, portable format)
//	clean/<kind>/<run>.parquet       the rows each run added (one file per run and kind)
//	quarantine/<run>.jsonl           the lines each run could not use
//
// A file under clean/, _state/ or quarantine/ that state.json does not name was left by a run
// that did not finish; the next run removes it before it starts. A run writes its files, makes
// them durable, then commits state.json, then removes what the new state no longer names: a run
// killed at any point leaves either the old state and files it names, or the new, and re-running
// gives the outputs one clean run gives.

// stateFile is the incremental mode's commit point, relative to --out.
const stateFile = "_state/state.json"

// stateVersion is the layout of state.json; a state of another version is refused.
const stateVersion = 1

// maxRunsKept bounds the run history kept in state.json.
const maxRunsKept = 100

// maxCleanFiles is how many run files a clean table may have before a run compacts them into
// one: a year of daily runs would otherwise be 365 files per table for every query to open (and,
// on S3, to fetch).
var maxCleanFiles = 30

// runState is state.json.
type runState struct {
	Version int    `json:"version"`
	UserID  string `json:"user_id"`
	// Partitions maps "<topic>/partition=<p>" to what was read of it.
	Partitions map[string]*partitionState `json:"partitions"`
	// Clean lists, per kind, the clean Parquet files that hold its rows (relative to --out).
	Clean map[record.Kind][]string `json:"clean"`
	// Seen names, per kind, the file of the inds kept so far.
	Seen map[record.Kind]string `json:"seen"`
	// Quarantine lists the quarantine files of the runs.
	Quarantine []string `json:"quarantine"`
	// Runs are the last runs that committed, oldest first.
	Runs []runSummary `json:"runs"`
}

// partitionState is what was read of one topic-partition.
type partitionState struct {
	// Watermark is the end offset (start offset + records) of the highest object read: an
	// object starting below it that was not read before is late (or a rewrite with new cut
	// points), and is read and reported as such.
	Watermark int64 `json:"watermark"`
	// Objects is the set of start offsets of the objects read, a roaring64 bitmap in its
	// portable serialization (base64 in the JSON). The sink names objects by start offset and
	// rewrites a name only with the same records, so a start offset read is an object done.
	Objects []byte `json:"objects"`

	objects *roaring64.Bitmap
}

// runSummary is one committed run, for people reading state.json.
type runSummary struct {
	Run     string                `json:"run"`
	Started time.Time             `json:"started"`
	Full    bool                  `json:"full,omitempty"`
	Objects int                   `json:"objects"`
	Late    int                   `json:"late"`
	Rows    map[record.Kind]int64 `json:"rows"`
	Rebuilt []record.Kind         `json:"rebuilt,omitempty"`
}

// newRunID names a run: its start time (so names sort in run order) and a random suffix (two
// runs in the same second never share files).
func newRunID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// objectPosition is where an object sits in its topic-partition, read from its key
// topics/<topic>/partition=<p>/<topic>+<p>+<offset>.json.
func objectPosition(key string) (partition string, offset int64, err error) {
	parts := strings.Split(key, "/")
	if len(parts) == 4 {
		topic, p := parts[1], strings.TrimPrefix(parts[2], "partition=")
		name, ok := strings.CutPrefix(parts[3], topic+"+"+p+"+")
		if ok {
			name, ok = strings.CutSuffix(name, ".json")
		}
		if ok && name != "" && strings.Trim(name, "0123456789") == "" {
			if off, err := strconv.ParseInt(name, 10, 64); err == nil {
				return parts[1] + "/" + parts[2], off, nil
			}
		}
	}
	return "", 0, fmt.Errorf("%s: the incremental mode needs the sink's object names, topics/<topic>/partition=<p>/<topic>+<p>+<start offset>.json; run without --incremental to read it", key)
}

// loadState reads state.json and the seen sets it names; nil when there is none.
func loadState(ctx context.Context, out outStore, userID string) (*runState, *seenSets, error) {
	b, err := out.read(ctx, stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var st runState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, fmt.Errorf("%s/%s: %w (run with --full to rebuild)", out, stateFile, err)
	}
	if st.Version != stateVersion {
		return nil, nil, fmt.Errorf("%s/%s: version %d, want %d (run with --full to rebuild)", out, stateFile, st.Version, stateVersion)
	}
	if st.UserID != userID {
		return nil, nil, fmt.Errorf("%s/%s: the state of user %q, not %q (use another --out, or --full to rebuild)", out, stateFile, st.UserID, userID)
	}
	for name, p := range st.Partitions {
		p.objects = roaring64.New()
		if err := p.objects.UnmarshalBinary(p.Objects); err != nil {
			return nil, nil, fmt.Errorf("%s/%s: partition %s: %w (run with --full to rebuild)", out, stateFile, name, err)
		}
	}
	seen := newSeenSets()
	for i, k := range record.Kinds {
		rel, ok := st.Seen[k]
		if !ok {
			continue
		}
		b, err := out.read(ctx, rel)
		if err != nil {
			return nil, nil, fmt.Errorf("the state names %s: %w (run with --full to rebuild)", rel, err)
		}
		if err := seen.sets[i].UnmarshalBinary(b); err != nil {
			return nil, nil, fmt.Errorf("%s/%s: %w (run with --full to rebuild)", out, rel, err)
		}
	}
	return &st, seen, nil
}

// files lists every file the state names.
func (st *runState) files() []string {
	if st == nil {
		return nil
	}
	var fs []string
	for _, k := range record.Kinds {
		fs = append(fs, st.Clean[k]...)
		if s, ok := st.Seen[k]; ok {
			fs = append(fs, s)
		}
	}
	return append(fs, st.Quarantine...)
}

// stateFolders are the folders whose files belong to the incremental state (outlayout names them
// for the CDK side too: the batch task may delete files there and nowhere else).
var stateFolders = outlayout.StateFolders

// orphans lists the files under the state's folders that the state does not name (nor is),
// left by a run that did not finish, or by a run without --incremental.
func orphans(ctx context.Context, out outStore, st *runState) ([]string, error) {
	named := map[string]bool{stateFile: true}
	for _, f := range st.files() {
		named[f] = true
	}
	var extra []string
	for _, folder := range stateFolders {
		files, err := out.list(ctx, folder+"/")
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if !named[f] && !strings.Contains(path.Base(f), ".tmp-") {
				extra = append(extra, f)
			}
		}
	}
	sort.Strings(extra)
	return extra, nil
}

// incremental is one incremental run's plan and what it changes.
type incremental struct {
	run   string
	full  bool
	old   *runState // nil: none (or --full)
	prior *seenSets // inds kept by earlier runs (empty when there are none)
	read  []bool    // per file: read by this run
	late  []bool    // per file: not read before, starting below its partition's watermark
	seen  *seenSets // inds kept by this run
}

// seenNow is the set of inds of kind i kept by this run.
func (inc *incremental) seenNow(i int) *roaring64.Bitmap { return inc.seen.sets[i] }

// planIncremental loads the state and picks the objects to read: those whose start offset was
// not read before. --full (full) ignores the state: everything is read and the state rebuilt.
func planIncremental(ctx context.Context, out outStore, userID string, files []sinkFile, full bool, rep *BatchReport) (*incremental, error) {
	inc := &incremental{run: newRunID(rep.Started), full: full, prior: newSeenSets()}
	st, seen, err := loadState(ctx, out, userID)
	if err != nil && !full {
		return nil, err
	}
	if !full && st != nil {
		inc.old, inc.prior = st, seen
	}
	if full {
		inc.old = st // its files are removed once the new state is committed
		if err != nil {
			inc.old = nil // unreadable: what it named is found as orphans
		}
	}
	inc.read, inc.late = make([]bool, len(files)), make([]bool, len(files))
	for i, f := range files {
		part, off, err := objectPosition(f.key)
		if err != nil {
			return nil, err
		}
		ki := slices.Index(record.Kinds, f.kind)
		p := inc.partition(part)
		switch {
		case p == nil:
			inc.read[i] = true
		case p.objects.Contains(uint64(off)):
			rep.Kinds[ki].Skipped++
		default:
			inc.read[i] = true
			inc.late[i] = off < p.Watermark
		}
		if inc.read[i] {
			if inc.late[i] {
				rep.Kinds[ki].Late++
			}
		}
	}
	for i := range rep.Kinds {
		rep.Kinds[i].Objects -= rep.Kinds[i].Skipped
	}
	return inc, nil
}

// partition returns the old state of a partition, or nil.
func (inc *incremental) partition(name string) *partitionState {
	if inc.old == nil || inc.full {
		return nil
	}
	return inc.old.Partitions[name]
}

// history lists the clean files of earlier runs that hold rows of kind k.
func (inc *incremental) history(k record.Kind) []string {
	if inc.old == nil || inc.full {
		return nil
	}
	return inc.old.Clean[k]
}

// newState is the state after this run: the old one plus the objects read (records[i] is the
// number of records of file i), the files written and the seen sets. The file written for a
// kind in replaced holds all its rows: it replaces the earlier ones.
func (inc *incremental) newState(userID string, files []sinkFile, records []int64, written map[record.Kind]string,
	replaced map[record.Kind]bool, quarantine string, rep *BatchReport) *runState {
	st := &runState{Version: stateVersion, UserID: userID, Partitions: map[string]*partitionState{},
		Clean: map[record.Kind][]string{}, Seen: map[record.Kind]string{}}
	if inc.old != nil && !inc.full {
		for name, p := range inc.old.Partitions {
			st.Partitions[name] = &partitionState{Watermark: p.Watermark, objects: p.objects.Clone()}
		}
		for _, k := range record.Kinds {
			if !replaced[k] {
				st.Clean[k] = slices.Clone(inc.old.Clean[k])
			}
		}
		st.Quarantine = slices.Clone(inc.old.Quarantine)
		st.Runs = slices.Clone(inc.old.Runs)
	}
	for i, f := range files {
		if !inc.read[i] {
			continue
		}
		name, off, _ := objectPosition(f.key)
		p := st.Partitions[name]
		if p == nil {
			p = &partitionState{objects: roaring64.New()}
			st.Partitions[name] = p
		}
		p.objects.Add(uint64(off))
		p.Watermark = max(p.Watermark, off+records[i])
	}
	for name, p := range st.Partitions {
		p.objects.RunOptimize()
		b, err := p.objects.MarshalBinary()
		if err != nil {
			panic(fmt.Sprintf("serializing the objects of %s: %v", name, err)) // in-memory; cannot fail
		}
		p.Objects = b
	}
	for _, k := range record.Kinds {
		if w, ok := written[k]; ok {
			st.Clean[k] = append(st.Clean[k], w)
		}
		st.Seen[k] = seenFile(inc.run, k)
	}
	if quarantine != "" {
		st.Quarantine = append(st.Quarantine, quarantine)
	}
	sum := runSummary{Run: inc.run, Started: rep.Started, Full: inc.full, Rows: map[record.Kind]int64{}}
	for _, ks := range rep.Kinds {
		sum.Objects += ks.Objects
		sum.Late += ks.Late
		sum.Rows[ks.Kind] = ks.Rows
		if ks.Rebuilt {
			sum.Rebuilt = append(sum.Rebuilt, ks.Kind)
		}
	}
	st.Runs = append(st.Runs, sum)
	if len(st.Runs) > maxRunsKept {
		st.Runs = st.Runs[len(st.Runs)-maxRunsKept:]
	}
	return st
}

// encode is state.json's content.
func (st *runState) encode() []byte {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("encoding the state: %v", err)) // plain data; cannot fail
	}
	return append(b, '\n')
}

// seenFile is where a run writes the seen set of kind k.
func seenFile(run string, k record.Kind) string {
	return "_state/" + run + "/seen-" + string(k) + ".roaring"
}

// runCleanFile is where an incremental run writes the rows it adds of kind k.
func runCleanFile(run string, k record.Kind) string {
	return "clean/" + string(k) + "/" + run + ".parquet"
}

// runQuarantineFile is where an incremental run writes the lines it could not use.
func runQuarantineFile(run string) string { return "quarantine/" + run + ".jsonl" }

// encodeSeen serializes a seen set.
func encodeSeen(b *roaring64.Bitmap) ([]byte, error) {
	b.RunOptimize()
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// crashHook, when set (by tests), is called at each step of an incremental run's commit; it
// may stop the run there (an error) or kill the process, to test that a run stopped anywhere
// leaves a state the next run recovers from.
var crashHook func(point string) error

func crashPoint(point string) error {
	if crashHook == nil {
		return nil
	}
	return crashHook(point)
}

// resolveRepeats compares the rows whose ind an earlier run kept (the repeat tables) with the
// kept rows. Re-sends are the same record, and then nothing changes. A repeat with a different
// record means the first row by object key and line may not be the one kept (a late object, or
// a partition whose keys sort before the kept row's), so that kind is rebuilt from every object:
// its rows are then exactly a full run's.
func (inc *incremental) resolveRepeats(ctx context.Context, db *sql.DB, connector *duckdb.Connector, out outStore,
	src source, files []sinkFile, seen *seenSets, ld *loaded, rebuilt map[record.Kind]bool, progressOut io.Writer,
	rep *BatchReport) error {
	for i, k := range record.Kinds {
		hist := inc.history(k)
		if len(hist) == 0 {
			continue
		}
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(repeatTable(k))).Scan(&n); err != nil {
			return fmt.Errorf("counting the repeated %s rows: %w", k, err)
		}
		if n == 0 {
			continue
		}
		if err := out.fetch(ctx, hist); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, cleanView(repeatView(k), repeatTable(k), k)); err != nil {
			return fmt.Errorf("comparing the repeated %s rows: %w", k, err)
		}
		var same []string
		for _, c := range clean.Columns(k) {
			same = append(same, fmt.Sprintf("r.%[1]s IS NOT DISTINCT FROM o.%[1]s", quoteIdent(c.Name)))
		}
		q := fmt.Sprintf("SELECT count(*) FROM %s r JOIN %s o ON o.ind = r.ind WHERE NOT (%s)",
			quoteIdent(repeatView(k)), parquetFiles(out.dir(), hist), strings.Join(same, " AND "))
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return fmt.Errorf("comparing the repeated %s rows: %w", k, err)
		}
		if n == 0 {
			continue
		}
		// Rebuild k from every object.
		rebuilt[k] = true
		for _, t := range []string{stageTable(k), repeatTable(k)} {
			if _, err := db.ExecContext(ctx, "DELETE FROM "+quoteIdent(t)); err != nil {
				return fmt.Errorf("rebuilding %s: %w", k, err)
			}
		}
		seen.sets[i] = roaring64.New()
		st := &rep.Kinds[i]
		*st = KindStats{Kind: k, Late: st.Late, Rebuilt: true}
		all := make([]bool, len(files))
		for j, f := range files {
			if f.kind == k {
				all[j] = true
				st.Objects++
			}
		}
		again, err := load(ctx, connector, src, files, all, seen, nil, progressOut, rep)
		if err != nil {
			return err
		}
		for j := range files {
			if all[j] {
				ld.bad[j], ld.records[j], inc.read[j] = again.bad[j], again.records[j], true
			}
		}
	}
	return nil
}

// write writes an incremental run's files, makes them durable, commits the state, then removes
// what the new state no longer names.
func (inc *incremental) write(ctx context.Context, db *sql.DB, out outStore, cfg BatchConfig, files []sinkFile,
	ld *loaded, rebuilt map[record.Kind]bool, rep *BatchReport) error {
	dir := out.dir()
	if err := writeResults(dir, rep); err != nil {
		return err
	}
	written := map[record.Kind]string{}
	replaced := maps.Clone(rebuilt) // kinds whose file of this run holds all their rows
	for i, k := range record.Kinds {
		from := newView(k)
		if rep.Kinds[i].Compacted {
			from, replaced[k] = tableName(k), true
		} else if rep.Kinds[i].Rows == 0 {
			continue // nothing new: no file
		}
		rel := runCleanFile(inc.run, k)
		if err := copyParquet(ctx, db, from, dir, rel); err != nil {
			return err
		}
		written[k] = rel
		rep.Files = append(rep.Files, rel)
	}
	quarantine := ""
	if slices.ContainsFunc(ld.bad, func(q []quarantined) bool { return len(q) > 0 }) {
		quarantine = runQuarantineFile(inc.run)
		p := filepath.Join(dir, filepath.FromSlash(quarantine))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeQuarantine(p, ld.bad); err != nil {
			return err
		}
		rep.Files = append(rep.Files, quarantine)
	}
	for i, k := range record.Kinds {
		set := inc.prior.sets[i]
		if rebuilt[k] {
			set = roaring64.New()
		}
		set = roaring64.Or(set, inc.seenNow(i))
		b, err := encodeSeen(set)
		if err != nil {
			return fmt.Errorf("writing the %s seen set: %w", k, err)
		}
		rel := seenFile(inc.run, k)
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		rep.Files = append(rep.Files, rel)
	}
	if !cfg.SkipAnalysis {
		if err := writeReport(filepath.Join(dir, "report.html"), rep); err != nil {
			return err
		}
		rep.Files = append(rep.Files, "report.html")
	}
	if err := crashPoint("written"); err != nil {
		return err
	}
	if err := out.publish(ctx, rep.Files); err != nil {
		return err
	}
	if err := crashPoint("published"); err != nil {
		return err
	}
	st := inc.newState(cfg.UserID, files, ld.records, written, replaced, quarantine, rep)
	if err := out.commit(ctx, stateFile, st.encode()); err != nil {
		return err
	}
	rep.Files = append(rep.Files, stateFile)
	if err := crashPoint("committed"); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, f := range st.files() {
		keep[f] = true
	}
	var obsolete []string
	for _, f := range inc.old.files() {
		if !keep[f] {
			obsolete = append(obsolete, f)
		}
	}
	if err := out.remove(ctx, obsolete); err != nil {
		return err
	}
	rep.Removed = append(rep.Removed, obsolete...)
	return crashPoint("removed")
}

// dropState makes a run without --incremental the only content of the state's folders: an
// incremental state (and any file a run left) would otherwise add rows to its clean tables.
// state.json goes first, so that no state ever names a removed file.
func dropState(ctx context.Context, out outStore, rep *BatchReport) error {
	mine := map[string]bool{}
	for _, f := range rep.Files {
		mine[f] = true
	}
	if err := out.remove(ctx, []string{stateFile}); err != nil {
		return err
	}
	var extra []string
	for _, folder := range stateFolders {
		files, err := out.list(ctx, folder+"/")
		if err != nil {
			return err
		}
		for _, f := range files {
			if !mine[f] {
				extra = append(extra, f)
			}
		}
	}
	sort.Strings(extra)
	if err := out.remove(ctx, extra); err != nil {
		return err
	}
	rep.Removed = append(rep.Removed, extra...)
	return nil
}

// copyParquet writes a table or view as a Parquet file at rel under dir.
func copyParquet(ctx context.Context, db *sql.DB, table, dir, rel string) error {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	q := fmt.Sprintf("COPY %s TO %s (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)", quoteIdent(table), quoteString(p))
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	return nil
}
