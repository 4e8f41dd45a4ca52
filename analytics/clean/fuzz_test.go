package clean

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/pinpipe/pinpipe/record"
)

var fuzzSeeds = []string{
	`{"index": 7528, "unique_id": "fbe53c66", "title": "No Title Data Available", "follower_count": "136k", "downloaded": 0, "save_location": "Local save in /data/art"}`,
	`{"ind": 1, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "Albania"}`,
	`{"ind": 1, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24T11:23:51"}`,
	`{"a":[1,{"b":null}],"c":"\u00e9\n","d":-0.5e+3,"e":true}`,
	`{}`, ` { } `, `{"x":"\ud800"}`, "{\"x\":\"\xff\"}", `{"x":01}`, `{"x":1.}`, `[]`, `{"x":"a\`, "{\"a\":\"\u00e9\x01\"}", "{\"a\":\"\xc3\xa9\x01\"}",
}

// FuzzScanObject checks the scanner against encoding/json: both accept the same flat objects and
// decode the same strings, and the scanner never accepts what encoding/json rejects.
func FuzzScanObject(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := map[string]any{}
		err := scanObject(data, func(key []byte, v jsonValue) error {
			switch v.kind {
			case kindString:
				got[string(key)] = v.str
			case kindComposite:
				var x any
				if err := json.Unmarshal(v.raw, &x); err != nil {
					t.Fatalf("composite %q not valid JSON: %v", v.raw, err)
				}
				got[string(key)] = x
			case kindNull:
				got[string(key)] = nil
			default:
				var x any
				if err := json.Unmarshal(v.raw, &x); err != nil {
					t.Fatalf("scalar %q not valid JSON: %v", v.raw, err)
				}
				got[string(key)] = x
			}
			return nil
		})
		var want map[string]any
		jerr := json.Unmarshal(data, &want)
		if bytes.Count(data, []byte("{"))+bytes.Count(data, []byte("[")) > maxDepth {
			return // the scanner refuses deep nesting on purpose
		}
		if jerr == nil && want == nil {
			jerr = errors.New("null is not an object") // encoding/json accepts null for a map
		}
		if (err == nil) != (jerr == nil) {
			t.Fatalf("scanner error %v, encoding/json error %v, for %q", err, jerr, data)
		}
		if err != nil {
			return
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Fatalf("scanner read %s, encoding/json read %s", g, w)
		}
	})
}

// FuzzClean checks that no input panics and that every clean row encodes as JSON.
func FuzzClean(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range record.Kinds {
			res := CleanStream(k, []StreamRecord{{ID: "x", Data: data}})
			if res[0].Err == nil && (res[0].Row == nil || !json.Valid(res[0].JSON)) {
				t.Fatalf("%s: accepted %q but produced %q", k, data, res[0].JSON)
			}
			if res[0].Err == nil && len(res[0].Row.Values()) != len(Columns(k)) {
				t.Fatalf("%s: wrong number of values", k)
			}
		}
	})
}
