package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/require"
)

// counts is how many ids a ledger holds acknowledged and reported failed.
func (l *ledger) counts() (acked, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), len(l.failed)
}

// TestServeDiskFullThenFreed runs a real `pinpipe serve` whose --data-dir is a 48 MiB tmpfs of
// its own (a private mount namespace), under load on the produce route, the REST PutRecords
// route and the Kinesis API. A ballast file then takes nearly all the space: the broker's log,
// the stream store, the sink and the stream cleaner all meet ENOSPC, and the answers turn to
// failures. The load goes on for seconds on the full disk; then the ballast goes ("space
// returns"), and the load goes on until every route acknowledges again. Serve must never exit,
// and what it holds (the topic through a Kafka consumer, the streams through GetRecords, the
// sink's objects once caught up) must hold every acknowledged id exactly once where its answer
// said, and any id reported failed at most once.
func TestServeDiskFullThenFreed(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tmpfs under a running pinpipe serve")
	}
	dir := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.Mkdir(dir, 0o755))
	ns, ok, why := mountTmpfs(t, dir, "48m")
	if !ok {
		t.Skipf("needs a private mount namespace with a tmpfs (unshare -rm, mount -t tmpfs), not permitted here: %s", why)
	}
	broker, api := freeAddr(t), freeAddr(t)
	srv := &serveProcess{dir: dir, api: api, broker: broker, ns: ns,
		args: []string{"serve", "--data-dir", dir, "--broker", broker, "--api", api,
			"--user-id", "soak", "--flush-size", "50", "--rotate-interval", "500ms"},
		logPath: dir + ".serve.log"}
	srv.start(t)
	t.Cleanup(srv.kill)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve log %s:\n%s", srv.logPath, tail(srv.logPath, 40))
		}
	})
	up := func(when string) {
		t.Helper()
		if exited, err := srv.exited(); exited {
			t.Fatalf("pinpipe serve exited (%v) %s; log %s:\n%s", err, when, srv.logPath, tail(srv.logPath, 40))
		}
	}
	data := ns.path(dir) // the tmpfs, as the test sees it
	ctx := t.Context()
	kc := kinesisSDK(api)
	_, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(killMultiStream), ShardCount: aws.Int32(3)})
	require.NoError(t, err)
	require.NoError(t, kinesis.NewStreamExistsWaiter(kc).Wait(ctx,
		&kinesis.DescribeStreamInput{StreamName: aws.String(killMultiStream)}, 10*time.Second,
		func(o *kinesis.StreamExistsWaiterOptions) { o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second }))

	topic, restStream, multiStream := newLedger(), newLedger(), newLedger()
	ledgers := []*ledger{topic, restStream, multiStream}
	names := []string{"produce", "REST PutRecords", "SDK PutRecords"}
	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 2 {
		wg.Go(func() { postProduce(load, t, client, api, fmt.Sprintf("p%d", w), topic) })
	}
	wg.Go(func() { postPutRecords(load, t, client, api, "r", restStream) })
	wg.Go(func() { sdkPutRecords(load, t, kc, "k", multiStream) })
	snapshot := func() (acked, failed []int) {
		for _, l := range ledgers {
			a, f := l.counts()
			acked, failed = append(acked, a), append(failed, f)
		}
		return acked, failed
	}
	// waitFor polls cond every 100 ms for up to d, failing the test if serve exits.
	waitFor := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
			up(what)
			if time.Now().After(deadline) {
				a, f := snapshot()
				t.Fatalf("%s: not within %s (acknowledged %v, failed %v for %v); log:\n%s", what, d, a, f, names, tail(srv.logPath, 30))
			}
		}
	}
	t0 := time.Now()
	time.Sleep(time.Second)
	up("under load")

	// Fill the disk, leaving 2 MiB for the load to run out of mid-write.
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(data, &st))
	free := int64(st.Bavail) * st.Bsize
	ballast := filepath.Join(data, "ballast")
	f, err := os.Create(ballast)
	require.NoError(t, err)
	chunk := make([]byte, 1<<20)
	var filled int64
	for filled < free-2<<20 {
		n, err := f.Write(chunk)
		filled += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
	ackedFull, failedFull := snapshot()
	t.Logf("after %s: ballast of %d MiB of %d MiB free; acknowledged %v, failed %v (%v)",
		time.Since(t0).Round(time.Millisecond), filled>>20, free>>20, ackedFull, failedFull, names)

	// Every route fails once the disk is full.
	waitFor(20*time.Second, "every route reports failures on the full disk", func() bool {
		_, f := snapshot()
		for i := range f {
			if f[i] == failedFull[i] {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second) // and it stays full a while, the load going on
	up("on the full disk")
	// A user who finds it so kills it and starts it again, on the disk still full: it starts,
	// on what the torn writes left, and goes on answering.
	srv.restart(t)
	t.Logf("killed and restarted on the full disk in %s", srv.started.Round(time.Millisecond))
	time.Sleep(time.Second)
	up("restarted on the full disk")
	ackedGone, failedGone := snapshot()
	t.Logf("after %s: disk full; acknowledged %v, failed %v", time.Since(t0).Round(time.Millisecond), ackedGone, failedGone)

	// Space returns: every route acknowledges again.
	require.NoError(t, os.Remove(ballast))
	waitFor(30*time.Second, "every route acknowledges once space returns", func() bool {
		a, _ := snapshot()
		for i := range a {
			if a[i] <= ackedGone[i]+killBatch {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second)
	stopLoad()
	wg.Wait()
	up("after space returned")
	ackedEnd, failedEnd := snapshot()
	t.Logf("after %s: space returned; acknowledged %v, failed %v", time.Since(t0).Round(time.Millisecond), ackedEnd, failedEnd)

	readBackServe(t, ctx, broker, kc, filepath.Join(data, "s3", "topics", killTopic), topic, restStream, multiStream)
	up("after the read-back")

	// Ctrl-C and a restart on what the full disk left: torn writes must not cost a record.
	require.NoError(t, srv.stop(time.Minute), "Ctrl-C: exit status; log:\n%s", tail(srv.logPath, 20))
	srv.start(t)
	t.Logf("restarted in %s", srv.started.Round(time.Millisecond))
	// A new client: the old one's pooled connections were to the process that stopped.
	readBackServe(t, ctx, broker, kinesisSDK(api), filepath.Join(data, "s3", "topics", killTopic), topic, restStream, multiStream)
	up("after the restart")
	t.Logf("serve log, last lines:\n%s", tail(srv.logPath, 12))
}
