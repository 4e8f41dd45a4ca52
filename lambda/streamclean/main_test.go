package main

import (
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
	assert.Equal(t, `{"ind":7528,"country":"Albania","coordinates":[-89.9787,-173.293],"timestamp":"2020-08-28T03:52:47Z"}`+"\n",
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
