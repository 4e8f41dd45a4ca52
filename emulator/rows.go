package emulator

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/pinpipe/pinpipe/record"
)

// maxRowBytes bounds one JSONL line; real rows are well under 4 KiB.
const maxRowBytes = 1 << 20

// decodeStrict unmarshals one JSON object into v, refusing unknown keys, trailing data and
// missing keys (every key of the row type must be present, as in the source tables).
func decodeStrict(line []byte, v any, keys []string) error {
	var present map[string]json.RawMessage
	if err := json.Unmarshal(line, &present); err != nil {
		return err
	}
	for _, k := range keys {
		if _, ok := present[k]; !ok {
			return fmt.Errorf("missing key %q", k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}

var (
	pinKeys  = []string{"index", "unique_id", "title", "description", "poster_name", "follower_count", "tag_list", "is_image_or_video", "image_src", "downloaded", "save_location", "category"}
	geoKeys  = []string{"ind", "timestamp", "latitude", "longitude", "country"}
	userKeys = []string{"ind", "first_name", "last_name", "age", "date_joined"}
)

// DecodePin reads one pinterest_data row as `pinpipe generate` writes it.
func DecodePin(line []byte) (record.PinRow, error) {
	var p record.PinRow
	if err := decodeStrict(line, &p, pinKeys); err != nil {
		return record.PinRow{}, fmt.Errorf("pin row: %w", err)
	}
	if p.Index < 0 {
		return record.PinRow{}, fmt.Errorf("pin row: index %d is negative", p.Index)
	}
	return p, nil
}

// DecodeGeo reads one geolocation_data row. The timestamp may use either datetime form; it is
// returned in the MySQL form.
func DecodeGeo(line []byte) (record.GeoRow, error) {
	var g record.GeoRow
	if err := decodeStrict(line, &g, geoKeys); err != nil {
		return record.GeoRow{}, fmt.Errorf("geo row: %w", err)
	}
	if g.Ind < 0 {
		return record.GeoRow{}, fmt.Errorf("geo row: ind %d is negative", g.Ind)
	}
	t, err := record.ParseTime(g.Timestamp)
	if err != nil {
		return record.GeoRow{}, fmt.Errorf("geo row %d: timestamp: %w", g.Ind, err)
	}
	g.Timestamp = record.FormatTime(t)
	if g.Latitude < -90 || g.Latitude > 90 || g.Longitude < -180 || g.Longitude > 180 {
		return record.GeoRow{}, fmt.Errorf("geo row %d: coordinates (%v, %v) out of range", g.Ind, g.Latitude, g.Longitude)
	}
	return g, nil
}

// DecodeUser reads one user_data row; date_joined is returned in the MySQL form.
func DecodeUser(line []byte) (record.UserRow, error) {
	var u record.UserRow
	if err := decodeStrict(line, &u, userKeys); err != nil {
		return record.UserRow{}, fmt.Errorf("user row: %w", err)
	}
	if u.Ind < 0 {
		return record.UserRow{}, fmt.Errorf("user row: ind %d is negative", u.Ind)
	}
	t, err := record.ParseTime(u.DateJoined)
	if err != nil {
		return record.UserRow{}, fmt.Errorf("user row %d: date_joined: %w", u.Ind, err)
	}
	u.DateJoined = record.FormatTime(t)
	return u, nil
}

// ReadFiles reads a dataset written by WriteFiles (or exported from a real source in the same
// form). Each table is sorted by index, and the three must hold the same indices, since a post is
// the three rows of one index. A bad line is reported with its file and line number.
func ReadFiles(dir string) (*Dataset, error) {
	d := &Dataset{}
	for _, k := range record.Kinds {
		path := filepath.Join(dir, DatasetFiles[k])
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read dataset: %w", err)
		}
		err = readJSONL(f, func(line []byte) error {
			switch k {
			case record.Pin:
				p, err := DecodePin(line)
				d.Pins = append(d.Pins, p)
				return err
			case record.Geo:
				g, err := DecodeGeo(line)
				d.Geos = append(d.Geos, g)
				return err
			}
			u, err := DecodeUser(line)
			d.Users = append(d.Users, u)
			return err
		})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	if len(d.Pins) != len(d.Geos) || len(d.Pins) != len(d.Users) {
		return nil, fmt.Errorf("read dataset %s: tables differ in length: %d pins, %d geos, %d users",
			dir, len(d.Pins), len(d.Geos), len(d.Users))
	}
	if len(d.Pins) == 0 {
		return nil, fmt.Errorf("read dataset %s: no rows", dir)
	}
	slices.SortFunc(d.Pins, func(a, b record.PinRow) int { return cmp.Compare(a.Index, b.Index) })
	slices.SortFunc(d.Geos, func(a, b record.GeoRow) int { return cmp.Compare(a.Ind, b.Ind) })
	slices.SortFunc(d.Users, func(a, b record.UserRow) int { return cmp.Compare(a.Ind, b.Ind) })
	for i := range d.Pins {
		if p, g, u := d.Pins[i].Index, d.Geos[i].Ind, d.Users[i].Ind; p != g || p != u {
			return nil, fmt.Errorf("read dataset %s: indices do not line up: row %d of the sorted tables has pin %d, geo %d, user %d", dir, i, p, g, u)
		}
		if i > 0 && d.Pins[i].Index == d.Pins[i-1].Index {
			return nil, fmt.Errorf("read dataset %s: index %d appears twice", dir, d.Pins[i].Index)
		}
	}
	return d, nil
}

func readJSONL(r io.Reader, each func([]byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxRowBytes)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := each(line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("after the last good line: %w", err)
	}
	return nil
}
