package local

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StreamStore is the embedded stand-in for Kinesis Data Streams: named streams of shards, records
// routed to a shard by the MD5 of their partition key, strictly increasing sequence numbers per
// shard.
//
// Each shard is a series of segment files of checksummed frames (streamfiles.go), one frame per
// put, written before the put is acknowledged. A write that fails is cut back off the file, so it
// leaves no trace and its sequence numbers were never handed out; if even that fails the shard
// refuses writes until a restart, whose load cuts the torn frame off. Only an index stays in
// memory (per segment: its range and a sparse map of counters to offsets); reads come from the
// files through a bounded pool of open files, and segments older than the retention period are
// removed whole.
type StreamStore struct {
	root string // "" when not kept on disk
	fs   fileSystem
	pool *filePool
	opt  StreamStoreOptions

	mu      sync.Mutex
	streams map[string]*stream
	changed chan struct{} // closed and replaced on every put, to wake readers

	stop chan struct{}
	wg   sync.WaitGroup
}

// StreamStoreOptions tune a StreamStore; the zero value is Kinesis' defaults.
type StreamStoreOptions struct {
	// Retention is how long a record stays readable (default DefaultStreamRetention).
	Retention time.Duration
	// SegmentBytes is the size at which a shard starts a new segment file (default 64 MiB).
	SegmentBytes int64
	// MaxOpenFiles bounds the segment files kept open (default from RLIMIT_NOFILE).
	MaxOpenFiles int
	// ShardLimit bounds the shards of all streams together (default DefaultShardLimit).
	ShardLimit int

	fs  fileSystem       // nil: the OS, or memory without a directory
	now func() time.Time // nil: time.Now
}

const (
	// DefaultStreamRetention is Kinesis' default retention period.
	DefaultStreamRetention = 24 * time.Hour
	// DefaultShardLimit is Kinesis' default shard quota per account in us-east-1.
	DefaultShardLimit = 20000
	// maxPutRecordsBytes is PutRecords' limit on a request's data and partition keys together.
	maxPutRecordsBytes  = 5 << 20
	defaultSegmentBytes = 64 << 20
	// indexEvery is the spacing of the sparse index: a read scans at most this much to its start.
	indexEvery = 64 << 10
	// memoryRoot is where a store without a directory keeps its (in-memory) files.
	memoryRoot = "/memory"
)

type stream struct {
	name    string
	created time.Time
	shards  []*shard
	dir     string
}

type shard struct {
	id         string
	start, end *big.Int
	prefix     string // sequence numbers: prefix + 38-digit counter
	dir        string

	mu      sync.Mutex
	segs    []*segment // oldest first; the last is the one written to
	next    uint64     // counter of the next record
	broken  error      // a failed write could not be undone: refuse writes until restart
	deleted bool
}

// segment is one segment file's place in memory: its range and a sparse index.
type segment struct {
	first, end   uint64 // counters [first, end)
	path         string
	size         int64 // bytes of good frames
	indexed      bool  // index covers the file (sealed segments loaded from disk are indexed on first read)
	index        []indexEntry
	firstArrival time.Time // of its first record (or when it was started, while empty)
	lastArrival  time.Time // of its last record, known for the segment written to
}

type indexEntry struct {
	n   uint64
	off int64
}

// streamMeta is a stream's meta.json.
type streamMeta struct {
	Name    string `json:"name"`
	Shards  int    `json:"shards"`
	Created int64  `json:"created_unix_ms"`
}

// OpenStreamStore opens (or creates) a store in dir with Kinesis' defaults; dir "" keeps
// everything in memory.
func OpenStreamStore(dir string) (*StreamStore, error) {
	return OpenStreamStoreWith(dir, StreamStoreOptions{})
}

// OpenStreamStoreWith opens (or creates) a store in dir; dir "" keeps everything in memory.
func OpenStreamStoreWith(dir string, opt StreamStoreOptions) (*StreamStore, error) {
	if opt.Retention <= 0 {
		opt.Retention = DefaultStreamRetention
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = defaultSegmentBytes
	}
	if opt.ShardLimit <= 0 {
		opt.ShardLimit = DefaultShardLimit
	}
	if opt.MaxOpenFiles <= 0 {
		opt.MaxOpenFiles = defaultOpenFiles()
	}
	if opt.now == nil {
		opt.now = time.Now
	}
	root := dir
	if opt.fs == nil {
		opt.fs = osFS{}
		if dir == "" {
			opt.fs, root = newMemFS(), memoryRoot
		}
	}
	s := &StreamStore{root: root, fs: opt.fs, opt: opt, streams: map[string]*stream{}, changed: make(chan struct{}),
		stop: make(chan struct{})}
	s.pool = newFilePool(s.fs, opt.MaxOpenFiles)
	if err := s.fs.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("stream store: %w", err)
	}
	names, dirs, err := s.fs.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("stream store: %w", err)
	}
	for _, n := range names {
		if !dirs[n] {
			continue
		}
		st, err := s.loadStream(filepath.Join(root, n))
		if err != nil {
			s.pool.closeAll()
			return nil, err
		}
		if st != nil {
			s.streams[st.name] = st
		}
	}
	s.trim()
	s.wg.Add(1)
	go s.trimEvery(time.Minute)
	return s, nil
}

// defaultOpenFiles is the pool size: a quarter of the open-files limit, within [8, 512].
func defaultOpenFiles() int {
	soft := openFilesLimit()
	if soft == 0 {
		return 256
	}
	return int(min(512, max(8, soft/4)))
}

// Close stops the retention trimmer and closes the segment files.
func (s *StreamStore) Close() error {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.pool.closeAll()
	return nil
}

// trimEvery removes expired segments every interval until Close.
func (s *StreamStore) trimEvery(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.trim()
		}
	}
}

// trim removes, in every shard, the segments whose records are all older than the retention.
func (s *StreamStore) trim() {
	s.mu.Lock()
	var shards []*shard
	for _, st := range s.streams {
		shards = append(shards, st.shards...)
	}
	s.mu.Unlock()
	for _, sh := range shards {
		sh.mu.Lock()
		s.trimShard(sh)
		sh.mu.Unlock()
	}
}

// trimShard removes sh's expired segments (see expired); sh.mu is held. The segment written to,
// when its last record is older than the cutoff, is first replaced by an empty one, so the
// shard's next counter survives a restart in a file name.
func (s *StreamStore) trimShard(sh *shard) {
	if sh.deleted || len(sh.segs) == 0 {
		return
	}
	cutoff := s.opt.now().Add(-s.opt.Retention)
	if last := sh.segs[len(sh.segs)-1]; last.size > 0 && last.lastArrival.Before(cutoff) && sh.broken == nil {
		if s.roll(sh) != nil {
			return // kept until a roll succeeds
		}
	}
	for len(sh.segs) > 1 && sh.expired(0, cutoff) {
		old := sh.segs[0]
		s.pool.forget(old.path)
		if err := s.fs.Remove(old.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return
		}
		sh.segs = sh.segs[1:]
	}
}

// expired reports whether the records of sh.segs[i], not the last, all arrived before cutoff: by
// its last arrival when known, else because the next segment began before it.
func (sh *shard) expired(i int, cutoff time.Time) bool {
	if last := sh.segs[i].lastArrival; !last.IsZero() {
		return last.Before(cutoff)
	}
	return sh.segs[i+1].firstArrival.Before(cutoff)
}

// Changed returns a channel closed at the next put, so a reader can wait for new records.
func (s *StreamStore) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *StreamStore) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// EnsureStreams creates the named streams that do not exist, with shards shards each.
func (s *StreamStore) EnsureStreams(ctx context.Context, shards int, names ...string) error {
	for _, n := range names {
		err := s.CreateStream(ctx, n, shards)
		var se *StreamError
		if err != nil && !(errors.As(err, &se) && se.Type == "ResourceInUseException") {
			return err
		}
	}
	return nil
}

func (s *StreamStore) ListStreams(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.streams), nil
}

func (s *StreamStore) get(name string) (*stream, error) {
	if err := validStreamName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[name]
	if st == nil {
		return nil, notFound(name)
	}
	return st, nil
}

func (s *StreamStore) DescribeStream(_ context.Context, name string) (*StreamDescription, error) {
	st, err := s.get(name)
	if err != nil {
		return nil, err
	}
	d := &StreamDescription{
		StreamName:              st.name,
		StreamARN:               fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", localRegion, localAccount, st.name),
		StreamStatus:            "ACTIVE",
		StreamModeDetails:       streamMode{"PROVISIONED"},
		RetentionPeriodHours:    max(1, int(s.opt.Retention/time.Hour)),
		StreamCreationTimestamp: float64(st.created.UnixMilli()) / 1000,
		EnhancedMonitoring:      []enhancedMon{{ShardLevelMetrics: []string{}}},
		EncryptionType:          "NONE",
	}
	for _, sh := range st.shards {
		d.Shards = append(d.Shards, Shard{
			ShardID:             sh.id,
			HashKeyRange:        hashRange{sh.start.String(), sh.end.String()},
			SequenceNumberRange: seqNumRange{StartingSequenceNumber: sh.seq(0)},
		})
	}
	return d, nil
}

func (s *StreamStore) CreateStream(_ context.Context, name string, shards int) error {
	if err := validStreamName(name); err != nil {
		return err
	}
	if shards < 1 || shards > maxShardsPerCreat {
		return streamErr("ValidationException",
			"1 validation error detected: Value '%d' at 'shardCount' failed to satisfy constraint: Member must have value between 1 and %d", shards, maxShardsPerCreat)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[name] != nil {
		return streamErr("ResourceInUseException", "Stream %s under account %s already exists.", name, localAccount)
	}
	total := 0
	for _, st := range s.streams {
		total += len(st.shards)
	}
	if total+shards > s.opt.ShardLimit {
		return streamErr("LimitExceededException",
			"This request would exceed the shard limit for the account %s in %s. Current shard count for the account: %d. Limit: %d. Number of additional shards that would have resulted from this request: %d.",
			localAccount, localRegion, total, s.opt.ShardLimit, shards)
	}
	st := &stream{name: name, created: s.opt.now().UTC().Truncate(time.Millisecond), dir: filepath.Join(s.root, name)}
	// A directory without meta.json is an unfinished create: start afresh, and leave nothing
	// behind if this one fails too. Shard files are created by their first write.
	if err := s.fs.RemoveAll(st.dir); err != nil {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	meta, _ := json.Marshal(streamMeta{Name: name, Shards: shards, Created: st.created.UnixMilli()})
	err := s.fs.MkdirAll(st.dir, 0o755)
	if err == nil {
		err = s.fs.WriteFileAtomic(filepath.Join(st.dir, "meta.json"), meta)
	}
	if err != nil {
		s.fs.RemoveAll(st.dir)
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	st.makeShards(shards)
	s.streams[name] = st
	return nil
}

func (s *StreamStore) DeleteStream(_ context.Context, name string) error {
	if err := validStreamName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[name]
	if st == nil {
		return notFound(name)
	}
	delete(s.streams, name)
	for _, sh := range st.shards {
		sh.mu.Lock()
		sh.deleted, sh.segs = true, nil
		sh.mu.Unlock()
	}
	s.pool.forget(st.dir)
	if err := s.fs.RemoveAll(st.dir); err != nil {
		return fmt.Errorf("delete stream %s: %w", name, err)
	}
	return nil
}

// PutRecord stores one record; a write error is Kinesis' ServiceUnavailable (503), so clients
// retry.
func (s *StreamStore) PutRecord(ctx context.Context, name string, e PutEntry) (PutResult, error) {
	rs, err := s.PutRecords(ctx, name, []PutEntry{e})
	if err != nil {
		return PutResult{}, err
	}
	if rs[0].ErrorCode != "" {
		return PutResult{}, &StreamError{Type: "ServiceUnavailable", Message: rs[0].ErrorMessage, Status: 503}
	}
	return rs[0], nil
}

// PutRecords stores the records; those a write error kept out are reported with ErrorCode
// InternalFailure, as Kinesis does, and were not stored.
func (s *StreamStore) PutRecords(_ context.Context, name string, es []PutEntry) ([]PutResult, error) {
	if len(es) < 1 || len(es) > maxPutRecords {
		return nil, streamErr("ValidationException",
			"1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and %d", maxPutRecords)
	}
	size := 0
	for _, e := range es {
		if err := validEntry(e); err != nil {
			return nil, err
		}
		size += len(e.Data) + len(e.PartitionKey)
	}
	if size > maxPutRecordsBytes {
		return nil, streamErr("InvalidArgumentException",
			"Records size exceeds 5 MB limit: the records' data and partition keys total %d bytes, over %d", size, maxPutRecordsBytes)
	}
	st, err := s.get(name)
	if err != nil {
		return nil, err
	}
	// Group by shard so each shard gets one frame, then fill results in request order.
	byShard := map[*shard][]int{}
	var order []*shard
	for i, e := range es {
		sh := st.shardFor(e.PartitionKey)
		if byShard[sh] == nil {
			order = append(order, sh)
		}
		byShard[sh] = append(byShard[sh], i)
	}
	results := make([]PutResult, len(es))
	now := s.opt.now()
	stored := false
	for _, sh := range order {
		idx := byShard[sh]
		if err := s.append(sh, es, idx, now, results); err != nil {
			var se *StreamError
			if errors.As(err, &se) {
				return nil, err // the stream was deleted meanwhile
			}
			for _, i := range idx {
				results[i] = PutResult{ErrorCode: "InternalFailure", ErrorMessage: err.Error()}
			}
			continue
		}
		stored = true
	}
	if stored {
		s.notify()
	}
	return results, nil
}

// append stores es[idx...] in sh as one frame.
func (s *StreamStore) append(sh *shard, es []PutEntry, idx []int, now time.Time, results []PutResult) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.deleted {
		return streamErr("ResourceNotFoundException", "Shard %s does not exist: its stream was deleted", sh.id)
	}
	if sh.broken != nil {
		return sh.broken
	}
	s.trimShard(sh)
	first := sh.next
	bp := frameBufs.Get().(*[]byte)
	*bp = appendFrame((*bp)[:0], first, now, es, idx)
	err := s.writeFrame(sh, *bp, first, len(idx), now)
	if cap(*bp) <= 1<<20 { // a large request's buffer is not kept
		frameBufs.Put(bp)
	}
	if err != nil {
		return err
	}
	for j, i := range idx {
		results[i] = PutResult{SequenceNumber: sh.seq(first + uint64(j)), ShardID: sh.id}
	}
	return nil
}

// frameBufs are the buffers frames are encoded in, shared by all shards.
var frameBufs = sync.Pool{New: func() any { return new([]byte) }}

// writeFrame writes a frame of count records from counter first at the end of sh's last segment
// (a new one when it is full); sh.mu is held. On error nothing is stored and sh.next is
// unchanged.
func (s *StreamStore) writeFrame(sh *shard, buf []byte, first uint64, count int, arrival time.Time) error {
	if len(sh.segs) == 0 || sh.segs[len(sh.segs)-1].size >= s.opt.SegmentBytes {
		if err := s.roll(sh); err != nil {
			return err
		}
	}
	seg := sh.segs[len(sh.segs)-1]
	f, release, err := s.pool.get(seg.path)
	if err != nil {
		return fmt.Errorf("shard %s: %w", sh.id, err)
	}
	defer release()
	n, err := f.WriteAt(buf, seg.size)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		// Cut the torn frame off; if that fails too, never write after it: a frame after a
		// torn one could not be found again.
		if terr := f.Truncate(seg.size); terr != nil {
			sh.broken = fmt.Errorf("shard %s: writes refused until restart: a failed write (%v) could not be undone: %w", sh.id, err, terr)
		}
		return fmt.Errorf("shard %s: %w", sh.id, err)
	}
	if seg.size == 0 {
		seg.firstArrival = arrival
	}
	if len(seg.index) == 0 || seg.size-seg.index[len(seg.index)-1].off >= indexEvery {
		seg.index = append(seg.index, indexEntry{first, seg.size})
	}
	seg.size += int64(n)
	seg.end = first + uint64(count)
	seg.lastArrival = arrival
	sh.next = seg.end
	return nil
}

// roll starts a new, empty segment at sh.next; sh.mu is held.
func (s *StreamStore) roll(sh *shard) error {
	seg := &segment{first: sh.next, end: sh.next, path: filepath.Join(sh.dir, segmentName(sh.id, sh.next)),
		indexed: true, firstArrival: s.opt.now()}
	f, release, err := s.pool.get(seg.path)
	if err != nil {
		return fmt.Errorf("shard %s: new segment: %w", sh.id, err)
	}
	defer release()
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("shard %s: new segment: %w", sh.id, err)
	}
	sh.segs = append(sh.segs, seg)
	return nil
}

// ReadShard returns up to limit records after the sequence number after, oldest first. It
// returns fewer when they pass GetRecords' 10 MiB; none means the reader is at the tip. A
// sequence number older than the oldest record kept reads from the oldest kept, as Kinesis does
// after its retention trimmed a shard.
func (s *StreamStore) ReadShard(_ context.Context, name, shardID, after string, limit int) ([]StreamRecord, error) {
	st, err := s.get(name)
	if err != nil {
		return nil, err
	}
	var sh *shard
	for _, x := range st.shards {
		if x.id == shardID {
			sh = x
		}
	}
	if sh == nil {
		return nil, streamErr("ResourceNotFoundException", "Shard %s in stream %s under account %s does not exist", shardID, name, localAccount)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.deleted {
		return nil, notFound(name)
	}
	start := sh.firstAfter(after)
	var out []StreamRecord
	bytes := 0
	i := sort.Search(len(sh.segs), func(i int) bool { return sh.segs[i].end > start })
	for ; i < len(sh.segs) && len(out) < limit && bytes <= maxGetRecordsBytes; i++ {
		seg := sh.segs[i]
		if !seg.indexed {
			if err := s.indexSegment(seg); err != nil {
				return nil, fmt.Errorf("stream %s shard %s: %w", name, shardID, err)
			}
		}
		err := s.scanSegment(seg, seg.offsetOf(start), start, func(f frame) bool {
			if f.first+uint64(f.count) <= start {
				return true
			}
			f.each(func(n uint64, key string, data []byte) bool {
				if n < start {
					return true
				}
				out = append(out, StreamRecord{SequenceNumber: sh.seq(n), PartitionKey: key, Data: data, Arrival: f.arrival})
				bytes += len(key) + len(data)
				return len(out) < limit && bytes <= maxGetRecordsBytes
			})
			return len(out) < limit && bytes <= maxGetRecordsBytes
		})
		if err != nil {
			return nil, fmt.Errorf("stream %s shard %s: %w", name, shardID, err)
		}
	}
	return out, nil
}

// firstAfter is the counter of the first record after sequence number after.
func (sh *shard) firstAfter(after string) uint64 {
	lo := sh.seq(0)
	switch {
	case after == "" || seqLess(after, lo):
		return 0
	case len(after) != len(lo) || after[:len(sh.prefix)] != sh.prefix:
		return math.MaxUint64 // after this shard's numbers
	}
	n, err := strconv.ParseUint(after[len(sh.prefix):], 10, 64)
	if err != nil || n == math.MaxUint64 {
		return math.MaxUint64
	}
	return n + 1
}

// offsetOf is where to start scanning seg for counter n.
func (seg *segment) offsetOf(n uint64) int64 {
	i := sort.Search(len(seg.index), func(i int) bool { return seg.index[i].n > n })
	if i == 0 {
		return 0
	}
	return seg.index[i-1].off
}

// readers are the buffered readers of scans, reused: a read allocates only what it returns.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// scanSegment calls fn with the frames of seg from offset off until fn returns false. Frames
// wholly before counter from are stepped over by their headers alone.
func (s *StreamStore) scanSegment(seg *segment, off int64, from uint64, fn func(frame) bool) error {
	if off >= seg.size {
		return nil
	}
	f, release, err := s.pool.get(seg.path)
	if err != nil {
		return err
	}
	defer release()
	var hdr [frameHeader + payloadHeader]byte
	for off+int64(len(hdr)) <= seg.size {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return fmt.Errorf("%s: %w", seg.path, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:]))
		first := binary.LittleEndian.Uint64(hdr[frameHeader:])
		count := uint64(binary.LittleEndian.Uint32(hdr[frameHeader+16:]))
		if first+count > from || off+frameHeader+n > seg.size {
			break
		}
		off += frameHeader + n
	}
	r := readers.Get().(*bufio.Reader)
	defer readers.Put(r)
	r.Reset(io.NewSectionReader(f, off, seg.size-off))
	for {
		fr, _, err := readFrame(r, hdr[:], nil)
		if err == io.EOF || errors.Is(err, errBadFrame) {
			return nil // a sealed segment's corrupt middle: the rest of it is unreadable
		}
		if err != nil {
			return err
		}
		if !fn(fr) {
			return nil
		}
	}
}

// indexSegment builds the sparse index of a segment loaded from disk, on its first read.
func (s *StreamStore) indexSegment(seg *segment) error {
	f, release, err := s.pool.get(seg.path)
	if err != nil {
		return err
	}
	defer release()
	good, end, index, _, err := scanFrames(f, seg.size, seg.first)
	if err != nil {
		return err
	}
	seg.size, seg.index, seg.indexed = good, index, true
	if good > 0 {
		seg.end = end
	}
	return nil
}

// scanFrames reads the good frames of a file of size bytes whose first counter is first: the
// offset where they end, the counter after the last, a sparse index and the last arrival.
func scanFrames(f storeFile, size int64, first uint64) (good int64, end uint64, index []indexEntry, last time.Time, err error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 64<<10)
	var hdr [frameHeader]byte
	var buf []byte
	end = first
	for {
		fr, n, err := readFrame(r, hdr[:], buf)
		buf = fr.payload
		if err == io.EOF || errors.Is(err, errBadFrame) {
			return good, end, index, last, nil
		}
		if err != nil {
			return 0, 0, nil, time.Time{}, err
		}
		if fr.first != end || fr.each(func(uint64, string, []byte) bool { return true }) != nil {
			return good, end, index, last, nil // not the next frame: the good part ends here
		}
		if len(index) == 0 || good-index[len(index)-1].off >= indexEvery {
			index = append(index, indexEntry{fr.first, good})
		}
		good += n
		end = fr.first + uint64(fr.count)
		last = fr.arrival
	}
}

// LastSequence returns the newest sequence number of each shard that has had records.
func (s *StreamStore) LastSequence(name string) (map[string]string, error) {
	st, err := s.get(name)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, sh := range st.shards {
		sh.mu.Lock()
		if sh.next > 0 {
			out[sh.id] = sh.seq(sh.next - 1)
		}
		sh.mu.Unlock()
	}
	return out, nil
}

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// makeShards splits the 128-bit hash key space evenly, as CreateStream does.
func (st *stream) makeShards(n int) {
	width := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(int64(n)))
	for i := range n {
		start := new(big.Int).Mul(width, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, width), big.NewInt(1))
		if i == n-1 {
			end = maxHashKey
		}
		st.shards = append(st.shards, &shard{
			id: fmt.Sprintf("shardId-%012d", i), start: start, end: end, dir: st.dir,
			// 56 digits like Kinesis: "49", creation time, shard index, counter. Including the
			// creation time keeps a re-created stream's numbers above an old checkpoint's.
			prefix: fmt.Sprintf("49%013d%03d", st.created.UnixMilli(), i),
		})
	}
}

func (st *stream) shardFor(key string) *shard {
	sum := md5.Sum([]byte(key))
	h := new(big.Int).SetBytes(sum[:])
	for _, sh := range st.shards {
		if h.Cmp(sh.end) <= 0 {
			return sh
		}
	}
	return st.shards[len(st.shards)-1]
}

// seq is the sequence number of counter n: the prefix and n in 38 digits.
func (sh *shard) seq(n uint64) string {
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], n, 10)
	var b strings.Builder
	b.Grow(len(sh.prefix) + 38)
	b.WriteString(sh.prefix)
	b.WriteString(zeros[:38-len(d)])
	b.Write(d)
	return b.String()
}

const zeros = "00000000000000000000000000000000000000"

// loadStream reads a stream directory's index; it returns nil for an unfinished create.
func (s *StreamStore) loadStream(dir string) (*stream, error) {
	raw, err := s.fs.ReadFile(filepath.Join(dir, "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream store: %w", err)
	}
	var m streamMeta
	if err := json.Unmarshal(raw, &m); err != nil || m.Shards < 1 || m.Name != filepath.Base(dir) {
		return nil, fmt.Errorf("stream store: %s/meta.json is not a stream description", dir)
	}
	st := &stream{name: m.Name, created: time.UnixMilli(m.Created).UTC(), dir: dir}
	st.makeShards(m.Shards)
	names, _, err := s.fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", m.Name, err)
	}
	for _, sh := range st.shards {
		if err := s.loadShard(sh, names); err != nil {
			return nil, fmt.Errorf("stream %s: %w", m.Name, err)
		}
	}
	return st, nil
}

// loadShard finds sh's segments among a stream directory's names. Only the last segment is read
// through (to cut a torn frame off its end and learn the next counter); the others are known by
// their names and first frame, and indexed when first read.
func (s *StreamStore) loadShard(sh *shard, names []string) error {
	if err := s.migrateJournal(sh, names); err != nil {
		return err
	}
	names, _, err := s.fs.ReadDir(sh.dir) // again: a migration adds segments
	if err != nil {
		return err
	}
	for _, n := range names {
		num, ok := strings.CutPrefix(n, sh.id+"-")
		if !ok || !strings.HasSuffix(num, ".seg") {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(num, ".seg"), 10, 64)
		if err != nil {
			continue
		}
		path := filepath.Join(sh.dir, n)
		size, err := s.fs.Size(path)
		if err != nil {
			return err
		}
		sh.segs = append(sh.segs, &segment{first: first, end: first, path: path, size: size})
	}
	sort.Slice(sh.segs, func(i, j int) bool { return sh.segs[i].first < sh.segs[j].first })
	for i, seg := range sh.segs {
		if i+1 < len(sh.segs) {
			seg.end = sh.segs[i+1].first
			if err := s.readFirstArrival(seg); err != nil {
				return err
			}
			continue
		}
		f, release, err := s.pool.get(seg.path)
		if err != nil {
			return err
		}
		good, end, index, last, err := scanFrames(f, seg.size, seg.first)
		if err == nil && good < seg.size {
			err = f.Truncate(good) // the torn frame of a write that failed or was cut by a crash
		}
		release()
		if err != nil {
			return fmt.Errorf("shard %s: %w", sh.id, err)
		}
		seg.size, seg.end, seg.index, seg.lastArrival, seg.indexed = good, end, index, last, true
		if err := s.readFirstArrival(seg); err != nil {
			return err
		}
		sh.next = end
	}
	return nil
}

// readFirstArrival reads the arrival time of seg's first record (now for an empty segment, so it
// keeps the one before it until a full retention has passed).
func (s *StreamStore) readFirstArrival(seg *segment) error {
	seg.firstArrival = s.opt.now()
	if seg.size < frameHeader+payloadHeader {
		return nil
	}
	f, release, err := s.pool.get(seg.path)
	if err != nil {
		return err
	}
	defer release()
	var b [frameHeader + payloadHeader]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return fmt.Errorf("%s: %w", seg.path, err)
	}
	seg.firstArrival = time.UnixMilli(int64(binary.LittleEndian.Uint64(b[frameHeader+8:])))
	return nil
}

// journalLine is one record in the JSON-lines shard journal of earlier versions.
type journalLine struct {
	Seq  string `json:"s"`
	Key  string `json:"k"`
	Data []byte `json:"d"`
	Time int64  `json:"t"`
}

// migrateJournal converts an earlier version's <shard>.log into segments, streaming, and removes
// it once converted; segments found beside it are an interrupted conversion, redone.
func (s *StreamStore) migrateJournal(sh *shard, names []string) error {
	log := sh.id + ".log"
	if !sort.StringsAreSorted(names) {
		sort.Strings(names)
	}
	if i := sort.SearchStrings(names, log); i == len(names) || names[i] != log {
		return nil
	}
	path := filepath.Join(sh.dir, log)
	for _, n := range names {
		if strings.HasPrefix(n, sh.id+"-") && strings.HasSuffix(n, ".seg") {
			if err := s.fs.Remove(filepath.Join(sh.dir, n)); err != nil {
				return err
			}
		}
	}
	size, err := s.fs.Size(path)
	if err != nil {
		return err
	}
	f, err := s.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<16)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // a line without its newline was never acknowledged
		}
		if err != nil {
			return err
		}
		var jl journalLine
		if json.Unmarshal(line, &jl) != nil || len(jl.Seq) != len(sh.seq(0)) || jl.Seq[:len(sh.prefix)] != sh.prefix {
			break
		}
		n, err := strconv.ParseUint(jl.Seq[len(sh.prefix):], 10, 64)
		if err != nil || n != sh.next {
			break
		}
		es := []PutEntry{{Data: jl.Data, PartitionKey: jl.Key}}
		if err := s.writeFrame(sh, appendFrame(nil, n, time.UnixMilli(jl.Time), es, []int{0}), n, 1, time.UnixMilli(jl.Time)); err != nil {
			return fmt.Errorf("shard %s: convert %s: %w", sh.id, log, err)
		}
	}
	sh.segs, sh.next = nil, 0 // loadShard reads the segments back
	s.pool.forget(sh.dir)
	return s.fs.Remove(path)
}

// writeFileAtomic writes data to path through a synced temporary file and a rename, so a crash
// leaves either the old content or the new, never a torn file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
