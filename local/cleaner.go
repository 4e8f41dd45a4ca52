package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/record"
)

// CleanerConfig configures the stream cleaner.
type CleanerConfig struct {
	UserID  string
	Streams Streams
	// DBPath is the DuckDB database file holding the clean tables and the checkpoints.
	DBPath string
	// Wake, when set, returns a channel closed when new records may be there (the embedded
	// store's Changed); without it the cleaner polls every Poll.
	Wake func() <-chan struct{}
	// Poll is how often to look for records without a wake-up (default 200ms).
	Poll time.Duration
	// BatchSize is the most records read from a shard at a time (default 500).
	BatchSize int
	// MaxBackoff is the longest wait between retries of a failed pass (default 5s).
	MaxBackoff time.Duration
	Logf       func(format string, args ...any)
}

// Cleaner reads the three streams of a user, cleans each record with the analytics stream core
// (clean.CleanStream) and appends the clean rows to the DuckDB tables <user_id>_pin_table,
// <user_id>_geo_table and <user_id>_user_table. A record that cannot be cleaned goes to the
// table stream_quarantine with the reason. As in the batch job, a table keeps one row per ind,
// the first one written (the emulator samples with replacement: a repeat is a re-send); repeats
// are counted in the table stream_repeats. The rows of a batch, its quarantined records, its
// repeat count and the shard's checkpoint (the last sequence number done) are written in one
// transaction, so after a crash the cleaner resumes exactly after the last batch it wrote: every
// record is handled once, and every ind is in its table once.
type Cleaner struct {
	cfg CleanerConfig
	db  *sql.DB

	mu       sync.Mutex
	done     map[string]map[string]string // stream -> shard -> last sequence number committed
	rows     int64
	repeats  int64
	bad      int64
	changed  chan struct{}
	stopped  chan struct{}
	runErr   error
	shardsAt map[string][]string

	health *health // failed passes
}

// cleanerDSN keeps DuckDB from downloading or auto-loading extensions.
const cleanerDSN = "?autoinstall_known_extensions=false&autoload_known_extensions=false&allow_community_extensions=false"

// OpenCleaner opens (or creates) the database, its tables and checkpoints.
func OpenCleaner(ctx context.Context, cfg CleanerConfig) (*Cleaner, error) {
	if err := record.ValidUserID(cfg.UserID); err != nil {
		return nil, fmt.Errorf("stream cleaner: %w", err)
	}
	if cfg.Streams == nil || cfg.DBPath == "" {
		return nil, errors.New("stream cleaner: no streams or no database path")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	db, err := sql.Open("duckdb", cfg.DBPath+cleanerDSN)
	if err != nil {
		return nil, fmt.Errorf("stream cleaner: open %s: %w", cfg.DBPath, err)
	}
	c := &Cleaner{cfg: cfg, db: db, done: map[string]map[string]string{}, changed: make(chan struct{}),
		stopped: make(chan struct{}), shardsAt: map[string][]string{},
		health: &health{part: "stream cleaner", tries: "passes", logf: cfg.Logf}}
	if err := c.setup(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("stream cleaner: %s: %w", cfg.DBPath, err)
	}
	return c, nil
}

func (c *Cleaner) setup(ctx context.Context) error {
	existing := map[string]bool{}
	rows, err := c.db.QueryContext(ctx, `SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		existing[n] = true
	}
	rows.Close()
	stmts := []string{}
	for _, k := range record.Kinds {
		if t := record.StreamTable(c.cfg.UserID, k); !existing[t] {
			stmts = append(stmts, clean.TableDDL(k, t))
		}
	}
	stmts = append(stmts,
		`CREATE TABLE IF NOT EXISTS stream_checkpoints (stream VARCHAR, shard VARCHAR, sequence_number VARCHAR, updated TIMESTAMP, PRIMARY KEY (stream, shard))`,
		`CREATE TABLE IF NOT EXISTS stream_quarantine (stream VARCHAR, sequence_number VARCHAR, reason VARCHAR, data VARCHAR)`,
		`CREATE TABLE IF NOT EXISTS stream_repeats (table_name VARCHAR PRIMARY KEY, repeats BIGINT)`)
	for _, s := range stmts {
		if _, err := c.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	for _, k := range record.Kinds {
		if t := record.StreamTable(c.cfg.UserID, k); existing[t] {
			if err := c.dropRepeats(ctx, t); err != nil {
				return err
			}
		}
	}
	rows, err = c.db.QueryContext(ctx, `SELECT stream, shard, sequence_number FROM stream_checkpoints`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var st, sh, seq string
		if err := rows.Scan(&st, &sh, &seq); err != nil {
			return err
		}
		if c.done[st] == nil {
			c.done[st] = map[string]string{}
		}
		c.done[st][sh] = seq
	}
	return rows.Err()
}

// dropRepeats keeps the first row of each ind in a table written before the cleaner kept one
// row per ind (rows were only ever appended, so the smallest rowid is the first written) and
// counts the others as repeats.
func (c *Cleaner) dropRepeats(ctx context.Context, table string) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %[1]q WHERE rowid NOT IN (SELECT min(rowid) FROM %[1]q GROUP BY ind)`, table))
	if err != nil {
		return fmt.Errorf("keeping one row per ind in %s: %w", table, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return err
	}
	if err := addRepeats(ctx, tx, table, n); err != nil {
		return err
	}
	c.cfg.Logf("stream cleaner: %s: dropped %d repeated inds written by an older version", table, n)
	return tx.Commit()
}

// addRepeats adds n to the repeats counted for table.
func addRepeats(ctx context.Context, tx *sql.Tx, table string, n int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO stream_repeats VALUES (?, ?)
		ON CONFLICT (table_name) DO UPDATE SET repeats = stream_repeats.repeats + excluded.repeats`, table, n); err != nil {
		return fmt.Errorf("count repeats of %s: %w", table, err)
	}
	return nil
}

// DB is the database of the clean tables, for queries.
func (c *Cleaner) DB() *sql.DB { return c.db }

// Close closes the database.
func (c *Cleaner) Close() error { return c.db.Close() }

// Stats returns, for this run, the rows appended, the records skipped because their ind was
// already in the table (repeats) and the records quarantined.
func (c *Cleaner) Stats() (rows, repeats, quarantined int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows, c.repeats, c.bad
}

// Run cleans until ctx is done (finishing the batch in hand). A failed pass (a full disk under
// the database, a stream read error) does not stop it: the batch was rolled back with its
// checkpoint, so Run retries with capped exponential backoff, reports itself unhealthy through
// Health meanwhile, and is healthy again once a pass succeeds. It returns an error only for
// ErrPermanent (a test's simulated crash).
func (c *Cleaner) Run(ctx context.Context) (err error) {
	defer func() {
		c.mu.Lock()
		c.runErr = err
		if c.runErr == nil {
			c.runErr = errors.New("stream cleaner stopped")
		}
		c.mu.Unlock()
		close(c.stopped)
	}()
	lastShards := time.Time{}
	backoff := minBackoff
	for ctx.Err() == nil {
		var wake <-chan struct{}
		if c.cfg.Wake != nil {
			wake = c.cfg.Wake() // taken before reading, so a put during the pass is not missed
		}
		if time.Since(lastShards) > 5*time.Second {
			c.refreshShards(ctx)
			lastShards = time.Now()
		}
		n, err := c.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrPermanent) {
			return err
		}
		c.health.after(err)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, c.cfg.MaxBackoff)
			continue
		}
		backoff = minBackoff
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(c.cfg.Poll):
		}
	}
	return nil
}

// Health returns nil while the cleaner keeps up, or the error of the pass it is retrying.
func (c *Cleaner) Health() error {
	return c.health.status(fmt.Sprintf("cannot write %s", c.cfg.DBPath))
}

// refreshShards learns the shards of the three streams. A stream that does not exist (yet) is
// skipped until the next refresh.
func (c *Cleaner) refreshShards(ctx context.Context) {
	for _, k := range record.Kinds {
		name := record.Stream(c.cfg.UserID, k)
		d, err := c.cfg.Streams.DescribeStream(ctx, name)
		if err != nil {
			c.cfg.Logf("stream cleaner: describe %s: %v", name, err)
			continue
		}
		var ids []string
		for _, s := range d.Shards {
			ids = append(ids, s.ShardID)
		}
		c.mu.Lock()
		c.shardsAt[name] = ids
		c.mu.Unlock()
	}
}

// pass reads one batch from every shard and writes it; it returns the records handled.
func (c *Cleaner) pass(ctx context.Context) (int, error) {
	total := 0
	for _, k := range record.Kinds {
		name := record.Stream(c.cfg.UserID, k)
		c.mu.Lock()
		shards := c.shardsAt[name]
		c.mu.Unlock()
		for _, sh := range shards {
			c.mu.Lock()
			after := c.done[name][sh]
			c.mu.Unlock()
			recs, err := c.cfg.Streams.ReadShard(ctx, name, sh, after, c.cfg.BatchSize)
			if err != nil {
				var se *StreamError
				if errors.As(err, &se) && (se.Type == "ProvisionedThroughputExceededException" || se.Type == "LimitExceededException") {
					continue // throttled: this shard waits for the next pass
				}
				if errors.As(err, &se) && se.Type == "ResourceNotFoundException" {
					c.mu.Lock()
					delete(c.shardsAt, name) // deleted: forget until the next refresh
					c.mu.Unlock()
					break
				}
				return total, fmt.Errorf("stream cleaner: read %s/%s: %w", name, sh, err)
			}
			if len(recs) == 0 {
				continue
			}
			if err := c.write(ctx, k, name, sh, recs); err != nil {
				return total, err
			}
			total += len(recs)
		}
	}
	return total, nil
}

// write appends the clean rows of recs whose ind is neither in the table nor earlier in recs,
// counts the other clean rows as repeats, quarantines the records that cannot be cleaned and
// moves the checkpoint, in one transaction.
func (c *Cleaner) write(ctx context.Context, k record.Kind, stream, shard string, recs []StreamRecord) error {
	in := make([]clean.StreamRecord, len(recs))
	for i, r := range recs {
		in[i] = clean.StreamRecord{ID: r.SequenceNumber, Data: r.Data}
	}
	results := clean.CleanStream(k, in)
	// Finish the transaction even if ctx ends now: it is short, and a half-done one is rolled
	// back anyway.
	wctx := context.WithoutCancel(ctx)
	tx, err := c.db.BeginTx(wctx, nil)
	if err != nil {
		return fmt.Errorf("stream cleaner: %w", err)
	}
	defer tx.Rollback()
	table := record.StreamTable(c.cfg.UserID, k)
	ncols := len(clean.Columns(k))
	seen, err := existingInds(wctx, tx, table, results)
	if err != nil {
		return err
	}
	var good, repeats, bad int64
	var args []any
	var tuples []string
	flush := func() error {
		if len(tuples) == 0 {
			return nil
		}
		q := fmt.Sprintf("INSERT INTO %q VALUES %s", table, strings.Join(tuples, ","))
		if _, err := tx.ExecContext(wctx, q, args...); err != nil {
			return fmt.Errorf("stream cleaner: insert into %s: %w", table, err)
		}
		args, tuples = args[:0], tuples[:0]
		return nil
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", ncols), ",") + ")"
	for i, res := range results {
		if res.Err != nil {
			bad++
			if _, err := tx.ExecContext(wctx, `INSERT INTO stream_quarantine VALUES (?, ?, ?, ?)`,
				stream, recs[i].SequenceNumber, res.Err.Error(), string(recs[i].Data)); err != nil {
				return fmt.Errorf("stream cleaner: quarantine: %w", err)
			}
			continue
		}
		ind := res.Row.Ind()
		if seen[ind] {
			repeats++ // a re-send: the first row of this ind is in the table or in this batch
			continue
		}
		seen[ind] = true
		good++
		args = append(args, res.Row.Values()...)
		tuples = append(tuples, tuple)
		if len(tuples) >= 200 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if repeats > 0 {
		if err := addRepeats(wctx, tx, table, repeats); err != nil {
			return fmt.Errorf("stream cleaner: %w", err)
		}
	}
	last := recs[len(recs)-1].SequenceNumber
	if _, err := tx.ExecContext(wctx, `INSERT OR REPLACE INTO stream_checkpoints VALUES (?, ?, ?, now())`, stream, shard, last); err != nil {
		return fmt.Errorf("stream cleaner: checkpoint: %w", err)
	}
	if err := crashHook("cleaner-before-commit"); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("stream cleaner: commit: %w", err)
	}
	c.mu.Lock()
	if c.done[stream] == nil {
		c.done[stream] = map[string]string{}
	}
	c.done[stream][shard] = last
	c.rows += good
	c.repeats += repeats
	c.bad += bad
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// existingInds returns which inds of the clean results are already in table. Asking for the
// batch's inds before a plain insert measured cheaper than a unique index on ind with INSERT OR
// IGNORE (DuckDB, 500-row batches: +5 ms against +14 to +22 ms per batch).
func existingInds(ctx context.Context, tx *sql.Tx, table string, results []clean.StreamResult) (map[int64]bool, error) {
	seen := map[int64]bool{}
	var inds []any
	query := func() error {
		if len(inds) == 0 {
			return nil
		}
		q := fmt.Sprintf("SELECT ind FROM %q WHERE ind IN (%s)", table, strings.TrimSuffix(strings.Repeat("?,", len(inds)), ","))
		rows, err := tx.QueryContext(ctx, q, inds...)
		if err != nil {
			return fmt.Errorf("stream cleaner: look up inds in %s: %w", table, err)
		}
		defer rows.Close()
		for rows.Next() {
			var ind int64
			if err := rows.Scan(&ind); err != nil {
				return fmt.Errorf("stream cleaner: look up inds in %s: %w", table, err)
			}
			seen[ind] = true
		}
		inds = inds[:0]
		return rows.Err()
	}
	for _, res := range results {
		if res.Err != nil {
			continue
		}
		if inds = append(inds, res.Row.Ind()); len(inds) == 1000 {
			if err := query(); err != nil {
				return nil, err
			}
		}
	}
	return seen, query()
}

// crashHook lets tests stop the cleaner at a named point as a crash would; nil otherwise.
var crashHook = func(string) error { return nil }

// Checkpoints returns the last sequence number written of every shard.
func (c *Cleaner) Checkpoints() map[string]map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]string{}
	for s, m := range c.done {
		out[s] = map[string]string{}
		for k, v := range m {
			out[s][k] = v
		}
	}
	return out
}

// WaitFor waits until the cleaner has written every shard up to the given sequence numbers
// (from API.StreamMarks), or Run stops.
func (c *Cleaner) WaitFor(ctx context.Context, marks map[string]map[string]string) error {
	for {
		c.mu.Lock()
		ch := c.changed
		done := true
		for st, m := range marks {
			for sh, seq := range m {
				if seqLess(c.done[st][sh], seq) {
					done = false
				}
			}
		}
		c.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-c.stopped:
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.runErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
