package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Querying the stream tables while the pipeline runs. The stream cleaner holds stream.duckdb
// open for writing, and DuckDB lets no other process open it. So the server keeps a read replica:
// on a query, when the tables have changed and the replica is more than replicaMaxAge old, the
// cleaner's database is copied (COPY FROM DATABASE, one consistent transaction) into a new file,
// which is opened in a separate DuckDB instance read-only, with file system access disabled and
// the configuration locked. A query can therefore neither change the stream tables nor the replica
// nor touch a file, whatever SQL it sends; it runs under a time limit and returns at most a row
// limit. The route is served on loopback only, behind the API's own authentication.

const (
	// StreamQueryPath is the route of the query endpoint on the API port.
	StreamQueryPath = "/_pinpipe/stream-query"
	// DefaultQueryTimeout and DefaultQueryRows bound one query.
	DefaultQueryTimeout = 30 * time.Second
	DefaultQueryRows    = 10000
	// replicaMaxAge is how stale the replica may be when the tables have changed.
	replicaMaxAge = time.Second
	// replicaDSN opens a replica: read-only, no file access, no extension loading, configuration
	// locked so a query cannot turn any of it back on.
	replicaDSN = "?access_mode=read_only&enable_external_access=false&autoinstall_known_extensions=false" +
		"&autoload_known_extensions=false&allow_community_extensions=false&memory_limit=1GB&lock_configuration=true"
)

// StreamQuery is a query request.
type StreamQuery struct {
	SQL string `json:"sql"`
	// MaxRows caps the rows returned (at most DefaultQueryRows; 0 means that).
	MaxRows int `json:"max_rows,omitempty"`
}

// StreamQueryResult is a query's answer: values are JSON scalars; timestamps are
// "2006-01-02 15:04:05[.ffffff]" strings, other types their text.
type StreamQueryResult struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated"`
	// AsOf is when the replica the query ran on was copied.
	AsOf time.Time `json:"as_of"`
}

// Replica is a read-only copy of the cleaner's database, refreshed on demand.
type Replica struct {
	cleaner *Cleaner
	dir     string

	mu  sync.Mutex // held while refreshing
	cur *snapshot
}

// snapshot is one copy: closed and removed once the last query on it ends after it was replaced.
type snapshot struct {
	db   *sql.DB
	path string
	asOf time.Time
	gen  int64

	mu       sync.Mutex
	readers  int
	replaced bool
}

func (s *snapshot) release() {
	s.mu.Lock()
	s.readers--
	done := s.replaced && s.readers == 0
	s.mu.Unlock()
	if done {
		s.db.Close()
		os.Remove(s.path)
	}
}

func (s *snapshot) retire() {
	s.mu.Lock()
	s.replaced = true
	done := s.readers == 0
	s.mu.Unlock()
	if done {
		s.db.Close()
		os.Remove(s.path)
	}
}

// NewReplica keeps replicas of the cleaner's database in a new temporary directory.
func NewReplica(c *Cleaner) (*Replica, error) {
	dir, err := os.MkdirTemp("", "pinpipe-stream-replica-")
	if err != nil {
		return nil, fmt.Errorf("stream replica: %w", err)
	}
	return &Replica{cleaner: c, dir: dir}, nil
}

// Close closes the replica and removes its files (queries still running get an error).
func (r *Replica) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.cur.db.Close()
		r.cur = nil
	}
	return os.RemoveAll(r.dir)
}

func (c *Cleaner) generation() int64 {
	rows, repeats, bad := c.Stats()
	return rows + repeats + bad
}

// current returns an up-to-date snapshot, held for the caller until it calls release.
func (r *Replica) current(ctx context.Context) (*snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gen := r.cleaner.generation()
	if r.cur == nil || (gen != r.cur.gen && time.Since(r.cur.asOf) >= replicaMaxAge) {
		s, err := r.copy(ctx, gen)
		if err != nil {
			return nil, err
		}
		if r.cur != nil {
			r.cur.retire()
		}
		r.cur = s
	}
	r.cur.mu.Lock()
	r.cur.readers++
	r.cur.mu.Unlock()
	return r.cur, nil
}

// copy copies the cleaner's database into a new file and opens it read-only.
func (r *Replica) copy(ctx context.Context, gen int64) (*snapshot, error) {
	path := filepath.Join(r.dir, fmt.Sprintf("stream-%d.duckdb", time.Now().UnixNano()))
	asOf := time.Now().UTC()
	conn, err := r.cleaner.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream replica: %w", err)
	}
	defer conn.Close()
	var name string
	if err := conn.QueryRowContext(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		return nil, fmt.Errorf("stream replica: %w", err)
	}
	for _, q := range []string{
		fmt.Sprintf(`ATTACH '%s' AS pinpipe_replica`, strings.ReplaceAll(path, "'", "''")),
		fmt.Sprintf(`COPY FROM DATABASE "%s" TO pinpipe_replica`, strings.ReplaceAll(name, `"`, `""`)),
		`DETACH pinpipe_replica`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE IF EXISTS pinpipe_replica`)
			os.Remove(path)
			return nil, fmt.Errorf("stream replica: copy the stream tables: %w", err)
		}
	}
	db, err := sql.Open("duckdb", path+replicaDSN)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("stream replica: open %s: %w", path, err)
	}
	return &snapshot{db: db, path: path, asOf: asOf, gen: gen}, nil
}

// Query runs one statement on the replica, at most maxRows rows, within timeout.
func (r *Replica) Query(ctx context.Context, query string, maxRows int, timeout time.Duration) (*StreamQueryResult, error) {
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("empty query")
	}
	if maxRows <= 0 || maxRows > DefaultQueryRows {
		maxRows = DefaultQueryRows
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	snap, err := r.current(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.release()
	rows, err := snap.db.QueryContext(ctx, query)
	if err != nil {
		return nil, queryErr(ctx, timeout, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &StreamQueryResult{Columns: cols, Rows: [][]any{}, AsOf: snap.asOf}
	for rows.Next() {
		if len(res.Rows) == maxRows {
			res.Truncated = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = jsonValue(v)
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, queryErr(ctx, timeout, err)
	}
	return res, nil
}

func queryErr(ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("query stopped after the %s limit", timeout)
	}
	return err
}

// jsonValue makes a scanned DuckDB value a JSON value.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64:
		return x
	case time.Time:
		if x.Nanosecond() != 0 {
			return x.UTC().Format("2006-01-02 15:04:05.999999")
		}
		return x.UTC().Format(time.DateTime)
	case *big.Int:
		return json.Number(x.String())
	case []byte:
		return string(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	}
	return fmt.Sprint(v)
}

// serveStreamQuery answers POST StreamQueryPath {"sql":..,"max_rows":..} from loopback.
func (a *API) serveStreamQuery(w http.ResponseWriter, r *http.Request) {
	type errBody struct {
		Error string `json:"error"`
	}
	if a.StreamQuery == nil {
		writeJSON(w, http.StatusNotFound, "application/json", errBody{"no stream tables on this server"})
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		writeJSON(w, http.StatusForbidden, "application/json", errBody{"stream queries are served to loopback clients only"})
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, "application/json", errBody{"POST " + StreamQueryPath + ` {"sql":"..."}`})
		return
	}
	var q StreamQuery
	body, err := readBody(w, r, nil)
	if err == nil {
		err = json.Unmarshal(body, &q)
	}
	if err != nil || strings.TrimSpace(q.SQL) == "" {
		writeJSON(w, http.StatusBadRequest, "application/json", errBody{`want a JSON body {"sql":"SELECT ..."}`})
		return
	}
	res, err := a.StreamQuery(r.Context(), q.SQL, q.MaxRows)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, "application/json", errBody{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, "application/json", res)
}
