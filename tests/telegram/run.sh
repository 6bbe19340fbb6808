#!/usr/bin/env bash
# Telegram bot and voice-token end-to-end tests (issue 7): hapid against a local fake
# Telegram Bot API and a fake ElevenLabs API (plain HTTP on 127.0.0.1), a socket.io-client
# acting as the CLI, and a fake push service for the isolation checks.
#
#   tests/telegram/run.sh              build hapid (debug), npm ci, run every test
#   tests/telegram/run.sh voice        only files whose name contains "voice"
#   HAPID_BIN=/path/to/hapid ...       test that binary instead (no cargo build)
#
# Exits non-zero if anything fails. Needs node >= 20 and npm; cargo unless HAPID_BIN is set.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v node >/dev/null || { echo "tests/telegram: node (>= 20) is required" >&2; exit 2; }
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "tests/telegram: node >= 20 is required, found $(node --version)" >&2
  exit 2
fi

if [ -z "${HAPID_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet --bin hapid)
fi

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
files=(voice.test.mjs telegram.test.mjs isolation.test.mjs failures.test.mjs)
if [ $# -gt 0 ]; then
  sel=()
  for f in "${files[@]}"; do
    for pat in "$@"; do
      if [[ "$f" == *"$pat"* ]]; then sel+=("$f"); break; fi
    done
  done
  files=("${sel[@]}")
fi
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
