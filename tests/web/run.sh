#!/usr/bin/env bash
# The official web app in headless Chromium, against hapid and against the official hub, in one
# run, then a side-by-side comparison (PASS/FAIL per step per hub, failing requests with both
# answers, field differences).
#
#   tests/web/run.sh                 install what is missing, build hapid, run both, compare
#   HAPID_BIN=/path/to/hapid ...     test that binary (no cargo build)
#   WEB_HUBS="hapid" ...             run only these hubs (default "hapid official")
#
# Installs when missing: Debian's chromium (apt), node deps (npm ci: playwright-core,
# socket.io-client), the official hub package (npm pack) and the web bundle it serves
# (fetch-official-bundle.sh). Screenshots, logs, requests.json, result.json per hub go to
# tests/web/out/<hub>/, the comparison to tests/web/out/comparison.txt.
# Then tests/web/https.sh: the web app over HTTPS against hapid (a throw-away CA; a secure
# context, the service worker active, PushManager, a push decrypted).
# Exit code 0 only when every step passes on every hub that ran.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
hubs="${WEB_HUBS:-hapid official}"

command -v node >/dev/null || { echo "tests/web: node (>= 20) is required" >&2; exit 2; }
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "tests/web: node >= 20 is required, found $(node --version)" >&2
  exit 2
fi

chromium_bin="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [ ! -x "$chromium_bin" ]; then
  echo "== installing chromium (apt)" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  # A partly failing index refresh (e.g. one foreign-architecture list) must not stop the install.
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
export CHROMIUM_BIN="$chromium_bin"

if [ -z "${HAPID_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet --bin hapid)
fi

cd "$here"
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/socket.io-client ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
pkg="$(bash "$here/install-official-hub.sh")"
bundle="$(bash "$here/fetch-official-bundle.sh" | tail -n 1)"

rm -rf "$here/out"
mkdir -p "$here/out"
status=0
prev=""
for hub in $hubs; do
  echo "== browser test against $hub"
  probe=()
  if [ -n "$prev" ] && [ -f "$here/out/$prev/requests.json" ]; then
    probe=(--probe "$here/out/$prev/requests.json")
  fi
  if ! node "$here/browser.mjs" --hub "$hub" --bundle "$bundle" --official-pkg "$pkg" "${probe[@]}"; then
    status=1
  fi
  prev="$hub"
done

case " $hubs " in
  *" hapid "*)
    echo "== the web app over HTTPS against hapid (secure context, service worker, push)"
    bash "$here/https.sh" "$bundle" || status=1
    ;;
esac

echo
echo "== comparison"
if [ "$hubs" = "hapid official" ] || [ "$hubs" = "official hapid" ]; then
  node "$here/compare.mjs" "$here/out" || status=1
else
  for hub in $hubs; do
    node -e '
      const r = require(process.argv[1]);
      for (const s of r.steps) console.log(`${s.name.padEnd(20)} ${s.status.padEnd(5)} ${s.detail}`);
    ' "$here/out/$hub/result.json"
  done
fi
exit "$status"
