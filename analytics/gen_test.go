package analytics

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/record"
)

// A small generator of raw records shaped like the real source (categories, follower formats,
// placeholders, both datetime forms, repeats), for the S3 test and the benchmarks. The emulator
// package is the real generator; this one only has to be shaped right and deterministic.

var (
	genCategories = []string{"art", "beauty", "christmas", "diy-and-crafts", "education", "event-planning",
		"finance", "home-decor", "mens-fashion", "quotes", "tattoos", "travel", "vehicles"}
	genCountries = []string{"Albania", "Algeria", "Angola", "Argentina", "Armenia", "Austria", "Bahamas", "Belgium",
		"Bolivia", "Chad", "Chile", "Cuba", "Denmark", "Egypt", "Fiji", "France", "Ghana", "Greece", "India", "Iran",
		"Japan", "Kenya", "Laos", "Mali", "Nepal", "Norway", "Peru", "Qatar", "Spain", "Togo", "Yemen", "Zambia"}
)

// genLines returns the raw lines of n emulated posts in send order: indices count up, and every
// 50th post re-sends an earlier one (2% repeats).
func genLines(seed uint64, n int) (pins, geos, users [][]byte) {
	r := rand.New(rand.NewPCG(seed, 7))
	pins, geos, users = make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i := range n {
		ind := i
		if i%50 == 49 {
			ind = r.IntN(i)
		}
		// The row content depends on ind only, as in the source table.
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
		title, desc := fmt.Sprintf("Post number %d about %s", ind, cat), "A description of the post, long enough to look like the real thing: "+strings.Repeat(cat+" ", 12)
		if rr.IntN(50) == 0 {
			title, desc = "No Title Data Available", "No description available Story format"
		}
		pins[i] = fmt.Appendf(nil, `{"index": %d, "unique_id": "%08x-0000-4000-8000-%012x", "title": %q, "description": %q, "poster_name": "Poster %d", "follower_count": %q, "tag_list": "tag1,tag2,%s", "is_image_or_video": "image", "image_src": "https://i.pinimg.com/originals/%d.jpg", "downloaded": 1, "save_location": "Local save in /data/%s", "category": %q}`,
			ind, ind, ind, title, desc, rr.IntN(5000), fc, cat, ind, cat, cat)
		sep := " "
		if ind%2 == 1 {
			sep = "T"
		}
		geos[i] = fmt.Appendf(nil, `{"ind": %d, "timestamp": "%d-%02d-%02d%s%02d:%02d:%02d", "latitude": %.4f, "longitude": %.4f, "country": %q}`,
			ind, 2017+rr.IntN(6), 1+rr.IntN(12), 1+rr.IntN(28), sep, rr.IntN(24), rr.IntN(60), rr.IntN(60),
			rr.Float64()*180-90, rr.Float64()*360-180, genCountries[rr.IntN(len(genCountries))])
		users[i] = fmt.Appendf(nil, `{"ind": %d, "first_name": "First%d", "last_name": "Last%d", "age": %d, "date_joined": "%d-%02d-%02d%s%02d:%02d:%02d"}`,
			ind, rr.IntN(300), rr.IntN(300), 20+rr.IntN(40), 2015+rr.IntN(3), 1+rr.IntN(12), 1+rr.IntN(28), sep,
			rr.IntN(24), rr.IntN(60), rr.IntN(60))
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
			put(fmt.Sprintf("topics/%s/partition=%d/%s+%d+%010d.json", topic, p, topic, p, off), body)
		}
	}
}

// writeSinkDir writes n generated posts to dir in the sink layout.
func writeSinkDir(t testing.TB, dir string, n, partitions, flush int) {
	pins, geos, users := genLines(1, n)
	for k, lines := range map[record.Kind][][]byte{record.Pin: pins, record.Geo: geos, record.User: users} {
		sinkObjects("demo", k, lines, partitions, flush, func(key string, body []byte) {
			p := filepath.Join(dir, filepath.FromSlash(key))
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			f, err := os.Create(p)
			require.NoError(t, err)
			w := bufio.NewWriter(f)
			w.Write(body)
			require.NoError(t, w.Flush())
			require.NoError(t, f.Close())
		})
	}
}
