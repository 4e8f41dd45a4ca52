package emulator

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file checks the emulator's SigV4 signing the way API Gateway does: a server that
// recomputes every signature from the request it received, with a verifier written from AWS's
// documented algorithm (Signature Version 4: canonical request, string to sign, derived signing
// key) and not from the SDK, and anchored to AWS's published test vectors.

// sigV4Auth is a parsed Authorization header.
type sigV4Auth struct {
	AccessKey, Date, Region, Service string
	SignedHeaders                    []string
	Signature                        string
}

func parseSigV4Auth(h string) (sigV4Auth, error) {
	var a sigV4Auth
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, fmt.Errorf("authorization %q: not AWS4-HMAC-SHA256", h)
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" {
				return a, fmt.Errorf("credential scope %q", v)
			}
			a.AccessKey, a.Date, a.Region, a.Service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			a.Signature = v
		}
	}
	if a.AccessKey == "" || len(a.SignedHeaders) == 0 || a.Signature == "" {
		return a, fmt.Errorf("authorization %q: incomplete", h)
	}
	return a, nil
}

// uriEncode is SigV4's URI encoding: every byte but the unreserved characters as %XY (upper
// case); '/' kept when encoding a path.
func uriEncode(s string, path bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && path:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// canonicalRequest builds the SigV4 canonical request of r (non-S3 services: the path as sent,
// URI-encoded once more; query parameters sorted; the signed headers, lower case, values
// trimmed and inner spaces collapsed).
func canonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	var query []string
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			query = append(query, uriEncode(k, false)+"="+uriEncode(v, false))
		}
	}
	sort.Strings(query)
	var headers strings.Builder
	for _, h := range signed {
		var v string
		if h == "host" {
			v = r.Host
		} else {
			v = strings.Join(r.Header.Values(h), ",")
		}
		headers.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	return strings.Join([]string{r.Method, uriEncode(path, true), strings.Join(query, "&"),
		headers.String(), strings.Join(signed, ";"), payloadHash}, "\n")
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func hexSHA256(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }

// signature computes the SigV4 signature of a canonical request.
func signature(secret, amzDate string, a sigV4Auth, canonical string) string {
	scope := strings.Join([]string{a.Date, a.Region, a.Service, "aws4_request"}, "/")
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hexSHA256(canonical)
	key := hmacSHA256([]byte("AWS4"+secret), a.Date)
	key = hmacSHA256(key, a.Region)
	key = hmacSHA256(key, a.Service)
	key = hmacSHA256(key, "aws4_request")
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

// verifySigV4 checks r (with body) as API Gateway would: a valid signature by creds for region
// and service execute-api, a fresh date, host and x-amz-date signed, and the session token signed
// when the credentials are temporary.
func verifySigV4(r *http.Request, body []byte, creds aws.Credentials, region string, now time.Time) error {
	a, err := parseSigV4Auth(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return fmt.Errorf("X-Amz-Date %q: %w", amzDate, err)
	}
	switch {
	case a.AccessKey != creds.AccessKeyID:
		return fmt.Errorf("signed by %s", a.AccessKey)
	case a.Service != ExecuteAPIService || a.Region != region:
		return fmt.Errorf("scope %s/%s, want %s/%s", a.Region, a.Service, region, ExecuteAPIService)
	case a.Date != amzDate[:8]:
		return fmt.Errorf("scope date %s, X-Amz-Date %s", a.Date, amzDate)
	case now.Sub(t) > 5*time.Minute || t.Sub(now) > 5*time.Minute:
		return fmt.Errorf("signed at %s, now %s", t, now)
	}
	signed := map[string]bool{}
	for _, h := range a.SignedHeaders {
		signed[h] = true
	}
	if !signed["host"] || !signed["x-amz-date"] {
		return fmt.Errorf("host and x-amz-date must be signed: %v", a.SignedHeaders)
	}
	if creds.SessionToken != "" && (!signed["x-amz-security-token"] || r.Header.Get("X-Amz-Security-Token") != creds.SessionToken) {
		return errors.New("session token missing or not signed")
	}
	if !sort.StringsAreSorted(a.SignedHeaders) {
		return fmt.Errorf("signed headers not sorted: %v", a.SignedHeaders)
	}
	want := signature(creds.SecretAccessKey, amzDate, a, canonicalRequest(r, a.SignedHeaders, hexSHA256(string(body))))
	if !hmac.Equal([]byte(want), []byte(a.Signature)) {
		return errors.New("signature does not match the request")
	}
	return nil
}

// The verifier reproduces AWS's published Signature Version 4 test-suite results (get-vanilla,
// post-vanilla, get-vanilla-query-order-key-case), so it checks AWS's algorithm, not ours.
func TestSigV4VerifierMatchesAWSTestSuite(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	auth := sigV4Auth{AccessKey: "AKIDEXAMPLE", Date: "20150830", Region: "us-east-1", Service: "service",
		SignedHeaders: []string{"host", "x-amz-date"}}
	for _, tc := range []struct{ name, method, url, want string }{
		{"get-vanilla", "GET", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"post-vanilla", "POST", "https://example.amazonaws.com/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"get-vanilla-query-order-key-case", "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	} {
		r, err := http.NewRequest(tc.method, tc.url, nil)
		require.NoError(t, err)
		r.Header.Set("X-Amz-Date", "20150830T123600Z")
		got := signature(secret, "20150830T123600Z", auth, canonicalRequest(r, auth.SignedHeaders, hexSHA256("")))
		assert.Equal(t, tc.want, got, tc.name)
	}
}

// sigV4Server is an API that accepts only requests validly signed by creds, answering like the
// deployed routes (REST proxy v2 produce, Kinesis PutRecord/PutRecords); the rest get 403 with
// API Gateway's message.
type sigV4Server struct {
	*httptest.Server
	mu       sync.Mutex
	verified int
	refused  []string
}

func newSigV4Server(t *testing.T, creds aws.Credentials, region string) *sigV4Server {
	s := &sigV4Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifySigV4(r, body, creds, region, time.Now()); err != nil {
			s.mu.Lock()
			s.refused = append(s.refused, err.Error())
			s.mu.Unlock()
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"message":"The request signature we calculated does not match the signature you provided."}`)
			return
		}
		s.mu.Lock()
		s.verified++
		s.mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/prod/topics/"):
			kafkaOK(w, 1)
		case strings.HasSuffix(r.URL.Path, "/records"):
			io.WriteString(w, `{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"},{"SequenceNumber":"2","ShardId":"shardId-000000000000"}]}`)
		default:
			putRecordOK(w)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// Every request the emulator sends with SigV4 passes the signature check, in both modes and with
// temporary credentials (the Lambda role's); a request signed with other credentials does not.
func TestEmulatorSignsRequestsWithSigV4(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "ASIAEXAMPLEEXAMPLE01", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		SessionToken: "IQoJb3JpZ2luX2VjEXAMPLE//token+with/slashes=", Source: "test"}
	srv := newSigV4Server(t, creds, "eu-west-2")
	signer, err := NewSigV4(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken), "eu-west-2")
	require.NoError(t, err)
	for _, tc := range []struct {
		mode  Mode
		batch int
	}{{Batch, 1}, {Stream, 1}, {Stream, 2}} {
		st, err := Run(context.Background(), fastRetry(Config{
			InvokeURL: srv.URL + "/prod", UserID: "demo", Mode: tc.mode, BatchSize: tc.batch, Count: 4,
			Source: &seqSource{}, SigV4: signer, MaxAttempts: 1,
		}))
		require.NoError(t, err, "%s/%d: %v", tc.mode, tc.batch, srv.refused)
		assert.Equal(t, int64(12), st.Accepted, "%s/%d", tc.mode, tc.batch)
	}
	assert.Empty(t, srv.refused)
	assert.GreaterOrEqual(t, srv.verified, 12+12+6)

	// Another key's signature, or none, is refused; the emulator reports the 403.
	other, _ := NewSigV4(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, "not-the-secret", creds.SessionToken), "eu-west-2")
	for _, sg := range []*SigV4{other, nil} {
		_, err = Run(context.Background(), fastRetry(Config{InvokeURL: srv.URL + "/prod", UserID: "demo", Mode: Batch, Count: 1,
			Source: &seqSource{}, SigV4: sg, MaxAttempts: 1}))
		require.ErrorIs(t, err, ErrGaveUp)
		assert.Contains(t, err.Error(), "HTTP 403")
	}
	// A wrong region in the scope is refused too.
	wrong, _ := NewSigV4(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken), "us-east-1")
	_, err = Run(context.Background(), fastRetry(Config{InvokeURL: srv.URL + "/prod", UserID: "demo", Mode: Batch, Count: 1,
		Source: &seqSource{}, SigV4: wrong, MaxAttempts: 1}))
	require.ErrorIs(t, err, ErrGaveUp)
}

// The verifier is not a rubber stamp: a changed body, path, header or time fails it.
func TestSigV4VerifierRejectsTampering(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}
	signer, _ := NewSigV4(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""), "us-east-1")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	signer.Now = func() time.Time { return now }
	body := []byte(`{"records":[{"value":{"ind":1}}]}`)
	fresh := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "https://abc123.execute-api.us-east-1.amazonaws.com/prod/topics/demo.pin", nil)
		r.Header.Set("Content-Type", "application/vnd.kafka.json.v2+json")
		require.NoError(t, signer.Sign(context.Background(), r, body))
		return r
	}
	require.NoError(t, verifySigV4(fresh(), body, creds, "us-east-1", now))
	assert.Error(t, verifySigV4(fresh(), []byte(`{"records":[{"value":{"ind":2}}]}`), creds, "us-east-1", now), "body")
	r := fresh()
	r.URL, _ = url.Parse("https://abc123.execute-api.us-east-1.amazonaws.com/prod/topics/demo.geo")
	assert.Error(t, verifySigV4(r, body, creds, "us-east-1", now), "path")
	r = fresh()
	r.Header.Set("Content-Type", "text/plain")
	assert.Error(t, verifySigV4(r, body, creds, "us-east-1", now), "signed header")
	assert.Error(t, verifySigV4(fresh(), body, creds, "us-east-1", now.Add(6*time.Minute)), "stale")
	assert.Error(t, verifySigV4(fresh(), body, aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "other"}, "us-east-1", now), "key")
}

func TestRegionOfInvokeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://a1b2c3d4e5.execute-api.eu-west-2.amazonaws.com/prod":     "eu-west-2",
		"https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn/prod": "cn-north-1",
		"https://api.example.com/prod":                                    "",
		"http://127.0.0.1:8080":                                           "",
		"::not a url":                                                     "",
	} {
		got, ok := RegionOfInvokeURL(in)
		assert.Equal(t, want, got, in)
		assert.Equal(t, want != "", ok, in)
	}
	_, err := NewSigV4(nil, "us-east-1")
	assert.Error(t, err)
	_, err = NewSigV4(credentials.NewStaticCredentialsProvider("a", "b", ""), "")
	assert.Error(t, err)
}
