// Package emulator makes the source data of the pipeline and posts it to the pipeline's REST API
// the way the original posting scripts did, minus their flaws: it reuses connections, checks every
// record's answer, retries what failed (and only that), keeps to a rate, and stops cleanly.
//
// The source is either the synthetic dataset (Generate, NewSynthetic: no database needed) or the
// three MySQL tables of the original (OpenMySQL, SeedDB).
package emulator

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pinpipe/pinpipe/record"
)

// DefaultRows is the number of rows per table of the real source (indices 0–11152), which the
// synthetic dataset reproduces by default.
const DefaultRows = defaultDatasetRows

// DefaultSeed is the seed `pinpipe generate` and the synthetic source use unless told otherwise.
const DefaultSeed = defaultDatasetSeed

// Dataset is the three source tables, aligned by index: Pins[i], Geos[i] and Users[i] share the
// index i.
type Dataset struct {
	Pins  []record.PinRow
	Geos  []record.GeoRow
	Users []record.UserRow
}

// Len is the number of rows per table.
func (d *Dataset) Len() int { return len(d.Pins) }

// Post returns the three rows of row i.
func (d *Dataset) Post(i int) record.Post {
	return record.Post{Pin: d.Pins[i], Geo: d.Geos[i], User: d.Users[i]}
}

// posterPoolSize is fixed (not derived from the row count) so that a smaller dataset is a prefix
// of a larger one with the same seed.
const posterPoolSize = 4000

type poster struct {
	name      string
	followers string
	category  int
}

var (
	postTimeFrom = time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)
	postTimeTo   = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	joinTimeFrom = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	joinTimeTo   = time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Generate makes the synthetic dataset: rows rows per table, indices 0..rows-1, with the schema,
// value ranges and dirty values of the real source (DESIGN.md, Record contract). The same seed
// gives the same rows, and the first n rows do not depend on how many rows are asked for.
func Generate(seed int64, rows int) (*Dataset, error) {
	if rows < 1 || rows > maxDatasetRows {
		return nil, fmt.Errorf("rows %d: want 1 to %d", rows, maxDatasetRows)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	pool := make([]poster, posterPoolSize)
	for i := range pool {
		pool[i] = newPoster(rng)
	}
	d := &Dataset{
		Pins:  make([]record.PinRow, rows),
		Geos:  make([]record.GeoRow, rows),
		Users: make([]record.UserRow, rows),
	}
	for i := range rows {
		d.Pins[i] = newPin(rng, i, pool)
		d.Geos[i] = newGeo(rng, i)
		d.Users[i] = newUser(rng, i)
	}
	return d, nil
}

// chance reports true with probability p.
func chance(rng *rand.Rand, p float64) bool { return rng.Float64() < p }

func pick(rng *rand.Rand, list []string) string { return list[rng.IntN(len(list))] }

func newPoster(rng *rand.Rand) poster {
	p := poster{category: rng.IntN(len(Categories))}
	switch rng.IntN(3) {
	case 0:
		p.name = pick(rng, firstNames) + " " + pick(rng, lastNames)
	case 1:
		p.name = pick(rng, posterPrefixes) + " " + titleCase(pick(rng, categoryWords[p.category])) + " " + pick(rng, posterSuffixes)
	default:
		p.name = pick(rng, firstNames) + " | " + titleCase(pick(rng, categoryWords[p.category]))
	}
	// Follower counts as the scraper wrote them: in the real rows 74% "<n>k", 17% plain digits,
	// 7% "<n>M"; the rest are "User Info Error" (drawn per post, below) or empty.
	switch u := rng.Float64() * 0.985; {
	case u < 0.74:
		p.followers = strconv.Itoa(1+rng.IntN(999)) + "k"
	case u < 0.91:
		p.followers = strconv.Itoa(rng.IntN(1000))
	case u < 0.98:
		p.followers = strconv.Itoa(1+rng.IntN(9)) + "M"
	default:
		p.followers = ""
	}
	return p
}

func titleCase(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

func newPin(rng *rand.Rand, index int, pool []poster) record.PinRow {
	// Popular posters post more: a squared uniform favours the start of the pool.
	u := rng.Float64()
	ps := pool[int(u*u*float64(len(pool)))]
	cat := ps.category
	if chance(rng, 0.3) {
		cat = rng.IntN(len(Categories))
	}
	words := categoryWords[cat]
	var uuid [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			uuid[i+j] = byte(v >> (8 * j))
		}
	}
	uuid[6] = uuid[6]&0x0f | 0x40
	uuid[8] = uuid[8]&0x3f | 0x80
	h := hex.EncodeToString(uuid[:])
	p := record.PinRow{
		Index:        index,
		UniqueID:     h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32],
		PosterName:   ps.name,
		Category:     Categories[cat],
		SaveLocation: saveLocationPrefix + Categories[cat],
		Downloaded:   1,
	}
	switch m := rng.Float64(); {
	case m < 0.82:
		p.IsImageOrVideo = MediaImage
	case m < 0.97:
		p.IsImageOrVideo = MediaVideo
	default:
		p.IsImageOrVideo = MediaStory
	}

	w1, w2 := pick(rng, words), pick(rng, words)
	pattern := titlePatterns[rng.IntN(len(titlePatterns))]
	if strings.Contains(pattern, "%d") {
		p.Title = fmt.Sprintf(pattern, 5+rng.IntN(46), pick(rng, titleAdjectives), titleCase(w1))
	} else {
		p.Title = fmt.Sprintf(pattern, pick(rng, titleAdjectives), titleCase(w1))
	}
	p.Description = fmt.Sprintf(descriptionSentences[rng.IntN(len(descriptionSentences))], w1, w2)

	ntags := 3 + rng.IntN(8)
	tags := make([]string, ntags)
	for i := range tags {
		tags[i] = pick(rng, words)
		if chance(rng, 0.3) {
			tags[i] = strings.ToLower(pick(rng, titleAdjectives)) + " " + tags[i]
		}
	}
	p.TagList = strings.Join(tags, ",")
	p.ImageSrc = imageHost + h[0:2] + "/" + h[2:4] + "/" + h[4:6] + "/" + h + ".jpg"
	p.FollowerCount = ps.followers

	// Dirty values, at about the rates of the real source. The story-format rows are the ones the
	// scraper could not describe.
	if p.IsImageOrVideo == MediaStory && chance(rng, 0.9) {
		p.Description = NoDescriptionStory
	}
	if chance(rng, 0.015) { // the scraper failed on the poster's profile
		p.PosterName, p.FollowerCount = UserInfoError, UserInfoError
	}
	switch d := rng.Float64(); {
	case d < 0.010:
		p.Title = NoTitle
	case d < 0.013:
		p.Title = ""
	}
	switch d := rng.Float64(); {
	case d < 0.010:
		p.Description = NoDescription
	case d < 0.015:
		p.Description = Untitled
	case d < 0.018:
		p.Description = ""
	}
	switch d := rng.Float64(); {
	case d < 0.012:
		p.TagList = NoTags
	case d < 0.014:
		p.TagList = ""
	}
	if chance(rng, 0.01) {
		p.ImageSrc, p.Downloaded = ImageSrcError, 0
	}
	if chance(rng, 0.002) {
		p.PosterName = ""
	}
	return p
}

func randomTime(rng *rand.Rand, from, to time.Time) string {
	span := int64(to.Sub(from) / time.Second)
	return record.FormatTime(from.Add(time.Duration(rng.Int64N(span)) * time.Second))
}

func round5(x float64) float64 { return math.Round(x*1e5) / 1e5 }

func newGeo(rng *rand.Rand, ind int) record.GeoRow {
	return record.GeoRow{
		Ind:       ind,
		Timestamp: randomTime(rng, postTimeFrom, postTimeTo),
		Latitude:  round5(rng.Float64()*180 - 90),
		Longitude: round5(rng.Float64()*360 - 180),
		Country:   pick(rng, Countries),
	}
}

func newUser(rng *rand.Rand, ind int) record.UserRow {
	return record.UserRow{
		Ind:        ind,
		FirstName:  pick(rng, firstNames),
		LastName:   pick(rng, lastNames),
		Age:        20 + rng.IntN(40),
		DateJoined: randomTime(rng, joinTimeFrom, joinTimeTo),
	}
}

// DatasetFiles are the names WriteFiles writes in its directory: pin, geo and user rows.
var DatasetFiles = map[record.Kind]string{
	record.Pin:  datasetFilePin,
	record.Geo:  datasetFileGeo,
	record.User: datasetFileUser,
}

// WriteFiles writes the dataset as newline-delimited JSON, one file per table (DatasetFiles), into
// dir, creating it if needed. Each file is written to a temporary name and renamed, so a reader
// never sees half a file.
func (d *Dataset) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, k := range record.Kinds {
		n := d.Len()
		err := writeJSONL(filepath.Join(dir, DatasetFiles[k]), n, func(i int) any {
			switch k {
			case record.Pin:
				return &d.Pins[i]
			case record.Geo:
				return &d.Geos[i]
			}
			return &d.Users[i]
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func writeJSONL(path string, n int, row func(int) any) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<16)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range n {
		if err := enc.Encode(row(i)); err != nil {
			return fmt.Errorf("write %s row %d: %w", path, i, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
