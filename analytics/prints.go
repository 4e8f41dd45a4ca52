package analytics

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/zeebo/xxh3"
)

// A fingerprint is a 64-bit hash (XXH3) of a clean row as its table stores it. The incremental
// mode keeps one per kept row, so that a record that comes again for an ind an earlier run kept
// is told to be the same row or not without reading the earlier runs' clean files: re-sends
// are the same record, and a different one must make its kind be rebuilt only when it would
// win. Two different rows share a fingerprint with probability 2^-64.

// Fingerprint encoding tags: a value's type, so that "1" and 1, or null and "", differ.
const (
	fpNull byte = iota
	fpInt
	fpString
	fpTime
	fpPair
)

// fingerprint returns the fingerprint of a clean row's values (Row.AppendValues: int64, string,
// time.Time, []float64 or nil), using buf as scratch space; it returns buf for reuse. A time
// counts to the microsecond and a number by its bits, as a TIMESTAMP and a DOUBLE store them.
func fingerprint(vals []any, buf []byte) (uint64, []byte, error) {
	buf = buf[:0]
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
			buf = append(buf, fpNull)
		case int64:
			buf = binary.LittleEndian.AppendUint64(append(buf, fpInt), uint64(v))
		case string:
			buf = binary.AppendUvarint(append(buf, fpString), uint64(len(v)))
			buf = append(buf, v...)
		case time.Time:
			buf = binary.LittleEndian.AppendUint64(append(buf, fpTime), uint64(v.UnixMicro()))
		case []float64:
			buf = binary.AppendUvarint(append(buf, fpPair), uint64(len(v)))
			for _, f := range v {
				buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(f))
			}
		default:
			return 0, buf, fmt.Errorf("fingerprint: column %d is a %T", i, v)
		}
	}
	return xxh3.Hash(buf), buf, nil
}

// A prints file holds the fingerprints of the rows one run kept of one kind:
//
//	"pinpipe-prints\x01", uvarint n, n bytes: the inds (a roaring64 bitmap, portable format),
//	then 8 bytes (little endian) per ind: the fingerprints, in ind order (as uint64).
//
// A fingerprint is found without reading the others: its ind's rank in the bitmap is its place.
const printsMagic = "pinpipe-prints\x01"

// writePrints writes the fingerprints of inds (ascending, no repeats) to path.
func writePrints(path string, inds, prints []uint64) error {
	if len(inds) != len(prints) || !slices.IsSorted(inds) {
		return fmt.Errorf("writing %s: %d inds (sorted: %v), %d fingerprints", path, len(inds), slices.IsSorted(inds), len(prints))
	}
	set := roaring64.BitmapOf(inds...)
	return writePrintsStream(path, set, func(yield func(uint64) error) error {
		for _, p := range prints {
			if err := yield(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// writePrintsStream writes a prints file of the inds in set, whose fingerprints, in ind order,
// each gives to yield.
func writePrintsStream(path string, set *roaring64.Bitmap, each func(yield func(uint64) error) error) error {
	set.RunOptimize()
	bm, err := set.MarshalBinary()
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString(printsMagic)
	w.Write(binary.AppendUvarint(nil, uint64(len(bm))))
	w.Write(bm)
	var n uint64
	var b [8]byte
	err = each(func(p uint64) error {
		binary.LittleEndian.PutUint64(b[:], p)
		n++
		_, err := w.Write(b[:])
		return err
	})
	if err == nil && n != set.GetCardinality() {
		err = fmt.Errorf("%d fingerprints for %d inds", n, set.GetCardinality())
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// printsFile is an open prints file: its inds in memory, its fingerprints read on demand.
type printsFile struct {
	f    *os.File
	inds *roaring64.Bitmap
	off  int64 // where the fingerprints start
}

// openPrints opens a prints file.
func openPrints(path string) (*printsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	p, err := readPrintsHeader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func readPrintsHeader(f *os.File) (*printsFile, error) {
	r := bufio.NewReader(f)
	magic := make([]byte, len(printsMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != printsMagic {
		return nil, errors.New("not a prints file")
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > 1<<40 {
		return nil, errors.New("not a prints file: bad bitmap length")
	}
	bm := make([]byte, n)
	if _, err := io.ReadFull(r, bm); err != nil {
		return nil, fmt.Errorf("reading its inds: %w", err)
	}
	inds, err := readBitmap(bm)
	if err != nil {
		return nil, fmt.Errorf("reading its inds: %w", err)
	}
	p := &printsFile{f: f, inds: inds, off: int64(len(printsMagic) + len(binary.AppendUvarint(nil, n)) + len(bm))}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if want := p.off + 8*int64(p.inds.GetCardinality()); st.Size() != want {
		return nil, fmt.Errorf("%d bytes, want %d for %d fingerprints", st.Size(), want, p.inds.GetCardinality())
	}
	return p, nil
}

// lookup returns the fingerprint of ind, and whether the file has one.
func (p *printsFile) lookup(ind uint64) (uint64, bool, error) {
	if !p.inds.Contains(ind) {
		return 0, false, nil
	}
	var b [8]byte
	if _, err := p.f.ReadAt(b[:], p.off+8*int64(p.inds.Rank(ind)-1)); err != nil {
		return 0, false, fmt.Errorf("%s: %w", p.f.Name(), err)
	}
	return binary.LittleEndian.Uint64(b[:]), true, nil
}

func (p *printsFile) Close() error { return p.f.Close() }

// mergePrints writes one prints file holding the fingerprints of every file of paths (whose
// inds are disjoint: a row is kept by one run), streaming: memory stays small however many rows.
func mergePrints(out string, paths []string) error {
	var files []*printsFile
	defer func() {
		for _, p := range files {
			p.Close()
		}
	}()
	var sets []*roaring64.Bitmap
	for _, path := range paths {
		p, err := openPrints(path)
		if err != nil {
			return err
		}
		files, sets = append(files, p), append(sets, p.inds)
	}
	all := roaring64.FastOr(sets...)
	if want := total(sets); all.GetCardinality() != want {
		return fmt.Errorf("merging %d prints files: %d inds in more than one", len(paths), want-all.GetCardinality())
	}
	// A cursor per file: its next ind and fingerprint.
	type cursor struct {
		next  func() (uint64, uint64, bool, error)
		ind   uint64
		print uint64
		ok    bool
	}
	cursors := make([]*cursor, len(files))
	for i, p := range files {
		it := p.inds.Iterator()
		r := bufio.NewReaderSize(io.NewSectionReader(p.f, p.off, 8*int64(p.inds.GetCardinality())), 1<<16)
		c := &cursor{next: func() (uint64, uint64, bool, error) {
			if !it.HasNext() {
				return 0, 0, false, nil
			}
			var b [8]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return 0, 0, false, fmt.Errorf("%s: %w", p.f.Name(), err)
			}
			return it.Next(), binary.LittleEndian.Uint64(b[:]), true, nil
		}}
		var err error
		if c.ind, c.print, c.ok, err = c.next(); err != nil {
			return err
		}
		cursors[i] = c
	}
	return writePrintsStream(out, all, func(yield func(uint64) error) error {
		it := all.Iterator()
		for it.HasNext() {
			ind := it.Next()
			var c *cursor
			for _, x := range cursors {
				if x.ok && x.ind == ind {
					c = x
					break
				}
			}
			if c == nil {
				return fmt.Errorf("merging prints: no fingerprint for ind %d", int64(ind))
			}
			if err := yield(c.print); err != nil {
				return err
			}
			var err error
			if c.ind, c.print, c.ok, err = c.next(); err != nil {
				return err
			}
		}
		return nil
	})
}

func total(sets []*roaring64.Bitmap) uint64 {
	var n uint64
	for _, s := range sets {
		n += s.GetCardinality()
	}
	return n
}
