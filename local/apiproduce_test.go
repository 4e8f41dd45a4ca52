package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

type produceAnswer struct {
	Offsets []struct {
		Partition *int32  `json:"partition"`
		Offset    *int64  `json:"offset"`
		ErrorCode *int    `json:"error_code"`
		Error     *string `json:"error"`
	} `json:"offsets"`
}

// TestProduceAnswersInRequestOrder: a record too large for the broker fails before the others
// are sent; the answer for each record must still be about that record, and the offsets
// reported must hold exactly the records at those indexes. The failed record gets the REST
// Proxy's answer: HTTP 200, error_code 50002 (a non-retriable producer error) on its entry.
func TestProduceAnswersInRequestOrder(t *testing.T) {
	srv, _, b, _ := startAPI(t)
	big := `{"index":-22,"blob":"` + strings.Repeat("x", 1100<<10) + `"}`
	values := []string{`{"index":-20}`, `{"index":-21}`, big}
	body := `{"records":[{"value":` + values[0] + `},{"value":` + values[1] + `},{"value":` + values[2] + `}]}`
	status, _, resp := do(t, srv.Client(), "POST", srv.URL+"/topics/t1.pin", kjson, body)
	require.Equal(t, http.StatusOK, status, resp)
	var ans produceAnswer
	require.NoError(t, json.Unmarshal([]byte(resp), &ans), resp)
	require.Len(t, ans.Offsets, 3)
	for i, o := range ans.Offsets[:2] {
		require.Nil(t, o.ErrorCode, "record %d: %s", i, resp)
		require.NotNil(t, o.Offset, "record %d: %s", i, resp)
	}
	last := ans.Offsets[2]
	require.NotNil(t, last.ErrorCode, resp)
	assert.Equal(t, 50002, *last.ErrorCode, resp)
	assert.Nil(t, last.Offset)
	assert.Contains(t, *last.Error, "MESSAGE_TOO_LARGE")

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("t1.pin"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	got := map[int64]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(got) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[r.Offset] = string(r.Value) })
	}
	require.Len(t, got, 2, "the topic holds exactly the two stored records")
	for i, o := range ans.Offsets[:2] {
		assert.Equal(t, values[i], got[*o.Offset], fmt.Sprintf("offset %d reported for record %d", *o.Offset, i))
	}
}
