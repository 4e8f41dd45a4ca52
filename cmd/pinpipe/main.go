// Command pinpipe is the one CLI of the pipeline: it makes source data, drives the REST API with
// the posting emulator, runs the batch analysis and runs the whole pipeline on one machine.
//
// Every subcommand has --help. Flags have environment-variable twins (PINPIPE_<FLAG>, upper case,
// '-' as '_'); credentials are read from files or the environment, never from flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run parses its own flags from args and writes to the given streams.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what a subcommand may touch of the outside world, so tests can run it in-process.
type cliEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// commands lists the subcommands in the order --help shows them.
var commands []command

func init() {
	commands = []command{
		// Each subcommand lives in its own file: {"name", "summary", runName}.
		{"generate", "write the synthetic source dataset (three JSONL files)", runGenerate},
		{"seed-db", "create and load the three source tables in MySQL/MariaDB", runSeedDB},
		{"emulate", "post source rows to the pipeline's REST API (batch or stream)", runEmulate},
		{"analyse", "run the batch analysis over the S3 sink's files (directory or S3)", runAnalyse},
		{"query", "run SQL over the clean tables of an analyse run", runQuery},
		{"sql", "print the analysis queries, as DuckDB or as Athena runs them", runSQL},
		{"local", "run the whole pipeline on this machine, emulator and analysis included", runLocal},
		{"serve", "serve the local pipeline (broker, API, sink, stream cleaner) until Ctrl-C", runServe},
		{"version", "print the version", runVersion},
	}
}

// errUsage marks an error already explained to the user with usage text.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(ctx, env, os.Args[1:]))
}

// run dispatches to a subcommand and returns the process exit status.
func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = []string{"version"}
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(env.stderr, "pinpipe %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "pinpipe: unknown command %q\n\n", args[0])
	usage(env.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "pinpipe: a Pinterest-style data pipeline, on AWS or on one machine.")
	fmt.Fprintln(w, "\nUsage: pinpipe <command> [flags]    (pinpipe <command> --help for its flags; pinpipe --version)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}
