// Package sqldialect is the one place that knows how the analysis SQL is laid out and where
// DuckDB's SQL and Athena's (Trino's) differ.
//
// Each analysis (analytics/sql/<output>.sql) is written once, in SQL both engines run, as three
// stages, each starting at a marker comment line:
//
//	-- @partial  over the clean tables pin, geo and "user": the rows of any set of posts, in a
//	             form that merges (e.g. counts per key, or the rows themselves)
//	-- @merge    over "partials" (any union of partial or merged rows): one summary, e.g. the
//	             counts added up per key. Merging merged rows again changes nothing.
//	-- @final    over "merged": the answer (ranking, ties, medians from value counts, order)
//
// Statement composes them into one statement over the clean tables,
//
//	WITH partials AS (<partial>), merged AS (<merge>) <final>
//
// which is what a full run of the batch job executes, what Athena's saved queries hold and what
// `pinpipe sql` prints. The incremental batch job runs the same stages apart: the partial over
// the day's new rows only, the merge over that and the summary kept from earlier runs, the final
// over the merged summary (analytics/incremental.go). There is no second text of any rule.
//
// Athena refuses DuckDB-only syntax (listed in duckdbOnly: `::` casts, QUALIFY, ILIKE, median(),
// list_* and struct functions, read_* table functions, ...) with an error naming the file's line,
// so the CDK synth stops instead of Athena failing later.
//
// It is a runtime package (no CDK, no cgo) so that both sides use it: the CDK's saved queries
// (constructs/athena, stacks) and the CLI (`pinpipe sql`, `pinpipe query --file`).
package sqldialect

import (
	"fmt"
	"regexp"
	"strings"
)

// The names the stages read: the merge reads Partials, the final reads Merged.
const (
	Partials = "partials"
	Merged   = "merged"
)

// Stages is an analysis file cut at its stage markers.
type Stages struct {
	// Header is the text before the first marker: the file's comments.
	Header string
	// Partial, Merge and Final are the stages: each its marker line as a plain comment
	// ("-- @partial: x" becomes "-- partial: x"), the comments after it and its statement.
	Partial, Merge, Final string
}

var stageMarker = regexp.MustCompile(`(?m)^--[ \t]*@(partial|merge|final)\b.*$`)

// HasStages reports whether sql is laid out in stages (has a stage marker line).
func HasStages(sql string) bool { return len(markers(sql)) > 0 }

// markers returns the positions of the stage marker lines that are line comments (not inside
// quoted text or a block comment).
func markers(sql string) [][]int {
	return stageMarker.FindAllStringSubmatchIndex(mask(sql, false), -1)
}

// Split cuts an analysis file into its stages: a marker for each of partial, merge and final,
// in that order, each followed by a statement.
func Split(sql string) (Stages, error) {
	ms := markers(sql)
	want := []string{"partial", "merge", "final"}
	if len(ms) != len(want) {
		return Stages{}, fmt.Errorf("sqldialect.Split: want the stage markers -- @partial, -- @merge and -- @final (one each, in that order, at the start of a line), found %d", len(ms))
	}
	st := Stages{Header: sql[:ms[0][0]]}
	parts := []*string{&st.Partial, &st.Merge, &st.Final}
	for i, m := range ms {
		if name := sql[m[2]:m[3]]; name != want[i] {
			return Stages{}, fmt.Errorf("sqldialect.Split: line %d: -- @%s where -- @%s belongs (the stages go partial, merge, final)", line(sql, m[0]), name, want[i])
		}
		end := len(sql)
		if i+1 < len(ms) {
			end = ms[i+1][0]
		}
		body := strings.TrimSpace(sql[m[1]:end])
		body = strings.TrimSpace(strings.TrimSuffix(body, ";"))
		if strings.TrimSpace(Mask(body)) == "" {
			return Stages{}, fmt.Errorf("sqldialect.Split: line %d: the %s stage has no statement", line(sql, m[0]), want[i])
		}
		if strings.Contains(Mask(body), ";") {
			return Stages{}, fmt.Errorf("sqldialect.Split: line %d: the %s stage holds more than one statement", line(sql, m[0]), want[i])
		}
		// The marker line stays as the stage's first comment, without its @: the stage reads
		// as documented wherever it goes, and a composed statement has no markers left.
		*parts[i] = "-- " + want[i] + sql[m[3]:m[1]] + "\n" + body
	}
	if !reads(st.Merge, Partials) {
		return Stages{}, fmt.Errorf("sqldialect.Split: the merge stage must read %s", Partials)
	}
	if !reads(st.Final, Merged) {
		return Stages{}, fmt.Errorf("sqldialect.Split: the final stage must read %s", Merged)
	}
	for _, n := range []string{Partials, Merged} {
		if reads(st.Partial, n) {
			return Stages{}, fmt.Errorf("sqldialect.Split: the partial stage reads the clean tables, not %s", n)
		}
	}
	return st, nil
}

// reads reports whether the code of sql names the relation name after FROM or JOIN.
func reads(sql, name string) bool {
	for _, r := range Relations(sql) {
		if r == name {
			return true
		}
	}
	return false
}

var (
	relationKeyword = regexp.MustCompile(`(?i)\b(?:from|join)\s+`)
	selectKeyword   = regexp.MustCompile(`(?i)\bselect\b`)
)

// Relations lists the names a query reads after FROM or JOIN (tables or common table
// expressions), lower case, unquoted, in order of appearance, each once. Comments are skipped;
// a quoted name ("user") counts; the FROM of EXTRACT(YEAR FROM x), TRIM or SUBSTRING does not.
func Relations(sql string) []string {
	code := Mask(sql)
	seen := map[string]bool{}
	var out []string
	for _, m := range relationKeyword.FindAllStringIndex(code, -1) {
		if open := innermostOpen(code[:m[0]]); open >= 0 && !selectKeyword.MatchString(code[open:m[0]]) {
			continue // inside a call's parentheses, not a subquery
		}
		rest := sql[m[1]:] // from the original text: Mask blanks quoted names
		var name string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				continue
			}
			name = rest[1 : 1+end]
		} else {
			end := strings.IndexFunc(rest, func(r rune) bool {
				return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
			})
			if end < 0 {
				end = len(rest)
			}
			name = rest[:end]
		}
		name = strings.ToLower(name)
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// innermostOpen returns the index of the last parenthesis of code that is not closed, or -1.
func innermostOpen(code string) int {
	depth := 0
	for i := len(code) - 1; i >= 0; i-- {
		switch code[i] {
		case ')':
			depth++
		case '(':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

// CTE is a name bound to a query by With.
type CTE struct {
	Name, Query string
}

var (
	cteName     = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	leadingWith = regexp.MustCompile(`^(?i)with\s+`)
)

// With makes query read the given common table expressions under their names: they are placed
// before the query's own (a leading WITH of the query is merged into the same list; comments
// before the query stay first). The query text itself is unchanged. A multi-line definition is
// indented on lines of its own.
func With(query string, ctes ...CTE) (string, error) {
	return with(query, "", ctes)
}

// with is With; notes (comment lines) go after the common table expressions, before the query's
// own code.
func with(query, notes string, ctes []CTE) (string, error) {
	if len(ctes) == 0 {
		return query, nil
	}
	prelude := "WITH "
	for i, c := range ctes {
		if !cteName.MatchString(c.Name) {
			return "", fmt.Errorf("sqldialect.With: name %q is not a plain lower-case identifier", c.Name)
		}
		q := strings.TrimSpace(c.Query)
		if strings.TrimSpace(Mask(q)) == "" {
			return "", fmt.Errorf("sqldialect.With: %q has no query", c.Name)
		}
		sep := ",\n     " // one-line definitions line up under the first
		if strings.Contains(q, "\n") {
			q = "\n    " + strings.ReplaceAll(q, "\n", "\n    ") + "\n"
			sep = ",\n"
		}
		if i > 0 {
			prelude += sep
		}
		prelude += fmt.Sprintf("%q AS (%s)", c.Name, q)
	}
	start := codeStart(query)
	if start < 0 {
		return "", fmt.Errorf("sqldialect.With: empty query")
	}
	if loc := leadingWith.FindStringIndex(Mask(query)[start:]); loc != nil {
		// "-- comments\nWITH a AS (...)" → "-- comments\nWITH <ctes>,\na AS (...)"
		return query[:start] + prelude + ",\n" + notes + query[start+loc[1]:], nil
	}
	return query[:start] + prelude + "\n" + notes + query[start:], nil
}

// codeStart is the index of the first character of sql that is code (not space or comment),
// or -1.
func codeStart(sql string) int {
	return strings.IndexFunc(Mask(sql), func(r rune) bool { return r != ' ' && r != '\n' && r != '\t' && r != '\r' })
}

// Statement composes an analysis file's stages into one statement over the clean tables:
// WITH partials AS (<partial>), merged AS (<merge>) <final>, after the file's header comments.
// A file without stage markers is returned as it is.
func Statement(sql string) (string, error) {
	if !HasStages(sql) {
		return sql, nil
	}
	st, err := Split(sql)
	if err != nil {
		return "", err
	}
	// The final's comments stay next to its code, after the stages it reads.
	start := codeStart(st.Final)
	q, err := with(st.Final[start:], st.Final[:start], []CTE{{Partials, st.Partial}, {Merged, st.Merge}})
	if err != nil {
		return "", err
	}
	return st.Header + q + "\n", nil
}

// Athena returns an analysis file as the one statement Athena runs (Statement), after checking
// that it holds no DuckDB-only syntax. Comments and quoted text are left alone.
func Athena(sql string) (string, error) {
	code := Mask(sql)
	for _, d := range duckdbOnly {
		if loc := d.re.FindStringIndex(code); loc != nil {
			return "", fmt.Errorf("sqldialect.Athena: line %d: %s is DuckDB-only; %s", line(sql, loc[0]), d.what, d.instead)
		}
	}
	return Statement(sql)
}

type dialectRule struct {
	re            *regexp.Regexp
	what, instead string
}

var duckdbOnly = []dialectRule{
	{regexp.MustCompile(`::`), "the :: cast", "write CAST(x AS type)"},
	{regexp.MustCompile(`(?i)\bqualify\b`), "QUALIFY", "filter a window function's result in an outer query"},
	{regexp.MustCompile(`(?i)\bilike\b`), "ILIKE", "write lower(x) LIKE lower(pattern)"},
	{regexp.MustCompile(`(?i)\*\s*(exclude|replace)\s*\(`), "SELECT * EXCLUDE/REPLACE", "list the columns"},
	{regexp.MustCompile(`(?i)\bmedian\s*\(`), "median()", "Trino has only an approximate median: count the values per group in the partial stage and take the middle ones in the final (see analytics/sql/median_followers_by_age_group.sql)"},
	{regexp.MustCompile(`(?i)\b(list_\w+|struct_\w+|read_\w+|quantile\w*|date_part|strftime|epoch)\s*\(`), "this function", "use a function Trino has too"},
	{regexp.MustCompile(`//`), "// integer division", "write CAST(floor(a / b) AS BIGINT)"},
}

// Mask returns sql with comments and quoted text replaced by spaces (same length, newlines
// kept), so that rules only see code.
func Mask(sql string) string { return mask(sql, true) }

// mask is Mask; lineComments false keeps -- comments as they are.
func mask(sql string, lineComments bool) string {
	b := []byte(sql)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '-' && i+1 < len(b) && b[i+1] == '-' && !lineComments:
			for ; i < len(b) && b[i] != '\n'; i++ {
			}
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
