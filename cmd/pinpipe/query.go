package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"

	"github.com/pinpipe/pinpipe/analytics"
)

func runQuery(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "query", `[--data DIR] [--format table|csv] "SQL"`)
	data := fs.String("data", "analysis", "the --out directory of a previous `pinpipe analyse` run (its clean/*.parquet are the tables pin, geo and \"user\")")
	format := fs.String("format", "table", "table (aligned, for people) or csv (for pipes)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || strings.TrimSpace(strings.Join(fs.Args(), " ")) == "" {
		fmt.Fprintln(fs.Output(), `want an SQL query, e.g. pinpipe query "SELECT category, count(*) FROM pin GROUP BY 1 ORDER BY 2 DESC"`)
		fs.Usage()
		return errUsage
	}
	if *format != "table" && *format != "csv" {
		fmt.Fprintf(fs.Output(), "--format %q: want table or csv\n", *format)
		return errUsage
	}
	res, err := analytics.Query(ctx, *data, strings.Join(fs.Args(), " "))
	if err != nil {
		return err
	}
	if *format == "csv" {
		w := csv.NewWriter(env.stdout)
		w.Write(res.Columns)
		rec := make([]string, len(res.Columns))
		for _, row := range res.Rows {
			for i, v := range row {
				rec[i] = analytics.FormatValue(v)
			}
			w.Write(rec)
		}
		w.Flush()
		return w.Error()
	}
	analytics.PrintTable(env.stdout, res.Columns, res.Rows, 0)
	fmt.Fprintf(env.stderr, "(%d rows)\n", len(res.Rows))
	return nil
}
