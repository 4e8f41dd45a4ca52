package analytics

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"github.com/pinpipe/pinpipe/record"
)

// seenSets holds, for each kind, the inds whose row is already kept. The contract keeps the
// first row of each ind; with the sets in Go the repeats are left out before they reach DuckDB,
// and an incremental run carries them over from the runs before it.
//
// A roaring bitmap is the compact form of such a set: the inds of a kind are dense integers, so
// a million of them take about 130 KB in memory and on disk (a hash set: ~40 MB), and a lookup
// costs tens of nanoseconds. Inds are int64; they are stored as their uint64 bit pattern, so a
// negative ind is a value like any other.
type seenSets struct {
	sets [3]*roaring64.Bitmap // in record.Kinds order
}

func newSeenSets() *seenSets {
	s := &seenSets{}
	for i := range s.sets {
		s.sets[i] = roaring64.New()
	}
	return s
}

// of returns the set of kind k. Each set is used by one goroutine at a time.
func (s *seenSets) of(k record.Kind) *roaring64.Bitmap {
	return s.sets[slices.Index(record.Kinds, k)]
}
