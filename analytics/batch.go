package analytics

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"

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

// fileResult is what reading and cleaning one object gave.
type fileResult struct {
	rows    []clean.Row
	records int64
	bad     []quarantined
	err     error
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
		total := 0
		for i, k := range record.Kinds {
			ks, err := c.list(ctx, "topics/"+record.Topic(userID, k)+"/")
			if err != nil {
				return nil, nil, err
			}
			keys[i] = ks
			total += len(ks)
		}
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

// readSinkFile reads one object and cleans each non-blank line.
func readSinkFile(ctx context.Context, src source, f sinkFile) fileResult {
	data, err := src.read(ctx, f.key)
	if err != nil {
		return fileResult{err: err}
	}
	var res fileResult
	line := 0
	for len(data) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		res.records++
		row, err := clean.Clean(f.kind, l)
		if err != nil {
			res.bad = append(res.bad, quarantined{Key: f.key, Line: line, Kind: string(f.kind),
				Reason: err.Error(), Record: string(bytes.TrimRight(l, "\r"))})
			continue
		}
		res.rows = append(res.rows, row)
	}
	return res
}

// load reads the files concurrently (bounded by the source's concurrency), and loads the clean
// rows into the tables in key order, keeping the first row of each ind, so the result does not
// depend on timing. Lines that cannot be cleaned go to quarantine.jsonl.
func load(ctx context.Context, db *sql.DB, connector *duckdb.Connector, src source, files []sinkFile,
	quarantinePath string, progressOut io.Writer, rep *BatchReport) error {
	appenders := map[record.Kind]*duckdb.Appender{}
	for _, k := range record.Kinds {
		if _, err := db.ExecContext(ctx, clean.TableDDL(k, tableName(k))); err != nil {
			return fmt.Errorf("creating table %s: %w", k, err)
		}
		conn, err := connector.Connect(ctx)
		if err != nil {
			return fmt.Errorf("connecting to DuckDB: %w", err)
		}
		defer conn.Close()
		a, err := duckdb.NewAppenderFromConn(conn, "", tableName(k))
		if err != nil {
			return fmt.Errorf("appender for %s: %w", k, err)
		}
		appenders[k] = a
	}
	closed := false
	defer func() {
		if !closed { // an error path: release the appenders before their connections
			for _, a := range appenders {
				a.Close()
			}
		}
	}()
	qf, err := os.Create(quarantinePath)
	if err != nil {
		return err
	}
	defer qf.Close()
	qw := bufio.NewWriter(qf)
	qenc := json.NewEncoder(qw)
	qenc.SetEscapeHTML(false)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := src.concurrency()
	window := make(chan struct{}, 4*workers) // how far reading may run ahead of loading
	slots := make([]chan fileResult, len(files))
	for i := range slots {
		slots[i] = make(chan fileResult, 1)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	var done, records atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := readSinkFile(ctx, src, files[i])
				done.Add(1)
				records.Add(r.records)
				slots[i] <- r
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range files {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	start := time.Now()
	line := progress.Start(progressOut, 0, func() string {
		n, el := done.Load(), time.Since(start)
		return fmt.Sprintf("reading %d/%d objects  %d records  %.0f records/s  ETA %s", n, len(files),
			records.Load(), progress.Rate(records.Load(), el), progress.FormatETA(progress.ETA(n, int64(len(files)), el)))
	})
	defer line.Stop()

	stats := map[record.Kind]*KindStats{}
	for i := range rep.Kinds {
		stats[rep.Kinds[i].Kind] = &rep.Kinds[i]
	}
	seen := map[record.Kind]map[int64]struct{}{}
	for _, k := range record.Kinds {
		seen[k] = map[int64]struct{}{}
	}
	buf := make([]driver.Value, 16)
	for i, f := range files {
		var r fileResult
		select {
		case r = <-slots[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-window
		if r.err != nil {
			return r.err
		}
		st := stats[f.kind]
		st.Records += r.records
		st.Quarantined += int64(len(r.bad))
		for _, q := range r.bad {
			if err := qenc.Encode(q); err != nil {
				return fmt.Errorf("writing %s: %w", quarantinePath, err)
			}
		}
		a, s := appenders[f.kind], seen[f.kind]
		for _, row := range r.rows {
			if _, dup := s[row.Ind()]; dup {
				st.Duplicates++
				continue
			}
			s[row.Ind()] = struct{}{}
			vals := row.Values()
			buf = buf[:len(vals)]
			for j, v := range vals {
				buf[j] = v
			}
			if err := a.AppendRow(buf...); err != nil {
				return fmt.Errorf("loading %s ind %d from %s: %w", f.kind, row.Ind(), f.key, err)
			}
			st.Rows++
		}
		slots[i] = nil
	}
	line.Stop()
	closed = true
	for _, k := range record.Kinds {
		if err := appenders[k].Close(); err != nil {
			return fmt.Errorf("loading %s: %w", k, err)
		}
	}
	if err := qw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", quarantinePath, err)
	}
	return qf.Close()
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
		rel := "clean/" + string(k) + ".parquet"
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
