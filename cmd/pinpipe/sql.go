package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/pinpipe/pinpipe/analytics"
	"github.com/pinpipe/pinpipe/analytics/sqldialect"
)

// runSQL prints the analysis queries as an engine runs them: each file's stages composed into one
// statement (sqldialect.Statement), the text a full `pinpipe analyse` runs in DuckDB; Athena's is
// the same text from the one translation, which also refuses DuckDB-only syntax (the text the
// deployed saved queries hold), so a scheduler can hand it to Athena as it is.
func runSQL(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "sql", "[--dialect duckdb|athena] [OUTPUT...]\n\n"+
		"Prints the SQL of the named outputs (all eight when none is named), over the tables pin,\n"+
		"geo and \"user\": each file's partial, merge and final stages as one statement.\n"+
		"Outputs: "+outputNames())
	dialect := fs.String("dialect", "duckdb", "duckdb (what `pinpipe analyse` runs) or athena (what Athena runs)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if *dialect != "duckdb" && *dialect != "athena" {
		fmt.Fprintf(fs.Output(), "--dialect %q: want duckdb or athena\n", *dialect)
		return errUsage
	}
	names := fs.Args()
	if len(names) == 0 {
		for _, o := range analytics.Outputs {
			names = append(names, o.Name)
		}
	}
	for i, name := range names {
		o, ok := findOutput(name)
		if !ok {
			fmt.Fprintf(fs.Output(), "unknown output %q; the outputs are %s\n", name, outputNames())
			return errUsage
		}
		q, err := o.SQL()
		if err != nil {
			return err
		}
		if *dialect == "athena" {
			f, err := o.File()
			if err != nil {
				return err
			}
			if q, err = sqldialect.Athena(f); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		if len(names) > 1 {
			if i > 0 {
				fmt.Fprintln(env.stdout)
			}
			fmt.Fprintf(env.stdout, "-- %s\n", name)
		}
		fmt.Fprint(env.stdout, q)
		if !strings.HasSuffix(q, "\n") {
			fmt.Fprintln(env.stdout)
		}
	}
	return nil
}

func findOutput(name string) (analytics.Output, bool) {
	for _, o := range analytics.Outputs {
		if o.Name == name {
			return o, true
		}
	}
	return analytics.Output{}, false
}

func outputNames() string {
	var n []string
	for _, o := range analytics.Outputs {
		n = append(n, o.Name)
	}
	return strings.Join(n, ", ")
}
