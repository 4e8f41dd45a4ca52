// Package sqldialect is the one place that knows where DuckDB's SQL and Athena's (Trino's) differ.
//
// The analysis queries are written once (analytics/sql), in DuckDB's dialect, and the batch job
// runs them as they are. Athena runs them through Athena, which rewrites what Trino lacks:
//
//  1. median(x), DuckDB's exact median, has no Trino equivalent (Trino has only
//     approx_percentile). Athena rewrites it to MedianExpr(x): the mean of the one or two
//     middle elements of the sorted non-null values, NULL when there are none — the same value,
//     in SQL that both engines run (TestMedianExprIsTheExactMedian checks it against DuckDB).
//  2. DuckDB-only syntax with no rewrite here (listed in duckdbOnly: `::` casts, QUALIFY,
//     ILIKE, list_* and struct functions, read_* table functions, ...) is an error naming the
//     file's line, so the CDK synth stops instead of Athena failing later.
//
// It is a runtime package (no CDK, no cgo) so that both sides use it: the CDK's saved queries
// (constructs/athena, stacks) and the CLI (`pinpipe sql --dialect athena`).
package sqldialect

import (
	"fmt"
	"regexp"
	"strings"
)

// Athena returns the query in Athena's dialect. Comments and quoted text are left alone.
func Athena(sql string) (string, error) {
	code := Mask(sql)
	for _, d := range duckdbOnly {
		if loc := d.re.FindStringIndex(code); loc != nil {
			return "", fmt.Errorf("sqldialect.Athena: line %d: %s is DuckDB-only; %s", line(sql, loc[0]), d.what, d.instead)
		}
	}
	var b strings.Builder
	last := 0
	for _, loc := range medianCall.FindAllStringIndex(code, -1) {
		if loc[0] < last {
			continue // inside the argument of a median already rewritten
		}
		open := loc[1] - 1
		end, err := closing(code, open)
		if err != nil {
			return "", fmt.Errorf("sqldialect.Athena: line %d: median: %w", line(sql, loc[0]), err)
		}
		arg := strings.TrimSpace(sql[open+1 : end])
		if arg == "" || !oneArgument(code[open+1:end]) {
			return "", fmt.Errorf("sqldialect.Athena: line %d: median takes one argument, got %q", line(sql, loc[0]), arg)
		}
		b.WriteString(sql[last:loc[0]])
		b.WriteString(MedianExpr(arg))
		last = end + 1
	}
	b.WriteString(sql[last:])
	return b.String(), nil
}

// MedianExpr is the exact median of the expression x (see Athena), valid in Trino and DuckDB.
func MedianExpr(x string) string {
	sorted := fmt.Sprintf("array_sort(array_agg(%s) FILTER (WHERE %s IS NOT NULL))", x, x)
	return fmt.Sprintf("(CASE WHEN count(%[1]s) = 0 THEN NULL ELSE "+
		"(%[2]s[CAST(floor((count(%[1]s) + 1) / 2e0) AS BIGINT)] + %[2]s[CAST(floor(count(%[1]s) / 2e0) + 1 AS BIGINT)]) / 2e0 END)",
		x, sorted)
}

var medianCall = regexp.MustCompile(`(?i)\bmedian\s*\(`)

type dialectRule struct {
	re            *regexp.Regexp
	what, instead string
}

var duckdbOnly = []dialectRule{
	{regexp.MustCompile(`::`), "the :: cast", "write CAST(x AS type)"},
	{regexp.MustCompile(`(?i)\bqualify\b`), "QUALIFY", "filter a window function's result in an outer query"},
	{regexp.MustCompile(`(?i)\bilike\b`), "ILIKE", "write lower(x) LIKE lower(pattern)"},
	{regexp.MustCompile(`(?i)\*\s*(exclude|replace)\s*\(`), "SELECT * EXCLUDE/REPLACE", "list the columns"},
	{regexp.MustCompile(`(?i)\b(list_\w+|struct_\w+|read_\w+|quantile\w*|date_part|strftime|epoch)\s*\(`), "this function", "use a function Trino has too"},
	{regexp.MustCompile(`//`), "// integer division", "write CAST(floor(a / b) AS BIGINT)"},
}

// Mask returns sql with comments and quoted text replaced by spaces (same length, newlines
// kept), so that rules only see code.
func Mask(sql string) string {
	b := []byte(sql)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '-' && i+1 < len(b) && b[i+1] == '-':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '*':
			j := i
			for ; j < len(b) && !(b[j] == '*' && j+1 < len(b) && b[j+1] == '/'); j++ {
				if b[j] != '\n' {
					b[j] = ' '
				}
			}
			for k := j; k < min(j+2, len(b)); k++ {
				b[k] = ' '
			}
			i = j + 1
		case b[i] == '\'' || b[i] == '"':
			// Quoted text keeps its quotes so that "x = 'a'" still reads as code around it.
			q := b[i]
			for i++; i < len(b) && b[i] != q; i++ {
				if b[i] != '\n' {
					b[i] = ' '
				}
			}
		}
	}
	return string(b)
}

func line(s string, off int) int { return strings.Count(s[:off], "\n") + 1 }

// closing returns the index of the parenthesis closing the one at open (code is masked).
func closing(code string, open int) (int, error) {
	depth := 0
	for i := open; i < len(code); i++ {
		switch code[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("unbalanced parentheses")
}

// oneArgument reports whether every comma of the (masked) argument list is nested in
// parentheses, e.g. median(coalesce(a, b)).
func oneArgument(args string) bool {
	depth := 0
	for _, ch := range args {
		switch ch {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				return false
			}
		}
	}
	return true
}
