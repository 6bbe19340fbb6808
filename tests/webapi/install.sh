#!/usr/bin/env bash
# Installs the node packages of tests/webapi (socket.io-client 4.8.3 with engine.io-client
# 6.6.3 — the versions inside the official hapi CLI v0.30.7) from package-lock.json.
# Needs node >= 20 and npm.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v node >/dev/null || { echo "tests/webapi: node (>= 20) is required" >&2; exit 2; }
command -v npm >/dev/null || { echo "tests/webapi: npm is required" >&2; exit 2; }
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "tests/webapi: node >= 20 is required, found $(node --version)" >&2
  exit 2
fi
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
