package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStartRefusesExposureWithoutKey: serve and local refuse an --api or --s3-api beyond
// loopback without an API key, naming the ways to give one, before creating anything; a bad
// key file, codec or in-flight bound names its flag.
func TestStartRefusesExposureWithoutKey(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, []byte(" \n"), 0o600))
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"serve", "--api", ":0"}, []string{"--api :0", "--api-key-file", "PINPIPE_API_KEY"}},
		{[]string{"serve", "--api", "0.0.0.0:0"}, []string{"--api 0.0.0.0:0", "--api-key-file", "PINPIPE_API_KEY"}},
		{[]string{"local", "--api", "192.0.2.1:0"}, []string{"--api 192.0.2.1:0", "--api-key-file"}},
		{[]string{"serve", "--api", "127.0.0.1:0", "--s3-api", ":0"}, []string{`--s3-api ":0"`, "--api-key-file"}},
		{[]string{"serve", "--api", ":0", "--api-key-file", filepath.Join(t.TempDir(), "nope")}, []string{"--api-key-file: open"}},
		{[]string{"serve", "--api", ":0", "--api-key-file", empty}, []string{"--api-key-file " + empty + ": the file is empty"}},
		{[]string{"serve", "--compression", "brotli"}, []string{`--compression "brotli": want none, gzip, snappy, lz4 or zstd`}},
		{[]string{"serve", "--max-inflight", "0"}, []string{"--max-inflight 0: want 1 or more"}},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		code, _, stderr := runCLI(t, map[string]string{"PINPIPE_DATA_DIR": dir}, append(c.args, "--broker", "127.0.0.1:0")...)
		assert.Equal(t, 1, code, "%v: %s", c.args, stderr)
		for _, w := range c.want {
			assert.Contains(t, stderr, w, "%v", c.args)
		}
		assert.NoDirExists(t, dir, "%v: nothing is created before the refusal", c.args)
	}
}

// TestLocalExposedWithKey: with PINPIPE_API_KEY, `local` listens on every interface and its
// own emulator, sending the key, gets every record in.
func TestLocalExposedWithKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := runCLI(t, map[string]string{"PINPIPE_API_KEY": "local-k3y"},
		"local", "--count", "20", "--data-dir", dir, "--broker", "127.0.0.1:0", "--api", "0.0.0.0:0")
	require.Equal(t, 0, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "Emulator, batch:  60 records sent (20 posts), 60 accepted")
}
