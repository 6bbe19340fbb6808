#!/usr/bin/env bash
# Web Push end-to-end tests (issue 5): hapid delivers to a local fake push service; the
# body is decrypted with http_ece and the VAPID JWT verified with node:crypto.
#
#   tests/push/run.sh            build hapid (debug), npm ci, run every test
#   PUSH_E2E_QUICK=1 ...         skip waiting for the 30 s push timeout (saves ~35 s)
#   HAPID_BIN=/path/to/hapid ... test that binary instead (no cargo build)
#
# Exits non-zero if anything fails. Needs node >= 20 and npm; cargo unless HAPID_BIN is set.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v node >/dev/null || { echo "tests/push: node (>= 20) is required" >&2; exit 2; }
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "tests/push: node >= 20 is required, found $(node --version)" >&2
  exit 2
fi

if [ -z "${HAPID_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet --bin hapid)
fi

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
exec node --test --test-concurrency=1 --test-reporter=spec \
  oracle.test.mjs subscribe.test.mjs delivery.test.mjs failures.test.mjs
