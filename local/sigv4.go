package local

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// authorizeKinesis checks a Kinesis JSON request carries a signature, as Kinesis (and
// kinesalite) require; whether it was made with the API key is Guard's rule (guard.go), the one
// every route shares, and a request Guard let in (an x-api-key one too) is not asked again.
func authorizeKinesis(r *http.Request) error {
	if !guarded(r) && r.Header.Get("Authorization") == "" {
		return streamErr("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	return nil
}

// VerifySigV4 checks that r (whose body, already read, is body) carries a valid AWS Signature
// Version 4 Authorization header made with secret as the secret access key. The signature is
// recomputed with aws-sdk-go-v2's own signer over the headers the client signed, and compared in
// constant time. The error is a *StreamError in Kinesis' terms (IncompleteSignatureException,
// InvalidSignatureException).
func VerifySigV4(r *http.Request, body []byte, secret string, now time.Time) error {
	hash := sha256.Sum256(body)
	return verifySigV4Hash(r, hex.EncodeToString(hash[:]), secret, now)
}

// verifySigV4Hash is VerifySigV4 for a request whose payload hash (hex SHA-256, or S3's
// UNSIGNED-PAYLOAD and streaming markers, from X-Amz-Content-Sha256) is payloadHash.
func verifySigV4Hash(r *http.Request, payloadHash, secret string, now time.Time) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return streamErr("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != "AWS4-HMAC-SHA256" {
		return streamErr("IncompleteSignatureException", "Authorization header: want algorithm AWS4-HMAC-SHA256, got %q", alg)
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	cred, signed, sig := params["Credential"], params["SignedHeaders"], params["Signature"]
	if cred == "" || signed == "" || sig == "" {
		return streamErr("IncompleteSignatureException",
			"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=%s", auth)
	}
	// Credential=AKID/20240101/us-east-1/kinesis/aws4_request
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return streamErr("IncompleteSignatureException", "Credential %q: want ACCESS_KEY/DATE/REGION/SERVICE/aws4_request", cred)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return streamErr("IncompleteSignatureException", "Authorization header requires existence of a valid 'X-Amz-Date' header")
	}
	if d := now.Sub(signedAt); d > sigV4Skew || d < -sigV4Skew {
		return streamErr("InvalidSignatureException",
			"Signature expired: %s is now earlier than %s (%s - 15 min.)", amzDate, now.Add(-sigV4Skew).UTC().Format("20060102T150405Z"), now.UTC().Format("20060102T150405Z"))
	}
	if scope[1] != signedAt.Format("20060102") {
		return streamErr("InvalidSignatureException", "Credential should be scoped to a valid date: %s, not %s", signedAt.Format("20060102"), scope[1])
	}

	// Rebuild the request with only the headers the client signed, and sign it again.
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	re, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), nil)
	if err != nil {
		return streamErr("InvalidSignatureException", "cannot rebuild the request: %v", err)
	}
	re.Host = r.Host
	for _, h := range strings.Split(signed, ";") {
		switch h {
		case "host":
		case "content-length":
			re.ContentLength = r.ContentLength
		default:
			for _, v := range r.Header.Values(h) {
				re.Header.Add(h, v)
			}
		}
	}
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret}
	signer := v4.NewSigner(func(o *v4.SignerOptions) {
		// S3 signs the path as sent; every other service escapes it once more.
		o.DisableURIPathEscaping = scope[3] == "s3"
	})
	if err := signer.SignHTTP(context.Background(), creds, re, payloadHash, scope[3], scope[2], signedAt); err != nil {
		return streamErr("InvalidSignatureException", "cannot recompute the signature: %v", err)
	}
	got := map[string]string{}
	_, rest, _ = strings.Cut(re.Header.Get("Authorization"), " ")
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		got[k] = v
	}
	if got["SignedHeaders"] != signed {
		return streamErr("InvalidSignatureException",
			"The request signed the headers %q; this server can verify signatures over %q", signed, got["SignedHeaders"])
	}
	if !hmac.Equal([]byte(got["Signature"]), []byte(sig)) {
		return streamErr("InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return nil
}
