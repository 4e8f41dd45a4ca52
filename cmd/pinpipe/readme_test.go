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
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/mysqltest"
	"github.com/pinpipe/pinpipe/internal/testenv"
)

// readmeSkipped are the README sections whose examples this check does not run, and why. Every
// other section's ```sh and ```python blocks run.
var readmeSkipped = map[string]string{
	"Two commands":               "make demo and make test: CI runs make test itself, and TestLocalCommand runs what make demo runs",
	"Deploy to AWS":              "needs an AWS account",
	"Stacks":                     "AWS",
	"Try it":                     "AWS",
	"The daily batch job on AWS": "AWS",
	"Configuration (`cdk.json` → `context`, or `-c key=value`)":             "AWS",
	"What it costs at idle (us-east-1, 730 h/month, on-demand list prices)": "AWS",
	"`cdk diff` in pull requests (GitHub Actions)":                          "AWS",
	"Tear-down":              "AWS",
	"Tests and benchmarks":   "make test and make bench (this check is part of make test)",
	"Architecture":           "no commands",
	"Layout":                 "no commands",
	"What `make demo` shows": "no commands",
}

// readmeBlock is one example block and the section it is in.
type readmeBlock struct {
	section, lang, text string
	line                int
}

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.RepoRoot(), "README.md"))
	require.NoError(t, err)
	defer f.Close()
	var blocks []readmeBlock
	var cur *readmeBlock
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "#"):
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &readmeBlock{section: section, lang: strings.TrimPrefix(line, "```"), line: n + 1}
		case cur != nil && line == "```":
			if cur.lang == "sh" || cur.lang == "python" {
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	require.NoError(t, sc.Err())
	return blocks
}

// TestReadmeExamples runs every example of the README's local sections, in order, from a
// scratch directory laid out like the repository root (./bin/pinpipe, analytics/sql), against a
// `pinpipe serve` started as the README says (on free ports: the README's 8082, 9092 and 9000 are
// rewritten) and a throwaway MariaDB for the seed-db and --source mysql examples. A block fails the
// test when it exits non-zero or does not end within two minutes.
func TestReadmeExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's examples")
	}
	testenv.Need(t, "kcat")
	testenv.Need(t, "aws")
	testenv.Need(t, "curl")
	python := pythonWithBoto3(t)
	db := mysqltest.Start(t)

	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	// ./bin/pinpipe is this test binary acting as the command (see TestMain).
	wrapper := fmt.Sprintf("#!/bin/sh\nPINPIPE_TEST_MAIN=1 exec %q \"$@\"\n", os.Args[0])
	require.NoError(t, os.WriteFile(filepath.Join(root, "bin", "pinpipe"), []byte(wrapper), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "analytics"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(testenv.RepoRoot(), "analytics", "sql"), filepath.Join(root, "analytics", "sql")))

	ports := map[string]string{"127.0.0.1:8082": freeAddr(t), "127.0.0.1:9092": freeAddr(t), "127.0.0.1:9000": freeAddr(t)}
	adjust := func(s string) string {
		for from, to := range ports {
			s = strings.ReplaceAll(s, from, to)
		}
		return s
	}
	env := append(os.Environ(),
		"PINPIPE_DB_HOST="+db.Host, "PINPIPE_DB_PORT="+strconv.Itoa(db.Port), "PINPIPE_DB_NAME="+db.Database,
		"PINPIPE_DB_USER="+db.User, "PINPIPE_DB_PASSWORD="+db.Password,
		// --api of `query --stream` and of the emulator default to the README's port.
		"PINPIPE_API="+ports["127.0.0.1:8082"], "PINPIPE_BROKER="+ports["127.0.0.1:9092"],
		// no profile, no pager, no IMDS lookups from the AWS CLI
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true")

	ran := 0
	for _, b := range readmeBlocks(t) {
		if why, skip := readmeSkipped[b.section]; skip {
			t.Logf("README.md:%d (%s): not run: %s", b.line, b.section, why)
			continue
		}
		text := adjust(b.text)
		if b.lang == "python" {
			runReadmeBlock(t, b, root, env, python, "-c", text)
			ran++
			continue
		}
		// A server line starts the server for the blocks after it; the check stops it at the end.
		var rest []string
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "./bin/pinpipe serve") {
				startReadmeServer(t, root, env, line, ports["127.0.0.1:8082"])
				continue
			}
			rest = append(rest, line)
		}
		runReadmeBlock(t, b, root, env, "bash", "-euo", "pipefail", "-c", strings.Join(rest, "\n"))
		ran++
	}
	require.GreaterOrEqual(t, ran, 10, "the README's local examples were found")
}

// runReadmeBlock runs one block and fails the test when it fails or hangs.
func runReadmeBlock(t *testing.T, b readmeBlock, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("README.md:%d (%s): did not end within 2 minutes:\n%s\noutput:\n%s", b.line, b.section, b.text, out.String())
	}
	if err != nil {
		t.Fatalf("README.md:%d (%s): %v:\n%s\noutput:\n%s", b.line, b.section, err, b.text, out.String())
	}
	t.Logf("README.md:%d (%s): ok in %s", b.line, b.section, time.Since(start).Round(time.Millisecond))
}

var commentRE = regexp.MustCompile(`\s+#.*$`)

// startReadmeServer runs the README's `pinpipe serve` line in the background, with its data in
// the scratch directory, until the test ends (then Ctrl-C, as a user would stop it).
func startReadmeServer(t *testing.T, dir string, env []string, line, api string) {
	t.Helper()
	line = commentRE.ReplaceAllString(line, "")
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: stopped with %v:\n%s", line, err, out.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("%s: did not stop on Ctrl-C:\n%s", line, out.String())
		}
	})
	for deadline := time.Now().Add(time.Minute); ; {
		resp, err := http.Get("http://" + api + "/topics")
		if err == nil {
			resp.Body.Close()
			return
		}
		require.True(t, time.Now().Before(deadline), "%s did not start:\n%s", line, out.String())
		time.Sleep(100 * time.Millisecond)
	}
}

// pythonWithBoto3 is a python3 that can import boto3 (Debian's python3-boto3 is for /usr/bin's).
func pythonWithBoto3(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import boto3").Run() == nil {
			return p
		}
	}
	testenv.Missing(t, "no python3 with boto3 (apt install python3-boto3)")
	return ""
}
