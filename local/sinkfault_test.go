package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultStore is an ObjectStore that fails like a full or broken disk: once budget bytes have
// been put (budget < 0: no limit) every Put fails with putErr; while syncErr is set every Sync
// fails with it. A failed Put writes nothing, as DirStore's temporary file and rename ensure.
type faultStore struct {
	ObjectStore
	mu      sync.Mutex
	budget  int64
	putErr  error
	syncErr error
	failed  int
}

func (f *faultStore) Put(ctx context.Context, key string, body []byte) error {
	f.mu.Lock()
	if f.budget >= 0 && int64(len(body)) > f.budget {
		f.failed++
		f.mu.Unlock()
		return fmt.Errorf("put %s: write: %w", key, f.putErr)
	}
	if f.budget >= 0 {
		f.budget -= int64(len(body))
	}
	f.mu.Unlock()
	return f.ObjectStore.Put(ctx, key, body)
}

func (f *faultStore) Sync(ctx context.Context) error {
	f.mu.Lock()
	err := f.syncErr
	if err != nil {
		f.failed++
	}
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return f.ObjectStore.Sync(ctx)
}

// heal makes the store work again: space freed, descriptors closed, the disk replaced.
func (f *faultStore) heal() {
	f.mu.Lock()
	f.budget, f.syncErr = -1, nil
	f.mu.Unlock()
}

func (f *faultStore) failures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// TestSinkStoreFaults: a store that fails with ENOSPC after some bytes, EMFILE at once or EIO
// on every Sync never stops the sink: it reports itself unhealthy naming the error, keeps
// retrying, is healthy again once the store works, and the records are then all there exactly
// once.
func TestSinkStoreFaults(t *testing.T) {
	for _, c := range []struct {
		name   string
		budget int64
		put    error
		sync   error
	}{
		{"ENOSPC after 2000 bytes", 2000, syscall.ENOSPC, nil},
		{"EMFILE", 0, syscall.EMFILE, nil},
		{"EIO on sync", -1, nil, syscall.EIO},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, _, b, _ := startAPI(t)
			want := produceAPI(t, srv.URL, 200, 50, 0)
			root := t.TempDir()
			store := &faultStore{ObjectStore: DirStore{root}, budget: c.budget, putErr: c.put, syncErr: c.sync}
			s, cancel, done := runSink(t, SinkConfig{Brokers: []string{b.Addr()}, Topics: testTopics(), Store: store,
				FlushSize: 10, MaxBackoff: 100 * time.Millisecond, Logf: t.Logf})
			defer cancel()
			deadline := time.Now().Add(30 * time.Second)
			for s.Health() == nil || store.failures() < 5 {
				require.True(t, time.Now().Before(deadline), "the sink never reported the fault")
				select {
				case err := <-done:
					t.Fatalf("the sink stopped on a store fault: %v", err)
				case <-time.After(20 * time.Millisecond):
				}
			}
			want0 := c.put
			if want0 == nil {
				want0 = c.sync
			}
			require.ErrorIs(t, s.Health(), want0)
			assert.Contains(t, s.Health().Error(), root)

			store.heal()
			ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
			defer stop()
			require.NoError(t, s.WaitFor(ctx, endOffsets(t, b)))
			require.NoError(t, s.Health())
			cancel()
			require.NoError(t, <-done)
			checkSinkDir(t, root, want)
		})
	}
}

// TestSinkUnhealthyAPI503: while the sink cannot write (disk full), the pipeline stays up and
// the REST produce route answers 503 with a Kafka REST error body and Retry-After, so clients
// retry; when space returns, the sink recovers by itself, produce answers 200 again, and every
// acknowledged record is in the sink exactly once.
func TestSinkUnhealthyAPI503(t *testing.T) {
	dir := t.TempDir()
	store := &faultStore{ObjectStore: DirStore{SinkDir(dir)}, budget: -1, putErr: syscall.ENOSPC}
	p, err := Start(context.Background(), Config{UserID: testUser, DataDir: dir, BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0",
		SinkStore: store, FlushSize: 5, Logf: t.Logf})
	require.NoError(t, err)
	defer p.Close()
	want := produceAPI(t, p.URL, 100, 20, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.WaitCaughtUp(ctx))
	require.NoError(t, p.Healthy())
	addAll := func(more map[string]map[int64]string) {
		for topic, m := range more {
			for o, v := range m {
				want[topic][o] = v
			}
		}
	}

	store.mu.Lock()
	store.budget = 0 // the disk is full
	store.mu.Unlock()
	// One request the broker takes (200) and the sink then cannot write.
	vals := make([]string, 10)
	recs := make([]string, 10)
	for i := range vals {
		vals[i] = fmt.Sprintf(`{"ind":%d,"topic":"t1.pin"}`, 100+i)
		recs[i] = `{"value":` + vals[i] + `}`
	}
	status, _, out := do(t, http.DefaultClient, "POST", p.URL+"/topics/t1.pin", kjson, `{"records":[`+strings.Join(recs, ",")+`]}`)
	require.Equal(t, 200, status, out)
	for i, v := range vals {
		want["t1.pin"][100+int64(i)] = v
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.Healthy() == nil {
		require.True(t, time.Now().Before(deadline), "the pipeline never reported the full disk")
		time.Sleep(20 * time.Millisecond)
	}
	require.ErrorIs(t, p.Healthy(), syscall.ENOSPC)
	req, err := http.NewRequest("POST", p.URL+"/topics/t1.pin", strings.NewReader(`{"records":[{"value":{"ind":1}}]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", kjson)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var body struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, 50301, body.ErrorCode)
	assert.Contains(t, body.Message, "no space left on device")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	select {
	case err := <-p.Failed():
		t.Fatalf("a part stopped: %v", err)
	default:
	}

	store.heal()
	for p.Healthy() != nil {
		require.True(t, time.Now().Before(deadline.Add(30*time.Second)), "the sink did not recover")
		time.Sleep(20 * time.Millisecond)
	}
	addAll(produceAPI(t, p.URL, 10, 10, 110))
	require.NoError(t, p.WaitCaughtUp(ctx))
	checkSinkDir(t, SinkDir(dir), want)
}

// TestDataDirLock: a second pipeline on a data directory in use fails at once naming the
// holder's PID, and touches nothing: the first one's sink temporary files are still there.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	p := startPipeline(t, dir)
	defer p.Close()
	temp := filepath.Join(SinkDir(dir), "topics", tempPrefix+"being-written")
	require.NoError(t, os.MkdirAll(filepath.Dir(temp), 0o755))
	require.NoError(t, os.WriteFile(temp, []byte("{"), 0o644))

	_, err := Start(context.Background(), Config{UserID: testUser, DataDir: dir, BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Logf: t.Logf})
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("data dir %s is in use by pinpipe (PID %d); stop it or pick another --data-dir", dir, os.Getpid()), err.Error())
	assert.FileExists(t, temp)

	// The first pipeline still works, and once it is closed the directory is free again.
	produceAPI(t, p.URL, 1, 1, 0)
	require.NoError(t, p.Close())
	require.NoError(t, os.Remove(temp))
	p2 := startPipeline(t, dir)
	require.NoError(t, p2.Close())
}

// TestCloseDrainsSink: Close (Ctrl-C) writes the sink's whole backlog before it returns:
// after ~50k records produced as fast as the API takes them, every one is in the sink objects.
func TestCloseDrainsSink(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var logs []string
	p, err := Start(context.Background(), Config{UserID: testUser, DataDir: dir, BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0",
		FlushSize: 1000, Logf: func(f string, a ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(f, a...))
			mu.Unlock()
			t.Logf(f, a...)
		}})
	require.NoError(t, err)
	want := produceAPI(t, p.URL, 17000, 1000, 0)
	require.NoError(t, p.Close())
	checkSinkDir(t, SinkDir(dir), want)
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, strings.Join(logs, "\n"), "sink: drained to the high watermark")
}

// TestCloseDrainBound: when the sink cannot finish within Config.Drain (here its store is
// full), Close returns after the bound and says how many records of which topic were left.
func TestCloseDrainBound(t *testing.T) {
	dir := t.TempDir()
	store := &faultStore{ObjectStore: DirStore{SinkDir(dir)}, budget: -1, putErr: syscall.ENOSPC}
	var mu sync.Mutex
	var logs []string
	p, err := Start(context.Background(), Config{UserID: testUser, DataDir: dir, BrokerAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0",
		SinkStore: store, FlushSize: 100, Drain: time.Second, Logf: func(f string, a ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(f, a...))
			mu.Unlock()
			t.Logf(f, a...)
		}})
	require.NoError(t, err)
	produceAPI(t, p.URL, 7, 7, 0) // fewer than FlushSize: buffered, not written
	store.mu.Lock()
	store.budget = 0 // and now the disk is full
	store.mu.Unlock()
	start := time.Now()
	p.Close()
	assert.Less(t, time.Since(start), 15*time.Second)
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(logs, "\n")
	assert.Contains(t, all, "drain bound 1s hit: 21 records (t1.geo 7, t1.pin 7, t1.user 7) not written to the sink")
}
