// Command reference is the yardstick of BenchmarkAnalyse (issue 12): the simplest thing a data
// engineer would write instead of `pinpipe analyse`. One process, DuckDB in-process, no extension
// downloaded: read_json with explicit column types over the sink layout into <kind>_raw tables,
// the cleaning rules of DESIGN.md in SQL, one row per ind with DISTINCT ON, then the eight
// outputs as one plain query each, with DuckDB's native median() (sql/, as a data engineer writes
// them: no partial and merge stages), read back into Go. It writes no file; it prints the eight
// outputs as CSV on stdout so the benchmark can check both give the same answers.
//
// It is a benchmark's reference and an independent check only: the cleaning rules live once, in
// package clean, and the analyses once, in analytics/sql.
package main

import (
	"context"
	"database/sql"
	"embed"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/pinpipe/pinpipe/analytics"
)

// cleanSQL is the reference's cleaning, as the issue defines it (%[1]s is the input root, %[2]s
// the user id).
const cleanSQL = `
CREATE TABLE pin_raw AS SELECT * FROM read_json('%[1]s/topics/%[2]s.pin/partition=*/*.json',
  format = 'newline_delimited', columns = {
    "index": 'BIGINT', unique_id: 'VARCHAR', title: 'VARCHAR', description: 'VARCHAR', poster_name: 'VARCHAR',
    follower_count: 'VARCHAR', tag_list: 'VARCHAR', is_image_or_video: 'VARCHAR', image_src: 'VARCHAR',
    downloaded: 'BIGINT', save_location: 'VARCHAR', category: 'VARCHAR'});
CREATE TABLE geo_raw AS SELECT * FROM read_json('%[1]s/topics/%[2]s.geo/partition=*/*.json',
  format = 'newline_delimited', columns = {
    ind: 'BIGINT', "timestamp": 'VARCHAR', latitude: 'DOUBLE', longitude: 'DOUBLE', country: 'VARCHAR'});
CREATE TABLE user_raw AS SELECT * FROM read_json('%[1]s/topics/%[2]s.user/partition=*/*.json',
  format = 'newline_delimited', columns = {
    ind: 'BIGINT', first_name: 'VARCHAR', last_name: 'VARCHAR', age: 'BIGINT', date_joined: 'VARCHAR'});

CREATE TABLE pin AS
SELECT DISTINCT ON (ind) * FROM (
  SELECT "index" AS ind,
    nullif(trim(unique_id), '') AS unique_id,
    CASE WHEN trim(title) IN ('', 'No Title Data Available') THEN NULL ELSE title END AS title,
    CASE WHEN trim(description) IN ('', 'No description available Story format', 'No description available', 'Untitled') THEN NULL ELSE description END AS description,
    CASE WHEN regexp_full_match(follower_count, '[0-9]+k') THEN CAST(rtrim(follower_count, 'k') AS BIGINT) * 1000
         WHEN regexp_full_match(follower_count, '[0-9]+M') THEN CAST(rtrim(follower_count, 'M') AS BIGINT) * 1000000
         WHEN regexp_full_match(follower_count, '[0-9]+') THEN CAST(follower_count AS BIGINT) END AS follower_count,
    CASE WHEN trim(poster_name) IN ('', 'User Info Error') THEN NULL ELSE poster_name END AS poster_name,
    CASE WHEN trim(tag_list) IN ('', 'N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e') THEN NULL ELSE tag_list END AS tag_list,
    nullif(trim(is_image_or_video), '') AS is_image_or_video,
    CASE WHEN trim(image_src) IN ('', 'Image src error.') THEN NULL ELSE image_src END AS image_src,
    nullif(regexp_extract(save_location, '/.*'), '') AS save_location,
    nullif(trim(category), '') AS category
  FROM pin_raw);
CREATE TABLE geo AS
SELECT DISTINCT ON (ind) ind, nullif(trim(country), '') AS country,
  CASE WHEN latitude IS NULL OR longitude IS NULL THEN NULL ELSE [latitude, longitude] END AS coordinates,
  CAST(replace("timestamp", 'T', ' ') AS TIMESTAMP) AS "timestamp"
FROM geo_raw;
CREATE TABLE "user" AS
SELECT DISTINCT ON (ind) ind,
  nullif(concat_ws(' ', nullif(trim(first_name), ''), nullif(trim(last_name), '')), '') AS user_name,
  age, CAST(replace(date_joined, 'T', ' ') AS TIMESTAMP) AS date_joined
FROM user_raw;
`

// queries are the eight outputs as plain DuckDB queries, sql/<output>.sql.
//
//go:embed sql/*.sql
var queries embed.FS

// noDownloads keeps DuckDB from fetching or auto-loading any extension: json is built in.
const noDownloads = "?autoinstall_known_extensions=false&autoload_known_extensions=false&allow_community_extensions=false"

func main() {
	input := flag.String("input", "", "the folder holding topics/")
	userID := flag.String("user-id", "demo", "the user id of the topics")
	flag.Parse()
	if err := run(context.Background(), *input, *userID); err != nil {
		fmt.Fprintln(os.Stderr, "reference:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, input, userID string) error {
	c, err := duckdb.NewConnector(noDownloads, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := db.ExecContext(ctx, fmt.Sprintf(cleanSQL, strings.TrimSuffix(input, "/"), userID)); err != nil {
		return fmt.Errorf("cleaning: %w", err)
	}
	w := csv.NewWriter(os.Stdout)
	for _, o := range analytics.Outputs {
		q, err := queries.ReadFile("sql/" + o.Name + ".sql")
		if err != nil {
			return err
		}
		rows, err := db.QueryContext(ctx, string(q))
		if err != nil {
			return fmt.Errorf("%s: %w", o.Name, err)
		}
		cols, _ := rows.Columns()
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return fmt.Errorf("%s: %w", o.Name, err)
			}
			out = append(out, vals)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("%s: %w", o.Name, err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s: %w", o.Name, err)
		}
		w.Write([]string{"# " + o.Name})
		w.Write(cols)
		rec := make([]string, len(cols))
		for _, row := range out {
			for i, v := range row {
				rec[i] = analytics.FormatValue(v)
			}
			w.Write(rec)
		}
	}
	w.Flush()
	return w.Error()
}
