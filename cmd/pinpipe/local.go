package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pinpipe/pinpipe/analytics"
	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/local"
	"github.com/pinpipe/pinpipe/progress"
	"github.com/pinpipe/pinpipe/record"
)

// DefaultLocalCount is the posts `pinpipe local` sends in each mode: enough for every output of
// the analysis to have rows, few enough that the whole run takes well under a minute.
const DefaultLocalCount = 2000

// pipelineFlags are the flags `local` and `serve` share.
type pipelineFlags struct {
	userID, dataDir, broker, api, kinesis, sinkTo, s3api *string
	compression, apiKeyFile                              *string
	maxInflight                                          *int64
	flushSize                                            *int
	rotate, drain, retention                             *time.Duration
	s3writable                                           *bool
}

func addPipelineFlags(fs *flag.FlagSet) pipelineFlags {
	return pipelineFlags{
		userID:     fs.String("user-id", local.DefaultUserID, "user id that names the topics, streams and tables"),
		dataDir:    fs.String("data-dir", "./"+local.DefaultDataDir, "where the broker, streams, sink output, stream tables and results are kept (kept across runs)"),
		broker:     fs.String("broker", local.DefaultBrokerAddr, "Kafka broker address (127.0.0.1:PORT)"),
		api:        fs.String("api", local.DefaultAPIAddr, "REST API address"),
		kinesis:    fs.String("kinesis-endpoint", "", "forward the Kinesis routes to this Kinesis API (e.g. kinesalite's http://127.0.0.1:4567) instead of the embedded stream store"),
		sinkTo:     fs.String("sink-to", "", "where the S3 sink writes: a directory, or s3://BUCKET[/PREFIX] (credentials from the AWS environment; AWS_ENDPOINT_URL_S3 for another S3 server) (default <data-dir>/s3)"),
		s3api:      fs.String("s3-api", "", "also serve the sink directory as the S3 bucket "+local.SinkBucket+" at this address (e.g. 127.0.0.1:9000), for S3 clients; read-only"),
		s3writable: fs.Bool("s3-writable", false, "let S3 clients also put and delete objects in the bucket of --s3-api (the sink moves an object in its way aside to conflicts/)"),
		drain:      fs.Duration("drain", local.DefaultDrain, "at Ctrl-C, wait up to this long for the sink to write every record in the topics"),
		flushSize:  fs.Int("flush-size", 1, "records per sink object (the connector's flush.size)"),
		rotate:     fs.Duration("rotate-interval", 10*time.Second, "also cut a sink object this long after its first record (0: only by --flush-size)"),
		retention:  fs.Duration("stream-retention", local.DefaultStreamRetention, "how long the embedded stream store keeps a record (Kinesis' retention period)"),
		compression: fs.String("compression", "none", "codec of the batches the API produces to the broker: none, gzip, snappy, lz4 or zstd "+
			"(none: every Kafka client reads them, kafka-python without python-snappy too)"),
		apiKeyFile: fs.String("api-key-file", "", "file holding the API key every request must carry (x-api-key, or SigV4 with the key as the secret access key); "+
			"default $"+envAPIKey+"; required when --api or --s3-api listens beyond 127.0.0.1"),
		maxInflight: fs.Int64("max-inflight", local.DefaultMaxInflight, "request body bytes the API holds at once; beyond it requests get 429 and Retry-After"),
	}
}

// apiKey is the key of --api-key-file, else $PINPIPE_API_KEY, else none.
func (f pipelineFlags) apiKey(env *cliEnv) (string, error) {
	if *f.apiKeyFile == "" {
		return env.getenv(envAPIKey), nil
	}
	b, err := os.ReadFile(*f.apiKeyFile)
	if err != nil {
		return "", fmt.Errorf("--api-key-file: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("--api-key-file %s: the file is empty, want the API key", *f.apiKeyFile)
	}
	return key, nil
}

func (f pipelineFlags) config(ctx context.Context, env *cliEnv) (local.Config, error) {
	cfg := local.Config{UserID: *f.userID, DataDir: *f.dataDir, BrokerAddr: *f.broker, APIAddr: *f.api,
		KinesisEndpoint: *f.kinesis, FlushSize: *f.flushSize, RotateInterval: *f.rotate, S3Addr: *f.s3api,
		S3Writable: *f.s3writable, Drain: *f.drain, StreamRetention: *f.retention, Compression: *f.compression}
	if err := record.ValidUserID(cfg.UserID); err != nil {
		return cfg, fmt.Errorf("--user-id: %w", err)
	}
	if _, err := local.ParseCompression(cfg.Compression); err != nil {
		return cfg, fmt.Errorf("--%w", err)
	}
	if *f.maxInflight < 1 {
		return cfg, fmt.Errorf("--max-inflight %d: want 1 or more bytes", *f.maxInflight)
	}
	cfg.MaxInflight = *f.maxInflight
	key, err := f.apiKey(env)
	if err != nil {
		return cfg, err
	}
	cfg.APIKey = key
	if cfg.FlushSize < 1 {
		return cfg, fmt.Errorf("--flush-size %d: want 1 or more", cfg.FlushSize)
	}
	if cfg.StreamRetention < time.Hour {
		return cfg, fmt.Errorf("--stream-retention %s: want 1h or more", cfg.StreamRetention)
	}
	if cfg.RotateInterval < 0 {
		return cfg, fmt.Errorf("--rotate-interval %s: want 0 or more", cfg.RotateInterval)
	}
	if cfg.Drain <= 0 {
		return cfg, fmt.Errorf("--drain %s: want a duration above 0 such as 30s", cfg.Drain)
	}
	if cfg.S3Writable && cfg.S3Addr == "" {
		return cfg, errors.New("--s3-writable needs --s3-api")
	}
	switch to := *f.sinkTo; {
	case strings.HasPrefix(to, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(to, "s3://"), "/")
		if bucket == "" {
			return cfg, fmt.Errorf("--sink-to %q: want s3://BUCKET[/PREFIX]", to)
		}
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		client, err := analytics.NewS3Client(ctx)
		if err != nil {
			return cfg, fmt.Errorf("--sink-to %s: %w", to, err)
		}
		cfg.SinkStore = local.S3Store{Client: client, Bucket: bucket, Prefix: prefix}
	case to != "":
		cfg.SinkStore = local.DirStore{Root: to}
	}
	return cfg, nil
}

// sinkInput is what the batch analysis reads: the sink's directory or s3:// URL.
func (f pipelineFlags) sinkInput() string {
	if *f.sinkTo != "" {
		return *f.sinkTo
	}
	return local.SinkDir(*f.dataDir)
}

func startPipeline(ctx context.Context, env *cliEnv, pf pipelineFlags) (*local.Pipeline, error) {
	cfg, err := pf.config(ctx, env)
	if err != nil {
		return nil, err
	}
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(env.stderr, format+"\n", args...) }
	// Shards, partitions and sink files all take descriptors: allow as many as the system does.
	if _, err := local.RaiseOpenFileLimit(); err != nil {
		cfg.Logf("warning: cannot raise the open-files limit: %v", err)
	}
	p, err := local.Start(ctx, cfg)
	if errors.Is(err, local.ErrExposedWithoutKey) {
		return nil, fmt.Errorf("%w (--api %s, --s3-api %q): put the key in a file and pass --api-key-file FILE, or set %s; or listen on 127.0.0.1",
			err, cfg.APIAddr, cfg.S3Addr, envAPIKey)
	}
	if err != nil {
		return nil, err
	}
	streams := "embedded stream store"
	if cfg.KinesisEndpoint != "" {
		streams = "Kinesis at " + cfg.KinesisEndpoint
	}
	fmt.Fprintf(env.stdout, "Kafka broker  %s   topics %s\n", p.Broker.Addr(), strings.Join(p.Topics(), ", "))
	fmt.Fprintf(env.stdout, "REST API      %s   (/topics/..., /streams/...; streams: %s)\n", p.URL, streams)
	fmt.Fprintf(env.stdout, "S3 sink       %s   (flush size %d)\n", pf.sinkInput(), cfg.FlushSize)
	if p.S3URL != "" {
		mode := "read-only"
		if cfg.S3Writable {
			mode = "writable"
		}
		fmt.Fprintf(env.stdout, "S3 API        %s   (bucket %s: the sink's objects, %s)\n", p.S3URL, local.SinkBucket, mode)
	}
	fmt.Fprintf(env.stdout, "Stream tables %s\n", filepath.Join(cfg.DataDir, "stream.duckdb"))
	return p, nil
}

// serveUntilDone waits for Ctrl-C (or a part failing), then closes the pipeline, which drains
// the API and flushes the sink.
func serveUntilDone(ctx context.Context, env *cliEnv, p *local.Pipeline) error {
	fmt.Fprintln(env.stdout, "Serving; Ctrl-C stops, flushing the sink.")
	var failed error
	select {
	case <-ctx.Done():
	case failed = <-p.Failed():
	}
	fmt.Fprintln(env.stderr, "Stopping: draining the API, flushing the sink...")
	return errors.Join(failed, p.Close())
}

func runServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "serve", "[--user-id ID] [--data-dir DIR] [flags]\n\n"+
		"Runs the pipeline's local parts: the Kafka broker, the REST API, the stream store, the S3 sink\n"+
		"and the stream cleaner, until Ctrl-C (which flushes the sink). Point the emulator, kcat or the\n"+
		"original Python emulator at it.")
	pf := addPipelineFlags(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	p, err := startPipeline(ctx, env, pf)
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, env, p)
}

func runLocal(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "local", "[--user-id ID] [--count N] [--rate R] [--data-dir DIR] [--keep-running] [flags]\n\n"+
		"Runs the whole pipeline on this machine: starts the broker, API, sink and stream cleaner, posts\n"+
		"--count synthetic posts in batch mode and in stream mode, waits until the sink and the stream\n"+
		"cleaner have caught up, runs the batch analysis over the sink's output and prints it.")
	pf := addPipelineFlags(fs)
	count := fs.Int64("count", DefaultLocalCount, "posts to send in each mode (each post is a pin, a geo and a user record)")
	rate := fs.Float64("rate", 0, "posts per second in each mode; 0 = as fast as the API takes them")
	keep := fs.Bool("keep-running", false, "keep serving after the analysis, until Ctrl-C")
	seed := fs.Int64("seed", emulator.DefaultSeed, "seed of the synthetic dataset and of the random picks")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *count < 1 {
		return fmt.Errorf("--count %d: want 1 or more", *count)
	}
	start := time.Now()
	p, err := startPipeline(ctx, env, pf)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			p.Close()
		}
	}()
	err = runLocalSteps(ctx, env, p, pf, *count, *rate, *seed, start)
	if ctx.Err() != nil {
		// Ctrl-C: what was accepted stays in the broker and the streams; Close flushes the sink.
		fmt.Fprintln(env.stderr, "Interrupted: flushing the sink and stopping.")
		closed = true
		return p.Close()
	}
	if err != nil || !*keep {
		closed = true
		return errors.Join(err, p.Close())
	}
	closed = true
	return serveUntilDone(ctx, env, p)
}

func runLocalSteps(ctx context.Context, env *cliEnv, p *local.Pipeline, pf pipelineFlags, count int64, rate float64, seed int64, start time.Time) error {
	key, err := pf.apiKey(env)
	if err != nil {
		return err
	}
	src := emulator.NewSynthetic(seed, emulator.DefaultRows)
	for _, mode := range []emulator.Mode{emulator.Batch, emulator.Stream} {
		st, err := emulator.Run(ctx, emulator.Config{InvokeURL: p.URL, UserID: *pf.userID, Mode: mode, APIKey: key,
			Rate: rate, Count: count, Source: src, Progress: env.stderr})
		if err != nil {
			return fmt.Errorf("emulator (%s): %w", mode, err)
		}
		fmt.Fprintf(env.stdout, "Emulator, %-7s %s\n", string(mode)+":", st)
	}

	waitStart := time.Now()
	line := progress.Start(env.stderr, 0, func() string {
		objs, recs := p.Sink.Stats()
		rows, repeats, bad := p.Cleaner.Stats()
		return fmt.Sprintf("catching up: sink %s (%s) · stream cleaner %s, %s skipped, %d quarantined · %s",
			progress.Count(objs, "object"), progress.Count(recs, "record"), progress.Count(rows, "row"), progress.Count(repeats, "repeat"),
			bad, time.Since(waitStart).Round(100*time.Millisecond))
	})
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = p.WaitCaughtUp(wctx)
	cancel()
	line.Stop()
	if err != nil {
		return fmt.Errorf("waiting for the sink and the stream cleaner: %w", err)
	}
	objs, recs := p.Sink.Stats()
	fmt.Fprintf(env.stdout, "Caught up in %s: the sink wrote %s (%s) this run; stream tables:\n",
		time.Since(waitStart).Round(time.Millisecond), progress.Count(objs, "object"), progress.Count(recs, "record"))
	if err := printStreamTables(ctx, env.stdout, p.Cleaner.DB(), *pf.userID); err != nil {
		return err
	}

	fmt.Fprintln(env.stdout)
	rep, err := analytics.RunBatch(ctx, analytics.BatchConfig{Input: pf.sinkInput(), UserID: *pf.userID,
		Out: filepath.Join(*pf.dataDir, "results"), Progress: env.stderr})
	if err != nil {
		return fmt.Errorf("batch analysis: %w", err)
	}
	rep.Print(env.stdout)
	fmt.Fprintf(env.stdout, "\nThe whole run took %s.\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// printStreamTables prints the row count of each stream table (one row per ind) with the
// repeats of an ind it skipped, and the row count of the quarantine.
func printStreamTables(ctx context.Context, w io.Writer, db *sql.DB, userID string) error {
	var rows [][]any
	for _, k := range record.Kinds {
		t := record.StreamTable(userID, k)
		var n, repeats int64
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %q", t)).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", t, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(repeats), 0) FROM stream_repeats WHERE table_name = ?`, t).Scan(&repeats); err != nil {
			return fmt.Errorf("count repeats of %s: %w", t, err)
		}
		rows = append(rows, []any{t, n, repeats})
	}
	var q int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM stream_quarantine`).Scan(&q); err != nil {
		return fmt.Errorf("count stream_quarantine: %w", err)
	}
	rows = append(rows, []any{"stream_quarantine", q, ""})
	analytics.PrintTable(w, []string{"table", "rows", "repeats"}, rows, 0)
	return nil
}
