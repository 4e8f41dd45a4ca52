package athena

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pinpipe/pinpipe/analytics/sqldialect"
)

// Bind makes a query read other tables under the names it uses: each name of views becomes a
// common table expression defined by its SELECT, placed before the query's own (a leading WITH
// of the query is merged into the same list). The query text itself is unchanged, so the same
// analysis SQL can run over the batch tables (pin, geo, "user") or, bound, over the streaming
// tables. Names are quoted in the WITH list, so "user" is fine.
func Bind(sql string, views map[string]string) (string, error) {
	if len(views) == 0 {
		return sql, nil
	}
	names := make([]string, 0, len(views))
	for n := range views {
		if !identifier.MatchString(n) {
			return "", fmt.Errorf("athena.Bind: view name %q is not a plain identifier", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var defs []string
	for _, n := range names {
		if strings.TrimSpace(views[n]) == "" {
			return "", fmt.Errorf("athena.Bind: view %q has no SELECT", n)
		}
		defs = append(defs, fmt.Sprintf("%q AS (%s)", n, views[n]))
	}
	prelude := "WITH " + strings.Join(defs, ",\n     ")
	code := sqldialect.Mask(sql)
	start := strings.IndexFunc(code, func(r rune) bool { return r != ' ' && r != '\n' && r != '\t' && r != '\r' })
	if start < 0 {
		return "", fmt.Errorf("athena.Bind: empty query")
	}
	if loc := leadingWith.FindStringIndex(code[start:]); loc != nil {
		// "-- comments\nWITH a AS (...)" → "-- comments\nWITH <views>,\na AS (...)"
		return sql[:start] + prelude + ",\n" + sql[start+loc[1]:], nil
	}
	return sql[:start] + prelude + "\n" + sql[start:], nil
}

var (
	identifier  = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	leadingWith = regexp.MustCompile(`^(?i)with\s+`)
)
