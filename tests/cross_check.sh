#!/usr/bin/env bash
# cross_check.sh - cross-build sensorgate for the Raspberry Pi (arm64 and
# armhf) and check the result: the ELF machine and ABI with file(1), and,
# where qemu-user is installed, `sensorgate version` and
# `sensorgate check -c config/demo.yaml` run under emulation (the unit
# tests and an end-to-end run under qemu are `make test-cross`).
#
#   tests/cross_check.sh [arm64] [armhf]     default: both
#
# Never installs anything (CROSS_NO_INSTALL=1): an architecture whose
# toolchain is missing is SKIPPED with a loud notice, so CI without the
# cross packages stays green while saying what it did not check.  Install
# with `cross/build.sh ARCH` (or `make cross-ARCH`).
#
# Ends with the line "N passed, N failed, N skipped"; exit 1 on a failure.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
# shellcheck source=tests/cross/qemu.sh
. tests/cross/qemu.sh
ARCHES=("$@")
((${#ARCHES[@]})) || ARCHES=(arm64 armhf)

pass=0 fail=0 skip=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
ko() { echo "FAIL $*"; fail=$((fail + 1)); }
notice() {
  echo "##################################################################"
  echo "## SKIPPED: $*"
  echo "##################################################################"
  skip=$((skip + 1))
}

for arch in "${ARCHES[@]}"; do
  case "$arch" in
    arm64) triplet=aarch64-linux-gnu want='ELF 64-bit LSB .*ARM aarch64' ;;
    armhf) triplet=arm-linux-gnueabihf want='ELF 32-bit LSB .*ARM, EABI5' ;;
    *) ko "$arch: unknown architecture"; continue ;;
  esac
  if ! command -v "$triplet-gcc" >/dev/null; then
    notice "$arch cross build: $triplet-gcc is not installed (run cross/build.sh $arch)"
    continue
  fi
  log=$(mktemp)
  CROSS_NO_INSTALL=1 cross/build.sh "$arch" >"$log" 2>&1
  rc=$?
  if ((rc == 2)); then
    notice "$arch cross build: toolchain or :$arch libraries missing - $(grep -m1 'cross\[' "$log")"
    rm -f "$log"
    continue
  elif ((rc != 0)); then
    ko "$arch: cross/build.sh failed (exit $rc)"
    tail -20 "$log"
    rm -f "$log"
    continue
  fi
  rm -f "$log"
  bin=build-$arch/sensorgate
  desc=$(file -b "$bin.stripped")
  if [[ $desc =~ $want && $desc == *"dynamically linked"* ]]; then
    ok "$arch: file: $desc"
  else
    ko "$arch: file says: $desc"
  fi
  echo "     $arch: stripped size $(stat -c %s "$bin.stripped") bytes"
  if [[ $arch == armhf ]]; then
    # Debian armhf is ARMv7; make sure nothing newer slipped in.
    attrs=$("$triplet-readelf" -A "$bin")
    if grep -q 'Tag_CPU_arch: v7$' <<<"$attrs" && grep -q 'VFPv3-D16' <<<"$attrs"; then
      ok "armhf: ARMv7-A, VFPv3-D16 (runs on Pi 2 and later, not on ARMv6 Pi 1/Zero)"
    else
      ko "armhf: unexpected ELF attributes: $(grep -E 'CPU_arch|FP_arch' <<<"$attrs" | tr '\n' ' ')"
    fi
  fi

  # The multiarch loader, never -L /usr/TRIPLET: tests/cross/qemu.sh.
  if ! qemu_runner "$arch" "$ROOT"; then
    notice "$arch run: $QEMU_WHY"
    continue
  fi
  out=$(timeout -s KILL 60 "$QEMU" "${QEMU_ARGS[@]}" "$bin.stripped" version 2>&1)
  if [[ $? -eq 0 && $out == sensorgate\ * ]]; then
    ok "$arch: qemu: $out"
  else
    ko "$arch: qemu sensorgate version: $out"
  fi
  out=$(timeout -s KILL 60 "$QEMU" "${QEMU_ARGS[@]}" "$bin.stripped" check -c config/demo.yaml 2>&1)
  if [[ $? -eq 0 && $out == *ok* ]]; then
    ok "$arch: qemu: check -c config/demo.yaml: $out"
  else
    ko "$arch: qemu sensorgate check: $out"
  fi
done

echo "$pass passed, $fail failed, $skip skipped"
((fail == 0))
