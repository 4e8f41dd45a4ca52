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
	fmt.Fprintf(w, "Results in %s/ (%s; quarantine.jsonl has %s)\n", out, progress.Count(len(r.Files), "file"), progress.Count(r.Quarantined(), "line"))
	fmt.Fprintf(w, "Report: %s\n", r.ReportPath)
}
