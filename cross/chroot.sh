#!/usr/bin/env bash
# chroot.sh - build the Debian package for another suite than this
# machine's (Debian 13 trixie, libgpiod 2, on a Debian 12 machine), in a
# debootstrapped chroot of that suite.  cross/deb.sh calls it after staging
# the source tree; use `SUITE=trixie make deb [ARCH=arm64|armhf]`.
#
#   cross/chroot.sh SUITE ARCH STAGED_TREE OUT_DIR
#
# The chroot, build-deb/chroot-SUITE/, is made once (debootstrap
# --variant=minbase, the suite plus its -updates and -security archives)
# and kept.  Each build copies the staged tree into it, runs that tree's
# own cross/deb.sh --staged ARCH there (which installs dpkg-dev, debhelper,
# lintian, the build dependencies and, for arm64/armhf, the multiarch cross
# toolchain of that suite, all inside the chroot), and copies the .deb,
# the build log and the lintian output back to OUT_DIR.  Only /proc is
# mounted into the chroot, and unmounted on every exit: no bind mount of
# the work tree or of /dev that a later `rm -rf build-deb` could follow.
#
# Needs root.  Exit status: that of the build inside; 2 when debootstrap
# is missing and not installed, or not root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -eq 4 ]] || { echo "usage: $0 SUITE ARCH STAGED_TREE OUT_DIR" >&2; exit 64; }
SUITE=$1 ARCH=$2 SRC=$3 OUT=$4
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CH=$ROOT/build-deb/chroot-$SUITE
say() { printf 'chroot[%s]: %s\n' "$SUITE" "$*"; }

if [[ $(id -u) -ne 0 ]]; then
  say "needs root (debootstrap, chroot, mount)" >&2
  exit 2
fi
if ! command -v debootstrap >/dev/null; then
  [[ ${CROSS_NO_INSTALL:-0} == 1 ]] && { say "debootstrap is not installed" >&2; exit 2; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# --- the chroot, once ----------------------------------------------------------
if [[ ! -f $CH/.complete ]]; then
  [[ ${CROSS_NO_INSTALL:-0} == 1 ]] && { say "no chroot in build-deb/chroot-$SUITE" >&2; exit 2; }
  rm -rf --one-file-system "$CH"
  say "debootstrap --variant=minbase $SUITE build-deb/chroot-$SUITE"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$CH" "$MIRROR" \
    >"$ROOT/build-deb/chroot-$SUITE.log" 2>&1 ||
    { tail -5 "$ROOT/build-deb/chroot-$SUITE.log"; exit 1; }
  cat >"$CH/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
  touch "$CH/.complete"
fi

# No manual pages or docs of the build dependencies: a multiarch pair of
# -dev packages whose man pages differ (libpsl-dev:amd64 and :arm64 on
# trixie, one of them binNMUed) cannot be co-installed otherwise.
# Copyright files stay.
printf '%s\n' 'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/doc/*' \
  'path-include=/usr/share/doc/*/copyright' >"$CH/etc/dpkg/dpkg.cfg.d/sensorgate-nodoc"

# --- the build inside ---------------------------------------------------------------
name=$(basename "$SRC")
rm -rf --one-file-system "$CH/build"
mkdir -p "$CH/build"
cp -a "$SRC" "$CH/build/$name"
cp /etc/resolv.conf "$CH/etc/resolv.conf" 2>/dev/null || true
mountpoint -q "$CH/proc" || mount -t proc proc "$CH/proc"
trap 'umount "$CH/proc" 2>/dev/null || true' EXIT

say "cross/deb.sh --staged $ARCH in build-deb/chroot-$SUITE"
rc=0
chroot "$CH" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-}" \
  JOBS="${JOBS:-$(nproc)}" CROSS_NO_INSTALL="${CROSS_NO_INSTALL:-0}" \
  /bin/sh -c 'apt-get update -qq || true
    dpkg --configure -a && apt-get -f install -y -qq >/dev/null || true # an interrupted build
    cd "/build/$1" && exec cross/deb.sh --staged "$2"' \
  _ "$name" "$ARCH" || rc=$?

mkdir -p "$OUT"
for f in "$CH"/build/*.deb "$CH"/build/*.ddeb "$CH"/build/*.buildinfo "$CH"/build/*.changes \
  "$CH"/build/build.log "$CH"/build/lintian.txt; do
  [[ -e $f ]] && cp "$f" "$OUT/"
done
((rc == 0)) || exit "$rc"
deb=$(ls "$OUT"/sensorgate_*_"$ARCH".deb | head -1)
say "copied back to ${OUT#"$ROOT"/}"
echo "$deb"
