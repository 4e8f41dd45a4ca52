package local

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceAPI posts n records to each topic through the API, batch per request, and returns the
// compact value at each offset as the API reported it.
func produceAPI(t testing.TB, url string, n, batch, from int) map[string]map[int64]string {
	t.Helper()
	out := map[string]map[int64]string{}
	client := &http.Client{}
	for _, topic := range testTopics() {
		out[topic] = map[int64]string{}
		for i := 0; i < n; i += batch {
			var vals []string
			var body strings.Builder
			body.WriteString(`{"records":[`)
			for j := i; j < min(n, i+batch); j++ {
				v := fmt.Sprintf(`{"ind":%d,"topic":"%s"}`, from+j, topic)
				vals = append(vals, v)
				if j > i {
					body.WriteByte(',')
				}
				body.WriteString(`{"value":` + v + `}`)
			}
			body.WriteString(`]}`)
			status, _, resp := do(t, client, "POST", url+"/topics/"+topic, kjson, body.String())
			require.Equal(t, 200, status, resp)
			offs := regexp.MustCompile(`"offset":(\d+)`).FindAllStringSubmatch(resp, -1)
			require.Len(t, offs, len(vals))
			for k, m := range offs {
				o, _ := strconv.ParseInt(m[1], 10, 64)
				out[topic][o] = vals[k]
			}
		}
	}
	return out
}

// checkSinkDir asserts the sink directory holds every produced record exactly once: per topic
// the objects start at 0, each starts where the previous ended, and line k is the value at its
// offset.
func checkSinkDir(t testing.TB, root string, want map[string]map[int64]string) {
	t.Helper()
	for topic, vals := range want {
		dir := filepath.Join(root, "topics", topic, "partition=0")
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		type obj struct {
			start int64
			lines []string
		}
		var objs []obj
		for _, e := range ents {
			require.False(t, strings.HasPrefix(e.Name(), ".tmp"), "temporary file left: %s", e.Name())
			m := regexp.MustCompile(`^` + regexp.QuoteMeta(topic) + `\+0\+(\d{10})\.json$`).FindStringSubmatch(e.Name())
			require.NotNil(t, m, "object name %s", e.Name())
			start, _ := strconv.ParseInt(m[1], 10, 64)
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			require.True(t, bytes.HasSuffix(b, []byte("\n")))
			objs = append(objs, obj{start, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")})
		}
		sort.Slice(objs, func(i, j int) bool { return objs[i].start < objs[j].start })
		next := int64(0)
		for _, o := range objs {
			require.Equal(t, next, o.start, "%s: object at %d, want %d (gap or overlap)", topic, o.start, next)
			for k, l := range o.lines {
				require.Equal(t, vals[o.start+int64(k)], l, "%s offset %d", topic, o.start+int64(k))
			}
			next += int64(len(o.lines))
		}
		require.Equal(t, int64(len(vals)), next, "%s: records in the sink", topic)
	}
}

func runSink(t testing.TB, cfg SinkConfig) (*Sink, context.CancelFunc, chan error) {
	t.Helper()
	s, err := NewSink(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, cancel, done
}

func endOffsets(t testing.TB, b *Broker) map[string]map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	require.NoError(t, err)
	defer cl.Close()
	ends, err := EndOffsets(context.Background(), kadm.NewClient(cl), testTopics()...)
	require.NoError(t, err)
	return ends
}

func TestSinkExactlyOnce(t *testing.T) {
	for _, c := range []struct {
		flush  int
		rotate time.Duration
	}{{1, 0}, {7, 0}, {50, 20 * time.Millisecond}} {
		t.Run(fmt.Sprintf("flush=%d,rotate=%s", c.flush, c.rotate), func(t *testing.T) {
			srv, _, b, _ := startAPI(t)
			want := produceAPI(t, srv.URL, 300, 40, 0)
			root := t.TempDir()
			s, cancel, done := runSink(t, SinkConfig{Brokers: []string{b.Addr()}, Topics: testTopics(), Store: DirStore{root},
				FlushSize: c.flush, RotateInterval: c.rotate, Logf: t.Logf})
			ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
			defer stop()
			require.NoError(t, s.WaitFor(ctx, endOffsets(t, b)))
			_, recs := s.Stats()
			assert.Equal(t, int64(3*300), recs)
			// More records while it runs, a graceful stop, a restart: it resumes where it stopped.
			more := produceAPI(t, srv.URL, 33, 10, 300)
			cancel()
			require.NoError(t, <-done)
			for topic, m := range more {
				for o, v := range m {
					want[topic][o] = v
				}
			}
			s, cancel, done = runSink(t, SinkConfig{Brokers: []string{b.Addr()}, Topics: testTopics(), Store: DirStore{root},
				FlushSize: c.flush, RotateInterval: c.rotate, Logf: t.Logf})
			require.NoError(t, s.WaitFor(ctx, endOffsets(t, b)))
			cancel()
			require.NoError(t, <-done)
			checkSinkDir(t, root, want)
		})
	}
}

// errCrash is permanent: a killed process does not retry.
var errCrash = fmt.Errorf("simulated crash: %w", ErrPermanent)

// crashStore writes objects to a DirStore and records every key and body; after crashAfter
// puts it writes the object and then fails, as a process killed between the write and the
// offset commit would.
type crashStore struct {
	ObjectStore
	mu         sync.Mutex
	puts       int
	crashAfter int
	written    map[string][]byte
}

func (c *crashStore) Put(ctx context.Context, key string, body []byte) error {
	if err := c.ObjectStore.Put(ctx, key, body); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.puts++
	if prev, ok := c.written[key]; ok && !bytes.Equal(prev, body) {
		return fmt.Errorf("key %s written twice with different content", key)
	}
	c.written[key] = append([]byte(nil), body...)
	if c.crashAfter > 0 && c.puts >= c.crashAfter {
		return errCrash
	}
	return nil
}

// TestSinkCrash kills the sink between object writes and commits (several times, with a
// different flush size after each restart) and checks that nothing is lost or duplicated and
// that no key is ever rewritten with other content.
func TestSinkCrash(t *testing.T) {
	srv, _, b, _ := startAPI(t)
	want := produceAPI(t, srv.URL, 400, 50, 0)
	root := t.TempDir()
	store := &crashStore{ObjectStore: DirStore{root}, written: map[string][]byte{}}
	for i, flush := range []int{5, 3, 1, 8} {
		store.mu.Lock()
		store.crashAfter = store.puts + 40 + 17*i
		store.mu.Unlock()
		_, cancel, done := runSink(t, SinkConfig{Brokers: []string{b.Addr()}, Topics: testTopics(), Store: store, FlushSize: flush, Logf: t.Logf})
		select {
		case err := <-done:
			require.ErrorIs(t, err, errCrash)
		case <-time.After(30 * time.Second):
			t.Fatal("sink did not reach the crash point")
		}
		cancel()
	}
	store.crashAfter = 0
	s, cancel, done := runSink(t, SinkConfig{Brokers: []string{b.Addr()}, Topics: testTopics(), Store: store, FlushSize: 4})
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	require.NoError(t, s.WaitFor(ctx, endOffsets(t, b)))
	cancel()
	require.NoError(t, <-done)
	checkSinkDir(t, root, want)
}

// TestSinkMovesConflictingObject: an object at the resume offset that disagrees with the log
// (or is not records at all) is moved aside under conflicts/ with a warning naming both paths;
// the sink goes on and writes the log's records, exactly once.
func TestSinkMovesConflictingObject(t *testing.T) {
	srv, _, b, _ := startAPI(t)
	want := produceAPI(t, srv.URL, 5, 5, 0)
	root := t.TempDir()
	planted := map[string]string{
		ObjectKey("t1.geo", 0, 0):  "{\"other\":1}\n",
		ObjectKey("t1.user", 0, 0): "not records",
	}
	for k, v := range planted {
		require.NoError(t, DirStore{root}.Put(context.Background(), k, []byte(v)))
	}
	var logMu sync.Mutex
	var logs []string
	s, cancel, done := runSink(t, SinkConfig{Brokers: []string{b.Addr()}, Topics: testTopics(), Store: DirStore{root},
		Logf: func(f string, a ...any) {
			logMu.Lock()
			logs = append(logs, fmt.Sprintf(f, a...))
			logMu.Unlock()
			t.Logf(f, a...)
		}})
	defer cancel()
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	require.NoError(t, s.WaitFor(ctx, endOffsets(t, b)))
	require.NoError(t, s.Health())
	cancel()
	require.NoError(t, <-done)
	checkSinkDir(t, root, want)
	logMu.Lock()
	defer logMu.Unlock()
	for k, v := range planted {
		got, err := os.ReadFile(filepath.Join(root, ConflictsPrefix, k))
		require.NoError(t, err)
		assert.Equal(t, v, string(got))
		warned := false
		for _, l := range logs {
			warned = warned || strings.Contains(l, "warning") && strings.Contains(l, root+"/"+k) && strings.Contains(l, root+"/"+ConflictsPrefix+k)
		}
		assert.True(t, warned, "no warning naming %s and where it went: %q", k, logs)
	}
}

// TestDirStoreRemoveTemps: a kill inside Put leaves a temporary file beside the objects; the
// next start removes it and nothing else.
func TestDirStoreRemoveTemps(t *testing.T) {
	d := DirStore{Root: t.TempDir()}
	require.NoError(t, d.Put(context.Background(), "topics/t1.pin/partition=0/t1.pin+0+0000000000.json", []byte("{}\n")))
	part := filepath.Join(d.Root, "topics", "t1.pin", "partition=0")
	stale := filepath.Join(part, tempPrefix+"t1.pin+0+0000000001.json-123")
	require.NoError(t, os.WriteFile(stale, []byte("{"), 0o644))
	require.NoError(t, d.RemoveTemps())
	assert.NoFileExists(t, stale)
	assert.FileExists(t, filepath.Join(part, "t1.pin+0+0000000000.json"))
	assert.NoError(t, DirStore{Root: filepath.Join(d.Root, "missing")}.RemoveTemps())
}
