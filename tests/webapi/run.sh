#!/usr/bin/env bash
# The web API of issue 4 end to end against the real hapid binary: a socket.io-client 4.8.3
# acting as the CLI (session process and runner, registering RPC handlers) and HTTP + SSE
# clients acting as the web (spec/rest.md, spec/sse.md, spec/auth.md §9).
#
#   tests/webapi/run.sh                      build hapid (debug), npm ci, run every test file
#   HAPID_BIN=/path/to/hapid ...             test that binary instead (no cargo build)
#   tests/webapi/run.sh sse.test.mjs         run some files only
#
# Each file starts its own hapid (fresh HAPI_HOME, ephemeral port). Exits non-zero on failure.
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
  set -- permissions.test.mjs rpc_routes.test.mjs messages.test.mjs lifecycle.test.mjs \
    sse.test.mjs isolation.test.mjs slow_sse.test.mjs
fi
exec node --test --test-concurrency=1 --test-reporter=spec "$@"
