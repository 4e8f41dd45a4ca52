package clean

import (
	"encoding/json"
	"fmt"

	"github.com/pinpipe/pinpipe/record"
)

// StreamRecord is one raw record from a stream: its id (a Firehose recordId, a Kinesis sequence
// number) and its data, the raw JSON record.
type StreamRecord struct {
	ID   string
	Data []byte
}

// StreamResult is the outcome for one StreamRecord: the clean Row and its JSON form, or Err.
type StreamResult struct {
	ID  string
	Row Row
	// JSON is the clean row as one JSON object (no trailing newline), with the contract's column
	// names as keys, nulls as null, coordinates as [latitude, longitude] and timestamps as
	// RFC 3339 UTC strings ("2020-08-28T03:52:47Z"), the ISO 8601 form that Firehose's Iceberg
	// delivery and Athena's JSON readers parse into a timestamp column.
	JSON []byte
	Err  error
}

// CleanStream cleans a batch of raw stream records, one result per record in the same order.
// A bad record gets its own Err; it never affects the others.
func CleanStream(kind record.Kind, recs []StreamRecord) []StreamResult {
	out := make([]StreamResult, len(recs))
	for i, r := range recs {
		out[i].ID = r.ID
		row, err := Clean(kind, r.Data)
		if err != nil {
			out[i].Err = err
			continue
		}
		js, err := json.Marshal(row)
		if err != nil {
			// Not reachable for rows Clean makes (finite floats, valid UTF-8); kept as a
			// per-record failure rather than a panic.
			out[i].Err = fmt.Errorf("%s record: encoding the clean row: %w", kind, err)
			continue
		}
		out[i].Row, out[i].JSON = row, js
	}
	return out
}
