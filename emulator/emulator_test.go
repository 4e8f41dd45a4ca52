package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/record"
)

// seqSource hands out posts with indices 0, 1, 2, ... so every record is identifiable.
type seqSource struct{ n atomic.Int64 }

func (s *seqSource) Random(ctx context.Context) (record.Post, error) {
	i := int(s.n.Add(1) - 1)
	return testPost(i), nil
}

func testPost(i int) record.Post {
	return record.Post{
		Pin: record.PinRow{Index: i, UniqueID: "u-" + fmt.Sprint(i), Title: "T<&>", Description: "d",
			PosterName: "p", FollowerCount: "12k", TagList: "a,b", IsImageOrVideo: "image",
			ImageSrc: "https://i.pinimg.com/x.jpg", Downloaded: 1, SaveLocation: "Local save in /data/art", Category: "art"},
		Geo:  record.GeoRow{Ind: i, Timestamp: "2020-08-28 03:52:47", Latitude: -5.34445, Longitude: 160.5, Country: "Fiji"},
		User: record.UserRow{Ind: i, FirstName: "Ann", LastName: "Lee", Age: 33, DateJoined: "2016-01-02 03:04:05"},
	}
}

// seen is one request a test server received.
type seen struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// recorder is an httptest server that records every request and answers with answer.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newRecorder(t *testing.T, answer func(n int, s seen, w http.ResponseWriter)) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := seen{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(b)}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, s)
		n := len(rec.reqs)
		rec.mu.Unlock()
		answer(n, s, w)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.reqs...)
}

func kafkaOK(w http.ResponseWriter, records int) {
	w.Header().Set("Content-Type", "application/vnd.kafka.v2+json")
	offs := make([]string, records)
	for i := range offs {
		offs[i] = fmt.Sprintf(`{"partition":0,"offset":%d,"error_code":null,"error":null}`, i)
	}
	fmt.Fprintf(w, `{"offsets":[%s],"key_schema_id":null,"value_schema_id":null}`, strings.Join(offs, ","))
}

func putRecordOK(w http.ResponseWriter) {
	io.WriteString(w, `{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"}`)
}

// fastRetry makes retries quick so tests do not wait on backoff.
func fastRetry(c Config) Config {
	c.BackoffBase, c.BackoffMax = time.Millisecond, 5*time.Millisecond
	return c
}

const pinJSON = `{"index":7,"unique_id":"u-7","title":"T<&>","description":"d","poster_name":"p","follower_count":"12k","tag_list":"a,b","is_image_or_video":"image","image_src":"https://i.pinimg.com/x.jpg","downloaded":1,"save_location":"Local save in /data/art","category":"art"}`
const geoJSON = `{"ind":7,"timestamp":"2020-08-28 03:52:47","latitude":-5.34445,"longitude":160.5,"country":"Fiji"}`
const userJSON = `{"ind":7,"first_name":"Ann","last_name":"Lee","age":33,"date_joined":"2016-01-02 03:04:05"}`

// oneSource always returns post 7.
type oneSource struct{}

func (oneSource) Random(context.Context) (record.Post, error) { return testPost(7), nil }

func TestBatchModeRequestsMatchContract(t *testing.T) {
	rec := newRecorder(t, func(_ int, _ seen, w http.ResponseWriter) { kafkaOK(w, 1) })
	st, err := Run(context.Background(), Config{
		InvokeURL: rec.URL + "/prod/", UserID: "0ec858bf1407", Mode: Batch, Count: 1,
		Concurrency: 1, Source: oneSource{}, APIKey: "k3y",
	})
	require.NoError(t, err)
	assert.Equal(t, Stats{Sent: 3, Accepted: 3, Posts: 1, Requests: 3, Elapsed: st.Elapsed}, st)
	reqs := rec.requests()
	require.Len(t, reqs, 3)
	want := map[string]string{
		"/prod/topics/0ec858bf1407.pin":  pinJSON,
		"/prod/topics/0ec858bf1407.geo":  geoJSON,
		"/prod/topics/0ec858bf1407.user": userJSON,
	}
	for _, r := range reqs {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "application/vnd.kafka.json.v2+json", r.Header.Get("Content-Type"))
		assert.Equal(t, "k3y", r.Header.Get("X-Api-Key"))
		row, ok := want[r.Path]
		require.True(t, ok, "unexpected path %s", r.Path)
		assert.JSONEq(t, `{"records":[{"value":`+row+`}]}`, r.Body)
		delete(want, r.Path)
	}
	assert.Empty(t, want, "paths never posted")
}

func TestStreamModeRequestsMatchContract(t *testing.T) {
	rec := newRecorder(t, func(_ int, _ seen, w http.ResponseWriter) { putRecordOK(w) })
	_, err := Run(context.Background(), Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Stream, Count: 1, Concurrency: 2, Source: oneSource{},
	})
	require.NoError(t, err)
	reqs := rec.requests()
	require.Len(t, reqs, 3)
	want := map[string]string{
		"/streams/streaming-u1-pin/record":  `{"StreamName":"streaming-u1-pin","Data":` + pinJSON + `,"PartitionKey":"7"}`,
		"/streams/streaming-u1-geo/record":  `{"StreamName":"streaming-u1-geo","Data":` + geoJSON + `,"PartitionKey":"7"}`,
		"/streams/streaming-u1-user/record": `{"StreamName":"streaming-u1-user","Data":` + userJSON + `,"PartitionKey":"7"}`,
	}
	for _, r := range reqs {
		assert.Equal(t, http.MethodPut, r.Method)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		assert.Empty(t, r.Header.Values("X-Api-Key"), "no key configured, none sent")
		assert.JSONEq(t, want[r.Path], r.Body, r.Path)
	}
}

// putRecordsBody is the PutRecords request body of the contract.
type putRecordsBody struct {
	Records []struct {
		Data         json.RawMessage `json:"data"`
		PartitionKey string          `json:"partition-key"`
	} `json:"records"`
}

func TestStreamBatchSendsPutRecords(t *testing.T) {
	rec := newRecorder(t, func(_ int, s seen, w http.ResponseWriter) {
		var b putRecordsBody
		_ = json.Unmarshal([]byte(s.Body), &b)
		entries := make([]string, len(b.Records))
		for i := range entries {
			entries[i] = `{"SequenceNumber":"1","ShardId":"shardId-000000000000"}`
		}
		fmt.Fprintf(w, `{"FailedRecordCount":0,"Records":[%s]}`, strings.Join(entries, ","))
	})
	st, err := Run(context.Background(), Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Stream, Count: 8, BatchSize: 4, Concurrency: 2,
		Source: &seqSource{},
	})
	require.NoError(t, err)
	assert.Equal(t, int64(24), st.Accepted)
	reqs := rec.requests()
	require.Len(t, reqs, 6, "8 posts = 2 requests of 4 per stream")
	keys := map[string][]string{}
	for _, r := range reqs {
		assert.Equal(t, http.MethodPut, r.Method)
		require.True(t, strings.HasPrefix(r.Path, "/streams/streaming-u1-") && strings.HasSuffix(r.Path, "/records"), r.Path)
		var b putRecordsBody
		require.NoError(t, json.Unmarshal([]byte(r.Body), &b), r.Body)
		require.Len(t, b.Records, 4)
		for _, e := range b.Records {
			var row map[string]any
			require.NoError(t, json.Unmarshal(e.Data, &row))
			assert.NotEmpty(t, e.PartitionKey)
			keys[r.Path] = append(keys[r.Path], e.PartitionKey)
		}
	}
	for path, k := range keys {
		sort.Strings(k)
		assert.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7"}, k, path)
	}
}

// idOf identifies a record in a request body: its path and the index of its row.
func idsOf(t *testing.T, s seen) []string {
	t.Helper()
	var ids []string
	add := func(row json.RawMessage) {
		var r struct{ Index, Ind *int }
		require.NoError(t, json.Unmarshal(row, &r))
		i := r.Ind
		if i == nil {
			i = r.Index
		}
		require.NotNil(t, i, string(row))
		ids = append(ids, fmt.Sprintf("%s#%d", s.Path, *i))
	}
	var b struct {
		Records []struct{ Value, Data json.RawMessage } `json:"records"`
		Data    json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(s.Body), &b))
	if b.Data != nil {
		add(b.Data)
	}
	for _, r := range b.Records {
		if r.Value != nil {
			add(r.Value)
		} else {
			add(r.Data)
		}
	}
	return ids
}

func TestRetriesUntilAcceptedExactlyOnce(t *testing.T) {
	for _, mode := range []Mode{Batch, Stream} {
		t.Run(string(mode), func(t *testing.T) {
			var mu sync.Mutex
			tries := map[string]int{}
			acceptedIDs := map[string]int{}
			rec := newRecorder(t, func(_ int, s seen, w http.ResponseWriter) {
				id := idsOf(t, s)[0]
				mu.Lock()
				tries[id]++
				n := tries[id]
				if n > 2 {
					acceptedIDs[id]++
				}
				mu.Unlock()
				switch n {
				case 1:
					w.WriteHeader(http.StatusInternalServerError)
					io.WriteString(w, `{"error_code":50002,"message":"Kafka error"}`)
				case 2:
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(http.StatusTooManyRequests)
					io.WriteString(w, `{"message":"Too Many Requests"}`)
				default:
					if mode == Batch {
						kafkaOK(w, 1)
					} else {
						putRecordOK(w)
					}
				}
			})
			st, err := Run(context.Background(), fastRetry(Config{
				InvokeURL: rec.URL, UserID: "u1", Mode: mode, Count: 20, Concurrency: 4, Source: &seqSource{},
			}))
			require.NoError(t, err)
			assert.Equal(t, int64(60), st.Sent)
			assert.Equal(t, int64(60), st.Accepted)
			assert.Equal(t, int64(120), st.Retried)
			assert.Zero(t, st.Failed)
			assert.Len(t, acceptedIDs, 60)
			for id, n := range acceptedIDs {
				assert.Equal(t, 1, n, id)
			}
		})
	}
}

func TestHonoursRetryAfter(t *testing.T) {
	var first atomic.Int64
	var gap atomic.Int64
	rec := newRecorder(t, func(n int, _ seen, w http.ResponseWriter) {
		if n == 1 {
			first.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		gap.Store(time.Now().UnixNano() - first.Load())
		kafkaOK(w, 1)
	})
	_, err := Run(context.Background(), fastRetry(Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Batch, Count: 1, Concurrency: 1, Source: oneSource{},
	}))
	require.NoError(t, err)
	// Requests 2 and 3 (geo, user) follow the retried pin only after its wait: the worker is busy.
	assert.GreaterOrEqual(t, time.Duration(gap.Load()), time.Second)
}

func TestPutRecordsResendsOnlyFailedRecords(t *testing.T) {
	var mu sync.Mutex
	failedOnce := map[string]bool{}
	rec := newRecorder(t, func(_ int, s seen, w http.ResponseWriter) {
		ids := idsOf(t, s)
		entries := make([]string, len(ids))
		failed := 0
		mu.Lock()
		for i, id := range ids {
			// Every record at an odd index fails the first time it is seen.
			var idx int
			fmt.Sscanf(id[strings.IndexByte(id, '#')+1:], "%d", &idx)
			if idx%2 == 1 && !failedOnce[id] {
				failedOnce[id] = true
				failed++
				entries[i] = `{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard shardId-000000000000 in stream streaming-u1-pin under account 123456789012."}`
				continue
			}
			entries[i] = `{"SequenceNumber":"4959033827149025660855969253836157109592157598913658` + fmt.Sprint(i) + `","ShardId":"shardId-000000000000"}`
		}
		mu.Unlock()
		fmt.Fprintf(w, `{"EncryptionType":"KMS","FailedRecordCount":%d,"Records":[%s]}`, failed, strings.Join(entries, ","))
	})
	st, err := Run(context.Background(), fastRetry(Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Stream, Count: 6, BatchSize: 6, Concurrency: 1, Source: &seqSource{},
	}))
	require.NoError(t, err)
	assert.Equal(t, Stats{Sent: 18, Accepted: 18, Retried: 9, Posts: 6, Requests: 6, Elapsed: st.Elapsed}, st)
	perPath := map[string][][]string{}
	for _, r := range rec.requests() {
		perPath[r.Path] = append(perPath[r.Path], idsOf(t, r))
	}
	require.Len(t, perPath, 3)
	for path, bodies := range perPath {
		require.Len(t, bodies, 2, path)
		assert.Len(t, bodies[0], 6)
		assert.Equal(t, []string{path + "#1", path + "#3", path + "#5"}, bodies[1], "only the failed ones are resent")
	}
}

func TestKafkaPerRecordErrors(t *testing.T) {
	var pinTried atomic.Bool
	rec := newRecorder(t, func(n int, s seen, w http.ResponseWriter) {
		switch {
		case strings.HasSuffix(s.Path, ".pin") && !pinTried.Swap(true):
			// retriable (2) the first time
			io.WriteString(w, `{"offsets":[{"partition":null,"offset":null,"error_code":2,"error":"NOT_LEADER"}]}`)
		case strings.HasSuffix(s.Path, ".geo"):
			io.WriteString(w, `{"offsets":[{"partition":null,"offset":null,"error_code":1,"error":"RecordTooLarge"}]}`)
		default:
			kafkaOK(w, 1)
		}
	})
	st, err := Run(context.Background(), fastRetry(Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Batch, Count: 1, Concurrency: 1, Source: oneSource{},
	}))
	require.ErrorIs(t, err, ErrGaveUp)
	assert.ErrorContains(t, err, "geo record 7: REST proxy error_code 1: RecordTooLarge")
	assert.Equal(t, Stats{Sent: 3, Accepted: 2, Retried: 1, Failed: 1, Posts: 1, Requests: 4, Elapsed: st.Elapsed}, st)
}

func TestRefusedRequestIsNotRetried(t *testing.T) {
	rec := newRecorder(t, func(_ int, _ seen, w http.ResponseWriter) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"Forbidden"}`)
	})
	st, err := Run(context.Background(), fastRetry(Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Stream, Count: 2, Concurrency: 2, Source: &seqSource{},
	}))
	require.ErrorIs(t, err, ErrGaveUp)
	assert.ErrorContains(t, err, "HTTP 403: Forbidden")
	assert.Equal(t, int64(6), st.Failed)
	assert.Equal(t, int64(6), st.Requests, "a 403 is final: one request per record")
}

func TestServerThatNeverAnswers(t *testing.T) {
	block := make(chan struct{})
	rec := newRecorder(t, func(_ int, _ seen, w http.ResponseWriter) { <-block })
	defer close(block) // before rec.Close (cleanup), which waits for handlers
	start := time.Now()
	st, err := Run(context.Background(), fastRetry(Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Batch, Count: 1, Concurrency: 3, Source: oneSource{},
		RequestTimeout: 50 * time.Millisecond, MaxAttempts: 3,
	}))
	require.ErrorIs(t, err, ErrGaveUp)
	assert.ErrorContains(t, err, "after 3 attempts")
	assert.ErrorContains(t, err, "no answer within 50ms")
	assert.Equal(t, int64(3), st.Failed)
	assert.Zero(t, st.Accepted)
	assert.Equal(t, int64(9), st.Requests)
	assert.Less(t, time.Since(start), 5*time.Second, "bounded retries")
}

func TestCancelDrainsRequestsInFlight(t *testing.T) {
	var done atomic.Int64
	rec := newRecorder(t, func(_ int, _ seen, w http.ResponseWriter) {
		time.Sleep(30 * time.Millisecond)
		done.Add(1) // before the answer: the client may count it as soon as it is written
		putRecordOK(w)
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	st, err := Run(ctx, Config{InvokeURL: rec.URL, UserID: "u1", Mode: Stream, Concurrency: 4, Source: &seqSource{}})
	require.NoError(t, err, "Ctrl-C is not an error")
	assert.Positive(t, st.Sent)
	assert.Equal(t, st.Sent, st.Accepted, "every record sent was waited for")
	assert.Zero(t, st.Failed)
	assert.Equal(t, st.Accepted, done.Load())
	assert.Less(t, st.Sent, int64(100))
}

func TestCancelGivesUpPendingRetriesAfterDrainTimeout(t *testing.T) {
	rec := newRecorder(t, func(_ int, _ seen, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	st, err := Run(ctx, Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Batch, Concurrency: 2, Source: &seqSource{}, Rate: 100,
		BackoffBase: time.Second, BackoffMax: time.Second, DrainTimeout: 100 * time.Millisecond,
	})
	require.ErrorIs(t, err, ErrGaveUp)
	assert.ErrorContains(t, err, "HTTP 503")
	assert.Equal(t, st.Sent, st.Failed)
	assert.Less(t, time.Since(start), time.Second)
}

func TestRateAndDuration(t *testing.T) {
	rec := newRecorder(t, func(_ int, _ seen, w http.ResponseWriter) { kafkaOK(w, 1) })
	st, err := Run(context.Background(), Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Batch, Rate: 50, Duration: 300 * time.Millisecond,
		Source: &seqSource{},
	})
	require.NoError(t, err)
	// 50 posts/s for 0.3 s: at most 16 posts (never the thousands an unpaced loop would send);
	// a loaded machine may send fewer.
	assert.LessOrEqual(t, st.Posts, int64(16))
	assert.GreaterOrEqual(t, st.Posts, int64(3))
	assert.Equal(t, 3*st.Posts, st.Accepted)
}

type failingSource struct{ calls atomic.Int64 }

func (f *failingSource) Random(context.Context) (record.Post, error) {
	f.calls.Add(1)
	return record.Post{}, errors.New("connection refused")
}

func TestSourceFailureStopsTheRun(t *testing.T) {
	rec := newRecorder(t, func(_ int, _ seen, w http.ResponseWriter) { kafkaOK(w, 1) })
	src := &failingSource{}
	_, err := Run(context.Background(), fastRetry(Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Batch, Count: 5, Source: src, MaxAttempts: 3,
	}))
	require.ErrorContains(t, err, "source: connection refused")
	assert.Equal(t, int64(3), src.calls.Load())
}

func TestConfigErrorsNameTheField(t *testing.T) {
	ok := Config{InvokeURL: "http://127.0.0.1:1", UserID: "u1", Mode: Batch, Source: oneSource{}}
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"url":         {func(c *Config) { c.InvokeURL = "ftp://x" }, "invoke URL"},
		"user":        {func(c *Config) { c.UserID = "A B" }, "user id"},
		"mode":        {func(c *Config) { c.Mode = "kafka" }, `mode "kafka"`},
		"rate":        {func(c *Config) { c.Rate = -1 }, "rate"},
		"batch kafka": {func(c *Config) { c.BatchSize = 5 }, "only stream mode"},
		"batch max":   {func(c *Config) { c.Mode, c.BatchSize = Stream, 501 }, "batch 501"},
		"source":      {func(c *Config) { c.Source = nil }, "no source"},
	} {
		c := ok
		tc.edit(&c)
		_, err := Run(context.Background(), c)
		assert.ErrorContains(t, err, tc.want, name)
	}
}
