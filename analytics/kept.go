package analytics

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// kept is, for one kind, the inds whose row the runs so far kept, each under the sink partition
// of the object the kept row was read from: the partition's key prefix,
// "topics/<topic>/partition=<p>/". A full run keeps the first row of an ind by object key and
// line, and keys compare partition first, as strings ("partition=10/" sorts before
// "partition=2/"): a row that comes again in an object of a partition that sorts before the kept
// row's might be the one a full run keeps; one in a partition that sorts after never is.
//
// In memory and on disk it is a roaring bitmap per partition: together they take what one set
// of the inds would (~130 KB per million inds), whatever the number of partitions.
type kept struct {
	parts map[string]*roaring64.Bitmap
}

func newKept() *kept { return &kept{parts: map[string]*roaring64.Bitmap{}} }

// all is the set of every kept ind.
func (k *kept) all() *roaring64.Bitmap {
	return roaring64.FastOr(slices.Collect(maps.Values(k.parts))...)
}

// partitionOf returns the partition of ind's kept row.
func (k *kept) partitionOf(ind uint64) (string, bool) {
	for p, b := range k.parts {
		if b.Contains(ind) {
			return p, true
		}
	}
	return "", false
}

// add adds the inds of set, kept from partition part.
func (k *kept) add(part string, set *roaring64.Bitmap) {
	if b, ok := k.parts[part]; ok {
		b.Or(set)
		return
	}
	k.parts[part] = set.Clone()
}

// move records that ind's kept row is now the one read from partition to (the same record,
// read again from a partition that sorts first).
func (k *kept) move(ind uint64, from, to string) {
	if b, ok := k.parts[from]; ok {
		b.Remove(ind)
		if b.IsEmpty() {
			delete(k.parts, from)
		}
	}
	b, ok := k.parts[to]
	if !ok {
		b = roaring64.New()
		k.parts[to] = b
	}
	b.Add(ind)
}

func (k *kept) clone() *kept {
	c := newKept()
	for p, b := range k.parts {
		c.parts[p] = b.Clone()
	}
	return c
}

// keptMagic starts a kept file: then a uvarint count of partitions and, for each in key order,
// its name and its bitmap (roaring64 portable format), each after its uvarint length.
const keptMagic = "pinpipe-kept\x01"

func (k *kept) MarshalBinary() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(keptMagic)
	buf.Write(binary.AppendUvarint(nil, uint64(len(k.parts))))
	for _, p := range slices.Sorted(maps.Keys(k.parts)) {
		b := k.parts[p]
		b.RunOptimize()
		bm, err := b.MarshalBinary()
		if err != nil {
			return nil, err
		}
		buf.Write(binary.AppendUvarint(nil, uint64(len(p))))
		buf.WriteString(p)
		buf.Write(binary.AppendUvarint(nil, uint64(len(bm))))
		buf.Write(bm)
	}
	return buf.Bytes(), nil
}

func (k *kept) UnmarshalBinary(data []byte) error {
	r := bytes.NewReader(data)
	magic := make([]byte, len(keptMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != keptMagic {
		return errors.New("not a kept file")
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(len(data)) {
		return errors.New("not a kept file: bad partition count")
	}
	k.parts = map[string]*roaring64.Bitmap{}
	field := func() ([]byte, error) {
		l, err := binary.ReadUvarint(r)
		if err != nil || l > uint64(r.Len()) {
			return nil, errors.New("truncated")
		}
		b := make([]byte, l)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	for range n {
		name, err := field()
		if err != nil {
			return fmt.Errorf("kept file: %w", err)
		}
		bm, err := field()
		if err != nil {
			return fmt.Errorf("kept file: partition %s: %w", name, err)
		}
		b, err := readBitmap(bm)
		if err != nil {
			return fmt.Errorf("kept file: partition %s: %w", name, err)
		}
		k.parts[string(name)] = b
	}
	if r.Len() != 0 {
		return fmt.Errorf("kept file: %d bytes after the last partition", r.Len())
	}
	return nil
}

// partitionPrefix is the key prefix of the partition of an object, "topics/<topic>/partition=<p>/".
func partitionPrefix(key string) string {
	i := strings.LastIndexByte(key, '/')
	return key[:i+1]
}

// readBitmap decodes a roaring64 bitmap (portable format) from the state. The library trusts
// the bitmap count the data starts with to size its allocations, so a damaged file could ask
// for terabytes: the count is checked against the data's length first (each 32-bit bitmap takes
// at least its 4-byte key and an 8-byte header), and what is read is validated.
func readBitmap(data []byte) (*roaring64.Bitmap, error) {
	if len(data) < 8 {
		return nil, errors.New("bitmap: truncated")
	}
	if n := binary.LittleEndian.Uint64(data); n > uint64(len(data)-8)/12 {
		return nil, fmt.Errorf("bitmap: %d parts in %d bytes", n, len(data))
	}
	b := roaring64.New()
	if err := b.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("bitmap: %w", err)
	}
	if err := b.Validate(); err != nil { // what it read may break its invariants (and panic later)
		return nil, fmt.Errorf("bitmap: %w", err)
	}
	return b, nil
}
