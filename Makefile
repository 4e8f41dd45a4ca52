# The two commands a newcomer needs: `make demo` (the whole pipeline on this machine) and
# `make test` (installs what the tests need, then lint and every test). See README.md.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/pinpipe
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# The batch job hands its rows to DuckDB as Arrow record batches: duckdb-go has its Arrow
# interface only with this build tag. Every go command below (and the go builds tests run) gets it.
export GOFLAGS := $(strip $(GOFLAGS) -tags=duckdb_arrow)

.PHONY: all build install demo test test-go setup lint bench bench-analyse bench-incremental bench-soak synth fmt clean

all: build

# build says what the first (cgo, DuckDB) build costs before starting it, and shows its progress.
build:
	@GO=$(GO) ./scripts/build.sh $(BIN)

# install puts pinpipe in $(go env GOPATH)/bin, for running it from anywhere.
install:
	$(GO) install ./cmd/pinpipe

demo: build
	./$(BIN) local

# setup installs the real parts the tests drive (MariaDB, Chromium, kcat, shellcheck from apt;
# the CDK CLI, velocityjs and kinesalite from npm). It does nothing when they are present.
setup:
	./scripts/setup.sh

test: setup lint test-go

test-go:
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -race -count=1 -timeout 20m -run 'TestEndToEnd|TestCleanerCrash|TestSinkCrash|TestAPIContract' ./local

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) tool actionlint

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 120m ./...

# Issue 12: pinpipe analyse against DuckDB alone (analytics/internal/reference), whole processes,
# alternating, median of 3, 1,000,000 records per table (PINPIPE_BENCH_ROWS=5000000 for 5M).
bench-analyse:
	$(GO) test ./analytics -run '^$$' -bench 'BenchmarkAnalyse$$' -benchtime 1x -timeout 60m

# Issue 13: the daily incremental run against a full run, and its growth from 1M to 5M of history.
bench-incremental:
	$(GO) test ./analytics -run '^$$' -bench 'BenchmarkAnalyseIncremental$$' -benchtime 1x -timeout 90m

# Issue 10: a real pinpipe serve under full-speed PutRecords (history D, then 2D) and 100-record
# produce, D = PINPIPE_SOAK (default 60s) a phase: records/s, peak RSS, restart time and RSS.
bench-soak:
	$(GO) test ./cmd/pinpipe -run '^$$' -bench 'BenchmarkSoakServe$$' -benchtime 1x -timeout 60m

synth:
	npx cdk synth --quiet

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin cdk.out
