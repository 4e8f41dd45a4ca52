package analytics

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pinpipe/pinpipe/analytics/sqldialect"
	"github.com/pinpipe/pinpipe/record"
)

// The incremental run computes the eight outputs from the day's rows and a summary of the
// history, with the stages of each analytics/sql file (see sqldialect):
//
//	partial  over the new pairs only: the pairs (joined on ind) with at least one row kept by
//	         this run. With one row per ind, kept once and for all, a pair once formed never
//	         changes, so the new pairs are new ⋈ (new ∪ unmatched) ∪ unmatched ⋈ new, where
//	         unmatched are the rows kept earlier whose partner has not come yet (kept in the
//	         state: few, the orphans). A partial over one table reads the new rows.
//	merge    over that and the merged partial rows kept from earlier runs: the new summary,
//	         kept for the next run.
//	final    over the summary: the output, as a full run gives it.
//
// Nothing reads the earlier runs' clean rows, except when the summary must be made from every
// row: on the first run, --full, after a kind is rebuilt, or for an output whose partial or
// merge stage changed since its summary was made (the state keeps a hash of them).

// analysed is what the incremental analyses leave for the state: per output, the DuckDB table
// of its merged partial rows; per pair of kinds ("pin-geo": pins with no geo yet), the table of
// the unmatched rows; each with the state file it is to be written to.
type analysed struct {
	merged    map[string]stateTable
	unmatched map[string]stateTable
}

// stateTable is a DuckDB table and the state file (relative to --out) it is written to.
type stateTable struct{ table, rel string }

// allView shows every row of kind k: this run's and the earlier runs' clean files.
func allView(k record.Kind) string { return "_all_" + string(k) }

// partialKinds are the kinds an output's partial stage reads: one, or two joined on ind.
func partialKinds(o Output, st sqldialect.Stages) ([]record.Kind, error) {
	var ks []record.Kind
	for _, name := range sqldialect.Relations(st.Partial) {
		if i := slices.IndexFunc(record.Kinds, func(k record.Kind) bool { return string(k) == name }); i >= 0 {
			ks = append(ks, record.Kinds[i])
		}
	}
	if len(ks) == 0 || len(ks) > 2 {
		return nil, fmt.Errorf("output %s (sql/%s.sql): the partial stage reads %d of the tables pin, geo and \"user\"; the incremental mode needs one, or two joined on ind", o.Name, o.Name, len(ks))
	}
	if len(ks) == 2 && outerJoin.MatchString(sqldialect.Mask(st.Partial)) {
		return nil, fmt.Errorf("output %s (sql/%s.sql): the partial stage's join must be an inner join on ind for the incremental mode", o.Name, o.Name)
	}
	return ks, nil
}

var outerJoin = regexp.MustCompile(`(?i)\b(left|right|full|outer|cross|natural)\b`)

// pairName names the rows of kind a with no row of kind b: "pin-geo".
func pairName(a, b record.Kind) string { return string(a) + "-" + string(b) }

// stagesHash identifies what an output's merged rows were made with: its partial and merge stages.
func stagesHash(st sqldialect.Stages) string {
	h := sha256.Sum256([]byte(st.Partial + "\x00" + st.Merge))
	return hex.EncodeToString(h[:8])
}

// mergedFile is where a run writes an output's merged rows: the hash of the stages that made
// them is in the name, so that rows made by another text of the file are never merged with
// this one's.
func mergedFile(run, output, hash string) string {
	return stateFileOf(run, "merged-"+output+"-"+hash+".parquet")
}

// analysisPlan is, for an incremental run, which outputs and pairs are computed from every row.
type analysisPlan struct {
	stages  map[string]sqldialect.Stages
	kinds   map[string][]record.Kind
	whole   map[string]bool // per output
	pairs   []([2]record.Kind)
	pairNew map[string]bool // per pair: no unmatched file to start from
	needAll [3]bool         // per kind: every row is read (history included)
}

// planAnalyses works out what analyse needs, before the views are made.
func (inc *incremental) planAnalyses() (*analysisPlan, error) {
	p := &analysisPlan{stages: map[string]sqldialect.Stages{}, kinds: map[string][]record.Kind{},
		whole: map[string]bool{}, pairNew: map[string]bool{}}
	for _, o := range Outputs {
		st, err := o.Stages()
		if err != nil {
			return nil, err
		}
		ks, err := partialKinds(o, st)
		if err != nil {
			return nil, err
		}
		p.stages[o.Name], p.kinds[o.Name] = st, ks
		old := ""
		if !inc.fresh() {
			old = inc.old.Merged[o.Name]
		}
		p.whole[o.Name] = inc.whole || !strings.HasSuffix(old, "/merged-"+o.Name+"-"+stagesHash(st)+".parquet")
		if len(ks) == 2 {
			for _, pr := range [][2]record.Kind{{ks[0], ks[1]}, {ks[1], ks[0]}} {
				if !slices.Contains(p.pairs, pr) {
					p.pairs = append(p.pairs, pr)
				}
			}
		}
	}
	for _, pr := range p.pairs {
		name := pairName(pr[0], pr[1])
		p.pairNew[name] = inc.whole || inc.fresh() || inc.old.Unmatched[name] == ""
	}
	// An output over a pair with no unmatched rows to start from is made from every row too.
	for name, ks := range p.kinds {
		if len(ks) == 2 && (p.pairNew[pairName(ks[0], ks[1])] || p.pairNew[pairName(ks[1], ks[0])]) {
			p.whole[name] = true
		}
		if p.whole[name] {
			for _, k := range ks {
				p.needAll[slices.Index(record.Kinds, k)] = true
			}
		}
	}
	for _, pr := range p.pairs {
		if p.pairNew[pairName(pr[0], pr[1])] {
			p.needAll[slices.Index(record.Kinds, pr[0])] = true
			p.needAll[slices.Index(record.Kinds, pr[1])] = true
		}
	}
	return p, nil
}

// analyse runs each output's partial over the new pairs (or, where the plan says, over every
// row), merges it with the output's merged rows from earlier runs into a table, and, when final
// is set, runs the final stage over it into rep.Results. It also makes the new unmatched rows.
func (inc *incremental) analyse(ctx context.Context, db *sql.DB, dir string, p *analysisPlan, final bool, rep *BatchReport) (*analysed, error) {
	an := &analysed{merged: map[string]stateTable{}, unmatched: map[string]stateTable{}}
	// rows binds kind a in a partial joining it with b (b == a: alone): every row, or the rows
	// that can form new pairs.
	rows := func(a, b record.Kind, whole bool) string {
		if whole {
			return "SELECT * FROM " + quoteIdent(allView(a))
		}
		q := "SELECT * FROM " + quoteIdent(newView(a))
		if a != b {
			q += " UNION ALL SELECT " + columnList(a) + " FROM " + parquetFiles(dir, []string{inc.old.Unmatched[pairName(a, b)]})
		}
		return q
	}
	for _, o := range Outputs {
		st, ks, whole := p.stages[o.Name], p.kinds[o.Name], p.whole[o.Name]
		var ctes []sqldialect.CTE
		for j, k := range ks {
			partner := ks[len(ks)-1-j]
			ctes = append(ctes, sqldialect.CTE{Name: string(k), Query: rows(k, partner, whole)})
		}
		part, err := sqldialect.With(st.Partial, ctes...)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", o.Name, err)
		}
		partials := "SELECT * FROM (\n" + part + "\n)"
		if !whole {
			partials += "\nUNION ALL\nSELECT * FROM " + parquetFiles(dir, []string{inc.old.Merged[o.Name]})
		}
		merge, err := sqldialect.With(st.Merge, sqldialect.CTE{Name: sqldialect.Partials, Query: partials})
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", o.Name, err)
		}
		table := "_merged_" + o.Name
		if _, err := db.ExecContext(ctx, "CREATE TABLE "+quoteIdent(table)+" AS "+merge); err != nil {
			return nil, fmt.Errorf("output %s (sql/%s.sql), partial and merge stages: %w", o.Name, o.Name, err)
		}
		if err := sameColumns(ctx, db, part, table); err != nil {
			return nil, fmt.Errorf("output %s (sql/%s.sql): %w", o.Name, o.Name, err)
		}
		an.merged[o.Name] = stateTable{table, mergedFile(inc.run, o.Name, stagesHash(st))}
		if final {
			q, err := sqldialect.With(st.Final, sqldialect.CTE{Name: sqldialect.Merged, Query: "SELECT * FROM " + quoteIdent(table)})
			if err != nil {
				return nil, fmt.Errorf("output %s: %w", o.Name, err)
			}
			res, err := runOutputSQL(ctx, db, o, q)
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, res)
		}
	}
	for _, pr := range p.pairs {
		a, b := pr[0], pr[1]
		table := "_only_" + pairName(a, b)
		whole := p.pairNew[pairName(a, b)]
		q := fmt.Sprintf("CREATE TABLE %s AS SELECT * FROM (%s) x WHERE NOT EXISTS (SELECT 1 FROM (%s) y WHERE y.ind = x.ind)",
			quoteIdent(table), rows(a, b, whole), rows(b, a, whole))
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("the %s rows with no %s row: %w", a, b, err)
		}
		an.unmatched[pairName(a, b)] = stateTable{table, stateFileOf(inc.run, "only-"+pairName(a, b)+".parquet")}
	}
	return an, nil
}

// sameColumns checks that a merge stage gives the partial stage's columns: its rows are merged
// again with the next run's partial rows.
func sameColumns(ctx context.Context, db *sql.DB, partial, merged string) error {
	cols := func(q string) ([]string, error) {
		rows, err := db.QueryContext(ctx, "SELECT * FROM ("+q+") LIMIT 0")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return rows.Columns()
	}
	p, err := cols(partial)
	if err != nil {
		return err
	}
	m, err := cols("SELECT * FROM " + quoteIdent(merged))
	if err != nil {
		return err
	}
	if !slices.Equal(p, m) {
		return fmt.Errorf("the merge stage gives the columns %v, the partial stage %v: they must be the same, as merged rows are merged again", m, p)
	}
	return nil
}

// fetchState makes the state files analyse reads present locally (S3): the merged rows and
// the unmatched rows it starts from.
func (inc *incremental) fetchState(ctx context.Context, out outStore, p *analysisPlan) error {
	if inc.fresh() {
		return nil
	}
	var rels []string
	for name, whole := range p.whole {
		if !whole {
			rels = append(rels, inc.old.Merged[name])
		}
	}
	for _, pr := range p.pairs {
		if name := pairName(pr[0], pr[1]); !p.pairNew[name] {
			rels = append(rels, inc.old.Unmatched[name])
		}
	}
	slices.Sort(rels)
	return out.fetch(ctx, slices.Compact(rels))
}
