package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/mysqltest"
)

func TestGenerate(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	code, stdout, stderr := runCLI(t, nil, "generate", "--out", a, "--rows", "50", "--seed", "9")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "wrote 50 rows per table (seed 9)")
	code, _, stderr = runCLI(t, map[string]string{"PINPIPE_ROWS": "50", "PINPIPE_SEED": "9"}, "generate", "--out", b)
	require.Equal(t, 0, code, stderr)
	for _, f := range []string{"pinterest_data.jsonl", "geolocation_data.jsonl", "user_data.jsonl"} {
		x, err := os.ReadFile(filepath.Join(a, f))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, f))
		require.NoError(t, err)
		assert.Equal(t, sha256.Sum256(x), sha256.Sum256(y), f)
		assert.Equal(t, 50, strings.Count(string(x), "\n"), f)
	}

	code, _, stderr = runCLI(t, nil, "generate")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--out is required")
	code, _, stderr = runCLI(t, nil, "generate", "--out", a, "--rows", "0")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--rows 0: want 1 to")
}

// apiServer records paths and API keys and accepts everything (or refuses with status).
type apiServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths map[string]int
	keys  map[string]bool
}

func newAPIServer(t *testing.T, status int) *apiServer {
	s := &apiServer{paths: map[string]int{}, keys: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.paths[r.Method+" "+r.URL.Path]++
		s.keys[r.Header.Get("x-api-key")] = true
		s.mu.Unlock()
		if status != http.StatusOK {
			w.WriteHeader(status)
			io.WriteString(w, `{"message":"Forbidden"}`)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/topics/") {
			io.WriteString(w, `{"offsets":[{"partition":0,"offset":1,"error_code":null,"error":null}]}`)
			return
		}
		io.WriteString(w, `{"SequenceNumber":"1","ShardId":"shardId-000000000000"}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestEmulate(t *testing.T) {
	api := newAPIServer(t, http.StatusOK)
	env := map[string]string{"PINPIPE_API_KEY": "k3y", "PINPIPE_USER_ID": "env-user", "PINPIPE_INVOKE_URL": api.URL}
	code, stdout, stderr := runCLI(t, env, "emulate", "--count", "4", "--rate", "0")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "12 records sent (4 posts), 12 accepted, 0 retried, 0 failed")
	assert.Empty(t, stderr, "no progress line when not a terminal")
	assert.Equal(t, map[string]int{"POST /topics/env-user.pin": 4, "POST /topics/env-user.geo": 4, "POST /topics/env-user.user": 4}, api.paths)
	assert.Equal(t, map[string]bool{"k3y": true}, api.keys)

	stream := newAPIServer(t, http.StatusOK)
	code, stdout, stderr = runCLI(t, nil, "emulate", "--invoke-url", stream.URL, "--mode", "stream", "--count", "2", "--rate", "0")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "6 accepted")
	assert.Equal(t, 2, stream.paths["PUT /streams/streaming-demo-pin/record"], "default user id demo")
	assert.Equal(t, map[string]bool{"": true}, stream.keys)
}

func TestEmulateFailures(t *testing.T) {
	refusing := newAPIServer(t, http.StatusForbidden)
	code, stdout, stderr := runCLI(t, nil, "emulate", "--invoke-url", refusing.URL, "--count", "1")
	assert.Equal(t, 1, code, "a record given up means a non-zero exit")
	assert.Contains(t, stdout, "3 failed")
	assert.Contains(t, stderr, "pinpipe emulate: records given up: 3 of 3 records")
	assert.Contains(t, stderr, "HTTP 403: Forbidden")

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "--invoke-url is required"},
		{[]string{"--invoke-url", refusing.URL, "--mode", "kafka"}, 1, `--mode "kafka": want batch or stream`},
		{[]string{"--invoke-url", refusing.URL, "--source", "csv"}, 1, `--source "csv"`},
		{[]string{"--invoke-url", refusing.URL, "--batch", "5"}, 1, "only stream mode"},
		{[]string{"--invoke-url", refusing.URL, "--user-id", "Bad_User"}, 1, `user id "Bad_User"`},
		{[]string{"--invoke-url", refusing.URL, "--password", "x"}, 2, "unknown flag --password: secrets are never flags"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"emulate"}, tc.args...)...)
		assert.Equal(t, tc.code, code, tc.args)
		assert.Contains(t, stderr, tc.want, tc.args)
	}
}

func TestSeedDBThenEmulateFromMySQL(t *testing.T) {
	srv := mysqltest.Start(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds.yml")
	require.NoError(t, os.WriteFile(creds, []byte(fmt.Sprintf(
		"host: %s\nport: %d\ndatabase: %s\nuser: %s\npassword: %s\n", srv.Host, srv.Port, srv.Database, srv.User, srv.Password)), 0o600))

	code, stdout, stderr := runCLI(t, nil, "seed-db", "--credentials", creds, "--rows", "120")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "with 120 rows per table (synthetic rows, seed 1)")
	assert.NotContains(t, stdout+stderr, srv.Password)

	// The environment works too, and a second run leaves the same data.
	env := map[string]string{
		"PINPIPE_DB_HOST": srv.Host, "PINPIPE_DB_PORT": strconv.Itoa(srv.Port), "PINPIPE_DB_NAME": srv.Database,
		"PINPIPE_DB_USER": srv.User, "PINPIPE_DB_PASSWORD": srv.Password,
	}
	code, _, stderr = runCLI(t, env, "seed-db", "--rows", "120")
	require.Equal(t, 0, code, stderr)

	api := newAPIServer(t, http.StatusOK)
	code, stdout, stderr = runCLI(t, nil, "emulate", "--invoke-url", api.URL, "--source", "mysql",
		"--credentials", creds, "--count", "10", "--rate", "0")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "30 accepted")

	// Generated files load too.
	data := t.TempDir()
	code, _, stderr = runCLI(t, nil, "generate", "--out", data, "--rows", "30")
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr = runCLI(t, nil, "seed-db", "--credentials", creds, "--from", data)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "with 30 rows per table ("+data+")")

	// Wrong password: a clear error naming where the credentials came from, never the password.
	env["PINPIPE_DB_PASSWORD"] = "wrong-password"
	code, _, stderr = runCLI(t, env, "seed-db")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "Access denied")
	assert.Contains(t, stderr, "credentials from environment (PINPIPE_DB_*)")
	assert.NotContains(t, stderr, "wrong-password")
}

func TestSeedDBWithoutCredentials(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, stderr := runCLI(t, nil, "seed-db")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no database credentials: write credentials_rds.yml")
}

func TestEmulateStopsCleanlyOnInterrupt(t *testing.T) {
	var handled atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(20 * time.Millisecond)
		handled.Add(1)
		io.WriteString(w, `{"offsets":[{"partition":0,"offset":1,"error_code":null,"error":null}]}`)
	}))
	defer api.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel) // what Ctrl-C does to the context in main
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code := run(ctx, env, []string{"emulate", "--invoke-url", api.URL, "--rate", "0"})
	assert.Equal(t, 0, code, errb.String())
	assert.Contains(t, errb.String(), "stopping: no new posts; waiting up to 30s for the records in flight")
	assert.Contains(t, out.String(), fmt.Sprintf("%d accepted, 0 retried, 0 failed", handled.Load()))
}

// --sigv4 (or PINPIPE_SIGV4) signs every request as the default credential chain's principal
// (here the environment's temporary credentials), for the region the invoke URL names or
// --region; the emulator package's tests verify the signatures themselves.
func TestEmulateSigV4(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "ASIACLIEXAMPLE000001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "cli-secret")
	t.Setenv("AWS_SESSION_TOKEN", "cli-session-token")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	var mu sync.Mutex
	auth := map[string]bool{}
	tokens := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a := r.Header.Get("Authorization")
		if i := strings.Index(a, "/"); i > 0 {
			// Credential=<key>/<date>/<region>/<service>/aws4_request: drop the date.
			rest := a[i+1:]
			if j := strings.Index(rest, "/"); j > 0 {
				a = a[:i] + rest[j:]
			}
		}
		mu.Lock()
		auth[strings.SplitN(a, ",", 2)[0]] = true
		tokens[r.Header.Get("X-Amz-Security-Token")] = true
		mu.Unlock()
		io.WriteString(w, `{"offsets":[{"partition":0,"offset":1,"error_code":null,"error":null}]}`)
	}))
	defer srv.Close()

	code, stdout, stderr := runCLI(t, map[string]string{"PINPIPE_SIGV4": "true"}, "emulate", "--invoke-url", srv.URL,
		"--region", "eu-west-2", "--count", "2", "--rate", "0")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "6 accepted")
	assert.Equal(t, map[string]bool{"AWS4-HMAC-SHA256 Credential=ASIACLIEXAMPLE000001/eu-west-2/execute-api/aws4_request": true}, auth)
	assert.Equal(t, map[string]bool{"cli-session-token": true}, tokens)

	// Without a region anywhere, it says where to give one.
	code, _, stderr = runCLI(t, nil, "emulate", "--invoke-url", srv.URL, "--sigv4", "--count", "1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "names no region: give --region")
}
