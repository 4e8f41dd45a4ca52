package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/local"
)

// TestMain lets a test run this binary as the pinpipe command (PINPIPE_TEST_MAIN=1), so the
// crash test can kill a real `pinpipe serve` process without building it separately.
func TestMain(m *testing.M) {
	if os.Getenv("PINPIPE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestLocalCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := runCLI(t, nil, "local", "--count", "150", "--data-dir", dir, "--broker", "127.0.0.1:0", "--api", "127.0.0.1:0")
	require.Equal(t, 0, code, "stderr: %s", stderr)
	for _, want := range []string{"Emulator, batch:  450 records sent (150 posts), 450 accepted", "Emulator, stream: 450 records sent",
		"demo_pin_table     150   0", "demo_geo_table     150   0", "demo_user_table    150   0",
		"top_category_by_country", "median_followers_by_join_year_and_age_group", "Report: " + filepath.Join(dir, "results", "report.html")} {
		assert.Contains(t, stdout, want)
	}
	assert.FileExists(t, filepath.Join(dir, "results", "report.html"))
	// A second run keeps the first's data: the sink and the tables now hold both.
	code, stdout, stderr = runCLI(t, nil, "local", "--count", "50", "--data-dir", dir, "--broker", "127.0.0.1:0", "--api", "127.0.0.1:0")
	require.Equal(t, 0, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "demo_pin_table     200")
	assert.Regexp(t, `pin\s+200\s+200\s`, stdout)
}

func TestLocalFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"local", "--help"}, 0, "Usage: pinpipe local"},
		{[]string{"serve", "--help"}, 0, "--kinesis-endpoint"},
		{[]string{"serve", "--help"}, 0, "--s3-api"},
		{[]string{"local", "--count", "0"}, 1, "--count 0: want 1 or more"},
		{[]string{"local", "--user-id", "Bad_ID"}, 1, "--user-id"},
		{[]string{"serve", "--flush-size", "0"}, 1, "--flush-size 0"},
		{[]string{"serve", "--help"}, 0, "--s3-writable"},
		{[]string{"serve", "--drain", "0s"}, 1, "--drain 0s: want a duration above 0"},
		{[]string{"serve", "--s3-writable"}, 1, "--s3-writable needs --s3-api"},
		{[]string{"serve", "--broker", "10.0.0.1:9092"}, 1, "listens on 127.0.0.1 only"},
		{[]string{"serve", "extra"}, 2, `unexpected argument "extra"`},
	} {
		code, _, stderr := runCLI(t, map[string]string{"PINPIPE_DATA_DIR": t.TempDir()}, c.args...)
		assert.Equal(t, c.code, code, "%v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.want, "%v", c.args)
	}
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// serveProc runs `pinpipe serve` as a child process and returns once its API answers.
func serveProc(t *testing.T, dir, broker, api string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--user-id", "crash", "--data-dir", dir, "--broker", broker, "--api", api, "--flush-size", "3")
	cmd.Env = append(os.Environ(), "PINPIPE_TEST_MAIN=1")
	out, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + api + "/topics")
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		require.True(t, time.Now().Before(deadline), "serve did not start")
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeDataDirInUse: a second `serve` on the data directory of a running one fails at once,
// naming the running one's PID.
func TestServeDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	cmd := serveProc(t, dir, freeAddr(t), freeAddr(t))
	code, _, stderr := runCLI(t, nil, "serve", "--user-id", "crash", "--data-dir", dir, "--broker", freeAddr(t), "--api", freeAddr(t))
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, fmt.Sprintf("data dir %s is in use by pinpipe (PID %d)", dir, cmd.Process.Pid))
}

// TestServeKilled kills a real `pinpipe serve` process (SIGKILL) while records are being posted
// to both sides, restarts it on the same data directory, and checks that every record it
// acknowledged is in the sink exactly once (contiguous offsets) and in the stream table exactly
// once, and that a graceful stop (SIGINT) then flushes everything.
func TestServeKilled(t *testing.T) {
	dir := t.TempDir()
	broker, api := freeAddr(t), freeAddr(t)
	cmd := serveProc(t, dir, broker, api)

	var mu sync.Mutex
	ackedKafka, ackedStream := map[int]bool{}, map[int]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				rec := fmt.Sprintf(`{"ind":%d,"first_name":"A","last_name":"B","age":30,"date_joined":"2016-01-02 03:04:05"}`, i)
				resp, err := client.Post("http://"+api+"/topics/crash.user", "application/vnd.kafka.json.v2+json",
					strings.NewReader(`{"records":[{"value":`+rec+`}]}`))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						mu.Lock()
						ackedKafka[i] = true
						mu.Unlock()
					}
				}
				req, _ := http.NewRequest("PUT", "http://"+api+"/streams/streaming-crash-user/record",
					strings.NewReader(`{"StreamName":"streaming-crash-user","Data":`+rec+`,"PartitionKey":"k"}`))
				resp, err = client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						mu.Lock()
						ackedStream[i] = true
						mu.Unlock()
					}
				}
				if err != nil {
					return // the server is gone
				}
			}
		}()
	}
	// Kill once a few hundred records are in (the sink and cleaner are busy by then).
	for {
		mu.Lock()
		n := len(ackedKafka)
		mu.Unlock()
		if n >= 600 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	close(stop)
	wg.Wait()
	cmd.Wait()

	cmd = serveProc(t, dir, broker, api)
	// Let it catch up, then stop it gracefully; its exit status must be 0.
	ends := endOffsetsOf(t, broker, "crash.user")
	waitForSink(t, filepath.Join(dir, "s3", "topics", "crash.user", "partition=0"), ends)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	require.NoError(t, cmd.Wait())

	// The sink: contiguous objects, each acknowledged record exactly once.
	lines := sinkLines(t, filepath.Join(dir, "s3", "topics", "crash.user", "partition=0"))
	require.Equal(t, ends, int64(len(lines)), "records in the sink = records in the topic")
	seen := map[int]int{}
	for _, l := range lines {
		var ind int
		_, err := fmt.Sscanf(l, `{"ind":%d,`, &ind)
		require.NoError(t, err, l)
		seen[ind]++
	}
	for i := range ackedKafka {
		assert.Equal(t, 1, seen[i], "acknowledged record %d in the sink", i)
	}
	for i, n := range seen {
		assert.Equal(t, 1, n, "record %d in the sink %d times", i, n)
	}

	// The stream table: every acknowledged record once.
	db, err := sql.Open("duckdb", filepath.Join(dir, "stream.duckdb"))
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT ind, count(*) FROM crash_user_table GROUP BY ind`)
	require.NoError(t, err)
	inTable := map[int]int{}
	for rows.Next() {
		var ind, n int
		require.NoError(t, rows.Scan(&ind, &n))
		inTable[ind] = n
	}
	require.NoError(t, rows.Err())
	rows.Close()
	for i := range ackedStream {
		assert.Equal(t, 1, inTable[i], "acknowledged stream record %d in the table", i)
	}
	for i, n := range inTable {
		assert.Equal(t, 1, n, "stream record %d in the table %d times", i, n)
	}
	t.Logf("acknowledged before the kill: %d Kafka, %d stream records; in the topic: %d", len(ackedKafka), len(ackedStream), ends)
}

func endOffsetsOf(t *testing.T, broker, topic string) int64 {
	t.Helper()
	ends, err := local.TopicEndOffsets(context.Background(), broker, topic)
	require.NoError(t, err)
	return ends[topic][0]
}

var objectName = regexp.MustCompile(`^crash\.user\+0\+(\d{10})\.json$`)

// sinkLines reads a partition's objects in offset order, checking they are contiguous.
func sinkLines(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	var lines []string
	for _, e := range ents {
		m := objectName.FindStringSubmatch(e.Name())
		require.NotNil(t, m, "unexpected file %s", e.Name())
		require.Equal(t, fmt.Sprintf("%010d", len(lines)), m[1], "object %s does not start where the previous ended", e.Name())
		f, err := os.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
	}
	return lines
}

// waitForSink waits until the partition's objects hold end records.
func waitForSink(t *testing.T, dir string, end int64) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; {
		n := 0
		if ents, err := os.ReadDir(dir); err == nil {
			for _, e := range ents {
				if objectName.MatchString(e.Name()) {
					b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
					n += strings.Count(string(b), "\n")
				}
			}
		}
		if int64(n) >= end {
			return
		}
		require.True(t, time.Now().Before(deadline), "sink has %d of %d records", n, end)
		time.Sleep(100 * time.Millisecond)
	}
}
