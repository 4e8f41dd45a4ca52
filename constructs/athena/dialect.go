package athena

import "github.com/pinpipe/pinpipe/analytics/sqldialect"

// Translate returns an analysis query (an analytics/sql file: partial, merge and final stages)
// as the one statement Athena runs: WITH partials AS (...), merged AS (...) <final>, refusing
// DuckDB-only syntax. The composition itself lives in the runtime package analytics/sqldialect,
// so that the CLI prints and the batch job runs the very text the saved queries hold; this is its
// name on the CDK side.
func Translate(sql string) (string, error) { return sqldialect.Athena(sql) }
