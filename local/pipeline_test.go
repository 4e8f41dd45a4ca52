package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pinpipe/pinpipe/analytics/clean"
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

// checkStreamTables checks the contract's "one row per ind" on the stream tables: every record
// of a stream that can be cleaned has its ind in the table exactly once, the row is the clean
// form of the first such record in the stream (a repeat is a re-send, the first one wins), and
// the table holds nothing else. It returns the repeats (clean records whose ind came earlier).
func checkStreamTables(t testing.TB, st *StreamStore, c *Cleaner) (repeats int64) {
	t.Helper()
	for _, k := range record.Kinds {
		name := record.Stream(testUser, k)
		d, err := st.DescribeStream(context.Background(), name)
		require.NoError(t, err)
		want := map[int64][]any{}
		for _, sh := range d.Shards {
			recs, err := st.ReadShard(context.Background(), name, sh.ShardID, "", 1<<30)
			require.NoError(t, err)
			in := make([]clean.StreamRecord, len(recs))
			for i, r := range recs {
				in[i] = clean.StreamRecord{ID: r.SequenceNumber, Data: r.Data}
			}
			for _, res := range clean.CleanStream(k, in) {
				if res.Err != nil {
					continue
				}
				if _, ok := want[res.Row.Ind()]; ok {
					repeats++
					continue
				}
				want[res.Row.Ind()] = normalize(res.Row.Values())
			}
		}
		rows, err := c.DB().Query(fmt.Sprintf(`SELECT * FROM %q`, record.StreamTable(testUser, k)))
		require.NoError(t, err)
		got := map[int64][]any{}
		for rows.Next() {
			vals := make([]any, len(clean.Columns(k)))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			ind := vals[0].(int64)
			if _, dup := got[ind]; dup {
				t.Fatalf("%s table: ind %d in more than one row", k, ind)
			}
			got[ind] = normalize(vals)
		}
		require.NoError(t, rows.Err())
		rows.Close()
		require.Equal(t, len(want), len(got), "%s table: one row per ind of the stream", k)
		for ind, w := range want {
			require.Contains(t, got, ind, "%s table: ind %d of the stream", k, ind)
			require.Equal(t, w, got[ind], "%s table: ind %d is the first record of that ind", k, ind)
		}
	}
	return repeats
}

// countedRepeats is the repeats the cleaner recorded in stream_repeats, over all runs.
func countedRepeats(t testing.TB, c *Cleaner) int64 {
	t.Helper()
	var n int64
	require.NoError(t, c.DB().QueryRow(`SELECT coalesce(sum(repeats), 0) FROM stream_repeats`).Scan(&n))
	return n
}

// normalize makes clean.Row values and values scanned from DuckDB comparable: times in UTC,
// lists as []float64.
func normalize(vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case time.Time:
			v = x.UTC()
		case []any:
			fs := make([]float64, len(x))
			for j, e := range x {
				fs[j] = e.(float64)
			}
			v = fs
		}
		out[i] = v
	}
	return out
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
		require.Len(t, streamInds(t, p.Store, k), 2*posts)
	}
	repeats := checkStreamTables(t, p.Store, p.Cleaner)
	require.Positive(t, repeats, "the emulator sampled with replacement: the streams hold repeats")
	_, skipped, _ := p.Cleaner.Stats()
	assert.Equal(t, repeats, skipped, "repeats counted")
	require.NoError(t, p.Close())

	// A restart keeps everything: the broker's log, the streams, the sink's offsets, the tables.
	p2 := startPipeline(t, dir)
	defer p2.Close()
	require.NoError(t, p2.WaitCaughtUp(ctx))
	assert.Equal(t, want, topicValues(t, p2.Broker.Addr()))
	assert.Equal(t, repeats, checkStreamTables(t, p2.Store, p2.Cleaner))
	assert.Equal(t, repeats, countedRepeats(t, p2.Cleaner))
	checkSinkDir(t, SinkDir(dir), want)
}

// TestCleanerCrash stops the stream cleaner as a crash would, at the commit of a batch and by a
// kill mid-run, restarts it and checks each ind is in its table exactly once, as its first
// record.
func TestCleanerCrash(t *testing.T) {
	srv, api, _, st := startAPI(t)
	src := emulator.NewSynthetic(3, 300)
	_, err := emulator.Run(context.Background(), emulator.Config{InvokeURL: srv.URL, UserID: testUser, Mode: emulator.Stream,
		Count: 600, BatchSize: 7, Source: src})
	require.NoError(t, err)
	// Repeats whose values differ from the first record of their ind (the first must win): a
	// late re-send of an ind already in the stream, and a new ind sent twice in one request.
	for _, k := range record.Kinds {
		name := record.Stream(testUser, k)
		first, err := st.ReadShard(context.Background(), name, "shardId-000000000000", "", 1)
		require.NoError(t, err)
		require.Len(t, first, 1)
		var old map[string]any
		require.NoError(t, json.Unmarshal(first[0].Data, &old))
		field := map[record.Kind]string{record.Pin: "title", record.Geo: "country", record.User: "first_name"}[k]
		changed := func(ind int, value string) []byte {
			m := map[string]any{}
			for k, v := range old {
				m[k] = v
			}
			m[k.IndexColumn()], m[field] = ind, value
			b, err := json.Marshal(m)
			require.NoError(t, err)
			return b
		}
		oldInd := int(old[k.IndexColumn()].(float64))
		_, err = api.streams.PutRecords(context.Background(), name, []PutEntry{
			{Data: changed(oldInd, "late re-send"), PartitionKey: "a"},
			{Data: changed(99999, "first"), PartitionKey: "b"},
			{Data: changed(99999, "second"), PartitionKey: "c"},
		})
		require.NoError(t, err)
	}
	marks := func() map[string]map[string]string {
		m := map[string]map[string]string{}
		for _, k := range record.Kinds {
			name := record.Stream(testUser, k)
			recs, err := st.ReadShard(context.Background(), name, "shardId-000000000000", "", 1<<30)
			require.NoError(t, err)
			m[name] = map[string]string{"shardId-000000000000": recs[len(recs)-1].SequenceNumber}
		}
		return m
	}()
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
	rows, repeats, _ := c.Stats()
	require.Equal(t, int64(100), rows+repeats)
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
	require.NoError(t, c.WaitFor(wctx, marks))
	cancel()
	require.NoError(t, <-done)
	repeats = checkStreamTables(t, st, c)
	assert.Equal(t, repeats, countedRepeats(t, c), "each repeat counted once across the crashes")
	require.NoError(t, c.Close())
}

// TestCleanerDropsOldRepeats opens a database written before the cleaner kept one row per ind:
// the first row of each ind stays, the others are counted as repeats.
func TestCleanerDropsOldRepeats(t *testing.T) {
	_, _, _, st := startAPI(t)
	db := filepath.Join(t.TempDir(), "stream.duckdb")
	old, err := sql.Open("duckdb", db+cleanerDSN)
	require.NoError(t, err)
	table := record.StreamTable(testUser, record.User)
	_, err = old.Exec(clean.TableDDL(record.User, table))
	require.NoError(t, err)
	_, err = old.Exec(fmt.Sprintf(`INSERT INTO %q (ind, user_name) VALUES (1, 'first'), (2, 'only'), (1, 'second'), (1, 'third')`, table))
	require.NoError(t, err)
	require.NoError(t, old.Close())

	c, err := OpenCleaner(context.Background(), CleanerConfig{UserID: testUser, Streams: st, DBPath: db})
	require.NoError(t, err)
	defer c.Close()
	rows, err := c.DB().Query(fmt.Sprintf(`SELECT ind, user_name FROM %q ORDER BY ind`, table))
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var ind int64
		var name string
		require.NoError(t, rows.Scan(&ind, &name))
		got = append(got, fmt.Sprint(ind, " ", name))
	}
	require.NoError(t, rows.Err())
	rows.Close()
	assert.Equal(t, []string{"1 first", "2 only"}, got)
	var repeats int64
	require.NoError(t, c.DB().QueryRow(`SELECT repeats FROM stream_repeats WHERE table_name = ?`, table).Scan(&repeats))
	assert.Equal(t, int64(2), repeats)
}
