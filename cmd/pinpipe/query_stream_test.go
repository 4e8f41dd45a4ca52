package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/local"
)

// TestQueryStream runs `pinpipe query --stream` against a running pipeline, whose stream.duckdb
// no second process could open.
func TestQueryStream(t *testing.T) {
	ctx := context.Background()
	p, err := local.Start(ctx, local.Config{DataDir: t.TempDir(), BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	defer p.Close()
	_, err = emulator.Run(ctx, emulator.Config{InvokeURL: p.URL, UserID: "demo", Mode: emulator.Stream, Count: 30, Source: emulator.NewSynthetic(1, 1000)})
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, p.WaitCaughtUp(wctx))
	api := strings.TrimPrefix(p.URL, "http://")

	var stdout, stderr string
	require.Eventually(t, func() bool {
		var code int
		code, stdout, stderr = runCLI(t, nil, "query", "--stream", "--api", api, "--format", "csv",
			`SELECT count(*) > 0 AS has_rows FROM demo_pin_table`)
		return code == 0 && stdout == "has_rows\ntrue\n"
	}, 10*time.Second, 200*time.Millisecond, "stdout %q stderr %q", stdout, stderr)

	code, stdout, stderr := runCLI(t, nil, "query", "--stream", "--api", api, "--max-rows", "1", `SELECT ind FROM demo_user_table ORDER BY ind`)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "(1 row)")
	assert.Contains(t, stderr, "only the first 1 row")

	code, _, stderr = runCLI(t, nil, "query", "--stream", "--api", api, `DROP TABLE demo_pin_table`)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "read-only")

	code, _, stderr = runCLI(t, nil, "query", "--stream", "--api", "127.0.0.1:1", `SELECT 1`)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no pipeline answering at 127.0.0.1:1")
}
