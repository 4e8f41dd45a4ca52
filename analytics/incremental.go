package analytics

import (
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

	"github.com/pinpipe/pinpipe/analytics/outlayout"
	"github.com/pinpipe/pinpipe/record"
)

// The incremental mode (`pinpipe analyse --incremental`) reads only the sink objects that no
// earlier run read, and keeps what it needs to know under --out, so that a run's cost follows
// the new data, not the history:
//
//	_state/state.json                     the commit point: written last, atomically (see runState)
//	_state/<run>/kept-<kind>.bin          the inds kept so far, by the partition their row came from (kept)
//	_state/<run>/prints-<kind>.bin        the fingerprints of the rows that run kept (prints.go)
//	_state/<run>/merged-<output>.parquet  each analysis's merged partial rows over every run (partials.go)
//	_state/<run>/only-<a>-<b>.parquet     the kept rows of kind a with no row of kind b yet
//	clean/<kind>/<run>.parquet            the rows each run added (one file per run and kind)
//	quarantine/<run>.jsonl                the lines each run could not use
//
// A file under clean/, _state/ or quarantine/ that state.json does not name was left by a run
// that did not finish; the next run removes it before it starts. A run writes its files, makes
// them durable, then commits state.json, then removes what the new state no longer names: a run
// killed at any point leaves either the old state and files it names, or the new, and re-running
// gives the outputs one clean run gives.

// stateFile is the incremental mode's commit point, relative to --out.
const stateFile = "_state/state.json"

// stateVersion is the layout of state.json. A state of an older layout is rebuilt from every
// object (as --full does); one of a newer layout is refused.
const stateVersion = 2

// maxRunsKept bounds the run history kept in state.json.
const maxRunsKept = 100

// maxCleanFiles is how many run files a clean table may have before a run compacts them into
// one (and the kind's prints files with them): a year of daily runs would otherwise be 365 files
// per table for every query to open (and, on S3, to fetch).
var maxCleanFiles = 30

// runState is state.json.
type runState struct {
	Version int    `json:"version"`
	UserID  string `json:"user_id"`
	// Partitions maps "<topic>/partition=<p>" to what was read of it.
	Partitions map[string]*partitionState `json:"partitions"`
	// Clean lists, per kind, the clean Parquet files that hold its rows (relative to --out).
	Clean map[record.Kind][]string `json:"clean"`
	// Kept names, per kind, the file of the inds kept so far by partition (a kept).
	Kept map[record.Kind]string `json:"kept"`
	// Prints lists, per kind, the fingerprint files of the kept rows (one per run that kept
	// rows, until a compaction or a rebuild makes them one).
	Prints map[record.Kind][]string `json:"prints"`
	// Merged names, per output, the file of its merged partial rows over every kept row.
	Merged map[string]string `json:"merged"`
	// Unmatched names, per pair of kinds an analysis joins ("pin-geo": pins with no geo yet),
	// the file of the kept rows of the first with no row of the second.
	Unmatched map[string]string `json:"unmatched"`
	// Seen is the version 1 layout's file of the inds kept, per kind; read only to be removed.
	Seen map[record.Kind]string `json:"seen,omitempty"`
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
	// LastKey is the greatest key of the objects read: a row read from an object whose key
	// sorts after it sorts after every row kept from the partition.
	LastKey string `json:"last_key"`
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

// errOldState: the state has an older layout; the run rebuilds it from every object.
var errOldState = errors.New("an older state layout")

// loadState reads state.json and the kept sets it names; nil when there is none. A state of an
// older layout is returned with errOldState (its files are to be replaced).
func loadState(ctx context.Context, out outStore, userID string) (*runState, [3]*kept, error) {
	var ks [3]*kept
	b, err := out.read(ctx, stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ks, nil
	}
	if err != nil {
		return nil, ks, err
	}
	var st runState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, ks, fmt.Errorf("%s/%s: %w (run with --full to rebuild)", out, stateFile, err)
	}
	if st.Version > stateVersion {
		return nil, ks, fmt.Errorf("%s/%s: version %d, written by a newer pinpipe (this one writes %d; upgrade, or run with --full to rebuild)", out, stateFile, st.Version, stateVersion)
	}
	if st.UserID != userID {
		return nil, ks, fmt.Errorf("%s/%s: the state of user %q, not %q (use another --out, or --full to rebuild)", out, stateFile, st.UserID, userID)
	}
	if st.Version < stateVersion {
		return &st, ks, errOldState
	}
	for name, p := range st.Partitions {
		if p.objects, err = readBitmap(p.Objects); err != nil {
			return nil, ks, fmt.Errorf("%s/%s: partition %s: %w (run with --full to rebuild)", out, stateFile, name, err)
		}
	}
	for i, k := range record.Kinds {
		ks[i] = newKept()
		rel, ok := st.Kept[k]
		if !ok {
			continue
		}
		b, err := out.read(ctx, rel)
		if err != nil {
			return nil, ks, fmt.Errorf("the state names %s: %w (run with --full to rebuild)", rel, err)
		}
		if err := ks[i].UnmarshalBinary(b); err != nil {
			return nil, ks, fmt.Errorf("%s/%s: %w (run with --full to rebuild)", out, rel, err)
		}
	}
	return &st, ks, nil
}

// files lists every file the state names.
func (st *runState) files() []string {
	if st == nil {
		return nil
	}
	var fs []string
	for _, k := range record.Kinds {
		fs = append(fs, st.Clean[k]...)
		fs = append(fs, st.Prints[k]...)
		for _, m := range []map[record.Kind]string{st.Kept, st.Seen} {
			if f, ok := m[k]; ok {
				fs = append(fs, f)
			}
		}
	}
	for _, m := range []map[string]string{st.Merged, st.Unmatched} {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			fs = append(fs, m[name])
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
	run  string
	full bool // --full
	// whole: the analyses' partials are computed over every row, not only the new pairs: there
	// is no state to merge with (the first run, --full, an older layout), or a kind was
	// rebuilt. Otherwise (delta) the state's merged partials and unmatched rows are used.
	whole bool
	why   string    // why the state is rebuilt whole, for the summary ("" when it is not)
	old   *runState // nil: none; with whole set, only its files are of use (to be removed)
	// kept: per kind, the inds earlier runs kept by partition (empty when whole); a repeat
	// that sorts first with the same record moves its ind here.
	kept  [3]*kept
	prior *seenSets // the inds earlier runs kept (kept's), for load
	read  []bool    // per file: read by this run
	late  []bool    // per file: not read before, starting below its partition's watermark
	seen  *seenSets // inds kept by this run
	// rebuilt: per kind, rebuilt from every object (an ind came again with a record that
	// changes the row a full run keeps).
	rebuilt [3]bool
}

// planIncremental loads the state and picks the objects to read: those whose start offset was
// not read before. --full (full) ignores the state: everything is read and the state rebuilt.
func planIncremental(ctx context.Context, out outStore, userID string, files []sinkFile, full bool, rep *BatchReport) (*incremental, error) {
	inc := &incremental{run: newRunID(rep.Started), full: full, prior: newSeenSets()}
	for i := range inc.kept {
		inc.kept[i] = newKept()
	}
	st, ks, err := loadState(ctx, out, userID)
	switch {
	case full:
		inc.old, inc.whole, inc.why = st, true, "--full"
		if err != nil && !errors.Is(err, errOldState) {
			inc.old = nil // unreadable: what it named is found as orphans
		}
	case errors.Is(err, errOldState):
		inc.old, inc.whole = st, true
		inc.why = fmt.Sprintf("the state was written by an older pinpipe (layout %d, now %d)", st.Version, stateVersion)
	case err != nil:
		return nil, err
	case st == nil:
		inc.whole = true // the first run: everything is new
	default:
		inc.old, inc.kept = st, ks
		for i := range ks {
			inc.prior.sets[i] = ks[i].all()
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
		if inc.read[i] && inc.late[i] {
			rep.Kinds[ki].Late++
		}
	}
	for i := range rep.Kinds {
		rep.Kinds[i].Objects -= rep.Kinds[i].Skipped
	}
	return inc, nil
}

// fresh reports whether the run ignores the old state's contents (it may still remove its files).
func (inc *incremental) fresh() bool { return inc.old == nil || inc.full || inc.why != "" }

// partition returns the old state of a partition ("<topic>/partition=<p>"), or nil.
func (inc *incremental) partition(name string) *partitionState {
	if inc.fresh() {
		return nil
	}
	return inc.old.Partitions[name]
}

// history lists the clean files of earlier runs that hold rows of kind k (none when the kind
// is rebuilt: this run's rows are all of them).
func (inc *incremental) history(k record.Kind) []string {
	if inc.fresh() || inc.rebuilt[slices.Index(record.Kinds, k)] {
		return nil
	}
	return inc.old.Clean[k]
}

// newKept is the kept set of kind i after this run: the earlier runs' (unless rebuilt) and
// this run's.
func (inc *incremental) newKept(i int, ld *loaded) *kept {
	k := newKept()
	if !inc.rebuilt[i] {
		k = inc.kept[i].clone()
	}
	for part, b := range ld.kept[i].parts {
		k.add(part, b)
	}
	return k
}

// stateWrites is what an incremental run wrote for its new state.
type stateWrites struct {
	clean, prints, kept map[record.Kind]string // per kind, the file written
	replaced            map[record.Kind]bool   // kinds whose clean and prints files replace the earlier ones
	merged, unmatched   map[string]string
	quarantine          string
}

// newState is the state after this run: the old one plus the objects read (records[i] is the
// number of records of file i) and the files written.
func (inc *incremental) newState(userID string, files []sinkFile, records []int64, w stateWrites, rep *BatchReport) *runState {
	st := &runState{Version: stateVersion, UserID: userID, Partitions: map[string]*partitionState{},
		Clean: map[record.Kind][]string{}, Kept: w.kept, Prints: map[record.Kind][]string{},
		Merged: w.merged, Unmatched: w.unmatched}
	if !inc.fresh() {
		for name, p := range inc.old.Partitions {
			st.Partitions[name] = &partitionState{Watermark: p.Watermark, LastKey: p.LastKey, objects: p.objects.Clone()}
		}
		for _, k := range record.Kinds {
			if !w.replaced[k] {
				st.Clean[k] = slices.Clone(inc.old.Clean[k])
				st.Prints[k] = slices.Clone(inc.old.Prints[k])
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
		p.LastKey = max(p.LastKey, f.key)
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
		if f, ok := w.clean[k]; ok {
			st.Clean[k] = append(st.Clean[k], f)
		}
		if f, ok := w.prints[k]; ok {
			st.Prints[k] = append(st.Prints[k], f)
		}
	}
	if w.quarantine != "" {
		st.Quarantine = append(st.Quarantine, w.quarantine)
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

// stateFileOf is where a run writes one of its state files, _state/<run>/<name>.
func stateFileOf(run, name string) string { return "_state/" + run + "/" + name }

// runCleanFile is where an incremental run writes the rows it adds of kind k.
func runCleanFile(run string, k record.Kind) string {
	return "clean/" + string(k) + "/" + run + ".parquet"
}

// runQuarantineFile is where an incremental run writes the lines it could not use.
func runQuarantineFile(run string) string { return "quarantine/" + run + ".jsonl" }

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

// resolveRepeats decides, for each ind an earlier run kept that came again (the first row this
// run read of it, ld.repeats), whether the row a full run keeps is still the kept one, without
// reading the earlier runs' rows. A full run keeps the first row by object key and line:
//   - a repeat from a partition whose keys sort after the kept row's, or from an object whose key
//     sorts after every object read before from the same partition, comes after: nothing changes;
//   - otherwise (a partition that sorts first, or a late object of the same partition) it may
//     come first. Its fingerprint is compared with the kept row's: the same record (a re-send)
//     changes no row (a partition that sorts first becomes the ind's, so that later repeats are
//     placed against it); a different record changes the row a full run keeps, so that kind is
//     rebuilt from every object: its rows are then exactly a full run's.
func (inc *incremental) resolveRepeats(ctx context.Context, db *sql.DB, connector *duckdb.Connector, out outStore,
	src source, files []sinkFile, seen *seenSets, ld *loaded, progressOut io.Writer, rep *BatchReport) error {
	for i, k := range record.Kinds {
		var check []repeat
		for _, r := range ld.repeats[i] {
			part := partitionPrefix(files[r.file].key)
			keptPart, ok := inc.kept[i].partitionOf(r.ind)
			if !ok {
				return fmt.Errorf("the %s state has no partition for ind %d (run with --full to rebuild)", k, int64(r.ind))
			}
			after := part > keptPart
			if part == keptPart {
				p := inc.partition(strings.TrimSuffix(strings.TrimPrefix(part, "topics/"), "/"))
				after = p != nil && files[r.file].key > p.LastKey
			}
			if !after {
				check = append(check, r)
			}
		}
		rep.Kinds[i].Compared = int64(len(check))
		if len(check) == 0 {
			continue
		}
		prints, err := inc.lookupPrints(ctx, out, k, check)
		if err != nil {
			return err
		}
		for _, r := range check {
			was, ok := prints[r.ind]
			if !ok {
				return fmt.Errorf("the %s state has no fingerprint for ind %d (run with --full to rebuild)", k, int64(r.ind))
			}
			part := partitionPrefix(files[r.file].key)
			keptPart, _ := inc.kept[i].partitionOf(r.ind)
			if was == r.print {
				if part < keptPart {
					inc.kept[i].move(r.ind, keptPart, part)
				}
				continue
			}
			if err := inc.rebuild(ctx, db, connector, src, files, seen, ld, i, progressOut, rep); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// lookupPrints returns the kept rows' fingerprints of the inds of repeats, from kind k's prints
// files (fetched first from S3: they are the one part of the state that grows with the history,
// by 8 bytes per row).
func (inc *incremental) lookupPrints(ctx context.Context, out outStore, k record.Kind, repeats []repeat) (map[uint64]uint64, error) {
	rels := inc.old.Prints[k]
	if err := out.fetch(ctx, rels); err != nil {
		return nil, err
	}
	inds := make([]uint64, len(repeats))
	for j, r := range repeats {
		inds[j] = r.ind
	}
	slices.Sort(inds)
	found := make(map[uint64]uint64, len(inds))
	for _, rel := range rels {
		p, err := openPrints(filepath.Join(out.dir(), filepath.FromSlash(rel)))
		if err != nil {
			return nil, fmt.Errorf("the state names %s: %w (run with --full to rebuild)", rel, err)
		}
		for _, ind := range inds {
			fp, ok, err := p.lookup(ind)
			if err != nil {
				p.Close()
				return nil, err
			}
			if ok {
				found[ind] = fp
			}
		}
		p.Close()
	}
	return found, nil
}

// rebuild reloads kind i from every object: its rows, kept set and fingerprints are then a full
// run's, and the analyses are computed over every row (whole).
func (inc *incremental) rebuild(ctx context.Context, db *sql.DB, connector *duckdb.Connector, src source, files []sinkFile,
	seen *seenSets, ld *loaded, i int, progressOut io.Writer, rep *BatchReport) error {
	k := record.Kinds[i]
	inc.rebuilt[i], inc.whole = true, true
	if _, err := db.ExecContext(ctx, "DELETE FROM "+quoteIdent(stageTable(k))); err != nil {
		return fmt.Errorf("rebuilding %s: %w", k, err)
	}
	seen.sets[i] = roaring64.New()
	st := &rep.Kinds[i]
	*st = KindStats{Kind: k, Late: st.Late, Compared: st.Compared, Rebuilt: true}
	all := make([]bool, len(files))
	for j, f := range files {
		if f.kind == k {
			all[j] = true
			st.Objects++
		}
	}
	again, err := load(ctx, connector, src, files, all, seen, nil, true, progressOut, rep)
	if err != nil {
		return err
	}
	for j := range files {
		if all[j] {
			ld.bad[j], ld.records[j], inc.read[j] = again.bad[j], again.records[j], true
		}
	}
	ld.kept[i], ld.repeats[i] = again.kept[i], nil
	return nil
}

// write writes an incremental run's files, makes them durable, commits the state, then removes
// what the new state no longer names.
func (inc *incremental) write(ctx context.Context, db *sql.DB, out outStore, cfg BatchConfig, files []sinkFile,
	ld *loaded, an *analysed, rep *BatchReport) error {
	dir := out.dir()
	if err := writeResults(dir, rep); err != nil {
		return err
	}
	w := stateWrites{clean: map[record.Kind]string{}, prints: map[record.Kind]string{}, kept: map[record.Kind]string{},
		replaced: map[record.Kind]bool{}, merged: map[string]string{}, unmatched: map[string]string{}}
	mkdir := func(rel string) (string, error) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		return p, os.MkdirAll(filepath.Dir(p), 0o755)
	}
	for i, k := range record.Kinds {
		// The clean rows: this run's, or (compacted, rebuilt) all of them in one file.
		from := newView(k)
		compacted := rep.Kinds[i].Compacted
		switch {
		case compacted:
			from = allView(k)
			w.replaced[k] = true
		case inc.rebuilt[i] || inc.fresh():
			w.replaced[k] = true
		}
		if rep.Kinds[i].Rows > 0 || compacted {
			rel := runCleanFile(inc.run, k)
			if err := copyParquet(ctx, db, from, dir, rel); err != nil {
				return err
			}
			w.clean[k] = rel
			rep.Files = append(rep.Files, rel)
		}
		// The fingerprints: this run's kept rows', merged with the earlier ones' on compaction.
		rel := stateFileOf(inc.run, "prints-"+string(k)+".bin")
		p, err := mkdir(rel)
		if err != nil {
			return err
		}
		kr := ld.kept[i]
		switch {
		case compacted:
			tmp := p + ".run"
			if err := kr.writePrints(tmp); err != nil {
				return err
			}
			if err := out.fetch(ctx, inc.old.Prints[k]); err != nil {
				return err
			}
			var paths []string
			for _, f := range inc.old.Prints[k] {
				paths = append(paths, filepath.Join(dir, filepath.FromSlash(f)))
			}
			err := mergePrints(p, append(paths, tmp))
			os.Remove(tmp)
			if err != nil {
				return err
			}
		case len(kr.inds) > 0:
			if err := kr.writePrints(p); err != nil {
				return err
			}
		default:
			rel = ""
		}
		if rel != "" {
			w.prints[k] = rel
			rep.Files = append(rep.Files, rel)
		}
		// The kept inds by partition.
		b, err := inc.newKept(i, ld).MarshalBinary()
		if err != nil {
			return fmt.Errorf("writing the %s kept set: %w", k, err)
		}
		rel = stateFileOf(inc.run, "kept-"+string(k)+".bin")
		if p, err = mkdir(rel); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		w.kept[k] = rel
		rep.Files = append(rep.Files, rel)
	}
	for _, m := range []struct {
		tables map[string]stateTable
		into   map[string]string
	}{{an.merged, w.merged}, {an.unmatched, w.unmatched}} {
		for _, name := range slices.Sorted(maps.Keys(m.tables)) {
			t := m.tables[name]
			if err := copyParquet(ctx, db, t.table, dir, t.rel); err != nil {
				return err
			}
			m.into[name] = t.rel
			rep.Files = append(rep.Files, t.rel)
		}
	}
	if slices.ContainsFunc(ld.bad, func(q []quarantined) bool { return len(q) > 0 }) {
		w.quarantine = runQuarantineFile(inc.run)
		p, err := mkdir(w.quarantine)
		if err != nil {
			return err
		}
		if err := writeQuarantine(p, ld.bad); err != nil {
			return err
		}
		rep.Files = append(rep.Files, w.quarantine)
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
	st := inc.newState(cfg.UserID, files, ld.records, w, rep)
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
