#!/usr/bin/env bash
# Run the integration scenario against the static release binaries where they would run:
# the ARM ones under qemu-user (qemu-aarch64-static / qemu-arm-static, called directly, so no
# binfmt_misc is needed), the x86_64 one natively.
#
#   scripts/qemu-smoke.sh [--no-build] [BINARY...]
#
# Without BINARY: builds (scripts/build-static.sh; a no-op when up to date) and tests
# $CARGO_TARGET_DIR/dist/hapid-<target> for the targets in $HAPID_SMOKE_TARGETS
# (default "x86_64 aarch64 armv7"). With BINARY arguments: tests exactly those.
#
# Per binary, on a free loopback port with a fresh HAPI_HOME and HAPID_LOG_FILE:
#   curl GET /health; then scripts/smoke-scenario.mjs (fetch + socket.io-client): POST
#   /api/auth -> JWT, POST /cli/sessions, GET /api/sessions, empty /cli/.../messages, a CLI
#   `message` stored and read back, session-alive, a web message stored, pushed to the CLI
#   socket and read back; SIGHUP reopens the log file (a rotated log gets a fresh file);
#   SIGTERM exits 0 within 1 s natively (5 s under qemu); a restart on the same HAPI_HOME
#   still has both messages.
#
# Installs what it needs when missing (root + apt-get: qemu-user-static, curl, nodejs/npm
# only if absent; npm ci in tests/node). If qemu cannot be had, the ARM binaries are SKIPPED
# with a message and the x86_64 one is still tested; any failure exits non-zero.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/cross}
BUILD=1
BINS=()
for a in "$@"; do
  case "$a" in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; /^set -euo/d'; exit 0 ;;
    *) BINS+=("$a") ;;
  esac
done

log() { printf '\033[1mqemu-smoke:\033[0m %s\n' "$*" >&2; }
die() { printf 'qemu-smoke: error: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
try_apt() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq || true
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v curl >/dev/null || try_apt curl || die "curl is needed"
command -v file >/dev/null || try_apt file || die "file is needed"
command -v node >/dev/null || try_apt nodejs npm || die "node (>= 20) is needed"
if [ ! -d tests/node/node_modules/socket.io-client ]; then
  log "npm ci in tests/node (socket.io-client)"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

if [ ${#BINS[@]} -eq 0 ]; then
  read -r -a WANT <<<"${HAPID_SMOKE_TARGETS:-x86_64 aarch64 armv7}"
  if [ "$BUILD" = 1 ]; then
    scripts/build-static.sh "${WANT[@]}"
  fi
  for w in "${WANT[@]}"; do
    case "$w" in
      x86_64) BINS+=("$CARGO_TARGET_DIR/dist/hapid-x86_64-unknown-linux-musl") ;;
      aarch64) BINS+=("$CARGO_TARGET_DIR/dist/hapid-aarch64-unknown-linux-musl") ;;
      armv7) BINS+=("$CARGO_TARGET_DIR/dist/hapid-armv7-unknown-linux-musleabihf") ;;
      *) die "unknown target '$w' in HAPID_SMOKE_TARGETS" ;;
    esac
  done
fi

QEMU_TRIED=0
ensure_qemu() {
  # ensure_qemu NAME -> 0 if the qemu-user binary NAME can be run.
  command -v "$1" >/dev/null && return 0
  if [ "$QEMU_TRIED" = 0 ]; then
    QEMU_TRIED=1
    log "installing qemu-user-static"
    try_apt qemu-user-static || true
  fi
  command -v "$1" >/dev/null
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

TOKEN="smoke-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
HOMES=()
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  for h in "${HOMES[@]}"; do rm -rf "$h"; done
}
trap cleanup EXIT

# start RUNNER... : starts hapid in the background (PID, OUT) on $PORT with $HOME_DIR and
# waits for the banner line and a 200 on /health.
start() {
  STARTS=$((STARTS + 1))
  OUT=$HOME_DIR/stdout.$STARTS
  : >"$OUT"
  HAPI_HOME=$HOME_DIR HAPI_LISTEN_HOST=127.0.0.1 HAPI_LISTEN_PORT=$PORT CLI_API_TOKEN=$TOKEN \
    HAPID_LOG_FILE=$HOME_DIR/hapid.log "$@" >"$OUT" 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do # 30 s: qemu is slow to start a big binary on a busy machine
    if ! kill -0 "$PID" 2>/dev/null; then
      cat "$OUT" >&2
      die "hapid exited during startup"
    fi
    if grep -q "listening on http://127.0.0.1:$PORT" "$OUT" &&
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 200 ]; then
      return 0
    fi
    sleep 0.1
  done
  cat "$OUT" >&2
  die "hapid did not answer /health within 30 s"
}

# stop_term LIMIT_MS: SIGTERM, require exit status 0 within LIMIT_MS.
stop_term() {
  local limit=$1 t0 t1 rc
  t0=$(date +%s%N)
  kill -TERM "$PID"
  for _ in $(seq 1 $((limit / 10 + 200))); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.01
  done
  t1=$(date +%s%N)
  if kill -0 "$PID" 2>/dev/null; then
    kill -KILL "$PID"
    die "still running $(((t1 - t0) / 1000000)) ms after SIGTERM"
  fi
  rc=0
  wait "$PID" || rc=$?
  PID=
  local ms=$(((t1 - t0) / 1000000))
  [ "$rc" = 0 ] || die "exit status $rc after SIGTERM"
  [ "$ms" -le "$limit" ] || die "SIGTERM to exit took $ms ms (limit $limit ms)"
  echo "  ok   SIGTERM: exit 0 after $ms ms (limit $limit ms)"
}

PASSED=()
SKIPPED=()
STARTS=0
for bin in "${BINS[@]}"; do
  [ -x "$bin" ] || die "$bin: not an executable (build it with scripts/build-static.sh)"
  desc=$(file -b "$bin")
  case "$desc" in
    *"x86-64"*) runner=(); name=x86_64; term_ms=1000 ;;
    *"ARM aarch64"*) runner=(qemu-aarch64-static); name=aarch64; term_ms=5000 ;;
    *"32-bit"*"ARM"*) runner=(qemu-arm-static); name=armv7; term_ms=5000 ;;
    *) die "$bin: unknown architecture: $desc" ;;
  esac
  if [ ${#runner[@]} -gt 0 ] && ! ensure_qemu "${runner[0]}"; then
    log "SKIPPED $name ($bin): ${runner[0]} is not available and cannot be installed here"
    SKIPPED+=("$name")
    continue
  fi
  echo "== $name: ${runner[*]:+${runner[*]} }$bin"
  echo "   $desc"
  HOME_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hapid-smoke-XXXXXX")
  HOMES+=("$HOME_DIR")
  PORT=$(free_port)
  start "${runner[@]}" "$bin"
  echo "  ok   started, $(grep -m1 'listening on' "$OUT")"
  body=$(curl -sS --max-time 10 "http://127.0.0.1:$PORT/health")
  case "$body" in *'"status":"ok"'*) echo "  ok   curl /health: $body" ;; *) die "/health: $body" ;; esac

  scen=$(node scripts/smoke-scenario.mjs scenario "http://127.0.0.1:$PORT" "$TOKEN") || {
    echo "$scen"
    echo "--- hapid output:"
    cat "$OUT" "$HOME_DIR/hapid.log" 2>/dev/null | tail -40
    die "$name: scenario failed"
  }
  echo "$scen" | grep -v '^SESSION \|^CHECKS '
  sid=$(echo "$scen" | sed -n 's/^SESSION //p')

  # SIGHUP reopens the log: rotate it away, HUP, and a new file appears.
  [ -e "$HOME_DIR/hapid.log" ] || die "HAPID_LOG_FILE $HOME_DIR/hapid.log was not created"
  mv "$HOME_DIR/hapid.log" "$HOME_DIR/hapid.log.1"
  kill -HUP "$PID"
  for _ in $(seq 1 100); do grep -qs 'log reopened' "$HOME_DIR/hapid.log" && break; sleep 0.05; done
  grep -qs 'log reopened' "$HOME_DIR/hapid.log" || die "SIGHUP did not reopen the log file"
  kill -0 "$PID" 2>/dev/null || die "hapid died on SIGHUP"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 200 ] ||
    die "/health failed after SIGHUP"
  echo "  ok   SIGHUP: log reopened, still serving"

  stop_term "$term_ms"

  start "${runner[@]}" "$bin"
  node scripts/smoke-scenario.mjs readback "http://127.0.0.1:$PORT" "$TOKEN" "$sid" |
    grep -v '^CHECKS ' || die "$name: readback after restart failed"
  stop_term "$term_ms"
  if grep -q "$TOKEN" "$HOME_DIR"/hapid.log* "$HOME_DIR"/stdout.* 2>/dev/null; then
    die "$name: the access token appears in hapid's output"
  fi
  echo "  ok   the token never appears in hapid's log or output"
  PASSED+=("$name")
done

echo
echo "qemu-smoke: passed: ${PASSED[*]:-none}; skipped: ${SKIPPED[*]:-none}"
[ ${#PASSED[@]} -gt 0 ] || die "nothing was tested"
