package local

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/emulator"
)

func postQuery(t *testing.T, url string, q StreamQuery) (int, StreamQueryResult, string) {
	t.Helper()
	body, _ := json.Marshal(q)
	resp, err := http.Post(url+StreamQueryPath, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var raw json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
	var res StreamQueryResult
	json.Unmarshal(raw, &res)
	return resp.StatusCode, res, string(raw)
}

// TestStreamQueryWhileRunning queries the stream tables through the running pipeline: the
// answers follow what the cleaner writes, and no statement can change the tables or touch a file.
func TestStreamQueryWhileRunning(t *testing.T) {
	dir := t.TempDir()
	p := startPipeline(t, dir)
	ctx := context.Background()
	count := func() float64 {
		t.Helper()
		code, res, raw := postQuery(t, p.URL, StreamQuery{SQL: `SELECT count(*) AS n FROM "t1_pin_table"`})
		require.Equal(t, 200, code, raw)
		require.Equal(t, []string{"n"}, res.Columns)
		return res.Rows[0][0].(float64)
	}
	assert.Equal(t, 0.0, count())

	_, err := emulator.Run(ctx, emulator.Config{InvokeURL: p.URL, UserID: testUser, Mode: emulator.Stream, Count: 40, Source: emulator.NewSynthetic(1, 1000)})
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, p.WaitCaughtUp(wctx))
	rows, _, _ := p.Cleaner.Stats()
	require.Positive(t, rows)
	require.Eventually(t, func() bool { return count() > 0 }, 10*time.Second, 200*time.Millisecond,
		"a query sees rows the cleaner wrote, within the replica's refresh age")

	code, res, raw := postQuery(t, p.URL, StreamQuery{SQL: `SELECT ind, timestamp FROM "t1_geo_table" ORDER BY ind`, MaxRows: 3})
	require.Equal(t, 200, code, raw)
	assert.Len(t, res.Rows, 3)
	assert.True(t, res.Truncated)
	assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`, res.Rows[0][1])

	before := count()
	outside := filepath.Join(t.TempDir(), "out.csv")
	for _, q := range []string{
		`DELETE FROM "t1_pin_table"`,
		`DROP TABLE "t1_pin_table"`,
		`CREATE TABLE evil AS SELECT 1`,
		`INSERT INTO "t1_pin_table" (ind) VALUES (-1)`,
		`COPY "t1_pin_table" TO '` + outside + `'`,
		`ATTACH '` + filepath.Join(dir, "stream.duckdb") + `' AS live`,
		`SELECT * FROM read_csv('/etc/passwd')`,
		`SET enable_external_access = true`,
		`SET lock_configuration = false`,
		`INSTALL httpfs`,
	} {
		code, _, raw := postQuery(t, p.URL, StreamQuery{SQL: q})
		assert.Equal(t, 400, code, "%s must fail: %s", q, raw)
	}
	assert.NoFileExists(t, outside)
	assert.Equal(t, before, count())
	var live int
	require.NoError(t, p.Cleaner.DB().QueryRowContext(ctx, `SELECT count(*) FROM "t1_pin_table"`).Scan(&live))
	assert.Equal(t, before, float64(live), "the live table is untouched")

	code, _, raw = postQuery(t, p.URL, StreamQuery{SQL: `SELECT nope FROM nowhere`})
	assert.Equal(t, 400, code)
	assert.Contains(t, raw, "nowhere")

	// A query over its time limit is stopped.
	res2, err := p.Replica.Query(ctx, `SELECT count(*) FROM range(10000000000) a`, 1, 200*time.Millisecond)
	require.Error(t, err, "%v", res2)
	assert.Contains(t, err.Error(), "limit")

	// Only loopback clients.
	req := httptest.NewRequest("POST", StreamQueryPath, bytes.NewReader([]byte(`{"sql":"SELECT 1"}`)))
	req.RemoteAddr = "192.0.2.7:5000"
	w := httptest.NewRecorder()
	p.API.ServeHTTP(w, req)
	assert.Equal(t, 403, w.Code)

	// The replica's files go with the pipeline.
	replicaDir := p.Replica.dir
	require.NoError(t, p.Close())
	_, err = os.Stat(replicaDir)
	assert.True(t, os.IsNotExist(err))
}
