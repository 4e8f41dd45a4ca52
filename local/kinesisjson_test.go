package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/internal/sdkhttp"
	"github.com/pinpipe/pinpipe/record"
)

// kinesisClient is aws-sdk-go-v2's Kinesis client pointed at url, signing with secret.
func kinesisClient(url, secret string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCAL", secret, ""),
		// sdkhttp: without retries, the SDK's early close of a request body must not lose the
		// answer (see its package doc).
		HTTPClient: sdkhttp.Client{HTTP: &http.Client{}},
		// The tests check single answers; a retried call would hide a 5xx.
		RetryMaxAttempts: 1,
	})
}

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestKinesisJSONWithSDK drives every action with aws-sdk-go-v2's Kinesis client, the client we
// test with: a record put through the API Gateway-style route is read through GetRecords, and
// every iterator type starts where Kinesis says it does.
func TestKinesisJSONWithSDK(t *testing.T) {
	srv, api, _, store := startAPI(t)
	ctx := context.Background()
	kc := kinesisClient(srv.URL, "any")

	ls, err := kc.ListStreams(ctx, &kinesis.ListStreamsInput{})
	require.NoError(t, err)
	assert.Equal(t, []string{"streaming-t1-geo", "streaming-t1-pin", "streaming-t1-user"}, ls.StreamNames)
	assert.False(t, aws.ToBool(ls.HasMoreStreams))
	require.Len(t, ls.StreamSummaries, 3)
	assert.Equal(t, ktypes.StreamStatusActive, ls.StreamSummaries[0].StreamStatus)

	page, err := kc.ListStreams(ctx, &kinesis.ListStreamsInput{Limit: aws.Int32(2)})
	require.NoError(t, err)
	assert.Equal(t, []string{"streaming-t1-geo", "streaming-t1-pin"}, page.StreamNames)
	assert.True(t, aws.ToBool(page.HasMoreStreams))
	page, err = kc.ListStreams(ctx, &kinesis.ListStreamsInput{NextToken: page.NextToken})
	require.NoError(t, err)
	assert.Equal(t, []string{"streaming-t1-user"}, page.StreamNames)

	_, err = kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("sdk"), ShardCount: aws.Int32(3)})
	require.NoError(t, err)
	_, err = kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("sdk"), ShardCount: aws.Int32(3)})
	var inUse *ktypes.ResourceInUseException
	require.ErrorAs(t, err, &inUse)

	ds, err := kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("sdk")})
	require.NoError(t, err)
	assert.Equal(t, "sdk", aws.ToString(ds.StreamDescription.StreamName))
	assert.Len(t, ds.StreamDescription.Shards, 3)
	assert.WithinDuration(t, time.Now(), aws.ToTime(ds.StreamDescription.StreamCreationTimestamp), time.Minute)
	arn := ds.StreamDescription.StreamARN

	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn})
	require.NoError(t, err)
	assert.Equal(t, int32(3), aws.ToInt32(sum.StreamDescriptionSummary.OpenShardCount))
	assert.Equal(t, ktypes.StreamModeProvisioned, sum.StreamDescriptionSummary.StreamModeDetails.StreamMode)

	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("sdk"), MaxResults: aws.Int32(2)})
	require.NoError(t, err)
	require.Len(t, shards.Shards, 2)
	require.NotNil(t, shards.NextToken)
	rest, err := kc.ListShards(ctx, &kinesis.ListShardsInput{NextToken: shards.NextToken})
	require.NoError(t, err)
	require.Len(t, rest.Shards, 1)
	assert.Equal(t, "shardId-000000000002", aws.ToString(rest.Shards[0].ShardId))

	_, err = kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("nope")})
	var nf *ktypes.ResourceNotFoundException
	require.ErrorAs(t, err, &nf)
	assert.Contains(t, err.Error(), "Stream nope under account 000000000000 not found")

	// Put through the API Gateway-style route, read through GetRecords.
	code, _, body := do(t, srv.Client(), "PUT", srv.URL+"/streams/streaming-t1-pin/record", "application/json",
		`{"StreamName":"streaming-t1-pin","Data":{"index":1,"title":"from REST"},"PartitionKey":"p1"}`)
	require.Equal(t, 200, code, body)
	// And through PutRecord and PutRecords.
	pr, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("streaming-t1-pin"), Data: []byte(`{"index":2}`), PartitionKey: aws.String("p2")})
	require.NoError(t, err)
	assert.Equal(t, "shardId-000000000000", aws.ToString(pr.ShardId))
	prs, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("streaming-t1-pin"), Records: []ktypes.PutRecordsRequestEntry{
		{Data: []byte("three"), PartitionKey: aws.String("p3")}, {Data: []byte{0, 1, 0xff}, PartitionKey: aws.String("p4")}}})
	require.NoError(t, err)
	assert.Equal(t, int32(0), aws.ToInt32(prs.FailedRecordCount))
	require.Len(t, prs.Records, 2)

	iter := func(typ ktypes.ShardIteratorType, seq *string, ts *time.Time) *string {
		t.Helper()
		out, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("streaming-t1-pin"),
			ShardId: aws.String("shardId-000000000000"), ShardIteratorType: typ, StartingSequenceNumber: seq, Timestamp: ts})
		require.NoError(t, err, typ)
		return out.ShardIterator
	}
	read := func(it *string, limit int32) *kinesis.GetRecordsOutput {
		t.Helper()
		in := &kinesis.GetRecordsInput{ShardIterator: it}
		if limit > 0 {
			in.Limit = aws.Int32(limit)
		}
		out, err := kc.GetRecords(ctx, in)
		require.NoError(t, err)
		return out
	}
	datas := func(out *kinesis.GetRecordsOutput) []string {
		var ds []string
		for _, r := range out.Records {
			ds = append(ds, string(r.Data))
		}
		return ds
	}
	all := read(iter(ktypes.ShardIteratorTypeTrimHorizon, nil, nil), 0)
	assert.Equal(t, []string{`{"index":1,"title":"from REST"}`, `{"index":2}`, "three", "\x00\x01\xff"}, datas(all))
	assert.Equal(t, "p1", aws.ToString(all.Records[0].PartitionKey))
	assert.WithinDuration(t, time.Now(), aws.ToTime(all.Records[0].ApproximateArrivalTimestamp), time.Minute)
	assert.Equal(t, int64(0), aws.ToInt64(all.MillisBehindLatest))
	require.NotNil(t, all.NextShardIterator)
	assert.Empty(t, read(all.NextShardIterator, 0).Records, "the next iterator starts after the last record")

	first := read(iter(ktypes.ShardIteratorTypeTrimHorizon, nil, nil), 1)
	assert.Equal(t, []string{`{"index":1,"title":"from REST"}`}, datas(first))
	assert.Equal(t, []string{`{"index":2}`}, datas(read(first.NextShardIterator, 1)))

	assert.Equal(t, []string{`{"index":2}`, "three", "\x00\x01\xff"}, datas(read(iter(ktypes.ShardIteratorTypeAtSequenceNumber, pr.SequenceNumber, nil), 0)))
	assert.Equal(t, []string{"three", "\x00\x01\xff"}, datas(read(iter(ktypes.ShardIteratorTypeAfterSequenceNumber, pr.SequenceNumber, nil), 0)))
	latest := iter(ktypes.ShardIteratorTypeLatest, nil, nil)
	assert.Empty(t, read(latest, 0).Records)
	past := time.Now().Add(-time.Hour)
	assert.Len(t, read(iter(ktypes.ShardIteratorTypeAtTimestamp, nil, &past), 0).Records, 4)

	// LATEST sees what comes after it; so does AT_TIMESTAMP of a time after the puts so far.
	time.Sleep(5 * time.Millisecond)
	now := time.Now()
	time.Sleep(5 * time.Millisecond)
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("streaming-t1-pin"), Data: []byte("five"), PartitionKey: aws.String("p5")})
	require.NoError(t, err)
	assert.Equal(t, []string{"five"}, datas(read(latest, 0)))
	assert.Equal(t, []string{"five"}, datas(read(iter(ktypes.ShardIteratorTypeAtTimestamp, nil, &now), 0)))

	// What the SDK put is in the store the stream cleaner reads, and marked for WaitCaughtUp.
	recs, err := store.ReadShard(ctx, "streaming-t1-pin", "shardId-000000000000", "", 100)
	require.NoError(t, err)
	require.Len(t, recs, 5)
	assert.Equal(t, recs[4].SequenceNumber, api.StreamMarks()["streaming-t1-pin"]["shardId-000000000000"])

	// Errors in Kinesis' types.
	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("streaming-t1-pin"),
		ShardId: aws.String("shardId-000000000009"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	require.ErrorAs(t, err, &nf)
	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("streaming-t1-pin"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeAtSequenceNumber})
	var bad *ktypes.InvalidArgumentException
	require.ErrorAs(t, err, &bad)
	future := time.Now().Add(time.Hour)
	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("streaming-t1-pin"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeAtTimestamp, Timestamp: &future})
	require.ErrorAs(t, err, &bad)
	_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAnotaniterator")})
	require.ErrorAs(t, err, &bad)
	assert.Contains(t, err.Error(), "Invalid ShardIterator.")
	old := shardIterator{stream: "streaming-t1-pin", shard: "shardId-000000000000", issued: time.Now().Add(-6 * time.Minute)}.encode()
	_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(old)})
	var expired *ktypes.ExpiredIteratorException
	require.ErrorAs(t, err, &expired)
	assert.Contains(t, err.Error(), "Iterator expired.")
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("sdk"), Data: []byte("x"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("7")})
	require.ErrorAs(t, err, &bad, "an explicit hash key the store cannot honour is refused, not ignored")

	_, err = kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("sdk")})
	require.NoError(t, err)
	_, err = kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("sdk")})
	require.ErrorAs(t, err, &nf)
}

// TestKinesisJSONReadsEmulator is the consumer: `pinpipe emulate --mode stream` writes
// through the API Gateway-style routes, and a Kinesis consumer on aws-sdk-go-v2 reads every
// record back, following NextShardIterator until MillisBehindLatest is 0 and nothing is left.
func TestKinesisJSONReadsEmulator(t *testing.T) {
	srv, _, _, _ := startAPI(t)
	ctx := context.Background()
	st, err := emulator.Run(ctx, emulator.Config{InvokeURL: srv.URL, UserID: testUser, Mode: emulator.Stream,
		Count: 150, BatchSize: 20, Source: emulator.NewSynthetic(3, 100)})
	require.NoError(t, err)
	require.Equal(t, int64(450), st.Accepted)

	kc := kinesisClient(srv.URL, "any")
	total := 0
	for _, k := range record.Kinds {
		name := record.Stream(testUser, k)
		shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
		require.NoError(t, err)
		for _, sh := range shards.Shards {
			it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId,
				ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
			require.NoError(t, err)
			next := it.ShardIterator
			for {
				out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next, Limit: aws.Int32(40)})
				require.NoError(t, err)
				for _, r := range out.Records {
					var v map[string]any
					require.NoError(t, json.Unmarshal(r.Data, &v), "%s: a record is the JSON the emulator sent", name)
					key := "index"
					if k != record.Pin {
						key = "ind"
					}
					assert.Contains(t, v, key)
				}
				total += len(out.Records)
				next = out.NextShardIterator
				if len(out.Records) == 0 {
					assert.Equal(t, int64(0), aws.ToInt64(out.MillisBehindLatest))
					break
				}
			}
		}
	}
	assert.Equal(t, 450, total, "the consumer reads every record the emulator had accepted")
}

// TestKinesisJSONSigV4 checks the API key as a SigV4 secret through Guard, the one rule of
// every route: the SDK signing with it is let in; a wrong secret, a replayed-late request and
// an unsigned one are refused in Kinesis' terms.
func TestKinesisJSONSigV4(t *testing.T) {
	_, api, _, _ := startAPI(t)
	srv := httptest.NewServer(NewGuard("s3cret-key", api))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	_, err := kinesisClient(srv.URL, "s3cret-key").ListStreams(ctx, &kinesis.ListStreamsInput{})
	require.NoError(t, err)
	_, err = kinesisClient(srv.URL, "wrong").ListStreams(ctx, &kinesis.ListStreamsInput{})
	assert.Equal(t, "InvalidSignatureException", apiErrorCode(err), "%v", err)
	_, err = kinesisClient(srv.URL, "wrong").PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("streaming-t1-pin"), Data: []byte("x"), PartitionKey: aws.String("k")})
	assert.Equal(t, "InvalidSignatureException", apiErrorCode(err), "%v", err)

	// A signed request whose body was changed on the way fails: the payload is signed.
	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "s3cret-key", ""),
		HTTPClient: tamper{func(r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			b = bytes.Replace(b, []byte(`"k"`), []byte(`"K"`), 1)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}}})
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("streaming-t1-pin"), Data: []byte("x"), PartitionKey: aws.String("k")})
	assert.Equal(t, "InvalidSignatureException", apiErrorCode(err), "%v", err)

	status, typ, _ := rawKinesis(t, srv.URL, "ListStreams", `{}`, false)
	assert.Equal(t, 403, status)
	assert.Equal(t, "MissingAuthenticationTokenException", typ)

	// Directly: a request signed 20 minutes ago is refused.
	req := httptest.NewRequest("POST", "http://127.0.0.1:1/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Date", time.Now().Add(-20*time.Minute).UTC().Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=A/"+time.Now().Add(-20*time.Minute).UTC().Format("20060102")+"/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	err = VerifySigV4(req, []byte("{}"), "s3cret-key", time.Now())
	var se *StreamError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "InvalidSignatureException", se.Type)
	assert.Contains(t, se.Message, "Signature expired")
}

// tamper is an HTTP client that changes each request after it was signed.
type tamper struct{ fn func(*http.Request) }

func (c tamper) Do(r *http.Request) (*http.Response, error) {
	c.fn(r)
	return http.DefaultClient.Do(r)
}

// rawKinesis sends one Kinesis JSON 1.1 request by hand (with a placeholder signature when
// signed, as kinesalite checks only that there is one) and returns the status, the error type
// and the decoded body.
func rawKinesis(t testing.TB, url, action, body string, signed bool) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", amzJSON11)
	req.Header.Set("X-Amz-Target", kinesisTargetPrefix+action)
	if signed {
		now := time.Now().UTC()
		req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/"+now.Format("20060102")+
			"/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "%s: %s", action, raw)
	}
	typ, _ := out["__type"].(string)
	return resp.StatusCode, typ, out
}

// shapeOf replaces every value by its JSON type, keeping object keys and the first element of
// arrays, so two responses can be compared for shape whatever their sequence numbers and times.
func shapeOf(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = shapeOf(e)
		}
		return m
	case []any:
		if len(x) == 0 {
			return []any{}
		}
		return []any{shapeOf(x[0])}
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// newerFields are response fields of today's Kinesis API that kinesalite 3.3.3 predates.
var newerFields = map[string]bool{"StreamSummaries": true, "NextToken": true, "EncryptionType": true, "StreamModeDetails": true}

// assertShape checks that ours has every field kinesalite's has, with the same JSON type, and
// nothing else but newerFields.
func assertShape(t *testing.T, what string, ref, ours any) {
	t.Helper()
	switch r := ref.(type) {
	case map[string]any:
		o, ok := ours.(map[string]any)
		if !assert.True(t, ok, "%s: object, got %v", what, ours) {
			return
		}
		for k, rv := range r {
			if assert.Contains(t, o, k, "%s: field %s", what, k) {
				assertShape(t, what+"."+k, rv, o[k])
			}
		}
		for k := range o {
			if _, ok := r[k]; !ok && !newerFields[k] {
				assert.Failf(t, "extra field", "%s: field %s that kinesalite does not answer", what, k)
			}
		}
	case []any:
		o, ok := ours.([]any)
		if assert.True(t, ok, "%s: array", what) && len(r) > 0 && len(o) > 0 {
			assertShape(t, what+"[0]", r[0], o[0])
		}
	default:
		assert.Equal(t, ref, ours, what)
	}
}

// TestKinesisJSONParity sends the same Kinesis JSON 1.1 requests to the API and to kinesalite:
// statuses, error types, response shapes, shard routing and the records read back agree.
func TestKinesisJSONParity(t *testing.T) {
	ref := startKinesalite(t)
	store, err := OpenStreamStore("")
	require.NoError(t, err)
	api, err := NewAPI(startBroker(t, t.TempDir()).Addr(), store)
	require.NoError(t, err)
	t.Cleanup(api.Close)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	ours := srv.URL
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	// state per endpoint: sequence numbers and iterators seen so far.
	state := map[string]map[string]string{ref: {}, ours: {}}
	type step struct {
		action string
		body   func(st map[string]string) string
		save   func(st map[string]string, out map[string]any)
		// compare also these top-level values (beyond status, __type and shape)
		same []string
	}
	fixed := func(s string) func(map[string]string) string { return func(map[string]string) string { return s } }
	iterBody := func(typ, extra string) func(map[string]string) string {
		return fixed(`{"StreamName":"par","ShardId":"shardId-000000000001","ShardIteratorType":"` + typ + `"` + extra + `}`)
	}
	saveIter := func(key string) func(map[string]string, map[string]any) {
		return func(st map[string]string, out map[string]any) { st[key], _ = out["ShardIterator"].(string) }
	}
	getRecords := func(key string) func(map[string]string) string {
		return func(st map[string]string) string { return `{"ShardIterator":"` + st[key] + `"}` }
	}
	steps := []step{
		{action: "CreateStream", body: fixed(`{"StreamName":"par","ShardCount":2}`)},
		{action: "CreateStream", body: fixed(`{"StreamName":"par","ShardCount":2}`)},
		{action: "CreateStream", body: fixed(`{"StreamName":"bad","ShardCount":0}`)},
		{action: "CreateStream", body: fixed(`{"StreamName":"a b","ShardCount":1}`)},
		{action: "ListStreams", body: fixed(`{}`), same: []string{"StreamNames", "HasMoreStreams"}},
		{action: "DescribeStream", body: fixed(`{"StreamName":"par"}`)},
		{action: "DescribeStream", body: fixed(`{"StreamName":"nope"}`)},
		{action: "DescribeStreamSummary", body: fixed(`{"StreamName":"par"}`)},
		{action: "ListShards", body: fixed(`{"StreamName":"par"}`)},
		{action: "ListShards", body: fixed(`{}`)},
		{action: "PutRecord", body: fixed(`{"StreamName":"par","Data":"` + b64(`{"a":1}`) + `","PartitionKey":"k1"}`), same: []string{"ShardId"},
			save: func(st map[string]string, out map[string]any) { st["seq1"], _ = out["SequenceNumber"].(string) }},
		{action: "PutRecord", body: fixed(`{"StreamName":"par","Data":"` + b64(`x`) + `","PartitionKey":""}`)},
		{action: "PutRecord", body: fixed(`{"StreamName":"nope","Data":"` + b64(`x`) + `","PartitionKey":"p"}`)},
		{action: "PutRecord", body: fixed(`{"StreamName":"par","PartitionKey":"p"}`)},
		{action: "PutRecords", body: fixed(`{"StreamName":"par","Records":[{"Data":"` + b64("b") + `","PartitionKey":"k1"},{"Data":"` + b64("c") +
			`","PartitionKey":"zz"},{"Data":"` + b64("d") + `","PartitionKey":"k1"}]}`), same: []string{"FailedRecordCount"}},
		{action: "PutRecords", body: fixed(`{"StreamName":"par","Records":[]}`)},
		{action: "GetShardIterator", body: iterBody("TRIM_HORIZON", ""), save: saveIter("trim")},
		{action: "GetShardIterator", body: iterBody("LATEST", ""), save: saveIter("latest")},
		{action: "GetShardIterator", body: func(st map[string]string) string {
			return `{"StreamName":"par","ShardId":"shardId-000000000001","ShardIteratorType":"AT_SEQUENCE_NUMBER","StartingSequenceNumber":"` + st["seq1"] + `"}`
		}, save: saveIter("at")},
		{action: "GetShardIterator", body: func(st map[string]string) string {
			return `{"StreamName":"par","ShardId":"shardId-000000000001","ShardIteratorType":"AFTER_SEQUENCE_NUMBER","StartingSequenceNumber":"` + st["seq1"] + `"}`
		}, save: saveIter("after")},
		{action: "GetShardIterator", body: iterBody("AT_TIMESTAMP", fmt.Sprintf(`,"Timestamp":%d`, time.Now().Add(-time.Hour).Unix())), save: saveIter("ts")},
		{action: "GetShardIterator", body: iterBody("AT_SEQUENCE_NUMBER", "")},
		{action: "GetShardIterator", body: iterBody("TRIM_HORIZON", `,"StartingSequenceNumber":"1"`)},
		{action: "GetShardIterator", body: iterBody("SOMEWHERE", "")},
		{action: "GetShardIterator", body: fixed(`{"StreamName":"par","ShardId":"shardId-000000000007","ShardIteratorType":"LATEST"}`)},
		{action: "GetRecords", body: getRecords("trim")},
		{action: "GetRecords", body: getRecords("latest")},
		{action: "GetRecords", body: getRecords("at")},
		{action: "GetRecords", body: getRecords("after")},
		{action: "GetRecords", body: getRecords("ts")},
		{action: "GetRecords", body: fixed(`{"ShardIterator":"bm90IGFuIGl0ZXJhdG9y"}`)},
		{action: "GetRecords", body: fixed(`{"ShardIterator":"bm90IGFuIGl0ZXJhdG9y","Limit":0}`)},
		{action: "NoSuchAction", body: fixed(`{}`)},
		{action: "DeleteStream", body: fixed(`{"StreamName":"par"}`)},
	}
	records := func(out map[string]any) []string {
		var ds []string
		rs, _ := out["Records"].([]any)
		for _, r := range rs {
			m := r.(map[string]any)
			d, _ := base64.StdEncoding.DecodeString(m["Data"].(string))
			ds = append(ds, m["PartitionKey"].(string)+"="+string(d))
		}
		return ds
	}
	for _, s := range steps {
		var status [2]int
		var typ [2]string
		var out [2]map[string]any
		for i, u := range []string{ref, ours} {
			status[i], typ[i], out[i] = rawKinesis(t, u, s.action, s.body(state[u]), true)
			if s.save != nil && status[i] == 200 {
				s.save(state[u], out[i])
			}
			if s.action == "CreateStream" && status[i] == 200 {
				waitActive(t, u, "par")
			}
		}
		what := s.action + " " + s.body(state[ours])
		require.Equal(t, status[0], status[1], "%s: kinesalite %v, ours %v", what, out[0], out[1])
		assert.Equal(t, typ[0], typ[1], what)
		if status[0] != 200 {
			continue
		}
		assertShape(t, what, shapeOf(out[0]), shapeOf(out[1]))
		for _, f := range s.same {
			assert.Equal(t, out[0][f], out[1][f], "%s: %s", what, f)
		}
		if s.action == "GetRecords" {
			assert.Equal(t, records(out[0]), records(out[1]), what)
		}
		if s.action == "PutRecords" {
			for i, r := range out[0]["Records"].([]any) {
				assert.Equal(t, r.(map[string]any)["ShardId"], out[1]["Records"].([]any)[i].(map[string]any)["ShardId"], what)
			}
		}
		if s.action == "DescribeStream" || s.action == "ListShards" {
			shards := func(o map[string]any) any {
				if d, ok := o["StreamDescription"].(map[string]any); ok {
					o = d
				}
				var ids []string
				for _, sh := range o["Shards"].([]any) {
					m := sh.(map[string]any)
					ids = append(ids, fmt.Sprint(m["ShardId"], m["HashKeyRange"]))
				}
				sort.Strings(ids)
				return ids
			}
			assert.Equal(t, shards(out[0]), shards(out[1]), what)
		}
	}
}

// waitActive waits for a stream created at url to be ACTIVE (kinesalite creates asynchronously).
func waitActive(t testing.TB, url, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, _, out := rawKinesis(t, url, "DescribeStream", `{"StreamName":"`+name+`"}`, true)
		if code == 200 && out["StreamDescription"].(map[string]any)["StreamStatus"] == "ACTIVE" {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s: stream %s not ACTIVE", url, name)
		time.Sleep(20 * time.Millisecond)
	}
}
