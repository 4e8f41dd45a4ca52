//go:build !duckdb_arrow

package analytics

// The batch job hands its rows to DuckDB as Arrow record batches (stage.go), and duckdb-go has
// its Arrow interface only when built with the duckdb_arrow tag. `make` sets it (GOFLAGS in the
// Makefile); by hand: go build -tags duckdb_arrow ./cmd/pinpipe. Without it the build stops here,
// on the name below, rather than on a missing function of duckdb-go.
var _ = build_with_tag_duckdb_arrow__make_sets_it__or_go_build_tags_duckdb_arrow
