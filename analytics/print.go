package analytics

import (
	"fmt"
	"github.com/pinpipe/pinpipe/progress"
	"io"
	"strings"
)

// printRows is how many rows of an output Print shows; the files have them all.
const printRows = 25

// Print writes what the run read, the eight outputs as aligned tables and where the results are.
func (r *BatchReport) Print(w io.Writer) {
	fmt.Fprintf(w, "Read %s for user %s:\n", r.Input, r.UserID)
	cols := []string{"table", "objects", "records", "rows", "repeats", "quarantined"}
	var rows [][]any
	for _, k := range r.Kinds {
		rows = append(rows, []any{string(k.Kind), int64(k.Objects), k.Records, k.Rows, k.Duplicates, k.Quarantined})
	}
	PrintTable(w, cols, rows, 0)
	if r.Run != "" {
		var read, skipped, late int
		var hist, rows int64
		var rebuilt, compacted []string
		for _, k := range r.Kinds {
			read, skipped, late, hist, rows = read+k.Objects, skipped+k.Skipped, late+k.Late, hist+k.HistoryRows, rows+k.Rows
			if k.Rebuilt {
				rebuilt = append(rebuilt, string(k.Kind))
			}
			if k.Compacted {
				compacted = append(compacted, string(k.Kind))
			}
		}
		fmt.Fprintf(w, "Incremental run %s: read %s (%d late, below their partition's watermark), skipped %d read before; %s, %d from earlier runs\n",
			r.Run, progress.Count(read, "object"), late, skipped, progress.Count(rows, "new row"), hist)
		if r.Rebuilt != "" {
			fmt.Fprintf(w, "Rebuilt the state from every object: %s\n", r.Rebuilt)
		}
		if len(rebuilt) > 0 {
			fmt.Fprintf(w, "Rebuilt %s from every object: an ind kept by an earlier run came again with a different record\n", strings.Join(rebuilt, ", "))
		}
		if len(compacted) > 0 {
			fmt.Fprintf(w, "Compacted the clean files of %s into one each\n", strings.Join(compacted, ", "))
		}
		if len(r.Removed) > 0 {
			fmt.Fprintf(w, "Removed %s no longer part of the tables (e.g. %s)\n", progress.Count(len(r.Removed), "file"), r.Removed[0])
		}
	}
	if len(r.Ignored) > 0 {
		fmt.Fprintf(w, "Ignored %s not in the sink layout, e.g. %s\n", progress.Count(len(r.Ignored), "object"), r.Ignored[0])
	}
	for _, res := range r.Results {
		fmt.Fprintf(w, "\n%s (%s)\n", res.Output.Title, res.Output.Name)
		PrintTable(w, res.Columns, res.Rows, printRows)
	}
	fmt.Fprintf(w, "\nRead, clean and load %s · analyse %s · write %s · total %s\n",
		r.Read.Round(1e6), r.Analyse.Round(1e6), r.Write.Round(1e6), r.Total.Round(1e6))
	out := strings.TrimSuffix(r.Out, "/")
	q := "quarantine.jsonl"
	if r.Run != "" {
		q = "this run's quarantine"
	}
	fmt.Fprintf(w, "Results in %s/ (%s; %s has %s)\n", out, progress.Count(len(r.Files), "file"), q, progress.Count(r.Quarantined(), "line"))
	if r.ReportPath != "" {
		fmt.Fprintf(w, "Report: %s\n", r.ReportPath)
	}
}
