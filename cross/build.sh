#!/usr/bin/env bash
# cross/build.sh - cross-build sensorgate for a Raspberry Pi on a Debian
# amd64 machine, with Debian's multiarch toolchains and libraries.
#
#   cross/build.sh arm64          Pi 3/4/5 (and Zero 2 W) on a 64-bit OS
#   cross/build.sh armhf          32-bit Raspberry Pi OS / Debian armhf
#   cross/build.sh arm64 -B       extra arguments go to make
#   cross/build.sh arm64 --setup-only   install what is missing, build nothing
#                                 (cross/deb.sh uses it)
#
# It adds the foreign architecture, installs crossbuild-essential-ARCH,
# pkgconf:ARCH (which provides TRIPLET-pkg-config) and the -dev libraries
# :ARCH when they are missing (apt-get as root, or through sudo), then runs
#
#   make BUILD=build-ARCH CC=TRIPLET-gcc PKG_CONFIG=TRIPLET-pkg-config
#
# and writes build-ARCH/sensorgate plus a stripped copy,
# build-ARCH/sensorgate.stripped, the one to copy to the Pi, and its
# modules, build-ARCH/modules/*.so (stripped: build-ARCH/modules.stripped/).
#
# Environment:
#   CROSS_NO_INSTALL=1   never call apt-get; fail (exit 2) when something
#                        is missing - what tests/cross_check.sh uses
#   CROSS_SYSROOT=1      skip the multiarch install and use the sysroot
#                        fallback described below (build-ARCH/sysroot)
#   JOBS=N               parallel make jobs (default: number of cores)
#
# Exit status: 0 built, 1 build failed, 2 toolchain missing and not
# installed, 64 usage.
#
# A note on armhf: Debian's armhf port, and so this build, targets ARMv7-A
# (Thumb-2, VFPv3-D16).  Raspberry Pi OS 32-bit is a rebuild of Debian for
# ARMv6 with the same hard-float ABI, so the binary runs there on ARMv7 and
# later boards (Pi 2/3/4/5, Zero 2 W), but NOT on the ARMv6 boards (Pi 1,
# Zero, Zero W): build natively on those.  See docs/raspberry-pi.md.
set -euo pipefail

usage() {
  echo "usage: $0 arm64|armhf [--setup-only | make arguments...]" >&2
  exit 64
}

[[ $# -ge 1 ]] || usage
ARCH=$1
shift
SETUP_ONLY=0
if [[ ${1:-} == --setup-only ]]; then
  SETUP_ONLY=1
  shift
fi
case "$ARCH" in
  arm64) TRIPLET=aarch64-linux-gnu ;;
  armhf) TRIPLET=arm-linux-gnueabihf ;;
  *) usage ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'cross[%s]: %s\n' "$ARCH" "$*"; }
BUILD_DIR=build-$ARCH
# The pkg-config modules the Makefile links (its PKGS line), and the
# Debian -dev package of each.
read -r -a MODULES <<<"$(sed -n 's/^PKGS[[:space:]]*:*=[[:space:]]*//p' "$ROOT/Makefile")"
((${#MODULES[@]})) || MODULES=(rdkafka libfyaml libmodbus libmosquitto libgpiod)
dev_package() {
  case "$1" in
    rdkafka) echo librdkafka-dev ;;
    libfyaml) echo libfyaml-dev ;;
    libmodbus) echo libmodbus-dev ;;
    libmosquitto) echo libmosquitto-dev ;;
    libgpiod) echo libgpiod-dev ;;
    sqlite3) echo libsqlite3-dev ;;
    libevent) echo libevent-dev ;;
    libsystemd) echo libsystemd-dev ;;
    libcrypto) echo libssl-dev ;;
    *) # Ask dpkg who owns the native .pc file.
      local pc
      pc=$(pkg-config --variable=pcfiledir "$1" 2>/dev/null)/$1.pc
      dpkg -S "$pc" 2>/dev/null | sed -n '1s/[:,].*//p' | grep . ||
        { say "no Debian package known for pkg-config module $1" >&2; exit 2; } ;;
  esac
}
LIBS=()
for m in "${MODULES[@]}"; do LIBS+=("$(dev_package "$m")"); done
PKGS=(crossbuild-essential-"$ARCH" pkgconf:"$ARCH")
for l in "${LIBS[@]}"; do PKGS+=("$l:$ARCH"); done

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    say "need root or sudo to run: $*" >&2
    exit 2
  fi
}

# --- 1. toolchain and libraries ------------------------------------------
missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
arch_added=yes
if [[ $(dpkg --print-architecture) != "$ARCH" ]] &&
  ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
  arch_added=no
fi

# The sysroot fallback: when the :ARCH libraries cannot be installed next
# to the native ones (Multi-Arch: same packages must have one version on
# every architecture, so a native library from a security update whose
# :ARCH build is not in the reachable index blocks the install), download
# the same -dev packages with apt-get download (verified by apt like any
# install) and unpack them into build-ARCH/sysroot instead.  Only the
# compiler then comes from crossbuild-essential-ARCH.
SYSROOT=""
use_sysroot() {
  SYSROOT=$ROOT/$BUILD_DIR/sysroot
  # .complete lists the packages the sysroot was made from; a changed
  # list (a library added to the Makefile) makes a new sysroot.
  if [[ -f $SYSROOT/.complete && $(cat "$SYSROOT/.complete") == "${LIBS[*]}" ]]; then
    return 0
  fi
  if ! installed crossbuild-essential-"$ARCH"; then
    [[ ${CROSS_NO_INSTALL:-0} == 1 ]] && { say "missing crossbuild-essential-$ARCH" >&2; exit 2; }
    as_root apt-get install -y -qq --no-install-recommends crossbuild-essential-"$ARCH"
  fi
  [[ ${CROSS_NO_INSTALL:-0} == 1 ]] && { say "no up-to-date sysroot in $BUILD_DIR/sysroot" >&2; exit 2; }
  rm -rf "$SYSROOT"
  say "populating $BUILD_DIR/sysroot with apt-get download"
  local tmp
  tmp=$(mktemp -d)
  : >"$tmp/status"
  # The closure of the -dev packages as if nothing were installed.
  apt-get -s -qq -o Dir::State::status="$tmp/status" install --no-install-recommends \
    libc6-dev:"$ARCH" "${LIBS[@]/%/:$ARCH}" |
    awk -v a="[$ARCH]" '$1 == "Inst" && index($0, a) { v = $3; gsub(/[()]/, "", v); print $2 "=" v }' \
    >"$tmp/list"
  [[ -s $tmp/list ]] || { say "cannot resolve the :$ARCH packages" >&2; exit 2; }
  mkdir -p "$SYSROOT/debs"
  (cd "$SYSROOT/debs" && xargs apt-get download -qq <"$tmp/list")
  for d in "$SYSROOT"/debs/*.deb; do dpkg-deb -x "$d" "$SYSROOT"; done
  rm -rf "$tmp" "$SYSROOT/debs"
  echo "${LIBS[*]}" >"$SYSROOT/.complete"
}

if [[ ${CROSS_SYSROOT:-0} == 1 || -f $ROOT/$BUILD_DIR/sysroot/.complete ]]; then
  use_sysroot
elif [[ $arch_added == no || ${#missing[@]} -gt 0 ]]; then
  if [[ ${CROSS_NO_INSTALL:-0} == 1 ]]; then
    [[ $arch_added == no ]] && say "architecture $ARCH is not added to dpkg" >&2
    ((${#missing[@]})) && say "missing packages: ${missing[*]}" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [[ $arch_added == no ]]; then
    say "dpkg --add-architecture $ARCH"
    as_root dpkg --add-architecture "$ARCH"
  fi
  say "installing ${missing[*]}"
  # A foreign architecture's index can fail to download (a mirror that
  # does not carry ARCH, or one mid-sync): apt-get update then exits
  # non-zero, but it has refreshed every other index and kept the old
  # lists of the failed ones, so the failure is not fatal here.  What
  # matters is whether the :ARCH packages have a candidate; if not, and
  # this script added the architecture, it removes it again so that the
  # broken index does not fail every later apt-get update on the machine.
  if ! as_root apt-get update -qq 2>"$ROOT/$BUILD_DIR.apt-update.log"; then
    say "apt-get update reported errors (kept in $BUILD_DIR.apt-update.log); going on"
    grep -E '^(E|W):' "$ROOT/$BUILD_DIR.apt-update.log" | head -5 >&2 || true
  fi
  no_candidate=()
  for p in crossbuild-essential-"$ARCH" "libc6-dev:$ARCH" "${LIBS[@]/%/:$ARCH}"; do
    [[ $(apt-cache policy "$p" 2>/dev/null) == *"Candidate: "[0-9]* ]] || no_candidate+=("$p")
  done
  if ((${#no_candidate[@]})); then
    say "no installable version of: ${no_candidate[*]} (is the $ARCH index reachable?)" >&2
    if [[ $arch_added == no ]] && [[ -z $(dpkg-query -W -f='${Architecture}\n' 2>/dev/null | grep -x "$ARCH") ]]; then
      say "dpkg --remove-architecture $ARCH (nothing of $ARCH is installed)"
      as_root dpkg --remove-architecture "$ARCH" || true
    fi
    exit 2
  fi
  # apt resolves a -dev package that is not Multi-Arch: same (libavro-dev
  # and libevent-dev on bookworm) by removing the native one, which breaks
  # the native build of this same tree: an install that would remove
  # anything is refused like one that cannot be resolved.
  sim_ok=1
  sim=$(apt-get install -s -qq --no-install-recommends "${missing[@]}" 2>&1) || sim_ok=0
  removes=$(awk '$1 == "Remv" { printf "%s ", $2 }' <<<"$sim")
  if ((sim_ok)) && [[ -z $removes ]]; then
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    say "the :$ARCH packages cannot be installed next to the native ones:"
    if [[ -n $removes ]]; then
      say "installing them would remove ${removes% }"
    else
      grep -E '^ ' <<<"$sim" | head -8 || true
    fi
    say "falling back to a sysroot (CROSS_SYSROOT=1 selects it directly)"
    use_sysroot
  fi
fi

# --- 2. pkg-config for the target ----------------------------------------
# Debian's pkgconf:ARCH provides TRIPLET-pkg-config, which searches only
# /usr/lib/TRIPLET/pkgconfig and /usr/share/pkgconfig.  Without it, plain
# pkg-config with PKG_CONFIG_LIBDIR does the same.
CC=$TRIPLET-gcc
LDFLAGS_X=""
if [[ -n $SYSROOT ]]; then
  export PKG_CONFIG_LIBDIR=$SYSROOT/usr/lib/$TRIPLET/pkgconfig:$SYSROOT/usr/share/pkgconfig
  export PKG_CONFIG_SYSROOT_DIR=$SYSROOT
  PKG_CONFIG=pkg-config
  CC="$TRIPLET-gcc --sysroot=$SYSROOT"
  LDFLAGS_X="-Wl,-rpath-link,$SYSROOT/usr/lib/$TRIPLET -Wl,-rpath-link,$SYSROOT/lib/$TRIPLET"
elif command -v "$TRIPLET-pkg-config" >/dev/null; then
  PKG_CONFIG=$TRIPLET-pkg-config
else
  say "$TRIPLET-pkg-config not found; using pkg-config with PKG_CONFIG_LIBDIR"
  export PKG_CONFIG_LIBDIR=/usr/lib/$TRIPLET/pkgconfig:/usr/share/pkgconfig
  PKG_CONFIG=pkg-config
fi
for m in "${MODULES[@]}"; do
  if ! "$PKG_CONFIG" --exists "$m"; then
    say "$PKG_CONFIG does not find $m (is the :$ARCH -dev package installed?)" >&2
    exit 2
  fi
done
command -v "$TRIPLET-gcc" >/dev/null || { say "$TRIPLET-gcc not found" >&2; exit 2; }
if ((SETUP_ONLY)); then
  say "toolchain and :$ARCH libraries ready${SYSROOT:+ (sysroot $BUILD_DIR/sysroot)}"
  exit 0
fi

# --- 3. build --------------------------------------------------------------
# The Makefile archives with plain `ar`; binutils' generic ELF support
# handles ARM objects, but the target's own ar is the right tool, so put
# it first on PATH for this make only.
shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
ln -s "$(command -v "$TRIPLET-ar")" "$shim/ar"

say "make BUILD=$BUILD_DIR CC=$CC PKG_CONFIG=$PKG_CONFIG${SYSROOT:+ (sysroot)}"
# -D_FILE_OFFSET_BITS=64: a 64-bit off_t and ino_t on armhf (a no-op on
# arm64), as dpkg-buildflags' future=+lfs gives the Debian package:
# otherwise readdir() fails with EOVERFLOW on 64-bit directory cookies or
# inode numbers (every 32-bit binary under qemu-user on a 64-bit host) and
# the spool recovery misses its segments.
margs=(BUILD="$BUILD_DIR" CC="$CC" AR="$TRIPLET-ar" NM="$TRIPLET-nm" PKG_CONFIG="$PKG_CONFIG"
  CFLAGS="-D_FILE_OFFSET_BITS=64 ${CFLAGS:-}")
[[ -n $LDFLAGS_X ]] && margs+=(LDFLAGS="$LDFLAGS_X")
PATH="$shim:$PATH" make -C "$ROOT" -j"${JOBS:-$(nproc)}" "${margs[@]}" "$@" || exit 1

bin=$ROOT/$BUILD_DIR/sensorgate
"$TRIPLET-strip" -o "$bin.stripped" "$bin"
# The loadable modules (kafka.format avro, the sink's SQLite output),
# stripped beside them: build-ARCH/modules.stripped/ goes to the Pi's
# module directory (docs/raspberry-pi.md).
rm -rf "$ROOT/$BUILD_DIR/modules.stripped"
mkdir -p "$ROOT/$BUILD_DIR/modules.stripped"
for m in "$ROOT/$BUILD_DIR"/modules/*.so; do
  "$TRIPLET-strip" --strip-unneeded -o "$ROOT/$BUILD_DIR/modules.stripped/$(basename "$m")" "$m"
done
say "built $BUILD_DIR/sensorgate and $BUILD_DIR/modules/"
file "$bin.stripped" 2>/dev/null | sed "s|$ROOT/||" || true
say "stripped size: $(stat -c %s "$bin.stripped") bytes"
