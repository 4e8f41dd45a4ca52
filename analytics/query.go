package analytics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/record"
)

// Query runs ad-hoc SQL over the clean Parquet tables of a previous run (dataDir is that run's
// --out directory, holding clean.ParquetPath of each kind), visible as the views pin, geo and "user".
// The result's Output is empty.
func Query(ctx context.Context, dataDir, query string) (*Result, error) {
	db, connector, err := openDuck(ctx)
	if err != nil {
		return nil, err
	}
	defer connector.Close()
	defer db.Close()
	for _, k := range record.Kinds {
		p := filepath.Join(dataDir, filepath.FromSlash(clean.ParquetPath(k)))
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("--data %s: no clean %s table (%w); point --data at the --out directory of `pinpipe analyse`", dataDir, k, err)
		}
		v := fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet(%s)", quoteIdent(tableName(k)), quoteString(p))
		if _, err := db.ExecContext(ctx, v); err != nil {
			return nil, fmt.Errorf("opening %s: %w", p, err)
		}
	}
	cols, rows, err := runQuery(ctx, db, query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return &Result{Columns: cols, Rows: rows}, nil
}
