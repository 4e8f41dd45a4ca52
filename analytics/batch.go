package analytics

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/duckdb/duckdb-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/progress"
	"github.com/pinpipe/pinpipe/record"
)

// BatchConfig configures one run of the batch job.
type BatchConfig struct {
	// Input is the directory or s3://bucket/prefix that holds the sink's topics/ folder (or the
	// topics/ folder itself).
	Input string
	// UserID picks the topics <user_id>.pin, .geo and .user. Default "demo".
	UserID string
	// Out is the directory or s3://bucket/prefix the results are written to. An s3:// output is
	// written to a temporary directory first, then uploaded.
	Out string
	// Progress gets a live status line while reading, only when it is a terminal. May be nil.
	Progress io.Writer
	// Incremental reads only the sink objects no earlier incremental run read, appends their new
	// rows as clean/<kind>/<run>.parquet and keeps its state under Out (see incremental.go).
	Incremental bool
	// Full rebuilds the incremental state from every object (it implies Incremental).
	Full bool
	// SkipAnalysis only cleans: the clean tables, quarantine and (incremental) state are
	// written, the eight outputs and the report are not (Athena runs the analyses).
	SkipAnalysis bool
	// MemoryLimit bounds DuckDB's memory (e.g. "2GB"; MemoryLimitForm): what does not fit is
	// spilled to a temporary folder. "" leaves DuckDB's default, 80% of the machine's memory.
	MemoryLimit string
}

// KindStats counts what the job did with one kind of record.
type KindStats struct {
	Kind        record.Kind
	Objects     int   // sink objects read
	Records     int64 // non-blank lines read
	Rows        int64 // clean rows loaded (one per ind)
	Duplicates  int64 // clean rows left out because their ind was already loaded
	Quarantined int64 // lines that could not be cleaned

	// The incremental mode's counts (zero in a full run without state):
	Skipped     int   // objects an earlier run read, not read again
	Late        int   // objects read that start below their partition's watermark
	HistoryRows int64 // rows kept by earlier runs (the clean table has HistoryRows + Rows)
	// Compared: repeats of inds kept by earlier runs that might sort before the kept row (by
	// object key and line), compared with it by fingerprint.
	Compared int64
	// Rebuilt: an ind kept by an earlier run came again with a different record that sorts
	// before the kept one (or might), so the kind was rebuilt from every object (the first row
	// by object key and line must win).
	Rebuilt bool
	// Compacted: the kind had maxCleanFiles run files or more; this run wrote all its rows as
	// one file (from the clean files, not the sink) and the others went.
	Compacted bool
}

// BatchReport is what a run did and produced.
type BatchReport struct {
	Input, UserID, Out string
	// ReportPath is where report.html is (a path, or an s3:// URL).
	ReportPath string
	Started    time.Time
	Kinds      []KindStats // in record.Kinds order
	// Ignored lists objects under the topics that are not in the sink layout and were not read.
	Ignored []string
	// Read is the time to list, read, clean and load; Analyse to run the eight outputs; Write to
	// write every file (and upload them, for an s3:// output); Total the whole run.
	Read, Analyse, Write, Total time.Duration
	Results                     []*Result
	// Files are the files written, relative to Out, in a stable order.
	Files []string
	// Run names an incremental run (its files carry the name); "" otherwise.
	Run string
	// Rebuilt says why an incremental run made its state anew from every object ("--full", an
	// older state layout); "" otherwise (also on the first run).
	Rebuilt string
	// Removed are files of earlier runs that this run removed: left by a run that did not
	// finish, or no longer part of the clean tables.
	Removed []string
}

// Quarantined is the number of lines that could not be cleaned, over all kinds.
func (r *BatchReport) Quarantined() int64 {
	var n int64
	for _, k := range r.Kinds {
		n += k.Quarantined
	}
	return n
}

// Result returns the result of the named output, or nil.
func (r *BatchReport) Result(name string) *Result {
	for _, res := range r.Results {
		if res.Output.Name == name {
			return res
		}
	}
	return nil
}

// tableName is the DuckDB table of a kind in the batch job (pin, geo, user).
func tableName(k record.Kind) string { return string(k) }

// sinkFile is one object of the sink to read.
type sinkFile struct {
	kind record.Kind
	key  string
}

// quarantined is one line of quarantine.jsonl.
type quarantined struct {
	Key    string `json:"key"`
	Line   int    `json:"line"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	Record string `json:"record"`
}

// RunBatch runs the batch job: read, clean, keep one row per ind, load into DuckDB, run the eight
// outputs, write the results under cfg.Out.
func RunBatch(ctx context.Context, cfg BatchConfig) (*BatchReport, error) {
	started := time.Now()
	if cfg.UserID == "" {
		cfg.UserID = "demo"
	}
	if err := record.ValidUserID(cfg.UserID); err != nil {
		return nil, fmt.Errorf("--user-id: %w", err)
	}
	if cfg.Input == "" {
		return nil, errors.New("--input is required (a directory or s3://BUCKET/PREFIX holding topics/)")
	}
	if cfg.Out == "" {
		return nil, errors.New("--out is required (a directory or s3://BUCKET/PREFIX)")
	}
	if cfg.MemoryLimit != "" && !MemoryLimitForm.MatchString(cfg.MemoryLimit) {
		return nil, fmt.Errorf("--memory-limit %q: want a number and a unit, e.g. 2GB or 1500MiB", cfg.MemoryLimit)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	cfg.Incremental = cfg.Incremental || cfg.Full
	rep := &BatchReport{Input: cfg.Input, UserID: cfg.UserID, Out: cfg.Out, Started: started.UTC()}

	src, err := openSource(ctx, cfg.Input)
	if err != nil {
		return nil, err
	}
	src, files, err := findSinkFiles(ctx, src, cfg.UserID, rep)
	if err != nil {
		return nil, err
	}
	out, err := openOut(ctx, cfg.Out, cfg.Incremental)
	if err != nil {
		return nil, err
	}
	defer out.close()
	outDir := out.dir()

	var inc *incremental
	if cfg.Incremental {
		if inc, err = planIncremental(ctx, out, cfg.UserID, files, cfg.Full, rep); err != nil {
			return nil, err
		}
		rep.Run, rep.Rebuilt = inc.run, inc.why
		// What a run that did not finish left is not part of the tables: remove it first.
		orph, err := orphans(ctx, out, inc.old)
		if err != nil {
			return nil, err
		}
		if err := out.remove(ctx, orph); err != nil {
			return nil, err
		}
		rep.Removed = append(rep.Removed, orph...)
	}
	if err := os.MkdirAll(filepath.Join(outDir, "clean"), 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}

	db, connector, closeDuck, err := openDuckLimited(ctx, cfg.MemoryLimit)
	if err != nil {
		return nil, err
	}
	defer closeDuck()
	for _, k := range record.Kinds {
		if _, err := db.ExecContext(ctx, stageDDL(stageTable(k), k)); err != nil {
			return nil, fmt.Errorf("creating table %s: %w", stageTable(k), err)
		}
	}

	seen := newSeenSets()
	var read []bool
	var prior *seenSets
	if inc != nil {
		read, prior, inc.seen = inc.read, inc.prior, seen
	}
	ld, err := load(ctx, connector, src, files, read, seen, prior, inc != nil, cfg.Progress, rep)
	if err != nil {
		return nil, err
	}
	if inc != nil {
		if err := inc.resolveRepeats(ctx, db, connector, out, src, files, seen, ld, cfg.Progress, rep); err != nil {
			return nil, err
		}
	}
	var plan *analysisPlan
	if inc != nil {
		if plan, err = inc.planAnalyses(); err != nil {
			return nil, err
		}
		if err := inc.fetchState(ctx, out, plan); err != nil {
			return nil, err
		}
	}
	for i, k := range record.Kinds {
		if _, err := db.ExecContext(ctx, cleanView(newView(k), stageTable(k), k)); err != nil {
			return nil, fmt.Errorf("creating the clean %s table: %w", k, err)
		}
		if inc == nil {
			if _, err := db.ExecContext(ctx, "CREATE VIEW "+quoteIdent(tableName(k))+" AS SELECT * FROM "+quoteIdent(newView(k))); err != nil {
				return nil, fmt.Errorf("creating the clean %s table: %w", k, err)
			}
			continue
		}
		// The incremental run reads the earlier runs' rows only to compact a table's files
		// or to make the analyses' summaries from every row (see partials.go).
		hist := inc.history(k)
		if !inc.rebuilt[i] {
			rep.Kinds[i].HistoryRows = int64(inc.prior.sets[i].GetCardinality())
		}
		rep.Kinds[i].Compacted = len(hist) >= maxCleanFiles
		if !rep.Kinds[i].Compacted && !plan.needAll[i] {
			continue
		}
		if err := out.fetch(ctx, hist); err != nil {
			return nil, err
		}
		all := "SELECT * FROM " + quoteIdent(newView(k))
		if len(hist) > 0 {
			all += " UNION ALL SELECT " + columnList(k) + " FROM " + parquetFiles(outDir, hist)
		}
		if _, err := db.ExecContext(ctx, "CREATE VIEW "+quoteIdent(allView(k))+" AS "+all); err != nil {
			return nil, fmt.Errorf("creating the clean %s table: %w", k, err)
		}
	}
	rep.Read = time.Since(started)

	t := time.Now()
	var an *analysed
	// A run without --incremental writes its clean tables while the queries run: both read the
	// same tables, and each leaves moments when a core would idle.
	tables := make(chan error, 1)
	if inc == nil {
		go func() { tables <- writeCleanTables(ctx, db, outDir) }()
		if !cfg.SkipAnalysis {
			for _, o := range Outputs {
				res, err := runOutput(ctx, db, o)
				if err != nil {
					<-tables
					return nil, err
				}
				rep.Results = append(rep.Results, res)
			}
		}
	} else if an, err = inc.analyse(ctx, db, outDir, plan, !cfg.SkipAnalysis, rep); err != nil {
		return nil, err
	}
	rep.Analyse = time.Since(t)

	t = time.Now()
	if inc == nil {
		if err := <-tables; err != nil {
			return nil, err
		}
		if err := writeQuarantine(filepath.Join(outDir, "quarantine.jsonl"), ld.bad); err != nil {
			return nil, err
		}
		if err := writeResults(outDir, rep); err != nil {
			return nil, err
		}
		for _, k := range record.Kinds {
			rep.Files = append(rep.Files, clean.ParquetPath(k))
		}
		rep.Files = append(rep.Files, "quarantine.jsonl")
		if !cfg.SkipAnalysis {
			if err := writeReport(filepath.Join(outDir, "report.html"), rep); err != nil {
				return nil, err
			}
			rep.Files = append(rep.Files, "report.html")
		}
		if err := out.publish(ctx, rep.Files); err != nil {
			return nil, err
		}
		// A run without --incremental replaces the tables: an incremental state left under
		// --out would add its files to them, so it goes.
		if err := dropState(ctx, out, rep); err != nil {
			return nil, err
		}
	} else if err := inc.write(ctx, db, out, cfg, files, ld, an, rep); err != nil {
		return nil, err
	}
	rep.ReportPath = filepath.Join(outDir, "report.html")
	if isS3(cfg.Out) {
		bucket, prefix, _ := parseS3URL(cfg.Out)
		rep.ReportPath = "s3://" + bucket + "/" + prefix + "report.html"
	}
	if cfg.SkipAnalysis {
		rep.ReportPath = ""
	}
	rep.Write = time.Since(t)
	rep.Total = time.Since(started)
	return rep, nil
}

// findSinkFiles lists the sink objects of the user's three topics, in key order per kind.
// Input may be the folder holding topics/ or topics/ itself.
// It returns the source rooted at the folder holding topics/.
func findSinkFiles(ctx context.Context, src source, userID string, rep *BatchReport) (source, []sinkFile, error) {
	candidates := []source{src}
	if parent, ok := topicsParent(src); ok {
		candidates = append(candidates, parent)
	}
	var keys [3][]string
	found := false
	for _, c := range candidates {
		// The three topics are listed at once: with one object per record, listing is many
		// pages of 1,000 keys.
		g, gctx := errgroup.WithContext(ctx)
		for i, k := range record.Kinds {
			g.Go(func() (err error) {
				keys[i], err = c.list(gctx, "topics/"+record.Topic(userID, k)+"/")
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, nil, err
		}
		total := len(keys[0]) + len(keys[1]) + len(keys[2])
		if total > 0 {
			src, found = c, true
			break
		}
	}
	if !found {
		topics := otherTopics(ctx, candidates)
		hint := ""
		if len(topics) > 0 {
			hint = fmt.Sprintf(" (topics there: %s; is --user-id right?)", strings.Join(topics, ", "))
		}
		return nil, nil, fmt.Errorf("no sink objects for user %q under %s%s: want topics/%s/partition=N/*.json",
			userID, strings.TrimSuffix(src.String(), "/")+"/topics/", hint, record.Topic(userID, record.Pin))
	}
	var files []sinkFile
	for i, k := range record.Kinds {
		st := KindStats{Kind: k}
		sort.Strings(keys[i])
		for _, key := range keys[i] {
			if !inSinkLayout(key) {
				rep.Ignored = append(rep.Ignored, key)
				continue
			}
			files = append(files, sinkFile{kind: k, key: key})
			st.Objects++
		}
		if st.Objects == 0 {
			return nil, nil, fmt.Errorf("no sink objects under %s/topics/%s/ (the other topics have some): want partition=N/*.json",
				strings.TrimSuffix(src.String(), "/"), record.Topic(userID, k))
		}
		rep.Kinds = append(rep.Kinds, st)
	}
	return src, files, nil
}

// otherTopics lists the topic folders under topics/ of the candidates, for an error message.
func otherTopics(ctx context.Context, candidates []source) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range candidates {
		keys, err := c.list(ctx, "topics/")
		if err != nil {
			continue
		}
		for _, k := range keys {
			parts := strings.Split(k, "/")
			if len(parts) > 2 && !seen[parts[1]] {
				seen[parts[1]] = true
				out = append(out, parts[1])
			}
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], "...")
	}
	return out
}

// inSinkLayout reports whether key is topics/<topic>/partition=<p>/<name>.json.
func inSinkLayout(key string) bool {
	parts := strings.Split(key, "/")
	return len(parts) == 4 && parts[0] == "topics" && strings.HasPrefix(parts[2], "partition=") &&
		strings.HasSuffix(parts[3], ".json")
}

// cleanLines cleans each non-blank line of one object, calling keep for each clean row with its
// line number, and returns the number of records and the lines that could not be cleaned.
//
// The object is viewed as one string without a copy (data is never written after it is read), so
// the rows' text values are slices of it: cleaning copies nothing per record, which keeps the
// garbage collector, not the cleaning, from dominating the batch job.
func cleanLines(f sinkFile, data []byte, keep func(row clean.Row, line int) error) (int64, []quarantined, error) {
	text := unsafe.String(unsafe.SliceData(data), len(data))
	var records int64
	var bad []quarantined
	line := 0
	for len(text) > 0 {
		line++
		var l string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			l, text = text[:i], text[i+1:]
		} else {
			l, text = text, ""
		}
		// A record starts with '{' (a line that does not is rare: checked in full).
		if len(l) == 0 || l[0] != '{' && len(strings.TrimSpace(l)) == 0 {
			continue
		}
		records++
		row, err := clean.CleanText(f.kind, l)
		if err != nil {
			bad = append(bad, quarantined{Key: f.key, Line: line, Kind: string(f.kind),
				Reason: err.Error(), Record: strings.Clone(strings.TrimRight(l, "\r"))})
			continue
		}
		if err := keep(row, line); err != nil {
			return records, bad, err
		}
	}
	return records, bad, nil
}

// stageTable is the table a kind's new clean rows are appended to; newView shows it in the
// contract's columns, and the clean table (tableName) is that view, with the clean files of
// earlier runs in the incremental mode.
func stageTable(k record.Kind) string { return "_stage_" + string(k) }

func newView(k record.Kind) string { return "_new_" + string(k) }

// columnList is the contract's columns of a kind, quoted, comma-separated.
func columnList(k record.Kind) string {
	var cols []string
	for _, c := range clean.Columns(k) {
		cols = append(cols, quoteIdent(c.Name))
	}
	return strings.Join(cols, ", ")
}

// parquetFiles is a read_parquet over files (relative to dir).
func parquetFiles(dir string, files []string) string {
	var q []string
	for _, f := range files {
		q = append(q, quoteString(filepath.Join(dir, filepath.FromSlash(f))))
	}
	return "read_parquet([" + strings.Join(q, ", ") + "])"
}

// A DOUBLE[] column (a geo's coordinates, always [latitude, longitude] or null) is staged as two
// DOUBLE columns (stageWriter.Floats) and put back together by the clean view: two flat numbers
// are the cheapest thing to stage, and the view costs nothing until it is read.
func isPair(c clean.Column) bool { return c.Type == "DOUBLE[]" }

func pairColumn(c clean.Column, i int) string { return quoteIdent(fmt.Sprintf("_%s_%d", c.Name, i)) }

// stageColumns are the columns of a kind's stage table and their types: its clean columns, a
// pair split in two.
func stageColumns(k record.Kind) (names, types []string) {
	for _, c := range clean.Columns(k) {
		if isPair(c) {
			names = append(names, pairColumn(c, 0), pairColumn(c, 1))
			types = append(types, "DOUBLE", "DOUBLE")
			continue
		}
		names, types = append(names, quoteIdent(c.Name)), append(types, c.Type)
	}
	return names, types
}

// stageDDL creates a stage table of a kind (stageColumns).
func stageDDL(table string, k record.Kind) string {
	names, types := stageColumns(k)
	cols := make([]string, len(names))
	for i := range names {
		cols[i] = names[i] + " " + types[i]
	}
	return fmt.Sprintf("CREATE TABLE %s (%s)", quoteIdent(table), strings.Join(cols, ", "))
}

// cleanView creates a view of a stage table in the contract's columns.
func cleanView(view, table string, k record.Kind) string {
	var cols []string
	for _, c := range clean.Columns(k) {
		if isPair(c) {
			a, b := pairColumn(c, 0), pairColumn(c, 1)
			cols = append(cols, fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE [%s, %s] END AS %s", a, a, b, quoteIdent(c.Name)))
			continue
		}
		cols = append(cols, quoteIdent(c.Name))
	}
	return fmt.Sprintf("CREATE VIEW %s AS SELECT %s FROM %s", quoteIdent(view), strings.Join(cols, ", "), quoteIdent(table))
}

// fetched is one object's content.
type fetched struct {
	i    int
	data []byte
}

// cleaned is one object's clean rows, in line order, and its lines that could not be cleaned.
// The rows' text points into data.
type cleaned struct {
	i       int
	data    []byte
	rows    []clean.Row
	records int64
	bad     []quarantined
}

// buffers recycles the memory of objects and their rows once they are loaded: a run reads
// thousands of objects of the same size, and fresh memory for each costs page faults and
// garbage collections.
var buffers = struct {
	data, rows sync.Pool
}{
	data: sync.Pool{New: func() any { return new([]byte) }},
	rows: sync.Pool{New: func() any { return new([]clean.Row) }},
}

// interleave returns the indexes of the files to read taking one object of each kind in turn
// (each kind's objects stay in key order), so that the three kinds are cleaned and loaded side by
// side.
func interleave(files []sinkFile, read []bool) []int {
	var byKind [3][]int
	n := 0
	for i, f := range files {
		if read == nil || read[i] {
			ki := slices.Index(record.Kinds, f.kind)
			byKind[ki] = append(byKind[ki], i)
			n++
		}
	}
	order := make([]int, 0, n)
	for j := 0; len(order) < n; j++ {
		for _, idx := range byKind {
			if j < len(idx) {
				order = append(order, idx[j])
			}
		}
	}
	return order
}

// loaded is what load did, per file (by index in files): the lines that could not be cleaned
// and the number of records (non-blank lines) of each file read; and, in the incremental mode,
// per kind (record.Kinds order), the rows it kept and the repeats of inds earlier runs kept.
type loaded struct {
	bad     [][]quarantined
	records []int64
	kept    [3]keptRows
	repeats [3][]repeat
}

// keptRows are the rows a run kept of one kind: their inds and fingerprints, in load order, and
// the inds by the partition of the object they came from.
type keptRows struct {
	inds, prints []uint64
	parts        map[string]*roaring64.Bitmap
}

// writePrints writes the rows' fingerprints as a prints file, in ind order (sorting them in
// place: on a first run they are millions).
func (k *keptRows) writePrints(path string) error {
	sort.Sort(byInd{k})
	return writePrints(path, k.inds, k.prints)
}

// byInd sorts kept rows by ind, their fingerprints with them.
type byInd struct{ *keptRows }

func (b byInd) Len() int           { return len(b.inds) }
func (b byInd) Less(i, j int) bool { return b.inds[i] < b.inds[j] }
func (b byInd) Swap(i, j int) {
	b.inds[i], b.inds[j] = b.inds[j], b.inds[i]
	b.prints[i], b.prints[j] = b.prints[j], b.prints[i]
}

// repeat is the first row a run read of an ind an earlier run kept: its fingerprint and file.
type repeat struct {
	ind, print uint64
	file       int
}

// load reads the objects (those with read[i] set; all when read is nil) concurrently (bounded by
// the source's concurrency) and cleans them on as many workers as there are CPUs. One loader per
// kind then takes the clean objects in key order and appends each row whose ind it has not seen
// yet (seen, a compact set per kind) to the kind's stage table, so the first row of each ind, by
// object key and line, is the one kept, and repeats never reach DuckDB. A row whose ind an
// earlier run kept (prior; nil when there is none) is a repeat too. With prints (the incremental
// mode), load records the fingerprint and partition of each row kept, and the first row of each
// ind an earlier run kept, with its fingerprint, to be placed against the kept one
// (incremental.resolveRepeats). The counts are added to rep.Kinds.
//
// At most window objects are between reading and loading at once, which bounds memory whatever
// the order the reads finish in.
func load(ctx context.Context, connector *duckdb.Connector, src source, files []sinkFile, read []bool,
	seen, prior *seenSets, prints bool, progressOut io.Writer, rep *BatchReport) (*loaded, error) {
	var byKind [3][]int // file indexes of each kind to read, in key order
	order := interleave(files, read)
	kindOf := make([]int, len(files))
	for i, f := range files {
		kindOf[i] = slices.Index(record.Kinds, f.kind)
	}
	for _, i := range order {
		byKind[kindOf[i]] = append(byKind[kindOf[i]], i)
	}
	for ki := range byKind {
		slices.Sort(byKind[ki])
	}
	var records, quarantinedN, rows, dups [3]atomic.Int64
	var done, total atomic.Int64
	ld := &loaded{bad: make([][]quarantined, len(files)), records: make([]int64, len(files))}

	workers := runtime.GOMAXPROCS(0)
	window := make(chan struct{}, 4*workers+src.concurrency())
	g, gctx := errgroup.WithContext(ctx)
	idx := make(chan int)
	fetch := make(chan fetched, workers)
	var toLoad [3]chan cleaned
	for i := range toLoad {
		toLoad[i] = make(chan cleaned, workers)
	}
	g.Go(func() error {
		defer close(idx)
		for _, i := range order {
			select {
			case window <- struct{}{}:
			case <-gctx.Done():
				return nil
			}
			select {
			case idx <- i:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	var fetchers, cleaners sync.WaitGroup
	for range src.concurrency() {
		fetchers.Add(1)
		g.Go(func() error {
			defer fetchers.Done()
			for i := range idx {
				buf := buffers.data.Get().(*[]byte)
				data, err := src.read(gctx, files[i].key, *buf)
				if err != nil {
					return err
				}
				select {
				case fetch <- fetched{i, data}:
				case <-gctx.Done():
					return nil
				}
			}
			return nil
		})
	}
	go func() { fetchers.Wait(); close(fetch) }()
	for range workers {
		cleaners.Add(1)
		g.Go(func() error {
			defer cleaners.Done()
			for f := range fetch {
				c := cleaned{i: f.i, data: f.data, rows: (*buffers.rows.Get().(*[]clean.Row))[:0]}
				var err error
				c.records, c.bad, err = cleanLines(files[f.i], f.data, func(row clean.Row, _ int) error {
					c.rows = append(c.rows, row)
					return nil
				})
				if err != nil {
					return err
				}
				select {
				case toLoad[kindOf[f.i]] <- c:
				case <-gctx.Done():
					return nil
				}
			}
			return nil
		})
	}
	go func() {
		cleaners.Wait()
		for _, c := range toLoad {
			close(c)
		}
	}()
	for ki, k := range record.Kinds {
		g.Go(func() error {
			conn, err := connector.Connect(gctx)
			if err != nil {
				return fmt.Errorf("connecting to DuckDB: %w", err)
			}
			defer conn.Close()
			_, types := stageColumns(k)
			stage, err := newStageWriter(gctx, conn, stageTable(k), types)
			if err != nil {
				return err
			}
			defer func() {
				if stage != nil {
					stage.abort()
				}
			}()
			set := seen.of(k)
			var before interface{ Contains(uint64) bool }
			if prior != nil {
				before = prior.of(k)
			}
			var firsts *roaring64.Bitmap // the inds of before read so far
			rec := &ld.kept[ki]
			if prints {
				firsts, rec.parts = roaring64.New(), map[string]*roaring64.Bitmap{}
			}
			var scratch []byte
			vals := make([]any, 0, 16)
			pending := map[int]cleaned{}
			next := 0 // position in byKind[ki] of the next object to load
			for c := range toLoad[ki] {
				pending[c.i] = c
				for next < len(byKind[ki]) {
					c, ok := pending[byKind[ki][next]]
					if !ok {
						break
					}
					delete(pending, c.i)
					next++
					var part *roaring64.Bitmap // the inds kept from c's partition
					if prints {
						name := partitionPrefix(files[c.i].key)
						if part = rec.parts[name]; part == nil {
							part = roaring64.New()
							rec.parts[name] = part
						}
					}
					var kept, repeats int64
					for _, row := range c.rows {
						ind := uint64(row.Ind())
						switch {
						case before != nil && before.Contains(ind):
							repeats++ // kept by an earlier run
							if !prints || !firsts.CheckedAdd(ind) {
								continue
							}
							var fp uint64
							vals = row.AppendValues(vals[:0])
							if fp, scratch, err = fingerprint(vals, scratch); err != nil {
								return fmt.Errorf("loading %s ind %d from %s: %w", k, row.Ind(), files[c.i].key, err)
							}
							ld.repeats[ki] = append(ld.repeats[ki], repeat{ind: ind, print: fp, file: c.i})
							continue
						case !set.CheckedAdd(ind):
							repeats++
							continue
						}
						kept++
						if prints {
							var fp uint64
							vals = row.AppendValues(vals[:0])
							if fp, scratch, err = fingerprint(vals, scratch); err != nil {
								return fmt.Errorf("loading %s ind %d from %s: %w", k, row.Ind(), files[c.i].key, err)
							}
							rec.inds, rec.prints = append(rec.inds, ind), append(rec.prints, fp)
							part.Add(ind)
						}
						if err := stage.appendRow(gctx, row); err != nil {
							return fmt.Errorf("loading %s ind %d from %s: %w", k, row.Ind(), files[c.i].key, err)
						}
					}
					rows[ki].Add(kept)
					dups[ki].Add(repeats)
					records[ki].Add(c.records)
					quarantinedN[ki].Add(int64(len(c.bad)))
					total.Add(c.records)
					ld.bad[c.i], ld.records[c.i] = c.bad, c.records
					done.Add(1)
					clear(c.rows) // the rows point into data
					buffers.rows.Put(&c.rows)
					buffers.data.Put(&c.data)
					<-window
				}
			}
			if next < len(byKind[ki]) && gctx.Err() == nil {
				return fmt.Errorf("loading %s: %d objects were not loaded", k, len(byKind[ki])-next)
			}
			st := stage
			stage = nil
			if err := st.close(gctx); err != nil {
				return fmt.Errorf("loading %s: %w", k, err)
			}
			return nil
		})
	}

	start := time.Now()
	line := progress.Start(progressOut, 0, func() string {
		n, el := done.Load(), time.Since(start)
		return fmt.Sprintf("reading %d/%d objects  %d records  %.0f records/s  ETA %s", n, len(order),
			total.Load(), progress.Rate(total.Load(), el), progress.FormatETA(progress.ETA(n, int64(len(order)), el)))
	})
	err := g.Wait()
	line.Stop()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range rep.Kinds {
		st := &rep.Kinds[i]
		ki := slices.Index(record.Kinds, st.Kind)
		st.Records += records[ki].Load()
		st.Quarantined += quarantinedN[ki].Load()
		st.Rows += rows[ki].Load()
		st.Duplicates += dups[ki].Load()
	}
	return ld, nil
}

// writeQuarantine writes the lines that could not be cleaned, one JSON object per line.
func writeQuarantine(path string, bad [][]quarantined) error {
	return writeFile(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		for _, q := range bad {
			for _, e := range q {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
		}
		return bw.Flush()
	})
}

// writeCleanTables writes the clean tables as Parquet, clean.ParquetPath of each kind (a run
// without --incremental).
func writeCleanTables(ctx context.Context, db *sql.DB, dir string) error {
	for _, k := range record.Kinds {
		if err := copyParquet(ctx, db, tableName(k), dir, clean.ParquetPath(k)); err != nil {
			return err
		}
	}
	return nil
}

// writeResults writes <output>.csv and .json for each result.
func writeResults(dir string, rep *BatchReport) error {
	for _, r := range rep.Results {
		if err := writeCSV(filepath.Join(dir, r.Output.Name+".csv"), r); err != nil {
			return err
		}
		if err := writeJSON(filepath.Join(dir, r.Output.Name+".json"), r); err != nil {
			return err
		}
		rep.Files = append(rep.Files, r.Output.Name+".csv", r.Output.Name+".json")
	}
	return nil
}
