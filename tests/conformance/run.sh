#!/usr/bin/env bash
# Runs the official Socket.IO v5 and Engine.IO v4 protocol test suites (vendored under
# socket.io-protocol/ and engine.io-protocol/, see README.md) against hapid's conformance
# server (src/bin/conformance.rs).
#
#   tests/conformance/run.sh            # from anywhere; needs node + npm and cargo
#
# Installs the suites' npm dependencies (npm ci, from package-lock.json), builds the server
# (release), starts it on a free port, runs both suites against it, stops it, prints the
# pass/fail counts and exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

echo "== npm ci (suite dependencies)"
npm ci --no-audit --no-fund --loglevel=error

echo "== cargo build --release --bin conformance"
(cd "$root" && cargo build --release --bin conformance)
bin="${CARGO_TARGET_DIR:-$root/target}/release/conformance"

run="$here/.run"
rm -rf "$run"
mkdir -p "$run"

# Port 0: the kernel picks a free port and the server prints it, so there is no race.
"$bin" 0 >"$run/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 100); do
    url=$(sed -n 's#^conformance server listening on \(http://[0-9.:]*\)$#\1#p' "$run/server.log")
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$run/server.log"; echo "server died"; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { cat "$run/server.log"; echo "server did not start"; exit 1; }
echo "== server at $url"

total_pass=0
total_fail=0
status=0
for suite in engine.io-protocol socket.io-protocol; do
    # The suites hardcode `const URL = "http://localhost:3000";` (line 10). Point a copy at the
    # server; the vendored file stays as upstream ships it.
    mkdir -p "$run/$suite"
    cp "$suite/node-imports.js" "$run/$suite/"
    sed "s#^const URL = \"http://localhost:3000\";\$#const URL = \"$url\";#" \
        "$suite/test-suite.js" >"$run/$suite/test-suite.js"
    if [ "$(grep -c "^const URL = \"$url\";\$" "$run/$suite/test-suite.js")" != 1 ]; then
        echo "$suite: could not patch the server URL in test-suite.js"
        exit 1
    fi
    echo "== $suite"
    set +e
    node_modules/.bin/mocha --exit --reporter spec "$run/$suite/test-suite.js" 2>&1 \
        | tee "$run/$suite/mocha.log"
    rc=${PIPESTATUS[0]}
    set -e
    pass=$(sed -n 's/^ *\([0-9][0-9]*\) passing.*/\1/p' "$run/$suite/mocha.log")
    fail=$(sed -n 's/^ *\([0-9][0-9]*\) failing.*/\1/p' "$run/$suite/mocha.log")
    pass=${pass:-0}
    fail=${fail:-0}
    if [ "$rc" != 0 ] && [ "$fail" = 0 ]; then
        fail=1 # mocha itself failed (load error, crash)
    fi
    [ "$pass" = 0 ] && fail=$((fail > 0 ? fail : 1)) # a suite that ran nothing fails
    echo "$suite: $pass passed, $fail failed"
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    [ "$fail" = 0 ] || status=1
done

echo "conformance: $total_pass passed, $total_fail failed"
exit "$status"
