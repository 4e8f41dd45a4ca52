package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/progress"
)

// envAPIKey holds the API key; it is read from the environment only, never from a flag.
const envAPIKey = "PINPIPE_API_KEY"

func runEmulate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "emulate", "--invoke-url URL [--user-id ID] [--mode batch|stream] [flags]\n\n"+
		"Posts random source rows to the pipeline's REST API: each post is a pin, a geo and a user\n"+
		"record. batch: POST {url}/topics/<user_id>.<pin|geo|user>; stream: PUT\n"+
		"{url}/streams/streaming-<user_id>-<pin|geo|user>/record (/records with --batch N).\n"+
		"Every record's answer is checked and failed records are retried. Ctrl-C stops sending and\n"+
		"waits for the records in flight. Exit status 1 when any record was given up on.\n"+
		"The API key, if the API wants one, is read from "+envAPIKey+". An API that wants IAM (apiAuth=iam)\n"+
		"takes requests signed with SigV4 (--sigv4), with the credentials of the AWS default chain.")
	invokeURL := fs.String("invoke-url", "", "base URL of the API (e.g. https://<id>.execute-api.<region>.amazonaws.com/<stage>)")
	userID := fs.String("user-id", "demo", "user id that names the topics and streams")
	mode := fs.String("mode", string(emulator.Batch), "batch (Kafka REST proxy routes) or stream (Kinesis routes)")
	rate := fs.Float64("rate", 10, "posts (rows of each table) per second; 0 = as fast as possible")
	count := fs.Int64("count", 0, "posts to send, then stop; 0 = no limit")
	duration := fs.Duration("duration", 0, "stop after this long (e.g. 5m); 0 = no limit")
	concurrency := fs.Int("concurrency", emulator.DefaultConcurrency, "requests in flight at most (a record waiting to be retried holds one)")
	batch := fs.Int("batch", 1, "records per request in stream mode (PutRecords, at most 500)")
	source := fs.String("source", "synthetic", "synthetic (in memory) or mysql (see pinpipe seed-db --help for credentials)")
	rows := fs.Int("rows", emulator.DefaultRows, "rows of the synthetic dataset")
	seed := fs.Int64("seed", emulator.DefaultSeed, "seed of the synthetic dataset and of the random picks")
	credFile := fs.String("credentials", "", "MySQL credentials file (credentials_rds.yml format)")
	timeout := fs.Duration("timeout", emulator.DefaultRequestTimeout, "time allowed for one request and its answer")
	attempts := fs.Int("max-attempts", emulator.DefaultMaxAttempts, "sends of one record before it is given up, the first included")
	drain := fs.Duration("drain", emulator.DefaultDrainTimeout, "after a stop, how long records in flight may still be retried")
	sigv4 := fs.Bool("sigv4", false, "sign requests with AWS SigV4 (service execute-api) as the default credential chain's principal")
	region := fs.String("region", "", "region of the API for --sigv4 (default: the one the invoke URL names, else the AWS configuration's)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *invokeURL == "" {
		fmt.Fprintln(fs.Output(), "--invoke-url is required")
		fs.Usage()
		return errUsage
	}
	m, err := emulator.ParseMode(*mode)
	if err != nil {
		return errors.New("--" + err.Error())
	}
	if *attempts < 1 {
		return fmt.Errorf("--max-attempts %d: want 1 or more", *attempts)
	}
	if *concurrency < 1 {
		return fmt.Errorf("--concurrency %d: want 1 to 1024", *concurrency)
	}
	if *batch < 1 {
		return fmt.Errorf("--batch %d: want 1 to %d", *batch, emulator.MaxBatch)
	}

	var signer *emulator.SigV4
	if *sigv4 {
		if signer, err = newSigner(ctx, *invokeURL, *region); err != nil {
			return err
		}
	}

	var src emulator.Source
	switch *source {
	case "synthetic":
		if *rows < 1 {
			return fmt.Errorf("--rows %d: want 1 or more", *rows)
		}
		src = emulator.NewSynthetic(*seed, *rows)
	case "mysql":
		creds, from, err := emulator.FindCredentials(*credFile, env.getenv)
		if err != nil {
			return err
		}
		db, err := emulator.OpenMySQL(ctx, creds, *seed)
		if err != nil {
			return fmt.Errorf("%w (credentials from %s)", err, from)
		}
		defer db.Close()
		src = db
	default:
		return fmt.Errorf("--source %q: want synthetic or mysql", *source)
	}

	if progress.IsTerminal(env.stderr) {
		pace := fmt.Sprintf("%g posts/s", *rate)
		if *rate == 0 {
			pace = "as fast as possible"
		}
		fmt.Fprintf(env.stderr, "posting %s rows to %s (%s mode, user id %s), %s; Ctrl-C to stop\n",
			*source, *invokeURL, m, *userID, pace)
	}
	stop := context.AfterFunc(ctx, func() {
		fmt.Fprintf(env.stderr, "\nstopping: no new posts; waiting up to %s for the records in flight\n", *drain)
	})
	defer stop()
	st, err := emulator.Run(ctx, emulator.Config{
		InvokeURL: *invokeURL, UserID: *userID, Mode: m, Rate: *rate, Count: *count, Duration: *duration,
		Concurrency: *concurrency, BatchSize: *batch, Source: src, APIKey: env.getenv(envAPIKey), SigV4: signer,
		Progress: env.stderr, MaxAttempts: *attempts, RequestTimeout: *timeout, DrainTimeout: *drain,
	})
	if st.Elapsed > 0 || st.Sent > 0 {
		fmt.Fprintf(env.stdout, "%s mode to %s: %s\n", m, *invokeURL, st)
	}
	return err
}

// newSigner is the SigV4 signer of --sigv4: the default credential chain (environment, shared
// files, SSO, instance or task role; never a flag), for region, else the invoke URL's, else the
// AWS configuration's.
func newSigner(ctx context.Context, invokeURL, region string) (*emulator.SigV4, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("--sigv4: AWS configuration: %w", err)
	}
	if region == "" {
		if r, ok := emulator.RegionOfInvokeURL(invokeURL); ok {
			region = r
		} else {
			region = cfg.Region
		}
	}
	if region == "" {
		return nil, fmt.Errorf("--sigv4: the invoke URL %s names no region: give --region", invokeURL)
	}
	s, err := emulator.NewSigV4(cfg.Credentials, region)
	if err != nil {
		return nil, fmt.Errorf("--sigv4: %w", err)
	}
	return s, nil
}
