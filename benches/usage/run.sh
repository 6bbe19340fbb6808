#!/usr/bin/env bash
# The usage summary on a large database (issue 16; upstream #1887: the official hub's summary
# over 514 000 messages grew to ~4.8 GB). Creates a hapid database, writes N realistic
# Claude/Codex messages into it with gen.py as rows of the same schema, marked for the usage
# backfill like a database from before the aggregates, then starts hapid on it (the backfill
# runs at start-up) and measures with measure.py.
#
#   benches/usage/run.sh [N=500000]      HAPID_BIN (default target/release/hapid)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-500000}"
bin="${HAPID_BIN:-$root/target/release/hapid}"
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
# First start: hapid creates its database (the current schema), then stops.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
HAPI_HOME="$home" CLI_API_TOKEN=bench-usage-token-0123456789abcdef HAPI_LISTEN_HOST=127.0.0.1 \
  HAPI_LISTEN_PORT="$port" "$bin" >"$home/first.log" 2>&1 &
pid=$!
for _ in $(seq 1 500); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.02; done
kill "$pid"; wait "$pid" || true
t=$(date +%s.%N)
python3 "$here/gen.py" "$home/hapid.db" "$n"
echo "generated in $(python3 -c "print(round($(date +%s.%N) - $t, 1))") s; database $(du -m "$home/hapid.db" | cut -f1) MiB"
python3 "$here/measure.py" "$bin" "$home"
