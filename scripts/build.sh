#!/usr/bin/env bash
# Builds bin/pinpipe for `make build` / `make demo`, saying first what takes long: on a cold build
# cache the DuckDB bindings (cgo, a large C++ static library) dominate. On a terminal it shows the
# go build's progress as a count of packages compiled; piped, it prints only its first and last line.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
OUT=${1:-bin/pinpipe}
start=$(date +%s)

# Modules first (a fresh machine downloads them once; `go list` does it, quietly).
if [ -z "$($GO list -m -f '{{.Dir}}' github.com/duckdb/duckdb-go-bindings 2>/dev/null)" ]; then
  echo "build: downloading the Go modules pinpipe needs (once; about 100 MB)..." >&2
fi
mapfile -t stale < <($GO list -deps -f '{{if .Stale}}{{.ImportPath}}{{end}}' ./cmd/pinpipe | grep . || true)
n=${#stale[@]}
pkgs="$n packages"
((n == 1)) && pkgs="1 package"
if ((n == 0)); then
  echo "build: $OUT is up to date" >&2
elif printf '%s\n' "${stale[@]}" | grep -q '^github.com/duckdb/duckdb-go-bindings'; then
  echo "build: compiling $pkgs into $OUT. The first build links DuckDB's C++ library through cgo" \
    "and takes 1.5 to 5 minutes on 2 cores (later builds take seconds)..." >&2
else
  echo "build: compiling $pkgs into $OUT..." >&2
fi

tty=0
[ -t 2 ] && tty=1
i=0
status=1
while IFS= read -r line; do
  case "$line" in
    exit:*) status=${line#exit:} ;;
    # go build -v prints each package's import path as it compiles it; anything else is an error.
    *" "* | *:* | "#"*) printf '\r\033[K%s\n' "$line" >&2 ;;
    *)
      i=$((i + 1))
      ((tty)) && printf '\r\033[Kbuild: [%d/%d] %s' "$i" "$((n > i ? n : i))" "$line" >&2
      ;;
  esac
done < <($GO build -v -o "$OUT" ./cmd/pinpipe 2>&1; echo "exit:$?")
((tty)) && printf '\r\033[K' >&2
[ "$status" = 0 ] || exit "$status"
echo "build: $OUT ready in $(($(date +%s) - start)) s" >&2
