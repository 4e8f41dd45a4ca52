package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrorsThatTeach: a mistake on the command line is answered with the flag at fault and the
// form it wants, not the flag package's "parse error".
func TestErrorsThatTeach(t *testing.T) {
	sinkParent := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(sinkParent, "s3", "topics"), 0o755))
	for _, c := range []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		want    string
		notWant string
	}{
		{"duration", nil, []string{"emulate", "--invoke-url", "http://x", "--duration", "5"}, 2, "--duration 5: want a duration such as 5s or 10m", "parse error"},
		{"whole number", nil, []string{"emulate", "--invoke-url", "http://x", "--count", "lots"}, 2, "--count lots: want a whole number such as 100", ""},
		{"number", nil, []string{"emulate", "--invoke-url", "http://x", "--rate", "fast"}, 2, "--rate fast: want a number such as 10", ""},
		{"boolean", nil, []string{"local", "--keep-running=maybe"}, 2, "--keep-running maybe: want true or false", ""},
		{"no value", nil, []string{"generate", "--rows"}, 2, "--rows needs a value: want a whole number such as 11153", ""},
		{"unknown flag", nil, []string{"generate", "--nope"}, 2, "unknown flag --nope", ""},
		{"help hint", nil, []string{"generate", "--nope"}, 2, "(pinpipe generate --help lists every flag)", "Usage:"},
		{"env twin", map[string]string{"PINPIPE_DURATION": "5"}, []string{"emulate", "--invoke-url", "http://x"}, 2,
			`PINPIPE_DURATION="5" (the twin of --duration): want a duration such as 5s or 10m`, ""},
		{"missing invoke-url", nil, []string{"emulate"}, 2, "--invoke-url is required", ""},
		{"missing out", nil, []string{"generate"}, 2, "--out is required", ""},
		{"missing input", nil, []string{"analyse"}, 2, "--input is required: the S3 sink's output, e.g. --input ./pinpipe-data/s3", ""},
		{"data dir as input", nil, []string{"analyse", "--input", sinkParent}, 1,
			"looks like a pipeline's --data-dir, whose sink output is " + filepath.Join(sinkParent, "s3") + " (try --input " + filepath.Join(sinkParent, "s3") + ")", ""},
		{"version flag", nil, []string{"--version"}, 0, "pinpipe ", ""},
		{"help defaults unquoted", nil, []string{"emulate", "--help"}, 0, "(default 10)", `(default "10")`},
		{"help strings quoted", nil, []string{"emulate", "--help"}, 0, `(default "batch")`, ""},
		{"help durations unquoted", nil, []string{"emulate", "--help"}, 0, "(default 10s)", `(default "10s")`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, c.env, c.args...)
			assert.Equal(t, c.code, code, "stdout %s\nstderr %s", stdout, stderr)
			assert.Contains(t, stdout+stderr, c.want)
			if c.notWant != "" {
				assert.NotContains(t, stdout+stderr, c.notWant)
			}
		})
	}
}
