package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/internal/testenv"
)

// fakeSecrets answers GetSecretValue from a map, as Secrets Manager would (ARN, Name,
// SecretString, VersionId), and fails for unknown ids with the service's error text.
type fakeSecrets struct {
	values map[string]string
	calls  atomic.Int64
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	v, ok := f.values[aws.ToString(in.SecretId)]
	if !ok {
		return nil, errors.New("operation error Secrets Manager: GetSecretValue, ResourceNotFoundException: Secrets Manager can't find the specified secret.")
	}
	return &secretsmanager.GetSecretValueOutput{
		ARN: in.SecretId, Name: aws.String("pinpipe/api-key"), SecretString: aws.String(v),
		VersionId: aws.String("a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"),
	}, nil
}

func newHandler(env map[string]string, sm *fakeSecrets) *handler {
	return &handler{
		getenv:  func(k string) string { return env[k] },
		secrets: func(context.Context) (secretGetter, error) { return sm, nil },
	}
}

func TestHandlerRunsBoundedWithKeyFromSecret(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]int{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		keys[r.Header.Get("x-api-key")+" "+r.Method+" "+r.URL.Path]++
		mu.Unlock()
		io.WriteString(w, `{"SequenceNumber":"1","ShardId":"shardId-000000000000"}`)
	}))
	defer api.Close()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:pinpipe/api-key-AbCdEf"
	sm := &fakeSecrets{values: map[string]string{arn: `{"apiKey":"k3y"}`}}
	h := newHandler(map[string]string{
		"PINPIPE_INVOKE_URL": api.URL + "/prod", "PINPIPE_USER_ID": "u1", "PINPIPE_MODE": "stream",
		"PINPIPE_RATE": "40", "PINPIPE_SECONDS": "1", "PINPIPE_API_KEY_SECRET_ARN": arn,
	}, sm)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	res, err := h.Handle(ctx, json.RawMessage(`{}`))
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "bounded by PINPIPE_SECONDS")
	assert.LessOrEqual(t, res.Posts, int64(41), "40 posts/s for 1s")
	assert.GreaterOrEqual(t, res.Posts, int64(5))
	assert.Equal(t, 3*res.Posts, res.Accepted)
	assert.Equal(t, res.Posts, int64(keys["k3y PUT /prod/streams/streaming-u1-pin/record"]))

	_, err = h.Handle(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1), sm.calls.Load(), "the secret is read once per execution environment")

	// A deadline closer than PINPIPE_SECONDS shortens the run; one too close is an error.
	short, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	_, err = h.Handle(short, nil)
	assert.ErrorContains(t, err, "function timeout leaves no time")
}

func TestHandlerReportsGivenUpRecords(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"Forbidden"}`)
	}))
	defer api.Close()
	h := newHandler(map[string]string{"PINPIPE_INVOKE_URL": api.URL, "PINPIPE_SECONDS": "1", "PINPIPE_RATE": "5"}, &fakeSecrets{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := h.Handle(ctx, nil)
	require.ErrorIs(t, err, emulator.ErrGaveUp)
	assert.Positive(t, res.Failed)
}

func TestSettingsErrorsNameTheVariable(t *testing.T) {
	base := map[string]string{"PINPIPE_INVOKE_URL": "https://x.execute-api.us-east-1.amazonaws.com/prod"}
	for k, want := range map[string]string{
		"PINPIPE_MODE":        "PINPIPE_MODE",
		"PINPIPE_RATE":        "PINPIPE_RATE",
		"PINPIPE_SECONDS":     "PINPIPE_SECONDS",
		"PINPIPE_CONCURRENCY": "PINPIPE_CONCURRENCY",
		"PINPIPE_SOURCE":      "PINPIPE_SOURCE",
	} {
		env := map[string]string{}
		for a, b := range base {
			env[a] = b
		}
		env[k] = "-5x"
		_, err := readSettings(func(s string) string { return env[s] })
		assert.ErrorContains(t, err, want, k)
	}
	_, err := readSettings(func(string) string { return "" })
	assert.ErrorContains(t, err, "PINPIPE_INVOKE_URL: missing")
	_, err = readSettings(func(s string) string {
		return map[string]string{"PINPIPE_INVOKE_URL": "https://x", "PINPIPE_SOURCE": "mysql"}[s]
	})
	assert.ErrorContains(t, err, "PINPIPE_DB_SECRET_ARN")

	h := newHandler(map[string]string{"PINPIPE_INVOKE_URL": "https://x", "PINPIPE_API_KEY_SECRET_ARN": "arn:missing"}, &fakeSecrets{})
	_, err = h.Handle(context.Background(), nil)
	assert.ErrorContains(t, err, "read secret arn:missing: operation error Secrets Manager")
}

func TestSecretFormats(t *testing.T) {
	k, err := apiKeyFromSecret("  plain-key\n")
	require.NoError(t, err)
	assert.Equal(t, "plain-key", k)
	k, err = apiKeyFromSecret(`{"apiKey":"json-key"}`)
	require.NoError(t, err)
	assert.Equal(t, "json-key", k)
	_, err = apiKeyFromSecret(`{"key":"x"}`)
	assert.ErrorContains(t, err, `"apiKey"`)

	// The shape RDS writes for a managed master user secret.
	c, err := credentialsFromSecret(`{"username":"admin","password":"p@ss","engine":"mysql","host":"src.cluster-abc.us-east-1.rds.amazonaws.com","port":3306,"dbname":"pinterest"}`)
	require.NoError(t, err)
	assert.Equal(t, "admin@src.cluster-abc.us-east-1.rds.amazonaws.com:3306/pinterest", c.String())
	assert.Equal(t, "p@ss", c.Password)
	_, err = credentialsFromSecret(`{"username":"admin"}`)
	assert.Error(t, err)
	_, err = credentialsFromSecret(`not json`)
	assert.ErrorContains(t, err, "want JSON")
}

// TestBuildsForLambda builds the handler as the deployment does: linux/arm64 without cgo.
func TestBuildsForLambda(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler")
	}
	goBin := testenv.Need(t, "go", "/usr/local/go/bin")
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(t.TempDir(), "bootstrap"), ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))

	deps := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".")
	deps.Env = cmd.Env
	out, err = deps.Output()
	require.NoError(t, err)
	for _, p := range strings.Fields(string(out)) {
		assert.NotContains(t, p, "duckdb", "no cgo dependency in the Lambda")
		assert.NotContains(t, p, "awscdk", "runtime code never imports the CDK")
	}
}

// With PINPIPE_SIGV4 (apiAuth=iam) the function signs every request as its role, for the region
// of the invoke URL, and needs no API key secret.
func TestHandlerSignsWithSigV4(t *testing.T) {
	var mu sync.Mutex
	auth := map[string]bool{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a := r.Header.Get("Authorization")
		mu.Lock()
		auth[strings.SplitN(a, " ", 2)[0]+" "+r.Header.Get("X-Amz-Security-Token")+" "+r.Header.Get("x-api-key")] = true
		mu.Unlock()
		io.WriteString(w, `{"offsets":[{"partition":0,"offset":1,"error_code":null,"error":null}]}`)
	}))
	defer api.Close()
	sm := &fakeSecrets{}
	h := newHandler(map[string]string{
		"PINPIPE_INVOKE_URL": api.URL + "/prod", "PINPIPE_MODE": "batch", "PINPIPE_RATE": "20",
		"PINPIPE_SECONDS": "1", "PINPIPE_SIGV4": "true",
	}, sm)
	h.awsConfig = func(context.Context) (aws.Config, error) {
		return aws.Config{Region: "eu-west-2", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "ASIAROLE", SecretAccessKey: "s", SessionToken: "role-token", CanExpire: true,
				Expires: time.Now().Add(time.Hour)}, nil
		})}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := h.Handle(ctx, json.RawMessage(`{}`))
	require.NoError(t, err)
	assert.Greater(t, res.Accepted, int64(0))
	assert.Equal(t, map[string]bool{"AWS4-HMAC-SHA256 role-token ": true}, auth, "signed, with the role's session token, no API key")
	assert.Zero(t, sm.calls.Load(), "no secret read")
	require.NotNil(t, h.signer)
	assert.Equal(t, "eu-west-2", h.signer.Region, "no region in a test URL: the configuration's")

	bad := newHandler(map[string]string{"PINPIPE_INVOKE_URL": api.URL, "PINPIPE_SIGV4": "maybe"}, sm)
	_, err = bad.Handle(ctx, json.RawMessage(`{}`))
	assert.ErrorContains(t, err, `PINPIPE_SIGV4 "maybe"`)
}
