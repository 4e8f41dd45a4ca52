// Package analytics is the batch side of the pipeline: it reads the raw records the S3 sink wrote
// (from a directory or from S3), cleans them with package clean, loads the three clean tables into
// DuckDB in-process, runs the eight outputs of the analysis contract (SQL in sql/, one file per
// output, the same text Athena runs at scale) and writes CSV, JSON, Parquet, a quarantine file and
// a self-contained HTML report.
//
// The cleaning rules and the stream cleaner core live in package clean, which has no cgo, so the
// Firehose Lambda can import it; the names are re-exported here for callers of the batch job.
package analytics

import (
	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/record"
)

// Row is one clean row; see clean.Row.
type Row = clean.Row

// StreamRecord is one raw stream record; see clean.StreamRecord.
type StreamRecord = clean.StreamRecord

// StreamResult is the outcome for one stream record; see clean.StreamResult.
type StreamResult = clean.StreamResult

// Clean cleans one raw record; see clean.Clean.
func Clean(kind record.Kind, raw []byte) (Row, error) { return clean.Clean(kind, raw) }

// TableDDL is the CREATE TABLE statement of a clean table; see clean.TableDDL.
func TableDDL(kind record.Kind, table string) string { return clean.TableDDL(kind, table) }

// CleanStream cleans a batch of stream records; see clean.CleanStream.
func CleanStream(kind record.Kind, recs []StreamRecord) []StreamResult {
	return clean.CleanStream(kind, recs)
}
