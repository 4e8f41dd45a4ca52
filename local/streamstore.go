package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// StreamStore is the embedded stand-in for Kinesis Data Streams: named streams of shards, records
// routed to a shard by the MD5 of their partition key, strictly increasing sequence numbers per
// shard. With a directory, each shard is an append-only journal of JSON lines (one write per put,
// before the put is acknowledged), so a restart keeps every acknowledged record; a torn last line
// left by a crash is cut off on load.
type StreamStore struct {
	dir string

	mu      sync.Mutex
	streams map[string]*stream
	changed chan struct{} // closed and replaced on every put, to wake readers
}

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

	mu   sync.Mutex
	recs []StreamRecord
	next uint64
	f    *os.File
}

// streamMeta is a stream's meta.json.
type streamMeta struct {
	Name    string `json:"name"`
	Shards  int    `json:"shards"`
	Created int64  `json:"created_unix_ms"`
}

// journalLine is one record in a shard journal.
type journalLine struct {
	Seq  string `json:"s"`
	Key  string `json:"k"`
	Data []byte `json:"d"`
	Time int64  `json:"t"`
}

// OpenStreamStore opens (or creates) a store in dir; dir "" keeps everything in memory.
func OpenStreamStore(dir string) (*StreamStore, error) {
	s := &StreamStore{dir: dir, streams: map[string]*stream{}, changed: make(chan struct{})}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("stream store: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("stream store: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		st, err := loadStream(filepath.Join(dir, e.Name()))
		if err != nil {
			s.Close()
			return nil, err
		}
		if st != nil {
			s.streams[st.name] = st
		}
	}
	return s, nil
}

// Close closes the shard journals.
func (s *StreamStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range s.streams {
		errs = append(errs, st.close())
	}
	return errors.Join(errs...)
}

func (st *stream) close() error {
	var errs []error
	for _, sh := range st.shards {
		sh.mu.Lock()
		if sh.f != nil {
			errs = append(errs, sh.f.Close())
			sh.f = nil
		}
		sh.mu.Unlock()
	}
	return errors.Join(errs...)
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
		RetentionPeriodHours:    24,
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
	st := &stream{name: name, created: time.Now().UTC().Truncate(time.Millisecond)}
	if s.dir != "" {
		st.dir = filepath.Join(s.dir, name)
		if err := os.MkdirAll(st.dir, 0o755); err != nil {
			return fmt.Errorf("create stream %s: %w", name, err)
		}
	}
	st.makeShards(shards)
	if st.dir != "" {
		if err := st.openJournals(); err != nil {
			return err
		}
		// meta.json last: a stream directory without it is an unfinished create, ignored on load.
		meta, _ := json.Marshal(streamMeta{Name: name, Shards: shards, Created: st.created.UnixMilli()})
		if err := writeFileAtomic(filepath.Join(st.dir, "meta.json"), meta); err != nil {
			st.close()
			return fmt.Errorf("create stream %s: %w", name, err)
		}
	}
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
	st.close()
	if st.dir != "" {
		if err := os.RemoveAll(st.dir); err != nil {
			return fmt.Errorf("delete stream %s: %w", name, err)
		}
	}
	return nil
}

func (s *StreamStore) PutRecord(ctx context.Context, name string, e PutEntry) (PutResult, error) {
	rs, err := s.PutRecords(ctx, name, []PutEntry{e})
	if err != nil {
		return PutResult{}, err
	}
	if rs[0].ErrorCode != "" {
		return PutResult{}, &StreamError{Type: rs[0].ErrorCode, Message: rs[0].ErrorMessage, Status: 500}
	}
	return rs[0], nil
}

func (s *StreamStore) PutRecords(_ context.Context, name string, es []PutEntry) ([]PutResult, error) {
	if len(es) < 1 || len(es) > maxPutRecords {
		return nil, streamErr("ValidationException",
			"1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and %d", maxPutRecords)
	}
	for _, e := range es {
		if err := validEntry(e); err != nil {
			return nil, err
		}
	}
	st, err := s.get(name)
	if err != nil {
		return nil, err
	}
	// Group by shard so each shard gets one journal write, then fill results in request order.
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
	now := time.Now()
	for _, sh := range order {
		idx := byShard[sh]
		if err := sh.append(es, idx, now, results); err != nil {
			for _, i := range idx {
				results[i] = PutResult{ErrorCode: "InternalFailure", ErrorMessage: err.Error()}
			}
		}
	}
	s.notify()
	return results, nil
}

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
	i := 0
	if after != "" {
		i = sort.Search(len(sh.recs), func(i int) bool { return sh.recs[i].SequenceNumber > after })
	}
	end := min(len(sh.recs), i+limit)
	return append([]StreamRecord(nil), sh.recs[i:end]...), nil
}

// LastSequence returns the newest sequence number of each shard that has records.
func (s *StreamStore) LastSequence(name string) (map[string]string, error) {
	st, err := s.get(name)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, sh := range st.shards {
		sh.mu.Lock()
		if n := len(sh.recs); n > 0 {
			out[sh.id] = sh.recs[n-1].SequenceNumber
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
			id: fmt.Sprintf("shardId-%012d", i), start: start, end: end,
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

func (sh *shard) seq(n uint64) string { return sh.prefix + fmt.Sprintf("%038d", n) }

func (st *stream) openJournals() error {
	for _, sh := range st.shards {
		f, err := os.OpenFile(filepath.Join(st.dir, sh.id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			st.close()
			return fmt.Errorf("stream %s: %w", st.name, err)
		}
		sh.f = f
	}
	return nil
}

// append stores es[idx...] in the shard: one journal write, then the in-memory copy.
func (sh *shard) append(es []PutEntry, idx []int, now time.Time, results []PutResult) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	recs := make([]StreamRecord, len(idx))
	var buf bytes.Buffer
	for j, i := range idx {
		recs[j] = StreamRecord{SequenceNumber: sh.seq(sh.next + uint64(j)), PartitionKey: es[i].PartitionKey,
			Data: append([]byte(nil), es[i].Data...), Arrival: now}
		if sh.f != nil {
			line, _ := json.Marshal(journalLine{recs[j].SequenceNumber, recs[j].PartitionKey, recs[j].Data, now.UnixMilli()})
			buf.Write(line)
			buf.WriteByte('\n')
		}
	}
	if sh.f != nil {
		if _, err := sh.f.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("journal %s: %w", sh.id, err)
		}
	}
	sh.next += uint64(len(idx))
	sh.recs = append(sh.recs, recs...)
	for j, i := range idx {
		results[i] = PutResult{SequenceNumber: recs[j].SequenceNumber, ShardID: sh.id}
	}
	return nil
}

// loadStream reads a stream directory; it returns nil for an unfinished create.
func loadStream(dir string) (*stream, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "meta.json"))
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
	for _, sh := range st.shards {
		if err := sh.load(filepath.Join(dir, sh.id+".log")); err != nil {
			return nil, fmt.Errorf("stream %s: %w", m.Name, err)
		}
	}
	if err := st.openJournals(); err != nil {
		return nil, err
	}
	return st, nil
}

// load reads a shard journal and cuts off a torn last line.
func (sh *shard) load(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var good int64
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
		sh.recs = append(sh.recs, StreamRecord{SequenceNumber: jl.Seq, PartitionKey: jl.Key, Data: jl.Data,
			Arrival: time.UnixMilli(jl.Time)})
		sh.next++
		good += int64(len(line))
	}
	return f.Truncate(good)
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
