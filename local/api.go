package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Content types of the Kafka REST Proxy v2 routes.
const (
	kafkaJSONRequestType = "application/vnd.kafka.json.v2+json"
	kafkaResponseType    = "application/vnd.kafka.v2+json"
	// maxBodyBytes is API Gateway's payload limit.
	maxBodyBytes = 10 << 20
	// defaultShardCount is what POST /streams/{name} creates without a ShardCount, as the seed's
	// mapping template does.
	defaultShardCount = 5
)

// API serves the HTTP contract of the deployed API Gateway: the Kafka REST Proxy v2 subset over
// the broker and the Kinesis routes over a Streams implementation.
type API struct {
	producer *kgo.Client
	admin    *kadm.Client
	streams  Streams
	// StreamQuery, when set, answers StreamQueryPath (see streamquery.go).
	StreamQuery func(ctx context.Context, sql string, maxRows int) (*StreamQueryResult, error)
	// Unhealthy, when set and returning an error, makes produce requests fail with 503 and
	// Retry-After: the records would be accepted but could not be stored on (a full disk).
	Unhealthy func() error

	mu    sync.Mutex
	marks map[string]map[string]string // stream -> shard -> newest sequence number acknowledged
	parts map[string]int               // topic -> partition count, cached once seen
}

// Compressions are the producer's codecs by the name --compression takes.
var Compressions = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// ParseCompression is the codec named name ("" is none).
func ParseCompression(name string) (kgo.CompressionCodec, error) {
	if name == "" {
		name = "none"
	}
	c, ok := Compressions[name]
	if !ok {
		return c, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
	}
	return c, nil
}

// NewAPI returns the API producing to the broker at brokerAddr and putting to streams. The
// producer writes uncompressed batches unless opts say otherwise (kgo.ProducerBatchCompression):
// the broker stores batches as produced, and consumers that ship no optional codecs
// (kafka-python without python-snappy) cannot read snappy, kgo's default.
func NewAPI(brokerAddr string, streams Streams, opts ...kgo.Opt) (*API, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokerAddr),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(1 << 16),
		kgo.RecordPartitioner(requestPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("api producer: %w", err)
	}
	return &API{producer: cl, admin: kadm.NewClient(cl), streams: streams, marks: map[string]map[string]string{}, parts: map[string]int{}}, nil
}

// Close flushes and closes the producer.
func (a *API) Close() {
	a.producer.Flush(context.Background())
	a.producer.Close()
}

// StreamMarks returns, per stream and shard, the newest sequence number this API acknowledged:
// a stream reader that has passed these has read everything the API accepted.
func (a *API) StreamMarks() map[string]map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]map[string]string{}
	for s, m := range a.marks {
		out[s] = map[string]string{}
		for k, v := range m {
			out[s][k] = v
		}
	}
	return out
}

func (a *API) mark(stream string, rs []PutResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.marks[stream]
	if m == nil {
		m = map[string]string{}
		a.marks[stream] = m
	}
	for _, r := range rs {
		if r.ErrorCode == "" && seqLess(m[r.ShardID], r.SequenceNumber) {
			m[r.ShardID] = r.SequenceNumber
		}
	}
}

// ServeHTTP routes a request. Every answer, errors included, has a contract body.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A bug must not take the server down or leave the client without a contract body.
		if p := recover(); p != nil {
			kafkaError(w, http.StatusInternalServerError, 50001, fmt.Sprintf("internal error: %v", p))
		}
	}()
	if isKinesisJSON(r) {
		a.serveKinesisJSON(w, r) // the Kinesis JSON 1.1 protocol: kinesisjson.go
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == StreamQueryPath:
		a.serveStreamQuery(w, r)
	case parts[0] == "topics" && len(parts) == 1:
		if r.Method != http.MethodGet {
			kafkaError(w, http.StatusMethodNotAllowed, 405, "HTTP 405 Method Not Allowed")
			return
		}
		a.listTopics(w, r)
	case parts[0] == "topics" && len(parts) == 2 && parts[1] != "":
		if r.Method != http.MethodPost {
			kafkaError(w, http.StatusMethodNotAllowed, 405, "HTTP 405 Method Not Allowed")
			return
		}
		a.produce(w, r, parts[1])
	case parts[0] == "streams" && len(parts) == 1:
		if r.Method != http.MethodGet {
			streamError(w, &StreamError{Type: "MethodNotAllowed", Message: "GET /streams only", Status: 405})
			return
		}
		names, err := a.streams.ListStreams(r.Context())
		if err != nil {
			streamError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, "application/json", struct {
			HasMoreStreams bool
			StreamNames    []string
		}{false, nonNil(names)})
	case parts[0] == "streams" && len(parts) == 2 && parts[1] != "":
		a.streamRoute(w, r, parts[1])
	case parts[0] == "streams" && len(parts) == 3 && parts[1] != "" && (parts[2] == "record" || parts[2] == "records"):
		if r.Method != http.MethodPut {
			streamError(w, &StreamError{Type: "MethodNotAllowed", Message: "PUT /streams/{name}/" + parts[2] + " only", Status: 405})
			return
		}
		if parts[2] == "record" {
			a.putRecord(w, r, parts[1])
		} else {
			a.putRecords(w, r, parts[1])
		}
	default:
		kafkaError(w, http.StatusNotFound, 404, "HTTP 404 Not Found: no route "+r.Method+" "+r.URL.Path)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error_code":50001,"message":"encode response"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body)
}

// kafkaError writes a REST Proxy error body.
func kafkaError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, kafkaResponseType, struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}{code, msg})
}

// streamError writes a Kinesis error body ({"__type":..,"message":..}) with its status.
func streamError(w http.ResponseWriter, err error) {
	se, status := asStreamErr(err)
	writeJSON(w, status, "application/json", struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{se.Type, se.Message})
}

// asStreamErr is err as a Kinesis error (an InternalFailure when it is not one) and its status.
func asStreamErr(err error) (*StreamError, int) {
	var se *StreamError
	if !errors.As(err, &se) {
		se = &StreamError{Type: "InternalFailure", Message: err.Error(), Status: 500}
	}
	if se.Status == 0 {
		return se, http.StatusBadRequest
	}
	return se, se.Status
}

// --- Kafka REST Proxy v2 ---

// topicPartitions returns the partition count of topic, 0 when it does not exist. A count once
// seen is cached (partitions are never removed); an unknown topic is asked again every time.
func (a *API) topicPartitions(ctx context.Context, topic string) (int, error) {
	a.mu.Lock()
	n := a.parts[topic]
	a.mu.Unlock()
	if n > 0 {
		return n, nil
	}
	td, err := a.admin.ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		return 0, nil
	}
	a.mu.Lock()
	a.parts[topic] = len(d.Partitions)
	a.mu.Unlock()
	return len(d.Partitions), nil
}

func (a *API) listTopics(w http.ResponseWriter, r *http.Request) {
	td, err := a.admin.ListTopics(r.Context())
	if err != nil {
		kafkaError(w, http.StatusInternalServerError, 50002, "list topics: "+err.Error())
		return
	}
	names := td.Names()
	sort.Strings(names)
	writeJSON(w, http.StatusOK, kafkaResponseType, nonNil(names))
}

// produceScratch is the memory of one produce request, reused across requests through
// scratchPool: a batched POST reads ~50 KB and makes a record, a kgo.Record and a pointer per
// record, and allocating them afresh for every request was a tenth of the time, in GC. The
// scratch goes back once the response is written: every promise has been called by then, and the
// client keeps no reference to a record after its promise.
type produceScratch struct {
	body, resp []byte
	records    []produceRecord
	backing    []kgo.Record
	ptrs       []*kgo.Record
	errs       []error
}

var scratchPool = sync.Pool{New: func() any { return new(produceScratch) }}

// maxPooledBody is the largest body whose scratch is kept; a rare huge one is left to the GC.
const maxPooledBody = 1 << 20

func (sc *produceScratch) release() {
	if cap(sc.body) > maxPooledBody || cap(sc.resp) > maxPooledBody {
		return
	}
	// Drop the references to values and results (a value with a line break was copied).
	clear(sc.records[:cap(sc.records)])
	clear(sc.backing)
	clear(sc.ptrs)
	clear(sc.errs)
	scratchPool.Put(sc)
}

func (a *API) produce(w http.ResponseWriter, r *http.Request, topic string) {
	if a.Unhealthy != nil {
		if err := a.Unhealthy(); err != nil {
			// 50301 is the REST proxy's one 503 code, for a request that can be retried.
			w.Header().Set("Retry-After", "5")
			kafkaError(w, http.StatusServiceUnavailable, 50301, "Service unavailable, retry later: "+err.Error())
			return
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != kafkaJSONRequestType {
		kafkaError(w, http.StatusUnsupportedMediaType, 415,
			fmt.Sprintf("HTTP 415 Unsupported Media Type: Content-Type %q, want %s", r.Header.Get("Content-Type"), kafkaJSONRequestType))
		return
	}
	sc := scratchPool.Get().(*produceScratch)
	defer sc.release()
	body, err := readBody(w, r, sc.body)
	if err != nil {
		kafkaError(w, http.StatusRequestEntityTooLarge, 413, fmt.Sprintf("request body over %d bytes", maxBodyBytes))
		return
	}
	sc.body = body
	req, err := decodeProduceInto(body, sc.records)
	if err != nil {
		kafkaError(w, http.StatusBadRequest, 400, "malformed JSON: "+err.Error())
		return
	}
	if cap(req.Records) > cap(sc.records) {
		sc.records = req.Records[:0]
	}
	if len(req.Records) == 0 {
		kafkaError(w, http.StatusUnprocessableEntity, 422, `"records" must hold at least one record`)
		return
	}
	nparts, err := a.topicPartitions(r.Context(), topic)
	if err != nil {
		kafkaError(w, http.StatusInternalServerError, 50002, "look up topic: "+err.Error())
		return
	}
	if nparts == 0 {
		kafkaError(w, http.StatusNotFound, 40401, "Topic "+topic+" not found.")
		return
	}
	n := len(req.Records)
	sc.backing = slices.Grow(sc.backing[:0], n)[:n]
	sc.ptrs = slices.Grow(sc.ptrs[:0], n)[:n]
	recs := sc.ptrs
	// The records of a request arrive together: one timestamp for all of them, rather than
	// the client reading the clock for each (3% of a batched request's time).
	now := time.Now()
	for i, in := range req.Records {
		rec := &sc.backing[i]
		*rec = kgo.Record{Topic: topic, Partition: -1, Timestamp: now}
		if in.Partition != nil {
			if *in.Partition < 0 || int(*in.Partition) >= nparts {
				kafkaError(w, http.StatusNotFound, 40402, fmt.Sprintf("Partition %d of topic %s not found (records[%d]).", *in.Partition, topic, i))
				return
			}
			rec.Partition = *in.Partition
		}
		rec.Key = compactJSON(in.Key)
		rec.Value = compactJSON(in.Value)
		recs[i] = rec
	}
	sc.errs = slices.Grow(sc.errs[:0], n)[:n]
	failed := produceInOrder(r.Context(), a.producer, recs, sc.errs)
	if failed == n && allRetriable(sc.errs) {
		// Nothing was stored and trying again later may work (the broker is unreachable or
		// timed out): say so with a status clients and proxies retry on.
		w.Header().Set("Retry-After", "1")
		kafkaError(w, http.StatusServiceUnavailable, kafkaRetriableErrorCode, "produce failed, nothing stored: "+sc.errs[0].Error())
		return
	}
	sc.resp = writeProduceResponse(w, sc.backing, sc.errs, sc.resp[:0])
}

// The REST Proxy's error codes for a record the producer could not store (rest-utils'
// KafkaExceptionMapper; kafka-rest's v2 AbstractProduceAction.errorCodeFromProducerException).
const (
	kafkaErrorCode          = 50002 // a non-retriable producer error (e.g. a record too large)
	kafkaRetriableErrorCode = 50003 // a retriable one (the broker unreachable, a timeout)
)

// produceInOrder produces recs and waits for all of them, leaving in errs[i] the error of
// recs[i] (nil when stored; the record then holds its partition and offset). ProduceSync
// reports results in completion order, which is not request order when a record fails early
// (one too large fails before the others are even sent): the answer for record i must be
// about record i, or a client resending only the failed ones duplicates one and loses another.
// It returns how many failed.
func produceInOrder(ctx context.Context, cl *kgo.Client, recs []*kgo.Record, errs []error) int {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		index  map[*kgo.Record]int // built at the first failure: the usual request has none
		failed int
	)
	clear(errs)
	wg.Add(len(recs))
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if index == nil {
				index = make(map[*kgo.Record]int, len(recs))
				for i, r := range recs {
					index[r] = i
				}
			}
			errs[index[r]] = err
			failed++
			mu.Unlock()
		}
		wg.Done()
	}
	for _, r := range recs {
		cl.Produce(ctx, r, promise)
	}
	wg.Wait()
	return failed
}

// produceErrorCode is the REST Proxy's error code for a producer error: retriable Kafka errors
// (and a delivery timeout, Java's retriable TimeoutException) are 50003, the others 50002.
func produceErrorCode(err error) int {
	if kerr.IsRetriable(err) || errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return kafkaRetriableErrorCode
	}
	return kafkaErrorCode
}

func allRetriable(errs []error) bool {
	for _, err := range errs {
		if err == nil || produceErrorCode(err) != kafkaRetriableErrorCode {
			return false
		}
	}
	return true
}

// readBody reads the request body, at most maxBodyBytes, into buf (grown when too small; nil
// is fine), sized from Content-Length when the client sent one.
func readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if n := r.ContentLength; n > 0 && n <= maxBodyBytes {
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		// Nothing may follow the announced length.
		var one [1]byte
		if m, _ := rd.Read(one[:]); m > 0 {
			return nil, errors.New("body longer than its Content-Length")
		}
		return buf, nil
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// writeProduceResponse writes the produce response, built in buf (returned for reuse): per
// record, in request order, its partition and offset, or the REST Proxy's error code and the
// error. As the REST Proxy's v2 produce, a request some of whose records failed is still a
// 200: the client resends the records whose entry has an error_code. It is written by hand
// because encoding it with encoding/json was a tenth of a batched request's time; with a
// Content-Length, so it is not chunked.
func writeProduceResponse(w http.ResponseWriter, recs []kgo.Record, errs []error, buf []byte) []byte {
	b := append(buf, `{"offsets":[`...)
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		if err := errs[i]; err != nil {
			e, _ := json.Marshal(err.Error())
			b = append(b, `{"partition":null,"offset":null,"error_code":`...)
			b = strconv.AppendInt(b, int64(produceErrorCode(err)), 10)
			b = append(b, `,"error":`...)
			b = append(b, e...)
			b = append(b, '}')
			continue
		}
		b = append(b, `{"partition":`...)
		b = strconv.AppendInt(b, int64(recs[i].Partition), 10)
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, recs[i].Offset, 10)
		b = append(b, `,"error_code":null,"error":null}`...)
	}
	b = append(b, `],"key_schema_id":null,"value_schema_id":null}`...)
	h := w.Header()
	h.Set("Content-Type", kafkaResponseType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return b
}

// compactJSON returns a JSON value that fits on one line, so a value is one line in the sink's
// newline-delimited objects; a missing or null value is a Kafka null. A value without a raw line
// break (the usual case: JSON strings cannot hold one) is kept byte for byte, saving a pass.
func compactJSON(raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return raw
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw // already validated by the decoder; unreachable
	}
	return b.Bytes()
}

// strictJSON decodes one JSON value; trailing data is an error (json.Unmarshal checks the whole
// body before decoding it).
func strictJSON(body []byte, v any) error {
	return json.Unmarshal(body, v)
}

// requestPartitioner honours a partition the request names and otherwise hashes the key like
// the Java client (murmur2), spreading key-less records.
func requestPartitioner() kgo.Partitioner {
	return &explicitOr{kgo.StickyKeyPartitioner(nil)}
}

type explicitOr struct{ fallback kgo.Partitioner }

func (p *explicitOr) ForTopic(t string) kgo.TopicPartitioner {
	return &explicitOrTopic{p.fallback.ForTopic(t)}
}

type explicitOrTopic struct{ fallback kgo.TopicPartitioner }

func (p *explicitOrTopic) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.fallback.RequiresConsistency(r)
}
func (p *explicitOrTopic) OnNewBatch() {
	if nb, ok := p.fallback.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
func (p *explicitOrTopic) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	return p.fallback.Partition(r, n)
}

// --- Kinesis ---

func (a *API) streamRoute(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		d, err := a.streams.DescribeStream(ctx, name)
		if err != nil {
			streamError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, "application/json", map[string]any{"StreamDescription": d})
	case http.MethodPost:
		shards := defaultShardCount
		body, err := readBody(w, r, nil)
		if err != nil {
			streamError(w, streamErr("SerializationException", "request body over %d bytes", maxBodyBytes))
			return
		}
		if len(bytes.TrimSpace(body)) > 0 {
			var req struct {
				ShardCount *int `json:"ShardCount"`
			}
			if err := strictJSON(body, &req); err != nil {
				streamError(w, streamErr("SerializationException", "malformed JSON: %v", err))
				return
			}
			if req.ShardCount != nil {
				shards = *req.ShardCount
			}
		}
		if err := a.streams.CreateStream(ctx, name, shards); err != nil {
			streamError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, "application/json", struct{}{})
	case http.MethodDelete:
		if err := a.streams.DeleteStream(ctx, name); err != nil {
			streamError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, "application/json", struct{}{})
	default:
		streamError(w, &StreamError{Type: "MethodNotAllowed", Message: "GET, POST or DELETE /streams/{name}", Status: 405})
	}
}

func readStreamBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := readBody(w, r, nil)
	if err != nil {
		streamError(w, &StreamError{Type: "SerializationException", Message: fmt.Sprintf("request body over %d bytes", maxBodyBytes), Status: 413})
		return false
	}
	if err := strictJSON(body, v); err != nil {
		streamError(w, streamErr("SerializationException", "malformed JSON: %v", err))
		return false
	}
	return true
}

// recordData is the bytes a record's JSON "Data" stands for: its JSON text, as the mapping
// template's $input.json('$.Data') gives it.
func recordData(raw json.RawMessage, field string) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, streamErr("ValidationException", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return compactJSON(raw), nil
}

func (a *API) putRecord(w http.ResponseWriter, r *http.Request, name string) {
	var req struct {
		StreamName   string          `json:"StreamName"`
		Data         json.RawMessage `json:"Data"`
		PartitionKey string          `json:"PartitionKey"`
	}
	if !readStreamBody(w, r, &req) {
		return
	}
	data, err := recordData(req.Data, "data")
	if err != nil {
		streamError(w, err)
		return
	}
	res, err := a.streams.PutRecord(r.Context(), name, PutEntry{Data: data, PartitionKey: req.PartitionKey})
	if err != nil {
		streamError(w, err)
		return
	}
	a.mark(name, []PutResult{res})
	writeJSON(w, http.StatusOK, "application/json", PutResult{SequenceNumber: res.SequenceNumber, ShardID: res.ShardID})
}

func (a *API) putRecords(w http.ResponseWriter, r *http.Request, name string) {
	var req struct {
		Records []struct {
			Data         json.RawMessage `json:"data"`
			PartitionKey string          `json:"partition-key"`
		} `json:"records"`
	}
	if !readStreamBody(w, r, &req) {
		return
	}
	es := make([]PutEntry, len(req.Records))
	for i, in := range req.Records {
		data, err := recordData(in.Data, fmt.Sprintf("records.%d.member.data", i+1))
		if err != nil {
			streamError(w, err)
			return
		}
		es[i] = PutEntry{Data: data, PartitionKey: in.PartitionKey}
	}
	rs, err := a.streams.PutRecords(r.Context(), name, es)
	if err != nil {
		streamError(w, err)
		return
	}
	a.mark(name, rs)
	failed := 0
	for _, x := range rs {
		if x.ErrorCode != "" {
			failed++
		}
	}
	writeJSON(w, http.StatusOK, "application/json", struct {
		FailedRecordCount int
		Records           []PutResult
	}{failed, rs})
}
