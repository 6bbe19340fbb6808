#!/usr/bin/env bash
# The web app over HTTPS in Chromium against hapid (tests/web/https.mjs): makes a throw-away
# CA and a localhost certificate with openssl, lets node trust the CA (NODE_EXTRA_CA_CERTS)
# and Chromium the certificate's public key, and runs the checks. Called by tests/web/run.sh
# with the bundle directory; CHROMIUM_BIN and HAPID_BIN as there.
#
#   tests/web/https.sh <web app bundle dir>
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bundle="$1"
command -v openssl >/dev/null || { echo "tests/web/https.sh: openssl is required" >&2; exit 2; }
if [ ! -d "$here/../push/node_modules/http_ece" ]; then
  (cd "$here/../push" && npm ci --no-audit --no-fund --loglevel=error)
fi
dir="$(mktemp -d "${TMPDIR:-/tmp}/hapid-https-XXXXXX")"
trap 'rm -rf "$dir"' EXIT
(
  cd "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -days 2 -subj /CN=hapid-https-test-ca 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
    -out server.csr -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 0x77 -out server.pem \
    -days 2 -extfile server.ext 2>/dev/null
)
spki="$(openssl x509 -in "$dir/server.pem" -pubkey -noout | openssl pkey -pubin -outform der |
  openssl dgst -sha256 -binary | base64)"
NODE_EXTRA_CA_CERTS="$dir/ca.pem" node "$here/https.mjs" --cert "$dir/server.pem" \
  --key "$dir/server.key" --spki "$spki" --bundle "$bundle"
