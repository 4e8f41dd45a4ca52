package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Guard lets a request through to Next only when it proves it holds the API key, the one rule
// for every HTTP route of `serve` (REST, the Kinesis JSON endpoint, the stream query route, and
// the S3 API when wrapped with GuardS3):
//   - an x-api-key header equal to the key, as API Gateway checks it, or
//   - an AWS Signature Version 4 whose secret access key is the key (any access key id), so the
//     AWS CLI, boto3 and the SDKs work with AWS_SECRET_ACCESS_KEY set to it.
//
// Keys are compared in constant time. A refusal is 403 with the body the route family uses
// (see Deny).
type Guard struct {
	Key  string
	Next http.Handler
	// Deny writes the refusal; DenyAPI when nil.
	Deny func(w http.ResponseWriter, r *http.Request, err *StreamError)
	// Now is the clock signatures are checked against (time.Now when nil).
	Now func() time.Time
}

// NewGuard wraps next with the API key rule; with no key, next is returned as it is
// (loopback-only serving: see Exposed).
func NewGuard(key string, next http.Handler) http.Handler {
	if key == "" {
		return next
	}
	return &Guard{Key: key, Next: next}
}

// GuardS3 is NewGuard for the S3 API: refusals in S3's XML error shape.
func GuardS3(key string, next http.Handler) http.Handler {
	if key == "" {
		return next
	}
	return &Guard{Key: key, Next: next, Deny: DenyS3}
}

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := g.check(r); err != nil {
		deny := g.Deny
		if deny == nil {
			deny = DenyAPI
		}
		deny(w, r, err)
		return
	}
	g.Next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), guardedKey{}, true)))
}

// guardedKey marks, in a request's context, that Guard let it in.
type guardedKey struct{}

// guarded reports whether Guard let r in (its credentials were checked).
func guarded(r *http.Request) bool {
	ok, _ := r.Context().Value(guardedKey{}).(bool)
	return ok
}

// check returns nil when r carries the key, otherwise the reason in AWS's terms. A signed
// request's body is read to hash it (unless the client sent its hash in X-Amz-Content-Sha256,
// as S3 clients do; the body is then checked against that hash as it is read) and put back.
func (g *Guard) check(r *http.Request) *StreamError {
	if vs := r.Header.Values("X-Api-Key"); len(vs) > 0 {
		if len(vs) == 1 && subtle.ConstantTimeCompare([]byte(vs[0]), []byte(g.Key)) == 1 {
			return nil
		}
		return &StreamError{Type: "UnrecognizedClientException", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden}
	}
	if r.Header.Get("Authorization") == "" {
		return &StreamError{Type: "MissingAuthenticationTokenException", Message: "Missing Authentication Token", Status: http.StatusForbidden}
	}
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	var err error
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		err = verifySigV4Hash(r, h, g.Key, now)
		if err == nil && isSHA256Hex(h) {
			want, _ := hex.DecodeString(h)
			r.Body = &hashCheckReader{r: r.Body, h: sha256.New(), want: want}
		}
	} else {
		var body []byte
		body, err = io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
		if err != nil {
			return &StreamError{Type: "SerializationException", Message: fmt.Sprintf("request body over %d bytes", maxBodyBytes), Status: http.StatusRequestEntityTooLarge}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		err = VerifySigV4(r, body, g.Key, now)
	}
	if err == nil {
		return nil
	}
	se, _ := asStreamErr(err)
	return &StreamError{Type: se.Type, Message: se.Message, Status: http.StatusForbidden}
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// hashCheckReader fails the read that reaches the end of a body whose SHA-256 is not the one
// the signature covered, so a body changed after signing is never taken whole.
type hashCheckReader struct {
	r    io.ReadCloser
	h    hash.Hash
	want []byte
}

var errBodyHash = errors.New("the body does not match its signed X-Amz-Content-Sha256")

func (c *hashCheckReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF && !bytes.Equal(c.h.Sum(nil), c.want) {
		return n, errBodyHash
	}
	return n, err
}

func (c *hashCheckReader) Close() error { return c.r.Close() }

// DenyAPI writes a refusal in the shape of the route r is for: Kinesis' error body (its __type
// and x-amzn-ErrorType) on the Kinesis JSON endpoint, API Gateway's {"message":"Forbidden"}
// on every other route, as a deployed API with API keys answers.
func DenyAPI(w http.ResponseWriter, r *http.Request, err *StreamError) {
	if isKinesisJSON(r) {
		kinesisJSONError(w, err)
		return
	}
	w.Header().Set("x-amzn-ErrorType", "ForbiddenException")
	writeJSON(w, http.StatusForbidden, "application/json", struct {
		Message string `json:"message"`
	}{"Forbidden"})
}

// DenyS3 writes a refusal as S3 does: 403 with an XML Error (SignatureDoesNotMatch for a bad
// signature, AccessDenied otherwise).
func DenyS3(w http.ResponseWriter, r *http.Request, err *StreamError) {
	code := "AccessDenied"
	if err.Type == "InvalidSignatureException" {
		code = "SignatureDoesNotMatch"
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource></Error>",
		code, xmlEscape(err.Message), xmlEscape(r.URL.Path))
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

// Exposed reports whether addr (host:port, as --api and --s3-api take it) listens beyond this
// machine: an empty host (":8082", every interface), an unspecified or non-loopback address,
// or any host name but localhost.
func Exposed(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}
