package local

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// benchStreamRecords is a PutRecords batch of n records of about 300 bytes, as the emulator's pins.
func benchStreamRecords(n, from int) []PutEntry {
	es := make([]PutEntry, n)
	for i := range es {
		es[i] = PutEntry{PartitionKey: fmt.Sprintf("key-%d", from+i),
			Data: []byte(fmt.Sprintf(`{"index":%d,"title":"%s"}`, from+i, strings.Repeat("t", 270)))}
	}
	return es
}

// BenchmarkStreamStorePutRecords puts 100-record batches into a 5-shard stream kept on disk.
func BenchmarkStreamStorePutRecords(b *testing.B) {
	ctx := context.Background()
	st, err := OpenStreamStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateStream(ctx, "bench", 5); err != nil {
		b.Fatal(err)
	}
	es := benchStreamRecords(100, 0)
	b.SetBytes(int64(100 * len(es[0].Data)))
	b.ReportAllocs()
	for b.Loop() {
		rs, err := st.PutRecords(ctx, "bench", es)
		if err != nil || rs[0].ErrorCode != "" {
			b.Fatal(err, rs[0].ErrorMessage)
		}
	}
}

// BenchmarkStreamStorePutRecord puts single records.
func BenchmarkStreamStorePutRecord(b *testing.B) {
	ctx := context.Background()
	st, err := OpenStreamStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateStream(ctx, "bench", 5); err != nil {
		b.Fatal(err)
	}
	e := benchStreamRecords(1, 0)[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.PutRecord(ctx, "bench", e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamStoreReadShard reads 100 records at a time through a shard of 100,000.
func BenchmarkStreamStoreReadShard(b *testing.B) {
	ctx := context.Background()
	st, err := OpenStreamStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateStream(ctx, "bench", 1); err != nil {
		b.Fatal(err)
	}
	var seqs []string
	for i := range 1000 {
		rs, err := st.PutRecords(ctx, "bench", benchStreamRecords(100, i*100))
		if err != nil {
			b.Fatal(err)
		}
		seqs = append(seqs, rs[0].SequenceNumber)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		recs, err := st.ReadShard(ctx, "bench", "shardId-000000000000", seqs[i%len(seqs)], 100)
		if err != nil || len(recs) == 0 {
			b.Fatal(err, len(recs))
		}
		i += 7
	}
}

// samplePeakHeap samples the bytes of heap objects (live and not yet swept) until the returned
// stop, which answers the most seen.
func samplePeakHeap() (stop func() uint64) {
	var peak uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak }
}

// BenchmarkStreamStoreOpen opens a store holding a history of 200,000 or 1,000,000 records and
// reports the heap in use after the open (heap-bytes), which should not grow with the history.
func BenchmarkStreamStoreOpen(b *testing.B) {
	for _, n := range []int{200_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			st, err := OpenStreamStore(dir)
			if err != nil {
				b.Fatal(err)
			}
			if err := st.CreateStream(ctx, "hist", 4); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i += 500 {
				if _, err := st.PutRecords(ctx, "hist", benchStreamRecords(500, i)); err != nil {
					b.Fatal(err)
				}
			}
			st.Close()
			st = nil
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var open *StreamStore
			stop := samplePeakHeap()
			for b.Loop() {
				if open != nil {
					open.Close()
				}
				if open, err = OpenStreamStore(dir); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(stop()), "peak-heap-bytes")
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapInuse), "heap-bytes")
			b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse)), "heap-growth-bytes")
			runtime.KeepAlive(open)
			open.Close()
		})
	}
}
