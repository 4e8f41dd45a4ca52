// Package outlayout names the folders `pinpipe analyse` keeps under its --out beside the eight
// outputs and the report: the clean tables, the incremental state and the quarantine. It holds
// no code that needs DuckDB (no cgo), so that the CDK side can grant the batch task exactly
// these folders of the results bucket (stacks/batch.go) from the same names the job uses.
package outlayout

// The folders of --out whose files belong to the incremental state, relative to --out.
const (
	// Clean holds the clean Parquet tables, clean/<kind>/ (one file per run in the incremental
	// mode); Athena's Glue tables read them.
	Clean = "clean"
	// State holds state.json (the commit point) and each run's state files.
	State = "_state"
	// Quarantine holds the lines each incremental run could not use.
	Quarantine = "quarantine"
)

// StateFolders are the folders an incremental run lists and removes files in (a run that did
// not finish leaves files there that the next one removes; a run without --incremental empties
// them). No run removes anything outside them.
var StateFolders = []string{Clean, State, Quarantine}

// ReadBackFolders are the folders of StateFolders whose files a later run reads: the state it
// goes on from, and the clean rows of earlier runs (the analyses and the compaction read them).
// Quarantine files are written and removed, never read.
var ReadBackFolders = []string{Clean, State}
