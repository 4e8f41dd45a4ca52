// Command streamclean is the Kinesis Data Firehose data-transformation Lambda of the streaming
// side: it cleans each raw record with the one implementation of the cleaning rules
// (analytics/clean) and hands Firehose the clean row as one JSON line, or marks that record
// ProcessingFailed so Firehose writes it, untouched, to its error output. One bad record never
// fails the batch.
//
// Configuration (environment):
//
//	PINPIPE_KIND      pin, geo or user. When unset, the kind is the suffix of the source stream's
//	                  name (streaming-<user_id>-pin), taken from the event.
//	PINPIPE_DATABASE  with PINPIPE_TABLE: route every clean record to this Glue database and
//	PINPIPE_TABLE     Iceberg table (Firehose's otfMetadata, operation insert). Leave both unset
//	                  when the delivery stream has a single destination table.
//
// Clean JSON timestamps are whole microseconds since the Unix epoch (a JSON number), the form
// Firehose requires for Iceberg timestamp columns; coordinates are a [latitude, longitude] array
// of doubles; nulls are JSON null.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/pinpipe/pinpipe/analytics/clean"
	"github.com/pinpipe/pinpipe/record"
)

func main() {
	h, err := newHandler(os.Getenv)
	if err != nil {
		slog.Error("configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.handle)
}

// response is Firehose's transformation response. It is events.KinesisFirehoseResponse with the
// metadata left out when there is none: the events type always sends an otfMetadata object,
// whose empty "operation" an Iceberg destination would have to interpret.
type response struct {
	Records []responseRecord `json:"records"`
}

type responseRecord struct {
	RecordID string    `json:"recordId"`
	Result   string    `json:"result"`
	Data     []byte    `json:"data"`
	Metadata *metadata `json:"metadata,omitempty"`
}

type metadata struct {
	OTFMetadata events.KinesisFirehoseResponseRecordOTFMetadata `json:"otfMetadata"`
}

type handler struct {
	kind record.Kind // "" means: from the source stream's name
	otf  *metadata
	log  *slog.Logger
}

func newHandler(getenv func(string) string) (*handler, error) {
	h := &handler{log: slog.New(slog.NewJSONHandler(os.Stdout, nil))}
	if k := getenv("PINPIPE_KIND"); k != "" {
		kind, err := record.ParseKind(k)
		if err != nil {
			return nil, fmt.Errorf("PINPIPE_KIND: %w", err)
		}
		h.kind = kind
	}
	db, table := getenv("PINPIPE_DATABASE"), getenv("PINPIPE_TABLE")
	switch {
	case db != "" && table != "":
		h.otf = &metadata{events.KinesisFirehoseResponseRecordOTFMetadata{
			DestinationDatabaseName: db, DestinationTableName: table, Operation: events.KinesisFirehoseOTFOperationInsert}}
	case db != "" || table != "":
		return nil, fmt.Errorf("PINPIPE_DATABASE and PINPIPE_TABLE go together (got %q and %q)", db, table)
	}
	return h, nil
}

// kindOf is the configured kind, or the suffix of the source stream name in the event.
func (h *handler) kindOf(ev *events.KinesisFirehoseEvent) (record.Kind, error) {
	if h.kind != "" {
		return h.kind, nil
	}
	arn := ev.SourceKinesisStreamArn
	name := arn[strings.LastIndex(arn, "/")+1:]
	i := strings.LastIndexByte(name, '-')
	if k, err := record.ParseKind(name[i+1:]); err == nil && i >= 0 {
		return k, nil
	}
	return "", fmt.Errorf("cannot tell the record kind: PINPIPE_KIND is unset and source stream %q does not end in -pin, -geo or -user", arn)
}

func (h *handler) handle(_ context.Context, ev events.KinesisFirehoseEvent) (response, error) {
	out := response{Records: make([]responseRecord, len(ev.Records))}
	kind, kindErr := h.kindOf(&ev)
	recs := make([]clean.StreamRecord, len(ev.Records))
	for i, r := range ev.Records {
		recs[i] = clean.StreamRecord{ID: r.RecordID, Data: r.Data}
	}
	var results []clean.StreamResult
	if kindErr == nil {
		results = clean.CleanStream(kind, recs)
	}
	failed := 0
	for i, r := range ev.Records {
		err := kindErr
		if err == nil {
			err = results[i].Err
		}
		if err != nil {
			failed++
			h.log.Warn("record failed", "recordId", r.RecordID, "invocationId", ev.InvocationID, "reason", err.Error())
			out.Records[i] = responseRecord{RecordID: r.RecordID, Result: events.KinesisFirehoseTransformedStateProcessingFailed, Data: r.Data}
			continue
		}
		data := append(results[i].JSON, '\n')
		out.Records[i] = responseRecord{RecordID: r.RecordID, Result: events.KinesisFirehoseTransformedStateOk, Data: data, Metadata: h.otf}
	}
	h.log.Info("batch", "invocationId", ev.InvocationID, "kind", string(kind), "records", len(ev.Records), "failed", failed)
	return out, nil
}
