package analytics

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/record"
)

// A small generator of raw records shaped like the real source (categories, follower formats,
// placeholders, both datetime forms, repeats), for the S3 test and the benchmarks. The emulator
// package is the real generator; this one only has to be shaped right and deterministic, and
// able to write any range of a long history without holding it in memory (the benchmarks write
// 5,000,000 records per table, and grow a sink in steps).

var (
	genCategories = []string{"art", "beauty", "christmas", "diy-and-crafts", "education", "event-planning",
		"finance", "home-decor", "mens-fashion", "quotes", "tattoos", "travel", "vehicles"}
	genCountries = []string{"Albania", "Algeria", "Angola", "Argentina", "Armenia", "Austria", "Bahamas", "Belgium",
		"Bolivia", "Chad", "Chile", "Cuba", "Denmark", "Egypt", "Fiji", "France", "Ghana", "Greece", "India", "Iran",
		"Japan", "Kenya", "Laos", "Mali", "Nepal", "Norway", "Peru", "Qatar", "Spain", "Togo", "Yemen", "Zambia"}
)

// genInd is the ind of the i-th record sent: its own index, except that every fifth record
// (20%, as the emulator's sampling with replacement produces) re-sends an earlier post, chosen
// by a hash of seed and i so that any range of the history can be generated on its own.
func genInd(seed uint64, i int) int {
	if i%5 != 4 {
		return i
	}
	h := seed ^ uint64(i)*0x9e3779b97f4a7c15
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 29
	j := int(h % uint64(i))
	if j%5 == 4 {
		j-- // a re-send slot is not a post of its own
	}
	return j
}

// genRow returns the raw pin, geo and user lines of post ind. The content depends on ind only,
// as in the source table, so a re-send is the same record.
func genRow(ind int) (pin, geo, user []byte) {
	rr := rand.New(rand.NewPCG(uint64(ind), 11))
	cat := genCategories[rr.IntN(len(genCategories))]
	var fc string
	switch x := rr.IntN(1000); {
	case x < 740:
		fc = strconv.Itoa(1+rr.IntN(999)) + "k"
	case x < 910:
		fc = strconv.Itoa(rr.IntN(1000))
	case x < 985:
		fc = strconv.Itoa(1+rr.IntN(9)) + "M"
	default:
		fc = "User Info Error"
	}
	title := fmt.Sprintf("Post number %d about %s", ind, cat)
	desc := fmt.Sprintf("A description of post %d about %s, long enough to look like the real thing.", ind, cat)
	if rr.IntN(50) == 0 {
		title, desc = "No Title Data Available", "No description available Story format"
	}
	pin = fmt.Appendf(nil, `{"index": %d, "unique_id": "%08x-0000-4000-8000-%012x", "title": %q, "description": %q, "poster_name": "Poster %d", "follower_count": %q, "tag_list": "tag1,tag2,%s", "is_image_or_video": "image", "image_src": "https://i.pinimg.com/originals/%d.jpg", "downloaded": 1, "save_location": "Local save in /data/%s", "category": %q}`,
		ind, ind, ind, title, desc, rr.IntN(5000), fc, cat, ind, cat, cat)
	sep := " "
	if ind%2 == 1 {
		sep = "T"
	}
	geo = fmt.Appendf(nil, `{"ind": %d, "timestamp": "%d-%02d-%02d%s%02d:%02d:%02d", "latitude": %.4f, "longitude": %.4f, "country": %q}`,
		ind, 2017+rr.IntN(6), 1+rr.IntN(12), 1+rr.IntN(28), sep, rr.IntN(24), rr.IntN(60), rr.IntN(60),
		rr.Float64()*180-90, rr.Float64()*360-180, genCountries[rr.IntN(len(genCountries))])
	user = fmt.Appendf(nil, `{"ind": %d, "first_name": "First%d", "last_name": "Last%d", "age": %d, "date_joined": "%d-%02d-%02d%s%02d:%02d:%02d"}`,
		ind, rr.IntN(300), rr.IntN(300), 20+rr.IntN(40), 2015+rr.IntN(3), 1+rr.IntN(12), 1+rr.IntN(28), sep,
		rr.IntN(24), rr.IntN(60), rr.IntN(60))
	return pin, geo, user
}

// genLines returns the raw lines of n emulated posts in send order (see genInd).
func genLines(seed uint64, n int) (pins, geos, users [][]byte) {
	pins, geos, users = make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i := range n {
		pins[i], geos[i], users[i] = genRow(genInd(seed, i))
	}
	return pins, geos, users
}

// sinkObjects lays lines out as the S3 sink does: topic <user>.<kind>, partitions round-robin
// by record, an object every flush records per partition, named by its first offset. It calls
// put for each object.
func sinkObjects(user string, k record.Kind, lines [][]byte, partitions, flush int, put func(key string, body []byte)) {
	topic := record.Topic(user, k)
	parts := make([][][]byte, partitions)
	for i, l := range lines {
		parts[i%partitions] = append(parts[i%partitions], l)
	}
	for p, pl := range parts {
		for off := 0; off < len(pl); off += flush {
			end := min(off+flush, len(pl))
			var body []byte
			for _, l := range pl[off:end] {
				body = append(append(body, l...), '\n')
			}
			put(sinkKey(topic, p, off), body)
		}
	}
}

// sinkKey is the key of the object of topic and partition p starting at offset off.
func sinkKey(topic string, p, off int) string {
	return fmt.Sprintf("topics/%s/partition=%d/%s+%d+%010d.json", topic, p, topic, p, off)
}

// writeSinkDir writes n generated posts to dir in the sink layout.
func writeSinkDir(t testing.TB, dir string, n, partitions, flush int) {
	writeSinkRange(t, dir, 1, 0, n, partitions, flush)
}

// writeSinkRange writes the records [lo, hi) of the generated history (seed 1 is the benchmarks')
// to dir in the sink layout: record i goes to partition i%partitions at offset i/partitions, and
// an object starts every flush offsets. lo and hi must be multiples of partitions*flush (or hi
// the end of the history) so that every object is whole. Each object is generated and written on
// its own, so the history can be longer than memory.
func writeSinkRange(t testing.TB, dir string, seed uint64, lo, hi, partitions, flush int) {
	require.Zero(t, lo%(partitions*flush), "lo must start whole objects")
	for p := range partitions {
		for off := lo / partitions; off*partitions+p < hi; off += flush {
			var bodies [3][]byte
			for o := off; o < off+flush && o*partitions+p < hi; o++ {
				pin, geo, user := genRow(genInd(seed, o*partitions+p))
				for ki, l := range [3][]byte{pin, geo, user} {
					bodies[ki] = append(append(bodies[ki], l...), '\n')
				}
			}
			for ki, k := range record.Kinds {
				path := filepath.Join(dir, filepath.FromSlash(sinkKey(record.Topic("demo", k), p, off)))
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, bodies[ki], 0o644))
			}
		}
	}
}
