#!/usr/bin/env bash
# Get the official HAPI web app bundle exactly as the official hub serves it.
#
#   tests/web/fetch-official-bundle.sh [TARGET_DIR] [--force]
#
# Installs @twsxtd/hapi-linux-x64@$HAPI_VERSION (default 0.30.7) with `npm pack` into
# tests/web/.cache (gitignored), starts `<pkg>/bin/hapi hub` on a free loopback port with a
# temporary HAPI_HOME and CLI_API_TOKEN, copies `/` (index.html), every file it references,
# /sw.js (and its precache list), /manifest.webmanifest (and its icons), CSS url()s and the JS
# chunks referenced from JS into TARGET_DIR (default tests/web/.cache/bundle-$HAPI_VERSION),
# then stops the hub. Does nothing when TARGET_DIR/index.html exists, unless --force.
# Prints the bundle directory on its last line. Needs node >= 20, npm, tar, curl.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="${HAPI_VERSION:-0.30.7}"
cache="$here/.cache"
target=""
force=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -*) echo "fetch-official-bundle: unknown option $a" >&2; exit 2 ;;
    *) target="$a" ;;
  esac
done
target="${target:-$cache/bundle-$version}"

if [ "$force" = 0 ] && [ -s "$target/index.html" ]; then
  echo "fetch-official-bundle: $target already present (use --force to refetch)" >&2
  echo "$target"
  exit 0
fi

pkg="$(bash "$here/install-official-hub.sh")"
hapi="$pkg/bin/hapi"

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
home="$(mktemp -d -t hapi-official-XXXXXX)"
log="$home/hub.log"
token="fetch-bundle-$(node -e 'console.log(require("crypto").randomBytes(12).toString("hex"))')"
HAPI_HOME="$home/home" CLI_API_TOKEN="$token" HAPI_LISTEN_HOST=127.0.0.1 HAPI_LISTEN_PORT="$port" \
  "$hapi" hub >"$log" 2>&1 </dev/null &
hub_pid=$!
cleanup() {
  if kill -0 "$hub_pid" 2>/dev/null; then
    kill -TERM "$hub_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$hub_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$hub_pid" 2>/dev/null || true
  fi
  wait "$hub_pid" 2>/dev/null || true
  rm -rf "$home"
}
trap cleanup EXIT

base="http://127.0.0.1:$port"
for _ in $(seq 300); do
  if curl -fsS "$base/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$hub_pid" 2>/dev/null; then
    echo "fetch-official-bundle: the official hub exited:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS "$base/health" >/dev/null || { echo "fetch-official-bundle: hub did not start" >&2; cat "$log" >&2; exit 1; }

tmp_target="$target.partial"
rm -rf "$tmp_target"
mkdir -p "$tmp_target"
node "$here/../../scripts/web-crawl.mjs" "$base" "$tmp_target" >&2
rm -rf "$target"
mv "$tmp_target" "$target"
echo "$target"
