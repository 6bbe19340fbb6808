#!/usr/bin/env bash
# The parity suite (spec/parity-0.30.7.md): one node --test file per feature, each checking a
# route or event of the official hub v0.30.7 against the hub under test.
#
#   tests/parity/run.sh                      against the official hub v0.30.7 (default)
#   HUB=hapid tests/parity/run.sh            against hapid (target/release/hapid, built if
#                                            HAPID_BIN is unset)
#   HUB=hapid HAPID_BIN=target/debug/hapid tests/parity/run.sh scratchlist.test.mjs
#
# Every *.test.mjs file here runs (no list to keep). A test that only one hub passes says so
# with `IS_OFFICIAL` and a comment naming the deviation. HUB=official unpacks
# @twsxtd/hapi-linux-x64@0.30.7 with `npm pack` once (tests/web/install-official-hub.sh;
# OFFICIAL_HAPI_BIN overrides the binary). Every file starts its own hub on a free loopback
# port with a fresh HAPI_HOME; files run one at a time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
command -v node >/dev/null || { echo "tests/parity: node (>= 20) is required" >&2; exit 2; }
command -v npm >/dev/null || { echo "tests/parity: npm is required" >&2; exit 2; }
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "tests/parity: node >= 20 is required, found $(node --version)" >&2
  exit 2
fi
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

export HUB="${HUB:-official}"
case "$HUB" in
  official)
    if [ -z "${OFFICIAL_HAPI_BIN:-}" ]; then
      export OFFICIAL_HAPI_BIN="$("$root/tests/web/install-official-hub.sh")/bin/hapi"
    fi
    ;;
  hapid)
    if [ -z "${HAPID_BIN:-}" ]; then
      (cd "$root" && cargo build --quiet --release --bin hapid)
      export HAPID_BIN="$root/target/release/hapid"
    fi
    HAPID_BIN="$(realpath "$HAPID_BIN")"
    ;;
  *) echo "tests/parity: HUB must be official or hapid, not $HUB" >&2; exit 2 ;;
esac

cd "$here"
if [ $# -eq 0 ]; then
  set -- *.test.mjs
fi
exec node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec "$@"
