package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SinkConfig configures the S3 sink.
type SinkConfig struct {
	Brokers []string
	Topics  []string
	// Group is the consumer group (default "pinpipe-s3-sink").
	Group string
	Store ObjectStore
	// FlushSize cuts an object every FlushSize records (default 1, as the original's flush.size).
	FlushSize int
	// RotateInterval cuts an object whose first record was buffered that long ago, so a tail
	// shorter than FlushSize is written too (0: only FlushSize and shutdown cut objects).
	RotateInterval time.Duration
	// MaxBackoff is the longest wait between retries of a failed store operation (default 5s);
	// the first retry waits 50ms and each next one twice as long.
	MaxBackoff time.Duration
	// Logf reports what the sink does (nil: quiet).
	Logf func(format string, args ...any)
}

// ErrPermanent, wrapped by an ObjectStore's error, tells the sink not to retry: the error will
// not pass by itself (Run returns it).
var ErrPermanent = errors.New("permanent store error")

// minBackoff is the wait before the first retry of a failed store operation.
const minBackoff = 50 * time.Millisecond

// opTimeout bounds one store operation or offset commit, so a hung store is retried too.
const opTimeout = time.Minute

// Sink is the Kafka-to-S3 sink in the Confluent S3 connector's layout:
// topics/<topic>/partition=<p>/<topic>+<p>+<start offset, 10 digits>.json, newline-delimited
// record values. It is exactly once across crashes:
//   - an object is written whole (rename or S3 PUT) and made durable before the offsets after it
//     are committed to the consumer group;
//   - its name is its first record's offset, so after a crash the sink resumes at the committed
//     offset and finds any object it wrote but did not commit under the very key it would write;
//     it checks that object against the log, line by line, adopts it (commits past it) and never
//     writes that key again. An object that disagrees with the log (planted there by someone
//     else) is copied aside under conflicts/ with a warning, then the key gets the log's records.
//
// A failed store operation (a full disk, no file descriptors left, an I/O error, an S3 outage)
// never stops the sink: it retries with capped exponential backoff, reports itself unhealthy
// through Health meanwhile, and is healthy again once an operation succeeds.
type Sink struct {
	cfg SinkConfig

	mu      sync.Mutex
	parts   map[tp]*sinkPart
	written int64 // objects written
	records int64 // records in committed objects
	changed chan struct{}
	pending []pendingCommit
	stopped chan struct{} // closed when Run returns, runErr then says why
	runErr  error

	flushReq chan chan error
	stop     <-chan struct{} // Run's ctx.Done(): retries end

	health *health // the store's faults
}

type tp struct {
	topic string
	part  int32
}

// sinkPart is the object being built for one partition.
type sinkPart struct {
	start    int64 // offset of the first buffered record
	buf      bytes.Buffer
	n        int
	last     *kgo.Record
	first    time.Time // when the first record was buffered
	recover  bool      // just assigned: an object may exist at the committed offset
	adopt    []byte    // content of an existing object being checked against the log
	adoptN   int       // its line count
	adoptKey string
}

// NewSink validates cfg and returns a sink; Run drives it.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if cfg.Group == "" {
		cfg.Group = "pinpipe-s3-sink"
	}
	if cfg.FlushSize == 0 {
		cfg.FlushSize = 1
	}
	switch {
	case cfg.FlushSize < 0:
		return nil, fmt.Errorf("sink: flush size %d: must be at least 1", cfg.FlushSize)
	case cfg.RotateInterval < 0:
		return nil, fmt.Errorf("sink: rotate interval %s: must not be negative", cfg.RotateInterval)
	case cfg.Store == nil:
		return nil, errors.New("sink: no object store")
	case len(cfg.Topics) == 0 || len(cfg.Brokers) == 0:
		return nil, errors.New("sink: no topics or brokers")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	return &Sink{cfg: cfg, parts: map[tp]*sinkPart{},
		changed: make(chan struct{}), flushReq: make(chan chan error), stopped: make(chan struct{}),
		health: &health{part: "sink", tries: "attempts", logf: cfg.Logf}}, nil
}

// ObjectKey is the Confluent S3 connector's key of the object starting at offset.
func ObjectKey(topic string, partition int32, start int64) string {
	return fmt.Sprintf("topics/%s/partition=%d/%s+%d+%010d.json", topic, partition, topic, partition, start)
}

// Stats returns the objects written and records committed by this run.
func (s *Sink) Stats() (objects, records int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written, s.records
}

// Health returns nil while the sink can store, or the store error it is retrying.
func (s *Sink) Health() error { return s.health.status(fmt.Sprintf("cannot write to %s", s.cfg.Store)) }

// retry runs a store operation until it succeeds, waiting between attempts with capped
// exponential backoff, and keeps Health up to date. It gives up (returning the error) when the
// error is ErrPermanent or Run's context ends; then only a restart redoes the step, which
// costs time, not correctness.
func (s *Sink) retry(ctx context.Context, fn func(context.Context) error) error {
	wait := minBackoff
	for {
		actx, cancel := context.WithTimeout(ctx, opTimeout)
		err := fn(actx)
		cancel()
		s.health.after(err)
		if err == nil || errors.Is(err, ErrPermanent) || ctx.Err() != nil {
			return err
		}
		select {
		case <-s.stop:
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, s.cfg.MaxBackoff)
	}
}

// Run consumes until ctx is done, then writes what is buffered, commits and returns nil.
// A failing store is retried (see Sink); Run returns an error when the broker fails, when the
// store fails permanently, or when the store still fails as ctx ends.
func (s *Sink) Run(ctx context.Context) (err error) {
	s.stop = ctx.Done()
	defer func() {
		s.mu.Lock()
		s.runErr = err
		if s.runErr == nil {
			s.runErr = errors.New("sink stopped")
		}
		s.mu.Unlock()
		close(s.stopped)
	}()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.assign(m) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.revoke(m) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.revoke(m) }),
	)
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	// Closing leaves the group, which waits for a rebalance that BlockRebalanceOnPoll holds.
	defer func() { cl.AllowRebalance(); cl.Close() }()

	tick := 500 * time.Millisecond
	if r := s.cfg.RotateInterval; r > 0 && r/2 < tick {
		tick = max(r/2, 100*time.Millisecond)
	}
	for {
		var flushDone chan error
		select {
		case flushDone = <-s.flushReq:
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, tick)
		fetches := cl.PollRecords(pctx, 50000)
		cancel()
		// Objects and commits finish even when ctx ends meanwhile: a half-done step is only
		// redone after a restart, which costs time, not correctness. Each store operation and
		// the commit have their own time limit.
		wctx := context.WithoutCancel(ctx)
		stopping := ctx.Err() != nil
		if !stopping && fetches.IsClientClosed() {
			return errors.New("sink: kafka client closed")
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				s.cfg.Logf("sink: fetch %s/%d: %v", t, p, err)
			}
		})
		// On shutdown keep what was fetched, write everything buffered and commit.
		err := s.process(wctx, fetches, stopping || flushDone != nil)
		if err == nil {
			err = s.commit(wctx, cl)
		}
		if flushDone != nil {
			flushDone <- err
		}
		if err != nil || stopping {
			return err
		}
		cl.AllowRebalance()
	}
}

// Flush asks the running sink to write every buffered record now (objects shorter than
// FlushSize) and commit. It returns once that is done.
func (s *Sink) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case s.flushReq <- done:
	case <-s.stopped:
		return s.stopErr()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-s.stopped:
		return s.stopErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sink) stopErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runErr
}

// Committed returns the group's committed offsets (next to read) of the sink's topics, as the
// broker has them.
func (s *Sink) Committed(ctx context.Context) (map[string]map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.cfg.Brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).FetchOffsetsForTopics(ctx, s.cfg.Group, s.cfg.Topics...)
	if err == nil {
		err = resp.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[string]map[int32]int64{}, nil // the sink has not joined yet: nothing committed
	}
	if err != nil {
		return nil, fmt.Errorf("sink: committed offsets of group %s: %w", s.cfg.Group, err)
	}
	out := map[string]map[int32]int64{}
	for t, ps := range resp {
		out[t] = map[int32]int64{}
		for p, o := range ps {
			out[t][p] = o.At
		}
	}
	return out, nil
}

// WaitFor waits until the group has committed at least the given end offsets (from
// EndOffsets), asking the sink to flush partial objects while it waits.
func (s *Sink) WaitFor(ctx context.Context, ends map[string]map[int32]int64) error {
	_, err := s.waitFor(ctx, ends, nil)
	return err
}

// Drain is WaitFor for shutdown: it reports the records still to write, per topic, to progress
// about once a second, and when ctx ends first it returns what was left with ctx's error.
func (s *Sink) Drain(ctx context.Context, ends map[string]map[int32]int64, progress func(left map[string]int64)) (map[string]int64, error) {
	left, err := s.waitFor(ctx, ends, progress)
	if err != nil && ctx.Err() != nil {
		// The bound hit: count what is left as the broker has it now.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if committed, cerr := s.Committed(cctx); cerr == nil {
			left = leftOf(ends, committed)
		}
		cancel()
	}
	return left, err
}

// leftOf counts, per topic, the records below ends that are not committed.
func leftOf(ends map[string]map[int32]int64, committed map[string]map[int32]int64) map[string]int64 {
	left := map[string]int64{}
	for t, m := range ends {
		for p, end := range m {
			if c := max(committed[t][p], 0); end > c {
				left[t] += end - c
			}
		}
	}
	return left
}

func (s *Sink) waitFor(ctx context.Context, ends map[string]map[int32]int64, progress func(left map[string]int64)) (map[string]int64, error) {
	var left map[string]int64
	lastReport := time.Now()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		committed, err := s.Committed(ctx)
		if err != nil {
			return left, err
		}
		if left = leftOf(ends, committed); len(left) == 0 {
			return left, nil
		}
		if progress != nil && time.Since(lastReport) >= time.Second {
			progress(left)
			lastReport = time.Now()
		}
		if err := s.Flush(ctx); err != nil {
			return left, fmt.Errorf("sink flush: %w", err)
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return left, ctx.Err()
		}
	}
}

func (s *Sink) assign(m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			s.parts[tp{t, p}] = &sinkPart{recover: true}
		}
	}
}

func (s *Sink) revoke(m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Buffered records were never committed: whoever gets the partition reads them again.
	for t, ps := range m {
		for _, p := range ps {
			delete(s.parts, tp{t, p})
		}
	}
}

// line is a record value as one line: the JSON as produced when it has no line break, compact
// JSON when it has, or (for a value some other producer wrote that is not JSON) a JSON string
// of it, so one line is always one record.
func line(v []byte) []byte {
	if v == nil {
		return []byte("null")
	}
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 && json.Valid(v) {
		return v
	}
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		return b.Bytes()
	}
	q, _ := json.Marshal(string(v))
	return q
}

func (s *Sink) part(topic string, p int32) *sinkPart {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.parts[tp{topic, p}]
	if sp == nil { // assigned before the callback ran (cannot happen with BlockRebalanceOnPoll)
		sp = &sinkPart{recover: true}
		s.parts[tp{topic, p}] = sp
	}
	return sp
}

// process buffers fetched records, writing each object as it fills; with all, it also writes
// partial objects (shutdown, Flush) and those older than the rotate interval.
func (s *Sink) process(ctx context.Context, fetches kgo.Fetches, all bool) error {
	var err error
	fetches.EachPartition(func(f kgo.FetchTopicPartition) {
		if err != nil {
			return
		}
		sp := s.part(f.Topic, f.Partition)
		for _, r := range f.Records {
			if err = s.add(ctx, sp, r); err != nil {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	var due []struct {
		k  tp
		sp *sinkPart
	}
	for k, sp := range s.parts {
		if sp.n > 0 && sp.adopt == nil && (all || s.cfg.RotateInterval > 0 && time.Since(sp.first) >= s.cfg.RotateInterval) {
			due = append(due, struct {
				k  tp
				sp *sinkPart
			}{k, sp})
		}
	}
	s.mu.Unlock()
	for _, d := range due {
		if err := s.write(ctx, d.k.topic, d.k.part, d.sp); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) add(ctx context.Context, sp *sinkPart, r *kgo.Record) error {
	if sp.n == 0 {
		sp.start, sp.first = r.Offset, time.Now()
		if sp.recover {
			// The first object after an assignment may have been written before a crash.
			key := ObjectKey(r.Topic, r.Partition, r.Offset)
			var body []byte
			err := s.retry(ctx, func(ctx context.Context) (err error) {
				body, err = s.cfg.Store.Get(ctx, key)
				if errors.Is(err, os.ErrNotExist) {
					body, err = nil, nil
				}
				return err
			})
			switch {
			case err != nil:
				return fmt.Errorf("sink: recover %s: %w", key, err)
			case body == nil:
				sp.recover = false
			default:
				sp.adopt, sp.adoptKey = body, key
				sp.adoptN = bytes.Count(body, []byte{'\n'})
				if sp.adoptN == 0 || body[len(body)-1] != '\n' {
					if err := s.moveAside(ctx, sp, "is not newline-delimited records"); err != nil {
						return err
					}
				}
			}
		}
	}
	sp.buf.Write(line(r.Value))
	sp.buf.WriteByte('\n')
	sp.n++
	sp.last = r
	if sp.adopt != nil {
		if sp.buf.Len() <= len(sp.adopt) && bytes.Equal(sp.buf.Bytes(), sp.adopt[:sp.buf.Len()]) {
			if sp.n == sp.adoptN {
				s.cfg.Logf("sink: adopted %s (%d records written before a restart)", sp.adoptKey, sp.n)
				s.done(sp, false)
			}
			return nil
		}
		if err := s.moveAside(ctx, sp, fmt.Sprintf("differs from the log at offset %d", r.Offset)); err != nil {
			return err
		}
	}
	if sp.n >= s.cfg.FlushSize {
		return s.write(ctx, r.Topic, r.Partition, sp)
	}
	return nil
}

// ConflictsPrefix is where the sink moves an object it found at its next key that disagrees
// with the log: someone else wrote it, and it is kept, not overwritten.
const ConflictsPrefix = "conflicts/"

// moveAside copies the object being adopted to ConflictsPrefix (durably, before the sink may
// overwrite its key with the log's records) and warns naming both places. A copy already there
// with the same content (a restart after a crash in between) is reused.
func (s *Sink) moveAside(ctx context.Context, sp *sinkPart, why string) error {
	body, key := sp.adopt, sp.adoptKey
	aside := ConflictsPrefix + key
	for i := 2; ; i++ {
		var got []byte
		err := s.retry(ctx, func(ctx context.Context) (err error) {
			got, err = s.cfg.Store.Get(ctx, aside)
			if errors.Is(err, os.ErrNotExist) {
				got, err = nil, nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("sink: move %s aside: %w", key, err)
		}
		if got == nil || bytes.Equal(got, body) {
			break
		}
		aside = fmt.Sprintf("%s%s.%d", ConflictsPrefix, key, i)
	}
	err := s.retry(ctx, func(ctx context.Context) error { return s.cfg.Store.Put(ctx, aside, body) })
	if err == nil {
		err = s.retry(ctx, s.cfg.Store.Sync)
	}
	if err != nil {
		return fmt.Errorf("sink: move %s aside: %w", key, err)
	}
	root := strings.TrimSuffix(s.cfg.Store.String(), "/")
	s.cfg.Logf("sink: warning: %s/%s %s: someone else wrote it; moved it aside to %s/%s, the log's records go to its key",
		root, key, why, root, aside)
	sp.adopt, sp.adoptN, sp.recover = nil, 0, false
	return nil
}

func (s *Sink) write(ctx context.Context, topic string, p int32, sp *sinkPart) error {
	key := ObjectKey(topic, p, sp.start)
	if err := s.retry(ctx, func(ctx context.Context) error { return s.cfg.Store.Put(ctx, key, sp.buf.Bytes()) }); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	s.done(sp, true)
	return nil
}

// done closes the object: its records are ready to commit.
func (s *Sink) done(sp *sinkPart, written bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if written {
		s.written++
	}
	s.pending = append(s.pending, pendingCommit{sp.last.Topic, sp.last.Partition, sp.last.Offset + 1, sp.last.LeaderEpoch, sp.n})
	sp.buf.Reset()
	sp.n, sp.adopt, sp.adoptN = 0, nil, 0
	// After adopting an object the next may exist too; after writing one, none after it can.
	sp.recover = sp.recover && !written
}

type pendingCommit struct {
	topic string
	part  int32
	next  int64
	epoch int32
	tally int
}

// commit makes the written objects durable, then commits the offsets after them.
func (s *Sink) commit(ctx context.Context, cl *kgo.Client) error {
	s.mu.Lock()
	pend := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(pend) == 0 {
		return nil
	}
	if err := s.retry(ctx, s.cfg.Store.Sync); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	offs := map[string]map[int32]kgo.EpochOffset{}
	for _, c := range pend {
		if offs[c.topic] == nil {
			offs[c.topic] = map[int32]kgo.EpochOffset{}
		}
		offs[c.topic][c.part] = kgo.EpochOffset{Epoch: c.epoch, Offset: c.next}
	}
	var cerr error
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		return fmt.Errorf("sink: commit offsets: %w", cerr)
	}
	s.mu.Lock()
	for _, c := range pend {
		s.records += int64(c.tally)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}
