package emulator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/record"
)

func fileHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range DatasetFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		out[name] = hex.EncodeToString(sum[:])
	}
	return out
}

func TestGenerateIsReproducible(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	d1, err := Generate(DefaultSeed, DefaultRows)
	require.NoError(t, err)
	require.NoError(t, d1.WriteFiles(a))
	d2, err := Generate(DefaultSeed, DefaultRows)
	require.NoError(t, err)
	require.NoError(t, d2.WriteFiles(b))
	assert.Equal(t, fileHashes(t, a), fileHashes(t, b), "same seed, same bytes")

	d3, err := Generate(DefaultSeed+1, DefaultRows)
	require.NoError(t, err)
	require.NoError(t, d3.WriteFiles(c))
	for name, h := range fileHashes(t, c) {
		assert.NotEqual(t, fileHashes(t, a)[name], h, "another seed, other rows: %s", name)
	}

	// Pinned bytes of the default dataset: a change to the generator or its word lists changes
	// every user's data, so it has to be deliberate (update these and say so in the commit).
	assert.Equal(t, map[string]string{
		"pinterest_data.jsonl":   "6303c1f73acb92911c32f069817fb43bf1fd107469e18fe2d73a3f1b752f4699",
		"geolocation_data.jsonl": "f8a3e877dc6683029bf10e1d192f6ccd5ff3c461bda5ec9ad5c2cf455fb2e810",
		"user_data.jsonl":        "7428df4e75783a5c6c7f1e5b40328ecbed4bbcbf4649e08f2ad2386f0f5ff4fe",
	}, fileHashes(t, a))
}

func TestGenerateSmallerIsPrefix(t *testing.T) {
	small, err := Generate(42, 100)
	require.NoError(t, err)
	big, err := Generate(42, 1000)
	require.NoError(t, err)
	assert.Equal(t, big.Pins[:100], small.Pins)
	assert.Equal(t, big.Geos[:100], small.Geos)
	assert.Equal(t, big.Users[:100], small.Users)
}

func TestGenerateRejectsBadRows(t *testing.T) {
	for _, n := range []int{0, -1, maxDatasetRows + 1} {
		_, err := Generate(1, n)
		assert.ErrorContains(t, err, "rows "+strconv.Itoa(n), n)
	}
}

// TestGenerateLooksLikeTheRealSource checks schema, ranges, alignment and the rates of the
// dirty values against DESIGN.md.
func TestGenerateLooksLikeTheRealSource(t *testing.T) {
	d, err := Generate(DefaultSeed, DefaultRows)
	require.NoError(t, err)
	require.Equal(t, 11153, d.Len())
	n := float64(d.Len())

	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	count := map[string]int{}
	cats, countries := map[string]bool{}, map[string]bool{}
	for i := range d.Len() {
		p, g, u := d.Pins[i], d.Geos[i], d.Users[i]
		require.Equal(t, i, p.Index)
		require.Equal(t, i, g.Ind)
		require.Equal(t, i, u.Ind)
		assert.Regexp(t, uuid, p.UniqueID)
		cats[p.Category] = true
		assert.Equal(t, "Local save in /data/"+p.Category, p.SaveLocation)
		assert.Contains(t, []string{MediaImage, MediaVideo, MediaStory}, p.IsImageOrVideo)
		assert.Contains(t, []int{0, 1}, p.Downloaded)
		if p.ImageSrc != ImageSrcError {
			assert.True(t, strings.HasPrefix(p.ImageSrc, "https://i.pinimg.com/originals/"), p.ImageSrc)
		}
		fc := p.FollowerCount
		switch {
		case fc == UserInfoError:
			count["fc UIE"]++
			assert.Equal(t, UserInfoError, p.PosterName)
		case fc == "":
			count["fc empty"]++
		case strings.HasSuffix(fc, "k"):
			count["fc k"]++
		case strings.HasSuffix(fc, "M"):
			count["fc M"]++
		default:
			_, err := strconv.Atoi(fc)
			assert.NoError(t, err, fc)
			count["fc digits"]++
		}
		for _, v := range []string{p.Title, p.Description, p.TagList, p.ImageSrc, p.PosterName} {
			switch v {
			case NoTitle, NoDescription, NoDescriptionStory, Untitled, NoTags, ImageSrcError, "":
				count[v]++
			}
		}

		ts, err := record.ParseTime(g.Timestamp)
		require.NoError(t, err)
		assert.True(t, ts.Year() >= 2017 && ts.Year() <= 2022, g.Timestamp)
		assert.True(t, g.Latitude >= -90 && g.Latitude <= 90)
		assert.True(t, g.Longitude >= -180 && g.Longitude <= 180)
		countries[g.Country] = true

		assert.True(t, u.Age >= 20 && u.Age <= 59, u.Age)
		joined, err := record.ParseTime(u.DateJoined)
		require.NoError(t, err)
		assert.True(t, joined.Year() >= 2015 && joined.Year() <= 2017, u.DateJoined)
		assert.NotEmpty(t, u.FirstName)
		assert.NotEmpty(t, u.LastName)
	}
	assert.Len(t, cats, 13)
	assert.Greater(t, len(countries), 190)

	rate := func(k string) float64 { return float64(count[k]) / n }
	// follower_count in the real rows: 74% k, 17% digits, 7% M, 1.5% User Info Error.
	assert.InDelta(t, 0.74, rate("fc k"), 0.04)
	assert.InDelta(t, 0.17, rate("fc digits"), 0.03)
	assert.InDelta(t, 0.07, rate("fc M"), 0.02)
	assert.InDelta(t, 0.015, rate("fc UIE"), 0.006)
	// Every placeholder of the real source appears, each in about 0.2% to 3% of rows.
	for _, v := range []string{NoTitle, NoDescription, NoDescriptionStory, Untitled, NoTags, ImageSrcError, ""} {
		assert.True(t, rate(v) > 0.002 && rate(v) < 0.04, "%q in %.2f%% of rows", v, 100*rate(v))
	}
}

func TestWriteAndReadFiles(t *testing.T) {
	dir := t.TempDir()
	d, err := Generate(7, 300)
	require.NoError(t, err)
	require.NoError(t, d.WriteFiles(dir))
	back, err := ReadFiles(dir)
	require.NoError(t, err)
	assert.Equal(t, d, back)

	// Lines in another order and the T datetime form read the same.
	geo := filepath.Join(dir, DatasetFiles[record.Geo])
	b, err := os.ReadFile(geo)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	lines[0], lines[1] = lines[1], lines[0]
	lines[0] = strings.Replace(lines[0], " ", "T", 1)
	require.NoError(t, os.WriteFile(geo, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	back, err = ReadFiles(dir)
	require.NoError(t, err)
	assert.Equal(t, d, back)

	// A bad line is named.
	lines[5] = `{"ind":5,"timestamp":"yesterday","latitude":1,"longitude":2,"country":"Fiji"}`
	require.NoError(t, os.WriteFile(geo, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	_, err = ReadFiles(dir)
	assert.ErrorContains(t, err, "geolocation_data.jsonl: line 6: geo row 5: timestamp")
}

func TestDecodersNameTheProblem(t *testing.T) {
	for line, want := range map[string]string{
		`{"ind":1}`: `missing key "timestamp"`,
		`[1]`:       "cannot unmarshal array",
		`{"ind":"x","timestamp":"2020-01-01 00:00:00","latitude":1,"longitude":1,"country":""}`:     "ind",
		`{"ind":-1,"timestamp":"2020-01-01 00:00:00","latitude":1,"longitude":1,"country":""}`:      "negative",
		`{"ind":1,"timestamp":"2020-01-01 00:00:00","latitude":91,"longitude":1,"country":""}`:      "out of range",
		`{"ind":1,"timestamp":"2020-01-01 00:00:00","latitude":1,"longitude":1,"country":"","x":1}`: `unknown field "x"`,
	} {
		_, err := DecodeGeo([]byte(line))
		assert.ErrorContains(t, err, want, line)
	}
}

func TestSyntheticSource(t *testing.T) {
	s := NewSynthetic(3, 50)
	seen := map[int]bool{}
	for range 500 {
		p, err := s.Random(context.Background())
		require.NoError(t, err)
		assert.Equal(t, p.Pin.Index, p.Geo.Ind)
		assert.Equal(t, p.Pin.Index, p.User.Ind)
		seen[p.Pin.Index] = true
	}
	assert.Len(t, seen, 50, "samples every row")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Random(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}
