package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeLargeBodies: 64 clients post 10 MB produce bodies at once. The bodies the server
// holds at once stay within --max-inflight (64 MiB): the heap's rise during the burst, beyond
// what the stored records keep afterwards, stays bounded, and every request is answered 200
// (every record stored) or 429 with Retry-After and a REST Proxy error body, none 5xx.
func TestServeLargeBodies(t *testing.T) {
	_, api, _, _ := startAPI(t)
	srv := httptest.NewServer(LimitInflight(DefaultMaxInflight, api))
	t.Cleanup(srv.Close)

	// One 10 MB body, 100 records of ~100 KB, shared by every request (the client's memory
	// is not the server's).
	var b strings.Builder
	b.WriteString(`{"records":[`)
	for i := range 100 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":{"i":%d,"pad":"%s"}}`, i, strings.Repeat("x", 100_000))
	}
	b.WriteString(`]}`)
	body := []byte(b.String())
	require.Greater(t, len(body), 10_000_000)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		problems []string
		client   = &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 64}}
		start    = make(chan struct{})
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", srv.URL+"/topics/t1.pin", bytes.NewReader(body))
			req.Header.Set("Content-Type", kjson)
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				problems = append(problems, err.Error())
				return
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			statuses[resp.StatusCode]++
			switch resp.StatusCode {
			case http.StatusOK:
				var ans produceAnswer
				if err := json.Unmarshal(raw, &ans); err != nil || len(ans.Offsets) != 100 {
					problems = append(problems, fmt.Sprintf("200 without 100 offsets: %.200s", raw))
				}
				for _, o := range ans.Offsets {
					if o.ErrorCode != nil {
						problems = append(problems, fmt.Sprintf("a record failed: %s", *o.Error))
					}
				}
			case http.StatusTooManyRequests:
				if resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(string(raw), `{"error_code":429,"message":`) {
					problems = append(problems, fmt.Sprintf("429 without Retry-After or REST Proxy body: %q %.200s", resp.Header.Get("Retry-After"), raw))
				}
			default:
				problems = append(problems, fmt.Sprintf("status %d: %.200s", resp.StatusCode, raw))
			}
		}()
	}
	close(start)
	wg.Wait()
	close(stop)
	<-sampled
	runtime.GC()
	runtime.ReadMemStats(&ms)
	after := ms.HeapAlloc // what the stored records (the in-memory broker) keep
	transient := int64(peak.Load()) - int64(max(after, base))
	t.Logf("statuses %v; heap: base %d MiB, peak %d MiB, after %d MiB, transient %d MiB",
		statuses, base>>20, peak.Load()>>20, after>>20, transient>>20)
	assert.Empty(t, problems)
	assert.Equal(t, 64, statuses[200]+statuses[429], "%v", statuses)
	assert.Positive(t, statuses[200], "some requests get in")
	// Bodies held at once are at most 64 MiB; each admitted one is read, decoded (its values
	// are slices of it) and produced; with the GC's headroom the rise stays under 4x the bound.
	assert.Less(t, transient, int64(4*DefaultMaxInflight), "heap rose %d MiB over what stays", transient>>20)
}
