package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ledger is what a client knows about the ids it sent: acknowledged (a 200 and no per-record
// error) with where the answer said it was stored, reported failed, or neither (no answer: the
// request was in flight at a kill).
type ledger struct {
	mu     sync.Mutex
	sent   map[string]bool
	acked  map[string]string // id → "partition/offset" or "shard/sequence number" from the answer
	failed map[string]bool
}

func newLedger() *ledger {
	return &ledger{sent: map[string]bool{}, acked: map[string]string{}, failed: map[string]bool{}}
}

func (l *ledger) send(ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.sent[id] = true
	}
}

// ack records an acknowledged id and where the answer said it is.
func (l *ledger) ack(id, at string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked[id] = at
}

// unsend forgets ids whose request never reached the server (the connection was refused).
func (l *ledger) unsend(ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		delete(l.sent, id)
	}
}

func (l *ledger) fail(ids ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.failed[id] = true
	}
}

// check asserts the contract on what was read back (id → the places it was found): every
// acknowledged id exactly once, at the place its answer named, and no place (offset, sequence
// number) named in two answers; any other id at most once (reported failed or unanswered: a
// client resends it, so it may be there or not, but never twice); nothing that was never sent.
func (l *ledger) check(t *testing.T, where string, found map[string][]string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	lost, moved, dup, alien, reused := 0, 0, 0, 0, 0
	var examples []string
	example := func(format string, args ...any) {
		if len(examples) < 10 {
			examples = append(examples, fmt.Sprintf(format, args...))
		}
	}
	owner := map[string]string{} // place → the acknowledged id the answer put there
	for id, at := range l.acked {
		if other, ok := owner[at]; ok {
			reused++
			example("acknowledged %s and %s: both answers said %s", id, other, at)
		}
		owner[at] = id
		switch got := found[id]; {
		case len(got) != 1:
			lost++
			example("acknowledged %s (at %s) found %d times %v", id, at, len(got), got)
		case got[0] != at:
			moved++
			example("acknowledged %s: the answer said %s, it is at %s", id, at, got[0])
		}
	}
	for id, got := range found {
		switch _, acked := l.acked[id]; {
		case !l.sent[id]:
			alien++
			example("%s was never sent", id)
		case len(got) > 1 && !acked:
			dup++
			example("unacknowledged %s found %d times %v", id, len(got), got)
		}
	}
	unanswered := len(l.sent) - len(l.acked) - len(l.failed)
	t.Logf("%s: %d sent, %d acknowledged, %d reported failed, %d unanswered; read back %d distinct",
		where, len(l.sent), len(l.acked), len(l.failed), unanswered, len(found))
	assert.NotEmpty(t, l.acked, "%s: nothing was acknowledged", where)
	assert.Zero(t, lost+moved+reused+dup+alien, "%s: %d acknowledged ids not found exactly once, %d not where the answer said, "+
		"%d answers naming a place already given, %d other ids found more than once, %d ids never sent; e.g.\n%s",
		where, lost, moved, reused, dup, alien, strings.Join(examples, "\n"))
}

const (
	killTopic       = "soak.pin"
	killRESTStream  = "streaming-soak-pin"
	killMultiStream = "soak-multi" // created through the Kinesis API with several shards
	killBatch       = 20           // records per request
)

// TestServeKilledTenTimes SIGKILLs a real `pinpipe serve` at ten random points while clients post
// through the REST produce route, the REST PutRecords route and the Kinesis API (aws-sdk-go-v2's
// PutRecords, on a stream of three shards), restarting it on the same data directory each time.
// Then it reads everything back, as a user would: the topic with a Kafka consumer, the streams
// with GetShardIterator TRIM_HORIZON and GetRecords on every shard, and the sink's objects once
// the sink has caught up. Every acknowledged id must be there exactly once; ids reported failed
// or unanswered (in flight at a kill) may be absent or there once. PINPIPE_KILL_SEED replays a run.
func TestServeKilledTenTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts pinpipe serve ten times")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PINPIPE_KILL_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "PINPIPE_KILL_SEED")
	}
	t.Logf("PINPIPE_KILL_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 10))

	dir := filepath.Join(t.TempDir(), "data")
	broker, api := freeAddr(t), freeAddr(t)
	srv := startServe(t, dir, broker, api, "--user-id", "soak", "--flush-size", "50", "--rotate-interval", "500ms")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve log %s:\n%s", srv.logPath, tail(srv.logPath, 30))
		}
	})
	ctx := t.Context()
	kc := kinesisSDK(api)
	_, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(killMultiStream), ShardCount: aws.Int32(3)})
	require.NoError(t, err)
	require.NoError(t, kinesis.NewStreamExistsWaiter(kc).Wait(ctx,
		&kinesis.DescribeStreamInput{StreamName: aws.String(killMultiStream)}, 10*time.Second,
		func(o *kinesis.StreamExistsWaiterOptions) { o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second }))

	topic, restStream, multiStream := newLedger(), newLedger(), newLedger()
	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 2 {
		wg.Go(func() { postProduce(load, t, client, api, fmt.Sprintf("p%d", w), topic) })
	}
	wg.Go(func() { postPutRecords(load, t, client, api, "r", restStream) })
	wg.Go(func() { sdkPutRecords(load, t, kc, "k", multiStream) })

	var ups []time.Duration
	for i := range 10 {
		up := time.Duration(200+rng.IntN(2300)) * time.Millisecond
		time.Sleep(up)
		if exited, err := srv.exited(); exited {
			t.Fatalf("pinpipe serve exited by itself (%v) before kill %d; log %s:\n%s", err, i+1, srv.logPath, tail(srv.logPath, 40))
		}
		srv.kill()
		// Down for a moment too: the clients meet refused connections, not only cut ones.
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		srv.restart(t)
		ups = append(ups, srv.started.Round(time.Millisecond))
		t.Logf("kill %d after %s up; back in %s", i+1, up, srv.started.Round(time.Millisecond))
	}
	time.Sleep(300 * time.Millisecond) // some load on the last process too
	stopLoad()
	wg.Wait()
	if exited, err := srv.exited(); exited {
		t.Fatalf("pinpipe serve exited by itself (%v); log %s:\n%s", err, srv.logPath, tail(srv.logPath, 40))
	}

	readBackServe(t, ctx, broker, kc, filepath.Join(dir, "s3", "topics", killTopic), topic, restStream, multiStream)
	t.Logf("restart times: %v", ups)
}

// readBackServe reads back what a running serve holds, as a user would, and checks each ledger
// against it: the topic killTopic with a Kafka consumer up to its end offsets, the streams
// killRESTStream and killMultiStream with GetRecords from TRIM_HORIZON (sequence numbers
// increasing within a shard), and the sink's objects under sinkDir once the sink has caught up.
func readBackServe(t *testing.T, ctx context.Context, broker string, kc *kinesis.Client, sinkDir string, topic, restStream, multiStream *ledger) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(killTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(rctx, killTopic)
	require.NoError(t, err)
	require.NoError(t, ends.Error())
	endOf := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { endOf[o.Partition] = o.Offset })

	inTopic := map[string][]string{}
	next := map[int32]int64{} // partition → the offset after the last record consumed
	for reached := func() bool {
		for p, end := range endOf {
			if next[p] < end {
				return false
			}
		}
		return true
	}; !reached(); {
		fs := cl.PollFetches(rctx)
		require.NoError(t, rctx.Err(), "consumed up to %v of %v in %s", next, endOf, killTopic)
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("consume %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = r.Offset + 1
			if r.Offset < endOf[r.Partition] {
				id := idOf(t, r.Value)
				inTopic[id] = append(inTopic[id], fmt.Sprintf("%d/%d", r.Partition, r.Offset))
			}
		})
	}
	topic.check(t, "topic "+killTopic+" (Kafka consumer)", inTopic)

	for _, s := range []struct {
		name string
		l    *ledger
	}{{killRESTStream, restStream}, {killMultiStream, multiStream}} {
		found := map[string][]string{}
		last := map[string]string{} // shard → the last sequence number read
		var disorder []string
		require.NoError(t, readStream(rctx, kc, s.name, func(shard, seq string, data []byte) {
			if !seqLess(last[shard], seq) {
				disorder = append(disorder, fmt.Sprintf("%s: %s after %s", shard, seq, last[shard]))
			}
			last[shard] = seq
			id := idOf(t, data)
			found[id] = append(found[id], shard+"/"+seq)
		}))
		assert.Empty(t, disorder, "%s: sequence numbers not increasing within a shard", s.name)
		s.l.check(t, "stream "+s.name+" (GetRecords)", found)
	}

	inSink := waitSinkCaughtUp(t, rctx, sinkDir, killTopic, endOf)
	topic.check(t, "sink of "+killTopic, inSink)
}

type idValue struct {
	ID string `json:"id"`
}

func idOf(t *testing.T, b []byte) string {
	var v idValue
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
		t.Errorf("record %q: want {\"id\":...}: %v", b, err)
	}
	return v.ID
}

// pad makes a record a realistic size (about 200 bytes).
var pad = strings.Repeat("x", 180)

func ids(prefix string, n, batch int) []string {
	out := make([]string, batch)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d-%d", prefix, n, i)
	}
	return out
}

// postProduce posts batches to the REST produce route (Kafka REST v2) until ctx ends.
func postProduce(ctx context.Context, t *testing.T, client *http.Client, api, prefix string, l *ledger) {
	postProduceN(ctx, t, client, api, prefix, l, -1)
}

// postProduceN posts requests batches (all of them if requests < 0) until ctx ends.
func postProduceN(ctx context.Context, t *testing.T, client *http.Client, api, prefix string, l *ledger, requests int) {
	for n := 0; ctx.Err() == nil && n != requests; n++ {
		batch := ids(prefix, n, killBatch)
		var b strings.Builder
		b.WriteString(`{"records":[`)
		for i, id := range batch {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"value":{"id":%q,"pad":%q}}`, id, pad)
		}
		b.WriteString(`]}`)
		l.send(batch)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/topics/"+killTopic, strings.NewReader(b.String()))
		req.Header.Set("Content-Type", "application/vnd.kafka.json.v2+json")
		body, ok := deliver(client, req, batch, l)
		if !ok {
			continue
		}
		var resp struct {
			Offsets []struct {
				Partition int32   `json:"partition"`
				Offset    int64   `json:"offset"`
				ErrorCode *int    `json:"error_code"`
				Error     *string `json:"error"`
			} `json:"offsets"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Errorf("produce answered 200 with %q: %v", body, err)
			continue
		}
		if !assert.Len(t, resp.Offsets, len(batch), "produce answer %s", body) {
			continue
		}
		for i, o := range resp.Offsets {
			if o.ErrorCode == nil && o.Error == nil {
				l.ack(batch[i], fmt.Sprintf("%d/%d", o.Partition, o.Offset))
			} else {
				l.fail(batch[i])
			}
		}
	}
}

// deliver sends req carrying batch and books what happened short of a 200: refused (the server
// is down, nothing was sent), no answer (neither acknowledged nor failed), or another status
// (every record failed). It returns a 200's body for the caller to read per record.
func deliver(client *http.Client, req *http.Request, batch []string, l *ledger) ([]byte, bool) {
	status, body, err := doErr(client, req)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		l.unsend(batch)
		return nil, false
	case err != nil:
		return nil, false
	case status != http.StatusOK:
		l.fail(batch...)
		return nil, false
	}
	return body, true
}

// postPutRecords sends batches to the REST PutRecords route until ctx ends.
func postPutRecords(ctx context.Context, t *testing.T, client *http.Client, api, prefix string, l *ledger) {
	postPutRecordsN(ctx, t, client, api, prefix, l, -1)
}

// postPutRecordsN sends requests batches (all of them if requests < 0) until ctx ends.
func postPutRecordsN(ctx context.Context, t *testing.T, client *http.Client, api, prefix string, l *ledger, requests int) {
	for n := 0; ctx.Err() == nil && n != requests; n++ {
		batch := ids(prefix, n, killBatch)
		var b strings.Builder
		b.WriteString(`{"records":[`)
		for i, id := range batch {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"data":{"id":%q,"pad":%q},"partition-key":%q}`, id, pad, id)
		}
		b.WriteString(`]}`)
		l.send(batch)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+api+"/streams/"+killRESTStream+"/records", strings.NewReader(b.String()))
		req.Header.Set("Content-Type", "application/json")
		body, ok := deliver(client, req, batch, l)
		if !ok {
			continue
		}
		var resp struct {
			Records []struct{ ErrorCode, SequenceNumber, ShardId string }
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Errorf("PutRecords answered 200 with %q: %v", body, err)
			continue
		}
		if !assert.Len(t, resp.Records, len(batch), "PutRecords answer %s", body) {
			continue
		}
		for i, r := range resp.Records {
			if r.ErrorCode == "" && r.SequenceNumber != "" {
				l.ack(batch[i], r.ShardId+"/"+r.SequenceNumber)
			} else {
				l.fail(batch[i])
			}
		}
	}
}

// sdkPutRecords sends batches with aws-sdk-go-v2's PutRecords until ctx ends.
func sdkPutRecords(ctx context.Context, t *testing.T, kc *kinesis.Client, prefix string, l *ledger) {
	for n := 0; ctx.Err() == nil; n++ {
		batch := ids(prefix, n, killBatch)
		entries := make([]ktypes.PutRecordsRequestEntry, len(batch))
		for i, id := range batch {
			entries[i] = ktypes.PutRecordsRequestEntry{PartitionKey: aws.String(id),
				Data: fmt.Appendf(nil, `{"id":%q,"pad":%q}`, id, pad)}
		}
		l.send(batch)
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(killMultiStream), Records: entries})
		if err != nil {
			var re interface{ HTTPStatusCode() int }
			switch {
			case errors.As(err, &re) && re.HTTPStatusCode() != 0:
				l.fail(batch...) // the server answered with an error
			case errors.Is(err, syscall.ECONNREFUSED):
				l.unsend(batch) // the server is down: nothing was sent
				time.Sleep(10 * time.Millisecond)
			default:
				time.Sleep(10 * time.Millisecond) // no answer
			}
			continue
		}
		if !assert.Len(t, out.Records, len(batch)) {
			continue
		}
		for i, r := range out.Records {
			if r.ErrorCode == nil && aws.ToString(r.SequenceNumber) != "" {
				l.ack(batch[i], aws.ToString(r.ShardId)+"/"+aws.ToString(r.SequenceNumber))
			} else {
				l.fail(batch[i])
			}
		}
	}
}

// do sends a request and reads the whole answer; ok is false when there was no complete answer.
func do(client *http.Client, req *http.Request) (status int, body []byte, ok bool) {
	status, body, err := doErr(client, req)
	return status, body, err == nil
}

// doErr is do with the error that kept the answer from arriving.
func doErr(client *http.Client, req *http.Request) (status int, body []byte, err error) {
	resp, err := client.Do(req)
	if err != nil {
		time.Sleep(10 * time.Millisecond) // the server is down: do not spin
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

var sinkObject = regexp.MustCompile(`^(.+)\+(\d+)\+(\d{10})\.json$`)

// waitSinkCaughtUp waits until the sink's objects under topicDir hold every record up to the
// end offsets, checking that each partition's objects are contiguous from offset 0, and returns
// where each id is in them ("partition/offset").
func waitSinkCaughtUp(t *testing.T, ctx context.Context, topicDir, topic string, ends map[int32]int64) map[string][]string {
	t.Helper()
	for {
		found, counts, err := readSink(topicDir, topic)
		require.NoError(t, err)
		caughtUp := true
		for p, end := range ends {
			require.LessOrEqual(t, counts[p], end, "partition %d: the sink holds more records than the topic", p)
			if counts[p] < end {
				caughtUp = false
			}
		}
		if caughtUp {
			return found
		}
		if ctx.Err() != nil {
			t.Fatalf("the sink did not catch up: it holds %v records per partition, the topic %v", counts, ends)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readSink reads a topic's sink objects (partition=N/<topic>+N+<offset>.json, one record a line).
func readSink(topicDir, topic string) (found map[string][]string, counts map[int32]int64, err error) {
	found, counts = map[string][]string{}, map[int32]int64{}
	parts, err := os.ReadDir(topicDir)
	if os.IsNotExist(err) {
		return found, counts, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, pd := range parts {
		p, perr := strconv.ParseInt(strings.TrimPrefix(pd.Name(), "partition="), 10, 32)
		if !pd.IsDir() || !strings.HasPrefix(pd.Name(), "partition=") || perr != nil {
			return nil, nil, fmt.Errorf("unexpected %s in %s", pd.Name(), topicDir)
		}
		ents, err := os.ReadDir(filepath.Join(topicDir, pd.Name()))
		if err != nil {
			return nil, nil, err
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
		var next int64
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				continue // a temporary file of a write in progress
			}
			m := sinkObject.FindStringSubmatch(e.Name())
			if m == nil || m[1] != topic || m[2] != strconv.FormatInt(p, 10) {
				return nil, nil, fmt.Errorf("unexpected object %s in %s", e.Name(), pd.Name())
			}
			if off, _ := strconv.ParseInt(m[3], 10, 64); off != next {
				return nil, nil, fmt.Errorf("object %s does not start where the previous ended (%d)", e.Name(), next)
			}
			f, err := os.Open(filepath.Join(topicDir, pd.Name(), e.Name()))
			if err != nil {
				return nil, nil, err
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 16<<20)
			for sc.Scan() {
				var v idValue
				if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
					f.Close()
					return nil, nil, fmt.Errorf("object %s: line %q: %w", e.Name(), sc.Text(), err)
				}
				found[v.ID] = append(found[v.ID], fmt.Sprintf("%d/%d", p, next))
				next++
			}
			f.Close()
			if err := sc.Err(); err != nil {
				return nil, nil, fmt.Errorf("object %s: %w", e.Name(), err)
			}
		}
		counts[int32(p)] = next
	}
	return found, counts, nil
}

// seqLess reports whether Kinesis sequence number a comes before b ("" before any): they are
// decimal numbers of up to 128 bits.
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// TestServeInterruptFlushesSink posts records through the REST produce route, then presses
// Ctrl-C (SIGINT) on `pinpipe serve` as soon as the last one is acknowledged: the README says
// Ctrl-C flushes the sink, so once the process has exited (status 0) every acknowledged record
// is in the sink's objects exactly once, without a restart.
func TestServeInterruptFlushesSink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	broker, api := freeAddr(t), freeAddr(t)
	// The default --flush-size, 1: one object a record, the connector's default and the slowest.
	srv := startServe(t, dir, broker, api, "--user-id", "soak")
	topic := newLedger()
	client := &http.Client{Timeout: 30 * time.Second}
	const clients, requests = 4, 240 // 19,200 records, posted faster than the sink stores them one an object
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			postProduceN(t.Context(), t, client, api, fmt.Sprintf("i%d", w), topic, requests)
		})
	}
	wg.Wait()
	require.NoError(t, srv.stop(2*time.Minute), "Ctrl-C: exit status; log %s:\n%s", srv.logPath, tail(srv.logPath, 20))

	found, counts, err := readSink(filepath.Join(dir, "s3", "topics", killTopic), killTopic)
	require.NoError(t, err)
	require.Len(t, topic.acked, clients*requests*killBatch, "every record acknowledged")
	t.Logf("the sink holds %v records per partition after Ctrl-C", counts)
	topic.check(t, "sink of "+killTopic+" after Ctrl-C", found)
}

// TestServeStaysUpWhenFilesRunLow runs `pinpipe serve` under an open-files limit of 1024 (soft
// and hard, as in a container) and has an unauthenticated client create streams until none is
// left to create. Each create is either done or refused with a 4xx (Kinesis refuses beyond its
// limits with LimitExceededException); the server stays up, takes a burst of records on both
// sides, its sink stores them, and it starts again on its data under the same limit with every
// acknowledged record there once.
func TestServeStaysUpWhenFilesRunLow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	broker, api := freeAddr(t), freeAddr(t)
	srv := &serveProcess{dir: dir, api: api, broker: broker, maxFiles: 1024,
		args:    []string{"serve", "--data-dir", dir, "--broker", broker, "--api", api, "--user-id", "soak", "--flush-size", "10"},
		logPath: dir + ".serve.log"}
	srv.start(t)
	t.Cleanup(srv.kill)
	client := &http.Client{Timeout: 30 * time.Second}

	// Create streams of 100 shards until one is refused, then of fewer shards, down to 1: a
	// server that opens a file per shard without a bound is left with no file to spare.
	created, refused, n := map[int]int{}, map[int]int{}, 0
	for _, shards := range []int{100, 50, 20, 10, 5, 2, 1} {
		for range 60 {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, fmt.Sprintf("http://%s/streams/attack-%d", api, n),
				strings.NewReader(fmt.Sprintf(`{"ShardCount":%d}`, shards)))
			n++
			req.Header.Set("Content-Type", "application/json")
			status, body, err := doErr(client, req)
			require.NoError(t, err, "create stream %d of %d shards: no answer (serve exited?); log:\n%s", n, shards, tail(srv.logPath, 20))
			if status == http.StatusOK {
				created[shards]++
				continue
			}
			if status >= 400 && status < 500 {
				refused[shards]++
			} else {
				t.Errorf("create stream %d of %d shards: HTTP %d %s: want 200, or a 4xx when over a limit", n, shards, status, body)
			}
			break
		}
	}
	t.Logf("streams created by shard count: %v; refused: %v", created, refused)

	// A burst of clients, each on its own connection, on both sides; then the sink must store
	// what was acknowledged.
	topic, stream := newLedger(), newLedger()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			postProduceN(ctx, t, c, api, fmt.Sprintf("f%d", w), topic, 5)
			postPutRecordsN(ctx, t, c, api, fmt.Sprintf("g%d", w), stream, 5)
		})
	}
	wg.Wait()
	t.Logf("after the creates: %d of %d records produced, %d of %d put acknowledged",
		len(topic.acked), 8*5*killBatch, len(stream.acked), 8*5*killBatch)
	ends := map[int32]int64{0: int64(len(topic.acked))}
	sinkCtx, sinkDone := context.WithTimeout(ctx, 15*time.Second)
	defer sinkDone()
	var watch sync.WaitGroup
	watch.Go(func() { // fail fast if serve exits while the sink catches up
		for sinkCtx.Err() == nil {
			if exited, _ := srv.exited(); exited {
				sinkDone()
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	waitSinkCaughtUp(t, sinkCtx, filepath.Join(dir, "s3", "topics", killTopic), killTopic, ends)
	sinkDone()
	watch.Wait()
	exited, err := srv.exited()
	require.False(t, exited, "serve exited (%v); log:\n%s", err, tail(srv.logPath, 20))
	require.Len(t, topic.acked, 8*5*killBatch, "produced records acknowledged after the creates; log:\n%s", tail(srv.logPath, 20))
	require.Len(t, stream.acked, 8*5*killBatch, "PutRecords acknowledged after the creates; log:\n%s", tail(srv.logPath, 20))

	srv.restart(t) // under the same limit
	postProduceN(ctx, t, client, api, "h", topic, 5)
	require.Len(t, topic.acked, 8*5*killBatch+5*killBatch, "produced records acknowledged after the restart; log:\n%s", tail(srv.logPath, 20))

	found := map[string][]string{}
	require.NoError(t, readStream(ctx, kinesisSDK(api), killRESTStream, func(shard, seq string, data []byte) {
		id := idOf(t, data)
		found[id] = append(found[id], shard+"/"+seq)
	}))
	stream.check(t, "stream "+killRESTStream, found)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(killTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	found = map[string][]string{}
	for n := 0; n < len(topic.acked); {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "consumed %d of %d records", n, len(topic.acked))
		fs.EachRecord(func(r *kgo.Record) {
			n++
			id := idOf(t, r.Value)
			found[id] = append(found[id], fmt.Sprintf("%d/%d", r.Partition, r.Offset))
		})
	}
	topic.check(t, "topic "+killTopic, found)
}
