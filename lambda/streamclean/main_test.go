package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testdata/kinesis-firehose-event.json is aws-lambda-go's recorded Firehose event; its records
// carry "Hello World", which is not JSON.
func loadEvent(t *testing.T) events.KinesisFirehoseEvent {
	b, err := os.ReadFile("testdata/kinesis-firehose-event.json")
	require.NoError(t, err)
	var ev events.KinesisFirehoseEvent
	require.NoError(t, json.Unmarshal(b, &ev))
	return ev
}

func testHandler(t *testing.T, env map[string]string) *handler {
	h, err := newHandler(func(k string) string { return env[k] })
	require.NoError(t, err)
	h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return h
}

// roundTrip runs the handler and decodes its JSON answer as Firehose (and aws-lambda-go's own
// response type) would.
func roundTrip(t *testing.T, h *handler, ev events.KinesisFirehoseEvent) (events.KinesisFirehoseResponse, map[string]any) {
	resp, err := h.handle(context.Background(), ev)
	require.NoError(t, err)
	b, err := json.Marshal(resp)
	require.NoError(t, err)
	var typed events.KinesisFirehoseResponse
	require.NoError(t, json.Unmarshal(b, &typed))
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	return typed, raw
}

func TestNotJSONFailsOnlyThatRecord(t *testing.T) {
	ev := loadEvent(t)
	require.Equal(t, "Hello World", string(ev.Records[0].Data))
	ev.Records[1].Data = []byte(`{"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "Albania"}`)
	ev.SourceKinesisStreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/streaming-demo-geo"

	resp, raw := roundTrip(t, testHandler(t, nil), ev)
	require.Len(t, resp.Records, 2)
	assert.Equal(t, "record1", resp.Records[0].RecordID)
	assert.Equal(t, events.KinesisFirehoseTransformedStateProcessingFailed, resp.Records[0].Result)
	assert.Equal(t, "Hello World", string(resp.Records[0].Data), "the failed record goes to the error output untouched")
	assert.Equal(t, "record2", resp.Records[1].RecordID)
	assert.Equal(t, events.KinesisFirehoseTransformedStateOk, resp.Records[1].Result)
	assert.Equal(t, `{"ind":7528,"country":"Albania","coordinates":[-89.9787,-173.293],"timestamp":1598586767000000}`+"\n",
		string(resp.Records[1].Data))
	// Data travels base64-encoded, and no metadata is sent when no table is configured.
	rec := raw["records"].([]any)[1].(map[string]any)
	assert.Equal(t, base64.StdEncoding.EncodeToString(resp.Records[1].Data), rec["data"])
	assert.NotContains(t, rec, "metadata")
}

func TestKindFromEnvironmentAndRouting(t *testing.T) {
	ev := loadEvent(t)
	ev.Records[0].Data = []byte(`{"index": 1, "follower_count": "12k", "title": "No Title Data Available", "category": "art"}`)
	ev.Records[1].Data = []byte(`{"index": "x"}`)
	h := testHandler(t, map[string]string{"PINPIPE_KIND": "pin", "PINPIPE_DATABASE": "pinpipe", "PINPIPE_TABLE": "demo_pin_table"})
	resp, _ := roundTrip(t, h, ev) // the event's stream is "test": the kind comes from PINPIPE_KIND
	assert.Equal(t, events.KinesisFirehoseTransformedStateOk, resp.Records[0].Result)
	var row map[string]any
	require.NoError(t, json.Unmarshal(resp.Records[0].Data, &row))
	assert.Equal(t, float64(12000), row["follower_count"])
	assert.Nil(t, row["title"])
	assert.Equal(t, events.KinesisFirehoseResponseRecordOTFMetadata{DestinationDatabaseName: "pinpipe",
		DestinationTableName: "demo_pin_table", Operation: "insert"}, resp.Records[0].Metadata.OTFMetadata)
	assert.Equal(t, events.KinesisFirehoseTransformedStateProcessingFailed, resp.Records[1].Result)
}

func TestUnknownKindFailsRecordsNotBatch(t *testing.T) {
	ev := loadEvent(t) // stream "test": no kind suffix, and PINPIPE_KIND unset
	resp, _ := roundTrip(t, testHandler(t, nil), ev)
	require.Len(t, resp.Records, 2)
	for _, r := range resp.Records {
		assert.Equal(t, events.KinesisFirehoseTransformedStateProcessingFailed, r.Result)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := newHandler(func(k string) string { return map[string]string{"PINPIPE_KIND": "post"}[k] })
	assert.ErrorContains(t, err, "PINPIPE_KIND")
	_, err = newHandler(func(k string) string { return map[string]string{"PINPIPE_TABLE": "t"}[k] })
	assert.ErrorContains(t, err, "go together")
}

// TestNoCgo keeps the handler buildable with CGO_ENABLED=0 for linux/arm64: nothing it imports
// may pull in DuckDB (the batch side of analytics).
func TestNoCgo(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.NotContains(t, string(out), "duckdb")
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, string(out))
}

// FuzzHandler: whatever the records hold, every recordId gets exactly one answer, in order, Ok
// or ProcessingFailed, and the handler never returns an error.
func FuzzHandler(f *testing.F) {
	f.Add([]byte(`{"ind":1,"first_name":"a","age":3}`), []byte("Hello World"))
	f.Add([]byte(`{"ind":"x"}`), []byte(`{"ind":2,"date_joined":"2015-01-01T00:00:00"}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		h := testHandler(t, map[string]string{"PINPIPE_KIND": "user"})
		ev := events.KinesisFirehoseEvent{InvocationID: "i", Records: []events.KinesisFirehoseEventRecord{
			{RecordID: "r1", Data: a}, {RecordID: "r2", Data: b}}}
		resp, err := h.handle(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Records) != 2 || resp.Records[0].RecordID != "r1" || resp.Records[1].RecordID != "r2" {
			t.Fatalf("answers %+v", resp.Records)
		}
		for _, r := range resp.Records {
			switch r.Result {
			case events.KinesisFirehoseTransformedStateOk:
				if !json.Valid(r.Data) || r.Data[len(r.Data)-1] != '\n' {
					t.Fatalf("Ok with %q", r.Data)
				}
			case events.KinesisFirehoseTransformedStateProcessingFailed:
			default:
				t.Fatalf("result %q", r.Result)
			}
		}
	})
}

// Firehose writes Iceberg timestamp columns only from microseconds since the epoch: the geo
// timestamp and the user date_joined leave as JSON integers (issue 9, finding 6: RFC 3339
// strings sent every geo and user row to the error prefix).
func TestTimestampsAreEpochMicroseconds(t *testing.T) {
	ev := loadEvent(t)
	ev.Records = ev.Records[:1]
	for _, tc := range []struct {
		stream, data, column string
		want                 int64
	}{
		{"streaming-demo-geo", `{"ind": 1, "timestamp": "2020-08-28 03:52:47", "latitude": 1, "longitude": 2, "country": "Chad"}`, "timestamp", 1598586767000000},
		{"streaming-demo-user", `{"ind": 2, "first_name": "A", "last_name": "B", "age": 20, "date_joined": "2015-10-24T11:23:51"}`, "date_joined", 1445685831000000},
		{"streaming-demo-user", `{"ind": 3, "first_name": "A", "last_name": "B", "age": 20, "date_joined": "1969-12-31 23:59:59"}`, "date_joined", -1000000},
	} {
		ev.SourceKinesisStreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/" + tc.stream
		ev.Records[0].Data = []byte(tc.data)
		resp, _ := roundTrip(t, testHandler(t, nil), ev)
		require.Equal(t, events.KinesisFirehoseTransformedStateOk, resp.Records[0].Result)
		dec := json.NewDecoder(bytes.NewReader(resp.Records[0].Data))
		dec.UseNumber()
		var row map[string]any
		require.NoError(t, dec.Decode(&row))
		n, ok := row[tc.column].(json.Number)
		require.True(t, ok, "%s is %T %v, want a JSON number", tc.column, row[tc.column], row[tc.column])
		got, err := n.Int64()
		require.NoError(t, err, "%s must be whole microseconds", tc.column)
		assert.Equal(t, tc.want, got)
	}
}
