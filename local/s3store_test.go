package local

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/analytics"
)

// TestSinkToS3 runs the sink against an S3 endpoint (gofakes3 in-process), crashing it once
// between writes and commits: the bucket ends up with every record exactly once, and a key
// never gets other content.
func TestSinkToS3(t *testing.T) {
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("sink"))
	fake := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	defer fake.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", fake.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	client, err := analytics.NewS3Client(context.Background())
	require.NoError(t, err)
	s3s := S3Store{Client: client, Bucket: "sink", Prefix: "raw/"}

	srv, _, b, _ := startAPI(t)
	want := produceAPI(t, srv.URL, 120, 30, 0)
	store := &crashStore{ObjectStore: s3s, written: map[string][]byte{}, crashAfter: 50}
	_, cancel, done := runSink(t, SinkConfig{Brokers: []string{b.Addr()}, Topics: testTopics(), Store: store, FlushSize: 2})
	require.ErrorIs(t, <-done, errCrash)
	cancel()
	store.crashAfter = 0
	s, cancel, done := runSink(t, SinkConfig{Brokers: []string{b.Addr()}, Topics: testTopics(), Store: store, FlushSize: 3})
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	require.NoError(t, s.WaitFor(ctx, endOffsets(t, b)))
	cancel()
	require.NoError(t, <-done)

	// Download the bucket and check it like a sink directory.
	dir := t.TempDir()
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String("sink"), Prefix: aws.String("raw/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		require.NoError(t, err)
		for _, o := range page.Contents {
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sink"), Key: o.Key})
			require.NoError(t, err)
			body, err := io.ReadAll(out.Body)
			out.Body.Close()
			require.NoError(t, err)
			p := filepath.Join(dir, filepath.FromSlash((*o.Key)[len("raw/"):]))
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, body, 0o644))
		}
	}
	checkSinkDir(t, dir, want)
}

// TestSinkS3API: with S3Addr, an S3 client lists and reads the sink's objects from the bucket
// SinkBucket, byte for byte what the sink wrote.
func TestSinkS3API(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(context.Background(), Config{UserID: testUser, DataDir: dir, BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0",
		S3Addr: "127.0.0.1:0", Logf: t.Logf})
	require.NoError(t, err)
	defer p.Close()
	produceAPI(t, p.URL, 5, 5, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.WaitCaughtUp(ctx))

	t.Setenv("AWS_ENDPOINT_URL_S3", p.S3URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	client, err := analytics.NewS3Client(ctx)
	require.NoError(t, err)
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(SinkBucket), Prefix: aws.String("topics/t1.geo/")})
	require.NoError(t, err)
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	require.Len(t, keys, 5)
	require.Equal(t, ObjectKey("t1.geo", 0, 0), keys[0])
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String(keys[0])})
	require.NoError(t, err)
	body, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	require.NoError(t, err)
	onDisk, err := os.ReadFile(filepath.Join(SinkDir(dir), filepath.FromSlash(keys[0])))
	require.NoError(t, err)
	require.Equal(t, string(onDisk), string(body))
}
