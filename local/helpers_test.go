package local

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const testUser = "t1"

func testTopics() []string {
	return []string{testUser + ".pin", testUser + ".geo", testUser + ".user"}
}

func testStreams() []string {
	return []string{"streaming-" + testUser + "-pin", "streaming-" + testUser + "-geo", "streaming-" + testUser + "-user"}
}

// startBroker starts a broker on a free port with the test topics, closed at the end of the test.
func startBroker(t testing.TB, dir string) *Broker {
	t.Helper()
	b, err := StartBroker(context.Background(), BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir, Topics: testTopics()})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// startAPI serves an API over a fresh broker and an in-memory stream store with the test streams.
func startAPI(t testing.TB) (*httptest.Server, *API, *Broker, *StreamStore) {
	t.Helper()
	b := startBroker(t, t.TempDir())
	st, err := OpenStreamStore(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.EnsureStreams(context.Background(), 1, testStreams()...))
	api, err := NewAPI(b.Addr(), st)
	require.NoError(t, err)
	t.Cleanup(api.Close)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv, api, b, st
}

func do(t testing.TB, c *http.Client, method, url, contentType, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}
