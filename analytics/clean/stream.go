package clean

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

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
	// JSON is the clean row as one JSON object (no trailing newline) for Firehose's Iceberg
	// destination: the contract's column names as keys in column order, nulls as null,
	// coordinates as [latitude, longitude], and timestamps as whole microseconds since the Unix
	// epoch (a JSON number: 2020-08-28 03:52:47 UTC is 1598586767000000). Firehose writes an
	// Iceberg timestamp column only from microseconds ("For Timestamp data types, you must
	// always send in microseconds", Firehose developer guide); a string goes to the error prefix.
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
		js, err := streamJSON(kind, row)
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

// streamJSON encodes row as StreamResult.JSON describes, from the values the local tables are
// loaded with (Row.Values), so the two paths cannot disagree on a value.
func streamJSON(kind record.Kind, row Row) ([]byte, error) {
	cols := Columns(kind)
	vals := row.Values()
	out := make([]byte, 0, 256)
	out = append(out, '{')
	for i, c := range cols {
		if i > 0 {
			out = append(out, ',')
		}
		name, err := json.Marshal(c.Name)
		if err != nil {
			return nil, err
		}
		out = append(append(out, name...), ':')
		switch v := vals[i].(type) {
		case time.Time:
			out = strconv.AppendInt(out, v.UnixMicro(), 10)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", c.Name, err)
			}
			out = append(out, b...)
		}
	}
	return append(out, '}'), nil
}
