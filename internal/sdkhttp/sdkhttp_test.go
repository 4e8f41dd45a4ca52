package sdkhttp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// earlyAnswer is a Kinesis GetRecords endpoint that opens the race deterministically: it sends
// the response headers before reading the request body (whose size keeps the client's write
// blocked on the socket meanwhile), gives the SDK time to see them and close its request body,
// then reads the request body, and sends the records only after the client's write loop had
// time to finish. records is the number of records in the answer.
func earlyAnswer(t *testing.T, records int) *httptest.Server {
	var body bytes.Buffer
	body.WriteString(`{"Records":[`)
	for i := range records {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"SequenceNumber":"%d","Data":"e30=","PartitionKey":"k","ApproximateArrivalTimestamp":1.7e9}`, i)
	}
	body.WriteString(`],"NextShardIterator":"next","MillisBehindLatest":0}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("full duplex: %v", err)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("Content-Length", fmt.Sprint(body.Len()))
		w.WriteHeader(http.StatusOK)
		if err := rc.Flush(); err != nil {
			t.Errorf("flush: %v", err)
			return
		}
		time.Sleep(100 * time.Millisecond)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil || n != r.ContentLength {
			t.Errorf("read %d of %d request bytes: %v", n, r.ContentLength, err)
		}
		time.Sleep(100 * time.Millisecond)
		w.Write(body.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestClientKeepsTheConnectionUnderTheAnswer checks that a GetRecords answer is read whole when
// the SDK closes its request body before the Transport is done with it (see the package doc).
// With a plain *http.Client as HTTPClient the call fails with "use of closed network connection".
func TestClientKeepsTheConnectionUnderTheAnswer(t *testing.T) {
	srv := earlyAnswer(t, 500)
	kc := kinesis.New(kinesis.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		HTTPClient:       Client{HTTP: &http.Client{Timeout: 10 * time.Second}},
		RetryMaxAttempts: 1,
	})
	// An iterator larger than the loopback socket buffers keeps the request's write going
	// while the answer's headers arrive.
	iter := strings.Repeat("A", 32<<20)
	out, err := kc.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: aws.String(iter)})
	require.NoError(t, err)
	assert.Len(t, out.Records, 500)
	assert.Equal(t, "next", aws.ToString(out.NextShardIterator))
}
