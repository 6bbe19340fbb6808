#!/usr/bin/env bash
# Fetch the official HAPI web app, exactly as the official hub serves it, into a directory
# hapid serves: by default $HAPI_HOME/web (~/.hapi/web), where hapid finds it without any
# setting. Restart hapid afterwards.
#
#   scripts/fetch-web.sh [TARGET_DIR] [--force]
#
#   scripts/fetch-web.sh                          # ~/.hapi/web, or $HAPI_HOME/web
#   sudo scripts/fetch-web.sh /var/lib/hapid/web  # the .deb package's HAPI_HOME
#   scripts/fetch-web.sh /tmp/web && scp -r /tmp/web pi:.hapi/web   # for another machine
#
# The web app is built into the official hub binary, published on npm for linux x86_64
# (@twsxtd/hapi-linux-x64) and aarch64 (@twsxtd/hapi-linux-arm64). This script downloads the
# package for the machine it runs on from registry.npmjs.org (curl or wget; the sha512 is
# checked against the registry's, and for 0.30.7 against the one pinned here), starts that
# hub on a free loopback port with a throwaway HAPI_HOME and token, copies `/`, every file it
# references, /sw.js and its precache list, the manifest and icons into TARGET_DIR with
# scripts/web-crawl.mjs — run by the official binary itself as Bun (BUN_BE_BUN=1), so node
# is not needed — stops the hub and deletes the package. The web app is the same files on
# every architecture: on a 32-bit Pi or a router (no official package), run this on any
# x86_64 or aarch64 Linux machine with a TARGET_DIR and copy that directory over.
#
# Does nothing when TARGET_DIR/index.html exists, unless --force. Prints TARGET_DIR on its
# last line. Needs curl or wget, tar, about 350 MB free in $TMPDIR for a minute.
# HAPI_VERSION picks another release (default 0.30.7).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=${HAPI_VERSION:-0.30.7}
target=""
force=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; /^set -euo/d'; exit 0 ;;
    -*) echo "fetch-web: unknown option $a" >&2; exit 2 ;;
    *) [ -z "$target" ] || { echo "fetch-web: one TARGET_DIR only" >&2; exit 2; }; target=$a ;;
  esac
done
if [ -z "$target" ]; then
  home=${HAPI_HOME:-$HOME/.hapi}
  target=${home/#\~/$HOME}/web
fi
case "$target" in /*) ;; *) target=$PWD/$target ;; esac

if [ "$force" = 0 ] && [ -s "$target/index.html" ]; then
  echo "fetch-web: $target already holds a web app (--force fetches it again)" >&2
  echo "$target"
  exit 0
fi

machine=$(uname -m)
case "$machine" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    cat >&2 <<EOF
fetch-web: there is no official HAPI package for $machine (only linux x86_64 and aarch64).
The web app is the same on every machine: run this script on an x86_64 or aarch64 Linux
machine with a directory, e.g.
    scripts/fetch-web.sh /tmp/hapi-web
and copy that directory here as $target (e.g. scp -r /tmp/hapi-web $(hostname):$target).
EOF
    exit 1
    ;;
esac
if [ "$(uname -s)" != Linux ]; then
  echo "fetch-web: runs on Linux (the official package is a Linux binary)" >&2
  exit 1
fi

pkg=@twsxtd/hapi-linux-$arch
# sha512 of the 0.30.7 tarballs (npm's dist.integrity), checked in addition to the registry's.
case "$arch@$version" in
  x64@0.30.7) pinned=/e712GKRzzeVD2SMO+ApIxd1/CkIHyKZRRzkEK1WWWvcie45Onres8z58V3liEA/JxbHUxaKaOPW7N0xQBVq1Q== ;;
  arm64@0.30.7) pinned=v3OQ7ZrsLLwcCGIBd9lCCp+5vNoR0u+g+oWUV2iIAWvi2nmGF6zHvYT0Bl4+G9rjk29wdR8XemrItSfQrc3kbg== ;;
  *) pinned="" ;;
esac
registry=${npm_config_registry:-https://registry.npmjs.org}
registry=${registry%/}

get() { # URL FILE
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null; then
    wget -q -O "$2" "$1"
  else
    echo "fetch-web: needs curl or wget" >&2
    return 1
  fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/hapid-fetch-web-XXXXXX")
hub_pid=""
cleanup() {
  if [ -n "$hub_pid" ] && kill -0 "$hub_pid" 2>/dev/null; then
    kill -TERM "$hub_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$hub_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$hub_pid" 2>/dev/null || true
  fi
  [ -z "$hub_pid" ] || wait "$hub_pid" 2>/dev/null || true
  rm -rf "$work" "$target.partial"
}
trap cleanup EXIT

echo "fetch-web: $pkg@$version from $registry" >&2
get "$registry/$pkg/$version" "$work/meta.json"
integrity=$(tr -d '\n' <"$work/meta.json" | sed -n 's/.*"integrity" *: *"sha512-\([A-Za-z0-9+\/=]*\)".*/\1/p')
tarball=$(tr -d '\n' <"$work/meta.json" | sed -n 's/.*"tarball" *: *"\([^"]*\)".*/\1/p')
[ -n "$integrity" ] && [ -n "$tarball" ] || { echo "fetch-web: no such package $pkg@$version" >&2; exit 1; }
if [ -n "$pinned" ] && [ "$integrity" != "$pinned" ]; then
  echo "fetch-web: the registry's sha512 of $pkg@$version is not the one pinned here" >&2
  exit 1
fi
get "$tarball" "$work/pkg.tgz"
got=$(sha512sum "$work/pkg.tgz" | cut -d' ' -f1 | sed 's/../\\x&/g')
got=$(printf '%b' "$got" | base64 | tr -d '\n')
if [ "$got" != "$integrity" ]; then
  echo "fetch-web: $pkg@$version: sha512 mismatch (download damaged?)" >&2
  exit 1
fi
tar xzf "$work/pkg.tgz" -C "$work" package/bin/hapi
rm -f "$work/pkg.tgz"
hapi=$work/package/bin/hapi
chmod 0755 "$hapi"

# The official binary doubles as the Bun runtime: a free port, then the crawl.
bun() { BUN_BE_BUN=1 "$hapi" "$@"; }
echo 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})' >"$work/port.js"
port=$(bun "$work/port.js")
token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
mkdir -m 0700 "$work/home"
HAPI_HOME="$work/home" CLI_API_TOKEN="$token" HAPI_LISTEN_HOST=127.0.0.1 HAPI_LISTEN_PORT="$port" \
  "$hapi" hub >"$work/hub.log" 2>&1 </dev/null &
hub_pid=$!
base=http://127.0.0.1:$port
echo 'fetch(process.argv[2]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' >"$work/probe.js"
for _ in $(seq 600); do
  if bun "$work/probe.js" "$base/health" 2>/dev/null; then break; fi
  if ! kill -0 "$hub_pid" 2>/dev/null; then
    echo "fetch-web: the official hub exited:" >&2
    cat "$work/hub.log" >&2
    exit 1
  fi
  sleep 0.2
done
bun "$work/probe.js" "$base/health" || { echo "fetch-web: the official hub did not start" >&2; cat "$work/hub.log" >&2; exit 1; }

rm -rf "$target.partial"
# A HAPI_HOME made here is private, as hapid makes it.
[ -d "$(dirname "$target")" ] || mkdir -p -m 0700 "$(dirname "$target")"
mkdir "$target.partial"
bun "$here/web-crawl.mjs" "$base" "$target.partial" >&2
[ -s "$target.partial/index.html" ] && [ -s "$target.partial/sw.js" ] || {
  echo "fetch-web: the copy has no index.html or sw.js" >&2
  exit 1
}
chmod -R u=rwX,go=rX "$target.partial"
# Run as root for a hub's home owned by its own user (the .deb's hapid): give it the files.
if [ "$(id -u)" = 0 ]; then chown -R "$(stat -c %u:%g "$(dirname "$target")")" "$target.partial"; fi
rm -rf "$target"
mv "$target.partial" "$target"
echo "fetch-web: the web app ($pkg@$version) is in $target; restart hapid to serve it" >&2
echo "$target"
