package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pinpipe/pinpipe/analytics"
)

func runAnalyse(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "analyse", "--input DIR|s3://BUCKET/PREFIX [--user-id ID] [--out DIR|s3://BUCKET/PREFIX]")
	input := fs.String("input", "", "the S3 sink's output: a directory or s3://BUCKET/PREFIX holding topics/ (required)")
	userID := fs.String("user-id", "demo", "read the topics <user-id>.pin, .geo and .user")
	out := fs.String("out", "analysis", "where to write the outputs, the clean Parquet tables, quarantine.jsonl and report.html (a directory or s3://BUCKET/PREFIX)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *input == "" {
		fmt.Fprintln(fs.Output(), "--input is required: the S3 sink's output, e.g. --input ./pinpipe-data/s3 after pinpipe local")
		fs.Usage()
		return errUsage
	}
	if err := sinkInputHint(*input); err != nil {
		return err
	}
	rep, err := analytics.RunBatch(ctx, analytics.BatchConfig{Input: *input, UserID: *userID, Out: *out, Progress: env.stderr})
	if err != nil {
		return err
	}
	rep.Print(env.stdout)
	return nil
}

// sinkInputHint catches the usual mistake of pointing --input at a pipeline's data directory
// rather than at the sink's output inside it.
func sinkInputHint(input string) error {
	if strings.HasPrefix(input, "s3://") {
		return nil
	}
	if dirExists(filepath.Join(input, "topics")) {
		return nil
	}
	if sink := filepath.Join(input, "s3"); dirExists(filepath.Join(sink, "topics")) {
		return fmt.Errorf("--input %s has no topics/ folder; it looks like a pipeline's --data-dir, whose sink output is %s (try --input %s)",
			input, sink, sink)
	}
	if _, err := os.Stat(input); err != nil {
		return fmt.Errorf("--input %s: %w", input, err)
	}
	return nil
}

func dirExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
