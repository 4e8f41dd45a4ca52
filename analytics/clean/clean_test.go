package clean

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/record"
)

func sp(s string) *string { return &s }
func ip(n int64) *int64   { return &n }
func tp(s string) *time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestCleanPin(t *testing.T) {
	full := `{"index": 7528, "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf", "title": "No Title Data Available",
	 "description": "No description available Story format", "poster_name": "User Info Error",
	 "follower_count": "User Info Error", "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
	 "is_image_or_video": "multi-video(story page format)", "image_src": "Image src error.", "downloaded": 0,
	 "save_location": "Local save in /data/mens-fashion", "category": "mens-fashion"}`
	for _, tc := range []struct {
		name string
		raw  string
		want *Pin
	}{
		{"every placeholder", full, &Pin{Index: 7528, UniqueID: sp("fbe53c66-3442-4773-b19e-d3ec6f54dddf"),
			IsImageOrVideo: sp("multi-video(story page format)"), SaveLocation: sp("/data/mens-fashion"),
			Category: sp("mens-fashion")}},
		{"clean values kept", `{"index":1,"unique_id":"u","title":"T","description":"D","poster_name":"P",
		  "follower_count":"136k","tag_list":"a,b","is_image_or_video":"image","image_src":"https://i/x.jpg",
		  "downloaded":1,"save_location":"Local save in /data/art","category":"art"}`,
			&Pin{Index: 1, UniqueID: sp("u"), Title: sp("T"), Description: sp("D"), FollowerCount: ip(136000),
				PosterName: sp("P"), TagList: sp("a,b"), IsImageOrVideo: sp("image"), ImageSrc: sp("https://i/x.jpg"),
				SaveLocation: sp("/data/art"), Category: sp("art")}},
		{"description No description available", `{"index":2,"description":"No description available"}`, &Pin{Index: 2}},
		{"description Untitled", `{"index":2,"description":"Untitled"}`, &Pin{Index: 2}},
		{"placeholder one char off is kept", `{"index":2,"image_src":"Image src error","title":"No Title Data Available."}`,
			&Pin{Index: 2, ImageSrc: sp("Image src error"), Title: sp("No Title Data Available.")}},
		{"placeholders are per column", `{"index":2,"title":"Untitled"}`, &Pin{Index: 2, Title: sp("Untitled")}},
		{"empty and blank strings", `{"index":3,"title":"","description":"  ","category":"","unique_id":""}`, &Pin{Index: 3}},
		{"millions", `{"index":4,"follower_count":"4M"}`, &Pin{Index: 4, FollowerCount: ip(4000000)}},
		{"digits", `{"index":4,"follower_count":"394"}`, &Pin{Index: 4, FollowerCount: ip(394)}},
		{"decimal k", `{"index":4,"follower_count":"1.5k"}`, &Pin{Index: 4, FollowerCount: ip(1500)}},
		{"json number", `{"index":4,"follower_count":12}`, &Pin{Index: 4, FollowerCount: ip(12)}},
		{"junk followers", `{"index":4,"follower_count":"12x"}`, &Pin{Index: 4}},
		{"lower m is not millions", `{"index":4,"follower_count":"4m"}`, &Pin{Index: 4}},
		{"save without path", `{"index":5,"save_location":"Local save in"}`, &Pin{Index: 5}},
		{"index as string", `{"index":"6"}`, &Pin{Index: 6}},
		{"escapes decoded", `{"index":7,"title":"caf\u00e9 \"x\""}`, &Pin{Index: 7, Title: sp(`café "x"`)}},
		{"clean pin read back", `{"ind":8,"follower_count":5}`, &Pin{Index: 8, FollowerCount: ip(5)}},
		{"null members", `{"index":9,"title":null,"follower_count":null}`, &Pin{Index: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row, err := Clean(record.Pin, []byte(tc.raw))
			require.NoError(t, err)
			assert.Equal(t, tc.want, row)
		})
	}
}

func TestCleanGeo(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      *Geo
	}{
		{"space form", `{"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "Albania"}`,
			&Geo{Index: 7528, Country: sp("Albania"), Coordinates: []float64{-89.9787, -173.293}, Timestamp: tp("2020-08-28 03:52:47")}},
		{"T form", `{"ind": 1, "timestamp": "2019-01-02T03:04:05", "latitude": 1, "longitude": 2.5, "country": "Chad"}`,
			&Geo{Index: 1, Country: sp("Chad"), Coordinates: []float64{1, 2.5}, Timestamp: tp("2019-01-02 03:04:05")}},
		{"missing longitude", `{"ind": 2, "latitude": 1, "country": ""}`, &Geo{Index: 2}},
		{"null timestamp", `{"ind": 3, "timestamp": null, "latitude": "1.5", "longitude": "-2"}`,
			&Geo{Index: 3, Coordinates: []float64{1.5, -2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row, err := Clean(record.Geo, []byte(tc.raw))
			require.NoError(t, err)
			assert.Equal(t, tc.want, row)
		})
	}
}

func TestCleanUser(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      *User
	}{
		{"full", `{"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24 11:23:51"}`,
			&User{Index: 7528, UserName: sp("Abigail Ali"), Age: ip(20), DateJoined: tp("2015-10-24 11:23:51")}},
		{"T form, last name only", `{"ind": 1, "first_name": "", "last_name": "Ali", "age": "31", "date_joined": "2016-01-02T00:00:00"}`,
			&User{Index: 1, UserName: sp("Ali"), Age: ip(31), DateJoined: tp("2016-01-02 00:00:00")}},
		{"nothing", `{"ind": 2}`, &User{Index: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row, err := Clean(record.User, []byte(tc.raw))
			require.NoError(t, err)
			assert.Equal(t, tc.want, row)
		})
	}
}

func TestCleanErrors(t *testing.T) {
	for _, tc := range []struct {
		kind record.Kind
		raw  string
		want string
	}{
		{record.Pin, `not json`, "pin record: malformed JSON: want a JSON object at byte 0"},
		{record.Pin, `[1,2]`, "pin record: malformed JSON: want a JSON object"},
		{record.Pin, `{"index":1`, "pin record: malformed JSON: want ',' or '}', found end of input"},
		{record.Pin, `{"index":1} x`, "unexpected data after the object"},
		{record.Pin, `{"title":"x"}`, "pin record: index: is missing"},
		{record.Pin, `{"index":"abc"}`, `pin record: index: "abc" is not an integer`},
		{record.Pin, `{"index":1.5}`, `pin record: index: 1.5 is not an integer`},
		{record.Pin, `{"index":1,"title":{"a":1}}`, `pin record: title: {"a":1} is not a string`},
		{record.Geo, `{"ind":1,"timestamp":"yesterday"}`, `geo record: timestamp: "yesterday" is not a datetime`},
		{record.Geo, `{"ind":1,"latitude":"north"}`, `geo record: latitude: "north" is not a number`},
		{record.Geo, `{"ind":1,"longitude":true}`, `geo record: longitude: true is not a number`},
		{record.User, `{"ind":1,"age":"old"}`, `user record: age: "old" is not an integer`},
		{record.User, `{"ind":1,"date_joined":20150101}`, `user record: date_joined: 20150101 is not a datetime`},
		{record.User, `{"ind":null}`, `user record: ind: is missing`},
		{record.User, "{\"ind\":1,\"first_name\":\"a\x01\"}", "control character in string"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			_, err := Clean(tc.kind, []byte(tc.raw))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			var ce *Error
			assert.ErrorAs(t, err, &ce)
		})
	}
	_, err := Clean("post", []byte(`{}`))
	assert.ErrorContains(t, err, `unknown record kind "post"`)
}

func TestParseFollowers(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "394": 394, "136k": 136000, "4M": 4000000, "1.5k": 1500,
		"2.25M": 2250000, "10k": 10000} {
		n, ok := ParseFollowers(s)
		assert.True(t, ok, s)
		assert.Equal(t, want, n, s)
	}
	for _, s := range []string{"", "k", "M", "1.2345k", "1.5", "-3", "+3", "1e3", "User Info Error", "3 k", "1.k", ".5k", "12kk"} {
		_, ok := ParseFollowers(s)
		assert.False(t, ok, s)
	}
}

func TestValuesAndDDL(t *testing.T) {
	row, err := Clean(record.Geo, []byte(`{"ind":3,"country":"Chad","latitude":1,"longitude":2,"timestamp":"2020-01-01 00:00:00"}`))
	require.NoError(t, err)
	assert.Equal(t, []any{int64(3), "Chad", []float64{1, 2}, *tp("2020-01-01 00:00:00")}, row.Values())
	row, err = Clean(record.Geo, []byte(`{"ind":3}`))
	require.NoError(t, err)
	assert.Equal(t, []any{int64(3), nil, nil, nil}, row.Values())
	for _, k := range record.Kinds {
		row, err := Clean(k, []byte(`{"ind":1,"index":1}`))
		require.NoError(t, err)
		assert.Len(t, row.Values(), len(Columns(k)), k)
		assert.Equal(t, k, row.Kind())
		assert.Equal(t, int64(1), row.Ind())
	}
	assert.Equal(t, `CREATE TABLE "user" ("ind" BIGINT, "user_name" VARCHAR, "age" BIGINT, "date_joined" TIMESTAMP)`,
		TableDDL(record.User, "user"))
	assert.True(t, strings.HasPrefix(TableDDL(record.Pin, "demo_pin_table"),
		`CREATE TABLE "demo_pin_table" ("ind" BIGINT, "unique_id" VARCHAR, "title" VARCHAR, "description" VARCHAR, "follower_count" BIGINT,`))
}

func TestCleanStream(t *testing.T) {
	res := CleanStream(record.Geo, []StreamRecord{
		{ID: "a", Data: []byte(`{"ind":1,"timestamp":"2020-08-28T03:52:47","latitude":-1.5,"longitude":2,"country":"Chad"}`)},
		{ID: "b", Data: []byte(`not json`)},
		{ID: "c", Data: []byte(`{"ind":2}`)},
	})
	require.Len(t, res, 3)
	assert.Equal(t, "a", res[0].ID)
	assert.NoError(t, res[0].Err)
	assert.JSONEq(t, `{"ind":1,"country":"Chad","coordinates":[-1.5,2],"timestamp":1598586767000000}`, string(res[0].JSON))
	assert.Equal(t, `{"ind":1,"country":"Chad","coordinates":[-1.5,2],"timestamp":1598586767000000}`, string(res[0].JSON),
		"keys in the contract's column order")
	assert.Equal(t, "b", res[1].ID)
	assert.ErrorContains(t, res[1].Err, "malformed JSON")
	assert.Nil(t, res[1].Row)
	assert.Equal(t, `{"ind":2,"country":null,"coordinates":null,"timestamp":null}`, string(res[2].JSON))

	res = CleanStream(record.Pin, []StreamRecord{{ID: "p", Data: []byte(`{"index":5,"follower_count":"2k","title":"Untitled"}`)}})
	var m map[string]any
	require.NoError(t, json.Unmarshal(res[0].JSON, &m))
	assert.Equal(t, float64(2000), m["follower_count"])
	assert.Equal(t, "Untitled", m["title"])
	assert.Len(t, m, len(Columns(record.Pin)))
}

func TestAppendValuesMatchesValues(t *testing.T) {
	raws := map[record.Kind]string{
		record.Pin:  `{"index": 7, "unique_id": "u", "title": "T", "description": "D", "poster_name": "P", "follower_count": "1k", "tag_list": "a,b", "is_image_or_video": "image", "image_src": "http://x", "save_location": "Local save in /data/x", "category": "x"}`,
		record.Geo:  `{"ind": 7, "timestamp": "2020-08-28 03:52:47", "latitude": 1.5, "longitude": 2, "country": "Chad"}`,
		record.User: `{"ind": 7, "first_name": "A", "last_name": "B", "age": 20, "date_joined": "2015-10-24 11:23:51"}`,
	}
	for k, raw := range raws {
		row, err := Clean(k, []byte(raw))
		require.NoError(t, err)
		prefix := []any{"kept"}
		assert.Equal(t, append([]any{"kept"}, row.Values()...), row.AppendValues(prefix), k)
	}
	empty, err := Clean(record.Pin, []byte(`{"index": 1}`))
	require.NoError(t, err)
	assert.Equal(t, empty.Values(), empty.AppendValues(nil))
}

// typesOf records the column type of each value a row writes.
type typesOf []string

func (w *typesOf) Int(*int64)       { *w = append(*w, "BIGINT") }
func (w *typesOf) Text(*string)     { *w = append(*w, "VARCHAR") }
func (w *typesOf) Time(*time.Time)  { *w = append(*w, "TIMESTAMP") }
func (w *typesOf) Floats([]float64) { *w = append(*w, "DOUBLE[]") }

// WriteValues hands each kind's values in the order and of the types of its columns.
func TestWriteValuesFollowsColumns(t *testing.T) {
	for _, row := range []Row{&Pin{}, &Geo{}, &User{}} {
		var got typesOf
		row.WriteValues(&got)
		var want []string
		for _, c := range Columns(row.Kind()) {
			want = append(want, c.Type)
		}
		assert.Equal(t, want, []string(got), row.Kind())
	}
}
