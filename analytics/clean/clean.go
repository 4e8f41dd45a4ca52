// Package clean holds the cleaning contract: the one implementation of the rules that turn a raw
// source record (pin, geo or user) into a typed clean row. The batch job, the stream cleaner
// Lambda and the local pipeline all call Clean; nothing else cleans.
//
// The package does not import DuckDB (or anything using cgo), so the Firehose transformation
// Lambda can be built with CGO_ENABLED=0 for arm64.
//
// The rules (see the cleaning contract in DESIGN.md):
//   - pin: the known placeholders of a column and every empty (or all-blank) string become null;
//     follower_count becomes an integer ("136k" → 136000, "4M" → 4000000, "394" → 394; a decimal
//     before k or M is allowed: "1.5k" → 1500; anything else null); save_location keeps only its
//     path ("Local save in /data/art" → "/data/art"; no path → null); index becomes ind;
//     downloaded is dropped.
//   - geo: coordinates = [latitude, longitude] (null unless both are present); timestamp a real
//     timestamp (UTC); latitude and longitude dropped.
//   - user: user_name = first_name + " " + last_name (only the non-empty parts; null when both
//     are empty); date_joined a timestamp (UTC).
//
// A record is rejected (an *Error naming the field and the value) when it is not a JSON object,
// when its index is missing or not an integer, or when a typed value has the wrong type or form
// (a timestamp that is not a datetime, a latitude that is not a number, an age that is not an
// integer). Dirty text is never an error: it becomes null. Members the contract does not know
// are ignored.
package clean

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pinpipe/pinpipe/record"
)

// Row is one clean row: a *Pin, *Geo or *User.
type Row interface {
	// Kind is the record kind of the row.
	Kind() record.Kind
	// Ind is the index that ties a post to its geolocation and its user.
	Ind() int64
	// Values returns the column values in the contract's order, typed for database/sql (the
	// local stream tables) and the batch job's fingerprints: int64, string, time.Time,
	// []float64, or nil for null.
	Values() []any
	// AppendValues appends the same values as Values to dst and returns the extended slice, so
	// a loader can reuse one buffer for every row.
	AppendValues(dst []any) []any
	// WriteValues hands the values to w one by one, typed, in the contract's order: the batch
	// job copies millions of rows into typed column buffers, and boxing each value in an
	// interface cost it an allocation per value. Values and AppendValues are made from it.
	WriteValues(w ValueWriter)
}

// ValueWriter takes a row's values from Row.WriteValues, one method call per column, in the
// contract's order (Columns). A nil pointer (a nil slice for Floats) is a null.
type ValueWriter interface {
	Int(v *int64)       // a BIGINT column
	Text(v *string)     // a VARCHAR column
	Time(v *time.Time)  // a TIMESTAMP column
	Floats(v []float64) // a DOUBLE[] column
}

// Pin is a clean post. Nil pointers are nulls.
type Pin struct {
	Index          int64   `json:"ind"`
	UniqueID       *string `json:"unique_id"`
	Title          *string `json:"title"`
	Description    *string `json:"description"`
	FollowerCount  *int64  `json:"follower_count"`
	PosterName     *string `json:"poster_name"`
	TagList        *string `json:"tag_list"`
	IsImageOrVideo *string `json:"is_image_or_video"`
	ImageSrc       *string `json:"image_src"`
	SaveLocation   *string `json:"save_location"`
	Category       *string `json:"category"`
}

// Geo is a clean geolocation. Coordinates is [latitude, longitude], nil when unknown.
type Geo struct {
	Index       int64      `json:"ind"`
	Country     *string    `json:"country"`
	Coordinates []float64  `json:"coordinates"`
	Timestamp   *time.Time `json:"timestamp"`
}

// User is a clean user.
type User struct {
	Index      int64      `json:"ind"`
	UserName   *string    `json:"user_name"`
	Age        *int64     `json:"age"`
	DateJoined *time.Time `json:"date_joined"`
}

func (*Pin) Kind() record.Kind  { return record.Pin }
func (*Geo) Kind() record.Kind  { return record.Geo }
func (*User) Kind() record.Kind { return record.User }

func (p *Pin) Ind() int64  { return p.Index }
func (g *Geo) Ind() int64  { return g.Index }
func (u *User) Ind() int64 { return u.Index }

func (p *Pin) Values() []any  { return p.AppendValues(make([]any, 0, 11)) }
func (g *Geo) Values() []any  { return g.AppendValues(make([]any, 0, 4)) }
func (u *User) Values() []any { return u.AppendValues(make([]any, 0, 4)) }

func (p *Pin) AppendValues(dst []any) []any  { return appendValues(p, dst) }
func (g *Geo) AppendValues(dst []any) []any  { return appendValues(g, dst) }
func (u *User) AppendValues(dst []any) []any { return appendValues(u, dst) }

func (p *Pin) WriteValues(w ValueWriter) {
	w.Int(&p.Index)
	w.Text(p.UniqueID)
	w.Text(p.Title)
	w.Text(p.Description)
	w.Int(p.FollowerCount)
	w.Text(p.PosterName)
	w.Text(p.TagList)
	w.Text(p.IsImageOrVideo)
	w.Text(p.ImageSrc)
	w.Text(p.SaveLocation)
	w.Text(p.Category)
}

func (g *Geo) WriteValues(w ValueWriter) {
	w.Int(&g.Index)
	w.Text(g.Country)
	w.Floats(g.Coordinates)
	w.Time(g.Timestamp)
}

func (u *User) WriteValues(w ValueWriter) {
	w.Int(&u.Index)
	w.Text(u.UserName)
	w.Int(u.Age)
	w.Time(u.DateJoined)
}

// appendValues appends a row's values to dst as Values has them: int64, string, time.Time,
// []float64, or nil for null.
func appendValues(r Row, dst []any) []any {
	w := anyValues{dst}
	r.WriteValues(&w)
	return w.dst
}

type anyValues struct{ dst []any }

func (a *anyValues) Int(v *int64)       { a.dst = append(a.dst, value(v)) }
func (a *anyValues) Text(v *string)     { a.dst = append(a.dst, value(v)) }
func (a *anyValues) Time(v *time.Time)  { a.dst = append(a.dst, value(v)) }
func (a *anyValues) Floats(v []float64) { a.dst = append(a.dst, floats(v)) }

func value[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func floats(v []float64) any {
	if v == nil {
		return nil
	}
	return v
}

// Column is one column of a clean table.
type Column struct {
	Name string
	// Type is the DuckDB type; the Glue/Athena type is the same name in lower case except
	// VARCHAR (string) and DOUBLE[] (array<double>).
	Type string
}

var columns = map[record.Kind][]Column{
	record.Pin: {{"ind", "BIGINT"}, {"unique_id", "VARCHAR"}, {"title", "VARCHAR"},
		{"description", "VARCHAR"}, {"follower_count", "BIGINT"}, {"poster_name", "VARCHAR"},
		{"tag_list", "VARCHAR"}, {"is_image_or_video", "VARCHAR"}, {"image_src", "VARCHAR"},
		{"save_location", "VARCHAR"}, {"category", "VARCHAR"}},
	record.Geo: {{"ind", "BIGINT"}, {"country", "VARCHAR"}, {"coordinates", "DOUBLE[]"},
		{"timestamp", "TIMESTAMP"}},
	record.User: {{"ind", "BIGINT"}, {"user_name", "VARCHAR"}, {"age", "BIGINT"},
		{"date_joined", "TIMESTAMP"}},
}

// ParquetPath is where a batch run writes the clean table of kind, relative to its --out:
// clean/<kind>/<kind>.parquet. Each table has a folder of its own because an Athena (Glue) table
// is a prefix, not a file: the deployed Query stack points the tables pin, geo and "user" at
// batch/clean/<kind>/.
func ParquetPath(kind record.Kind) string {
	return "clean/" + string(kind) + "/" + string(kind) + ".parquet"
}

// Columns returns the clean columns of a kind in the contract's order.
func Columns(kind record.Kind) []Column { return columns[kind] }

// TableDDL is the CREATE TABLE statement of the clean schema of kind, named table (quoted, so
// "user" is fine). The batch job and the local stream tables both use it.
func TableDDL(kind record.Kind, table string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (", quoteIdent(table))
	for i, c := range columns[kind] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", quoteIdent(c.Name), c.Type)
	}
	b.WriteString(")")
	return b.String()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Error is why a raw record cannot be cleaned: the field (empty when the record as a whole is
// unusable) and its offending value.
type Error struct {
	Kind   record.Kind
	Field  string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s record: %s", e.Kind, e.Reason)
	}
	if e.Value == "" {
		return fmt.Sprintf("%s record: %s: %s", e.Kind, e.Field, e.Reason)
	}
	return fmt.Sprintf("%s record: %s: %s %s", e.Kind, e.Field, e.Value, e.Reason)
}

// Clean turns one raw record of kind into a clean row, or returns an *Error.
func Clean(kind record.Kind, raw []byte) (Row, error) {
	return CleanText(kind, string(raw))
}

// CleanText is Clean for a record that is already a string. The row's text values are slices of
// raw rather than copies, so a loader holding a whole object as one string (the batch job) cleans
// it without copying each record.
func CleanText(kind record.Kind, raw string) (Row, error) {
	switch kind {
	case record.Pin:
		return cleanPin(raw)
	case record.Geo:
		return cleanGeo(raw)
	case record.User:
		return cleanUser(raw)
	}
	return nil, fmt.Errorf("clean: unknown record kind %q", kind)
}

// Placeholders the source uses for "no data", per column (exact strings).
const (
	noTitle        = "No Title Data Available"
	noDescStory    = "No description available Story format"
	noDesc         = "No description available"
	untitled       = "Untitled"
	userInfoError  = "User Info Error"
	noTags         = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
	imageSrcError  = "Image src error."
	errMissingInd  = "is missing"
	errNotInteger  = "is not an integer"
	errNotNumber   = "is not a number"
	errNotText     = "is not a string"
	errNotDatetime = "is not a datetime (want YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SS)"
)

// fields collects the members of a raw record and remembers the first type error.
type fields struct {
	slots []string // spare strings for text values; see keep
	kind  record.Kind
	err   *Error
	ind   int64
	seen  bool // ind was present
}

func (f *fields) fail(field string, v jsonValue, reason string) {
	if f.err == nil {
		f.err = &Error{Kind: f.kind, Field: field, Value: v.describe(), Reason: reason}
	}
}

// index reads the index member (a JSON integer, or a string holding one).
func (f *fields) index(field string, v jsonValue) {
	if v.kind == kindNull {
		return
	}
	n, ok := integer(v)
	if !ok {
		f.fail(field, v, errNotInteger)
		return
	}
	f.ind, f.seen = n, true
}

// text reads a string member: null, empty and blank strings and the given placeholders are nil.
func (f *fields) text(field string, v jsonValue, placeholders ...string) *string {
	switch v.kind {
	case kindNull:
		return nil
	case kindString:
	case kindNumber, kindBool:
		// A number where text is expected (e.g. a numeric title) is still text.
		return f.keep(string(v.raw))
	default:
		f.fail(field, v, errNotText)
		return nil
	}
	if strings.TrimSpace(v.str) == "" {
		return nil
	}
	for _, p := range placeholders {
		if v.str == p {
			return nil
		}
	}
	return f.keep(v.str)
}

// keep returns a pointer to a copy of s, in one of the row's spare slots while there are any (a
// pin has nine text columns: one allocation for all of them instead of one each).
func (f *fields) keep(s string) *string {
	var p *string
	if len(f.slots) == 0 {
		p = new(string) // not &s: that would move s to the heap on every call
	} else {
		p, f.slots = &f.slots[0], f.slots[1:]
	}
	*p = s
	return p
}

// float reads a number member (or a string holding one); null and "" are unknown.
func (f *fields) float(field string, v jsonValue) (float64, bool) {
	var s string
	switch v.kind {
	case kindNull:
		return 0, false
	case kindNumber:
		s = string(v.raw)
	case kindString:
		if strings.TrimSpace(v.str) == "" {
			return 0, false
		}
		s = strings.TrimSpace(v.str)
	default:
		f.fail(field, v, errNotNumber)
		return 0, false
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		f.fail(field, v, errNotNumber)
		return 0, false
	}
	return x, true
}

// intval reads an integer member; null and "" are nil.
// The value is stored in *dst (part of the row's allocation), which is returned.
func (f *fields) intval(field string, v jsonValue, dst *int64) *int64 {
	if v.kind == kindNull || v.kind == kindString && strings.TrimSpace(v.str) == "" {
		return nil
	}
	n, ok := integer(v)
	if !ok {
		f.fail(field, v, errNotInteger)
		return nil
	}
	*dst = n
	return dst
}

// datetime reads a datetime string; null and "" are nil.
// The value is stored in *dst (part of the row's allocation), which is returned.
func (f *fields) datetime(field string, v jsonValue, dst *time.Time) *time.Time {
	if v.kind == kindNull || v.kind == kindString && strings.TrimSpace(v.str) == "" {
		return nil
	}
	if v.kind != kindString {
		f.fail(field, v, errNotDatetime)
		return nil
	}
	t, err := record.ParseTime(strings.TrimSpace(v.str))
	if err != nil {
		f.fail(field, v, errNotDatetime)
		return nil
	}
	*dst = t
	return dst
}

// done returns the record's error, if any, or a missing-index error.
func (f *fields) done(field string) error {
	if f.err != nil {
		return f.err
	}
	if !f.seen {
		return &Error{Kind: f.kind, Field: field, Reason: errMissingInd}
	}
	return nil
}

// integer reads a JSON integer (also 12.0 or 1e3) or a string holding a decimal integer.
func integer(v jsonValue) (int64, bool) {
	var s string
	switch v.kind {
	case kindNumber:
		s = string(v.raw)
	case kindString:
		s = strings.TrimSpace(v.str)
	default:
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if v.kind != kindNumber {
		return 0, false
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || x != math.Trunc(x) || math.Abs(x) > 1<<53 {
		return 0, false
	}
	return int64(x), true
}

// wrapScan names the record kind in a scan error.
func wrapScan(kind record.Kind, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: kind, Reason: err.Error()}
}

// pinBlock is a clean pin and the strings its text columns point to, allocated together.
type pinBlock struct {
	pin   Pin
	texts [9]string
}

func cleanPin(raw string) (Row, error) {
	b := &pinBlock{}
	f := fields{kind: record.Pin, slots: b.texts[:]}
	p := &b.pin
	indField := "index"
	err := scanText(raw, func(key []byte, v jsonValue) error {
		switch string(key) {
		case "index":
			f.index("index", v)
		case "ind":
			// A clean pin read back is still accepted; "index" wins when both are present.
			if !f.seen {
				f.index("ind", v)
			}
		case "unique_id":
			p.UniqueID = f.text("unique_id", v)
		case "title":
			p.Title = f.text("title", v, noTitle)
		case "description":
			p.Description = f.text("description", v, noDescStory, noDesc, untitled)
		case "poster_name":
			p.PosterName = f.text("poster_name", v, userInfoError)
		case "follower_count":
			p.FollowerCount = f.followers(v)
		case "tag_list":
			p.TagList = f.text("tag_list", v, noTags)
		case "is_image_or_video":
			p.IsImageOrVideo = f.text("is_image_or_video", v)
		case "image_src":
			p.ImageSrc = f.text("image_src", v, imageSrcError)
		case "save_location":
			p.SaveLocation = savePath(f.text("save_location", v))
		case "category":
			p.Category = f.text("category", v)
		}
		return nil
	})
	if err != nil {
		return nil, wrapScan(record.Pin, err)
	}
	if err := f.done(indField); err != nil {
		return nil, err
	}
	p.Index = f.ind
	return p, nil
}

// followers turns "136k", "4M", "394" (or a JSON number) into an integer; anything else, the
// "User Info Error" placeholder included, is null (never an error: it is dirty text).
func (f *fields) followers(v jsonValue) *int64 {
	var s string
	switch v.kind {
	case kindNumber:
		s = string(v.raw)
	case kindString:
		s = strings.TrimSpace(v.str)
	default:
		return nil
	}
	n, ok := ParseFollowers(s)
	if !ok {
		return nil
	}
	return &n
}

// ParseFollowers reads a follower count: digits, optionally with a fraction, optionally followed
// by k (×1,000) or M (×1,000,000); the result must be a whole number. "1.5k" is 1500;
// "1.2345k" and "abc" are not counts.
func ParseFollowers(s string) (int64, bool) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1_000, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1_000_000, s[:len(s)-1]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if !allDigits(whole) || hasFrac && !allDigits(frac) || len(whole) > 15 || len(frac) > 6 {
		return 0, false
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	n *= mult
	if hasFrac {
		// frac/10^len(frac) × mult must be whole.
		scale := int64(1)
		for range len(frac) {
			scale *= 10
		}
		fn, _ := strconv.ParseInt(frac, 10, 64)
		if fn*mult%scale != 0 {
			return 0, false
		}
		n += fn * mult / scale
	}
	return n, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// savePath keeps the path of "Local save in /data/<category>": from the first '/' on.
func savePath(p *string) *string {
	if p == nil {
		return nil
	}
	i := strings.IndexByte(*p, '/')
	if i < 0 {
		return nil
	}
	// p is the text just read, pointed to by nothing else: reuse it.
	*p = strings.TrimSpace((*p)[i:])
	return p
}

func cleanGeo(raw string) (Row, error) {
	b := &geoBlock{}
	f := fields{kind: record.Geo, slots: b.texts[:]}
	g := &b.geo
	var lat, lon float64
	var hasLat, hasLon bool
	err := scanText(raw, func(key []byte, v jsonValue) error {
		switch string(key) {
		case "ind":
			f.index("ind", v)
		case "country":
			g.Country = f.text("country", v)
		case "latitude":
			lat, hasLat = f.float("latitude", v)
		case "longitude":
			lon, hasLon = f.float("longitude", v)
		case "timestamp":
			g.Timestamp = f.datetime("timestamp", v, &b.timestamp)
		}
		return nil
	})
	if err != nil {
		return nil, wrapScan(record.Geo, err)
	}
	if err := f.done("ind"); err != nil {
		return nil, err
	}
	g.Index = f.ind
	if hasLat && hasLon {
		b.coordinates = [2]float64{lat, lon}
		g.Coordinates = b.coordinates[:]
	}
	return g, nil
}

// userBlock is a clean user and what its pointers point to: the strings of its first name, last
// name and user name, its age and date joined.
type userBlock struct {
	user       User
	texts      [3]string
	age        int64
	dateJoined time.Time
}

// geoBlock is a clean geolocation and what its pointers and slice point to.
type geoBlock struct {
	geo         Geo
	texts       [1]string
	timestamp   time.Time
	coordinates [2]float64
}

func cleanUser(raw string) (Row, error) {
	b := &userBlock{}
	f := fields{kind: record.User, slots: b.texts[:]}
	u := &b.user
	var first, last *string
	err := scanText(raw, func(key []byte, v jsonValue) error {
		switch string(key) {
		case "ind":
			f.index("ind", v)
		case "first_name":
			first = f.text("first_name", v)
		case "last_name":
			last = f.text("last_name", v)
		case "age":
			u.Age = f.intval("age", v, &b.age)
		case "date_joined":
			u.DateJoined = f.datetime("date_joined", v, &b.dateJoined)
		}
		return nil
	})
	if err != nil {
		return nil, wrapScan(record.User, err)
	}
	if err := f.done("ind"); err != nil {
		return nil, err
	}
	u.Index = f.ind
	switch {
	case first != nil && last != nil:
		u.UserName = f.keep(*first + " " + *last)
	case first != nil:
		u.UserName = first
	case last != nil:
		u.UserName = last
	}
	return u, nil
}
