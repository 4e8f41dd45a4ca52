package emulator

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoffIsCappedExponentialWithJitter(t *testing.T) {
	r := &runner{cfg: Config{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}}
	for attempt, ceil := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 30: time.Second, 1000: time.Second,
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := r.backoff(attempt, 0)
			require.True(t, d > 0 && d <= ceil, "attempt %d: %v not in (0, %v]", attempt, d, ceil)
			seen[d] = true
		}
		assert.Greater(t, len(seen), 150, "attempt %d: jittered", attempt)
	}
	// Retry-After is a floor.
	for range 50 {
		assert.GreaterOrEqual(t, r.backoff(1, 3*time.Second), 3*time.Second)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"2":                             2 * time.Second,
		" 0.5 ":                         500 * time.Millisecond,
		"-1":                            0,
		"Wed, 21 Oct 2015 07:28:30 GMT": 30 * time.Second,
		"Wed, 21 Oct 2015 07:27:00 GMT": 0,
		"999999999":                     maxRetryAfter,
		"later":                         0,
	} {
		assert.Equal(t, want, parseRetryAfter(v, now), v)
	}
}

func TestPartlyFilledBatchesAreSentAfterLinger(t *testing.T) {
	rec := newRecorder(t, func(_ int, s seen, w http.ResponseWriter) {
		var b putRecordsBody
		_ = json.Unmarshal([]byte(s.Body), &b)
		entries := strings.TrimSuffix(strings.Repeat(`{"SequenceNumber":"1","ShardId":"shardId-000000000000"},`, len(b.Records)), ",")
		_, _ = w.Write([]byte(`{"FailedRecordCount":0,"Records":[` + entries + `]}`))
	})
	st, err := Run(context.Background(), Config{
		InvokeURL: rec.URL, UserID: "u1", Mode: Stream, BatchSize: 500, Rate: 20,
		Duration: 900 * time.Millisecond, Source: &seqSource{},
	})
	require.NoError(t, err)
	assert.Equal(t, st.Sent, st.Accepted)
	// ~18 posts never fill a batch of 500: without the linger there would be one request per
	// stream at the end; with it, one per stream about every 200ms.
	assert.GreaterOrEqual(t, len(rec.requests()), 6)
	assert.Less(t, len(rec.requests()), 30)
}
