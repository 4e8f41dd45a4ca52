// Command emulator is the Lambda handler that drives the deployed pipeline: each invocation (a
// schedule) runs the posting emulator for a bounded time against the API and returns its counts.
//
// Configuration, from the environment:
//
//	PINPIPE_INVOKE_URL          the API's base URL (required)
//	PINPIPE_USER_ID             names the topics and streams (default "demo")
//	PINPIPE_MODE                batch or stream (default batch)
//	PINPIPE_RATE                posts per second (default 10; 0 = as fast as possible)
//	PINPIPE_SECONDS             sending time per invocation (default 60), cut to fit the timeout
//	PINPIPE_SOURCE              synthetic (default) or mysql
//	PINPIPE_CONCURRENCY         requests in flight (default 8)
//	PINPIPE_BATCH               records per PutRecords request in stream mode (default 1)
//	PINPIPE_API_KEY_SECRET_ARN  Secrets Manager secret holding the API key (optional): the plain
//	                            key, or JSON with an "apiKey" field
//	PINPIPE_SIGV4               true: sign requests with SigV4 as the function's role (APIs whose
//	                            routes use IAM, apiAuth=iam); the region is the invoke URL's
//	PINPIPE_DB_SECRET_ARN       for the mysql source: an RDS-style secret, JSON with host, port,
//	                            username, password and dbname
//
// An invocation that gave up on any record returns an error, so it shows in the function's
// error metric; the counts are logged either way.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/pinpipe/pinpipe/emulator"
)

// secretGetter is the one Secrets Manager call the handler makes.
type secretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// settings is the handler's configuration, read once per execution environment.
type settings struct {
	invokeURL, userID string
	mode              emulator.Mode
	rate              float64
	seconds           time.Duration
	source            string
	concurrency       int
	batch             int
	apiKeyARN, dbARN  string
	sigv4             bool
}

func readSettings(getenv func(string) string) (settings, error) {
	s := settings{
		invokeURL: getenv("PINPIPE_INVOKE_URL"), userID: orDefault(getenv("PINPIPE_USER_ID"), "demo"),
		source: orDefault(getenv("PINPIPE_SOURCE"), "synthetic"), rate: 10, seconds: time.Minute,
		concurrency: emulator.DefaultConcurrency, batch: 1,
		apiKeyARN: getenv("PINPIPE_API_KEY_SECRET_ARN"), dbARN: getenv("PINPIPE_DB_SECRET_ARN"),
	}
	if s.invokeURL == "" {
		return s, errors.New("PINPIPE_INVOKE_URL: missing")
	}
	if v := getenv("PINPIPE_SIGV4"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("PINPIPE_SIGV4 %q: want true or false", v)
		}
		s.sigv4 = b
	}
	m, err := emulator.ParseMode(orDefault(getenv("PINPIPE_MODE"), "batch"))
	if err != nil {
		return s, fmt.Errorf("PINPIPE_MODE: %w", err)
	}
	s.mode = m
	if v := getenv("PINPIPE_RATE"); v != "" {
		if s.rate, err = strconv.ParseFloat(v, 64); err != nil || s.rate < 0 {
			return s, fmt.Errorf("PINPIPE_RATE %q: want a number of posts per second, 0 or more", v)
		}
	}
	if v := getenv("PINPIPE_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 900 {
			return s, fmt.Errorf("PINPIPE_SECONDS %q: want 1 to 900 (the Lambda maximum)", v)
		}
		s.seconds = time.Duration(n) * time.Second
	}
	for name, dst := range map[string]*int{"PINPIPE_CONCURRENCY": &s.concurrency, "PINPIPE_BATCH": &s.batch} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return s, fmt.Errorf("%s %q: want a whole number, 1 or more", name, v)
			}
			*dst = n
		}
	}
	switch s.source {
	case "synthetic":
	case "mysql":
		if s.dbARN == "" {
			return s, errors.New("PINPIPE_SOURCE=mysql needs PINPIPE_DB_SECRET_ARN")
		}
	default:
		return s, fmt.Errorf("PINPIPE_SOURCE %q: want synthetic or mysql", s.source)
	}
	return s, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// handler holds what lasts across invocations of one execution environment: the settings, the
// API key, the source and its connection pool.
type handler struct {
	getenv  func(string) string
	secrets func(ctx context.Context) (secretGetter, error)
	// awsConfig is the function's AWS configuration (its role's credentials), for SigV4.
	awsConfig func(ctx context.Context) (aws.Config, error)

	mu     sync.Mutex
	ready  bool
	set    settings
	apiKey string
	signer *emulator.SigV4
	source emulator.Source
}

// Result is what an invocation returns (and logs).
type Result struct {
	Sent, Accepted, Retried, Failed, Posts int64
	Seconds                                float64
}

// Drain and request budgets inside the Lambda timeout.
const (
	drainTimeout   = 5 * time.Second
	requestTimeout = 5 * time.Second
	safety         = time.Second
)

// init sets the handler up on the first invocation, and again on the next one if it failed
// (a secret not yet readable should not poison the execution environment).
func (h *handler) init(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ready {
		return nil
	}
	if err := h.setup(ctx); err != nil {
		return err
	}
	h.ready = true
	return nil
}

func (h *handler) setup(ctx context.Context) error {
	set, err := readSettings(h.getenv)
	if err != nil {
		return err
	}
	h.set = set
	var sm secretGetter
	if set.apiKeyARN != "" || set.dbARN != "" {
		if sm, err = h.secrets(ctx); err != nil {
			return fmt.Errorf("secrets manager client: %w", err)
		}
	}
	if set.apiKeyARN != "" {
		raw, err := secretString(ctx, sm, set.apiKeyARN)
		if err != nil {
			return err
		}
		if h.apiKey, err = apiKeyFromSecret(raw); err != nil {
			return fmt.Errorf("secret %s: %w", set.apiKeyARN, err)
		}
	}
	if set.sigv4 {
		cfg, err := h.awsConfig(ctx)
		if err != nil {
			return fmt.Errorf("PINPIPE_SIGV4: AWS configuration: %w", err)
		}
		region, ok := emulator.RegionOfInvokeURL(set.invokeURL)
		if !ok {
			region = cfg.Region
		}
		if h.signer, err = emulator.NewSigV4(cfg.Credentials, region); err != nil {
			return fmt.Errorf("PINPIPE_SIGV4: %w", err)
		}
	}
	switch set.source {
	case "mysql":
		raw, err := secretString(ctx, sm, set.dbARN)
		if err != nil {
			return err
		}
		creds, err := credentialsFromSecret(raw)
		if err != nil {
			return fmt.Errorf("secret %s: %w", set.dbARN, err)
		}
		if h.source, err = emulator.OpenMySQL(ctx, creds, time.Now().UnixNano()); err != nil {
			return err
		}
	default:
		h.source = emulator.NewSynthetic(emulator.DefaultSeed, emulator.DefaultRows)
	}
	return nil
}

func secretString(ctx context.Context, sm secretGetter, arn string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", arn, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %s: no SecretString (binary secrets are not supported)", arn)
	}
	return *out.SecretString, nil
}

// apiKeyFromSecret accepts the key itself or JSON {"apiKey": "..."}.
func apiKeyFromSecret(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if strings.HasPrefix(raw, "{") {
		var v struct {
			APIKey string `json:"apiKey"`
		}
		if err := json.Unmarshal([]byte(raw), &v); err != nil || v.APIKey == "" {
			return "", errors.New(`want the API key, or JSON with an "apiKey" field`)
		}
		return v.APIKey, nil
	}
	if raw == "" {
		return "", errors.New("the API key is empty")
	}
	return raw, nil
}

// credentialsFromSecret reads the JSON of an RDS-managed (or RDS-shaped) secret.
func credentialsFromSecret(raw string) (emulator.Credentials, error) {
	var v struct {
		Host     string          `json:"host"`
		Port     json.RawMessage `json:"port"`
		Username string          `json:"username"`
		Password string          `json:"password"`
		DBName   string          `json:"dbname"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return emulator.Credentials{}, errors.New("want JSON with host, port, username, password and dbname")
	}
	env := map[string]string{
		emulator.EnvDBHost: v.Host, emulator.EnvDBPort: strings.Trim(string(v.Port), `"`),
		emulator.EnvDBName: v.DBName, emulator.EnvDBUser: v.Username, emulator.EnvDBPassword: v.Password,
	}
	c, ok, err := emulator.CredentialsFromEnv(func(k string) string { return env[k] })
	if !ok && err == nil {
		err = errors.New("host and dbname: missing")
	}
	return c, err
}

// Handle runs the emulator until PINPIPE_SECONDS have passed or the invocation's time (less the
// drain budget) runs out.
func (h *handler) Handle(ctx context.Context, _ json.RawMessage) (Result, error) {
	if err := h.init(ctx); err != nil {
		return Result{}, err
	}
	run := h.set.seconds
	if dl, ok := ctx.Deadline(); ok {
		run = min(run, time.Until(dl)-drainTimeout-requestTimeout-safety)
	}
	if run <= 0 {
		return Result{}, fmt.Errorf("the function timeout leaves no time to send: give it more than %s", drainTimeout+requestTimeout+safety)
	}
	st, err := emulator.Run(ctx, emulator.Config{
		InvokeURL: h.set.invokeURL, UserID: h.set.userID, Mode: h.set.mode, Rate: h.set.rate,
		Duration: run, Concurrency: h.set.concurrency, BatchSize: h.set.batch, Source: h.source,
		APIKey: h.apiKey, SigV4: h.signer, RequestTimeout: requestTimeout, DrainTimeout: drainTimeout,
	})
	log.Printf("emulator %s mode to %s: %s", h.set.mode, h.set.invokeURL, st)
	return Result{Sent: st.Sent, Accepted: st.Accepted, Retried: st.Retried, Failed: st.Failed,
		Posts: st.Posts, Seconds: st.Elapsed.Seconds()}, err
}

func main() {
	h := &handler{
		getenv: os.Getenv,
		secrets: func(ctx context.Context) (secretGetter, error) {
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return nil, err
			}
			return secretsmanager.NewFromConfig(cfg), nil
		},
		awsConfig: func(ctx context.Context) (aws.Config, error) { return config.LoadDefaultConfig(ctx) },
	}
	lambda.Start(h.Handle)
}
