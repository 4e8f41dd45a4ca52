package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/pinpipe/pinpipe/analytics"
	"github.com/pinpipe/pinpipe/local"
	"github.com/pinpipe/pinpipe/progress"
)

func runQuery(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "query", `[--data DIR | --stream [--api HOST:PORT]] [--format table|csv] (--file FILE.sql | [--] "SQL")`+"\n\n"+
		"Runs SQL over the clean tables of a `pinpipe analyse` run (--data), or over the stream tables\n"+
		"of a running `pinpipe serve` or `pinpipe local --keep-running` (--stream): <user-id>_pin_table,\n"+
		"_geo_table, _user_table, stream_repeats and stream_quarantine, read-only, from a copy the server\n"+
		"refreshes at most once a second.")
	data := fs.String("data", "analysis", "the --out directory of a previous `pinpipe analyse` run (its clean/<kind>/<kind>.parquet files are the tables pin, geo and \"user\")")
	stream := fs.Bool("stream", false, "query the stream tables of the running server at --api instead of --data")
	api := fs.String("api", local.DefaultAPIAddr, "with --stream: the running server's API address (its --api)")
	maxRows := fs.Int("max-rows", local.DefaultQueryRows, "with --stream: return at most this many rows")
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
	var res *analytics.Result
	var err error
	if *stream {
		res, err = streamQuery(ctx, *api, query, *maxRows, env)
	} else {
		res, err = analytics.Query(ctx, *data, query)
	}
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
	fmt.Fprintf(env.stderr, "(%s)\n", progress.Count(len(res.Rows), "row"))
	return nil
}

// streamQuery runs query on the stream tables of the server at api (host:port or a URL).
func streamQuery(ctx context.Context, api, query string, maxRows int, env *cliEnv) (*analytics.Result, error) {
	base := api
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	body, _ := json.Marshal(local.StreamQuery{SQL: query, MaxRows: maxRows})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+local.StreamQueryPath, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("--api %s: %w", api, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key := env.getenv(envAPIKey); key != "" {
		req.Header.Set("x-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("--stream: no pipeline answering at %s (start `pinpipe serve` or `pinpipe local --keep-running` first, or give its --api): %w", api, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("--stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.Unmarshal(raw, &e)
		msg := e.Error + e.Message
		if msg == "" {
			msg = strings.TrimSpace(string(raw))
		}
		return nil, fmt.Errorf("query (HTTP %d): %s", resp.StatusCode, msg)
	}
	var out local.StreamQueryResult
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("--stream: answer from %s: %w", api, err)
	}
	if out.Truncated {
		fmt.Fprintf(env.stderr, "(only the first %s: raise --max-rows, up to %d)\n", progress.Count(len(out.Rows), "row"), local.DefaultQueryRows)
	}
	return &analytics.Result{Columns: out.Columns, Rows: out.Rows}, nil
}
