package athena

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/pinpipe/pinpipe/analytics/sqldialect"
)

// Bind makes a query read other tables under the names it uses: each name of views becomes a
// common table expression defined by its SELECT, placed before the query's own (a leading WITH
// of the query is merged into the same list; sqldialect.With). The query text itself is
// unchanged, so the same analysis SQL can run over the batch tables (pin, geo, "user") or, bound,
// over the streaming tables. Names are quoted in the WITH list, so "user" is fine.
func Bind(sql string, views map[string]string) (string, error) {
	names := make([]string, 0, len(views))
	for n := range views {
		if !identifier.MatchString(n) {
			return "", fmt.Errorf("athena.Bind: view name %q is not a plain identifier", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	ctes := make([]sqldialect.CTE, 0, len(names))
	for _, n := range names {
		ctes = append(ctes, sqldialect.CTE{Name: n, Query: views[n]})
	}
	q, err := sqldialect.With(sql, ctes...)
	if err != nil {
		return "", fmt.Errorf("athena.Bind: %w", err)
	}
	return q, nil
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
