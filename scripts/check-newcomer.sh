#!/usr/bin/env bash
# The newcomer's path, from a clean clone, as README.md tells it:
#
#   git clone …; cd hapid
#   cargo run --release          # 1. the hub: banner with the CLI command line, phone URL, QR
#   scripts/fetch-web.sh         # 3. the web app into $HAPI_HOME/web, found without settings
#   cargo run --release          #    again: the phone URL now opens the official web app
#
# hapid runs on a terminal (script(1)), as a user starts it, so the banner shows the token and
# the QR code; the QR code is decoded with zbarimg and must be the phone URL printed. Before
# the fetch, / is the built-in page with the hub's status; after it, / is the web app and the
# phone URL's token logs in (POST /api/auth, what the web app does with ?token=).
#
#   scripts/check-newcomer.sh [REPO]     (default: this checkout's HEAD)
#
# HAPI_HOME is a temporary directory and the port a free one, so nothing of the user's is
# touched; CARGO_TARGET_DIR defaults to target/newcomer of this checkout, so reruns are quick.
# Needs git, cargo, curl, python3, script (bsdutils) and zbarimg (zbar-tools; installed when
# missing and root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=${1:-$ROOT}
fail() { echo "check-newcomer: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok   $*"; }
if ! command -v zbarimg >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zbar-tools >/dev/null
fi
for c in git cargo curl python3 script zbarimg; do command -v $c >/dev/null || fail "needs $c"; done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/newcomer}

T=$(mktemp -d "${TMPDIR:-/tmp}/hapid-newcomer-XXXXXX")
SPID=""
stop() { # the hub under script(1): script's child is hapid (cargo run execs it)
  [ -n "$SPID" ] || return 0
  local hub
  hub=$(ps -o pid= --ppid "$SPID" | tr -d ' ' | head -1)
  [ -z "$hub" ] || kill -TERM "$hub" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  SPID=""
}
trap 'stop; rm -rf "$T"' EXIT

echo "== git clone $REPO"
git clone -q "$REPO" "$T/hapid"
cd "$T/hapid"
ok "$(git log -1 --format='%h %s')"
export HAPI_HOME=$T/home
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HAPI_LISTEN_PORT=$port
base=http://127.0.0.1:$port

run_hub() { # LOG: `cargo run --release` on a terminal, until the banner is complete
  : >"$1"
  script -qfec "cargo run --release" "$1" </dev/null >/dev/null 2>&1 &
  SPID=$!
  for _ in $(seq 1800); do
    grep -q "Open on your phone" "$1" && curl -fsS "$base/health" >/dev/null 2>&1 && { sleep 0.3; return 0; }
    kill -0 "$SPID" 2>/dev/null || { cat "$1"; fail "cargo run --release exited"; }
    sleep 0.5
  done
  fail "no banner after 15 minutes"
}

echo "== cargo run --release (HAPI_HOME=$HAPI_HOME, port $port)"
run_hub "$T/run1.log"
sed 's/\x1b\[[0-9;]*m//g' "$T/run1.log" | grep -v '^\s*\(Compiling\|Finished\|Running\|Blocking\)' | sed 's/^/     | /'
token=$(sed -n 's/.*"cliApiToken" *: *"\([^"]*\)".*/\1/p' "$HAPI_HOME/settings.json")
[ -n "$token" ] || fail "no token in settings.json"
phone=$(tr -d '\r' <"$T/run1.log" | sed -n 's/^ *\(http[^ ]*?token=[^ ]*\)$/\1/p' | head -1)
[ "$phone" = "http://localhost:$port/?token=$token" ] || fail "phone URL '$phone'"
grep -qF "CLI_API_TOKEN=$token hapi runner start" "$T/run1.log" || fail "no CLI command line"
qr=$(python3 scripts/qr-from-text.py <"$T/run1.log" >"$T/qr.pgm" && zbarimg -q --raw "$T/qr.pgm" 2>/dev/null) || true
[ "$qr" = "$phone" ] || fail "the QR code decodes to '$qr'"
ok "banner: the CLI command line with the token, the phone URL, a QR code zbarimg decodes to it"
page=$(curl -fsS "$base/")
echo "$page" | grep -q 'No web app is installed' || fail "/ is not the built-in page"
echo "$page" | grep -q 'id="machines-online">0<' || fail "the built-in page shows no status"
echo "$page" | grep -q 'scripts/fetch-web.sh' || fail "the built-in page names no fetch step"
if echo "$page" | grep -qF "$token"; then fail "the built-in page shows the token"; fi
ok "/ is the built-in page: status (machines online, sessions, version) and the same steps"
stop

echo "== scripts/fetch-web.sh"
dir=$(scripts/fetch-web.sh 2>"$T/fetch.log" | tail -1) || { cat "$T/fetch.log"; fail "fetch-web.sh"; }
[ "$dir" = "$HAPI_HOME/web" ] && [ -s "$dir/index.html" ] || fail "web app not in \$HAPI_HOME/web ($dir)"
ok "$(grep -c . <(find "$dir" -type f)) files in $dir ($(tail -1 "$T/fetch.log" | sed 's/^fetch-web: //'))"

echo "== cargo run --release, again"
run_hub "$T/run2.log"
grep -qF "web app:    $HAPI_HOME/web" "$T/run2.log" || fail "the banner does not name the web app"
curl -fsS -o "$T/index.got" "$base/?token=$token"
cmp -s "$T/index.got" "$dir/index.html" || fail "/?token= is not the web app's index.html"
auth=$(curl -fsS -H 'content-type: application/json' -d "{\"accessToken\":\"$token\"}" "$base/api/auth")
echo "$auth" | grep -q '"token"' || fail "the phone URL's token does not log in: $auth"
ok "the phone URL serves the official web app, and its token logs in: $phone"
stop
echo "check-newcomer: clone -> cargo run --release -> scripts/fetch-web.sh -> phone URL: pass"
