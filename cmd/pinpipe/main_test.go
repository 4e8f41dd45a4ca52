package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

// runCLI runs pinpipe in-process with the given environment and returns status, stdout, stderr.
func runCLI(t *testing.T, environ map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}
	code := run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestDispatch(t *testing.T) {
	code, _, stderr := runCLI(t, nil)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "Commands:")

	code, _, stderr = runCLI(t, nil, "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `unknown command "nope"`)

	code, stdout, _ := runCLI(t, nil, "version")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "pinpipe ")

	code, _, stderr = runCLI(t, nil, "version", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stderr, "Usage: pinpipe version")

	code, _, stderr = runCLI(t, nil, "version", "extra")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `unexpected argument "extra"`)
}
