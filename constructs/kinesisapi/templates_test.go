package kinesisapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// renderCase is one template rendering by the real Velocity engine (velocityjs, through node).
type renderCase struct {
	Template string            `json:"template"`
	Body     string            `json:"body"`
	Params   map[string]any    `json:"params,omitempty"`
	Path     map[string]string `json:"-"`
}

type rendered struct {
	Output string `json:"output"`
	Status int    `json:"status"`
	Error  string `json:"error"`
}

// render renders every case in one node process.
func render(t *testing.T, cases []renderCase) []rendered {
	t.Helper()
	node := testenv.Need(t, "node")
	modules := filepath.Dir(testenv.NodeModule(t, "velocityjs"))
	for i := range cases {
		if cases[i].Path != nil {
			cases[i].Params = map[string]any{"path": cases[i].Path}
		}
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join("testdata", "render.cjs"), modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node render.cjs: %v\n%s", err, stderr.String())
	}
	var res []rendered
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("render output: %v\n%s", err, out)
	}
	for i, r := range res {
		if r.Error != "" {
			t.Fatalf("case %d: velocity: %s", i, r.Error)
		}
	}
	return res
}

// Records as the posting emulator sends them (the record contract), with the awkward characters
// real rows have: quotes, a backslash, a slash, non-ASCII text.
var (
	pinRecord = `{"index":7528,"unique_id":"fbe53c66-3442-4773-b19e-d3ec6f54dddf","title":"No Title Data Available",` +
		`"description":"He said \"bonjour\" \\ café / naïve — ☕","poster_name":"User Info Error","follower_count":"User Info Error",` +
		`"tag_list":"N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e","is_image_or_video":"multi-video(story page format)",` +
		`"image_src":"Image src error.","downloaded":0,"save_location":"Local save in /data/mens-fashion","category":"mens-fashion"}`
	geoRecord  = `{"ind":7528,"timestamp":"2020-08-28 03:52:47","latitude":-89.9787,"longitude":-173.293,"country":"Albania"}`
	userRecord = `{"ind":7528,"first_name":"Abigail","last_name":"Ali","age":20,"date_joined":"2015-10-24 11:23:51"}`
)

// kinesisRecord is the shape of one record in a PutRecord/PutRecords request.
type kinesisRecord struct {
	Data         string `json:"Data"`
	PartitionKey string `json:"PartitionKey"`
}

// decodeData checks that Data is base64 of JSON equal to want.
func decodeData(t *testing.T, data, want string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("Data is not base64: %v (%q)", err, data)
	}
	var got, exp any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("Data does not decode to JSON: %v (%s)", err, raw)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if !bytes.Equal(g, e) {
		t.Errorf("Data decodes to\n%s\nwant\n%s", g, e)
	}
}

func strictJSON(t *testing.T, name, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: rendered request is not the Kinesis request JSON: %v\n%s", name, err, out)
	}
}

func TestPutRecordTemplate(t *testing.T) {
	const stream = "streaming-0ec858bf1407-pin"
	records := []string{pinRecord, geoRecord, userRecord}
	keys := []string{"partition-1", `key "quoted" \ /`, "ключ"}
	var cases []renderCase
	for i, rec := range records {
		body := `{"StreamName":"` + stream + `","Data":` + rec + `,"PartitionKey":` + mustJSON(keys[i]) + `}`
		cases = append(cases, renderCase{Template: Template("put-record"), Body: body, Path: map[string]string{"stream-name": stream}})
	}
	for i, r := range render(t, cases) {
		var req struct {
			StreamName   string
			Data         string
			PartitionKey string
		}
		strictJSON(t, "PutRecord", r.Output, &req)
		if req.StreamName != stream || req.PartitionKey != keys[i] {
			t.Errorf("case %d: StreamName %q PartitionKey %q", i, req.StreamName, req.PartitionKey)
		}
		decodeData(t, req.Data, records[i])
	}
}

func TestPutRecordsTemplate(t *testing.T) {
	const stream = "streaming-0ec858bf1407-geo"
	records := []string{pinRecord, geoRecord, userRecord}
	keys := []string{"partition-1", "partition-2", `odd "key"`}
	var parts []string
	for i, rec := range records {
		parts = append(parts, `{"data":`+rec+`,"partition-key":`+mustJSON(keys[i])+`}`)
	}
	body := `{"records":[` + strings.Join(parts, ",") + `]}`
	one := `{"records":[{"data":` + geoRecord + `,"partition-key":"p"}]}`
	res := render(t, []renderCase{
		{Template: Template("put-records"), Body: body, Path: map[string]string{"stream-name": stream}},
		{Template: Template("put-records"), Body: one, Path: map[string]string{"stream-name": stream}},
	})
	for n, r := range res {
		var req struct {
			StreamName string
			Records    []kinesisRecord
		}
		strictJSON(t, "PutRecords", r.Output, &req)
		want, wantKeys := records, keys
		if n == 1 {
			want, wantKeys = []string{geoRecord}, []string{"p"}
		}
		if req.StreamName != stream || len(req.Records) != len(want) {
			t.Fatalf("StreamName %q, %d records; want %d", req.StreamName, len(req.Records), len(want))
		}
		for i, rec := range req.Records {
			if rec.PartitionKey != wantKeys[i] {
				t.Errorf("record %d: PartitionKey %q, want %q", i, rec.PartitionKey, wantKeys[i])
			}
			decodeData(t, rec.Data, want[i])
		}
	}
}

// The original template, rendered by the same engine, shows the two bugs put-records.vtl fixes:
// Data is a Java map's text, not JSON, and a partition key with a quote breaks the JSON.
func TestSeedPutRecordsTemplateIsWrong(t *testing.T) {
	const seed = `{
    "StreamName": "$input.params('stream-name')",
    "Records": [
    #foreach($elem in $input.path('$.records'))
        {
            "Data": "$util.base64Encode($elem.data)",
            "PartitionKey": "$elem.partition-key"
        }#if($foreach.hasNext),#end
        #end
    ]
}`
	r := render(t, []renderCase{{Template: seed, Body: `{"records":[{"data":` + userRecord + `,"partition-key":"p1"}]}`,
		Path: map[string]string{"stream-name": "s"}}})[0]
	var req struct{ Records []kinesisRecord }
	if err := json.Unmarshal([]byte(r.Output), &req); err != nil {
		t.Fatalf("seed output: %v\n%s", err, r.Output)
	}
	raw, _ := base64.StdEncoding.DecodeString(req.Records[0].Data)
	if json.Valid(raw) || !strings.HasPrefix(string(raw), "{ind=7528") {
		t.Errorf("seed Data decodes to %q; expected the Java map text", raw)
	}
	if req.Records[0].PartitionKey != "p1" {
		t.Errorf("seed PartitionKey %q, want p1", req.Records[0].PartitionKey)
	}
	r = render(t, []renderCase{{Template: seed, Body: `{"records":[{"data":{},"partition-key":"say \"hi\""}]}`,
		Path: map[string]string{"stream-name": "s"}}})[0]
	if json.Valid([]byte(r.Output)) {
		t.Errorf("seed output with a quoted partition key is valid JSON:\n%s", r.Output)
	}
}

func TestStreamAdminTemplates(t *testing.T) {
	const stream = "streaming-0ec858bf1407-user"
	path := map[string]string{"stream-name": stream}
	res := render(t, []renderCase{
		{Template: Template("list-streams"), Body: ""},
		{Template: Template("describe-stream"), Body: "", Path: path},
		{Template: Template("delete-stream"), Body: "", Path: path},
		{Template: Template("create-stream"), Body: `{"ShardCount":2}`, Path: path},
		{Template: Template("create-stream"), Body: `{}`, Path: path},
		{Template: Template("describe-stream"), Body: "", Path: map[string]string{"stream-name": `x","StreamName":"other`}},
	})
	var empty map[string]any
	strictJSON(t, "ListStreams", res[0].Output, &empty)
	if len(empty) != 0 {
		t.Errorf("ListStreams request %v, want {}", empty)
	}
	for i, name := range []string{"DescribeStream", "DeleteStream"} {
		var req struct{ StreamName string }
		strictJSON(t, name, res[1+i].Output, &req)
		if req.StreamName != stream {
			t.Errorf("%s: StreamName %q", name, req.StreamName)
		}
	}
	for i, shards := range []int{2, 5} {
		var req struct {
			ShardCount int
			StreamName string
		}
		strictJSON(t, "CreateStream", res[3+i].Output, &req)
		if req.ShardCount != shards || req.StreamName != stream {
			t.Errorf("CreateStream: %+v, want %d shards", req, shards)
		}
	}
	// A quote in the path parameter stays inside the one StreamName value.
	var req map[string]string
	if err := json.Unmarshal([]byte(res[5].Output), &req); err != nil {
		t.Fatalf("escaped name: %v\n%s", err, res[5].Output)
	}
	if len(req) != 1 || req["StreamName"] != `x","StreamName":"other` {
		t.Errorf("path parameter escaped its string: %v", req)
	}
}

func TestErrorResponseTemplate(t *testing.T) {
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"__type":"ResourceNotFoundException","message":"Stream streaming-x-pin under account 123456789012 not found."}`, 404},
		{`{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard shardId-000000000000"}`, 429},
		{`{"__type":"LimitExceededException","message":"too many streams"}`, 429},
		{`{"__type":"ValidationException","message":"1 validation error detected"}`, 0},
		{`{"__type":"InternalFailure"}`, 0},
	} {
		r := render(t, []renderCase{{Template: Template("error-response"), Body: tc.body}})[0]
		if r.Status != tc.status {
			t.Errorf("%s: status override %d, want %d", tc.body, r.Status, tc.status)
		}
		var got, want any
		if err := json.Unmarshal([]byte(r.Output), &got); err != nil {
			t.Fatalf("error body is not JSON: %v\n%s", err, r.Output)
		}
		json.Unmarshal([]byte(tc.body), &want)
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Errorf("error body %s, want %s", g, w)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// The stream a request acts on is the path's {stream-name}, exactly: whatever the name or the
// body holds, the rendered request is JSON with one StreamName equal to it (or invalid JSON,
// which Kinesis refuses), and no other field that names a stream. IAM then decides on the ARN
// Kinesis builds from that name, so the streaming-<userId>-* scope of the roles cannot be
// escaped through the templates.
func TestTemplatesCannotEscapeTheStreamName(t *testing.T) {
	names := []string{
		`streaming-demo-scratch`,
		`x","StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/streaming-demo-pin`,
		`streaming-demo-x\",\"StreamName\":\"streaming-other-pin`,
		"streaming-demo-\u2028line\u2029sep",
		`streaming-demo-'quote`,
		`../streaming-other-pin`,
		`streaming-demo-#set($x = 1)$x`,
	}
	bodies := map[string]string{
		"create-stream":   `{"ShardCount":"1,\"StreamARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/streaming-other-pin\""}`,
		"delete-stream":   `{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/streaming-demo-pin"}`,
		"describe-stream": `{"StreamName":"streaming-demo-pin"}`,
		"put-record":      `{"StreamName":"streaming-other-pin","StreamARN":"x","Data":{"a":1},"PartitionKey":"p"}`,
		"put-records":     `{"StreamName":"streaming-other-pin","records":[{"data":{"a":1},"partition-key":"p"}]}`,
	}
	var cases []renderCase
	var meta [][2]string
	for _, name := range names {
		for tpl, body := range bodies {
			cases = append(cases, renderCase{Template: Template(tpl), Body: body, Path: map[string]string{"stream-name": name}})
			meta = append(meta, [2]string{tpl, name})
		}
	}
	for i, r := range render(t, cases) {
		tpl, name := meta[i][0], meta[i][1]
		var req map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.Output), &req); err != nil {
			if strings.Contains(name, "'") {
				continue // \' is no JSON escape: Kinesis refuses the request as malformed
			}
			t.Errorf("%s %q: not JSON: %v\n%s", tpl, name, err, r.Output)
			continue
		}
		var got string
		if err := json.Unmarshal(req["StreamName"], &got); err != nil || got != name {
			t.Errorf("%s %q: StreamName %s", tpl, name, req["StreamName"])
		}
		if _, ok := req["StreamARN"]; ok {
			t.Errorf("%s %q: the request names a StreamARN: %s", tpl, name, r.Output)
		}
		if tpl == "create-stream" {
			if string(req["ShardCount"]) == "1" {
				t.Errorf("create-stream: ShardCount taken from a string: %s", r.Output)
			}
		}
	}
}
