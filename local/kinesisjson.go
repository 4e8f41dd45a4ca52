package local

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The Kinesis JSON 1.1 protocol on the API port: what the AWS CLI, boto3 and the AWS SDKs speak
// (POST / with X-Amz-Target: Kinesis_20131202.<Action>), so `aws kinesis ... --endpoint-url`
// reaches the same streams as the API Gateway-style /streams routes. It is built only on the
// Streams interface (ReadShard for reading), so it serves the embedded store and a forwarded
// Kinesis alike.
//
// Shard iterators are self-contained: they carry the stream, the shard, the sequence number to
// read after and their creation time, with a MAC so a mangled one is refused. They expire after
// five minutes, like Kinesis'.

const (
	kinesisTargetPrefix = "Kinesis_20131202."
	amzJSON11           = "application/x-amz-json-1.1"
	amzCBOR11           = "application/x-amz-cbor-1.1"
	// iteratorTTL is how long a shard iterator stays valid, as in Kinesis.
	iteratorTTL = 5 * time.Minute
	// maxGetRecords and maxGetRecordsBytes are GetRecords' limits per call.
	maxGetRecords      = 10000
	maxGetRecordsBytes = 10 << 20
	// defaultListStreams is ListStreams' page size, and its most.
	defaultListStreams = 100
	// onDemandShards is the shard count of a stream created without a ShardCount (an on-demand
	// stream starts with 4 shards).
	onDemandShards = 4
	// sigV4Skew is how far a request's X-Amz-Date may be from the server's clock.
	sigV4Skew = 15 * time.Minute
)

// isKinesisJSON reports whether r is a Kinesis JSON protocol request.
func isKinesisJSON(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/" && r.Header.Get("X-Amz-Target") != ""
}

type kinesisAction func(a *API, ctx context.Context, body []byte) (any, error)

var kinesisActions = map[string]kinesisAction{
	"ListStreams":           kjListStreams,
	"DescribeStream":        kjDescribeStream,
	"DescribeStreamSummary": kjDescribeStreamSummary,
	"ListShards":            kjListShards,
	"CreateStream":          kjCreateStream,
	"DeleteStream":          kjDeleteStream,
	"PutRecord":             kjPutRecord,
	"PutRecords":            kjPutRecords,
	"GetShardIterator":      kjGetShardIterator,
	"GetRecords":            kjGetRecords,
}

// serveKinesisJSON answers one Kinesis JSON 1.1 request, errors in Kinesis' shape
// ({"__type":..,"message":..} with x-amzn-ErrorType).
func (a *API) serveKinesisJSON(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, kinesisTargetPrefix)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == amzCBOR11:
		kinesisJSONError(w, &StreamError{Type: "SerializationException", Status: 415, Message: "this endpoint speaks " +
			amzJSON11 + ", not CBOR: turn CBOR off in the client (AWS SDK for Java 2.x: -Daws.cborEnabled=false or " +
			"CBOR_ENABLED=false; 1.x and the KCL: AWS_CBOR_DISABLE=1)"})
		return
	case mt != amzJSON11 && mt != "application/json":
		kinesisJSONError(w, &StreamError{Type: "UnknownOperationException", Status: 404,
			Message: fmt.Sprintf("Content-Type %q: want %s", r.Header.Get("Content-Type"), amzJSON11)})
		return
	}
	fn := kinesisActions[action]
	if !ok || fn == nil {
		kinesisJSONError(w, streamErr("UnknownOperationException", "unknown operation %q (this endpoint serves %s)", target, kinesisActionList()))
		return
	}
	body, err := readBody(w, r, nil)
	if err != nil {
		kinesisJSONError(w, &StreamError{Type: "SerializationException", Status: 413, Message: fmt.Sprintf("request body over %d bytes", maxBodyBytes)})
		return
	}
	if err := authorizeKinesis(r); err != nil {
		kinesisJSONError(w, err)
		return
	}
	out, err := fn(a, r.Context(), body)
	if err != nil {
		kinesisJSONError(w, err)
		return
	}
	w.Header().Set("x-amzn-RequestId", requestID())
	if out == nil {
		// CreateStream and DeleteStream answer 200 with no body, like Kinesis.
		w.Header().Set("Content-Type", amzJSON11)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, amzJSON11, out)
}

func kinesisActionList() string {
	names := make([]string, 0, len(kinesisActions))
	for n := range kinesisActions {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func requestID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	sum := sha256.Sum256(b[:])
	h := hex.EncodeToString(sum[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// kinesisJSONError writes a Kinesis JSON protocol error.
func kinesisJSONError(w http.ResponseWriter, err error) {
	se, status := asStreamErr(err)
	w.Header().Set("x-amzn-RequestId", requestID())
	w.Header().Set("x-amzn-ErrorType", se.Type)
	writeJSON(w, status, amzJSON11, struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{se.Type, se.Message})
}

// decodeKinesis decodes a request body; a value of the wrong type is Kinesis'
// SerializationException.
func decodeKinesis(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return streamErr("SerializationException", "%s: %s can not be converted to %s", te.Field, te.Value, te.Type)
		}
		var be base64.CorruptInputError
		if errors.As(err, &be) {
			return streamErr("SerializationException", "Data is not valid base64: %v", err)
		}
		return streamErr("SerializationException", "malformed JSON: %v", err)
	}
	return nil
}

// streamRef names a stream by StreamName or StreamARN, as every data-plane call may.
type streamRef struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

var streamARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/([a-zA-Z0-9_.-]{1,128})$`)

func (s streamRef) name() (string, error) {
	switch {
	case s.StreamName != nil:
		return *s.StreamName, validStreamName(*s.StreamName)
	case s.StreamARN != nil:
		m := streamARNRE.FindStringSubmatch(*s.StreamARN)
		if m == nil {
			return "", streamErr("ValidationException",
				"1 validation error detected: Value '%s' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+", *s.StreamARN)
		}
		return m[1], nil
	}
	return "", streamErr("ValidationException",
		"1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null")
}

// between checks an optional integer parameter against its range, in Kinesis' words.
func between(field string, v *int, lo, hi int) error {
	if v == nil {
		return nil
	}
	if *v < lo {
		return streamErr("ValidationException",
			"1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", *v, field, lo)
	}
	if *v > hi {
		return streamErr("ValidationException",
			"1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", *v, field, hi)
	}
	return nil
}

// epochSeconds is a timestamp as the JSON 1.1 protocol writes it: seconds since the epoch, with
// milliseconds as a fraction.
func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// --- control plane ---

func kjListStreams(a *API, ctx context.Context, body []byte) (any, error) {
	var in struct {
		Limit                    *int    `json:"Limit"`
		ExclusiveStartStreamName *string `json:"ExclusiveStartStreamName"`
		NextToken                *string `json:"NextToken"`
	}
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	if err := between("limit", in.Limit, 1, 10000); err != nil {
		return nil, err
	}
	limit := defaultListStreams
	if in.Limit != nil {
		limit = min(*in.Limit, defaultListStreams)
	}
	after := ""
	switch {
	case in.NextToken != nil && in.ExclusiveStartStreamName != nil:
		return nil, streamErr("InvalidArgumentException", "NextToken and ExclusiveStartStreamName cannot be provided together.")
	case in.NextToken != nil:
		raw, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil || len(raw) == 0 {
			return nil, streamErr("InvalidArgumentException", "Invalid NextToken.")
		}
		after = string(raw)
	case in.ExclusiveStartStreamName != nil:
		after = *in.ExclusiveStartStreamName
	}
	names, err := a.streams.ListStreams(ctx)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	i := sort.Search(len(names), func(i int) bool { return names[i] > after })
	page := names[i:min(len(names), i+limit)]
	out := struct {
		StreamNames     []string        `json:"StreamNames"`
		HasMoreStreams  bool            `json:"HasMoreStreams"`
		NextToken       string          `json:"NextToken,omitempty"`
		StreamSummaries []streamSummary `json:"StreamSummaries"`
	}{StreamNames: nonNil(page), HasMoreStreams: i+limit < len(names), StreamSummaries: []streamSummary{}}
	if out.HasMoreStreams {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1]))
	}
	for _, n := range page {
		d, err := a.streams.DescribeStream(ctx, n)
		if err != nil {
			continue // deleted since it was listed
		}
		out.StreamSummaries = append(out.StreamSummaries, streamSummary{StreamName: d.StreamName, StreamARN: d.StreamARN,
			StreamStatus: d.StreamStatus, StreamModeDetails: d.StreamModeDetails, StreamCreationTimestamp: d.StreamCreationTimestamp})
	}
	return out, nil
}

type streamSummary struct {
	StreamName              string     `json:"StreamName"`
	StreamARN               string     `json:"StreamARN"`
	StreamStatus            string     `json:"StreamStatus"`
	StreamModeDetails       streamMode `json:"StreamModeDetails"`
	StreamCreationTimestamp float64    `json:"StreamCreationTimestamp"`
}

func kjDescribeStream(a *API, ctx context.Context, body []byte) (any, error) {
	var in struct {
		streamRef
		Limit                 *int    `json:"Limit"`
		ExclusiveStartShardId *string `json:"ExclusiveStartShardId"`
	}
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	name, err := in.name()
	if err != nil {
		return nil, err
	}
	if err := between("limit", in.Limit, 1, 10000); err != nil {
		return nil, err
	}
	d, err := a.streams.DescribeStream(ctx, name)
	if err != nil {
		return nil, err
	}
	shards := d.Shards
	if in.ExclusiveStartShardId != nil {
		i := sort.Search(len(shards), func(i int) bool { return shards[i].ShardID > *in.ExclusiveStartShardId })
		shards = shards[i:]
	}
	limit := 100
	if in.Limit != nil {
		limit = min(*in.Limit, 100)
	}
	dd := *d
	dd.Shards, dd.HasMoreShards = shards[:min(len(shards), limit)], len(shards) > limit
	if dd.Shards == nil {
		dd.Shards = []Shard{}
	}
	return map[string]any{"StreamDescription": dd}, nil
}

func kjDescribeStreamSummary(a *API, ctx context.Context, body []byte) (any, error) {
	var in streamRef
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	name, err := in.name()
	if err != nil {
		return nil, err
	}
	d, err := a.streams.DescribeStream(ctx, name)
	if err != nil {
		return nil, err
	}
	open := 0
	for _, s := range d.Shards {
		if s.SequenceNumberRange.EndingSequenceNumber == "" {
			open++
		}
	}
	return map[string]any{"StreamDescriptionSummary": struct {
		StreamName              string        `json:"StreamName"`
		StreamARN               string        `json:"StreamARN"`
		StreamStatus            string        `json:"StreamStatus"`
		StreamModeDetails       streamMode    `json:"StreamModeDetails"`
		RetentionPeriodHours    int           `json:"RetentionPeriodHours"`
		StreamCreationTimestamp float64       `json:"StreamCreationTimestamp"`
		EnhancedMonitoring      []enhancedMon `json:"EnhancedMonitoring"`
		EncryptionType          string        `json:"EncryptionType"`
		OpenShardCount          int           `json:"OpenShardCount"`
		ConsumerCount           int           `json:"ConsumerCount"`
	}{d.StreamName, d.StreamARN, d.StreamStatus, d.StreamModeDetails, d.RetentionPeriodHours,
		d.StreamCreationTimestamp, d.EnhancedMonitoring, d.EncryptionType, open, 0}}, nil
}

func kjListShards(a *API, ctx context.Context, body []byte) (any, error) {
	var in struct {
		streamRef
		NextToken             *string `json:"NextToken"`
		ExclusiveStartShardId *string `json:"ExclusiveStartShardId"`
		MaxResults            *int    `json:"MaxResults"`
	}
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	if err := between("maxResults", in.MaxResults, 1, 10000); err != nil {
		return nil, err
	}
	after := ""
	if in.ExclusiveStartShardId != nil {
		after = *in.ExclusiveStartShardId
	}
	var name string
	switch {
	case in.NextToken != nil && (in.StreamName != nil || in.StreamARN != nil):
		return nil, streamErr("InvalidArgumentException", "NextToken and StreamName cannot be provided together.")
	case in.NextToken != nil:
		raw, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		n, last, ok := strings.Cut(string(raw), "\x00")
		if err != nil || !ok {
			return nil, streamErr("InvalidArgumentException", "Invalid NextToken.")
		}
		name, after = n, last
	case in.StreamName == nil && in.StreamARN == nil:
		return nil, streamErr("InvalidArgumentException", "Either NextToken or StreamName should be provided.")
	default:
		var err error
		if name, err = in.name(); err != nil {
			return nil, err
		}
	}
	d, err := a.streams.DescribeStream(ctx, name)
	if err != nil {
		return nil, err
	}
	shards := d.Shards
	i := sort.Search(len(shards), func(i int) bool { return shards[i].ShardID > after })
	shards = shards[i:]
	limit := maxGetRecords
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	out := struct {
		Shards    []Shard `json:"Shards"`
		NextToken string  `json:"NextToken,omitempty"`
	}{Shards: shards[:min(len(shards), limit)]}
	if out.Shards == nil {
		out.Shards = []Shard{}
	}
	if len(shards) > limit {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(name + "\x00" + out.Shards[len(out.Shards)-1].ShardID))
	}
	return out, nil
}

func kjCreateStream(a *API, ctx context.Context, body []byte) (any, error) {
	var in struct {
		StreamName        *string     `json:"StreamName"`
		ShardCount        *int        `json:"ShardCount"`
		StreamModeDetails *streamMode `json:"StreamModeDetails"`
	}
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	name, err := streamRef{StreamName: in.StreamName}.name()
	if err != nil {
		return nil, err
	}
	shards := onDemandShards
	if in.ShardCount != nil {
		if err := between("shardCount", in.ShardCount, 1, maxShardsPerCreat); err != nil {
			return nil, err
		}
		shards = *in.ShardCount
	}
	return nil, a.streams.CreateStream(ctx, name, shards)
}

func kjDeleteStream(a *API, ctx context.Context, body []byte) (any, error) {
	var in streamRef
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	name, err := in.name()
	if err != nil {
		return nil, err
	}
	return nil, a.streams.DeleteStream(ctx, name)
}

// --- data plane ---

// kinesisEntry is a record of PutRecord or PutRecords: Data is base64 in JSON, which
// encoding/json decodes into []byte.
type kinesisEntry struct {
	Data            []byte  `json:"Data"`
	PartitionKey    *string `json:"PartitionKey"`
	ExplicitHashKey *string `json:"ExplicitHashKey"`
}

var hashKeyRE = regexp.MustCompile(`^(0|[1-9]\d{0,38})$`)

// entry checks a record as Kinesis does. ExplicitHashKey is honoured only where it cannot change
// the shard (a one-shard stream): the Streams interface routes by partition key.
func (e kinesisEntry) entry(field string, shards func() (int, error)) (PutEntry, error) {
	if e.PartitionKey == nil {
		return PutEntry{}, streamErr("ValidationException",
			"1 validation error detected: Value null at '%spartitionKey' failed to satisfy constraint: Member must not be null", field)
	}
	if e.Data == nil {
		return PutEntry{}, streamErr("ValidationException",
			"1 validation error detected: Value null at '%sdata' failed to satisfy constraint: Member must not be null", field)
	}
	if e.ExplicitHashKey != nil {
		h, ok := new(big.Int).SetString(*e.ExplicitHashKey, 10)
		if !hashKeyRE.MatchString(*e.ExplicitHashKey) || !ok || h.Cmp(maxHashKey) > 0 {
			return PutEntry{}, streamErr("InvalidArgumentException",
				"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", *e.ExplicitHashKey)
		}
		n, err := shards()
		if err != nil {
			return PutEntry{}, err
		}
		if n > 1 {
			return PutEntry{}, streamErr("InvalidArgumentException",
				"ExplicitHashKey is not supported by the local stream store on a stream of %d shards; records are routed by the MD5 of PartitionKey", n)
		}
	}
	return PutEntry{Data: e.Data, PartitionKey: *e.PartitionKey}, nil
}

func (a *API) shardCount(ctx context.Context, name string) func() (int, error) {
	return func() (int, error) {
		d, err := a.streams.DescribeStream(ctx, name)
		if err != nil {
			return 0, err
		}
		return len(d.Shards), nil
	}
}

func kjPutRecord(a *API, ctx context.Context, body []byte) (any, error) {
	var in struct {
		streamRef
		kinesisEntry
		SequenceNumberForOrdering *string `json:"SequenceNumberForOrdering"`
	}
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	name, err := in.name()
	if err != nil {
		return nil, err
	}
	e, err := in.entry("", a.shardCount(ctx, name))
	if err != nil {
		return nil, err
	}
	res, err := a.streams.PutRecord(ctx, name, e)
	if err != nil {
		return nil, err
	}
	a.mark(name, []PutResult{res})
	return struct {
		SequenceNumber string `json:"SequenceNumber"`
		ShardID        string `json:"ShardId"`
		EncryptionType string `json:"EncryptionType"`
	}{res.SequenceNumber, res.ShardID, "NONE"}, nil
}

func kjPutRecords(a *API, ctx context.Context, body []byte) (any, error) {
	var in struct {
		streamRef
		Records []kinesisEntry `json:"Records"`
	}
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	name, err := in.name()
	if err != nil {
		return nil, err
	}
	if len(in.Records) < 1 || len(in.Records) > maxPutRecords {
		return nil, streamErr("ValidationException",
			"1 validation error detected: Value '%d' at 'records' failed to satisfy constraint: Member must have length between 1 and %d", len(in.Records), maxPutRecords)
	}
	es := make([]PutEntry, len(in.Records))
	shards := a.shardCount(ctx, name)
	for i, r := range in.Records {
		if es[i], err = r.entry(fmt.Sprintf("records.%d.member.", i+1), shards); err != nil {
			return nil, err
		}
	}
	rs, err := a.streams.PutRecords(ctx, name, es)
	if err != nil {
		return nil, err
	}
	a.mark(name, rs)
	failed := 0
	for _, r := range rs {
		if r.ErrorCode != "" {
			failed++
		}
	}
	return struct {
		FailedRecordCount int         `json:"FailedRecordCount"`
		Records           []PutResult `json:"Records"`
		EncryptionType    string      `json:"EncryptionType"`
	}{failed, rs, "NONE"}, nil
}

// shardIterator is what a shard iterator stands for: read shard of stream after sequence
// number after ("" for its oldest record), issued at issued.
type shardIterator struct {
	stream, shard, after string
	issued               time.Time
}

// iteratorKey authenticates iterators against corruption, not against their holder: an iterator
// only lets one read what GetShardIterator would have given, so the key needs no secrecy, and a
// fixed key keeps iterators valid across a restart of the server.
var iteratorKey = []byte("pinpipe local shard iterator v1")

func (it shardIterator) encode() string {
	msg := fmt.Sprintf("%d\x00%s\x00%s\x00%s", it.issued.UnixMilli(), it.stream, it.shard, it.after)
	mac := hmac.New(sha256.New, iteratorKey)
	mac.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(append([]byte(msg), mac.Sum(nil)[:16]...))
}

func decodeIterator(s string, now time.Time) (shardIterator, error) {
	invalid := streamErr("InvalidArgumentException", "Invalid ShardIterator.")
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) < 17 {
		return shardIterator{}, invalid
	}
	msg, sum := raw[:len(raw)-16], raw[len(raw)-16:]
	mac := hmac.New(sha256.New, iteratorKey)
	mac.Write(msg)
	if !hmac.Equal(sum, mac.Sum(nil)[:16]) {
		return shardIterator{}, invalid
	}
	parts := strings.Split(string(msg), "\x00")
	if len(parts) != 4 {
		return shardIterator{}, invalid
	}
	var ms int64
	if _, err := fmt.Sscan(parts[0], &ms); err != nil {
		return shardIterator{}, invalid
	}
	it := shardIterator{issued: time.UnixMilli(ms), stream: parts[1], shard: parts[2], after: parts[3]}
	if now.Sub(it.issued) > iteratorTTL {
		return shardIterator{}, streamErr("ExpiredIteratorException",
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			amzUTC(it.issued), amzUTC(now), iteratorTTL.Milliseconds())
	}
	return it, nil
}

// amzUTC writes a time as Kinesis' messages do: "Thu Jan 22 01:22:02 UTC 2015".
func amzUTC(t time.Time) string { return t.UTC().Format("Mon Jan 02 15:04:05 UTC 2006") }

var seqNumRE = regexp.MustCompile(`^(0|[1-9]\d{0,128})$`)

// seqBefore is the sequence number just before seq, so that reading after it starts at seq.
func seqBefore(seq string) string {
	n, _ := new(big.Int).SetString(seq, 10)
	if n.Sign() == 0 {
		return ""
	}
	return n.Sub(n, big.NewInt(1)).String()
}

func kjGetShardIterator(a *API, ctx context.Context, body []byte) (any, error) {
	var in struct {
		streamRef
		ShardID                *string  `json:"ShardId"`
		ShardIteratorType      *string  `json:"ShardIteratorType"`
		StartingSequenceNumber *string  `json:"StartingSequenceNumber"`
		Timestamp              *float64 `json:"Timestamp"`
	}
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	name, err := in.name()
	if err != nil {
		return nil, err
	}
	if in.ShardID == nil {
		return nil, streamErr("ValidationException",
			"1 validation error detected: Value null at 'shardId' failed to satisfy constraint: Member must not be null")
	}
	if in.ShardIteratorType == nil {
		return nil, streamErr("ValidationException",
			"1 validation error detected: Value null at 'shardIteratorType' failed to satisfy constraint: Member must not be null")
	}
	typ := *in.ShardIteratorType
	switch typ {
	case "TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP":
	default:
		return nil, streamErr("ValidationException",
			"1 validation error detected: Value '%s' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]", typ)
	}
	if in.StartingSequenceNumber != nil && !seqNumRE.MatchString(*in.StartingSequenceNumber) {
		return nil, streamErr("ValidationException",
			"1 validation error detected: Value '%s' at 'startingSequenceNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})", *in.StartingSequenceNumber)
	}
	d, err := a.streams.DescribeStream(ctx, name)
	if err != nil {
		return nil, err
	}
	shardID := *in.ShardID
	found := false
	for _, s := range d.Shards {
		found = found || s.ShardID == shardID
	}
	if !found {
		return nil, streamErr("ResourceNotFoundException", "Shard %s in stream %s under account %s does not exist", shardID, name, localAccount)
	}
	now := time.Now()
	it := shardIterator{stream: name, shard: shardID, issued: now}
	wantSeq := typ == "AT_SEQUENCE_NUMBER" || typ == "AFTER_SEQUENCE_NUMBER"
	switch {
	case wantSeq && in.StartingSequenceNumber == nil:
		return nil, streamErr("InvalidArgumentException",
			"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified %s and no StartingSequenceNumber.", typ)
	case !wantSeq && in.StartingSequenceNumber != nil && typ != "AT_TIMESTAMP":
		return nil, streamErr("InvalidArgumentException",
			"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified %s and also a StartingSequenceNumber.", typ)
	}
	switch typ {
	case "TRIM_HORIZON":
	case "AT_SEQUENCE_NUMBER":
		it.after = seqBefore(*in.StartingSequenceNumber)
	case "AFTER_SEQUENCE_NUMBER":
		it.after = *in.StartingSequenceNumber
	case "LATEST":
		if it.after, err = a.lastSequence(ctx, name, shardID); err != nil {
			return nil, err
		}
	case "AT_TIMESTAMP":
		if in.Timestamp == nil {
			return nil, streamErr("InvalidArgumentException",
				"Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
		}
		ts := time.UnixMilli(int64(*in.Timestamp * 1000))
		if ts.After(now) {
			return nil, streamErr("InvalidArgumentException",
				"The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: %d", ts.UnixMilli(), now.UnixMilli())
		}
		if it.after, err = a.sequenceBefore(ctx, name, shardID, ts); err != nil {
			return nil, err
		}
	}
	return struct {
		ShardIterator string `json:"ShardIterator"`
	}{it.encode()}, nil
}

// lastSequencer is what a store may offer to find a shard's tip without reading it through.
type lastSequencer interface {
	LastSequence(name string) (map[string]string, error)
}

// lastSequence is the newest sequence number of a shard ("" when it is empty): from the store
// when it can tell, else by reading the shard through.
func (a *API) lastSequence(ctx context.Context, name, shardID string) (string, error) {
	if ls, ok := a.streams.(lastSequencer); ok {
		m, err := ls.LastSequence(name)
		if err != nil {
			return "", err
		}
		return m[shardID], nil
	}
	last := ""
	err := a.scanShard(ctx, name, shardID, func(r StreamRecord) bool { last = r.SequenceNumber; return true })
	return last, err
}

// sequenceBefore is the sequence number to read after so that the first record read is the first
// that arrived at or after ts (the shard's tip when none did).
func (a *API) sequenceBefore(ctx context.Context, name, shardID string, ts time.Time) (string, error) {
	prev := ""
	err := a.scanShard(ctx, name, shardID, func(r StreamRecord) bool {
		if !r.Arrival.Before(ts) {
			return false
		}
		prev = r.SequenceNumber
		return true
	})
	return prev, err
}

// scanShard calls fn on each record of a shard, oldest first, until fn returns false.
func (a *API) scanShard(ctx context.Context, name, shardID string, fn func(StreamRecord) bool) error {
	after := ""
	for {
		recs, err := a.streams.ReadShard(ctx, name, shardID, after, maxGetRecords)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil // a read may stop short of its limit (at 10 MiB): only none is the tip
		}
		for _, r := range recs {
			if !fn(r) {
				return nil
			}
		}
		after = recs[len(recs)-1].SequenceNumber
	}
}

// kinesisRecord is a record as GetRecords answers it; Data is base64 in JSON.
type kinesisRecord struct {
	SequenceNumber              string  `json:"SequenceNumber"`
	ApproximateArrivalTimestamp float64 `json:"ApproximateArrivalTimestamp"`
	Data                        []byte  `json:"Data"`
	PartitionKey                string  `json:"PartitionKey"`
}

func kjGetRecords(a *API, ctx context.Context, body []byte) (any, error) {
	var in struct {
		ShardIterator *string `json:"ShardIterator"`
		Limit         *int    `json:"Limit"`
		StreamARN     *string `json:"StreamARN"`
	}
	if err := decodeKinesis(body, &in); err != nil {
		return nil, err
	}
	if in.ShardIterator == nil {
		return nil, streamErr("ValidationException",
			"1 validation error detected: Value null at 'shardIterator' failed to satisfy constraint: Member must not be null")
	}
	if err := between("limit", in.Limit, 1, maxGetRecords); err != nil {
		return nil, err
	}
	now := time.Now()
	it, err := decodeIterator(*in.ShardIterator, now)
	if err != nil {
		return nil, err
	}
	limit := maxGetRecords
	if in.Limit != nil {
		limit = *in.Limit
	}
	// One more than asked tells whether the reader is at the tip.
	recs, err := a.streams.ReadShard(ctx, it.stream, it.shard, it.after, limit+1)
	if err != nil {
		var se *StreamError
		if errors.As(err, &se) && se.Type == "ResourceNotFoundException" {
			se = &StreamError{Type: se.Type, Status: se.Status,
				Message: fmt.Sprintf("Shard %s in stream %s under account %s does not exist", it.shard, it.stream, localAccount)}
			return nil, se
		}
		return nil, err
	}
	more := len(recs) > limit
	recs = recs[:min(len(recs), limit)]
	out := struct {
		Records            []kinesisRecord `json:"Records"`
		NextShardIterator  string          `json:"NextShardIterator"`
		MillisBehindLatest int64           `json:"MillisBehindLatest"`
	}{Records: make([]kinesisRecord, 0, len(recs))}
	size := 0
	for _, r := range recs {
		if size += len(r.Data) + len(r.PartitionKey); size > maxGetRecordsBytes && len(out.Records) > 0 {
			more = true
			break
		}
		out.Records = append(out.Records, kinesisRecord{r.SequenceNumber, epochSeconds(r.Arrival), r.Data, r.PartitionKey})
	}
	next := shardIterator{stream: it.stream, shard: it.shard, after: it.after, issued: now}
	if n := len(out.Records); n > 0 {
		next.after = out.Records[n-1].SequenceNumber
		if more {
			out.MillisBehindLatest = max(0, now.Sub(recs[n-1].Arrival).Milliseconds())
		}
	}
	out.NextShardIterator = next.encode()
	return out, nil
}
