package local

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCleanerRetriesFailedWrites: a commit that fails as on a full disk (DuckDB cannot write
// its WAL) neither stops the stream cleaner nor loses the batch. Run keeps going, Health says
// why meanwhile, and once commits succeed again every record is cleaned, each ind once.
func TestCleanerRetriesFailedWrites(t *testing.T) {
	srv, _, _, st := startAPI(t)
	_, err := emulator.Run(context.Background(), emulator.Config{InvokeURL: srv.URL, UserID: testUser, Mode: emulator.Stream,
		Count: 200, BatchSize: 7, Source: emulator.NewSynthetic(5, 100)})
	require.NoError(t, err)
	marks := map[string]map[string]string{}
	for _, k := range record.Kinds {
		name := record.Stream(testUser, k)
		recs, err := st.ReadShard(context.Background(), name, "shardId-000000000000", "", 1<<30)
		require.NoError(t, err)
		marks[name] = map[string]string{"shardId-000000000000": recs[len(recs)-1].SequenceNumber}
	}

	const failures = 5
	fails := make(chan struct{}, failures) // a token per commit still to fail
	for range failures {
		fails <- struct{}{}
	}
	crashHook = func(string) error {
		select {
		case <-fails:
			return fmt.Errorf("commit: write stream.duckdb.wal: %w", syscall.ENOSPC)
		default:
			return nil
		}
	}
	defer func() { crashHook = func(string) error { return nil } }()
	c, err := OpenCleaner(context.Background(), CleanerConfig{UserID: testUser, Streams: st, BatchSize: 50, Wake: st.Changed,
		DBPath: filepath.Join(t.TempDir(), "stream.duckdb"), MaxBackoff: 100 * time.Millisecond, Logf: t.Logf})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	require.Eventually(t, func() bool { return c.Health() != nil }, 10*time.Second, time.Millisecond,
		"the cleaner reports itself unhealthy while commits fail")
	assert.ErrorIs(t, c.Health(), syscall.ENOSPC)
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	require.NoError(t, c.WaitFor(wctx, marks), "the cleaner catches up once commits succeed")
	assert.Empty(t, fails, "every failure injected was met")
	assert.NoError(t, c.Health(), "healthy again")
	checkStreamTables(t, st, c)
	cancel()
	require.NoError(t, <-done)
}
