#!/usr/bin/env bash
# Build a Debian package (.deb) of hapid from a static musl binary of scripts/build-static.sh.
#
#   scripts/build-deb.sh [--version V] [--out DIR] [--binary FILE] ARCH...
#
# ARCH: amd64 (x86_64), arm64 (aarch64: Raspberry Pi 3/4/5 with a 64-bit OS) or armhf (armv7:
# 32-bit Raspberry Pi OS, ARMv7 routers); the build-static.sh names are accepted too. The
# binary is target/cross/dist/hapid-<triple> (built with scripts/build-static.sh when
# missing) or --binary FILE (one ARCH only). --version defaults to Cargo.toml's; --out to
# target/cross/deb. Needs dpkg-deb (Debian: dpkg) and gzip. Prints the path of each .deb.
#
# The package holds:
#   /usr/bin/hapid
#   /lib/systemd/system/hapid.service   contrib/hapid.service, run as the `hapid` system user
#                                       (DynamicUser=no, User=hapid) and from /usr/bin
#   /etc/hapid/hapid.env                settings (a conffile: kept on upgrade and remove)
#   /usr/share/hapid/fetch-web.sh       scripts/fetch-web.sh + web-crawl.mjs: the web app
#   /usr/share/doc/hapid/               README, copyright, changelog
# and maintainer scripts: postinst creates the `hapid` system user and group, /var/lib/hapid
# (HAPI_HOME: the database and settings; 0700 hapid) and /var/log/hapid, enables the unit and
# (re)starts it where systemd runs; prerm stops it on remove; postrm keeps /var/lib/hapid,
# /var/log/hapid and /etc/hapid on remove and deletes them only on purge. The `hapid` user
# stays after a purge, as Debian does for system users (files elsewhere may still be its).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
version=""
out=""
binary=""
arches=()
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version=$2; shift ;;
    --out) out=$2; shift ;;
    --binary) binary=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; /^set -euo/d'; exit 0 ;;
    -*) echo "build-deb: unknown option $1" >&2; exit 2 ;;
    *) arches+=("$1") ;;
  esac
  shift
done
[ ${#arches[@]} -gt 0 ] || { echo "usage: scripts/build-deb.sh [--version V] [--out DIR] ARCH... (amd64 arm64 armhf)" >&2; exit 2; }
[ -z "$binary" ] || [ ${#arches[@]} = 1 ] || { echo "build-deb: --binary takes one ARCH" >&2; exit 2; }
command -v dpkg-deb >/dev/null || { echo "build-deb: needs dpkg-deb (apt-get install dpkg)" >&2; exit 1; }
if [ -z "$version" ]; then
  version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -1)
fi
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || { echo "build-deb: bad version '$version'" >&2; exit 2; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/cross}
out=${out:-$CARGO_TARGET_DIR/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for a in "${arches[@]}"; do
  case "$a" in
    amd64 | x86_64 | x86_64-unknown-linux-musl) deb=amd64 triple=x86_64-unknown-linux-musl short=x86_64 ;;
    arm64 | aarch64 | aarch64-unknown-linux-musl) deb=arm64 triple=aarch64-unknown-linux-musl short=aarch64 ;;
    armhf | armv7 | armv7-unknown-linux-musleabihf) deb=armhf triple=armv7-unknown-linux-musleabihf short=armv7 ;;
    *) echo "build-deb: unknown ARCH $a (amd64, arm64, armhf)" >&2; exit 2 ;;
  esac
  bin=${binary:-$CARGO_TARGET_DIR/dist/hapid-$triple}
  if [ ! -x "$bin" ]; then
    [ -z "$binary" ] || { echo "build-deb: no binary at $bin" >&2; exit 1; }
    scripts/build-static.sh "$short" >&2
  fi
  if command -v file >/dev/null && ! file -L "$bin" | grep -Eq "statically linked|static-pie linked"; then
    echo "build-deb: $bin is not a static binary" >&2
    exit 1
  fi

  stage=$(mktemp -d "${TMPDIR:-/tmp}/hapid-deb-XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  p=$stage/pkg
  install -d -m 0755 "$p/DEBIAN" "$p/usr/bin" "$p/lib/systemd/system" "$p/etc/hapid" \
    "$p/usr/share/hapid" "$p/usr/share/doc/hapid"
  install -m 0755 "$bin" "$p/usr/bin/hapid"

  # The hardened unit of contrib/, with the package's fixed user and path.
  sed -e 's#^ExecStart=/usr/local/bin/hapid#ExecStart=/usr/bin/hapid#' \
    -e 's#^DynamicUser=yes#DynamicUser=no\nUser=hapid\nGroup=hapid#' \
    -e '/^# Install:/,/^# Settings:/{/^# Settings:/!d}' \
    -e 's#^\(\# Identity and state: \).*#\1the `hapid` system user of the hapid package,#' \
    -e 's#^\# /var/lib/hapid (HAPI_HOME)\. To use a fixed `hapid` account instead, see contrib/README\.md\.#\# owning only /var/lib/hapid (HAPI_HOME) and /var/log/hapid.#' \
    contrib/hapid.service >"$p/lib/systemd/system/hapid.service"
  chmod 0644 "$p/lib/systemd/system/hapid.service"
  grep -q '^User=hapid$' "$p/lib/systemd/system/hapid.service" &&
    grep -q '^ExecStart=/usr/bin/hapid hub$' "$p/lib/systemd/system/hapid.service" ||
    { echo "build-deb: contrib/hapid.service changed shape; update the sed above" >&2; exit 1; }

  cat >"$p/etc/hapid/hapid.env" <<'EOF'
# hapid settings: KEY=VALUE lines (`hapid --help` lists every variable). After a change:
#   sudo systemctl restart hapid
# HAPI_HOME is /var/lib/hapid (set by the unit). The CLI token is generated on the first
# start and kept there, in settings.json (cliApiToken); `sudo hapid-pair` shows it, the CLI
# command line and the phone URL as a QR code.
#
# Reach the hub from your phone and other machines (the default is this machine only):
#HAPI_LISTEN_HOST=0.0.0.0
#HAPI_PUBLIC_URL=http://raspberrypi.local:3006
#HAPI_LISTEN_PORT=3006
#
# A token of your own instead of the generated one:
#CLI_API_TOKEN=
#
#TELEGRAM_BOT_TOKEN=
#HAPID_LOG_FILE=/var/log/hapid/hapid.log
EOF
  chmod 0600 "$p/etc/hapid/hapid.env"

  install -m 0755 scripts/fetch-web.sh "$p/usr/share/hapid/fetch-web.sh"
  install -m 0644 scripts/web-crawl.mjs "$p/usr/share/hapid/web-crawl.mjs"
  # `hapid-pair`: the banner's next steps (token, phone URL, QR code) for the packaged hub,
  # read from its HAPI_HOME as the hapid user, on the terminal of whoever runs it.
  cat >"$p/usr/bin/hapid-pair" <<'EOF'
#!/bin/sh
# Shows how to connect a machine and a phone to the packaged hapid: the CLI command line with
# the token, and the phone URL, also as a QR code. Run it on a terminal: sudo hapid-pair
set -e
[ "$(id -u)" = 0 ] || { echo "hapid-pair: run it as root (sudo hapid-pair)" >&2; exit 1; }
set -a
[ ! -r /etc/hapid/hapid.env ] || . /etc/hapid/hapid.env
set +a
exec setpriv --reuid=hapid --regid=hapid --clear-groups \
  env HAPI_HOME=/var/lib/hapid ${HAPI_LISTEN_HOST:+HAPI_LISTEN_HOST=$HAPI_LISTEN_HOST} \
  ${HAPI_LISTEN_PORT:+HAPI_LISTEN_PORT=$HAPI_LISTEN_PORT} /usr/bin/hapid pair
EOF
  chmod 0755 "$p/usr/bin/hapid-pair"

  cp README.md "$p/usr/share/doc/hapid/README.md"
  cp contrib/README.md "$p/usr/share/doc/hapid/README.service.md"
  chmod 0644 "$p/usr/share/doc/hapid/"*
  cat >"$p/usr/share/doc/hapid/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hapid

Files: *
License: MIT
EOF
  printf 'hapid (%s) stable; urgency=medium\n\n  * Package built by scripts/build-deb.sh.\n\n -- hapid maintainers <hapid@localhost>  %s\n' \
    "$version" "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
    gzip -9n >"$p/usr/share/doc/hapid/changelog.gz"
  chmod 0644 "$p/usr/share/doc/hapid/changelog.gz" "$p/usr/share/doc/hapid/copyright"

  echo /etc/hapid/hapid.env >"$p/DEBIAN/conffiles"
  size=$(du -sk --exclude=DEBIAN "$p" | cut -f1)
  cat >"$p/DEBIAN/control" <<EOF
Package: hapid
Version: $version
Architecture: $deb
Maintainer: hapid maintainers <hapid@localhost>
Installed-Size: $size
Depends: passwd, util-linux
Section: net
Priority: optional
Homepage: https://github.com/tiann/hapi
Description: small, wire-compatible HAPI hub
 hapid is the server between the hapi CLI (which runs AI coding agents on your
 machines) and the HAPI web app on your phone, as one static binary of a few MB
 with one SQLite file. It runs as the hapid system user with its data in
 /var/lib/hapid. After installing: sudo /usr/share/hapid/fetch-web.sh
 /var/lib/hapid/web for the web app, settings in /etc/hapid/hapid.env, and
 sudo hapid-pair for the token and the phone URL.
EOF

  cat >"$p/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent group hapid >/dev/null; then groupadd --system hapid; fi
  if ! getent passwd hapid >/dev/null; then
    useradd --system --gid hapid --home-dir /var/lib/hapid --no-create-home \
      --shell /usr/sbin/nologin --comment "hapid (HAPI hub)" hapid
  fi
  # HAPI_HOME: the database, settings.json (the token), jwt-secret.json, vapid-keys.json.
  install -d -m 0700 -o hapid -g hapid /var/lib/hapid /var/log/hapid
  chown root:root /etc/hapid/hapid.env && chmod 0600 /etc/hapid/hapid.env
  if command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper unmask hapid.service >/dev/null || true
    if deb-systemd-helper --quiet was-enabled hapid.service; then
      deb-systemd-helper enable hapid.service >/dev/null || true
    else
      deb-systemd-helper update-state hapid.service >/dev/null || true
      [ -n "$2" ] || deb-systemd-helper enable hapid.service >/dev/null || true
    fi
  fi
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    if [ -n "$2" ]; then
      deb-systemd-invoke try-restart hapid.service >/dev/null || true
    else
      deb-systemd-invoke start hapid.service >/dev/null || true
    fi
  fi
  if [ -z "$2" ]; then
    cat <<'MSG'
hapid is installed (HAPI_HOME=/var/lib/hapid, settings in /etc/hapid/hapid.env).
  the web app:          sudo /usr/share/hapid/fetch-web.sh /var/lib/hapid/web && sudo systemctl restart hapid
  reach it from phones: set HAPI_LISTEN_HOST and HAPI_PUBLIC_URL in /etc/hapid/hapid.env
  token and phone URL:  sudo hapid-pair
MSG
  fi
fi
exit 0
EOF
  cat >"$p/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  deb-systemd-invoke stop hapid.service >/dev/null || true
fi
exit 0
EOF
  cat >"$p/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
  deb-systemd-helper mask hapid.service >/dev/null || true
fi
if [ "$1" = purge ]; then
  if command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper purge hapid.service >/dev/null || true
    deb-systemd-helper unmask hapid.service >/dev/null || true
  fi
  # Only a purge deletes the data: the database, the token and keys, the logs, the settings.
  rm -rf /var/lib/hapid /var/log/hapid /etc/hapid
fi
exit 0
EOF
  chmod 0755 "$p/DEBIAN/postinst" "$p/DEBIAN/prerm" "$p/DEBIAN/postrm"
  chmod 0644 "$p/DEBIAN/control" "$p/DEBIAN/conffiles"

  file=$out/hapid_${version}_${deb}.deb
  dpkg-deb --root-owner-group -Zxz --build "$p" "$file" >/dev/null
  rm -rf "$stage"
  trap - EXIT
  echo "$file"
done
