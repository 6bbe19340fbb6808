#!/usr/bin/env bash
# The send-pipeline contract of issue 14 (CONTRACT.md), as a node --test suite.
#
#   tests/pipeline/run.sh                        against the official hub v0.30.7 (default)
#   HUB=hapid tests/pipeline/run.sh              against hapid (target/release/hapid, built
#                                                if HAPID_BIN is unset)
#   HUB=hapid HAPID_BIN=/path/to/hapid ...       against that binary
#   tests/pipeline/run.sh cancel.test.mjs        some files only
#
# HUB=official unpacks @twsxtd/hapi-linux-x64@0.30.7 with `npm pack` once
# (tests/web/install-official-hub.sh; OFFICIAL_HAPI_BIN overrides the binary). Every file
# starts its own hub on a free loopback port with a fresh HAPI_HOME; files run one at a time.
# About 75 s against the official hub (schedule.test.mjs alone ~35 s: the hub's 5 s tick).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
command -v node >/dev/null || { echo "tests/pipeline: node (>= 20) is required" >&2; exit 2; }
command -v npm >/dev/null || { echo "tests/pipeline: npm is required" >&2; exit 2; }
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "tests/pipeline: node >= 20 is required, found $(node --version)" >&2
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
    ;;
  *) echo "tests/pipeline: HUB must be official or hapid, not $HUB" >&2; exit 2 ;;
esac

cd "$here"
if [ $# -eq 0 ]; then
  set -- send.test.mjs delivery.test.mjs cancel.test.mjs schedule.test.mjs pages.test.mjs events.test.mjs
fi
exec node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec "$@"
