#!/usr/bin/env bash
# Checks contrib/hapid.service and contrib/hapid.init without a running init system:
#
#  1. `systemd-analyze verify` on the unit (ExecStart pointed at the binary under test);
#  2. `systemd-analyze security --offline=true`: the exposure score must stay <= 2.0;
#  3. the unit's seccomp allow-list covers hapid: hapid runs the smoke scenario
#     (scripts/smoke-scenario.mjs, plus SIGHUP and SIGTERM) under `strace -f`, and every
#     system call it made must be in @system-service minus @privileged and @resources, as
#     systemd expands them (native architecture only);
#  4. contrib/hapid.init parses (`sh -n`) and, run against stand-ins for OpenWrt's
#     /etc/rc.common, /lib/functions.sh and procd.sh, starts a hapid that answers /health
#     with the settings from a UCI config and /etc/hapid.env.
#
#   scripts/check-service.sh [HAPID_BINARY]    (default: the x86_64 musl build)
#
# Installs systemd (for systemd-analyze only; nothing is started) and strace when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${1:-${CARGO_TARGET_DIR:-$ROOT/target/cross}/dist/hapid-x86_64-unknown-linux-musl}
if [ ! -x "$BIN" ] && [ $# -eq 0 ]; then scripts/build-static.sh x86_64 >&2; fi
[ -x "$BIN" ] || { echo "check-service: no binary at $BIN" >&2; exit 1; }
BIN=$(readlink -f "$BIN")

fail() { echo "check-service: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok   $*"; }
missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v strace >/dev/null || missing+=(strace)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then fail "missing: ${missing[*]}"; fi
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -d tests/node/node_modules/socket.io-client ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/hapid-check-service-XXXXXX")
PID=
cleanup() {
  if [ -n "$PID" ]; then kill -KILL "$PID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT

echo "== contrib/hapid.service"
sed "s#^ExecStart=/usr/local/bin/hapid#ExecStart=$BIN#" contrib/hapid.service >"$T/hapid.service"
systemd-analyze verify "$T/hapid.service" >"$T/verify.txt" 2>&1 || {
  cat "$T/verify.txt"
  fail "systemd-analyze verify"
}
[ ! -s "$T/verify.txt" ] || { cat "$T/verify.txt"; fail "systemd-analyze verify printed warnings"; }
ok "systemd-analyze verify: no warnings ($(systemd-analyze --version | head -1))"
score=$(systemd-analyze security --offline=true "$T/hapid.service" 2>/dev/null |
  sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "no exposure score from systemd-analyze security"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure score $score > 2.0"
ok "systemd-analyze security --offline: exposure $score"

# The allow-list as the unit states it: SystemCallFilter lines, in order.
expand() {
  systemd-analyze syscall-filter "$1" | sed 1d | sed 's/#.*//' | awk 'NF { print $1 }' |
    while read -r n; do
      case "$n" in @*) expand "$n" ;; *) echo "$n" ;; esac
    done
}
: >"$T/allowed"
first=1
while IFS= read -r line; do
  v=${line#SystemCallFilter=}
  if [[ "$v" == "~"* ]]; then
    for g in ${v#\~}; do expand "$g"; done | sort -u >"$T/deny"
    comm -23 "$T/allowed" "$T/deny" >"$T/allowed.new" && mv "$T/allowed.new" "$T/allowed"
  else
    [ "$first" = 1 ] || fail "unexpected SystemCallFilter allow line after the first: $line"
    for g in $v; do expand "$g"; done | sort -u >"$T/allowed"
  fi
  first=0
done < <(grep '^SystemCallFilter=' contrib/hapid.service)
[ -s "$T/allowed" ] || fail "empty syscall allow-list"

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
token="check-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$T/home"
# As the unit runs it: not root (SQLite, for one, calls fchown only as root).
asuser=()
if [ "$(id -u)" = 0 ]; then
  chown 65534:65534 "$T/home"
  chmod o+x "$T"
  asuser=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
HAPI_HOME=$T/home HAPI_LISTEN_HOST=127.0.0.1 HAPI_LISTEN_PORT=$port CLI_API_TOKEN=$token \
  HAPID_LOG_FILE=$T/home/hapid.log strace -f -qq -o "$T/strace" "${asuser[@]}" "$BIN" >"$T/out" 2>&1 &
STRACE=$!
# Signals go to hapid itself, not to strace (which would detach on them).
for _ in $(seq 1 100); do
  PID=$(pgrep -P "$STRACE" || true)
  [ -n "$PID" ] && [ "$(readlink -f "/proc/$PID/exe" 2>/dev/null)" = "$BIN" ] && break
  sleep 0.05
done
[ -n "$PID" ] || fail "hapid did not start under strace"
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$T/out"; fail "hapid under strace exited"; }
  sleep 0.1
done
node scripts/smoke-scenario.mjs scenario "http://127.0.0.1:$port" "$token" >"$T/scenario" ||
  { cat "$T/scenario"; fail "scenario under strace"; }
kill -HUP "$PID"
sleep 0.3
kill -TERM "$PID"
rc=0
wait "$STRACE" || rc=$?
PID=
[ "$rc" = 0 ] || { cat "$T/out"; fail "hapid exit status $rc under strace"; }
grep -q 'log reopened' "$T/home/hapid.log" || fail "SIGHUP did not reopen the log"
# strace lines: "<pid> name(args...) = ..." ; also "<pid> <... name resumed>".
# Only what hapid did: from its execve on (setpriv's setresuid & co. come before).
awk -v bin="$BIN" 'seen { print; next } index($0, "execve(\"" bin "\"") { seen = 1; print }' \
  "$T/strace" | sed -n 's/^[0-9]\+ \+\([a-z_0-9]\+\)(.*/\1/p' | sort -u >"$T/used"
n_used=$(wc -l <"$T/used")
[ "$n_used" -gt 20 ] || fail "strace saw only $n_used system calls"
comm -23 "$T/used" "$T/allowed" >"$T/outside"
if [ -s "$T/outside" ]; then
  fail "system calls outside the unit's SystemCallFilter: $(tr '\n' ' ' <"$T/outside")"
fi
ok "all $n_used system calls of a scenario run are in the unit's SystemCallFilter ($(wc -l <"$T/allowed") allowed)"
# RestrictAddressFamilies: the address families hapid opened.
fams=$(sed -n 's/.*socket(\(AF_[A-Z0-9]*\).*/\1/p' "$T/strace" | sort -u | tr '\n' ' ')
for f in $fams; do
  grep -q "^RestrictAddressFamilies=.*\b$f\b" contrib/hapid.service || fail "socket family $f is not allowed by the unit"
done
ok "socket families used: ${fams:-none} (all allowed)"

echo "== contrib/hapid.init (procd, against stand-ins)"
sh -n contrib/hapid.init || fail "sh -n contrib/hapid.init"
ok "sh -n"
STUB=$T/openwrt
mkdir -p "$STUB/etc/config" "$STUB/state"
port2=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat >"$STUB/etc/config/hapid" <<EOF
config hapid 'main'
	option enabled '1'
	option home '$STUB/state'
	option listen_host '127.0.0.1'
	option listen_port '$port2'
	option token '$token'
EOF
printf '# extra settings\nHAPID_JWT_TTL_SECS=600\n\nHAPID_LOG_FILE=%s/state/hapid.log\n' "$STUB" >"$STUB/etc/hapid.env"
# Minimal stand-ins: config_load/config_get(_bool) read the one-section file above;
# procd_* record the instance, and `procd_close_instance` runs it like procd would.
cat >"$STUB/functions.sh" <<'EOF'
config_load() {
  CONFIG_FILE=$IPKG_INSTROOT/etc/config/$1
}
config_get() { # config_get VAR SECTION OPTION [DEFAULT]
  __cg=$(sed -n "s/^[[:space:]]*option $3 '\(.*\)'\$/\1/p" "$CONFIG_FILE" | head -1)
  [ -n "$__cg" ] || __cg=${4:-}
  eval "$1=\$__cg"
}
config_get_bool() {
  config_get __cgb "$2" "$3" "${4:-}"
  case "$__cgb" in 1|on|true|yes|enabled) __cgb=1 ;; *) __cgb=0 ;; esac
  eval "$1=\$__cgb"
}
procd_open_instance() { PROCD_CMD=; PROCD_ENV=; }
procd_set_param() {
  local k=$1; shift
  case "$k" in
    command) PROCD_CMD="$*" ;;
    env) PROCD_ENV="$*" ;;
    *) echo "procd param $k $*" >>"$PROCD_LOG" ;;
  esac
}
procd_append_param() {
  local k=$1; shift
  case "$k" in
    command) PROCD_CMD="$PROCD_CMD $*" ;;
    env) PROCD_ENV="$PROCD_ENV $*" ;;
    *) echo "procd append $k $*" >>"$PROCD_LOG" ;;
  esac
}
procd_close_instance() {
  echo "command: $PROCD_CMD" >>"$PROCD_LOG"
  echo "env: $PROCD_ENV" >>"$PROCD_LOG"
  env -i $PROCD_ENV $PROCD_CMD >"$PROCD_OUT" 2>&1 &
  echo $! >"$PROCD_PIDFILE"
}
procd_add_reload_trigger() { :; }
procd_send_signal() { :; }
EOF
# The script's first line is `#!/bin/sh /etc/rc.common`; rc.common sources it and calls
# start_service. Do the same with the stand-ins.
mkdir -p "$STUB/bin"
ln -s "$BIN" "$STUB/bin/hapid"
(
  set +eu # as OpenWrt's rc.common runs it
  export IPKG_INSTROOT=$STUB PROCD_LOG=$STUB/procd.log PROCD_OUT=$STUB/hapid.out PROCD_PIDFILE=$STUB/pid
  # shellcheck disable=SC1091
  . "$STUB/functions.sh"
  # shellcheck disable=SC1090,SC1091
  HAPID_BIN=$STUB/bin/hapid HAPID_ENV_FILE=$STUB/etc/hapid.env . "$ROOT/contrib/hapid.init"
  start_service
) || fail "start_service"
PID=$(cat "$STUB/pid")
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port2/health")" = 200 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port2/health")" = 200 ] ||
  { cat "$STUB/procd.log" "$STUB/hapid.out"; fail "hapid from the init script did not answer"; }
ok "start_service ran: $(grep '^command:' "$STUB/procd.log")"
auth=$(curl -s -XPOST -H 'content-type: application/json' -d "{\"accessToken\":\"$token\"}" \
  "http://127.0.0.1:$port2/api/auth")
case "$auth" in *'"token":"'*) ok "token from /etc/config/hapid works (POST /api/auth)" ;;
  *) fail "POST /api/auth with the UCI token: $auth" ;; esac
[ -e "$STUB/state/hapid.db" ] || fail "database not in the UCI home"
[ -e "$STUB/state/hapid.log" ] || fail "HAPID_LOG_FILE from /etc/hapid.env not applied"
ok "home from UCI, HAPID_LOG_FILE from /etc/hapid.env applied"
grep -q 'respawn' "$STUB/procd.log" || fail "no respawn parameter"
ok "respawn set: $(grep respawn "$STUB/procd.log")"
kill -TERM "$PID"
# Not our child (the stand-in procd's subshell is gone): a zombie counts as exited.
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
for _ in $(seq 1 100); do alive "$PID" || break; sleep 0.01; done
! alive "$PID" || fail "hapid (init script) did not exit on SIGTERM within 1 s"
PID=
ok "SIGTERM: exited within 1 s"
echo "check-service: all checks passed"
