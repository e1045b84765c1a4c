#!/usr/bin/env bash
# Builds FerretDB v1.24.2 (a MongoDB-wire-compatible server with an SQLite backend) once and caches
# the binary; prints its path. The first build takes a few minutes; later calls return at once.
set -euo pipefail
version=v1.24.2
cache=${JWTGUARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jwtguard}
bin="$cache/ferretdb-$version/ferretdb"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "get-ferretdb: Go is needed to build FerretDB" >&2; exit 1; }
  echo "get-ferretdb: building FerretDB $version (first time only, a few minutes)..." >&2
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  # The module from the Go proxy lacks the generated build/version/version.txt, without which a
  # `go install` build panics at start-up; build from a copy of the module with that file added.
  export GOFLAGS=-mod=mod
  (cd "$work" && go mod init ferretdb-build >/dev/null 2>&1 && go mod download -json "github.com/FerretDB/FerretDB@$version" > mod.json)
  dir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$work/mod.json")
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  echo "$version" > "$work/src/build/version/version.txt"
  mkdir -p "$cache/ferretdb-$version"
  # Some dependencies carry an old //go:linkname that newer linkers refuse.
  (cd "$work/src" && go build -trimpath -ldflags=-checklinkname=0 -o "$bin.tmp" ./cmd/ferretdb >&2)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
