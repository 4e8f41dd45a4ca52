package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pinpipe/pinpipe/progress"
	"github.com/pinpipe/pinpipe/record"
)

// Mode is the path the emulator posts to: the Kafka REST proxy routes or the Kinesis routes.
type Mode string

const (
	// Batch posts to POST {url}/topics/<user_id>.<kind> (Kafka REST proxy v2).
	Batch Mode = "batch"
	// Stream posts to PUT {url}/streams/streaming-<user_id>-<kind>/record (or /records).
	Stream Mode = "stream"
)

// ParseMode accepts "batch" or "stream".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Batch, Stream:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want batch or stream", s)
}

// Source hands out random posts: the pin, geo and user rows that share one index. It must be
// safe for concurrent use.
type Source interface {
	Random(ctx context.Context) (record.Post, error)
}

// Limits and defaults of Config.
const (
	DefaultMaxAttempts    = 8
	DefaultBackoffBase    = 100 * time.Millisecond
	DefaultBackoffMax     = 10 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	DefaultDrainTimeout   = 30 * time.Second
	DefaultConcurrency    = 8
	// MaxBatch is the most records Kinesis PutRecords takes in one request.
	MaxBatch = 500
	// batchLinger is how long a partly filled stream batch waits for more records before it is
	// sent anyway, so a low rate does not hold records back.
	batchLinger = 200 * time.Millisecond
)

// Config says where and how to post. Zero values mean the defaults noted on each field.
type Config struct {
	InvokeURL string // the API's base URL, e.g. https://abc.execute-api.us-east-1.amazonaws.com/prod
	UserID    string // names the topics and streams (record.Topic, record.Stream)
	Mode      Mode   // Batch or Stream

	Rate     float64       // posts per second; 0 = as fast as possible
	Count    int64         // posts to send (each post = 3 records: pin, geo, user); 0 = unbounded
	Duration time.Duration // stop sending after this long; 0 = unbounded

	// Concurrency bounds the requests in flight (default DefaultConcurrency). A record waiting
	// for its retry keeps its slot, so a throttling API slows the emulator down (back-pressure)
	// instead of letting retries pile up behind new posts.
	Concurrency int
	BatchSize   int // records per request; more than 1 only in Stream mode (PutRecords, /records)

	Source     Source
	APIKey     string       // sent as x-api-key when not empty
	SigV4      *SigV4       // signs every request (IAM-authorised APIs) when set
	HTTPClient *http.Client // default: a pooled client sized for Concurrency
	Progress   io.Writer    // live progress line, drawn only when this is a terminal

	MaxAttempts    int           // sends of one record, the first included (default 8)
	BackoffBase    time.Duration // first retry delay before jitter (default 100ms)
	BackoffMax     time.Duration // cap of the exponential backoff (default 10s)
	RequestTimeout time.Duration // one request, answer included (default 10s)
	// DrainTimeout is how long, once sending stops (Ctrl-C, Duration or Count reached), records
	// already sent may still be retried before they are given up (default 30s).
	DrainTimeout time.Duration
}

// Stats counts records (not posts, not requests). At the end of Run, Sent = Accepted + Failed.
type Stats struct {
	Sent     int64 // records sent at least once
	Accepted int64 // records the API confirmed
	Retried  int64 // re-sends (a record resent twice counts twice)
	Failed   int64 // records given up on
	Posts    int64 // posts whose records were sent
	Requests int64 // HTTP requests made
	Elapsed  time.Duration
}

func (s Stats) String() string {
	return fmt.Sprintf("%s sent (%s), %d accepted, %d retried, %d failed in %s (%.0f records/s)",
		progress.Count(s.Sent, "record"), progress.Count(s.Posts, "post"), s.Accepted, s.Retried, s.Failed, s.Elapsed.Round(time.Millisecond),
		progress.Rate(s.Accepted, s.Elapsed))
}

// ErrGaveUp is wrapped by Run's error when some records were given up on.
var ErrGaveUp = errors.New("records given up")

func (c *Config) validate() error {
	u, err := url.Parse(c.InvokeURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invoke URL %q: want http(s)://host[/stage]", c.InvokeURL)
	}
	if err := record.ValidUserID(c.UserID); err != nil {
		return err
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return err
	}
	switch {
	case c.Rate < 0 || c.Rate != c.Rate:
		return fmt.Errorf("rate %v: want 0 (as fast as possible) or more", c.Rate)
	case c.Count < 0:
		return fmt.Errorf("count %d: want 0 (unbounded) or more", c.Count)
	case c.Duration < 0:
		return fmt.Errorf("duration %v: want 0 (unbounded) or more", c.Duration)
	case c.Concurrency < 0 || c.Concurrency > 1024:
		return fmt.Errorf("concurrency %d: want 1 to 1024", c.Concurrency)
	case c.BatchSize < 0 || c.BatchSize > MaxBatch:
		return fmt.Errorf("batch %d: want 1 to %d", c.BatchSize, MaxBatch)
	case c.BatchSize > 1 && c.Mode != Stream:
		return fmt.Errorf("batch %d: only stream mode sends several records per request (PutRecords)", c.BatchSize)
	case c.Source == nil:
		return errors.New("no source")
	case c.MaxAttempts < 0:
		return fmt.Errorf("max attempts %d: want 1 or more", c.MaxAttempts)
	}
	return nil
}

func (c *Config) setDefaults() {
	c.InvokeURL = strings.TrimRight(c.InvokeURL, "/")
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = NewHTTPClient(c.Concurrency)
	}
}

// NewHTTPClient returns a client that keeps up to concurrency connections open to the API, so
// every request reuses a warm connection (the standard default keeps only 2 idle per host).
func NewHTTPClient(concurrency int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          concurrency + 4,
		MaxIdleConnsPerHost:   concurrency + 4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}}
}

// item is one record ready to send: its kind, its partition key (the index) and its JSON.
type item struct {
	key  string
	data []byte
}

// job is one request's worth of records, all of one kind.
type job struct {
	kind  record.Kind
	items []item
}

type counters struct {
	sent, accepted, retried, failed, posts, requests atomic.Int64
}

type runner struct {
	cfg      Config
	c        counters
	errMu    sync.Mutex
	firstErr error // first give-up reason, for the summary
	urls     map[record.Kind]string
	streams  map[record.Kind]string
}

// Run posts records until Count posts are sent, Duration has passed or ctx is cancelled, then
// waits for the records in flight (retrying them for at most DrainTimeout) and returns the
// counts. The error wraps ErrGaveUp when any record was given up on, and reports a source that
// kept failing; a cancelled ctx alone is not an error.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if err := cfg.validate(); err != nil {
		return Stats{}, err
	}
	cfg.setDefaults()
	r := &runner{cfg: cfg, urls: map[record.Kind]string{}, streams: map[record.Kind]string{}}
	for _, k := range record.Kinds {
		if cfg.Mode == Batch {
			r.urls[k] = cfg.InvokeURL + "/topics/" + record.Topic(cfg.UserID, k)
			continue
		}
		r.streams[k] = record.Stream(cfg.UserID, k)
		suffix := "/record"
		if cfg.BatchSize > 1 {
			suffix = "/records"
		}
		r.urls[k] = cfg.InvokeURL + "/streams/" + r.streams[k] + suffix
	}

	start := time.Now()
	// sendCtx governs requests and retry waits. It outlives ctx by DrainTimeout so that Ctrl-C
	// stops the sending of new records but lets the ones in flight finish; it keeps ctx's
	// deadline (a Lambda's end) if there is one.
	var sendCtx context.Context
	var cancelSend context.CancelFunc
	if dl, ok := ctx.Deadline(); ok {
		sendCtx, cancelSend = context.WithDeadline(context.WithoutCancel(ctx), dl)
	} else {
		sendCtx, cancelSend = context.WithCancel(context.WithoutCancel(ctx))
	}
	defer cancelSend()
	// runCtx governs the taking of new posts.
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	if cfg.Duration > 0 {
		var cancelDur context.CancelFunc
		runCtx, cancelDur = context.WithTimeout(runCtx, cfg.Duration)
		defer cancelDur()
	}
	finished := make(chan struct{})
	go func() {
		select {
		case <-runCtx.Done():
			select {
			case <-time.After(cfg.DrainTimeout):
				cancelSend()
			case <-finished:
			}
		case <-finished:
		}
	}()

	line := progress.Start(cfg.Progress, 0, func() string { return r.progressLine(start) })

	posts := make(chan record.Post, cfg.Concurrency)
	jobs := make(chan job, cfg.Concurrency)
	var sourceErr error
	go func() {
		defer close(posts)
		sourceErr = r.produce(runCtx, posts)
		if sourceErr != nil {
			cancelRun(sourceErr)
		}
	}()
	go func() {
		defer close(jobs)
		r.dispatch(runCtx, posts, jobs)
	}()
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{r: r}
			for j := range jobs {
				w.send(sendCtx, j)
			}
		}()
	}
	wg.Wait()
	close(finished)
	line.Stop()

	st := r.stats(time.Since(start))
	var errs []error
	if sourceErr != nil {
		errs = append(errs, fmt.Errorf("source: %w", sourceErr))
	}
	if st.Failed > 0 {
		r.errMu.Lock()
		first := r.firstErr
		r.errMu.Unlock()
		errs = append(errs, fmt.Errorf("%w: %d of %d records (first: %v)", ErrGaveUp, st.Failed, st.Sent, first))
	}
	return st, errors.Join(errs...)
}

func (r *runner) stats(elapsed time.Duration) Stats {
	return Stats{
		Sent: r.c.sent.Load(), Accepted: r.c.accepted.Load(), Retried: r.c.retried.Load(),
		Failed: r.c.failed.Load(), Posts: r.c.posts.Load(), Requests: r.c.requests.Load(),
		Elapsed: elapsed,
	}
}

func (r *runner) progressLine(start time.Time) string {
	st := r.stats(time.Since(start))
	s := fmt.Sprintf("sent %d  accepted %d  retried %d  failed %d  %.0f records/s",
		st.Sent, st.Accepted, st.Retried, st.Failed, progress.Rate(st.Accepted, st.Elapsed))
	if r.cfg.Count > 0 {
		s += "  ETA " + progress.FormatETA(progress.ETA(st.Posts, r.cfg.Count, st.Elapsed))
	}
	return s
}

// produce takes posts from the source at the configured rate until Count, or until ctx ends.
// A source error is retried with backoff; it is returned when it persists.
func (r *runner) produce(ctx context.Context, out chan<- record.Post) error {
	var interval time.Duration
	if r.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / r.cfg.Rate)
	}
	next := time.Now()
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
	for n := int64(0); r.cfg.Count == 0 || n < r.cfg.Count; n++ {
		if interval > 0 {
			now := time.Now()
			if wait := next.Sub(now); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return nil
				}
			} else if -wait > time.Second {
				// Fell behind (a slow source or API): do not burst to catch up.
				next = now
			}
			next = next.Add(interval)
		}
		if ctx.Err() != nil {
			return nil
		}
		p, err := r.random(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// random reads one post, retrying a failing source (a database restarting, a dropped
// connection) like a failing request.
func (r *runner) random(ctx context.Context) (record.Post, error) {
	for attempt := 1; ; attempt++ {
		p, err := r.cfg.Source.Random(ctx)
		if err == nil || attempt >= r.cfg.MaxAttempts || ctx.Err() != nil {
			return p, err
		}
		if !sleep(ctx, r.backoff(attempt, 0)) {
			return p, err
		}
	}
}

// dispatch turns posts into jobs: one job per record, or in batched stream mode one job per
// BatchSize records of a kind (sent early when a batch has waited batchLinger). Once ctx ends it
// drops the posts still queued, so that a stop sends no new post but completes the ones begun.
func (r *runner) dispatch(ctx context.Context, posts <-chan record.Post, jobs chan<- job) {
	if r.cfg.BatchSize <= 1 {
		for p := range posts {
			if ctx.Err() != nil {
				continue
			}
			r.c.posts.Add(1)
			for _, k := range record.Kinds {
				jobs <- job{kind: k, items: []item{r.encode(&p, k)}}
			}
		}
		return
	}
	pending := map[record.Kind][]item{}
	flush := func() {
		for _, k := range record.Kinds {
			if len(pending[k]) > 0 {
				jobs <- job{kind: k, items: pending[k]}
				pending[k] = nil
			}
		}
	}
	linger := time.NewTimer(batchLinger)
	defer linger.Stop()
	for {
		select {
		case p, ok := <-posts:
			if !ok {
				flush()
				return
			}
			if ctx.Err() != nil {
				continue
			}
			r.c.posts.Add(1)
			for _, k := range record.Kinds {
				if pending[k] == nil {
					pending[k] = make([]item, 0, r.cfg.BatchSize)
				}
				pending[k] = append(pending[k], r.encode(&p, k))
				if len(pending[k]) == r.cfg.BatchSize {
					jobs <- job{kind: k, items: pending[k]}
					pending[k] = nil
				}
			}
		case <-linger.C:
			flush()
			linger.Reset(batchLinger)
		}
	}
}

// encode marshals the row of kind k. Rows are plain structs of strings and numbers, so
// marshalling cannot fail.
func (r *runner) encode(p *record.Post, k record.Kind) item {
	var v any
	var idx int
	switch k {
	case record.Pin:
		v, idx = &p.Pin, p.Pin.Index
	case record.Geo:
		v, idx = &p.Geo, p.Geo.Ind
	default:
		v, idx = &p.User, p.User.Ind
	}
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("emulator: marshal %s row: %v", k, err))
	}
	return item{key: strconv.Itoa(idx), data: data}
}

// backoff is the wait before retry number attempt: full jitter over a capped exponential, but
// never less than what the server asked for in Retry-After.
func (r *runner) backoff(attempt int, retryAfter time.Duration) time.Duration {
	ceil := r.cfg.BackoffMax
	if attempt < 40 {
		ceil = min(r.cfg.BackoffBase<<(attempt-1), r.cfg.BackoffMax)
	}
	d := time.Duration(rand.Int64N(int64(ceil)) + 1)
	return max(d, retryAfter)
}

// sleep waits d or until ctx ends; it reports whether the full wait happened.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *runner) giveUp(n int, reason error) {
	r.c.failed.Add(int64(n))
	r.errMu.Lock()
	if r.firstErr == nil {
		r.firstErr = reason
	}
	r.errMu.Unlock()
}

// worker sends jobs one at a time, reusing its buffers.
type worker struct {
	r       *runner
	body    bytes.Buffer
	resp    bytes.Buffer
	verdict []verdict
	again   []item
}

// send delivers one job: it posts the records, then resends only those not accepted, with
// backoff, until all are accepted, given up as refused, or out of attempts.
func (w *worker) send(ctx context.Context, j job) {
	r := w.r
	r.c.sent.Add(int64(len(j.items)))
	pending := j.items
	for attempt := 1; ; attempt++ {
		res, retryAfter, err := w.post(ctx, j.kind, pending)
		var again []item
		if err != nil {
			again = pending
		} else {
			again = w.again[:0]
			var acc int64
			for i, v := range res {
				switch v.out {
				case accepted:
					acc++
				case retry:
					again = append(again, pending[i])
					err = errors.New(v.reason)
				case fatal:
					r.giveUp(1, fmt.Errorf("%s record %s: %s", j.kind, pending[i].key, v.reason))
				}
			}
			r.c.accepted.Add(acc)
		}
		w.again = again[:0]
		if len(again) == 0 {
			return
		}
		if attempt >= r.cfg.MaxAttempts || ctx.Err() != nil {
			r.giveUp(len(again), fmt.Errorf("%s record %s after %d attempts: %w", j.kind, again[0].key, attempt, err))
			return
		}
		if !sleep(ctx, r.backoff(attempt, retryAfter)) {
			r.giveUp(len(again), fmt.Errorf("%s record %s: stopped while waiting to retry: %w", j.kind, again[0].key, err))
			return
		}
		r.c.retried.Add(int64(len(again)))
		// again aliases w.again, which the next round overwrites; pending must not.
		pending = append(pending[:0:0], again...)
	}
}

// maxResponse bounds how much of an answer is read; API answers are small.
const maxResponse = 1 << 20

// post makes one request for items and returns one verdict per item. A transport failure (no
// connection, timeout) is returned as err: every item is then to be retried.
func (w *worker) post(ctx context.Context, kind record.Kind, items []item) ([]verdict, time.Duration, error) {
	r := w.r
	w.buildBody(kind, items)
	method, ctype := http.MethodPost, "application/vnd.kafka.json.v2+json"
	if r.cfg.Mode == Stream {
		method, ctype = http.MethodPut, "application/json"
	}
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, r.urls[kind], bytes.NewReader(w.body.Bytes()))
	if err != nil {
		return nil, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", ctype)
	if r.cfg.APIKey != "" {
		req.Header.Set("x-api-key", r.cfg.APIKey)
	}
	if r.cfg.SigV4 != nil {
		if err := r.cfg.SigV4.Sign(rctx, req, w.body.Bytes()); err != nil {
			return nil, 0, err
		}
	}
	r.c.requests.Add(1)
	resp, err := r.cfg.HTTPClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", r.cfg.RequestTimeout, err)
		}
		return nil, 0, err // wraps a *url.Error, which names the method and URL
	}
	defer resp.Body.Close()
	w.resp.Reset()
	if _, err := w.resp.ReadFrom(io.LimitReader(resp.Body, maxResponse)); err != nil {
		return nil, 0, fmt.Errorf("%s %s: read answer: %w", method, r.urls[kind], err)
	}
	var retryAfter time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	w.verdict = checkResponse(r.cfg.Mode, r.cfg.BatchSize > 1, resp.StatusCode, w.resp.Bytes(), len(items), w.verdict)
	return w.verdict, retryAfter, nil
}

// buildBody writes the request body of the HTTP contract (DESIGN.md) into w.body. Names and
// keys are made of [a-z0-9.-] (record.ValidUserID, decimal indices), so they need no escaping.
func (w *worker) buildBody(kind record.Kind, items []item) {
	b := &w.body
	b.Reset()
	switch {
	case w.r.cfg.Mode == Batch:
		b.WriteString(`{"records":[`)
		for i, it := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"value":`)
			b.Write(it.data)
			b.WriteByte('}')
		}
		b.WriteString(`]}`)
	case w.r.cfg.BatchSize > 1:
		b.WriteString(`{"records":[`)
		for i, it := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"data":`)
			b.Write(it.data)
			b.WriteString(`,"partition-key":"`)
			b.WriteString(it.key)
			b.WriteString(`"}`)
		}
		b.WriteString(`]}`)
	default:
		it := items[0]
		b.WriteString(`{"StreamName":"`)
		b.WriteString(w.r.streams[kind])
		b.WriteString(`","Data":`)
		b.Write(it.data)
		b.WriteString(`,"PartitionKey":"`)
		b.WriteString(it.key)
		b.WriteString(`"}`)
	}
}
