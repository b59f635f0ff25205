# shellcheck shell=bash disable=SC2034
# qemu.sh - sourced by the cross tests: how to run an ARM binary of this
# tree under qemu-user.
#
#   qemu_runner ARCH     sets QEMU (the qemu-user binary) and QEMU_ARGS, or
#                        returns 1 with a reason in QEMU_WHY
#   qemu_run CMD...      runs CMD under "$QEMU" "${QEMU_ARGS[@]}"
#
# The loader and libc must come from ONE glibc build.  With Debian's
# multiarch packages, libc6:ARCH puts both in /lib (the loader at
# /lib/ld-linux-aarch64.so.1, libc in /lib/aarch64-linux-gnu), and qemu
# finds them with no -L at all.  `-L /usr/aarch64-linux-gnu` (the old
# advice) makes qemu take the loader of the cross toolchain's
# libc6-arm64-cross (2.36-8cross1 on bookworm) while ld.so.cache still
# sends libc.so.6 to /lib/aarch64-linux-gnu (libc6:arm64, 2.36-9+deb12uN):
# two glibc builds whose private _rtld_global layouts differ, so the first
# pthread_create() walks a garbage stack-cache list forever.  That was the
# "rd_kafka_new() hangs under qemu-user" of issue 16: rd_kafka_new() makes
# the first thread; `version` and `check` make none, so they worked.
# (Evidence in docs/raspberry-pi.md.)  A sysroot build (build-ARCH/sysroot)
# has its own consistent loader and libc: -L sysroot.

qemu_runner() {
  local arch=$1 root=$2 q triplet loader
  case "$arch" in
    arm64) q=qemu-aarch64 triplet=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
    armhf) q=qemu-arm triplet=arm-linux-gnueabihf loader=ld-linux-armhf.so.3 ;;
    *) QEMU_WHY="unknown architecture $arch"; return 1 ;;
  esac
  QEMU=$(command -v "$q-static" || command -v "$q" || true)
  if [[ -z $QEMU ]]; then
    QEMU_WHY="neither $q-static nor $q is installed (apt-get install qemu-user-static)"
    return 1
  fi
  QEMU_ARGS=()
  if [[ -f $root/build-$arch/sysroot/.complete ]]; then
    QEMU_ARGS=(-L "$root/build-$arch/sysroot")
  elif [[ ! -e /lib/$loader || ! -e /lib/$triplet/libc.so.6 ]]; then
    QEMU_WHY="no $arch loader and libc in /lib (libc6:$arch is not installed)"
    return 1
  fi
  return 0
}

qemu_run() {
  "$QEMU" "${QEMU_ARGS[@]}" "$@"
}
