package local

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// Streams is what the API's Kinesis routes and the stream cleaner need of a Kinesis API. The
// embedded StreamStore implements it, and so does KinesisForwarder for a real Kinesis endpoint.
type Streams interface {
	ListStreams(ctx context.Context) ([]string, error)
	DescribeStream(ctx context.Context, name string) (*StreamDescription, error)
	CreateStream(ctx context.Context, name string, shards int) error
	DeleteStream(ctx context.Context, name string) error
	PutRecord(ctx context.Context, name string, e PutEntry) (PutResult, error)
	// PutRecords stores each entry or reports why not in its result, like Kinesis.
	PutRecords(ctx context.Context, name string, es []PutEntry) ([]PutResult, error)
	// ReadShard returns up to limit records of a shard after the sequence number after ("" for
	// the oldest record), oldest first. It may return fewer (a read stops after GetRecords'
	// 10 MiB); none means the reader is at the tip.
	ReadShard(ctx context.Context, name, shardID, after string, limit int) ([]StreamRecord, error)
}

// PutEntry is one record to put.
type PutEntry struct {
	Data         []byte
	PartitionKey string
}

// PutResult is where a record went, or its error (ErrorCode set).
type PutResult struct {
	SequenceNumber string `json:"SequenceNumber,omitempty"`
	ShardID        string `json:"ShardId,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

// StreamRecord is a record read back from a shard.
type StreamRecord struct {
	SequenceNumber string
	PartitionKey   string
	Data           []byte
	Arrival        time.Time
}

// StreamDescription is the DescribeStream response's StreamDescription, in Kinesis' JSON shape.
type StreamDescription struct {
	StreamName              string        `json:"StreamName"`
	StreamARN               string        `json:"StreamARN"`
	StreamStatus            string        `json:"StreamStatus"`
	StreamModeDetails       streamMode    `json:"StreamModeDetails"`
	Shards                  []Shard       `json:"Shards"`
	HasMoreShards           bool          `json:"HasMoreShards"`
	RetentionPeriodHours    int           `json:"RetentionPeriodHours"`
	StreamCreationTimestamp float64       `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []enhancedMon `json:"EnhancedMonitoring"`
	EncryptionType          string        `json:"EncryptionType"`
}

type streamMode struct {
	StreamMode string `json:"StreamMode"`
}

type enhancedMon struct {
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

// Shard is one shard of a stream description.
type Shard struct {
	ShardID             string      `json:"ShardId"`
	HashKeyRange        hashRange   `json:"HashKeyRange"`
	SequenceNumberRange seqNumRange `json:"SequenceNumberRange"`
}

type hashRange struct {
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

type seqNumRange struct {
	StartingSequenceNumber string `json:"StartingSequenceNumber"`
	EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"`
}

// StreamError is a Kinesis API error: its __type (ResourceNotFoundException, ...) and message.
type StreamError struct {
	Type    string
	Message string
	// Status is the HTTP status Kinesis answers with (400 for client errors, 500 otherwise).
	Status int
}

func (e *StreamError) Error() string { return e.Type + ": " + e.Message }

func streamErr(typ, format string, args ...any) *StreamError {
	return &StreamError{Type: typ, Message: fmt.Sprintf(format, args...), Status: 400}
}

// Kinesis limits the embedded store enforces like the real service.
const (
	maxRecordBytes    = 1 << 20
	maxPutRecords     = 500
	maxPartitionKey   = 256
	maxShardsPerCreat = 100 // per stream; all streams together are bounded by StreamStoreOptions.ShardLimit
	localAccount      = "000000000000"
	localRegion       = "us-east-1"
)

var streamNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

func validStreamName(name string) error {
	if !streamNameRE.MatchString(name) || name == "." || name == ".." {
		return streamErr("ValidationException",
			"1 validation error detected: Value '%s' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and length 1 to 128", name)
	}
	return nil
}

func validEntry(e PutEntry) error {
	if n := len(e.PartitionKey); n < 1 || n > maxPartitionKey {
		return streamErr("ValidationException",
			"1 validation error detected: Value at 'partitionKey' failed to satisfy constraint: Member must have length between 1 and %d", maxPartitionKey)
	}
	if len(e.Data) > maxRecordBytes {
		return streamErr("ValidationException",
			"1 validation error detected: Value at 'data' failed to satisfy constraint: Member must have length less than or equal to %d", maxRecordBytes)
	}
	return nil
}

func notFound(name string) *StreamError {
	return streamErr("ResourceNotFoundException", "Stream %s under account %s not found.", name, localAccount)
}

// seqLess orders Kinesis sequence numbers, decimal strings that may differ in length.
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
