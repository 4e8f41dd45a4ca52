package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGuardAPIKey: with a key, every route family lets in x-api-key: KEY or a SigV4 signature
// made with KEY as the secret access key, and refuses anything else with 403 in the family's
// shape (API Gateway's {"message":"Forbidden"} on REST, Kinesis' __type on JSON 1.1).
func TestGuardAPIKey(t *testing.T) {
	_, api, _, _ := startAPI(t)
	const key = "k3y-for-tests"
	srv := httptest.NewServer(NewGuard(key, api))
	t.Cleanup(srv.Close)

	type route struct {
		name, method, path, ctype, target, body string
		kinesis                                 bool
		ok                                      int
	}
	routes := []route{
		{name: "produce", method: "POST", path: "/topics/t1.pin", ctype: kjson, body: `{"records":[{"value":{"a":1}}]}`, ok: 200},
		{name: "list topics", method: "GET", path: "/topics", ok: 200},
		{name: "list streams", method: "GET", path: "/streams", ok: 200},
		{name: "put record", method: "PUT", path: "/streams/streaming-t1-pin/record", ctype: "application/json",
			body: `{"Data":{"a":1},"PartitionKey":"p"}`, ok: 200},
		{name: "stream query", method: "POST", path: StreamQueryPath, ctype: "application/json", body: `{"sql":"SELECT 1"}`, ok: 0},
		{name: "kinesis ListStreams", method: "POST", path: "/", ctype: amzJSON11, target: "Kinesis_20131202.ListStreams", body: `{}`, kinesis: true, ok: 200},
		{name: "kinesis PutRecord", method: "POST", path: "/", ctype: amzJSON11, target: "Kinesis_20131202.PutRecord",
			body: `{"StreamName":"streaming-t1-pin","Data":"eA==","PartitionKey":"k"}`, kinesis: true, ok: 200},
	}
	creds := []struct {
		name  string
		set   func(*http.Request, string)
		allow bool
		kType string // the Kinesis error type when refused
	}{
		{"no credentials", func(*http.Request, string) {}, false, "MissingAuthenticationTokenException"},
		{"wrong x-api-key", func(r *http.Request, _ string) { r.Header.Set("x-api-key", key+"x") }, false, "UnrecognizedClientException"},
		{"empty x-api-key", func(r *http.Request, _ string) { r.Header.Set("x-api-key", "") }, false, "UnrecognizedClientException"},
		{"right x-api-key", func(r *http.Request, _ string) { r.Header.Set("x-api-key", key) }, true, ""},
		{"SigV4, right secret", func(r *http.Request, body string) { signV4(t, r, body, key) }, true, ""},
		{"SigV4, wrong secret", func(r *http.Request, body string) { signV4(t, r, body, "not-"+key) }, false, "InvalidSignatureException"},
		{"SigV4, body changed after signing", func(r *http.Request, body string) {
			signV4(t, r, body+" ", key)
		}, false, "InvalidSignatureException"},
	}
	for _, rt := range routes {
		for _, c := range creds {
			t.Run(rt.name+"/"+c.name, func(t *testing.T) {
				req, err := http.NewRequest(rt.method, srv.URL+rt.path, strings.NewReader(rt.body))
				require.NoError(t, err)
				if rt.ctype != "" {
					req.Header.Set("Content-Type", rt.ctype)
				}
				if rt.target != "" {
					req.Header.Set("X-Amz-Target", rt.target)
				}
				c.set(req, rt.body)
				resp, err := srv.Client().Do(req)
				require.NoError(t, err)
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if c.allow {
					assert.NotEqual(t, http.StatusForbidden, resp.StatusCode, "%s", raw)
					if rt.ok != 0 {
						assert.Equal(t, rt.ok, resp.StatusCode, "%s", raw)
					}
					return
				}
				require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", raw)
				var body map[string]string
				require.NoError(t, json.Unmarshal(raw, &body), "%s", raw)
				if rt.kinesis {
					assert.Equal(t, c.kType, body["__type"], "%s", raw)
					assert.Equal(t, c.kType, resp.Header.Get("x-amzn-ErrorType"))
				} else {
					assert.Equal(t, map[string]string{"message": "Forbidden"}, body)
				}
			})
		}
	}

	// The real SDK: the key as the secret access key works, another secret does not.
	ctx := context.Background()
	_, err := kinesisClient(srv.URL, key).ListStreams(ctx, &kinesis.ListStreamsInput{})
	require.NoError(t, err)
	_, err = kinesisClient(srv.URL, "wrong").ListStreams(ctx, &kinesis.ListStreamsInput{})
	assert.Equal(t, "InvalidSignatureException", apiErrorCode(err), "%v", err)
}

// signV4 signs r as an AWS SDK would (service from the route: kinesis for JSON 1.1, else
// API Gateway's execute-api), with secret as the secret access key, over body.
func signV4(t *testing.T, r *http.Request, body, secret string) {
	t.Helper()
	service := "execute-api"
	if r.Header.Get("X-Amz-Target") != "" {
		service = "kinesis"
	}
	sum := sha256.Sum256([]byte(body))
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()))
}

// TestExposed: what counts as listening beyond this machine.
func TestExposed(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8082": false, "localhost:8082": false, "[::1]:8082": false, "127.0.0.2:1": false,
		":8082": true, "0.0.0.0:8082": true, "[::]:8082": true, "192.168.1.10:8082": true, "myhost:8082": true, "8082": true,
	} {
		assert.Equal(t, want, Exposed(addr), addr)
	}
}

// TestExposedPipelineNeedsKey: Start refuses to listen beyond loopback without a key, and with
// one, a pipeline bound to every interface serves the aws-sdk-go-v2 Kinesis client signing with
// the key as its secret (and refuses the same client with another secret, and REST calls
// without x-api-key).
func TestExposedPipelineNeedsKey(t *testing.T) {
	ctx := context.Background()
	_, err := Start(ctx, Config{UserID: testUser, DataDir: t.TempDir(), BrokerAddr: "127.0.0.1:0", APIAddr: "0.0.0.0:0"})
	require.ErrorIs(t, err, ErrExposedWithoutKey)
	_, err = Start(ctx, Config{UserID: testUser, DataDir: t.TempDir(), BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", S3Addr: ":0"})
	require.ErrorIs(t, err, ErrExposedWithoutKey)

	const key = "exposed-k3y"
	p, err := Start(ctx, Config{UserID: testUser, DataDir: t.TempDir(), BrokerAddr: "127.0.0.1:0", APIAddr: "0.0.0.0:0", APIKey: key, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	u, err := neturl.Parse(p.URL)
	require.NoError(t, err)
	url := "http://127.0.0.1:" + u.Port() // bound to every interface, reached through loopback

	kc := kinesisClient(url, key)
	out, err := kc.ListStreams(ctx, &kinesis.ListStreamsInput{})
	require.NoError(t, err)
	assert.Contains(t, out.StreamNames, "streaming-t1-pin")
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("streaming-t1-pin"), Data: []byte(`{"a":1}`), PartitionKey: aws.String("k")})
	require.NoError(t, err)
	_, err = kinesisClient(url, "wrong").ListStreams(ctx, &kinesis.ListStreamsInput{})
	assert.Equal(t, "InvalidSignatureException", apiErrorCode(err), "%v", err)

	status, _, body := do(t, http.DefaultClient, "GET", url+"/topics", "", "")
	assert.Equal(t, http.StatusForbidden, status, body)
}
