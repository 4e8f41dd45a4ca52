// Package sdkhttp is the HTTP client our tests give aws-sdk-go-v2 clients that make no retries.
//
// Why: smithy-go closes a request's body as soon as the HTTP client returns the response
// (transport/http.ClientHandler), and its body wrapper's WriteTo returns io.EOF once closed.
// net/http's Transport returns the response as soon as the headers arrive, which can be before
// its write loop has finished with the body: after writing Content-Length bytes it reads the
// body once more (through WriteTo) to check nothing follows. When the SDK's close wins that race,
// the write fails with EOF and the Transport closes the connection, under the response body the
// SDK is still reading: "deserialization failed ... use of closed network connection". With a
// body not known to be in memory, the Transport also flushes the headers alone and sends the
// body straight to the socket, so a fast local server answers inside that window about one
// call in a few hundred. The SDK's default retryer retries such calls (net.ErrClosed); clients
// that must not retry use this one.
package sdkhttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Client sends each request with the Transport's own in-memory copy of its body, so the SDK
// closing its body early changes nothing the Transport still reads. It implements the SDK's
// HTTPClient (Do).
type Client struct {
	// HTTP sends the requests (http.DefaultClient when nil).
	HTTP *http.Client
}

// Do sends req with its body read into memory first.
func (c Client) Do(req *http.Request) (*http.Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	// A body of unknown length (-1, a stream) is not the SDK's closable wrapper: sent as it is.
	if req.Body != nil && req.ContentLength > 0 {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read the request body: %w", err)
		}
		if int64(len(b)) != req.ContentLength {
			return nil, fmt.Errorf("request body of %d bytes, not its Content-Length %d", len(b), req.ContentLength)
		}
		req = req.Clone(req.Context())
		// io.NopCloser over a *bytes.Reader is a body net/http knows is in memory: headers
		// and body are written together, from this copy.
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return hc.Do(req)
}
