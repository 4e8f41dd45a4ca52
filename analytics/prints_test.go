package analytics

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/record"
)

func TestFingerprintTellsRowsApart(t *testing.T) {
	ts := time.Date(2020, 8, 28, 3, 52, 47, 0, time.UTC)
	rows := [][]any{
		{int64(1), "a", nil},
		{int64(1), nil, "a"},
		{int64(1), "", nil},
		{int64(1), nil, ""},
		{int64(1), "a", ""},
		{int64(1), "ab", nil},
		{int64(1), "a", "b"},
		{int64(1), "ab", ""},
		{int64(2), "a", nil},
		{int64(1), ts, nil},
		{int64(1), ts.Add(time.Microsecond), nil},
		{int64(1), []float64{1, 2}, nil},
		{int64(1), []float64{2, 1}, nil},
		{int64(1), []float64{math.Copysign(0, -1), 1}, nil},
		{int64(1), []float64{0, 1}, nil},
	}
	seen := map[uint64]int{}
	for i, r := range rows {
		fp, _, err := fingerprint(r, nil)
		require.NoError(t, err)
		j, dup := seen[fp]
		assert.False(t, dup, "rows %d and %d share a fingerprint", j, i)
		seen[fp] = i
	}
	// The same row, the same fingerprint; a time counts to the microsecond, as a TIMESTAMP does.
	a, buf, err := fingerprint([]any{int64(1), ts.Add(time.Nanosecond), "x"}, nil)
	require.NoError(t, err)
	b, _, err := fingerprint([]any{int64(1), ts, "x"}, buf)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	_, _, err = fingerprint([]any{int32(1)}, nil)
	assert.ErrorContains(t, err, "column 0 is a int32")

	// Clean rows of each kind: equal records, equal prints.
	for _, k := range record.Kinds {
		lines := map[record.Kind]string{record.Pin: pinLine(1, "art", "Ann", "10k"), record.Geo: geoLine(1, "Chad", "2020-01-01 00:00:00"),
			record.User: userLine(1, "Ann", 30, "2016-01-01T00:00:00")}
		r1, err := Clean(k, []byte(lines[k]))
		require.NoError(t, err)
		r2, err := Clean(k, []byte(lines[k]))
		require.NoError(t, err)
		f1, _, err := fingerprint(r1.Values(), nil)
		require.NoError(t, err)
		f2, _, err := fingerprint(r2.Values(), nil)
		require.NoError(t, err)
		assert.Equal(t, f1, f2, k)
	}
}

func TestPrintsFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	negative := uint64(0xffff_ffff_ffff_fffe) // ind -2
	require.NoError(t, writePrints(a, []uint64{1, 5, 70000, negative}, []uint64{11, 55, 77, 22}))
	require.NoError(t, writePrints(b, []uint64{2, 3}, []uint64{20, 30}))
	require.Error(t, writePrints(filepath.Join(dir, "c"), []uint64{5, 1}, []uint64{1, 2}), "unsorted")

	p, err := openPrints(a)
	require.NoError(t, err)
	for ind, want := range map[uint64]uint64{1: 11, 5: 55, 70000: 77, negative: 22} {
		got, ok, err := p.lookup(ind)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, want, got, ind)
	}
	_, ok, err := p.lookup(2)
	require.NoError(t, err)
	assert.False(t, ok)
	p.Close()

	m := filepath.Join(dir, "m")
	require.NoError(t, mergePrints(m, []string{a, b}))
	p, err = openPrints(m)
	require.NoError(t, err)
	defer p.Close()
	assert.Equal(t, []uint64{1, 2, 3, 5, 70000, negative}, p.inds.ToArray())
	for ind, want := range map[uint64]uint64{1: 11, 2: 20, 3: 30, 5: 55, 70000: 77, negative: 22} {
		got, ok, err := p.lookup(ind)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, want, got, ind)
	}
	assert.ErrorContains(t, mergePrints(filepath.Join(dir, "x"), []string{a, a}), "in more than one")

	// A damaged file is refused.
	data, err := os.ReadFile(a)
	require.NoError(t, err)
	for name, bad := range map[string][]byte{"short": data[:len(data)-1], "magic": append([]byte("x"), data[1:]...), "empty": nil} {
		f := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(f, bad, 0o644))
		_, err := openPrints(f)
		assert.Error(t, err, name)
	}
}

func TestKeptRoundTrip(t *testing.T) {
	k := newKept()
	k.add("topics/demo.pin/partition=2/", roaring64.BitmapOf(1, 2, 3))
	k.add("topics/demo.pin/partition=10/", roaring64.BitmapOf(4))
	k.move(2, "topics/demo.pin/partition=2/", "topics/demo.pin/partition=10/")
	k.move(4, "topics/demo.pin/partition=10/", "topics/demo.pin/partition=3/")
	b, err := k.MarshalBinary()
	require.NoError(t, err)
	got := newKept()
	require.NoError(t, got.UnmarshalBinary(b))
	assert.Equal(t, []uint64{1, 2, 3, 4}, got.all().ToArray())
	for ind, want := range map[uint64]string{1: "topics/demo.pin/partition=2/", 2: "topics/demo.pin/partition=10/", 4: "topics/demo.pin/partition=3/"} {
		p, ok := got.partitionOf(ind)
		assert.True(t, ok)
		assert.Equal(t, want, p, ind)
	}
	_, ok := got.partitionOf(9)
	assert.False(t, ok)
	assert.Error(t, got.UnmarshalBinary(b[:len(b)-1]))
	assert.Error(t, got.UnmarshalBinary(append(b, 0)))
	assert.Equal(t, "topics/demo.pin/partition=10/", partitionPrefix("topics/demo.pin/partition=10/demo.pin+10+0000000000.json"))
}

// FuzzKeptFile: a kept file is read from the state, which a person or a crash may have damaged:
// reading one never panics, and what reads writes back the same.
func FuzzKeptFile(f *testing.F) {
	k := newKept()
	k.add("topics/demo.pin/partition=0/", roaring64.BitmapOf(1, 2, 100000))
	b, _ := k.MarshalBinary()
	f.Add(b)
	f.Add([]byte(keptMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		k := newKept()
		if k.UnmarshalBinary(data) != nil {
			return
		}
		again, err := k.MarshalBinary()
		require.NoError(t, err)
		k2 := newKept()
		require.NoError(t, k2.UnmarshalBinary(again))
		assert.Equal(t, k.all().ToArray(), k2.all().ToArray())
	})
}
