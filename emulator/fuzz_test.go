package emulator

import (
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/pinpipe/pinpipe/record"
)

// FuzzCheckResponse feeds arbitrary answers to the response checks: they must never panic,
// always return one verdict per record, and accept a record only on a 2xx answer.
func FuzzCheckResponse(f *testing.F) {
	f.Add(true, false, 200, []byte(`{"offsets":[{"partition":0,"offset":12,"error_code":null,"error":null}]}`), uint8(1))
	f.Add(true, false, 200, []byte(`{"offsets":[{"partition":null,"offset":null,"error_code":2,"error":"x"}]}`), uint8(2))
	f.Add(false, false, 200, []byte(`{"SequenceNumber":"1","ShardId":"shardId-000000000000"}`), uint8(1))
	f.Add(false, false, 200, []byte(`{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded"}`), uint8(1))
	f.Add(false, true, 200, []byte(`{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1"},{"ErrorCode":"InternalFailure","ErrorMessage":"x"}]}`), uint8(2))
	f.Add(false, true, 400, []byte(`{"__type":"com.amazonaws.kinesis.v20131202#ProvisionedThroughputExceededException"}`), uint8(3))
	f.Add(true, false, 422, []byte(`{"error_code":42201,"message":"empty records"}`), uint8(1))
	f.Add(true, false, 502, []byte(`<html>Bad Gateway</html>`), uint8(1))
	f.Fuzz(func(t *testing.T, kafka, batched bool, status int, body []byte, n uint8) {
		mode := Stream
		if kafka {
			mode = Batch
		}
		res := checkResponse(mode, batched, status, body, int(n), nil)
		if len(res) != int(n) {
			t.Fatalf("%d verdicts for %d records", len(res), n)
		}
		for _, v := range res {
			if v.out == accepted && (status < 200 || status > 299) {
				t.Fatalf("accepted on HTTP %d", status)
			}
			if v.out != accepted && v.reason == "" {
				t.Fatalf("verdict %d without a reason", v.out)
			}
			if v.out > fatal {
				t.Fatalf("unknown outcome %d", v.out)
			}
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "1", "1.5", "-3", "NaN", "Inf", "1e300", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"} {
		f.Add(s)
	}
	now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("Retry-After %q: %v", v, d)
		}
	})
}

// FuzzDecodeRows checks the source row decoders: no panic on any line, and a decoded row
// survives a write and a second read unchanged.
func FuzzDecodeRows(f *testing.F) {
	f.Add([]byte(pinJSON))
	f.Add([]byte(geoJSON))
	f.Add([]byte(userJSON))
	f.Add([]byte(`{"ind":1,"timestamp":"2020-08-28T03:52:47","latitude":-90,"longitude":180,"country":""}`))
	f.Add([]byte(`{"ind":1,"first_name":"","last_name":"","age":-1,"date_joined":"2015-01-01 00:00:00.5Z"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if p, err := DecodePin(line); err == nil {
			b, _ := json.Marshal(p)
			p2, err := DecodePin(b)
			if err != nil || p2 != p {
				t.Fatalf("pin round trip: %v %+v %+v", err, p, p2)
			}
		}
		if g, err := DecodeGeo(line); err == nil {
			b, _ := json.Marshal(g)
			g2, err := DecodeGeo(b)
			if err != nil || g2 != g {
				t.Fatalf("geo round trip: %v %+v %+v", err, g, g2)
			}
		}
		if u, err := DecodeUser(line); err == nil {
			b, _ := json.Marshal(u)
			u2, err := DecodeUser(b)
			if err != nil || u2 != u {
				t.Fatalf("user round trip: %v %+v %+v", err, u, u2)
			}
		}
	})
}

// FuzzPostColumns checks the decoder of a MySQL source row: any mix of NULLs and values gives a
// post whose three indices agree, or an error, never a panic.
func FuzzPostColumns(f *testing.F) {
	f.Add(int64(7), int64(7), int64(7), true, true, "title", int64(1714000000), 1.5)
	f.Add(int64(7), int64(8), int64(7), true, false, "", int64(0), -90.0)
	f.Fuzz(func(t *testing.T, pin, geo, user int64, valid, timeValid bool, s string, unix int64, lat float64) {
		var c postColumns
		c.pinIndex = sql.NullInt64{Int64: pin, Valid: valid}
		c.geoInd = sql.NullInt64{Int64: geo, Valid: true}
		c.userInd = sql.NullInt64{Int64: user, Valid: true}
		c.title = sql.NullString{String: s, Valid: valid}
		// DATETIME holds years 1000 to 9999: the driver never returns other times.
		const lo, hi = -30610224000, 253402300799
		c.timestamp = sql.NullTime{Time: time.Unix(lo+int64(uint64(unix)%(hi-lo)), 0), Valid: timeValid}
		c.latitude = sql.NullFloat64{Float64: lat, Valid: true}
		p, err := c.post()
		if err != nil {
			return
		}
		if int64(p.Pin.Index) != pin || p.Geo.Ind != p.Pin.Index || p.User.Ind != p.Pin.Index {
			t.Fatalf("indices %d/%d/%d from %d/%d/%d", p.Pin.Index, p.Geo.Ind, p.User.Ind, pin, geo, user)
		}
		if timeValid {
			if _, err := record.ParseTime(p.Geo.Timestamp); err != nil {
				t.Fatalf("timestamp %q does not read back: %v", p.Geo.Timestamp, err)
			}
		}
	})
}
