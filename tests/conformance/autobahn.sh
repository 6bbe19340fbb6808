#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing client (cases 1-11, i.e. every core case: 1-7, 9, 10;
# 12/13 are permessage-deflate, which hapid declines) against the conformance server's
# plain WebSocket echo endpoint, ws://127.0.0.1:PORT/echo.
#
#   tests/conformance/autobahn.sh
#
# The official fuzzing client (PyPI `autobahntestsuite`, even 25.10.1) is Python 2.7 code
# (`print x`, `except E, e:`) pinned to Twisted 19 / autobahn 0.10.9. Debian 12 offers no
# Python 2 (no python2, no 2.7 pypy; only pypy3, which cannot parse it), so this uses
# the CPython 2.7 that pyenv ships on these machines (/root/.pyenv/versions/2.7.*), or any
# `python2.7` on PATH, or $PYTHON2. The package and its pinned dependencies install from
# PyPI into tests/conformance/.autobahn/ (ignored by git).
#
# Prints the per-case results summary and exits non-zero if any case FAILED (NON-STRICT and
# INFORMATIONAL are not failures, as in Autobahn's own report).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$here/.autobahn"
mkdir -p "$work"

py2="${PYTHON2:-}"
if [ -z "$py2" ]; then
    for c in python2.7 /root/.pyenv/versions/2.7*/bin/python2.7 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python2.7; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
            py2=$(command -v "$c")
            break
        fi
    done
fi
if [ -z "$py2" ]; then
    echo "autobahn: no Python 2.7 found (set PYTHON2); the official fuzzing client needs it"
    exit 1
fi
echo "== using $py2"

export PYTHONUSERBASE="$work/py"
if ! "$py2" -c 'import autobahntestsuite' 2>/dev/null; then
    echo "== pip install autobahntestsuite (Python 2.7, user base $PYTHONUSERBASE)"
    "$py2" -m pip install --user --disable-pip-version-check --no-warn-script-location \
        --quiet autobahntestsuite==25.10.1
fi

echo "== cargo build --release --bin conformance"
(cd "$root" && cargo build --release --bin conformance)
bin="${CARGO_TARGET_DIR:-$root/target}/release/conformance"

"$bin" 0 >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 100); do
    url=$(sed -n 's#^conformance server listening on http://\([0-9.:]*\)$#\1#p' "$work/server.log")
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; echo "server died"; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { cat "$work/server.log"; echo "server did not start"; exit 1; }

rm -rf "$work/reports"
cat >"$work/fuzzingclient.json" <<EOF
{
  "outdir": "$work/reports",
  "servers": [{"agent": "hapid", "url": "ws://$url/echo"}],
  "cases": ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "8.*", "9.*", "10.*", "11.*"],
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
EOF
echo "== wstest -m fuzzingclient against ws://$url/echo"
(cd "$work" && "$py2" -m autobahntestsuite.wstest -m fuzzingclient -s fuzzingclient.json \
    >"$work/wstest.log" 2>&1) || { tail -20 "$work/wstest.log"; echo "wstest failed"; exit 1; }

# Summarize reports/index.json (python3: the machine's own).
python3 - "$work/reports/index.json" <<'EOF'
import collections, json, sys

cases = json.load(open(sys.argv[1]))["hapid"]
key = lambda k: [int(x) for x in k.split(".")]
counts = collections.Counter()
for k in sorted(cases, key=key):
    v = cases[k]
    b, bc = v["behavior"], v["behaviorClose"]
    worst = "FAILED" if "FAILED" in (b, bc) or bc == "UNCLEAN" else b
    counts[worst] += 1
    if worst not in ("OK", "INFORMATIONAL"):
        print(f"  case {k}: {b} (close: {bc})")
print("autobahn: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
failed = counts["FAILED"]
print(f"autobahn: {len(cases) - failed} passed, {failed} failed")
sys.exit(1 if failed or not cases else 0)
EOF
