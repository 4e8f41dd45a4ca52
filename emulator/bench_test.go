package emulator

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pinpipe/pinpipe/record"
)

// acceptAll is the local API of the benchmarks: it reads the body and answers every record as
// the REST proxy does, as cheaply as net/http allows.
func acceptAll(b *testing.B) string {
	b.Helper()
	ok := []byte(`{"offsets":[{"partition":0,"offset":1,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}`)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/vnd.kafka.v2+json")
		_, _ = w.Write(ok)
	})}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// BenchmarkEmulatorSingleRecord: one record per request (batch mode), 16 requests in flight,
// against a local server that accepts everything. One op is one record (one request).
func BenchmarkEmulatorSingleRecord(b *testing.B) {
	url := acceptAll(b)
	src := NewSynthetic(DefaultSeed, DefaultRows)
	b.ReportAllocs()
	b.ResetTimer()
	st, err := Run(context.Background(), Config{
		InvokeURL: url, UserID: "bench", Mode: Batch, Concurrency: 16, Source: src,
		Count: int64(b.N+2) / 3,
	})
	b.StopTimer()
	if err != nil || st.Failed > 0 {
		b.Fatalf("%v (%v)", err, st)
	}
	b.ReportMetric(float64(st.Requests)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkBareClient is the reference for BenchmarkEmulatorSingleRecord: the same requests
// (pre-built bodies, same pooled client, 16 goroutines) without the emulator's work of
// sampling, encoding, checking and counting. The ratio of the two req/s is the emulator's cost.
func BenchmarkBareClient(b *testing.B) {
	url := acceptAll(b) + "/topics/bench.pin"
	d, _ := Generate(DefaultSeed, 100)
	var bodies [][]byte
	for i := range d.Len() {
		p := d.Post(i)
		r := &runner{}
		it := r.encode(&p, record.Pin)
		bodies = append(bodies, append(append([]byte(`{"records":[{"value":`), it.data...), `}]}`...))
	}
	client := NewHTTPClient(16)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[n%int64(len(bodies))]))
				req.Header.Set("Content-Type", "application/vnd.kafka.json.v2+json")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// heapSampler is a Source that reads the live heap (after a GC) every `every` posts.
type heapSampler struct {
	Source
	every   int64
	n       atomic.Int64
	mu      sync.Mutex
	samples []uint64
}

func (h *heapSampler) Random(ctx context.Context) (record.Post, error) {
	if n := h.n.Add(1); n%h.every == 0 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h.mu.Lock()
		h.samples = append(h.samples, ms.HeapAlloc)
		h.mu.Unlock()
	}
	return h.Source.Random(ctx)
}

// BenchmarkEmulatorMemory1M sends 1,000,000 single-record requests and reports the live heap
// after 10% of them (heap-10%-MB), at the end (heap-end-MB) and at most (heap-max-MB): flat
// memory means the three stay about equal.
func BenchmarkEmulatorMemory1M(b *testing.B) {
	url := acceptAll(b)
	for b.Loop() {
		const records = 1_000_000
		h := &heapSampler{Source: NewSynthetic(DefaultSeed, DefaultRows), every: records / 3 / 10}
		start := time.Now()
		st, err := Run(context.Background(), Config{
			InvokeURL: url, UserID: "bench", Mode: Batch, Concurrency: 16, Source: h,
			Count: (records + 2) / 3,
		})
		if err != nil || st.Failed > 0 {
			b.Fatalf("%v (%v)", err, st)
		}
		var top uint64
		for _, s := range h.samples {
			top = max(top, s)
		}
		const mb = 1 << 20
		b.ReportMetric(float64(h.samples[0])/mb, "heap-10%-MB")
		b.ReportMetric(float64(h.samples[len(h.samples)-1])/mb, "heap-end-MB")
		b.ReportMetric(float64(top)/mb, "heap-max-MB")
		b.ReportMetric(float64(st.Requests)/time.Since(start).Seconds(), "req/s")
	}
}
