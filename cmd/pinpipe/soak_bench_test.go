package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pinpipe/pinpipe/emulator"
)

// soakDuration is how long each load phase of BenchmarkSoakServe runs: PINPIPE_SOAK (a Go
// duration such as 20s), default 60 s as issue 10 asks.
func soakDuration(b *testing.B) time.Duration {
	d := 60 * time.Second
	if s := os.Getenv("PINPIPE_SOAK"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			b.Fatalf("PINPIPE_SOAK=%q: want a duration such as 20s", s)
		}
	}
	return d
}

const (
	soakClients     = 4   // concurrent clients in each phase
	soakPutBatch    = 500 // records per PutRecords request (Kinesis' maximum)
	soakProduceSize = 100 // records per produce POST
	soakBodies      = 8   // distinct request bodies each client cycles through
	soakSettle      = 5 * time.Second
)

// BenchmarkSoakServe is the soak of issue 10: a real `pinpipe serve` under full-speed load for
// PINPIPE_SOAK (default 60 s) per phase, then a graceful stop (SIGINT) and a restart on that
// data. It reports the records per second acknowledged, the serve process's peak RSS (VmHWM)
// during the load, the time from exec until the restarted API answers, and the restarted
// process's peak RSS over its first 5 s (it reloads what it keeps, and the sink and stream
// cleaner resume). Run it once: go test ./cmd/pinpipe -run '^$' -bench SoakServe -benchtime 1x.
//
// PutRecords: 4 clients each sending 500 pin records of about 1 KB per request to the REST
// PutRecords route, for D and then D more on the restarted process, so the restart is measured
// over a history of D and of 2D: a stream store bounded in memory restarts in the same RSS.
// Produce: 4 clients each posting 100 such records per request to the REST produce route.
func BenchmarkSoakServe(b *testing.B) {
	d := soakDuration(b)
	recs := soakRecords(b)
	b.Run("PutRecords", func(b *testing.B) {
		srv := startServe(b, filepath.Join(b.TempDir(), "data"), freeAddr(b), freeAddr(b),
			"--user-id", "soak", "--flush-size", "1000")
		srv.startTimeout = 10 * time.Minute
		bodies := putRecordsBodies(recs)
		send := func(ctx context.Context, c *http.Client, i int) (int, error) {
			return sendPutRecords(ctx, c, srv.api, "streaming-soak-pin", bodies[i%len(bodies)])
		}
		for i, suffix := range []string{"", "-2x"} {
			rate, peak := soakLoad(b, srv, d, send)
			restart, restartPeak := soakRestart(b, srv)
			b.Logf("history %s of load: %.0f records/s, peak RSS %.0f MiB; restart %.2fs, RSS after restart %.0f MiB",
				d*time.Duration(i+1), rate, peak, restart, restartPeak)
			b.ReportMetric(rate, "rec/s"+suffix)
			b.ReportMetric(peak, "peak-RSS-MiB"+suffix)
			b.ReportMetric(restart, "restart-s"+suffix)
			b.ReportMetric(restartPeak, "restart-RSS-MiB"+suffix)
		}
		srv.stop(time.Minute)
	})
	b.Run("Produce", func(b *testing.B) {
		srv := startServe(b, filepath.Join(b.TempDir(), "data"), freeAddr(b), freeAddr(b),
			"--user-id", "soak", "--flush-size", "1000")
		srv.startTimeout = 10 * time.Minute
		bodies := produceBodies(recs)
		send := func(ctx context.Context, c *http.Client, i int) (int, error) {
			return sendProduce(ctx, c, srv.api, "soak.pin", bodies[i%len(bodies)])
		}
		rate, peak := soakLoad(b, srv, d, send)
		restart, restartPeak := soakRestart(b, srv)
		b.Logf("%.0f records/s, peak RSS %.0f MiB; restart %.2fs, RSS after restart %.0f MiB", rate, peak, restart, restartPeak)
		b.ReportMetric(rate, "rec/s")
		b.ReportMetric(peak, "peak-RSS-MiB")
		b.ReportMetric(restart, "restart-s")
		b.ReportMetric(restartPeak, "restart-RSS-MiB")
		srv.stop(time.Minute)
	})
}

// soakRecords are distinct pin records of about 1 KB (the synthetic dataset's, the description
// padded), encoded once so the clients spend their CPU on sending, not encoding.
func soakRecords(b *testing.B) [][]byte {
	n := soakBodies * soakPutBatch
	ds, err := emulator.Generate(1, n)
	if err != nil {
		b.Fatal(err)
	}
	out := make([][]byte, n)
	for i := range out {
		pin := ds.Pins[i]
		pin.Description += " " + strings.Repeat("lorem ipsum ", 80)
		if out[i], err = json.Marshal(pin); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

func putRecordsBodies(recs [][]byte) [][]byte {
	var bodies [][]byte
	for i := 0; i+soakPutBatch <= len(recs); i += soakPutBatch {
		var buf bytes.Buffer
		buf.WriteString(`{"records":[`)
		for j, r := range recs[i : i+soakPutBatch] {
			if j > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"data":%s,"partition-key":"%d"}`, r, i+j)
		}
		buf.WriteString(`]}`)
		bodies = append(bodies, buf.Bytes())
	}
	return bodies
}

func produceBodies(recs [][]byte) [][]byte {
	var bodies [][]byte
	for i := 0; i+soakProduceSize <= len(recs); i += soakProduceSize {
		var buf bytes.Buffer
		buf.WriteString(`{"records":[`)
		for j, r := range recs[i : i+soakProduceSize] {
			if j > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"value":%s}`, r)
		}
		buf.WriteString(`]}`)
		bodies = append(bodies, buf.Bytes())
	}
	return bodies
}

// sendPutRecords sends one PutRecords body and returns how many records were acknowledged.
func sendPutRecords(ctx context.Context, c *http.Client, api, stream string, body []byte) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+api+"/streams/"+stream+"/records", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	status, resp, ok := do(c, req)
	if !ok {
		return 0, fmt.Errorf("PutRecords: no answer")
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("PutRecords: HTTP %d: %.200s", status, resp)
	}
	var out struct {
		FailedRecordCount int
		Records           []json.RawMessage
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return 0, fmt.Errorf("PutRecords answer %.200q: %w", resp, err)
	}
	return len(out.Records) - out.FailedRecordCount, nil
}

// sendProduce posts one produce body and returns how many records were acknowledged.
func sendProduce(ctx context.Context, c *http.Client, api, topic string, body []byte) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/topics/"+topic, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.kafka.json.v2+json")
	status, resp, ok := do(c, req)
	if !ok {
		return 0, fmt.Errorf("produce: no answer")
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("produce: HTTP %d: %.200s", status, resp)
	}
	var out struct {
		Offsets []struct {
			ErrorCode *int `json:"error_code"`
		} `json:"offsets"`
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return 0, fmt.Errorf("produce answer %.200q: %w", resp, err)
	}
	n := 0
	for _, o := range out.Offsets {
		if o.ErrorCode == nil {
			n++
		}
	}
	return n, nil
}

// soakLoad runs soakClients clients sending as fast as the server answers for d, and returns the
// acknowledged records per second and the process's peak RSS (VmHWM) in MiB. A 429 or 503 is
// the server shedding load as designed: the client waits a moment and goes on; any other
// failure ends the benchmark.
func soakLoad(b *testing.B, srv *serveProcess, d time.Duration, send func(context.Context, *http.Client, int) (int, error)) (recsPerSec, peakMiB float64) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var acked, refused atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range soakClients {
		c := &http.Client{Timeout: time.Minute}
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i += soakClients {
				n, err := send(ctx, c, i)
				switch {
				case ctx.Err() != nil:
				case err != nil && (strings.Contains(err.Error(), "HTTP 429") || strings.Contains(err.Error(), "HTTP 503")):
					refused.Add(1)
					time.Sleep(50 * time.Millisecond)
				case err != nil:
					failed.CompareAndSwap(nil, err)
					cancel()
				default:
					acked.Add(int64(n))
				}
			}
		})
	}
	// Sample the memory while the load runs: the timeline shows whether it grows with history.
	tick := time.NewTicker(time.Second)
	var timeline []string
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			if _, rss, err := srv.memory(); err == nil && len(timeline) < 1000 {
				timeline = append(timeline, fmt.Sprintf("%.0f", float64(rss)/(1<<20)))
			}
		}
	}
	tick.Stop()
	wg.Wait()
	elapsed := time.Since(start)
	hwm, _, err := srv.memory()
	if err != nil {
		b.Fatalf("%v (serve exited? log %s:\n%s)", err, srv.logPath, tail(srv.logPath, 20))
	}
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("after %s and %d records: %v", elapsed.Round(time.Millisecond), acked.Load(), err)
	}
	b.Logf("RSS MiB each second: %s; %d requests refused with 429/503", strings.Join(timeline, " "), refused.Load())
	return float64(acked.Load()) / elapsed.Seconds(), float64(hwm) / (1 << 20)
}

// soakRestart stops serve gracefully (SIGINT), starts it on the same data, and returns the
// seconds until its API answered and its peak RSS in MiB over its first soakSettle.
func soakRestart(b *testing.B, srv *serveProcess) (restartSec, peakMiB float64) {
	b.Helper()
	t0 := time.Now()
	if err := srv.stop(2 * time.Minute); err != nil {
		b.Logf("graceful stop: %v", err)
	}
	b.Logf("graceful stop took %s", time.Since(t0).Round(time.Millisecond))
	srv.start(b)
	time.Sleep(soakSettle)
	hwm, rss, err := srv.memory()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("restarted in %s; after %s: VmHWM %.0f MiB, VmRSS %.0f MiB", srv.started.Round(time.Millisecond), soakSettle,
		float64(hwm)/(1<<20), float64(rss)/(1<<20))
	return srv.started.Seconds(), float64(hwm) / (1 << 20)
}
