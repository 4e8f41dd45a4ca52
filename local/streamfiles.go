package local

import (
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The stream store's files: the file layer it writes through (so tests can inject a full disk),
// a bounded pool of open files, and the frame format of its segments.

// storeFile is an open segment file. Writes go to an explicit offset, so a write always lands at
// the end of the last good frame, never after a torn one.
type storeFile interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	Close() error
}

// fileSystem is what the stream store does with files and directories.
type fileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (storeFile, error)
	Size(name string) (int64, error)
	Remove(name string) error
	RemoveAll(path string) error
	MkdirAll(path string, perm os.FileMode) error
	// ReadDir lists the names in a directory, sorted; a missing directory is empty.
	ReadDir(name string) (names []string, dirs map[string]bool, err error)
	WriteFileAtomic(name string, data []byte) error
	ReadFile(name string) ([]byte, error)
}

// osFS is the real file system.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (storeFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Size(name string) (int64, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(path string) error                  { return os.RemoveAll(path) }
func (osFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) WriteFileAtomic(name string, data []byte) error {
	return writeFileAtomic(name, data)
}
func (osFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (osFS) ReadDir(name string) ([]string, map[string]bool, error) {
	ents, err := os.ReadDir(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	names, dirs := make([]string, len(ents)), map[string]bool{}
	for i, e := range ents {
		names[i] = e.Name()
		if e.IsDir() {
			dirs[e.Name()] = true
		}
	}
	return names, dirs, nil
}

// memFS keeps files in memory: the store without a directory (tests, kinesalite parity).
type memFS struct {
	mu    sync.Mutex
	files map[string]*memFile
	dirs  map[string]bool
}

type memFile struct {
	mu   sync.Mutex
	data []byte
}

func newMemFS() *memFS { return &memFS{files: map[string]*memFile{}, dirs: map[string]bool{}} }

func (m *memFS) OpenFile(name string, flag int, _ os.FileMode) (storeFile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.files[name]
	if f == nil {
		if flag&os.O_CREATE == 0 || !m.dirs[filepath.Dir(name)] {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		f = &memFile{}
		m.files[name] = f
	}
	return f, nil
}

func (m *memFS) Size(name string) (int64, error) {
	m.mu.Lock()
	f := m.files[name]
	m.mu.Unlock()
	if f == nil {
		return 0, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.data)), nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.files, name)
	return nil
}

func (m *memFS) RemoveAll(path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for n := range m.files {
		if n == path || strings.HasPrefix(n, path+"/") {
			delete(m.files, n)
		}
	}
	for d := range m.dirs {
		if d == path || strings.HasPrefix(d, path+"/") {
			delete(m.dirs, d)
		}
	}
	return nil
}

func (m *memFS) MkdirAll(path string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirs[path] = true
	return nil
}

func (m *memFS) ReadDir(name string) ([]string, map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	dirs := map[string]bool{}
	for n := range m.files {
		if filepath.Dir(n) == name {
			names = append(names, filepath.Base(n))
		}
	}
	for d := range m.dirs {
		if filepath.Dir(d) == name {
			names = append(names, filepath.Base(d))
			dirs[filepath.Base(d)] = true
		}
	}
	sort.Strings(names)
	return names, dirs, nil
}

func (m *memFS) WriteFileAtomic(name string, data []byte) error {
	f, err := m.OpenFile(name, os.O_CREATE|os.O_RDWR, 0)
	if err != nil {
		return err
	}
	mf := f.(*memFile)
	mf.mu.Lock()
	mf.data = append([]byte(nil), data...)
	mf.mu.Unlock()
	return nil
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	f := m.files[name]
	m.mu.Unlock()
	if f == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.data...), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(f.data)) {
		f.data = append(f.data, make([]byte, end-int64(len(f.data)))...)
	}
	return copy(f.data[off:], p), nil
}

func (f *memFile) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if size < int64(len(f.data)) {
		f.data = f.data[:size]
	}
	return nil
}

func (f *memFile) Close() error { return nil }

// filePool keeps at most max segment files open, closing the least recently used idle one to
// open another, so the number of shards never decides the number of descriptors.
type filePool struct {
	fs  fileSystem
	max int

	mu   sync.Mutex
	open map[string]*list.Element // of *pooledFile
	lru  list.List                // front: most recently used
}

type pooledFile struct {
	path string
	f    storeFile
	refs int
}

func newFilePool(fsys fileSystem, max int) *filePool {
	return &filePool{fs: fsys, max: max, open: map[string]*list.Element{}}
}

// get opens path (creating it) or reuses its open file; release must be called when done.
func (p *filePool) get(path string) (storeFile, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.open[path]; e != nil {
		pf := e.Value.(*pooledFile)
		pf.refs++
		p.lru.MoveToFront(e)
		return pf.f, p.releaser(pf), nil
	}
	p.evict(p.max - 1)
	f, err := p.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		// Another part of the process holds the descriptors: give back all idle ones, once.
		p.evict(0)
		f, err = p.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, nil, err
	}
	pf := &pooledFile{path: path, f: f, refs: 1}
	p.open[path] = p.lru.PushFront(pf)
	return f, p.releaser(pf), nil
}

func (p *filePool) releaser(pf *pooledFile) func() {
	return func() {
		p.mu.Lock()
		pf.refs--
		p.mu.Unlock()
	}
}

// evict closes idle files, least recently used first, until at most keep are open.
func (p *filePool) evict(keep int) {
	for e := p.lru.Back(); e != nil && p.lru.Len() > keep; {
		prev := e.Prev()
		if pf := e.Value.(*pooledFile); pf.refs == 0 {
			pf.f.Close()
			delete(p.open, pf.path)
			p.lru.Remove(e)
		}
		e = prev
	}
}

// forget closes the files under dir (or the file dir itself), before they are removed.
func (p *filePool) forget(dir string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for path, e := range p.open {
		if path == dir || strings.HasPrefix(path, dir+string(filepath.Separator)) {
			e.Value.(*pooledFile).f.Close()
			delete(p.open, path)
			p.lru.Remove(e)
		}
	}
}

func (p *filePool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for path, e := range p.open {
		e.Value.(*pooledFile).f.Close()
		delete(p.open, path)
	}
	p.lru.Init()
}

// A segment is a sequence of frames. A frame is one shard's part of one put, stored whole or
// not at all:
//
//	payload length uint32 | CRC-32C of payload uint32 | payload
//	payload: first counter uint64 | arrival unix ms int64 | count uint32 |
//	         count x (key length uint16 | data length uint32 | key | data)
//
// A frame cut short or with a wrong checksum ends the segment: it was never acknowledged.
const (
	frameHeader   = 8
	payloadHeader = 20
	recordHeader  = 6
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends the frame of records [first, first+len(idx)) to buf.
func appendFrame(buf []byte, first uint64, arrival time.Time, es []PutEntry, idx []int) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeader+payloadHeader)...)
	p := buf[start+frameHeader:]
	binary.LittleEndian.PutUint64(p[0:], first)
	binary.LittleEndian.PutUint64(p[8:], uint64(arrival.UnixMilli()))
	binary.LittleEndian.PutUint32(p[16:], uint32(len(idx)))
	for _, i := range idx {
		e := es[i]
		buf = binary.LittleEndian.AppendUint16(buf, uint16(len(e.PartitionKey)))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(e.Data)))
		buf = append(buf, e.PartitionKey...)
		buf = append(buf, e.Data...)
	}
	payload := buf[start+frameHeader:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

// frame is a decoded frame's header; its records are decoded by records.
type frame struct {
	first   uint64
	arrival time.Time
	count   int
	payload []byte
}

// maxFramePayload bounds a frame's length field: 500 records of 1 MiB and their keys, with room.
const maxFramePayload = 8 << 20

var errBadFrame = errors.New("torn or corrupt frame")

// readFrame reads the frame at the reader's position into buf (reused when large enough; nil
// for a frame whose records are handed out); errBadFrame means the segment's good part ends
// here, io.EOF that it ended cleanly.
func readFrame(r io.Reader, hdr, buf []byte) (frame, int64, error) {
	if _, err := io.ReadFull(r, hdr[:frameHeader]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return frame{}, 0, errBadFrame
		}
		return frame{}, 0, err
	}
	n := binary.LittleEndian.Uint32(hdr[0:])
	sum := binary.LittleEndian.Uint32(hdr[4:])
	if n < payloadHeader || n > maxFramePayload {
		return frame{}, 0, errBadFrame
	}
	payload := buf[:0]
	if cap(payload) < int(n) {
		payload = make([]byte, n)
	}
	payload = payload[:n]
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return frame{}, 0, errBadFrame
		}
		return frame{}, 0, err
	}
	if crc32.Checksum(payload, castagnoli) != sum {
		return frame{}, 0, errBadFrame
	}
	f := frame{
		first:   binary.LittleEndian.Uint64(payload[0:]),
		arrival: time.UnixMilli(int64(binary.LittleEndian.Uint64(payload[8:]))),
		count:   int(binary.LittleEndian.Uint32(payload[16:])),
		payload: payload,
	}
	if f.count < 1 {
		return frame{}, 0, errBadFrame
	}
	return f, frameHeader + int64(n), nil
}

// each calls fn with each record of the frame (key and data alias the payload).
func (f frame) each(fn func(n uint64, key string, data []byte) bool) error {
	p := f.payload[payloadHeader:]
	for i := range f.count {
		if len(p) < recordHeader {
			return errBadFrame
		}
		kl, dl := int(binary.LittleEndian.Uint16(p)), int(binary.LittleEndian.Uint32(p[2:]))
		p = p[recordHeader:]
		if len(p) < kl+dl {
			return errBadFrame
		}
		if !fn(f.first+uint64(i), string(p[:kl]), p[kl:kl+dl:kl+dl]) {
			return nil
		}
		p = p[kl+dl:]
	}
	return nil
}

// segmentName is a shard's segment file whose first record has counter first.
func segmentName(shardID string, first uint64) string {
	return fmt.Sprintf("%s-%020d.seg", shardID, first)
}
