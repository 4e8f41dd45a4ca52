package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/pinpipe/pinpipe/emulator"
	"github.com/pinpipe/pinpipe/progress"
)

func runGenerate(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "generate", "--out DIR [--rows N] [--seed S]\n\n"+
		"Writes the synthetic source dataset as pinterest_data.jsonl, geolocation_data.jsonl and\n"+
		"user_data.jsonl in DIR: rows aligned by index, with the dirty values of the real source.\n"+
		"The same seed and rows give the same bytes.")
	out := fs.String("out", "", "directory to write the three files to (created if missing)")
	rows := fs.Int("rows", emulator.DefaultRows, "rows per table (indices 0 to rows-1)")
	seed := fs.Int64("seed", emulator.DefaultSeed, "random seed")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(fs.Output(), "--out is required")
		fs.Usage()
		return errUsage
	}
	d, err := emulator.Generate(*seed, *rows)
	if err != nil {
		return errors.New("--" + err.Error())
	}
	if err := d.WriteFiles(*out); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "wrote %s per table (seed %d) to %s: pinterest_data.jsonl, geolocation_data.jsonl, user_data.jsonl\n",
		progress.Count(d.Len(), "row"), *seed, *out)
	return nil
}
