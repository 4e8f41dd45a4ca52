// Package record holds the shape of the source records and the names derived from a user id.
//
// The three source tables (pinterest_data, geolocation_data, user_data) travel through the
// pipeline as JSON objects whose keys are the MySQL column names. This package is the one place
// that knows those keys, the topic, stream and table names, and the datetime forms readers accept,
// so the emulator, the local pipeline, the analytics and the CDK side never spell them twice.
package record

import (
	"fmt"
	"strings"
	"time"
)

// Kind is one of the three record kinds: pin, geo or user.
type Kind string

const (
	Pin  Kind = "pin"
	Geo  Kind = "geo"
	User Kind = "user"
)

// Kinds lists the three kinds in their canonical order.
var Kinds = []Kind{Pin, Geo, User}

// ParseKind accepts "pin", "geo" or "user".
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Pin, Geo, User:
		return k, nil
	}
	return "", fmt.Errorf("unknown record kind %q (want pin, geo or user)", s)
}

// Table is the source MySQL table of a kind.
func (k Kind) Table() string {
	switch k {
	case Pin:
		return "pinterest_data"
	case Geo:
		return "geolocation_data"
	case User:
		return "user_data"
	}
	return ""
}

// IndexColumn is the column that ties the three tables together: "index" for pins, "ind" otherwise.
func (k Kind) IndexColumn() string {
	if k == Pin {
		return "index"
	}
	return "ind"
}

// ValidUserID reports whether id can be used in topic, stream, bucket and table names.
// Kafka topics allow [a-zA-Z0-9._-]; Glue tables and S3 buckets are stricter, so we accept
// lower-case letters, digits and hyphens, 1 to 32 characters, starting with a letter or digit.
func ValidUserID(id string) error {
	if id == "" || len(id) > 32 {
		return fmt.Errorf("user id %q: must be 1 to 32 characters", id)
	}
	for i, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0
		if !ok {
			return fmt.Errorf("user id %q: only lower-case letters, digits and '-' (not first) are allowed", id)
		}
	}
	return nil
}

// Topic is the Kafka topic of a kind: "<user_id>.pin".
func Topic(userID string, k Kind) string { return userID + "." + string(k) }

// Stream is the Kinesis stream of a kind: "streaming-<user_id>-pin".
func Stream(userID string, k Kind) string { return "streaming-" + userID + "-" + string(k) }

// StreamTable is the streaming table of a kind: "<user_id>_pin_table". Hyphens in the user id
// become underscores so the name is a valid Glue and DuckDB identifier.
func StreamTable(userID string, k Kind) string {
	return strings.ReplaceAll(userID, "-", "_") + "_" + string(k) + "_table"
}

// KindOfTopic returns the kind of a topic name "<user_id>.<kind>".
func KindOfTopic(userID, topic string) (Kind, bool) {
	rest, ok := strings.CutPrefix(topic, userID+".")
	if !ok {
		return "", false
	}
	k, err := ParseKind(rest)
	return k, err == nil
}

// KindOfStream returns the kind of a stream name "streaming-<user_id>-<kind>".
func KindOfStream(userID, stream string) (Kind, bool) {
	rest, ok := strings.CutPrefix(stream, "streaming-"+userID+"-")
	if !ok {
		return "", false
	}
	k, err := ParseKind(rest)
	return k, err == nil
}

// PinRow is a row of pinterest_data as the source emits it.
type PinRow struct {
	Index          int    `json:"index"`
	UniqueID       string `json:"unique_id"`
	Title          string `json:"title"`
	Description    string `json:"description"`
	PosterName     string `json:"poster_name"`
	FollowerCount  string `json:"follower_count"`
	TagList        string `json:"tag_list"`
	IsImageOrVideo string `json:"is_image_or_video"`
	ImageSrc       string `json:"image_src"`
	Downloaded     int    `json:"downloaded"`
	SaveLocation   string `json:"save_location"`
	Category       string `json:"category"`
}

// GeoRow is a row of geolocation_data as the source emits it. Timestamp is a datetime string.
type GeoRow struct {
	Ind       int     `json:"ind"`
	Timestamp string  `json:"timestamp"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Country   string  `json:"country"`
}

// UserRow is a row of user_data as the source emits it. DateJoined is a datetime string.
type UserRow struct {
	Ind        int    `json:"ind"`
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	Age        int    `json:"age"`
	DateJoined string `json:"date_joined"`
}

// Post is one emulated post: the three rows that share an index.
type Post struct {
	Pin  PinRow
	Geo  GeoRow
	User UserRow
}

// Row returns the row of kind k.
func (p *Post) Row(k Kind) any {
	switch k {
	case Pin:
		return &p.Pin
	case Geo:
		return &p.Geo
	case User:
		return &p.User
	}
	return nil
}

// DatetimeLayout is how datetimes travel: MySQL's DATETIME text form, in UTC.
const DatetimeLayout = "2006-01-02 15:04:05"

// FormatTime writes t in DatetimeLayout (UTC).
func FormatTime(t time.Time) string { return t.UTC().Format(DatetimeLayout) }

// ParseTime reads a datetime in either form the source uses, "2020-08-28 03:52:47" or
// "2020-08-28T03:52:47" (fractional seconds and a trailing Z or offset are also accepted).
// A value without a zone is UTC.
func ParseTime(s string) (time.Time, error) {
	if t, ok := parseDatetime19(s); ok {
		return t, nil
	}
	for _, layout := range []string{
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04:05.999999999",
		time.RFC3339Nano,
		"2006-01-02 15:04:05.999999999Z07:00",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("datetime %q: want YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SS", s)
}

// parseDatetime19 reads exactly "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DDTHH:MM:SS" (the forms the
// source sends, millions of times in a batch run) without time.Parse's layout interpretation.
// Anything else, out-of-range fields included, is left to time.Parse.
func parseDatetime19(s string) (time.Time, bool) {
	if len(s) != 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, sec := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 28 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false // days 29-31 are left to time.Parse, which knows month lengths
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), true
}
