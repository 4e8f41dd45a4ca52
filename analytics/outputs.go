package analytics

import (
	"bufio"
	"context"
	"database/sql"
	"embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pinpipe/pinpipe/analytics/sqldialect"
)

// SQLFiles holds the eight analysis queries, one file per output (sql/<name>.sql), over tables
// pin, geo and "user", each in three stages (partial, merge, final; see analytics/sqldialect).
// The CDK side turns the same files into Athena named queries.
//
//go:embed sql/*.sql
var SQLFiles embed.FS

// Chart is how the report draws an output.
type Chart string

const (
	Bars Chart = "bar"  // one bar per row, labelled by the first column(s)
	Line Chart = "line" // a line over years, one per series
)

// Output is one output of the analysis contract.
type Output struct {
	Name    string   // file stem, also sql/<Name>.sql
	Title   string   // a human heading
	Columns []string // the contract's column names, in order
	Chart   Chart
	// Label and Value are the columns the chart uses; Series, when set, splits a line chart into
	// one line per value of that column.
	Label, Value, Series string
}

// Outputs lists the eight outputs in the contract's order.
var Outputs = []Output{
	{"top_category_by_country", "Most popular category in each country",
		[]string{"country", "category", "category_count"}, Bars, "country", "category_count", ""},
	{"top_category_by_year", "Most popular category each year, 2018–2022",
		[]string{"post_year", "category", "category_count"}, Line, "post_year", "category_count", ""},
	{"top_user_by_country", "Poster with the most followers in each country",
		[]string{"country", "poster_name", "follower_count"}, Bars, "country", "follower_count", ""},
	{"top_country_by_followers", "Country with the poster with the most followers",
		[]string{"country", "poster_name", "follower_count"}, Bars, "country", "follower_count", ""},
	{"median_followers_by_age_group", "Median follower count by age group",
		[]string{"age_group", "median_follower_count"}, Bars, "age_group", "median_follower_count", ""},
	{"users_joined_by_year", "Users joined each year, 2015–2020",
		[]string{"post_year", "number_users_joined"}, Line, "post_year", "number_users_joined", ""},
	{"median_followers_by_join_year", "Median follower count by joining year, 2015–2020",
		[]string{"post_year", "median_follower_count"}, Line, "post_year", "median_follower_count", ""},
	{"median_followers_by_join_year_and_age_group", "Median follower count by joining year and age group",
		[]string{"age_group", "post_year", "median_follower_count"}, Line, "post_year", "median_follower_count", "age_group"},
}

// File returns the text of an output's file, sql/<Name>.sql.
func (o Output) File() (string, error) {
	b, err := SQLFiles.ReadFile("sql/" + o.Name + ".sql")
	if err != nil {
		return "", fmt.Errorf("output %s: %w", o.Name, err)
	}
	return string(b), nil
}

// Stages returns the stages of an output's file.
func (o Output) Stages() (sqldialect.Stages, error) {
	f, err := o.File()
	if err != nil {
		return sqldialect.Stages{}, err
	}
	st, err := sqldialect.Split(f)
	if err != nil {
		return sqldialect.Stages{}, fmt.Errorf("output %s (sql/%s.sql): %w", o.Name, o.Name, err)
	}
	return st, nil
}

// SQL returns an output's file as one statement over the clean tables (sqldialect.Statement):
// what a full run executes, the text Athena's saved query holds.
func (o Output) SQL() (string, error) {
	f, err := o.File()
	if err != nil {
		return "", err
	}
	q, err := sqldialect.Statement(f)
	if err != nil {
		return "", fmt.Errorf("output %s (sql/%s.sql): %w", o.Name, o.Name, err)
	}
	return q, nil
}

// Result is the rows of one output. Values are int64, float64, string, time.Time, []any or nil.
type Result struct {
	Output  Output
	Columns []string
	Rows    [][]any
}

// runQuery runs an SQL text and collects its rows.
func runQuery(ctx context.Context, db *sql.DB, query string) ([]string, [][]any, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		out = append(out, vals)
	}
	return cols, out, rows.Err()
}

// runOutput runs one output's statement and checks its columns against the contract.
func runOutput(ctx context.Context, db *sql.DB, o Output) (*Result, error) {
	q, err := o.SQL()
	if err != nil {
		return nil, err
	}
	return runOutputSQL(ctx, db, o, q)
}

// runOutputSQL runs q, a form of output o's SQL, and checks its columns against the contract.
func runOutputSQL(ctx context.Context, db *sql.DB, o Output, q string) (*Result, error) {
	cols, rows, err := runQuery(ctx, db, q)
	if err != nil {
		return nil, fmt.Errorf("output %s (sql/%s.sql): %w", o.Name, o.Name, err)
	}
	if strings.Join(cols, ",") != strings.Join(o.Columns, ",") {
		return nil, fmt.Errorf("output %s (sql/%s.sql): columns %v, the contract says %v", o.Name, o.Name, cols, o.Columns)
	}
	return &Result{Output: o, Columns: cols, Rows: rows}, nil
}

// FormatValue writes a value as text: integers and floats in their shortest exact form
// (37500, 37250.5), timestamps as "2006-01-02 15:04:05", null as "".
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		if x.Nanosecond() != 0 {
			return x.UTC().Format("2006-01-02 15:04:05.999999")
		}
		return x.UTC().Format(time.DateTime)
	case []byte:
		return string(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = FormatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// writeCSV writes a header of the column names and one line per row.
func writeCSV(path string, r *Result) error {
	return writeFile(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(r.Columns); err != nil {
			return err
		}
		rec := make([]string, len(r.Columns))
		for _, row := range r.Rows {
			for i, v := range row {
				rec[i] = FormatValue(v)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// writeJSON writes an array of objects whose keys are the column names, in column order.
func writeJSON(path string, r *Result) error {
	return writeFile(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		bw.WriteString("[")
		for i, row := range r.Rows {
			if i > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n  {")
			for j, v := range row {
				if j > 0 {
					bw.WriteString(", ")
				}
				k, _ := json.Marshal(r.Columns[j])
				bw.Write(k)
				bw.WriteString(": ")
				if t, ok := v.(time.Time); ok {
					v = FormatValue(t)
				}
				b, err := json.Marshal(v)
				if err != nil {
					return fmt.Errorf("column %s: %w", r.Columns[j], err)
				}
				bw.Write(b)
			}
			bw.WriteString("}")
		}
		if len(r.Rows) > 0 {
			bw.WriteString("\n")
		}
		bw.WriteString("]\n")
		return bw.Flush()
	})
}

// writeFile creates path and writes it with fill, reporting the first error.
func writeFile(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// PrintTable writes columns and rows as an aligned table, at most limit rows (all when limit is
// 0), with a note of how many were left out.
func PrintTable(w io.Writer, cols []string, rows [][]any, limit int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	under := make([]string, len(cols))
	for i, c := range cols {
		under[i] = strings.Repeat("-", len(c))
	}
	fmt.Fprintln(tw, strings.Join(under, "\t"))
	shown := rows
	if limit > 0 && len(rows) > limit {
		shown = rows[:limit]
	}
	rec := make([]string, len(cols))
	for _, row := range shown {
		for i, v := range row {
			rec[i] = FormatValue(v)
			if v == nil {
				rec[i] = "NULL"
			}
		}
		fmt.Fprintln(tw, strings.Join(rec, "\t"))
	}
	tw.Flush()
	if len(shown) < len(rows) {
		fmt.Fprintf(w, "... %d more rows\n", len(rows)-len(shown))
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "(no rows)")
	}
}
