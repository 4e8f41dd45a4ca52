package local

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const kjson = "application/vnd.kafka.json.v2+json"

// TestAPIContract walks every route and error case of the HTTP contract in order; later cases
// see the state earlier ones left (offsets grow, streams get created and deleted).
func TestAPIContract(t *testing.T) {
	srv, _, _, _ := startAPI(t)
	u := srv.URL
	pin := `{"index":7,"unique_id":"u","title":"t"}`
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		want                            string // regexp the body must match
		wantType                        string
	}{
		{"list topics", "GET", "/topics", "", "", 200, `^\["t1.geo","t1.pin","t1.user"\]$`, "application/vnd.kafka.v2+json"},
		{"produce one", "POST", "/topics/t1.pin", kjson, `{"records":[{"value":` + pin + `}]}`, 200,
			`^\{"offsets":\[\{"partition":0,"offset":0,"error_code":null,"error":null\}\],"key_schema_id":null,"value_schema_id":null\}$`, "application/vnd.kafka.v2+json"},
		{"produce two with key and partition", "POST", "/topics/t1.pin", kjson + "; charset=utf-8",
			`{"records":[{"key":"k","value":{"a":1}},{"value":{"b":2},"partition":0}]}`, 200,
			`"offsets":\[\{"partition":0,"offset":1,.*\},\{"partition":0,"offset":2,`, ""},
		{"wrong content type", "POST", "/topics/t1.pin", "application/json", `{"records":[{"value":{}}]}`, 415, `^\{"error_code":415,"message":"HTTP 415 Unsupported Media Type`, "application/vnd.kafka.v2+json"},
		{"no content type", "POST", "/topics/t1.pin", "", `{"records":[{"value":{}}]}`, 415, `"error_code":415`, ""},
		{"malformed JSON", "POST", "/topics/t1.pin", kjson, `{"records":[{"value":`, 400, `^\{"error_code":400,"message":"malformed JSON`, ""},
		{"trailing data", "POST", "/topics/t1.pin", kjson, `{"records":[{"value":1}]} x`, 400, `"error_code":400`, ""},
		{"records not an array", "POST", "/topics/t1.pin", kjson, `{"records":{}}`, 400, `"error_code":400`, ""},
		{"empty records", "POST", "/topics/t1.pin", kjson, `{"records":[]}`, 422, `^\{"error_code":422,`, ""},
		{"no records", "POST", "/topics/t1.pin", kjson, `{}`, 422, `"error_code":422`, ""},
		{"unknown topic", "POST", "/topics/nope", kjson, `{"records":[{"value":{}}]}`, 404, `^\{"error_code":40401,"message":"Topic nope not found.`, ""},
		{"unknown partition", "POST", "/topics/t1.geo", kjson, `{"records":[{"value":{}},{"value":{},"partition":3}]}`, 404, `"error_code":40402,.*records\[1\]`, ""},
		{"nothing stored by the rejected request", "POST", "/topics/t1.geo", kjson, `{"records":[{"value":{}}]}`, 200, `"offset":0,`, ""},
		{"topics wrong method", "DELETE", "/topics", "", "", 405, `"error_code":405`, ""},
		{"produce wrong method", "GET", "/topics/t1.pin", "", "", 405, `"error_code":405`, ""},
		{"unknown route", "GET", "/nope", "", "", 404, `"error_code":404`, ""},

		{"list streams", "GET", "/streams", "", "", 200, `^\{"HasMoreStreams":false,"StreamNames":\["streaming-t1-geo","streaming-t1-pin","streaming-t1-user"\]\}$`, "application/json"},
		{"describe", "GET", "/streams/streaming-t1-pin", "", "", 200,
			`"StreamName":"streaming-t1-pin".*"StreamStatus":"ACTIVE".*"Shards":\[\{"ShardId":"shardId-000000000000","HashKeyRange":\{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"\}`, ""},
		{"describe unknown", "GET", "/streams/nope", "", "", 400, `^\{"__type":"ResourceNotFoundException","message":"Stream nope under account 000000000000 not found."\}$`, "application/json"},
		{"describe bad name", "GET", "/streams/a%20b", "", "", 400, `"__type":"ValidationException"`, ""},
		{"create default shards", "POST", "/streams/s5", "application/json", ``, 200, `^\{\}$`, ""},
		{"five shards", "GET", "/streams/s5", "", "", 200, `shardId-000000000004`, ""},
		{"create 2 shards", "POST", "/streams/s2", "application/json", `{"ShardCount":2}`, 200, `^\{\}$`, ""},
		{"create exists", "POST", "/streams/s2", "application/json", `{"ShardCount":2}`, 400, `"__type":"ResourceInUseException"`, ""},
		{"create bad count", "POST", "/streams/s0", "application/json", `{"ShardCount":0}`, 400, `"__type":"ValidationException"`, ""},
		{"create malformed", "POST", "/streams/s0", "application/json", `{"ShardCount":`, 400, `"__type":"SerializationException"`, ""},
		{"delete", "DELETE", "/streams/s2", "", "", 200, `^\{\}$`, ""},
		{"delete again", "DELETE", "/streams/s2", "", "", 400, `"__type":"ResourceNotFoundException"`, ""},
		{"streams wrong method", "PUT", "/streams/s5", "", "", 405, `"__type":"MethodNotAllowed"`, ""},
		{"put record", "PUT", "/streams/streaming-t1-pin/record", "application/json",
			`{"StreamName":"streaming-t1-pin","Data":` + pin + `,"PartitionKey":"k1"}`, 200,
			`^\{"SequenceNumber":"49\d{54}","ShardId":"shardId-000000000000"\}$`, "application/json"},
		{"put record no key", "PUT", "/streams/streaming-t1-pin/record", "application/json", `{"Data":{}}`, 400, `"__type":"ValidationException".*partitionKey`, ""},
		{"put record no data", "PUT", "/streams/streaming-t1-pin/record", "application/json", `{"PartitionKey":"k"}`, 400, `"__type":"ValidationException".*data`, ""},
		{"put record malformed", "PUT", "/streams/streaming-t1-pin/record", "application/json", `[`, 400, `"__type":"SerializationException"`, ""},
		{"put record unknown stream", "PUT", "/streams/nope/record", "application/json", `{"Data":{},"PartitionKey":"k"}`, 400, `"__type":"ResourceNotFoundException"`, ""},
		{"put records", "PUT", "/streams/s5/records", "application/json",
			`{"records":[{"data":{"a":1},"partition-key":"a"},{"data":{"b":2},"partition-key":"b"},{"data":"s","partition-key":"c"}]}`, 200,
			`^\{"FailedRecordCount":0,"Records":\[\{"SequenceNumber":"49\d{54}","ShardId":"shardId-00000000000\d"\},\{.*\},\{.*\}\]\}$`, ""},
		{"put records empty", "PUT", "/streams/s5/records", "application/json", `{"records":[]}`, 400, `"__type":"ValidationException".*records`, ""},
		{"put records one bad key", "PUT", "/streams/s5/records", "application/json", `{"records":[{"data":1,"partition-key":"a"},{"data":2}]}`, 400, `"__type":"ValidationException"`, ""},
		{"put records one without data", "PUT", "/streams/s5/records", "application/json", `{"records":[{"data":1,"partition-key":"a"},{"partition-key":"b"}]}`, 400, `records.2.member.data`, ""},
		{"put records wrong method", "POST", "/streams/s5/records", "application/json", `{}`, 405, `"__type":"MethodNotAllowed"`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, ctype, body := do(t, srv.Client(), c.method, u+c.path, c.ctype, c.body)
			assert.Equal(t, c.status, status, body)
			assert.Regexp(t, regexp.MustCompile(c.want), body)
			if c.wantType != "" {
				assert.Equal(t, c.wantType, ctype)
			}
		})
	}
}

// TestAPIStoresExactBytes checks the stream store keeps a record's Data as its JSON text and
// that a partial-failure-free PutRecords lands every record once.
func TestAPIStoresExactBytes(t *testing.T) {
	srv, api, _, st := startAPI(t)
	status, _, body := do(t, srv.Client(), "PUT", srv.URL+"/streams/streaming-t1-geo/records", "application/json",
		`{"records":[{"data":{"ind": 1, "country":"Chad"},"partition-key":"x"},{"data":{"ind":2},"partition-key":"y"}]}`)
	require.Equal(t, 200, status, body)
	recs, err := st.ReadShard(t.Context(), "streaming-t1-geo", "shardId-000000000000", "", 10)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, `{"ind": 1, "country":"Chad"}`, string(recs[0].Data), "the JSON text as sent")
	assert.Equal(t, `{"ind":2}`, string(recs[1].Data))
	assert.Equal(t, recs[1].SequenceNumber, api.StreamMarks()["streaming-t1-geo"]["shardId-000000000000"])
}

// FuzzAPI throws arbitrary requests at the handler: it must never panic and every error must be
// a contract error body.
func FuzzAPI(f *testing.F) {
	srv, api, _, _ := startAPI(f)
	srv.Close()
	for _, s := range []struct{ m, p, ct, b string }{
		{"POST", "/topics/t1.pin", kjson, `{"records":[{"value":{"a":1}}]}`},
		{"POST", "/topics/t1.pin", kjson, `{"records":[{"value":1,"partition":-1}]}`},
		{"PUT", "/streams/streaming-t1-pin/record", "application/json", `{"Data":{},"PartitionKey":"k"}`},
		{"PUT", "/streams/streaming-t1-pin/records", "application/json", `{"records":[{"data":1,"partition-key":"k"}]}`},
		{"POST", "/streams/x", "application/json", `{"ShardCount":1}`},
		{"GET", "/streams//", "", ""},
		{"DELETE", "/streams/streaming-t1-geo", "", ""},
	} {
		f.Add(s.m, s.p, s.ct, []byte(s.b))
	}
	f.Fuzz(func(t *testing.T, method, path, ctype string, body []byte) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#%\x00\r\n\t") {
			return
		}
		req, err := http.NewRequest(method, "http://x/"+strings.TrimLeft(path, "/"), strings.NewReader(string(body)))
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		var v map[string]any
		if w.Code >= 400 {
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v), "error body %q", w.Body.String())
			_, kafka := v["error_code"]
			_, kinesis := v["__type"]
			require.True(t, kafka || kinesis, "error body without error_code or __type: %s", w.Body.String())
			require.NotContains(t, w.Body.String(), "internal error", "handler panicked")
		} else {
			require.True(t, json.Valid(w.Body.Bytes()), "body %q", w.Body.String())
		}
	})
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead:
		return true
	}
	return false
}
