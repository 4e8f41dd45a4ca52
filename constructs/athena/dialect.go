package athena

import "github.com/pinpipe/pinpipe/analytics/sqldialect"

// Translate returns an analysis query (analytics/sql, DuckDB's dialect) in Athena's dialect. The
// translation itself lives in the runtime package analytics/sqldialect, so that the CLI prints
// the very text the saved queries hold; this is its name on the CDK side.
func Translate(sql string) (string, error) { return sqldialect.Athena(sql) }
