#!/usr/bin/env bash
# Footprint of hapid (x86_64 musl release) beside the official hub, from one run on this
# machine: binary size, idle RSS, RSS with 1000 SSE clients + 100 CLI sockets, and
# start-to-first-answer time. Writes bench-out/footprint/footprint.{md,json}.
#
#   benches/footprint/run.sh [footprint.mjs options...]     e.g. --runs 10 --load-runs 3
#
# HAPID_BIN     hapid binary (default: built by scripts/build-static.sh x86_64)
# OFFICIAL_BIN  official hub binary (default: /work/tools/package/bin/hapi if present, else
#               `npm pack @twsxtd/hapi-linux-x64@0.30.7` into bench-out/official)
# Wall-clock numbers: run it on an otherwise idle machine; not for CI assertions.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=$ROOT/bench-out/footprint
mkdir -p "$OUT"

if [ -z "${HAPID_BIN:-}" ]; then
  scripts/build-static.sh x86_64 >&2
  HAPID_BIN=${CARGO_TARGET_DIR:-$ROOT/target/cross}/dist/hapid-x86_64-unknown-linux-musl
fi
if [ -z "${OFFICIAL_BIN:-}" ]; then
  if [ -x /work/tools/package/bin/hapi ]; then
    OFFICIAL_BIN=/work/tools/package/bin/hapi
  else
    OFFICIAL_BIN=$ROOT/bench-out/official/package/bin/hapi
    if [ ! -x "$OFFICIAL_BIN" ]; then
      mkdir -p bench-out/official
      (cd bench-out/official && npm pack --silent @twsxtd/hapi-linux-x64@0.30.7 >/dev/null &&
        tar -xzf twsxtd-hapi-linux-x64-0.30.7.tgz)
    fi
  fi
fi
if [ ! -d tests/node/node_modules/socket.io-client ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# 1100 client sockets in this process plus as many in the server.
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

node benches/footprint/footprint.mjs --out "$OUT" "$@" \
  "hapid=$HAPID_BIN" "official=$OFFICIAL_BIN:hub"
