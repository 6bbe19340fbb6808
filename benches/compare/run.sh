#!/usr/bin/env bash
# Side-by-side benchmarks of hapid and the official HAPI hub (v0.30.7) on this machine:
# ingest, GET /api/sessions, CLI message -> SSE latency (compare.mjs) and retention under
# load (retention.mjs, hapid only); compression on the wire and per stream (compress.mjs,
# results in bench-out/compress). Results: bench-out/compare/{compare,retention}.{md,json}.
#
#   benches/compare/run.sh [compare|compress|retention|all] [options for that script...]
#
# HAPID_BIN     hapid binary (default: target/release/hapid, built here with cargo)
# OFFICIAL_BIN  official hub (default: /work/tools/package/bin/hapi if present, else
#               `npm pack @twsxtd/hapi-linux-x64@0.30.7` into bench-out/official)
# Wall-clock numbers: note the machine's load; never use them as test assertions.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
what=${1:-all}
[ $# -gt 0 ] && shift

command -v node >/dev/null || { echo "node (>= 20) is required" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is required (retention backdating)" >&2; exit 2; }
if [ -z "${HAPID_BIN:-}" ]; then
  cargo build --release --bin hapid >&2
  export HAPID_BIN=$ROOT/target/release/hapid
fi
if [ -z "${OFFICIAL_BIN:-}" ] && [ "$what" != retention ]; then
  if [ -x /work/tools/package/bin/hapi ]; then
    export OFFICIAL_BIN=/work/tools/package/bin/hapi
  else
    export OFFICIAL_BIN=$ROOT/bench-out/official/package/bin/hapi
    if [ ! -x "$OFFICIAL_BIN" ]; then
      mkdir -p bench-out/official
      (cd bench-out/official && npm pack --silent @twsxtd/hapi-linux-x64@0.30.7 >/dev/null &&
        tar -xzf twsxtd-hapi-linux-x64-0.30.7.tgz)
    fi
  fi
fi
if [ ! -d benches/compare/node_modules/socket.io-client ]; then
  (cd benches/compare && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# 1000 SSE streams + sockets in this process, as many in each server.
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

case "$what" in
  compare) node benches/compare/compare.mjs "$@" ;;
  compress) node benches/compare/compress.mjs "$@" ;;
  retention) node benches/compare/retention.mjs "$@" ;;
  all)
    node benches/compare/compare.mjs "$@"
    node benches/compare/retention.mjs
    ;;
  *) echo "usage: $0 [compare|compress|retention|all] [options...]" >&2; exit 2 ;;
esac
