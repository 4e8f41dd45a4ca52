package analytics

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
}

// KindStats counts what the job did with one kind of record.
type KindStats struct {
	Kind        record.Kind
	Objects     int   // sink objects read
	Records     int64 // non-blank lines read
	Rows        int64 // clean rows loaded (one per ind)
	Duplicates  int64 // clean rows left out because their ind was already loaded
	Quarantined int64 // lines that could not be cleaned
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
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	rep := &BatchReport{Input: cfg.Input, UserID: cfg.UserID, Out: cfg.Out, Started: started.UTC()}

	src, err := openSource(ctx, cfg.Input)
	if err != nil {
		return nil, err
	}
	src, files, err := findSinkFiles(ctx, src, cfg.UserID, rep)
	if err != nil {
		return nil, err
	}

	outDir := cfg.Out
	if isS3(cfg.Out) {
		if _, _, err := parseS3URL(cfg.Out); err != nil {
			return nil, fmt.Errorf("--out: %w", err)
		}
		tmp, err := os.MkdirTemp("", "pinpipe-analyse-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		outDir = tmp
	}
	if err := os.MkdirAll(filepath.Join(outDir, "clean"), 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}

	db, connector, err := openDuck(ctx)
	if err != nil {
		return nil, err
	}
	defer connector.Close()
	defer db.Close()

	if err := load(ctx, db, connector, src, files, filepath.Join(outDir, "quarantine.jsonl"), cfg.Progress, rep); err != nil {
		return nil, err
	}
	rep.Read = time.Since(started)

	t := time.Now()
	for _, o := range Outputs {
		res, err := runOutput(ctx, db, o)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, res)
	}
	rep.Analyse = time.Since(t)

	t = time.Now()
	if err := writeOutputs(ctx, db, outDir, rep); err != nil {
		return nil, err
	}
	rep.ReportPath = filepath.Join(outDir, "report.html")
	rep.Total = time.Since(started)
	rep.Write = time.Since(t)
	if err := writeReport(rep.ReportPath, rep); err != nil {
		return nil, err
	}
	rep.Files = append(rep.Files, "report.html")
	if isS3(cfg.Out) {
		if err := upload(ctx, outDir, cfg.Out, rep.Files); err != nil {
			return nil, err
		}
		bucket, prefix, _ := parseS3URL(cfg.Out)
		rep.ReportPath = "s3://" + bucket + "/" + prefix + "report.html"
		rep.Write = time.Since(t)
		rep.Total = time.Since(started)
	}
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
		if len(strings.TrimSpace(l)) == 0 {
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

// stageTable is the table a kind's clean rows are appended to before one row per ind is kept.
func stageTable(k record.Kind) string { return "_stage_" + string(k) }

// seqColumn orders the staged rows as the objects and lines they came from (object index << 24
// | line), so "the first row of each ind" does not depend on timing.
const seqColumn = "_seq"

// A DOUBLE[] column (a geo's coordinates, always [latitude, longitude] or null) is staged as two
// DOUBLE columns and put back together by the clean view: the Appender writes a list through
// reflection and several cgo calls per row, two numbers through none.
func isPair(c clean.Column) bool { return c.Type == "DOUBLE[]" }

func pairColumn(c clean.Column, i int) string { return quoteIdent(fmt.Sprintf("_%s_%d", c.Name, i)) }

// stageDDL creates the stage table of a kind: its clean columns (a pair split in two), then the
// order column.
func stageDDL(k record.Kind) string {
	var cols []string
	for _, c := range clean.Columns(k) {
		if isPair(c) {
			cols = append(cols, pairColumn(c, 0)+" DOUBLE", pairColumn(c, 1)+" DOUBLE")
			continue
		}
		cols = append(cols, quoteIdent(c.Name)+" "+c.Type)
	}
	cols = append(cols, seqColumn+" BIGINT")
	return fmt.Sprintf("CREATE TABLE %s (%s)", quoteIdent(stageTable(k)), strings.Join(cols, ", "))
}

// cleanView creates the clean table of a kind: a view of its stage table in the contract's
// columns, without the order column.
func cleanView(k record.Kind) string {
	var cols []string
	for _, c := range clean.Columns(k) {
		if isPair(c) {
			a, b := pairColumn(c, 0), pairColumn(c, 1)
			cols = append(cols, fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE [%s, %s] END AS %s", a, a, b, quoteIdent(c.Name)))
			continue
		}
		cols = append(cols, quoteIdent(c.Name))
	}
	return fmt.Sprintf("CREATE VIEW %s AS SELECT %s FROM %s", quoteIdent(tableName(k)), strings.Join(cols, ", "),
		quoteIdent(stageTable(k)))
}

// stageValues appends a clean row's values as stageDDL lays them out (without the order).
func stageValues(dst []driver.Value, vals []any, pairs []bool) ([]driver.Value, error) {
	for j, v := range vals {
		if !pairs[j] {
			dst = append(dst, v)
			continue
		}
		switch v := v.(type) {
		case nil:
			dst = append(dst, nil, nil)
		case []float64:
			if len(v) != 2 {
				return dst, fmt.Errorf("column %d has %d values, want 2", j, len(v))
			}
			dst = append(dst, v[0], v[1])
		default:
			return dst, fmt.Errorf("column %d is a %T, want []float64", j, v)
		}
	}
	return dst, nil
}

// fetched is one object's content, or why it could not be read.
type fetched struct {
	i    int
	data []byte
}

// load reads the objects concurrently (bounded by the source's concurrency), cleans them on as
// many workers as there are CPUs, each appending to DuckDB through its own appenders, then keeps
// the first row of each ind (in object key and line order) in the clean tables. Lines that cannot
// be cleaned go to quarantine.jsonl, in key and line order.
func load(ctx context.Context, db *sql.DB, connector *duckdb.Connector, src source, files []sinkFile,
	quarantinePath string, progressOut io.Writer, rep *BatchReport) error {
	for _, k := range record.Kinds {
		if _, err := db.ExecContext(ctx, stageDDL(k)); err != nil {
			return fmt.Errorf("creating table %s: %w", stageTable(k), err)
		}
	}
	kindIndex := map[record.Kind]int{}
	var pairs [3][]bool
	for i, k := range record.Kinds {
		kindIndex[k] = i
		for _, c := range clean.Columns(k) {
			pairs[i] = append(pairs[i], isPair(c))
		}
	}
	var records, quarantinedN [3]atomic.Int64
	var done, total atomic.Int64
	bad := make([][]quarantined, len(files))

	g, gctx := errgroup.WithContext(ctx)
	idx := make(chan int)
	fetch := make(chan fetched, 2*runtime.GOMAXPROCS(0))
	g.Go(func() error {
		defer close(idx)
		for i := range files {
			select {
			case idx <- i:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	var fetchers sync.WaitGroup
	for range src.concurrency() {
		fetchers.Add(1)
		g.Go(func() error {
			defer fetchers.Done()
			for i := range idx {
				data, err := src.read(gctx, files[i].key)
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
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			conn, err := connector.Connect(gctx)
			if err != nil {
				return fmt.Errorf("connecting to DuckDB: %w", err)
			}
			defer conn.Close()
			var appenders [3]*duckdb.Appender
			defer func() {
				for _, a := range appenders {
					if a != nil {
						a.Close()
					}
				}
			}()
			vals, buf := make([]any, 0, 16), make([]driver.Value, 0, 16)
			for f := range fetch {
				file := files[f.i]
				ki := kindIndex[file.kind]
				if appenders[ki] == nil {
					if appenders[ki], err = duckdb.NewAppenderFromConn(conn, "", stageTable(file.kind)); err != nil {
						return fmt.Errorf("appender for %s: %w", file.kind, err)
					}
				}
				a := appenders[ki]
				n, q, err := cleanLines(file, f.data, func(row clean.Row, line int) error {
					// Both buffers live as long as the worker: a row costs no slice.
					vals = row.AppendValues(vals[:0])
					staged, err := stageValues(buf[:0], vals, pairs[ki])
					buf = staged
					if err != nil {
						return fmt.Errorf("loading %s ind %d from %s: %w", file.kind, row.Ind(), file.key, err)
					}
					buf = append(buf, int64(f.i)<<24|int64(line))
					if err := a.AppendRow(buf...); err != nil {
						return fmt.Errorf("loading %s ind %d from %s: %w", file.kind, row.Ind(), file.key, err)
					}
					return nil
				})
				if err != nil {
					return err
				}
				records[ki].Add(n)
				quarantinedN[ki].Add(int64(len(q)))
				total.Add(n)
				bad[f.i] = q
				done.Add(1)
			}
			for i, a := range appenders {
				if a != nil {
					appenders[i] = nil
					if err := a.Close(); err != nil {
						return fmt.Errorf("loading %s: %w", record.Kinds[i], err)
					}
				}
			}
			return nil
		})
	}

	start := time.Now()
	line := progress.Start(progressOut, 0, func() string {
		n, el := done.Load(), time.Since(start)
		return fmt.Sprintf("reading %d/%d objects  %d records  %.0f records/s  ETA %s", n, len(files),
			total.Load(), progress.Rate(total.Load(), el), progress.FormatETA(progress.ETA(n, int64(len(files)), el)))
	})
	err := g.Wait()
	line.Stop()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	if err := writeQuarantine(quarantinePath, bad); err != nil {
		return err
	}
	for i := range rep.Kinds {
		st := &rep.Kinds[i]
		k, ki := st.Kind, kindIndex[st.Kind]
		st.Records, st.Quarantined = records[ki].Load(), quarantinedN[ki].Load()
		// Repeats are few (re-sends), so deleting them in place is cheaper than copying every
		// row into a new table; the clean table is a view without the order column.
		stage := quoteIdent(stageTable(k))
		del := fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s NOT IN (SELECT min(%[2]s) FROM %[1]s GROUP BY ind)", stage, seqColumn)
		res, err := db.ExecContext(ctx, del)
		if err != nil {
			return fmt.Errorf("keeping one %s row per ind: %w", k, err)
		}
		if st.Duplicates, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("keeping one %s row per ind: %w", k, err)
		}
		if _, err := db.ExecContext(ctx, cleanView(k)); err != nil {
			return fmt.Errorf("creating the clean %s table: %w", k, err)
		}
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+stage).Scan(&st.Rows); err != nil {
			return fmt.Errorf("counting %s rows: %w", k, err)
		}
	}
	return nil
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

// writeOutputs writes <output>.csv and .json for each result and the clean tables as Parquet.
func writeOutputs(ctx context.Context, db *sql.DB, dir string, rep *BatchReport) error {
	for _, r := range rep.Results {
		if err := writeCSV(filepath.Join(dir, r.Output.Name+".csv"), r); err != nil {
			return err
		}
		if err := writeJSON(filepath.Join(dir, r.Output.Name+".json"), r); err != nil {
			return err
		}
		rep.Files = append(rep.Files, r.Output.Name+".csv", r.Output.Name+".json")
	}
	for _, k := range record.Kinds {
		rel := clean.ParquetPath(k)
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(filepath.FromSlash(rel))), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", rel, err)
		}
		q := fmt.Sprintf("COPY %s TO %s (FORMAT parquet, COMPRESSION zstd)", quoteIdent(tableName(k)),
			quoteString(filepath.Join(dir, filepath.FromSlash(rel))))
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("writing %s: %w", rel, err)
		}
		rep.Files = append(rep.Files, rel)
	}
	rep.Files = append(rep.Files, "quarantine.jsonl")
	return nil
}
