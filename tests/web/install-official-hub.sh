#!/usr/bin/env bash
# Unpack the official hub binary package (@twsxtd/hapi-linux-x64@$HAPI_VERSION, default
# 0.30.7) into tests/web/.cache with `npm pack`, once. Prints the package directory (the one
# holding bin/hapi) on stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="${HAPI_VERSION:-0.30.7}"
cache="$here/.cache"
dir="$cache/hapi-linux-x64-$version"
if [ ! -x "$dir/package/bin/hapi" ]; then
  mkdir -p "$cache"
  tgz="$cache/twsxtd-hapi-linux-x64-$version.tgz"
  if [ ! -s "$tgz" ]; then
    (cd "$cache" && npm pack --silent "@twsxtd/hapi-linux-x64@$version" >/dev/null)
  fi
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  tar xzf "$tgz" -C "$dir.partial"
  chmod +x "$dir.partial/package/bin/hapi"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  rm -f "$tgz"
fi
echo "$dir/package"
