package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"regexp"

	"github.com/duckdb/duckdb-go/v2"
)

// duckDSN opens an in-memory database that never downloads or auto-loads extensions: json and
// parquet are built into the library, and a data tool must not fetch code at run time. Nothing
// we run depends on the order rows were inserted in (every output has its ORDER BY, ties broken
// by name), so DuckDB may write and scan out of order: ~200 MB less peak memory for the batch job.
const duckDSN = "?preserve_insertion_order=false&autoinstall_known_extensions=false&autoload_known_extensions=false&allow_community_extensions=false"

// openDuck opens an in-memory DuckDB. The connector is returned too: the stage writers each take
// a connection of their own.
func openDuck(ctx context.Context) (*sql.DB, *duckdb.Connector, error) {
	return openDuckDSN(ctx, duckDSN)
}

func openDuckDSN(ctx context.Context, dsn string) (*sql.DB, *duckdb.Connector, error) {
	c, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("opening DuckDB: %w", err)
	}
	db := sql.OpenDB(c)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("opening DuckDB: %w", err)
	}
	return db, c, nil
}

// MemoryLimitForm is what BatchConfig.MemoryLimit accepts: a number and a unit, as DuckDB's
// memory_limit setting takes it.
var MemoryLimitForm = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$`)

// openDuckLimited opens the batch job's DuckDB. With a memory limit (e.g. "2GB", checked by the
// caller against MemoryLimitForm), DuckDB keeps
// its memory under it and spills what does not fit (the clean tables too) to a temporary
// folder, which close removes: a task of fixed memory then runs a history larger than its
// memory, slower. Without one, DuckDB takes up to 80% of the memory the machine (or container)
// has.
func openDuckLimited(ctx context.Context, limit string) (db *sql.DB, c *duckdb.Connector, close func(), err error) {
	if limit == "" {
		db, c, err = openDuck(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		return db, c, func() { c.Close(); db.Close() }, nil
	}
	tmp, err := os.MkdirTemp("", "pinpipe-duckdb-")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--memory-limit: a folder to spill to: %w", err)
	}
	dsn := duckDSN + "&memory_limit=" + url.QueryEscape(limit) + "&temp_directory=" + url.QueryEscape(tmp)
	if db, c, err = openDuckDSN(ctx, dsn); err != nil {
		os.RemoveAll(tmp)
		return nil, nil, nil, err
	}
	return db, c, func() { c.Close(); db.Close(); os.RemoveAll(tmp) }, nil
}

// quoteIdent quotes an SQL identifier for DuckDB and Trino.
func quoteIdent(s string) string {
	out := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			out = append(out, '"')
		}
		out = append(out, s[i])
	}
	return string(append(out, '"'))
}

// quoteString quotes an SQL string literal.
func quoteString(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
