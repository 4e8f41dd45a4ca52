package analytics

import (
	"context"
	"fmt"
	"path"
	"path/filepath"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/analytics/sqldialect"
	"github.com/pinpipe/pinpipe/record"
)

// Query runs ad-hoc SQL over the clean Parquet tables of a previous run (dataDir is that run's
// --out directory: clean/<kind>/*.parquet, one file per kind, or one per incremental run),
// visible as the views pin, geo and "user". A query in stages (an analytics/sql file) runs as its
// one statement (sqldialect.Statement). The result's Output is empty.
func Query(ctx context.Context, dataDir, query string) (*Result, error) {
	db, connector, err := openDuck(ctx)
	if err != nil {
		return nil, err
	}
	defer connector.Close()
	defer db.Close()
	for _, k := range record.Kinds {
		dir := filepath.Join(dataDir, filepath.FromSlash(path.Dir(clean.ParquetPath(k))))
		files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
		if err == nil && len(files) == 0 {
			err = fmt.Errorf("no %s", filepath.Join(dir, "*.parquet"))
		}
		if err != nil {
			return nil, fmt.Errorf("--data %s: no clean %s table (%w); point --data at the --out directory of `pinpipe analyse`", dataDir, k, err)
		}
		p := filepath.Join(dir, "*.parquet")
		v := fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet(%s)", quoteIdent(tableName(k)), quoteString(p))
		if _, err := db.ExecContext(ctx, v); err != nil {
			return nil, fmt.Errorf("opening %s: %w", p, err)
		}
	}
	query, err = sqldialect.Statement(query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	cols, rows, err := runQuery(ctx, db, query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return &Result{Columns: cols, Rows: rows}, nil
}
