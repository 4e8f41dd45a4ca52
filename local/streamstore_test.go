package local

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultFS is the real file system with a disk that fills: writes beyond the free bytes are cut
// short with ENOSPC, and truncation can be made to fail with EIO.
type faultFS struct {
	osFS
	mu           sync.Mutex
	free         int64
	failTruncate bool
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (storeFile, error) {
	sf, err := f.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{storeFile: sf, fs: f}, nil
}

// WriteFileAtomic fails on a full disk too (after creating the temporary file, as a real one would).
func (f *faultFS) WriteFileAtomic(name string, data []byte) error {
	f.mu.Lock()
	full := f.free < int64(len(data))
	f.mu.Unlock()
	if full {
		return syscall.ENOSPC
	}
	return f.osFS.WriteFileAtomic(name, data)
}

func (f *faultFS) set(free int64, failTruncate bool) {
	f.mu.Lock()
	f.free, f.failTruncate = free, failTruncate
	f.mu.Unlock()
}

type faultFile struct {
	storeFile
	fs *faultFS
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	n := min(int64(len(p)), f.fs.free)
	f.fs.free -= n
	f.fs.mu.Unlock()
	if n < int64(len(p)) {
		w, _ := f.storeFile.WriteAt(p[:n], off)
		return w, syscall.ENOSPC
	}
	return f.storeFile.WriteAt(p, off)
}

func (f *faultFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	fail := f.fs.failTruncate
	f.fs.mu.Unlock()
	if fail {
		return syscall.EIO
	}
	return f.storeFile.Truncate(size)
}

// readAll reads a shard through, in GetRecords-sized steps.
func readAll(t testing.TB, st *StreamStore, name, shard string) []StreamRecord {
	t.Helper()
	var out []StreamRecord
	after := ""
	for {
		recs, err := st.ReadShard(context.Background(), name, shard, after, maxGetRecords)
		require.NoError(t, err)
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		after = recs[len(recs)-1].SequenceNumber
	}
}

// TestStreamStoreTornWrite fills the disk under the store until writes fail, keeps writing, frees
// the space, writes more and reopens: every acknowledged record is there once, where it was
// acknowledged, in order; no record reported failed came back; no sequence number was given twice.
func TestStreamStoreTornWrite(t *testing.T) {
	for _, tc := range []struct {
		name         string
		failTruncate bool // the failed write cannot even be cut off: the shard stops until restart
	}{{"truncate works", false}, {"truncate fails", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			ffs := &faultFS{free: 40_000}
			st, err := OpenStreamStoreWith(dir, StreamStoreOptions{fs: ffs, SegmentBytes: 4096})
			require.NoError(t, err)
			require.NoError(t, st.CreateStream(ctx, "s", 2))

			acked := map[string]string{} // data -> sequence number
			failed := map[string]bool{}
			seqs := map[string]int{}
			shardOf := map[string]string{}
			id := 0
			put := func(batch int) (nFailed int) {
				var es []PutEntry
				for range 1 + batch%4 {
					es = append(es, PutEntry{PartitionKey: fmt.Sprintf("k%d", id),
						Data: []byte(fmt.Sprintf("rec-%06d-%s", id, strings.Repeat("x", 37*(id%11))))})
					id++
				}
				var rs []PutResult
				if len(es) == 1 {
					r, err := st.PutRecord(ctx, "s", es[0])
					if err != nil {
						var se *StreamError
						require.ErrorAs(t, err, &se)
						require.Equal(t, "ServiceUnavailable", se.Type)
						require.Equal(t, 503, se.Status)
						r = PutResult{ErrorCode: "InternalFailure"}
					}
					rs = []PutResult{r}
				} else {
					rs, err = st.PutRecords(ctx, "s", es)
					require.NoError(t, err)
				}
				for i, r := range rs {
					d := string(es[i].Data)
					if r.ErrorCode != "" {
						require.Equal(t, "InternalFailure", r.ErrorCode)
						failed[d] = true
						nFailed++
						continue
					}
					acked[d] = r.SequenceNumber
					shardOf[d] = r.ShardID
					seqs[r.SequenceNumber]++
				}
				return nFailed
			}
			batch := 0
			for ; len(failed) == 0; batch++ {
				require.Less(t, batch, 10_000, "the disk never filled")
				put(batch)
			}
			ffs.set(0, tc.failTruncate) // full: everything fails now
			for range 50 {
				put(batch)
				batch++
			}
			ffs.set(1<<40, false) // space freed
			ackedBefore := len(acked)
			for range 200 {
				put(batch)
				batch++
			}
			if !tc.failTruncate {
				assert.Greater(t, len(acked), ackedBefore+400, "writes resume once space is back")
			}
			require.NoError(t, st.Close())

			st, err = OpenStreamStore(dir)
			require.NoError(t, err)
			defer st.Close()
			for range 50 { // after a restart every shard takes writes again
				require.Zero(t, put(batch))
				batch++
			}
			for s, n := range seqs {
				require.Equal(t, 1, n, "sequence number %s handed out %d times", s, n)
			}
			seen := map[string]bool{}
			for _, sh := range []string{"shardId-000000000000", "shardId-000000000001"} {
				prev := ""
				for _, r := range readAll(t, st, "s", sh) {
					d := string(r.Data)
					require.False(t, failed[d], "record %.10s was reported failed but is stored", d)
					require.False(t, seen[d], "record %.10s stored twice", d)
					seen[d] = true
					require.Equal(t, acked[d], r.SequenceNumber, "record %.10s", d)
					require.Equal(t, shardOf[d], sh)
					require.True(t, prev == "" || seqLess(prev, r.SequenceNumber))
					prev = r.SequenceNumber
				}
			}
			assert.Len(t, seen, len(acked), "acknowledged records missing after restart")
			assert.NotEmpty(t, failed)
		})
	}
}

// TestStreamStoreLowOpenFiles creates a thousand shards, writes and reads each, and reopens the
// store, all under an open-files limit far below the number of shards.
func TestStreamStoreLowOpenFiles(t *testing.T) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("needs /proc/self/fd to count open files")
	}
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	low := lim
	low.Cur = uint64(len(fds) + 64)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })

	ctx := context.Background()
	dir := t.TempDir()
	st, err := OpenStreamStore(dir)
	require.NoError(t, err)
	const streams, shards, perStream = 40, 25, 300
	for i := range streams {
		require.NoError(t, st.CreateStream(ctx, fmt.Sprintf("s%02d", i), shards))
	}
	for i := range streams {
		var es []PutEntry
		for j := range perStream {
			es = append(es, PutEntry{PartitionKey: fmt.Sprintf("k%d", j), Data: []byte(fmt.Sprintf("%d/%d", i, j))})
		}
		rs, err := st.PutRecords(ctx, fmt.Sprintf("s%02d", i), es)
		require.NoError(t, err)
		for _, r := range rs {
			require.Empty(t, r.ErrorMessage)
		}
	}
	count := func(st *StreamStore) {
		for i := range streams {
			n, used := 0, 0
			for sh := range shards {
				recs := readAll(t, st, fmt.Sprintf("s%02d", i), fmt.Sprintf("shardId-%012d", sh))
				n += len(recs)
				if len(recs) > 0 {
					used++
				}
			}
			require.Equal(t, perStream, n)
			require.Equal(t, shards, used, "every shard written and read")
		}
	}
	count(st)
	require.NoError(t, st.Close())
	st, err = OpenStreamStore(dir)
	require.NoError(t, err)
	defer st.Close()
	count(st)
}

// TestStreamStoreRetention trims records older than the retention period, whole segments at a
// time, and GetShardIterator then starts where Kinesis would: TRIM_HORIZON and a trimmed
// sequence number at the oldest record kept, LATEST at the tip; the counter goes on after a
// restart.
func TestStreamStoreRetention(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	opt := StreamStoreOptions{Retention: time.Hour, SegmentBytes: 1024, now: now}
	st, err := OpenStreamStoreWith(dir, opt)
	require.NoError(t, err)
	defer func() { st.Close() }()
	require.NoError(t, st.CreateStream(ctx, "r", 1))
	put := func(n int, tag string) []string {
		var seqs []string
		for i := range n {
			r, err := st.PutRecord(ctx, "r", PutEntry{PartitionKey: "k", Data: []byte(fmt.Sprintf("%s-%03d-%s", tag, i, strings.Repeat("y", 80)))})
			require.NoError(t, err)
			seqs = append(seqs, r.SequenceNumber)
		}
		return seqs
	}
	segs := func() int {
		m, err := filepath.Glob(filepath.Join(dir, "r", "*.seg"))
		require.NoError(t, err)
		return len(m)
	}
	old := put(100, "old")
	require.Greater(t, segs(), 5)
	advance(30 * time.Minute)
	mid := put(100, "mid")
	advance(45 * time.Minute) // old is 75 min old, mid 45 min
	st.trim()
	recs := readAll(t, st, "r", "shardId-000000000000")
	require.GreaterOrEqual(t, len(recs), 100)
	assert.Less(t, len(recs), 115, "old records beyond the segment shared with mid are trimmed")
	assert.Equal(t, mid, seqsOf(recs[len(recs)-100:]))
	assert.Equal(t, old[100-(len(recs)-100):], seqsOf(recs[:len(recs)-100]), "what is kept is the newest of old")

	advance(2 * time.Hour) // everything has expired; the next put trims first
	fresh := put(5, "new")
	assert.Equal(t, fresh, seqsOf(readAll(t, st, "r", "shardId-000000000000")))
	assert.LessOrEqual(t, segs(), 2)

	// Through the Kinesis API: iterators at trimmed numbers start at the oldest kept record.
	api, err := NewAPI("127.0.0.1:1", st)
	require.NoError(t, err)
	defer api.Close()
	srv := httptest.NewServer(api)
	defer srv.Close()
	kc := kinesisClient(srv.URL, "any")
	read := func(typ ktypes.ShardIteratorType, seq string) []string {
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String("r"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: typ}
		if seq != "" {
			in.StartingSequenceNumber = aws.String(seq)
		}
		it, err := kc.GetShardIterator(ctx, in)
		require.NoError(t, err)
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		require.NoError(t, err)
		var got []string
		for _, r := range out.Records {
			got = append(got, aws.ToString(r.SequenceNumber))
		}
		return got
	}
	assert.Equal(t, fresh, read(ktypes.ShardIteratorTypeTrimHorizon, ""))
	assert.Equal(t, fresh, read(ktypes.ShardIteratorTypeAtSequenceNumber, old[3]))
	assert.Equal(t, fresh, read(ktypes.ShardIteratorTypeAfterSequenceNumber, mid[50]))
	assert.Equal(t, fresh[2:], read(ktypes.ShardIteratorTypeAtSequenceNumber, fresh[2]))
	assert.Empty(t, read(ktypes.ShardIteratorTypeLatest, ""))

	// An idle shard is trimmed too, and its counter survives a restart.
	advance(2 * time.Hour)
	st.trim()
	assert.Empty(t, readAll(t, st, "r", "shardId-000000000000"))
	require.NoError(t, st.Close())
	st, err = OpenStreamStoreWith(dir, opt)
	require.NoError(t, err)
	assert.Empty(t, readAll(t, st, "r", "shardId-000000000000"))
	after := put(1, "after")
	assert.True(t, seqLess(fresh[4], after[0]), "%s after %s", after[0], fresh[4])
	assert.Equal(t, after, seqsOf(readAll(t, st, "r", "shardId-000000000000")))
}

func seqsOf(recs []StreamRecord) []string {
	var s []string
	for _, r := range recs {
		s = append(s, r.SequenceNumber)
	}
	return s
}

// TestPutRecordsRequestLimit refuses a PutRecords whose data and partition keys pass 5 MiB, as
// Kinesis does (InvalidArgumentException), on the Kinesis JSON and the API Gateway-style routes,
// and stores none of its records; exactly 5 MiB is accepted.
func TestPutRecordsRequestLimit(t *testing.T) {
	srv, _, _, store := startAPI(t)
	ctx := context.Background()
	kc := kinesisClient(srv.URL, "any")
	name := testStreams()[0]
	entries := func(n, size int) []ktypes.PutRecordsRequestEntry {
		var es []ktypes.PutRecordsRequestEntry
		for i := range n {
			es = append(es, ktypes.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i % 10)), Data: []byte(strings.Repeat("a", size))})
		}
		return es
	}
	_, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries(6, 1<<20-1)})
	var iae *ktypes.InvalidArgumentException
	require.ErrorAs(t, err, &iae)
	assert.Contains(t, aws.ToString(iae.Message), "5 MB")
	// Partition keys count: five 1 MiB records and their keys are over.
	_, err = kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries(5, 1<<20)})
	require.ErrorAs(t, err, &iae)
	assert.Empty(t, readAll(t, store, name, "shardId-000000000000"), "nothing of a refused request is stored")
	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries(5, 1<<20-1)})
	require.NoError(t, err)
	assert.Zero(t, aws.ToInt32(out.FailedRecordCount))

	// The API Gateway-style route: the records' data is their JSON text.
	var b strings.Builder
	b.WriteString(`{"records":[`)
	for i := range 6 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"partition-key":"k%d","data":"%s"}`, i, strings.Repeat("b", 900_000))
	}
	b.WriteString("]}")
	code, _, body := do(t, srv.Client(), http.MethodPut, srv.URL+"/streams/"+name+"/records", "application/json", b.String())
	assert.Equal(t, http.StatusBadRequest, code, body)
	assert.Contains(t, body, `"__type":"InvalidArgumentException"`)
	assert.Len(t, readAll(t, store, name, "shardId-000000000000"), 5)
}

// TestStreamLimitExceeded creates streams through the SDK up to the shard quota: the one past it
// gets Kinesis' LimitExceededException (400) and leaves no directory, on both routes, and a
// deleted stream's shards can be used again.
func TestStreamLimitExceeded(t *testing.T) {
	b := startBroker(t, t.TempDir())
	dir := t.TempDir()
	st, err := OpenStreamStore(dir)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	api, err := NewAPI(b.Addr(), st)
	require.NoError(t, err)
	t.Cleanup(api.Close)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	kc := kinesisClient(srv.URL, "any")

	create := func(name string, shards int32) error {
		_, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)})
		return err
	}
	for i := range DefaultShardLimit/100 - 1 {
		require.NoError(t, create(fmt.Sprintf("full-%03d", i), 100))
	}
	require.NoError(t, create("last", 99))
	err = create("over", 2)
	var lee *ktypes.LimitExceededException
	require.ErrorAs(t, err, &lee, "%v", err)
	var re interface{ HTTPStatusCode() int }
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusBadRequest, re.HTTPStatusCode())
	assert.Contains(t, aws.ToString(lee.Message), "shard limit")
	assert.NoDirExists(t, filepath.Join(dir, "over"))

	require.NoError(t, create("one-more", 1)) // exactly the quota
	err = create("two-more", 1)
	require.ErrorAs(t, err, &lee)
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "LimitExceededException", ae.ErrorCode())
	code, _, body := do(t, srv.Client(), http.MethodPost, srv.URL+"/streams/rest-over", "application/json", `{"ShardCount":1}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `"__type":"LimitExceededException"`)
	assert.NoDirExists(t, filepath.Join(dir, "rest-over"))

	_, err = kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("full-000")})
	require.NoError(t, err)
	require.NoError(t, create("two-more", 1))
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("two-more"), PartitionKey: aws.String("k"), Data: []byte("x")})
	require.NoError(t, err)
}

// TestStreamPutFullDisk checks the answers to puts the disk refuses, on the wire: PutRecord is
// a 503 ServiceUnavailable (the SDK's retryable kind), PutRecords a 200 that marks every record
// InternalFailure and counts them; once space is back the same calls store.
func TestStreamPutFullDisk(t *testing.T) {
	ctx := context.Background()
	ffs := &faultFS{free: 1 << 20}
	dir := t.TempDir()
	st, err := OpenStreamStoreWith(dir, StreamStoreOptions{fs: ffs})
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.CreateStream(ctx, "full", 2))
	ffs.set(0, false)
	require.Error(t, st.CreateStream(ctx, "nospace", 1))
	assert.NoDirExists(t, filepath.Join(dir, "nospace"), "a failed create leaves nothing behind")
	names, err := st.ListStreams(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"full"}, names)
	api, err := NewAPI("127.0.0.1:1", st)
	require.NoError(t, err)
	defer api.Close()
	srv := httptest.NewServer(api)
	defer srv.Close()
	kc := kinesisClient(srv.URL, "any")

	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("full"), PartitionKey: aws.String("k"), Data: []byte("x")})
	var re interface{ HTTPStatusCode() int }
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusServiceUnavailable, re.HTTPStatusCode())
	assert.Equal(t, "ServiceUnavailable", apiErrorCode(err))
	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("full"), Records: []ktypes.PutRecordsRequestEntry{
		{PartitionKey: aws.String("a"), Data: []byte("1")}, {PartitionKey: aws.String("b"), Data: []byte("2")}}})
	require.NoError(t, err)
	assert.Equal(t, int32(2), aws.ToInt32(out.FailedRecordCount))
	for _, r := range out.Records {
		assert.Equal(t, "InternalFailure", aws.ToString(r.ErrorCode))
		assert.Contains(t, aws.ToString(r.ErrorMessage), "no space left")
		assert.Nil(t, r.SequenceNumber)
	}
	code, _, body := do(t, srv.Client(), http.MethodPut, srv.URL+"/streams/full/record", "application/json", `{"Data":{"a":1},"PartitionKey":"k"}`)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, `"__type":"ServiceUnavailable"`)

	ffs.set(1<<30, false)
	require.NoError(t, st.CreateStream(ctx, "nospace", 1))
	out, err = kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("full"), Records: []ktypes.PutRecordsRequestEntry{
		{PartitionKey: aws.String("a"), Data: []byte("1")}, {PartitionKey: aws.String("b"), Data: []byte("2")}}})
	require.NoError(t, err)
	assert.Zero(t, aws.ToInt32(out.FailedRecordCount))
	code, _, body = do(t, srv.Client(), http.MethodPut, srv.URL+"/streams/full/record", "application/json", `{"Data":{"a":1},"PartitionKey":"k"}`)
	assert.Equal(t, http.StatusOK, code, body)
}

// TestStreamStoreReadsOldJournal opens a data directory of the JSON-lines journals earlier
// versions wrote: its records are converted to segments with their sequence numbers, a torn last
// line is dropped, and new records follow. (An upgrade check: main reads these journals too.)
func TestStreamStoreReadsOldJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	created := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond) // within the retention
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "old"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old", "meta.json"),
		[]byte(fmt.Sprintf(`{"name":"old","shards":1,"created_unix_ms":%d}`, created.UnixMilli())), 0o644))
	prefix := fmt.Sprintf("49%013d%03d", created.UnixMilli(), 0)
	var journal strings.Builder
	for i := range 3 {
		fmt.Fprintf(&journal, `{"s":"%s%038d","k":"k","d":"%s","t":%d}`+"\n", prefix, i,
			[]string{"YQ==", "Yg==", "Yw=="}[i], created.UnixMilli()+int64(i))
	}
	journal.WriteString(`{"s":"` + prefix) // torn
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old", "shardId-000000000000.log"), []byte(journal.String()), 0o644))

	st, err := OpenStreamStore(dir)
	require.NoError(t, err)
	defer st.Close()
	recs := readAll(t, st, "old", "shardId-000000000000")
	require.Len(t, recs, 3)
	for i, r := range recs {
		assert.Equal(t, fmt.Sprintf("%s%038d", prefix, i), r.SequenceNumber)
		assert.Equal(t, string(rune('a'+i)), string(r.Data))
		assert.Equal(t, created.UnixMilli()+int64(i), r.Arrival.UnixMilli())
	}
	assert.NoFileExists(t, filepath.Join(dir, "old", "shardId-000000000000.log"))
	res, err := st.PutRecord(ctx, "old", PutEntry{PartitionKey: "k", Data: []byte("d")})
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("%s%038d", prefix, 3), res.SequenceNumber)
}

// TestRaiseOpenFileLimit lifts a lowered soft open-files limit to the hard limit, as serve does
// at start.
func TestRaiseOpenFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	low := lim
	low.Cur = 256
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	got, err := RaiseOpenFileLimit()
	require.NoError(t, err)
	var now syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now))
	assert.Equal(t, lim.Max, now.Cur)
	assert.Equal(t, now.Cur, got)
}
