package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"strings"

	"github.com/pinpipe/pinpipe/analytics"
)

func runQuery(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "query", `[--data DIR] [--format table|csv] (--file FILE.sql | [--] "SQL")`)
	data := fs.String("data", "analysis", "the --out directory of a previous `pinpipe analyse` run (its clean/<kind>/<kind>.parquet files are the tables pin, geo and \"user\")")
	format := fs.String("format", "table", "table (aligned, for people) or csv (for pipes)")
	file := fs.String("file", "", "read the query from this file (e.g. one of analytics/sql/*.sql) instead of the arguments")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	query := strings.Join(fs.Args(), " ")
	if *file != "" {
		if fs.NArg() > 0 {
			fmt.Fprintln(fs.Output(), "give the query either with --file or as arguments, not both")
			return errUsage
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		query = string(b)
	}
	if strings.TrimSpace(query) == "" {
		fmt.Fprintln(fs.Output(), `want an SQL query, e.g. pinpipe query "SELECT category, count(*) FROM pin GROUP BY 1 ORDER BY 2 DESC"`)
		fmt.Fprintln(fs.Output(), `(a query that starts with "-" goes after "--": pinpipe query -- "-- comment ...")`)
		fs.Usage()
		return errUsage
	}
	if *format != "table" && *format != "csv" {
		fmt.Fprintf(fs.Output(), "--format %q: want table or csv\n", *format)
		return errUsage
	}
	res, err := analytics.Query(ctx, *data, query)
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
