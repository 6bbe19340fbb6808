#!/usr/bin/env bash
# Build static (musl) release binaries of hapid.
#
#   scripts/build-static.sh [--no-install] [TARGET...]
#
# TARGET is any of x86_64-unknown-linux-musl, aarch64-unknown-linux-musl,
# armv7-unknown-linux-musleabihf (short names: x86_64, aarch64, armv7); default: all three.
#
# Toolchains come from Debian's packages (installed here when missing and we are root, unless
# --no-install): the GNU cross gcc of each architecture plus Debian's multi-arch musl-dev,
# whose `<triple>-gcc` wrappers compile C against musl's headers. Two crates build C:
# rusqlite (bundled SQLite) and ring (rustls' crypto, C + assembly). Compiling that C against
# glibc headers and then linking musl "mostly works" and fails in quiet ways (LFS64 aliases,
# _FORTIFY_SOURCE `__*_chk` symbols), so CC is always the musl wrapper; the final link is done
# by the GNU cross gcc driving rustc's self-contained musl objects.
#
# armv7: when rustup cannot install the prebuilt std for armv7-unknown-linux-musleabihf (some
# mirrors do not carry it), std is compiled from the rust-src component (`-Z build-std`, made
# available on a stable toolchain with RUSTC_BOOTSTRAP=1, scoped to that one cargo call), and
# the pieces the prebuilt target would carry are assembled from Debian's packages:
# musl's crt objects and libc.a (musl-dev:armhf), gcc's crtbegin/crtend, and LLVM libunwind
# built from rust-src with the cross compiler (what rustup's own musl targets ship).
#
# Output goes to $CARGO_TARGET_DIR (default target/cross, so the shared target/ is not
# thrashed) and a copy named hapid-<target> to $CARGO_TARGET_DIR/dist/. For each binary the
# script prints its path, size, sha256 and `file` output, and fails unless it is static.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/cross}
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}
DIST=$CARGO_TARGET_DIR/dist
INSTALL=1
TARGETS=()

for a in "$@"; do
  case "$a" in
    --no-install) INSTALL=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; /^set -euo/d'; exit 0 ;;
    x86_64 | x86_64-unknown-linux-musl) TARGETS+=(x86_64-unknown-linux-musl) ;;
    aarch64 | arm64 | aarch64-unknown-linux-musl) TARGETS+=(aarch64-unknown-linux-musl) ;;
    armv7 | armhf | armv7-unknown-linux-musleabihf) TARGETS+=(armv7-unknown-linux-musleabihf) ;;
    *) echo "build-static: unknown target or option '$a'" >&2; exit 2 ;;
  esac
done
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
fi

log() { printf '\033[1mbuild-static:\033[0m %s\n' "$*" >&2; }
die() { printf 'build-static: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Toolchains from Debian's packages
# ---------------------------------------------------------------------------------------------
APT_UPDATED=0
apt_install() {
  # apt_install PKG... — installs packages, adding foreign dpkg architectures when named.
  [ "$INSTALL" = 1 ] || die "missing packages: $* (run without --no-install as root, or install them)"
  [ "$(id -u)" = 0 ] || die "missing packages: $* (need root for apt-get, or install them yourself)"
  command -v apt-get >/dev/null || die "missing packages: $* (no apt-get: install the equivalents)"
  local p arch
  for p in "$@"; do
    case "$p" in
      *:*)
        arch=${p##*:}
        if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
          log "dpkg --add-architecture $arch"
          dpkg --add-architecture "$arch"
          APT_UPDATED=0
        fi
        ;;
    esac
  done
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    # A mirror mid-sync can fail one index; what we need is usually still there.
    apt-get update -qq || log "apt-get update reported errors; trying the install anyway"
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need() {
  # need CHECK-PATH-OR-COMMAND PACKAGE — collects PACKAGE if CHECK is missing.
  if [[ "$1" == /* ]]; then [ -e "$1" ] && return 0; else command -v "$1" >/dev/null && return 0; fi
  MISSING+=("$2")
}

MISSING=()
need file file
need cc gcc
for t in "${TARGETS[@]}"; do
  case "$t" in
    x86_64-unknown-linux-musl)
      need musl-gcc musl-tools
      ;;
    aarch64-unknown-linux-musl)
      need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
      need /usr/lib/aarch64-linux-musl/musl-gcc.specs musl-dev:arm64
      ;;
    armv7-unknown-linux-musleabihf)
      need arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf
      need arm-linux-gnueabihf-g++ g++-arm-linux-gnueabihf # C++ half of LLVM libunwind
      need /usr/lib/arm-linux-musleabihf/musl-gcc.specs musl-dev:armhf
      ;;
  esac
done
if [ ${#MISSING[@]} -gt 0 ]; then apt_install "${MISSING[@]}"; fi

command -v rustup >/dev/null || die "rustup is needed to add the musl targets"

# ---------------------------------------------------------------------------------------------
# armv7 without a prebuilt std: assemble what the rustup target would carry
# ---------------------------------------------------------------------------------------------
ARMV7_SYSROOT=$CARGO_TARGET_DIR/sysroot-armv7-musl

prepare_armv7_build_std() {
  rustup component add rust-src >/dev/null 2>&1 || die "rustup component add rust-src failed"
  local src uw spec o f
  src=$(rustc --print sysroot)/lib/rustlib/src/rust
  uw=$src/src/llvm-project/libunwind
  [ -d "$uw/src" ] || die "rust-src has no src/llvm-project/libunwind (needed for armv7)"
  spec=/usr/lib/arm-linux-musleabihf/musl-gcc.specs
  mkdir -p "$ARMV7_SYSROOT"
  for f in crt1.o crti.o crtn.o rcrt1.o Scrt1.o libc.a; do
    ln -sf "/usr/lib/arm-linux-musleabihf/$f" "$ARMV7_SYSROOT/$f"
  done
  for f in crtbegin.o crtend.o crtbeginS.o crtendS.o; do
    ln -sf "$(arm-linux-gnueabihf-gcc -print-file-name=$f)" "$ARMV7_SYSROOT/$f"
  done
  # LLVM libunwind, as rust's bootstrap builds it for the musl targets (its `Libunwind` step).
  local stamp=$ARMV7_SYSROOT/libunwind.stamp want
  want="$(rustc --version) $(arm-linux-gnueabihf-gcc -dumpfullversion)"
  if [ -f "$ARMV7_SYSROOT/libunwind.a" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "building LLVM libunwind for armv7 musl from rust-src"
  o=$ARMV7_SYSROOT/unwind-obj
  rm -rf "$o" && mkdir -p "$o"
  local common=(-specs "$spec" -O2 -fPIC -fstrict-aliasing -funwind-tables -fvisibility=hidden
    -D_LIBUNWIND_DISABLE_VISIBILITY_ANNOTATIONS -DNDEBUG -I"$uw/include")
  for f in Unwind-sjlj.c UnwindLevel1-gcc-ext.c UnwindLevel1.c UnwindRegistersRestore.S \
    UnwindRegistersSave.S; do
    arm-linux-gnueabihf-gcc "${common[@]}" -std=c99 -c "$uw/src/$f" -o "$o/$f.o"
  done
  for f in Unwind-EHABI.cpp Unwind-seh.cpp libunwind.cpp; do
    arm-linux-gnueabihf-g++ "${common[@]}" -std=c++17 -nostdinc++ -fno-exceptions -fno-rtti \
      -c "$uw/src/$f" -o "$o/$f.o"
  done
  rm -f "$ARMV7_SYSROOT/libunwind.a"
  arm-linux-gnueabihf-ar rcsD "$ARMV7_SYSROOT/libunwind.a" "$o"/*.o
  echo "$want" >"$stamp"
}

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------
# Flags go in CARGO_TARGET_<T>_RUSTFLAGS; a RUSTFLAGS in the environment would replace them.
EXTRA_RUSTFLAGS=${RUSTFLAGS:-}
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
# Paths of this checkout and of the cargo registry do not end up in the binary (panic
# locations), so the same sources give the same bytes wherever they are built.
REMAP="--remap-path-prefix=$ROOT=/hapid --remap-path-prefix=$CARGO_HOME_DIR=/cargo"

VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
mkdir -p "$DIST"
SUMMARY=()

build_one() {
  local t=$1 up cc ar linker flags build_std=()
  up=$(echo "$t" | tr 'a-z-' 'A-Z_')
  flags="$REMAP -C target-feature=+crt-static $EXTRA_RUSTFLAGS"
  case "$t" in
    x86_64-unknown-linux-musl) cc=musl-gcc; ar='ar'; linker='cc' ;;
    aarch64-unknown-linux-musl) cc=aarch64-linux-musl-gcc; ar=aarch64-linux-gnu-ar; linker=aarch64-linux-gnu-gcc ;;
    armv7-unknown-linux-musleabihf) cc=arm-linux-musleabihf-gcc; ar=arm-linux-gnueabihf-ar; linker=arm-linux-gnueabihf-gcc ;;
  esac
  if rustup target add "$t" >/dev/null 2>&1; then
    :
  elif [ "$t" = armv7-unknown-linux-musleabihf ]; then
    log "no prebuilt std for $t from rustup: building std from rust-src (-Z build-std)"
    prepare_armv7_build_std
    # rustc finds crt1.o/crtbegin.o/libc.a/libunwind.a in native search paths.
    flags="$flags -L native=$ARMV7_SYSROOT"
    # compiler_builtins built from source lacks a few libgcc helpers that C code calls
    # (mimalloc's popcount: __popcountsi2); the cross gcc's libgcc.a has them.
    flags="$flags -C link-arg=-lgcc"
    # shellcheck disable=SC2054 # one argument: the crate list is comma-separated
    build_std=(-Z build-std=std,panic_abort)
  else
    die "rustup target add $t failed"
  fi
  log "cargo build --release --target $t"
  env "CC_${t//-/_}=$cc" "AR_${t//-/_}=$ar" \
    "CARGO_TARGET_${up}_LINKER=$linker" "CARGO_TARGET_${up}_RUSTFLAGS=$flags" \
    ${build_std:+RUSTC_BOOTSTRAP=1} \
    cargo build --locked --release --target "$t" --bin hapid "${build_std[@]}"
  local bin=$CARGO_TARGET_DIR/$t/release/hapid out=$DIST/hapid-$t
  cp -f "$bin" "$out"
  local desc size
  desc=$(file -b "$out")
  size=$(stat -c %s "$out")
  case "$desc" in
    *"statically linked"* | *"static-pie linked"*) ;;
    *) die "$out is not statically linked: $desc" ;;
  esac
  if readelf -l "$out" 2>/dev/null | grep -q 'INTERP'; then
    die "$out has a program interpreter (dynamic loader)"
  fi
  SUMMARY+=("$(printf '%s\n  size:   %s bytes (%s KiB)\n  sha256: %s\n  file:   %s' \
    "$out" "$size" "$((size / 1024))" "$(sha256sum "$out" | cut -d' ' -f1)" "$desc")")
}

for t in "${TARGETS[@]}"; do build_one "$t"; done

echo
echo "hapid $VERSION static binaries ($(rustc --version)):"
for s in "${SUMMARY[@]}"; do echo "$s"; done
