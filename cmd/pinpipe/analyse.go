package main

import (
	"context"

	"github.com/pinpipe/pinpipe/analytics"
)

func runAnalyse(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "analyse", "--input DIR|s3://BUCKET/PREFIX [--user-id ID] [--out DIR|s3://BUCKET/PREFIX] [--incremental | --full] [--skip-analysis]")
	input := fs.String("input", "", "the S3 sink's output: a directory or s3://BUCKET/PREFIX holding topics/ (required)")
	userID := fs.String("user-id", "demo", "read the topics <user-id>.pin, .geo and .user")
	out := fs.String("out", "analysis", "where to write the outputs, the clean Parquet tables, quarantine.jsonl and report.html (a directory or s3://BUCKET/PREFIX)")
	incremental := fs.Bool("incremental", false, "read only the sink objects no earlier incremental run read; add their rows as clean/<kind>/<run>.parquet and keep the state under --out (_state/)")
	full := fs.Bool("full", false, "rebuild the incremental state from every object (then --incremental goes on from it)")
	skip := fs.Bool("skip-analysis", false, "only clean: write the clean tables, quarantine and state, not the eight outputs or the report (when Athena runs the analyses)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *input == "" {
		fs.Usage()
		return errUsage
	}
	rep, err := analytics.RunBatch(ctx, analytics.BatchConfig{Input: *input, UserID: *userID, Out: *out, Progress: env.stderr,
		Incremental: *incremental, Full: *full, SkipAnalysis: *skip})
	if err != nil {
		return err
	}
	rep.Print(env.stdout)
	return nil
}
