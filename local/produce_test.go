package local

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFastProduce(t *testing.T) {
	for _, c := range []struct {
		body string
		fast bool // the fast path handles it itself
	}{
		{`{"records":[{"value":{"a":1}}]}`, true},
		{` { "records" : [ { "value" : [1, 2.5e3, -0, "x\"\u00e9"], "key": "k", "partition": 0 } , null ] , "x": {"y":[]} } `, true},
		{`{"records":null}`, true},
		{`{}`, true},
		{`{"records":[{"value":1,"value":2}]}`, true},
		{`{"rec\u006frds":[{"value":1}]}`, false},
		{`{"records":[{"value":1,"partition":1.0}]}`, false},
		{`{"records":[{"value":1,"partition":99999999999}]}`, false},
		{`{"records":[{"value":01}]}`, false},
		{`{"records":[{"value":"a` + "\x01" + `"}]}`, false},
		{`{"records":[{"value":1}]} x`, false},
		{`{"records":{}}`, false},
		{`{"records":[1]}`, false},
		{`{"records":[{"value":tru}]}`, false},
		{`{"records":[{"value":"\x"}]}`, false},
		{`[`, false},
		{`{"records":[{"value":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}]}`, true},
		{`{"records":[{"value":` + strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64) + `}]}`, true},
		{`{"records":[{"value":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}]}`, false}, // deeper: encoding/json
		{`{"records":[{"value":{"a\"b":[1,{}],"c":[]}}]}`, true},
		{`{"records":[{"value":{"a":1,}}]}`, false},
		{`{"records":[{"value":[1,]}]}`, false},
		{`{"records":[{"value":{"a":1]}]}`, false},
	} {
		fast, ok := fastProduce([]byte(c.body))
		assert.Equal(t, c.fast, ok, c.body)
		var std produceRequest
		err := json.Unmarshal([]byte(c.body), &std)
		if ok {
			require.NoError(t, err, c.body)
			assert.Equal(t, std, fast, c.body)
		}
	}
}

// TestFastProduceStrings puts each byte that ends or interrupts a string ('"', '\\', a control
// byte, a byte >= 0x80) at every position of strings around the 8-byte steps of scanner.str:
// the fast path must agree with encoding/json on every one.
func TestFastProduceStrings(t *testing.T) {
	for n := range 20 {
		for pos := range n {
			for _, ins := range []string{`\"`, `\\`, `\u00e9`, `\n`, "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xf0\x9f\x98\x80", `"`, `\`, `\u12`,
				"\xff", "\xc3", "\xed\xa0\x80", "\xe2\x82"} {
				str := strings.Repeat("a", pos) + ins + strings.Repeat("b", n-pos)
				body := []byte(`{"records":[{"value":"` + str + `","key":{"` + str + `":1}}]}`)
				var std produceRequest
				stdErr := json.Unmarshal(body, &std)
				fast, ok := fastProduce(body)
				if ok {
					require.NoError(t, stdErr, "%q", body)
					require.Equal(t, std, fast, "%q", body)
				}
				_, err := decodeProduce(body)
				require.Equal(t, stdErr == nil && utf8.Valid(body), err == nil, "%q", body)
				if stdErr == nil && utf8.Valid(body) && !strings.ContainsAny(ins, "\x01\x1f") {
					assert.True(t, ok, "the fast path handles %q", body)
				}
			}
		}
	}
}

// FuzzDecodeProduce: whenever the fast path accepts a body, encoding/json accepts it too and
// decodes the same records, and the body is UTF-8; decodeProduce accepts exactly the bodies
// encoding/json accepts that are UTF-8.
func FuzzDecodeProduce(f *testing.F) {
	for _, s := range []string{`{"records":[{"value":{"a":1},"key":"k","partition":2}]}`, `{"records":[null,{"value":[1,{"b":null}]}]}`,
		`{"records":[{"value":"\ud83d\ude00 \\ \/"}], "other": -1.5e-3}`, `{"records":[{"value":1,"partition":-1}]}`,
		"{\"records\":[{\"value\":\"ok\"},{\"value\":\"\xff\"}]}", "{\"records\":[{\"value\":{\"\xc3\":1}}]}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var std produceRequest
		stdErr := json.Unmarshal(body, &std)
		fast, ok := fastProduce(body)
		if ok {
			require.NoError(t, stdErr, "fast path accepted what encoding/json rejects: %q", body)
			require.Equal(t, std, fast, "%q", body)
			require.True(t, utf8.Valid(body), "fast path accepted invalid UTF-8: %q", body)
		}
		_, err := decodeProduce(body)
		require.Equal(t, stdErr == nil && utf8.Valid(body), err == nil, "%q", body)
	})
}

// TestProduceRefusesInvalidUTF8: a produce body whose strings are not UTF-8 is refused with 400
// naming the record, by the fast path and the slow one alike, and nothing is stored.
func TestProduceRefusesInvalidUTF8(t *testing.T) {
	srv, _, _, _ := startAPI(t)
	for _, c := range []struct{ name, body, want string }{
		{"in a value", "{\"records\":[{\"value\":{\"a\":\"ok\"}},{\"value\":{\"a\":\"bad \xff byte\"}}]}", `records\[1\]\.value`},
		{"a truncated sequence in a key", "{\"records\":[{\"key\":\"\xc3\",\"value\":1}]}", `records\[0\]\.key`},
		{"a surrogate in a member name", "{\"records\":[{\"value\":{\"\xed\xa0\x80\":1}}]}", `records\[0\]\.value`},
		{"slow path (escaped field name)", "{\"rec\\u006frds\":[{\"value\":1},{\"value\":\"\xfe\"}]}", `records\[1\]\.value`},
		{"outside the records", "{\"x\":\"\xff\",\"records\":[{\"value\":1}]}", `invalid UTF-8 at byte 6 of the body`},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := do(t, srv.Client(), "POST", srv.URL+"/topics/t1.user", kjson, c.body)
			require.Equal(t, 400, status, body)
			assert.Regexp(t, `^\{"error_code":400,"message":"malformed JSON: .*`+c.want, body)
		})
	}
	status, _, body := do(t, srv.Client(), "POST", srv.URL+"/topics/t1.user", kjson, `{"records":[{"value":"é"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, `"offset":0,`, "no refused record was stored")
}
