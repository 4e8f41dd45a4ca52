package local

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/record"
)

// startPipeline starts the whole pipeline for testUser on free ports in a temporary directory.
func startPipeline(t testing.TB, dir string) *Pipeline {
	t.Helper()
	p, err := Start(context.Background(), Config{UserID: testUser, DataDir: dir, BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Logf: t.Logf})
	require.NoError(t, err)
	return p
}

// topicValues reads every record of the test topics straight from the broker: offset -> value.
func topicValues(t testing.TB, broker string) map[string]map[int64]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(testTopics()...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ends := map[string]int64{}
	for topic, m := range endOffsetsAt(t, broker) {
		ends[topic] = m[0]
	}
	out := map[string]map[int64]string{}
	for _, topic := range testTopics() {
		out[topic] = map[int64]string{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		done := true
		for topic, end := range ends {
			if int64(len(out[topic])) < end {
				done = false
			}
		}
		if done {
			return out
		}
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err())
		fs.EachRecord(func(r *kgo.Record) { out[r.Topic][r.Offset] = string(line(r.Value)) })
	}
}

func endOffsetsAt(t testing.TB, broker string) map[string]map[int32]int64 {
	return endOffsets(t, &Broker{addr: broker})
}

// streamInds returns the ind of every record in a stream of the embedded store, sorted.
func streamInds(t testing.TB, st *StreamStore, k record.Kind) []int64 {
	t.Helper()
	name := record.Stream(testUser, k)
	d, err := st.DescribeStream(context.Background(), name)
	require.NoError(t, err)
	var inds []int64
	for _, sh := range d.Shards {
		recs, err := st.ReadShard(context.Background(), name, sh.ShardID, "", 1<<30)
		require.NoError(t, err)
		for _, r := range recs {
			var v map[string]any
			require.NoError(t, json.Unmarshal(r.Data, &v))
			inds = append(inds, int64(v[k.IndexColumn()].(float64)))
		}
	}
	sort.Slice(inds, func(i, j int) bool { return inds[i] < inds[j] })
	return inds
}

// tableInds returns the ind of every row of a stream table, sorted.
func tableInds(t testing.TB, c *Cleaner, k record.Kind) []int64 {
	t.Helper()
	rows, err := c.DB().Query(fmt.Sprintf(`SELECT ind FROM %q ORDER BY ind`, record.StreamTable(testUser, k)))
	require.NoError(t, err)
	defer rows.Close()
	var inds []int64
	for rows.Next() {
		var i int64
		require.NoError(t, rows.Scan(&i))
		inds = append(inds, i)
	}
	require.NoError(t, rows.Err())
	return inds
}

// TestEndToEnd drives the pipeline with the emulator in both modes and checks that every record
// the API accepted is in the sink exactly once (contiguous offsets, same values as the log) and
// in the stream tables exactly once. Run it with -race too (see the Makefile).
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	p := startPipeline(t, dir)
	defer p.Close()
	const posts = 1000
	src := emulator.NewSynthetic(7, 500) // 500 rows sampled 1,000 times: repeats of an ind too
	for _, c := range []struct {
		mode  emulator.Mode
		batch int
	}{{emulator.Batch, 1}, {emulator.Stream, 1}, {emulator.Stream, 25}} {
		st, err := emulator.Run(context.Background(), emulator.Config{InvokeURL: p.URL, UserID: testUser, Mode: c.mode,
			Count: posts, BatchSize: c.batch, Source: src})
		require.NoError(t, err)
		require.Equal(t, int64(3*posts), st.Accepted, "%s: %s", c.mode, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, p.WaitCaughtUp(ctx))

	want := topicValues(t, p.Broker.Addr())
	for _, topic := range testTopics() {
		require.Len(t, want[topic], posts, topic)
	}
	checkSinkDir(t, SinkDir(dir), want)
	for _, k := range record.Kinds {
		inds := streamInds(t, p.Store, k)
		require.Len(t, inds, 2*posts)
		assert.Equal(t, inds, tableInds(t, p.Cleaner, k), "%s table holds every stream record once", k)
	}
	require.NoError(t, p.Close())

	// A restart keeps everything: the broker's log, the streams, the sink's offsets, the tables.
	p2 := startPipeline(t, dir)
	defer p2.Close()
	require.NoError(t, p2.WaitCaughtUp(ctx))
	assert.Equal(t, want, topicValues(t, p2.Broker.Addr()))
	for _, k := range record.Kinds {
		assert.Len(t, tableInds(t, p2.Cleaner, k), 2*posts)
	}
	checkSinkDir(t, SinkDir(dir), want)
}

// TestCleanerCrash stops the stream cleaner as a crash would, at the commit of a batch and by a
// kill mid-run, restarts it and checks each record is in its table exactly once.
func TestCleanerCrash(t *testing.T) {
	srv, api, _, st := startAPI(t)
	src := emulator.NewSynthetic(3, 300)
	_, err := emulator.Run(context.Background(), emulator.Config{InvokeURL: srv.URL, UserID: testUser, Mode: emulator.Stream,
		Count: 600, BatchSize: 7, Source: src})
	require.NoError(t, err)
	db := filepath.Join(t.TempDir(), "stream.duckdb")
	open := func() *Cleaner {
		c, err := OpenCleaner(context.Background(), CleanerConfig{UserID: testUser, Streams: st, DBPath: db, BatchSize: 50, Wake: st.Changed})
		require.NoError(t, err)
		return c
	}
	// 1: crash just before the third commit: two batches in, the third rolled back.
	commits := 0
	crashHook = func(string) error {
		if commits++; commits == 3 {
			return errCrash
		}
		return nil
	}
	defer func() { crashHook = func(string) error { return nil } }()
	c := open()
	require.ErrorIs(t, c.Run(context.Background()), errCrash)
	rows, _ := c.Stats()
	require.Equal(t, int64(100), rows)
	require.NoError(t, c.Close())
	crashHook = func(string) error { return nil }

	// 2: killed mid-run (cancelled while batches are being written), then restarted.
	c = open()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, c.Close())

	c = open()
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- c.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	require.NoError(t, c.WaitFor(wctx, api.StreamMarks()))
	cancel()
	require.NoError(t, <-done)
	for _, k := range record.Kinds {
		assert.Equal(t, streamInds(t, st, k), tableInds(t, c, k), "%s", k)
	}
	require.NoError(t, c.Close())
}
