package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/analytics"
)

// s3TestEnv points the AWS SDKs and CLI of this test at url with dummy credentials and no
// config files.
func s3TestEnv(t *testing.T, url string) {
	t.Setenv("AWS_ENDPOINT_URL_S3", url)
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_DEFAULT_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

func s3TestClient(t *testing.T, url string) *s3.Client {
	t.Helper()
	s3TestEnv(t, url)
	c, err := analytics.NewS3Client(context.Background())
	require.NoError(t, err)
	return c
}

// s3Fixture fills a directory with objects as the sink lays them out, plus a key with a space
// and a sink temporary file (never listed), and serves it; it returns the server and the keys
// in S3's order.
func s3Fixture(t *testing.T, writable bool) (*httptest.Server, string, []string) {
	t.Helper()
	dir := t.TempDir()
	var keys []string
	for _, topic := range []string{"t1.pin", "t1.geo"} {
		for o := int64(0); o < 5; o++ {
			keys = append(keys, ObjectKey(topic, 0, o))
		}
	}
	keys = append(keys, "notes/a b+c.json", "top.json")
	for _, k := range keys {
		require.NoError(t, DirStore{dir}.Put(context.Background(), k, []byte(`{"key":"`+k+`"}`+"\n")))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "topics", "t1.pin", "partition=0", tempPrefix+"x.json-1"), []byte("{"), 0o644))
	sort.Strings(keys)
	h, err := NewS3Handler(dir, writable)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, dir, keys
}

// TestS3APIPaging: ListObjectsV2 and ListObjects page as S3 does. The SDK's paginator with
// MaxKeys=2 gets every key exactly once, IsTruncated true on every page but the last; start-after,
// delimiter (common prefixes counted with keys) and URL encoding work; boto3 and the AWS CLI
// page the same way.
func TestS3APIPaging(t *testing.T) {
	srv, _, keys := s3Fixture(t, false)
	c := s3TestClient(t, srv.URL)
	ctx := context.Background()

	pager := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(SinkBucket), MaxKeys: aws.Int32(2)})
	var got []string
	var truncated []bool
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Contents), 2)
		require.Equal(t, int32(len(page.Contents)), aws.ToInt32(page.KeyCount))
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
			require.Equal(t, int64(len(`{"key":"`+aws.ToString(o.Key)+`"}`+"\n")), aws.ToInt64(o.Size))
			require.NotEmpty(t, aws.ToString(o.ETag))
		}
		truncated = append(truncated, aws.ToBool(page.IsTruncated))
	}
	require.Equal(t, keys, got)
	require.Len(t, truncated, (len(keys)+1)/2)
	for i, tr := range truncated {
		require.Equal(t, i < len(truncated)-1, tr, "IsTruncated of page %d", i)
	}

	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(SinkBucket), Prefix: aws.String("topics/t1.pin/"),
		StartAfter: aws.String(ObjectKey("t1.pin", 0, 2))})
	require.NoError(t, err)
	require.Len(t, out.Contents, 2)
	require.Equal(t, ObjectKey("t1.pin", 0, 3), aws.ToString(out.Contents[0].Key))

	// A delimiter folds keys into common prefixes, each counted once across pages.
	var items []string
	pager = s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(SinkBucket), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		require.NoError(t, err)
		for _, p := range page.CommonPrefixes {
			items = append(items, aws.ToString(p.Prefix))
		}
		for _, o := range page.Contents {
			items = append(items, aws.ToString(o.Key))
		}
	}
	require.Equal(t, []string{"notes/", "top.json", "topics/"}, items)

	enc, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(SinkBucket), Prefix: aws.String("notes/"), EncodingType: s3types.EncodingTypeUrl})
	require.NoError(t, err)
	require.Len(t, enc.Contents, 1)
	require.Equal(t, "notes/a+b%2Bc.json", aws.ToString(enc.Contents[0].Key))

	// ListObjects (v1) pages by marker.
	got, marker := nil, ""
	for {
		page, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(SinkBucket), MaxKeys: aws.Int32(2), Marker: aws.String(marker)})
		require.NoError(t, err)
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		marker = aws.ToString(page.NextMarker)
		require.NotEmpty(t, marker)
	}
	require.Equal(t, keys, got)

	t.Run("boto3", func(t *testing.T) {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not installed")
		}
		if exec.Command("python3", "-c", "import boto3").Run() != nil {
			t.Skip("boto3 is not installed (apt-get install python3-boto3)")
		}
		script := `
import boto3, json, sys
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
pages = []
kw = {"Bucket": "` + SinkBucket + `", "MaxKeys": 2}
while True:
    r = c.list_objects_v2(**kw)
    pages.append({"keys": [o["Key"] for o in r.get("Contents", [])], "truncated": r["IsTruncated"]})
    if not r["IsTruncated"]:
        break
    kw["ContinuationToken"] = r["NextContinuationToken"]
print(json.dumps(pages))
`
		out, err := exec.Command("python3", "-c", script, srv.URL).CombinedOutput()
		require.NoError(t, err, string(out))
		var pages []struct {
			Keys      []string
			Truncated bool
		}
		require.NoError(t, json.Unmarshal(out, &pages), string(out))
		var got []string
		for i, p := range pages {
			require.LessOrEqual(t, len(p.Keys), 2)
			require.Equal(t, i < len(pages)-1, p.Truncated, "IsTruncated of page %d", i)
			got = append(got, p.Keys...)
		}
		require.Equal(t, keys, got)
	})

	t.Run("aws cli", func(t *testing.T) {
		if _, err := exec.LookPath("aws"); err != nil {
			t.Skip("the aws CLI is not installed (apt-get install awscli)")
		}
		out, err := exec.Command("aws", "--endpoint-url", srv.URL, "s3", "ls", "--recursive", "--page-size", "2", "s3://"+SinkBucket+"/").CombinedOutput()
		require.NoError(t, err, string(out))
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(l)
			require.GreaterOrEqual(t, len(f), 4, l)
			got = append(got, strings.Join(f[3:], " "))
		}
		require.Equal(t, keys, got)

		dst := filepath.Join(t.TempDir(), "obj.json")
		out, err = exec.Command("aws", "--endpoint-url", srv.URL, "s3", "cp", "s3://"+SinkBucket+"/"+keys[0], dst).CombinedOutput()
		require.NoError(t, err, string(out))
		b, err := os.ReadFile(dst)
		require.NoError(t, err)
		require.Equal(t, `{"key":"`+keys[0]+`"}`+"\n", string(b))

		// Read-only: a copy into the bucket is refused.
		out, err = exec.Command("aws", "--endpoint-url", srv.URL, "s3", "cp", dst, "s3://"+SinkBucket+"/planted.json").CombinedOutput()
		require.Error(t, err)
		require.Contains(t, string(out), "AccessDenied")
	})
}

// TestS3APIReadOnly: objects, ranges and errors come back as S3 gives them; writes are refused
// with 403 AccessDenied unless writable, and no response carries a CORS wildcard.
func TestS3APIReadOnly(t *testing.T) {
	srv, dir, keys := s3Fixture(t, false)
	c := s3TestClient(t, srv.URL)
	ctx := context.Background()
	body := `{"key":"` + keys[0] + `"}` + "\n"

	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String(keys[0])})
	require.NoError(t, err)
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	require.Equal(t, body, string(b))
	etag := aws.ToString(obj.ETag)

	rng, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String(keys[0]), Range: aws.String("bytes=2-5")})
	require.NoError(t, err)
	b, _ = io.ReadAll(rng.Body)
	rng.Body.Close()
	require.Equal(t, body[2:6], string(b))
	require.Equal(t, "bytes 2-5/"+strconv.Itoa(len(body)), aws.ToString(rng.ContentRange))

	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String(keys[0]), Range: aws.String("bytes=500-600")})
	require.Equal(t, "InvalidRange", apiErrorCode(err))

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String(keys[0])})
	require.NoError(t, err)
	require.Equal(t, int64(len(body)), aws.ToInt64(head.ContentLength))
	require.Equal(t, etag, aws.ToString(head.ETag))

	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String("topics/missing.json")})
	var nsk *s3types.NoSuchKey
	require.ErrorAs(t, err, &nsk)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String("topics/t1.pin/partition=0/" + tempPrefix + "x.json-1")})
	require.ErrorAs(t, err, &nsk, "a sink temporary file is not an object")
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String("topics")})
	var nf *s3types.NotFound
	require.ErrorAs(t, err, &nf, "a directory is not an object")
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("other")})
	require.Equal(t, "NoSuchBucket", apiErrorCode(err))

	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(SinkBucket)})
	require.NoError(t, err)
	_, err = c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(SinkBucket)})
	require.NoError(t, err)
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	require.NoError(t, err)
	require.Len(t, lb.Buckets, 1)
	require.Equal(t, SinkBucket, aws.ToString(lb.Buckets[0].Name))

	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String(keys[0]), Body: strings.NewReader("planted\n")})
	require.Equal(t, "AccessDenied", apiErrorCode(err))
	var re interface{ HTTPStatusCode() int }
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusForbidden, re.HTTPStatusCode())
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String(keys[0])})
	require.Equal(t, "AccessDenied", apiErrorCode(err))
	onDisk, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(keys[0])))
	require.NoError(t, err)
	require.Equal(t, body, string(onDisk))

	// Virtual-hosted style names the bucket in the host.
	vreq, _ := http.NewRequest("GET", srv.URL+"/"+keys[0], nil)
	vreq.Host = SinkBucket + ".localhost"
	vresp, err := http.DefaultClient.Do(vreq)
	require.NoError(t, err)
	b, _ = io.ReadAll(vresp.Body)
	vresp.Body.Close()
	require.Equal(t, http.StatusOK, vresp.StatusCode)
	require.Equal(t, body, string(b))

	for _, m := range []string{"GET", "OPTIONS", "PUT", "PATCH"} {
		req, _ := http.NewRequest(m, srv.URL+"/"+SinkBucket+"/"+keys[0], nil)
		req.Header.Set("Origin", "http://evil.example")
		req.Header.Set("Access-Control-Request-Method", "PUT")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), m)
		if m == "PATCH" || m == "OPTIONS" {
			require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, m)
		}
	}

	// Writable: puts and deletes work, still without CORS headers.
	wsrv, wdir, _ := s3Fixture(t, true)
	wc := s3TestClient(t, wsrv.URL)
	_, err = wc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String("planted.json"), Body: strings.NewReader("planted\n")})
	require.NoError(t, err)
	b, err = os.ReadFile(filepath.Join(wdir, "planted.json"))
	require.NoError(t, err)
	require.Equal(t, "planted\n", string(b))
	req, _ := http.NewRequest("PUT", wsrv.URL+"/"+SinkBucket+"/x.json", strings.NewReader("x"))
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

// TestS3PlantedObjectMovedAside: an object planted through the writable S3 API at the key the
// sink writes next is moved aside under conflicts/ at the next start, with a warning naming
// both paths; the pipeline neither exits nor loses a record.
func TestS3PlantedObjectMovedAside(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var logs []string
	cfg := Config{UserID: testUser, DataDir: dir, BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0",
		S3Addr: "127.0.0.1:0", S3Writable: true, Logf: func(f string, a ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(f, a...))
			mu.Unlock()
			t.Logf(f, a...)
		}}
	p, err := Start(context.Background(), cfg)
	require.NoError(t, err)
	want := produceAPI(t, p.URL, 5, 5, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.WaitCaughtUp(ctx))
	c := s3TestClient(t, p.S3URL)
	key := ObjectKey("t1.geo", 0, 5)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String(key), Body: strings.NewReader("{\"planted\":1}\n")})
	require.NoError(t, err)
	require.NoError(t, p.Close())

	p, err = Start(context.Background(), cfg)
	require.NoError(t, err)
	defer p.Close()
	more := produceAPI(t, p.URL, 5, 5, 5)
	for topic, m := range more {
		for o, v := range m {
			want[topic][o] = v
		}
	}
	require.NoError(t, p.WaitCaughtUp(ctx))
	select {
	case err := <-p.Failed():
		t.Fatalf("a part stopped: %v", err)
	default:
	}
	checkSinkDir(t, SinkDir(dir), want)
	got, err := os.ReadFile(filepath.Join(SinkDir(dir), ConflictsPrefix, key))
	require.NoError(t, err)
	require.Equal(t, "{\"planted\":1}\n", string(got))
	mu.Lock()
	defer mu.Unlock()
	warned := false
	for _, l := range logs {
		warned = warned || strings.Contains(l, "warning") && strings.Contains(l, filepath.Join(SinkDir(dir), key)) &&
			strings.Contains(l, filepath.Join(SinkDir(dir), ConflictsPrefix, key))
	}
	require.True(t, warned, "no warning naming both paths: %q", logs)
}

// TestS3APIKey: with an API key, the S3 API wants what the API wants. The SDK and the AWS CLI
// signing with the key as the secret access key list and read objects whose keys hold S3's
// escaped characters ('=', '+', a space); an unsigned request, a wrong secret and a wrong
// x-api-key get 403 with S3's XML error, and nothing is served.
func TestS3APIKey(t *testing.T) {
	dir := t.TempDir()
	keys := []string{ObjectKey("t1.pin", 0, 0), ObjectKey("t1.pin", 0, 1), "notes/a b+c.json"}
	for _, k := range keys {
		require.NoError(t, DirStore{dir}.Put(context.Background(), k, []byte(`{"key":"`+k+`"}`+"\n")))
	}
	const key = "s3-test-key-0123"
	srv, url, err := ServeSinkS3("127.0.0.1:0", dir, false, key)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	ctx := context.Background()

	s3TestEnv(t, url)
	t.Setenv("AWS_SECRET_ACCESS_KEY", key)
	c, err := analytics.NewS3Client(ctx)
	require.NoError(t, err)
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(SinkBucket)})
	require.NoError(t, err)
	var got []string
	for _, o := range out.Contents {
		got = append(got, aws.ToString(o.Key))
	}
	sort.Strings(keys)
	require.Equal(t, keys, got)
	for _, k := range keys {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(SinkBucket), Key: aws.String(k)})
		require.NoError(t, err, k)
		b, err := io.ReadAll(o.Body)
		require.NoError(t, err)
		require.Equal(t, `{"key":"`+k+`"}`+"\n", string(b))
	}
	if _, err := exec.LookPath("aws"); err == nil {
		b, err := exec.CommandContext(ctx, "aws", "s3", "cp", "s3://"+SinkBucket+"/"+keys[0], "-").CombinedOutput()
		require.NoError(t, err, string(b))
		require.Contains(t, string(b), keys[0])
	} else {
		t.Log("aws CLI not installed: the CLI half is skipped (scripts/setup.sh installs it)")
	}

	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-key")
	wrong, err := analytics.NewS3Client(ctx)
	require.NoError(t, err)
	_, err = wrong.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(SinkBucket)})
	require.ErrorContains(t, err, "StatusCode: 403")
	require.ErrorContains(t, err, "SignatureDoesNotMatch")

	for name, hdr := range map[string]string{"unsigned": "", "wrong x-api-key": "nope"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/"+SinkBucket+"/"+keys[0], nil)
		require.NoError(t, err)
		if hdr != "" {
			req.Header.Set("x-api-key", hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		require.Contains(t, string(b), "<Error><Code>", name)
		require.NotContains(t, string(b), `"key"`, name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/"+SinkBucket+"/"+keys[0], nil)
	require.NoError(t, err)
	req.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
