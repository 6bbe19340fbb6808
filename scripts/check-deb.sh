#!/usr/bin/env bash
# Installs, upgrades, removes and purges the amd64 .deb of scripts/build-deb.sh with dpkg on
# this machine, and checks the hub the package installs at each step:
#
#  1. build two packages from the same static binary: VERSION and VERSION+check2 (upgrade);
#  2. dpkg -i: /usr/bin/hapid, the unit (systemd-analyze verify when available), the `hapid`
#     system user, /var/lib/hapid 0700 hapid; start the installed hub -- by systemd where it
#     runs, otherwise /usr/bin/hapid as the hapid user with the unit's environment and
#     /etc/hapid/hapid.env -- on a free port, and write data: a session; `hapid-pair` on a
#     terminal (script(1)) shows the phone URL and a QR code that zbarimg decodes to it;
#  3. dpkg -i of the second version: the same token, JWT secret and session, /etc/hapid/hapid.env
#     as edited (a conffile), the hub of the new version serving them;
#  4. dpkg -r: the binary and the unit are gone, /var/lib/hapid (database, settings) and
#     /etc/hapid are kept;
#  5. dpkg -P: /var/lib/hapid, /var/log/hapid and /etc/hapid are gone;
#  6. the arm64 and armhf packages (where their static binaries are built): architecture,
#     contents, and the binary running under qemu-user when installed.
#
#   scripts/check-deb.sh [HAPID_BINARY]    (default: the x86_64 musl build)
#
# Needs root, dpkg and curl (installs zbar-tools when missing). It refuses to run when a `hapid` package is already installed,
# uses a free port, stops only the hub it started (by PID), and on any exit purges what it
# installed and deletes the `hapid` user and group if it created them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok   $*"; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
command -v dpkg >/dev/null || fail "needs dpkg (a Debian machine)"
command -v curl >/dev/null || fail "needs curl"
if dpkg-query -W -f='${Status}' hapid 2>/dev/null | grep -q installed; then
  fail "a hapid package is installed on this machine; not touching it"
fi
missing=()
command -v zbarimg >/dev/null || missing+=(zbar-tools)
command -v script >/dev/null || missing+=(bsdutils)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
BIN=${1:-${CARGO_TARGET_DIR:-$ROOT/target/cross}/dist/hapid-x86_64-unknown-linux-musl}
if [ ! -x "$BIN" ] && [ $# -eq 0 ]; then scripts/build-static.sh x86_64 >&2; fi
[ -x "$BIN" ] || fail "no binary at $BIN"

T=$(mktemp -d "${TMPDIR:-/tmp}/hapid-check-deb-XXXXXX")
had_user=0
getent passwd hapid >/dev/null && had_user=1
had_group=0
getent group hapid >/dev/null && had_group=1
PID=""
systemd=0
[ -d /run/systemd/system ] && systemd=1
stop_hub() {
  if [ "$systemd" = 1 ]; then
    systemctl stop hapid.service 2>/dev/null || true
  elif [ -n "$PID" ]; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
  fi
}
cleanup() {
  stop_hub
  if dpkg-query -W -f='${Status}' hapid 2>/dev/null | grep -qv not-installed; then
    dpkg -P hapid >/dev/null 2>&1 || true
  fi
  if [ "$had_user" = 0 ] && getent passwd hapid >/dev/null; then userdel hapid 2>/dev/null || true; fi
  if [ "$had_group" = 0 ] && getent group hapid >/dev/null; then groupdel hapid 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT

echo "== build"
v1=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -1)
v2=$v1+check2
deb1=$(scripts/build-deb.sh --binary "$BIN" --out "$T/deb" --version "$v1" amd64)
deb2=$(scripts/build-deb.sh --binary "$BIN" --out "$T/deb" --version "$v2" amd64)
dpkg --compare-versions "$v2" gt "$v1" || fail "$v2 does not sort after $v1"
ok "$(basename "$deb1"), $(basename "$deb2")"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

# The installed hub, as the package runs it.
start_hub() {
  if [ "$systemd" = 1 ]; then
    systemctl restart hapid.service
  else
    # The unit's Environment= lines, then /etc/hapid/hapid.env, as systemd would apply them.
    local envs=()
    while IFS= read -r l; do envs+=("$l"); done < <(sed -n 's/^Environment=//p' /lib/systemd/system/hapid.service)
    while IFS= read -r l; do
      case "$l" in '' | \#*) ;; *) envs+=("$l") ;; esac
    done </etc/hapid/hapid.env
    (cd / && exec setpriv --reuid=hapid --regid=hapid --clear-groups \
      env -i PATH=/usr/bin:/bin "${envs[@]}" /usr/bin/hapid hub) >>"$T/hub.log" 2>&1 </dev/null &
    PID=$!
  fi
  for _ in $(seq 100); do
    curl -fsS "$base/health" >/dev/null 2>&1 && return 0
    [ "$systemd" = 1 ] || kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$T/hub.log" >&2 2>/dev/null || true
  [ "$systemd" = 0 ] || journalctl -u hapid --no-pager -n 50 >&2 || true
  fail "the installed hub did not answer /health"
}
token() { sed -n 's/.*"cliApiToken" *: *"\([^"]*\)".*/\1/p' /var/lib/hapid/settings.json; }
jwt() {
  curl -fsS -H 'content-type: application/json' -d "{\"accessToken\":\"$(token)\"}" "$base/api/auth" |
    sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p'
}

echo "== install $v1 (systemd running: $([ $systemd = 1 ] && echo yes || echo "no, PID 1 is $(ps -p 1 -o comm=)"))"
# The port to use, set the way a user would: in the settings file (a conffile).
printf 'HAPI_LISTEN_HOST=127.0.0.1\nHAPI_LISTEN_PORT=%s\n' "$port" >"$T/hapid.env"
dpkg -i "$deb1" >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -i $v1"; }
[ "$(dpkg-query -W -f='${Version}' hapid)" = "$v1" ] || fail "installed version"
[ -x /usr/bin/hapid ] && /usr/bin/hapid --version | grep -q "^hapid " || fail "/usr/bin/hapid"
[ -f /lib/systemd/system/hapid.service ] || fail "no unit"
grep -q '^User=hapid$' /lib/systemd/system/hapid.service || fail "unit user"
getent passwd hapid | grep -q ':/var/lib/hapid:/usr/sbin/nologin$' || fail "hapid user: $(getent passwd hapid)"
[ "$(stat -c '%U:%G %a' /var/lib/hapid)" = "hapid:hapid 700" ] || fail "/var/lib/hapid: $(stat -c '%U:%G %a' /var/lib/hapid)"
[ "$(stat -c '%U %a' /etc/hapid/hapid.env)" = "root 600" ] || fail "/etc/hapid/hapid.env mode"
ok "files, the hapid user, /var/lib/hapid 0700 hapid:hapid, /etc/hapid/hapid.env 0600 root"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/hapid.service >"$T/verify.txt" 2>&1 || { cat "$T/verify.txt"; fail "systemd-analyze verify"; }
  [ ! -s "$T/verify.txt" ] || { cat "$T/verify.txt"; fail "systemd-analyze verify printed warnings"; }
  ok "systemd-analyze verify: the packaged unit"
fi
[ "$systemd" = 0 ] || stop_hub # started by postinst on the default port; use ours
cat "$T/hapid.env" >>/etc/hapid/hapid.env
start_hub
ok "the installed hub serves $base (pid ${PID:-systemd}, as $(ps -o user= -p "${PID:-$(systemctl show -p MainPID --value hapid)}"))"
[ -s /var/lib/hapid/settings.json ] || fail "no settings.json"
[ "$(stat -c '%U %a' /var/lib/hapid/settings.json)" = "hapid 600" ] || fail "settings.json mode"
if grep -qF "$(token)" "$T/hub.log" 2>/dev/null; then fail "the token went to the log"; fi
tok1=$(token)
secret1=$(sha256sum /var/lib/hapid/jwt-secret.json)
created=$(curl -fsS -H "authorization: Bearer $tok1" -H 'content-type: application/json' \
  -d '{"tag":"check-deb-kept-across-upgrades"}' "$base/cli/sessions")
sid=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["session"]["id"])') ||
  fail "no session created: $created"
created_at=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["session"]["createdAt"])')
# A web login too: the JWT secret and owner are part of what an upgrade must keep.
[ -n "$(jwt)" ] || fail "POST /api/auth"
ok "wrote a session ($sid, tag check-deb-kept-across-upgrades); a web login"
# hapid-pair: the token and the phone URL on a terminal (a QR code that decodes to it), never
# off one.
out=$(hapid-pair </dev/null)
echo "$out" | grep -q "hapi runner start" || fail "hapid-pair: $out"
if echo "$out" | grep -qF "$tok1"; then fail "hapid-pair printed the token off a terminal"; fi
if command -v script >/dev/null; then
  script -qfec hapid-pair /dev/null </dev/null >"$T/pair.tty" 2>&1 || true
  grep -qF "/?token=$tok1" "$T/pair.tty" || { cat "$T/pair.tty"; fail "hapid-pair on a terminal shows no phone URL"; }
  if command -v zbarimg >/dev/null; then
    got=$(python3 scripts/qr-from-text.py <"$T/pair.tty" >"$T/pair.pgm" && zbarimg -q --raw "$T/pair.pgm" 2>/dev/null) || true
    # The public URL is the default, http://localhost:<port>.
    [ "$got" = "http://localhost:$port/?token=$tok1" ] || fail "the QR code decodes to '$got', not the phone URL"
    ok "hapid-pair: the phone URL and a QR code that zbarimg decodes to it; no token off a terminal"
  else
    ok "hapid-pair: the phone URL on a terminal, no token off one (no zbarimg: QR not decoded)"
  fi
fi
stop_hub

echo "== upgrade to $v2"
dpkg -i "$deb2" >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -i $v2"; }
[ "$(dpkg-query -W -f='${Version}' hapid)" = "$v2" ] || fail "upgraded version"
grep -q "^HAPI_LISTEN_PORT=$port$" /etc/hapid/hapid.env || fail "the edited /etc/hapid/hapid.env was replaced"
[ "$(token)" = "$tok1" ] || fail "the token changed"
[ "$(sha256sum /var/lib/hapid/jwt-secret.json)" = "$secret1" ] || fail "the JWT secret changed"
start_hub
got=$(curl -fsS -H "authorization: Bearer $(jwt)" "$base/api/sessions/$sid")
echo "$got" | python3 -c '
import json, sys
s = json.load(sys.stdin)["session"]
sys.exit(0 if (s["id"], str(s["createdAt"])) == (sys.argv[1], sys.argv[2]) else 1)' "$sid" "$created_at" ||
  fail "the session is gone after the upgrade: $got"
again=$(curl -fsS -H "authorization: Bearer $tok1" -H 'content-type: application/json' \
  -d '{"tag":"check-deb-kept-across-upgrades"}' "$base/cli/sessions")
echo "$again" | grep -q "\"id\":\"$sid\"" || fail "the CLI's tag no longer finds the session: $again"
ok "same token, JWT secret, settings; the session served by $v2 over the web API"
stop_hub

echo "== remove"
dpkg -r hapid >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -r"; }
[ ! -e /usr/bin/hapid ] && [ ! -e /usr/bin/hapid-pair ] || fail "the binary is still there"
[ ! -e /lib/systemd/system/hapid.service ] || fail "the unit is still there"
[ -s /var/lib/hapid/hapid.db ] && [ "$(token)" = "$tok1" ] || fail "remove deleted the data"
[ -f /etc/hapid/hapid.env ] || fail "remove deleted the settings (a conffile)"
ok "binary and unit gone; /var/lib/hapid (hapid.db, settings.json) and /etc/hapid kept"

echo "== purge"
dpkg -P hapid >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -P"; }
[ ! -e /var/lib/hapid ] && [ ! -e /var/log/hapid ] && [ ! -e /etc/hapid ] || fail "purge left data"
dpkg-query -W -f='${Status}' hapid 2>/dev/null | grep -q installed && fail "still known to dpkg"
ok "/var/lib/hapid, /var/log/hapid, /etc/hapid gone"
echo "== arm64 and armhf packages"
DIST=$(dirname "$BIN")
for pair in arm64:aarch64-unknown-linux-musl:qemu-aarch64 armhf:armv7-unknown-linux-musleabihf:qemu-arm; do
  IFS=: read -r arch triple qemu <<<"$pair"
  if [ ! -x "$DIST/hapid-$triple" ]; then
    echo "  skip $arch: no $DIST/hapid-$triple (scripts/build-static.sh builds it)"
    continue
  fi
  deb=$(scripts/build-deb.sh --binary "$DIST/hapid-$triple" --out "$T/deb" --version "$v1" "$arch")
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$deb: Architecture"
  rm -rf "$T/x" && dpkg-deb -x "$deb" "$T/x"
  cmp -s "$T/x/usr/bin/hapid" "$DIST/hapid-$triple" || fail "$deb: /usr/bin/hapid is not the $triple binary"
  [ -f "$T/x/lib/systemd/system/hapid.service" ] || fail "$deb: no unit"
  if command -v "$qemu" >/dev/null; then
    "$qemu" "$T/x/usr/bin/hapid" --version | grep -q '^hapid ' || fail "$deb: the binary does not run under $qemu"
    ok "$(basename "$deb"): Architecture $arch, the $triple binary (runs under $qemu), the unit"
  else
    ok "$(basename "$deb"): Architecture $arch, the $triple binary, the unit"
  fi
done
echo "check-deb: install, upgrade, remove, purge: pass"
