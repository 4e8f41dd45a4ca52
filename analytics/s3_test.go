package analytics

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/record"
)

// fakeS3 starts gofakes3 in-process on loopback with an empty bucket and points the AWS SDK at
// it through the environment, as a user would with AWS_ENDPOINT_URL_S3.
func fakeS3(t testing.TB, bucket string) *s3mem.Backend {
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(bucket))
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	fakeS3Env(t, srv.URL)
	return backend
}

// fakeS3Env points the AWS SDK at the S3 endpoint url through the environment.
func fakeS3Env(t testing.TB, url string) {
	t.Setenv("AWS_ENDPOINT_URL_S3", url)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// putSink writes generated posts as one-record objects (the original sink's flush.size=1) under
// prefix in the bucket, and the same objects into dir.
func putSink(t testing.TB, backend *s3mem.Backend, bucket, prefix, dir string, n int) int {
	pins, geos, users := genLines(2, n)
	count := 0
	for k, lines := range map[record.Kind][][]byte{record.Pin: pins, record.Geo: geos, record.User: users} {
		sinkObjects("demo", k, lines, 3, 1, func(key string, body []byte) {
			_, err := backend.PutObject(bucket, prefix+key, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil)
			require.NoError(t, err)
			if dir != "" {
				p := filepath.Join(dir, filepath.FromSlash(key))
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, body, 0o644))
			}
			count++
		})
	}
	return count
}

// TestBatchFromS3 reads thousands of one-record objects from gofakes3, writes the results back
// to S3, and gets exactly what a run over the same objects in a directory gets.
func TestBatchFromS3(t *testing.T) {
	backend := fakeS3(t, "sink")
	local := t.TempDir()
	objects := putSink(t, backend, "sink", "raw/", local, 1500)
	require.Equal(t, 4500, objects)

	ctx := context.Background()
	rep, err := RunBatch(ctx, BatchConfig{Input: "s3://sink/raw/topics", UserID: "demo", Out: "s3://sink/results"})
	require.NoError(t, err)
	assert.Equal(t, "s3://sink/results/report.html", rep.ReportPath)
	pins, _, _ := genLines(2, 1500)
	distinct := map[string]bool{}
	for _, l := range pins {
		distinct[string(l)] = true
	}
	for _, k := range rep.Kinds {
		assert.Equal(t, 1500, k.Objects)
		assert.Equal(t, int64(1500), k.Records)
		assert.Equal(t, int64(len(distinct)), k.Rows)
		assert.Equal(t, int64(1500-len(distinct)), k.Duplicates)
	}

	localOut := t.TempDir()
	_, err = RunBatch(ctx, BatchConfig{Input: local, UserID: "demo", Out: localOut})
	require.NoError(t, err)

	list, err := backend.ListBucket("sink", &gofakes3.Prefix{Prefix: "results/", HasPrefix: true}, gofakes3.ListBucketPage{})
	require.NoError(t, err)
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	var want []string
	for _, f := range rep.Files {
		want = append(want, "results/"+f)
	}
	sort.Strings(want)
	assert.Equal(t, want, keys)
	for _, o := range Outputs {
		obj, err := backend.GetObject("sink", "results/"+o.Name+".csv", nil)
		require.NoError(t, err)
		got, err := io.ReadAll(obj.Contents)
		require.NoError(t, err)
		obj.Contents.Close()
		exp, err := os.ReadFile(filepath.Join(localOut, o.Name+".csv"))
		require.NoError(t, err)
		assert.Equal(t, string(exp), string(got), o.Name)
		assert.Greater(t, bytes.Count(got, []byte("\n")), 1, "%s has rows", o.Name)
	}
}

func TestS3InputErrors(t *testing.T) {
	backend := fakeS3(t, "sink")
	putSink(t, backend, "sink", "", "", 3)
	_, err := RunBatch(context.Background(), BatchConfig{Input: "s3://sink/", UserID: "nobody", Out: t.TempDir()})
	assert.ErrorContains(t, err, `no sink objects for user "nobody" under s3://sink/topics/ (topics there: demo.geo, demo.pin, demo.user; is --user-id right?)`)
	_, err = RunBatch(context.Background(), BatchConfig{Input: "s3://missing-bucket/x", UserID: "demo", Out: t.TempDir()})
	// The three topics are listed concurrently: whichever fails first names its own prefix.
	require.Error(t, err)
	assert.Regexp(t, `listing s3://missing-bucket/x/topics/demo\.(pin|geo|user)/: .*NoSuchBucket`, err.Error())
	_, err = RunBatch(context.Background(), BatchConfig{Input: "s3:///x", UserID: "demo", Out: t.TempDir()})
	assert.ErrorContains(t, err, "no bucket name")
}

// noListS3 is S3 as a caller without s3:ListBucket on the objects it reads sees it: a GET or HEAD
// of a key that does not exist is answered 403 AccessDenied, not 404 (S3 User Guide, GetObject
// permissions). denied keys are refused although they exist.
type noListS3 struct {
	next   http.Handler
	denied func(path string) bool
}

func (h noListS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isObject := (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1
	if isObject && h.denied != nil && h.denied(r.URL.Path) {
		accessDenied(w)
		return
	}
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	if isObject && rec.Code == http.StatusNotFound {
		accessDenied(w)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func accessDenied(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
}

// The deployed batch task may list only its state folders: reading a state file that does not
// exist yet is answered 403, which the incremental mode must take for "no state yet" (its first
// run) — and a 403 on a file that exists stays an error.
func TestS3StateWithoutListPermission(t *testing.T) {
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("sink"))
	var deny atomic.Bool
	h := noListS3{next: gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server(),
		denied: func(p string) bool { return deny.Load() && strings.HasSuffix(p, "/_state/state.json") }}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	fakeS3Env(t, srv.URL)
	putSink(t, backend, "sink", "raw/", "", 300)

	ctx := context.Background()
	cfg := BatchConfig{Input: "s3://sink/raw/topics", UserID: "demo", Out: "s3://sink/results", Incremental: true}
	rep, err := RunBatch(ctx, cfg)
	require.NoError(t, err, "the first run finds no state (403 for a missing key)")
	assert.Contains(t, rep.Files, "_state/state.json")
	rep, err = RunBatch(ctx, cfg)
	require.NoError(t, err)
	for _, k := range rep.Kinds {
		assert.Equal(t, 300, k.Skipped, "the second run reads the state the first committed")
	}
	deny.Store(true)
	_, err = RunBatch(ctx, cfg)
	assert.ErrorContains(t, err, "AccessDenied", "a refused state file that exists is an error, not a missing state")
}
