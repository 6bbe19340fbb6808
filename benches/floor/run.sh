#!/usr/bin/env bash
# Issue 18: hapid's CPU per unit of work against its floor, in one run (REPS fresh hubs):
#
#   list    GET /api/sessions, 50 sessions, 10 keep-alive connections  vs  a bare mio
#           responder answering the same number of bytes (floor list-server)
#   ingest  4 /cli sockets × ~1.3 KB `message` events, each acked after its commit  vs  the
#           raw store path at hapid's measured messages per commit (floor store)
#   fanout  1 /cli socket → 1000 SSE streams, one message at a time  vs  a bare SSE
#           broadcaster writing one frame of the same size to 1000 streams (floor sse-server)
#   hold    10 000 SSE streams, hub RSS  vs  the same against the bare broadcaster
#
# Every hapid run gets a fresh hub (fresh HAPI_HOME in a temp dir, ephemeral 127.0.0.1
# port, CLI_API_TOKEN set). Hub CPU is utime+stime from /proc/<pid>/stat; the load client
# (benches/load, one mio thread) reports its own CPU and the noise: the machine's busy time
# minus hub and client, in cores. Results: bench-out/floor/{results.jsonl,floor.md}.
#
#   benches/floor/run.sh            # REPS=3 (≈ 3–5 min on 2 busy cores)
#
# HAPID_BIN  the hub binary (default: target/release/hapid, built here); e.g. the shipped
#            target/cross/dist/hapid-x86_64-unknown-linux-musl from scripts/build-static.sh
# REPS       repetitions (default 3); OUT the output directory
# Figures are for reading, never for assertions.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
REPS=${REPS:-3}
OUT=${OUT:-$ROOT/bench-out/floor}
mkdir -p "$OUT"
command -v python3 >/dev/null || { echo "python3 is required (port picking, report)" >&2; exit 2; }

if [ -z "${HAPID_BIN:-}" ]; then
  cargo build --release --bin hapid >&2
  HAPID_BIN=$ROOT/target/release/hapid
fi
bins=$(cargo bench --no-run --bench floor --bench load --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] in ("floor", "load"):
        print(m["target"]["name"], m["executable"])')
FLOOR=$(awk '$1 == "floor" {print $2}' <<<"$bins")
LOAD=$(awk '$1 == "load" {print $2}' <<<"$bins")
[ -x "$FLOOR" ] && [ -x "$LOAD" ] || { echo "building the floor/load benches failed" >&2; exit 1; }

# 10 000 streams: as many sockets in the client and in the hub.
ulimit -n 24000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 10500 ] || echo "warning: ulimit -n $(ulimit -n) is low for 10 000 streams" >&2

CLI_API_TOKEN=bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export CLI_API_TOKEN
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hapid-floor.XXXXXX")
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
field() { python3 -c "import json, sys; print(json.loads(sys.stdin.read())[\"$1\"])"; }

start_hapid() {
  HOME_DIR=$(mktemp -d "$TMP/home.XXXXXX")
  PORT=$(free_port)
  HOME=$HOME_DIR HAPI_HOME=$HOME_DIR HAPI_LISTEN_HOST=127.0.0.1 HAPI_LISTEN_PORT=$PORT \
    HAPID_MAX_CONNECTIONS=12000 "$HAPID_BIN" >"$HOME_DIR/log" 2>&1 &
  PID=$!
  "$LOAD" wait --port "$PORT" || { tail -20 "$HOME_DIR/log" >&2; exit 1; }
}
start_floor() {
  local f
  f=$(mktemp "$TMP/floor.XXXXXX")
  HOME_DIR=
  "$FLOOR" "$@" >"$f" &
  PID=$!
  for _ in $(seq 200); do
    PORT=$(awk '/^port / {print $2}' "$f")
    [ -n "$PORT" ] && return 0
    sleep 0.01
  done
  echo "floor $* did not start" >&2
  exit 1
}
stop() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
  if [ -n "$HOME_DIR" ]; then rm -rf "$HOME_DIR"; fi
}
# load <label> <scenario> [args...]: one measured run against the server just started.
load() {
  local label=$1 scenario=$2
  shift 2
  local line
  line=$("$LOAD" "$scenario" --port "$PORT" --pid "$PID" --label "$label" --rep "$rep" "$@")
  echo "$line" >>"$RESULTS"
  log "rep $rep $label $scenario: $(echo "$line" | field hub_us_per_unit) µs/unit hub," \
    "noise $(echo "$line" | field noise_cores) cores"
  LAST=$line
}

log "hapid: $HAPID_BIN; $REPS repetitions; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "{\"meta\":true,\"hapid_bin\":\"$HAPID_BIN\",\"rev\":\"$(git rev-parse --short HEAD 2>/dev/null)\",\"when\":\"$(date -u +%FT%TZ)\",\"load_start\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"cpus\":$(nproc)}" >>"$RESULTS"
for rep in $(seq "$REPS"); do
  # GET /api/sessions; the floor answers as many bytes as hapid's body.
  start_hapid
  load hapid list
  body=$(echo "$LAST" | field body_bytes)
  stop
  start_floor list-server --body-bytes "$body"
  load floor list --floor
  stop

  # Ingest with durable acks; the store floor commits as often as hapid did.
  start_hapid
  load hapid ingest --sockets 4 --per-socket 4000 --window 32
  batch=$(echo "$LAST" | python3 -c 'import json, sys; print(max(1, round(json.loads(sys.stdin.read())["msgs_per_commit"] or 1)))')
  stop
  line=$("$FLOOR" store --messages 16000 --batch "$batch")
  line="${line%\}},\"target\":\"floor\",\"label\":\"floor\",\"rep\":$rep}"
  echo "$line" >>"$RESULTS"
  log "rep $rep floor store (batch $batch): $(echo "$line" | field cpu_us_per_msg) µs/msg," \
    "noise $(echo "$line" | field noise_cores) cores"

  # CLI message -> 1000 SSE streams; the floor frame has hapid's frame size.
  start_hapid
  load hapid fanout --streams 1000 --messages 100
  frame=$(echo "$LAST" | field frame_bytes)
  stop
  start_floor sse-server
  load floor fanout --floor --streams 1000 --messages 100 --frame-bytes "$frame"
  stop

  # 10 000 streams held open.
  start_hapid
  load hapid hold --streams 10000
  stop
  start_floor sse-server
  load floor hold --floor --streams 10000
  stop
done
echo "{\"meta\":true,\"load_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"
python3 benches/floor/report.py "$RESULTS" | tee "$OUT/floor.md"
