#!/usr/bin/env bash
# The parity suite against hapid: tests/parity/run.sh with HUB=hapid (HAPID_BIN when set, else
# a release build).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HUB=hapid exec bash "$here/run.sh" "$@"
