#!/usr/bin/env bash
# The send-pipeline contract (CONTRACT.md) against hapid: tests/pipeline/run.sh with HUB=hapid
# (HAPID_BIN when set, else a release build).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HUB=hapid exec bash "$here/run.sh" "$@"
