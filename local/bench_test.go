package local

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchValue is a pin record of a typical size (~500 bytes).
var benchValue = `{"index":7528,"unique_id":"fbe53c66-3442-4773-b19e-d3ec6f54dddf","title":"No Title Data Available","description":"No description available Story format","poster_name":"User Info Error","follower_count":"User Info Error","tag_list":"N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e","is_image_or_video":"multi-video(story page format)","image_src":"Image src error.","downloaded":0,"save_location":"Local save in /data/mens-fashion","category":"mens-fashion"}`

// benchClient is the HTTP client of the benchmarks. It runs in the benchmark's process, on the
// same two cores as the server, so it is kept light: its write buffer holds a whole 100-record
// request (~46 KB), which then goes out in one write. With the default 4 KB buffer net/http
// copies the rest of the body through a fresh 32 KB buffer (it sends a body of known length
// through an io.LimitReader), which cost the client a fifth of the CPU the server used.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, WriteBufferSize: 64 << 10}}
}

func post(b *testing.B, c *http.Client, url, body string) {
	resp, err := c.Post(url, kjson, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkIngestSingleRecordPOST: one record per POST /topics/{topic} through the local API,
// 16 clients in parallel (the emulator's way). Metric: posts/s.
func BenchmarkIngestSingleRecordPOST(b *testing.B) {
	srv, _, _, _ := startAPI(b)
	c := benchClient()
	url, body := srv.URL+"/topics/t1.pin", `{"records":[{"value":`+benchValue+`}]}`
	b.SetParallelism(16 / max(1, min(16, testingProcs())))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			post(b, c, url, body)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "posts/s")
}

// body100 is a produce request of 100 benchValue records.
func body100() string {
	var sb strings.Builder
	sb.WriteString(`{"records":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"value":` + benchValue + `}`)
	}
	sb.WriteString(`]}`)
	return sb.String()
}

// BenchmarkDecodeProduce: decoding (and validating) a 100-record produce body, the server's
// largest cost per batched POST. Metric: MB/s.
func BenchmarkDecodeProduce(b *testing.B) {
	body := []byte(body100())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeProduce(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngest100RecordPOST: 100 records per POST through the local API, 16 clients.
// Metric: records/s, to set against BenchmarkDirectProduce.
func BenchmarkIngest100RecordPOST(b *testing.B) {
	srv, _, _, _ := startAPI(b)
	ingest100(b, srv.URL)
}

// BenchmarkIngest100RecordPOSTSnappy is BenchmarkIngest100RecordPOST with --compression snappy
// (kgo's own default, the API's before it produced uncompressed by default).
func BenchmarkIngest100RecordPOSTSnappy(b *testing.B) {
	br := startBroker(b, b.TempDir())
	st, err := OpenStreamStore(b.TempDir())
	require.NoError(b, err)
	b.Cleanup(func() { st.Close() })
	api, err := NewAPI(br.Addr(), st, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	require.NoError(b, err)
	b.Cleanup(api.Close)
	srv := httptest.NewServer(api)
	b.Cleanup(srv.Close)
	ingest100(b, srv.URL)
}

func ingest100(b *testing.B, base string) {
	c := benchClient()
	url, body := base+"/topics/t1.pin", body100()
	b.SetParallelism(16 / max(1, min(16, testingProcs())))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			post(b, c, url, body)
		}
	})
	b.ReportMetric(float64(100*b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkDirectProduce is the ceiling for BenchmarkIngest100RecordPOST: the same records
// produced straight to the embedded broker with franz-go (batches of 100 awaited, 16
// producers), no HTTP, with the API's producer settings (acks from all in-sync replicas, no
// linger, the same buffer, uncompressed batches as the API's default --compression none).
// Metric: records/s.
func BenchmarkDirectProduce(b *testing.B) { directProduce(b, kgo.NoCompression()) }

// BenchmarkDirectProduceSnappy is BenchmarkDirectProduce with snappy batches: the ceiling for
// BenchmarkIngest100RecordPOSTSnappy.
func BenchmarkDirectProduceSnappy(b *testing.B) { directProduce(b, kgo.SnappyCompression()) }

func directProduce(b *testing.B, codec kgo.CompressionCodec) {
	br := startBroker(b, b.TempDir())
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(1<<16), kgo.ProducerBatchCompression(codec))
	require.NoError(b, err)
	defer cl.Close()
	val := compactJSON([]byte(benchValue))
	b.SetParallelism(16 / max(1, min(16, testingProcs())))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		recs := make([]*kgo.Record, 100)
		for pb.Next() {
			now := time.Now() // as the API does: one timestamp per request
			for i := range recs {
				recs[i] = &kgo.Record{Topic: "t1.pin", Value: val, Timestamp: now}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(100*b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkStreamLatency measures, per record, the time from PUT /streams/{name}/record to the
// clean row being committed in the stream table (the cleaner's checkpoint passing it), one
// record at a time. Metrics: p50 and p99 in ms.
func BenchmarkStreamLatency(b *testing.B) {
	p := startPipeline(b, b.TempDir())
	defer p.Close()
	c := benchClient()
	stream := "streaming-" + testUser + "-pin"
	var seq atomic.Int64
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		body := fmt.Sprintf(`{"StreamName":%q,"Data":%s,"PartitionKey":"k%d"}`, stream, benchValue, seq.Add(1))
		t0 := time.Now()
		req, _ := http.NewRequest(http.MethodPut, p.URL+"/streams/"+stream+"/record", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = p.Cleaner.WaitFor(ctx, p.API.StreamMarks())
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}

// testingProcs is GOMAXPROCS, which RunParallel multiplies by SetParallelism.
func testingProcs() int { return runtime.GOMAXPROCS(0) }
