package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/sdkhttp"
)

// serveProcess is a real `pinpipe serve` child process (this test binary run as the pinpipe
// command, see TestMain), driven only through its flags, its HTTP API, its Kafka port and the
// files it leaves in --data-dir: the fault tests and the soak benchmark hold whatever the
// store, sink and API do inside.
type serveProcess struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process ended
	waitErr error         // its exit status, once done
	dir     string
	api     string
	broker  string
	args    []string
	logPath string
	started time.Duration // from exec to the API's first answer
	// startTimeout bounds the wait for the API to answer (default 60 s): a server that reloads
	// its whole history can take minutes.
	startTimeout time.Duration
	// maxFiles, when set, is the open-files limit (soft and hard RLIMIT_NOFILE) serve runs under.
	maxFiles int
	// ns, when set, runs serve in that mount namespace (see mountTmpfs): on a small disk of
	// its own, which outlives a restart.
	ns *tmpfsNamespace
}

// tmpfsNamespace is a private mount namespace (unshare -rm) in which a tmpfs of a given size
// is mounted on a directory, held open by a sleeping process: processes started in it
// (nsenter) see the tmpfs there, the test reaches it through /proc/PID/root.
type tmpfsNamespace struct {
	holder *exec.Cmd
}

// mountTmpfs mounts a tmpfs of size (such as "48m") on dir in a new mount namespace, which
// ends with the test. ok is false, with the reason, when this machine does not permit it.
func mountTmpfs(tb testing.TB, dir, size string) (ns *tmpfsNamespace, ok bool, why string) {
	tb.Helper()
	var out bytes.Buffer
	cmd := exec.Command("unshare", "-rm", "sh", "-c", `mount -t tmpfs -o size=`+size+` tmpfs "$1" && echo mounted && exec sleep 3600`, "sh", dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, false, err.Error()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tb.Cleanup(func() { cmd.Process.Kill(); <-done })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			return nil, false, fmt.Sprintf("%v: %s", err, out.String())
		default:
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(fmt.Sprintf("/proc/%d/root%s", cmd.Process.Pid, dir), &st); err == nil && st.Type == 0x01021994 { // TMPFS_MAGIC
			return &tmpfsNamespace{holder: cmd}, true, ""
		}
	}
	return nil, false, "the tmpfs did not appear within 10s: " + out.String()
}

// path is dir inside the namespace, as this process reaches it.
func (ns *tmpfsNamespace) path(dir string) string {
	return fmt.Sprintf("/proc/%d/root%s", ns.holder.Process.Pid, dir)
}

// startServe starts `pinpipe serve` on dir with the given addresses (127.0.0.1:PORT) and extra
// flags, and returns once its API answers.
func startServe(tb testing.TB, dir, broker, api string, extra ...string) *serveProcess {
	tb.Helper()
	args := append([]string{"serve", "--data-dir", dir, "--broker", broker, "--api", api}, extra...)
	p := &serveProcess{dir: dir, api: api, broker: broker, args: args,
		logPath: filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".serve.log")}
	p.start(tb)
	tb.Cleanup(func() { p.kill() })
	return p
}

func (p *serveProcess) start(tb testing.TB) {
	tb.Helper()
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(tb, err)
	defer log.Close()
	fmt.Fprintf(log, "=== %s pinpipe %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.args, " "))
	cmd := exec.Command(os.Args[0], p.args...)
	if p.maxFiles > 0 {
		// The shell sets the limit and then becomes pinpipe (exec), keeping the process id.
		cmd = exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, p.maxFiles), "sh", os.Args[0]}, p.args...)...)
	}
	if p.ns != nil {
		// nsenter becomes pinpipe (exec) in the namespace, keeping the process id.
		cmd = exec.Command("nsenter", append([]string{"-t", strconv.Itoa(p.ns.holder.Process.Pid), "-U", "-m",
			"--preserve-credentials", "--", os.Args[0]}, p.args...)...)
	}
	cmd.Env = append(os.Environ(), "PINPIPE_TEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = log, log
	t0 := time.Now()
	require.NoError(tb, cmd.Start())
	done := make(chan struct{})
	go func() { p.waitErr = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	client := &http.Client{Timeout: time.Second}
	timeout := p.startTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	for deadline := t0.Add(timeout); ; {
		resp, err := client.Get("http://" + p.api + "/topics")
		if err == nil {
			resp.Body.Close()
			p.started = time.Since(t0)
			return
		}
		if exited, err := p.exited(); exited {
			p.cmd = nil
			tb.Fatalf("pinpipe serve exited before its API answered (%v); log %s:\n%s", err, p.logPath, tail(p.logPath, 40))
		}
		if time.Now().After(deadline) {
			p.kill()
			tb.Fatalf("pinpipe serve's API did not answer within %s; log %s:\n%s", timeout, p.logPath, tail(p.logPath, 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and reaps the process.
func (p *serveProcess) kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// exited reports whether the process has ended, and its exit status.
func (p *serveProcess) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// restart starts the process again on the same data directory and flags.
func (p *serveProcess) restart(tb testing.TB) {
	tb.Helper()
	p.kill()
	p.start(tb)
}

// stop sends SIGINT (Ctrl-C) and returns the exit status.
func (p *serveProcess) stop(timeout time.Duration) error {
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		p.cmd = nil
		return p.waitErr
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("pinpipe serve did not stop within %s after SIGINT", timeout)
	}
}

// memory reads the process's peak resident set (VmHWM) and current one (VmRSS), in bytes.
func (p *serveProcess) memory() (hwm, rss int64, err error) {
	if p.cmd == nil {
		return 0, 0, fmt.Errorf("pinpipe serve is not running")
	}
	pid := p.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read the memory of pinpipe serve: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmHWM":
			hwm = n << 10
		case "VmRSS":
			rss = n << 10
		}
	}
	if hwm == 0 || rss == 0 {
		return 0, 0, fmt.Errorf("no VmHWM/VmRSS in /proc/%d/status (exited?)", pid)
	}
	return hwm, rss, nil
}

// kinesisSDK is aws-sdk-go-v2's Kinesis client pointed at the API. It never retries: a retry of
// a request whose answer was lost to a kill could store its records twice, which is the
// client's at-least-once, not the server's fault. sdkhttp keeps the SDK's early close of a
// request body from losing the answer, which the default retryer would otherwise cover.
func kinesisSDK(api string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String("http://" + api),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local", ""),
		HTTPClient:       sdkhttp.Client{HTTP: &http.Client{Timeout: 30 * time.Second}},
		RetryMaxAttempts: 1,
	})
}

// readStream reads every record of every shard of a stream from TRIM_HORIZON, through the
// Kinesis API, and calls fn with each record's shard, sequence number and data.
func readStream(ctx context.Context, kc *kinesis.Client, stream string, fn func(shard, seq string, data []byte)) error {
	var shards []string
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			return fmt.Errorf("list the shards of %s: %w", stream, err)
		}
		for _, s := range out.Shards {
			shards = append(shards, aws.ToString(s.ShardId))
		}
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	for _, sh := range shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
			ShardId: aws.String(sh), ShardIteratorType: "TRIM_HORIZON"})
		if err != nil {
			return fmt.Errorf("shard iterator of %s/%s: %w", stream, sh, err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				return fmt.Errorf("get records of %s/%s: %w", stream, sh, err)
			}
			for _, r := range out.Records {
				fn(sh, aws.ToString(r.SequenceNumber), r.Data)
			}
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return nil
}

// tail is the last n lines of a file, for a failure message.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
