package local

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// DefaultMaxInflight is the request body bytes the API holds at once by default
// (--max-inflight).
const DefaultMaxInflight = 64 << 20

// LimitInflight bounds the request body bytes that requests to next hold at once to max
// (DefaultMaxInflight when 0 or less): each request reserves its Content-Length (a chunked one
// the most a body may be, maxBodyBytes) before next reads it and gives it back when next
// returns. A request that does not fit is answered 429 with Retry-After, so clients back off
// rather than the process growing with the number of concurrent large bodies (64 bodies of
// 10 MB took it to 1.1 GB). Requests without a body always pass.
func LimitInflight(max int64, next http.Handler) http.Handler {
	if max <= 0 {
		max = DefaultMaxInflight
	}
	return &inflightLimit{max: max, next: next}
}

type inflightLimit struct {
	max  int64
	used atomic.Int64
	next http.Handler
}

func (l *inflightLimit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := r.ContentLength
	if n < 0 || n > maxBodyBytes {
		n = maxBodyBytes // chunked, or over the limit and refused once maxBodyBytes are read
	}
	if n == 0 {
		l.next.ServeHTTP(w, r)
		return
	}
	if l.used.Add(n) > l.max {
		l.used.Add(-n)
		// Read the body away in small steps (no memory kept) so the client, still sending,
		// reads the answer instead of a reset connection.
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBodyBytes))
		tooManyBytes(w, r, l.max)
		return
	}
	defer l.used.Add(-n)
	l.next.ServeHTTP(w, r)
}

// tooManyBytes answers 429 in the shape of r's route: Kinesis' throttling error (which the AWS
// SDKs retry) on the Kinesis JSON endpoint, API Gateway's on the /streams routes, and the REST
// Proxy's (error_code 429, as kafka-rest's RateLimitExceededException) on the others.
func tooManyBytes(w http.ResponseWriter, r *http.Request, max int64) {
	msg := fmt.Sprintf("the server holds %d bytes of request bodies at most and is full: retry later", max)
	w.Header().Set("Retry-After", "1")
	switch {
	case isKinesisJSON(r):
		kinesisJSONError(w, &StreamError{Type: "ProvisionedThroughputExceededException", Message: msg, Status: http.StatusTooManyRequests})
	case strings.HasPrefix(r.URL.Path, "/streams"):
		writeJSON(w, http.StatusTooManyRequests, "application/json", struct {
			Message string `json:"message"`
		}{"Too Many Requests"})
	default:
		kafkaError(w, http.StatusTooManyRequests, http.StatusTooManyRequests, msg)
	}
}
