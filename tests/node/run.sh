#!/usr/bin/env bash
# The /cli protocol with real third-party clients (issue 3): node socket.io-client 4.8.3
# (websocket, polling, upgrade, acks, RPC both ways), the `eventsource` package and fetch
# streams for SSE, raw TCP for HTTP framing — against the real hapid binary.
#
#   tests/node/run.sh                 build hapid (debug), npm ci, run every test file
#   HAPID_BIN=/path/to/hapid ...      test that binary instead (no cargo build)
#   tests/node/run.sh rpc.test.mjs    run some files only
#
# One test waits out the hub's 30 s RPC timeout. Exits non-zero if anything fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

"$here/install.sh"
if [ -z "${HAPID_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet --bin hapid)
  export HAPID_BIN="$root/target/debug/hapid"
fi
cd "$here"
if [ $# -eq 0 ]; then
  set -- connect.test.mjs messages.test.mjs rpc.test.mjs web.test.mjs http.test.mjs
fi
exec node --test --test-reporter=spec "$@"
