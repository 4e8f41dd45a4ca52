package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pinpipe/pinpipe/record"
)

// Defaults of Config, also the flags' defaults.
const (
	DefaultUserID     = "demo"
	DefaultDataDir    = "pinpipe-data"
	DefaultBrokerAddr = "127.0.0.1:9092"
	DefaultAPIAddr    = "127.0.0.1:8082"
	// DefaultShards is the shard count of the three streams created at start.
	DefaultShards = 1
	// DefaultDrain bounds how long Close waits for the sink to write the topics' backlog.
	DefaultDrain = 30 * time.Second
)

// Config configures the pipeline on one machine.
type Config struct {
	UserID  string
	DataDir string // kafka/, kinesis/, s3/ and stream.duckdb live here
	// BrokerAddr and APIAddr are host:port (port 0 picks a free one).
	BrokerAddr, APIAddr string
	// KinesisEndpoint, when set, forwards the Kinesis routes (and the stream cleaner's reads) to
	// that Kinesis API instead of the embedded store.
	KinesisEndpoint string
	// SinkStore is where the sink writes; default a directory <DataDir>/s3.
	SinkStore      ObjectStore
	FlushSize      int
	RotateInterval time.Duration
	// StreamRetention is how long the embedded stream store keeps a record (default 24h).
	StreamRetention time.Duration
	// S3Addr, when set (host:port), serves the sink directory as the S3 bucket SinkBucket there,
	// read-only unless S3Writable.
	S3Addr     string
	S3Writable bool
	// Drain bounds how long Close waits for the sink to catch up with the topics (default
	// DefaultDrain); what it leaves stays in the broker for the next start.
	Drain time.Duration
	// Compression is the codec the API's producer writes batches with (see Compressions;
	// default none, which every Kafka client reads).
	Compression string
	// APIKey, when set, is required on every request to the API and the S3 API (see Guard).
	// Listening beyond loopback (see Exposed) without one is refused.
	APIKey string
	// MaxInflight bounds the request body bytes all API requests hold at once
	// (DefaultMaxInflight when 0); beyond it requests are answered 429.
	MaxInflight int64
	Logf        func(format string, args ...any)
}

// Pipeline is the running pipeline: broker, API, streams, sink and stream cleaner.
type Pipeline struct {
	cfg     Config
	Broker  *Broker
	API     *API
	Streams Streams
	Store   *StreamStore // nil when forwarding to a Kinesis endpoint
	Sink    *Sink
	Cleaner *Cleaner
	// Replica answers queries on the stream tables while the cleaner writes them.
	Replica *Replica
	// URL is the API's base URL, e.g. http://127.0.0.1:8082.
	URL string
	// S3URL is the S3 endpoint over the sink directory, when Config.S3Addr is set.
	S3URL string

	srv    *http.Server
	s3srv  *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
	once   sync.Once
	lock   *dataDirLock
}

// RequestReadTimeout bounds the time to read one request, body included: long enough for the
// largest body (10 MB) at under 1 Mbit/s.
const RequestReadTimeout = 2 * time.Minute

// ErrExposedWithoutKey is Start's refusal to listen beyond loopback with no API key.
var ErrExposedWithoutKey = errors.New("an API key is required to listen beyond loopback (127.0.0.1)")

// SinkDir is where the sink writes by default.
func SinkDir(dataDir string) string { return filepath.Join(dataDir, "s3") }

// Start starts every part and returns once the API is listening. Stop it with Close.
func Start(ctx context.Context, cfg Config) (p *Pipeline, err error) {
	if cfg.UserID == "" {
		cfg.UserID = DefaultUserID
	}
	if err := record.ValidUserID(cfg.UserID); err != nil {
		return nil, err
	}
	codec, err := ParseCompression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	if cfg.APIKey == "" {
		for _, a := range []struct{ name, addr string }{{"API", cfg.APIAddr}, {"S3 API", cfg.S3Addr}} {
			if a.addr != "" && Exposed(a.addr) {
				return nil, fmt.Errorf("%w: the %s address %s is reachable from other machines", ErrExposedWithoutKey, a.name, a.addr)
			}
		}
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.SinkStore == nil {
		cfg.SinkStore = DirStore{SinkDir(cfg.DataDir)}
	}
	if cfg.Drain <= 0 {
		cfg.Drain = DefaultDrain
	}
	// The lock comes before anything opens a file in the data directory.
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p = &Pipeline{cfg: cfg, cancel: cancel, errs: make(chan error, 4), lock: lock}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	var topics, streams []string
	for _, k := range record.Kinds {
		topics = append(topics, record.Topic(cfg.UserID, k))
		streams = append(streams, record.Stream(cfg.UserID, k))
	}
	if p.Broker, err = StartBroker(ctx, BrokerConfig{Addr: cfg.BrokerAddr, DataDir: filepath.Join(cfg.DataDir, "kafka"), Topics: topics}); err != nil {
		return p, err
	}
	var wake func() <-chan struct{}
	if cfg.KinesisEndpoint != "" {
		f, err := NewKinesisForwarder(ctx, cfg.KinesisEndpoint)
		if err != nil {
			return p, err
		}
		p.Streams = f
		if err := ensureForwardedStreams(ctx, f, streams); err != nil {
			return p, err
		}
	} else {
		if p.Store, err = OpenStreamStoreWith(filepath.Join(cfg.DataDir, "kinesis"), StreamStoreOptions{Retention: cfg.StreamRetention}); err != nil {
			return p, err
		}
		if err := p.Store.EnsureStreams(ctx, DefaultShards, streams...); err != nil {
			return p, err
		}
		p.Streams, wake = p.Store, p.Store.Changed
	}
	if p.API, err = NewAPI(p.Broker.Addr(), p.Streams, kgo.ProducerBatchCompression(codec)); err != nil {
		return p, err
	}
	p.API.Unhealthy = p.Healthy
	if dir, ok := cfg.SinkStore.(DirStore); ok {
		if err := dir.RemoveTemps(); err != nil { // left by a kill inside a write
			return p, fmt.Errorf("sink: %w", err)
		}
	}
	if p.Sink, err = NewSink(SinkConfig{Brokers: []string{p.Broker.Addr()}, Topics: topics, Store: cfg.SinkStore,
		FlushSize: cfg.FlushSize, RotateInterval: cfg.RotateInterval, Logf: cfg.Logf}); err != nil {
		return p, err
	}
	// A real Kinesis allows 5 GetShardIterator calls a second per shard; the forwarder makes
	// one per read, so poll it at most once a second.
	poll := 200 * time.Millisecond
	if cfg.KinesisEndpoint != "" {
		poll = time.Second
	}
	if p.Cleaner, err = OpenCleaner(ctx, CleanerConfig{UserID: cfg.UserID, Streams: p.Streams,
		DBPath: filepath.Join(cfg.DataDir, "stream.duckdb"), Wake: wake, Poll: poll, Logf: cfg.Logf}); err != nil {
		return p, err
	}
	if p.Replica, err = NewReplica(p.Cleaner); err != nil {
		return p, err
	}
	p.API.StreamQuery = func(ctx context.Context, q string, maxRows int) (*StreamQueryResult, error) {
		return p.Replica.Query(ctx, q, maxRows, DefaultQueryTimeout)
	}
	if cfg.S3Addr != "" {
		dir, ok := cfg.SinkStore.(DirStore)
		if !ok {
			return p, errors.New("an S3 endpoint over the sink needs the sink to write to a directory")
		}
		if p.s3srv, p.S3URL, err = ServeSinkS3(cfg.S3Addr, dir.Root, cfg.S3Writable, cfg.APIKey); err != nil {
			return p, err
		}
	}
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return p, fmt.Errorf("api: listen on %s: %w", cfg.APIAddr, err)
	}
	p.URL = "http://" + ln.Addr().String()
	// The in-flight bound comes first: a signed request's body is read before its signature can
	// be checked. ReadTimeout ends a body that trickles in, so no client holds a share of the
	// bound for ever.
	p.srv = &http.Server{Handler: LimitInflight(cfg.MaxInflight, NewGuard(cfg.APIKey, p.API)),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: RequestReadTimeout}
	p.run("api", func() error {
		if err := p.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	p.run("sink", func() error { return p.Sink.Run(rctx) })
	p.run("stream cleaner", func() error { return p.Cleaner.Run(rctx) })
	return p, nil
}

func (p *Pipeline) run(name string, fn func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := fn(); err != nil {
			p.errs <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// Failed delivers the first error of a part that stopped on its own.
func (p *Pipeline) Failed() <-chan error { return p.errs }

// Topics are the user's three topics.
func (p *Pipeline) Topics() []string {
	var ts []string
	for _, k := range record.Kinds {
		ts = append(ts, record.Topic(p.cfg.UserID, k))
	}
	return ts
}

// WaitCaughtUp waits until the sink has committed every record now in the topics and the
// stream cleaner has written every record the API has acknowledged so far.
func (p *Pipeline) WaitCaughtUp(ctx context.Context) error {
	ends, err := TopicEndOffsets(ctx, p.Broker.Addr(), p.Topics()...)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- p.Sink.WaitFor(ctx, ends) }()
	go func() { errc <- p.Cleaner.WaitFor(ctx, p.API.StreamMarks()) }()
	return errors.Join(<-errc, <-errc)
}

// Healthy returns nil while every part can store what the API accepts, or why not: the sink
// retrying a failed write (a full disk, say). The API answers produce requests with 503 then.
func (p *Pipeline) Healthy() error {
	if p.Sink == nil {
		return nil
	}
	return p.Sink.Health()
}

// Close stops accepting requests, drains the sink to the topics' high watermarks (bounded by
// Config.Drain, saying what was left if the bound hits), lets the stream cleaner finish its
// batch, then closes the databases and the broker and releases the data directory.
func (p *Pipeline) Close() error {
	var errs []error
	p.once.Do(func() {
		if p.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			errs = append(errs, p.srv.Shutdown(ctx))
			cancel()
			p.drainSink()
		}
		p.cancel()
		p.wg.Wait()
		if p.s3srv != nil {
			errs = append(errs, p.s3srv.Close())
		}
	drain:
		for {
			select {
			case err := <-p.errs:
				errs = append(errs, err)
			default:
				break drain
			}
		}
		if p.API != nil {
			p.API.Close()
		}
		if p.Replica != nil {
			errs = append(errs, p.Replica.Close())
		}
		if p.Cleaner != nil {
			errs = append(errs, p.Cleaner.Close())
		}
		if p.Store != nil {
			errs = append(errs, p.Store.Close())
		}
		if p.Broker != nil {
			p.Broker.Close()
		}
		errs = append(errs, p.lock.release())
	})
	return errors.Join(errs...)
}

// drainSink waits, bounded by Config.Drain, until the sink has written every record the topics
// hold (the API has stopped, so nothing more comes), printing progress. A sink that stopped on
// an error is not waited for.
func (p *Pipeline) drainSink() {
	logf := p.cfg.Logf
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Drain)
	defer cancel()
	ends, err := TopicEndOffsets(ctx, p.Broker.Addr(), p.Topics()...)
	if err != nil {
		logf("sink: drain: high watermarks: %v", err)
		return
	}
	start := time.Now()
	left, err := p.Sink.Drain(ctx, ends, func(left map[string]int64) {
		logf("sink: draining: %s left to write", describeLeft(left))
	})
	switch {
	case err == nil:
		logf("sink: drained to the high watermark of every partition in %s", time.Since(start).Round(time.Millisecond))
	case ctx.Err() != nil && len(left) > 0:
		logf("sink: drain bound %s hit: %s not written to the sink; they stay in the broker and the sink writes them at the next start",
			p.cfg.Drain, describeLeft(left))
	default:
		logf("sink: drain: %v (%s not written; the sink writes them at the next start)", err, describeLeft(left))
	}
}

// describeLeft says how many records are left, in all and per topic.
func describeLeft(left map[string]int64) string {
	var total int64
	var per []string
	for t, n := range left {
		total += n
		per = append(per, fmt.Sprintf("%s %d", t, n))
	}
	sort.Strings(per)
	return fmt.Sprintf("%d records (%s)", total, strings.Join(per, ", "))
}

// ensureForwardedStreams creates the three streams on the Kinesis endpoint when missing and
// waits for them to be ACTIVE, as they are after a deploy.
func ensureForwardedStreams(ctx context.Context, f *KinesisForwarder, names []string) error {
	for _, n := range names {
		err := f.CreateStream(ctx, n, DefaultShards)
		var se *StreamError
		if err != nil && !(errors.As(err, &se) && se.Type == "ResourceInUseException") {
			return fmt.Errorf("create stream %s at the Kinesis endpoint: %w", n, err)
		}
	}
	for _, n := range names {
		for {
			d, err := f.DescribeStream(ctx, n)
			if err != nil {
				return fmt.Errorf("describe stream %s at the Kinesis endpoint: %w", n, err)
			}
			if d.StreamStatus == "ACTIVE" {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}
