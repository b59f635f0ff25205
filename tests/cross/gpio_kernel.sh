#!/usr/bin/env bash
# gpio_kernel.sh - `make test-gpio-kernel`: can the GPIO backends meet a
# real kernel GPIO chip here?  The plan (issue 16) is a qemu-system-aarch64
# guest booting Debian's arm64 kernel, creating simulated chips with the
# gpio-sim module through configfs and driving line values through their
# sysfs `pull` attributes.  That needs CONFIG_GPIO_SIM in Debian's kernel
# (gpio-sim also needs CONFIG_IRQ_SIM, a bool that only a built-in driver
# can select, so no out-of-tree module can add it to a distribution
# kernel).
#
# This script checks exactly that, for the arm64 kernel of each suite
# (bookworm = Debian 12 / Raspberry Pi OS bookworm, trixie = Debian 13):
# it resolves linux-image-arm64 in a private apt state under build-vm/ (the
# machine's apt sources are not touched), downloads the package with
# apt-get download (signature-checked), and reads its boot/config-*.
#
# Result: when no suite's kernel has gpio-sim, a loud SKIPPED naming the
# kernel versions and their config lines, exit 0.  When one has, it says
# so and exits 1: the guest harness is then worth writing, and this check
# must become the test.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VM=$ROOT/build-vm
read -r -a SUITES <<<"${SUITES:-bookworm trixie}"
mkdir -p "$VM"
found=() report=()

for suite in "${SUITES[@]}"; do
  st=$VM/apt-$suite
  mkdir -p "$st/lists/partial" "$st/cache/archives/partial"
  o="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=arm64]"
  # The newest kernel of the suite: point releases, updates and security.
  printf 'deb %s http://deb.debian.org/debian %s main\n' "$o" "$suite" "$o" "$suite-updates" >"$st/sources.list"
  printf 'deb %s http://deb.debian.org/debian-security %s-security main\n' "$o" "$suite" >>"$st/sources.list"
  A=(-o Dir::Etc::SourceList="$st/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o Dir::State::Lists="$st/lists" -o Dir::Cache="$st/cache" -o APT::Architectures::=arm64
    -o Debug::NoLocking=1)
  if ! apt-get "${A[@]}" update -qq >"$st/update.log" 2>&1; then
    report+=("$suite: cannot read the $suite arm64 index ($(tail -1 "$st/update.log"))")
    continue
  fi
  pkg=$(apt-cache "${A[@]}" depends linux-image-arm64:arm64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[^ :]*\).*/\1/p' | head -1)
  if [[ -z $pkg ]]; then
    report+=("$suite: no linux-image-arm64 in the index")
    continue
  fi
  deb=$(ls "$VM/${pkg}"_*_arm64.deb 2>/dev/null | head -1)
  if [[ -z $deb ]]; then
    (cd "$VM" && apt-get "${A[@]}" download -qq "$pkg:arm64" >/dev/null 2>&1)
    deb=$(ls "$VM/${pkg}"_*_arm64.deb 2>/dev/null | head -1)
  fi
  if [[ -z $deb ]]; then
    report+=("$suite: apt-get download $pkg failed")
    continue
  fi
  cfg=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - --wildcards './boot/config-*')
  lines=$(grep -E '^(# )?CONFIG_(GPIO_SIM|IRQ_SIM|GPIO_MOCKUP|CONFIGFS_FS|GPIO_CDEV)[ =]' <<<"$cfg" |
    sed 's/ is not set/=n/; s/^# //' | tr '\n' ' ')
  for k in GPIO_SIM IRQ_SIM GPIO_MOCKUP CONFIGFS_FS GPIO_CDEV; do
    grep -q "CONFIG_${k}[ =]" <<<"$cfg" || lines+="CONFIG_$k=(absent) "
  done
  report+=("$suite: $(basename "$deb"): $lines")
  if grep -Eq '^CONFIG_GPIO_SIM=(m|y)' <<<"$cfg"; then
    found+=("$suite")
  fi
done

for r in "${report[@]}"; do echo "  $r"; done
if ((${#found[@]})); then
  echo "FAIL gpio-sim is in the arm64 kernel of: ${found[*]} - the qemu-system-aarch64 harness"
  echo "     (configfs chip, sysfs pull, sensorgate run on the chip) is not written yet."
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
echo "##################################################################"
echo "## SKIPPED: no gpio-sim in Debian's arm64 kernels (CONFIG_GPIO_SIM and"
echo "## CONFIG_IRQ_SIM are not set), so a qemu-system-aarch64 guest booting"
echo "## them cannot create a simulated chip; an out-of-tree gpio-sim.ko"
echo "## cannot load without IRQ_SIM in the kernel itself."
echo "##################################################################"
echo "0 passed, 0 failed, 1 skipped"
exit 0
