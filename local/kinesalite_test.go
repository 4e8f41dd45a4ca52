package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/record"
)

// startKinesalite runs kinesalite (npm) on a free loopback port and returns its endpoint.
func startKinesalite(t testing.TB) string {
	t.Helper()
	testenv.NodeModule(t, "kinesalite")
	node := testenv.Need(t, "node")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(node, filepath.Join(testenv.RepoRoot(), "node_modules", "kinesalite", "cli.js"),
		"--port", fmt.Sprint(port), "--host", "127.0.0.1", "--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "kinesalite did not start: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr
}

// TestKinesaliteParity sends the same Kinesis route requests to the API over the embedded store
// and over a forwarder to kinesalite: statuses, error types, shards and where records go agree.
func TestKinesaliteParity(t *testing.T) {
	endpoint := startKinesalite(t)
	fwd, err := NewKinesisForwarder(context.Background(), endpoint)
	require.NoError(t, err)
	b := startBroker(t, t.TempDir())
	store, err := OpenStreamStore("")
	require.NoError(t, err)
	apis := map[string]*httptest.Server{}
	for name, st := range map[string]Streams{"embedded": store, "kinesalite": fwd} {
		api, err := NewAPI(b.Addr(), st)
		require.NoError(t, err)
		t.Cleanup(api.Close)
		apis[name] = httptest.NewServer(api)
		t.Cleanup(apis[name].Close)
	}
	steps := []struct{ method, path, body string }{
		{"GET", "/streams", ""},
		{"POST", "/streams/par", `{"ShardCount":3}`},
		{"POST", "/streams/par", `{"ShardCount":3}`},
		{"POST", "/streams/bad", `{"ShardCount":0}`},
		{"GET", "/streams", ""},
		{"GET", "/streams/par", ""},
		{"GET", "/streams/nope", ""},
		{"PUT", "/streams/par/record", `{"StreamName":"par","Data":{"index":1,"title":"a"},"PartitionKey":"k1"}`},
		{"PUT", "/streams/par/record", `{"StreamName":"par","Data":{"index":2},"PartitionKey":""}`},
		{"PUT", "/streams/nope/record", `{"StreamName":"nope","Data":{"index":2},"PartitionKey":"p"}`},
		{"PUT", "/streams/par/records", `{"records":[{"data":{"a":1},"partition-key":"a"},{"data":{"b":2},"partition-key":"b"},{"data":{"c":3},"partition-key":"zz"}]}`},
		{"PUT", "/streams/par/records", `{"records":[]}`},
		{"DELETE", "/streams/par", ""},
		{"DELETE", "/streams/par", ""},
	}
	for _, s := range steps {
		var got [2]map[string]any
		var status [2]int
		for i, name := range []string{"embedded", "kinesalite"} {
			srv := apis[name]
			code, _, body := do(t, srv.Client(), s.method, srv.URL+s.path, "application/json", s.body)
			status[i] = code
			require.NoError(t, json.Unmarshal([]byte(body), &got[i]), "%s %s %s: %s", name, s.method, s.path, body)
		}
		what := s.method + " " + s.path + " " + s.body
		if s.method == "DELETE" && status[0] == 200 {
			// Kinesis deletes asynchronously (DELETING, then gone); wait for it to be gone.
			for _, name := range []string{"embedded", "kinesalite"} {
				srv := apis[name]
				for deadline := time.Now().Add(10 * time.Second); ; {
					code, _, _ := do(t, srv.Client(), "GET", srv.URL+s.path, "", "")
					if code == 400 {
						break
					}
					require.True(t, time.Now().Before(deadline), "%s: stream not deleted", name)
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
		require.Equal(t, status[0], status[1], "%s: embedded %v, kinesalite %v", what, got[0], got[1])
		assert.Equal(t, got[0]["__type"], got[1]["__type"], what)
		assert.Equal(t, got[0]["StreamNames"], got[1]["StreamNames"], what)
		assert.Equal(t, got[0]["ShardId"], got[1]["ShardId"], what)
		assert.Equal(t, got[0]["FailedRecordCount"], got[1]["FailedRecordCount"], what)
		if recs, ok := got[0]["Records"].([]any); ok {
			other := got[1]["Records"].([]any)
			require.Len(t, other, len(recs))
			for i := range recs {
				assert.Equal(t, recs[i].(map[string]any)["ShardId"], other[i].(map[string]any)["ShardId"], what)
			}
		}
		if d, ok := got[0]["StreamDescription"].(map[string]any); ok {
			o := got[1]["StreamDescription"].(map[string]any)
			for _, f := range []string{"StreamName", "StreamStatus", "RetentionPeriodHours", "HasMoreShards"} {
				assert.Equal(t, d[f], o[f], "%s: %s", what, f)
			}
			require.Len(t, o["Shards"], len(d["Shards"].([]any)))
			for i, sh := range d["Shards"].([]any) {
				osh := o["Shards"].([]any)[i].(map[string]any)
				assert.Equal(t, sh.(map[string]any)["ShardId"], osh["ShardId"])
				assert.Equal(t, sh.(map[string]any)["HashKeyRange"], osh["HashKeyRange"])
			}
		}
	}
}

// TestPipelineForwardsToKinesalite runs the pipeline with --kinesis-endpoint: the streams are
// created at kinesalite, the stream emulator's records land there and the stream cleaner reads
// them back into the tables, each once.
func TestPipelineForwardsToKinesalite(t *testing.T) {
	endpoint := startKinesalite(t)
	p, err := Start(context.Background(), Config{UserID: testUser, DataDir: t.TempDir(), BrokerAddr: "127.0.0.1:0",
		APIAddr: "127.0.0.1:0", KinesisEndpoint: endpoint, Logf: t.Logf})
	require.NoError(t, err)
	defer p.Close()
	st, err := emulator.Run(context.Background(), emulator.Config{InvokeURL: p.URL, UserID: testUser, Mode: emulator.Stream,
		Count: 200, BatchSize: 10, Source: emulator.NewSynthetic(5, 100)})
	require.NoError(t, err)
	require.Equal(t, int64(600), st.Accepted)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, p.WaitCaughtUp(ctx))
	total := 0
	for _, k := range record.Kinds {
		inds := tableInds(t, p.Cleaner, k)
		assert.Equal(t, slices.Compact(slices.Clone(inds)), inds, "%s: one row per ind", k)
		total += len(inds)
	}
	rows, repeats, _ := p.Cleaner.Stats()
	assert.Equal(t, int64(total), rows)
	assert.Equal(t, int64(600), rows+repeats, "every record is a row or a repeat")
	require.NoError(t, p.Close())
}
