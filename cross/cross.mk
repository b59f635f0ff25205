# cross/cross.mk - Debian packages, Raspberry Pi cross builds and tests on
# the target architectures; included by the top-level Makefile
# (`-include cross/cross.mk`).  docs/raspberry-pi.md has the details.
#
#   make deb [ARCH=amd64|arm64|armhf]   build-deb/ARCH/sensorgate_*_ARCH.deb,
#                                       dpkg-buildpackage + lintian (cross/deb.sh)
#   make cross [ARCH=arm64|armhf]       build-ARCH/sensorgate (both without ARCH)
#   make cross-arm64, cross-armhf       the same, one each
#   make cross-check                    both, then file(1) and a run under qemu-user
#   make test-cross [ARCH=...]          unit tests and an end-to-end run with a
#                                       kill -9 recovery under qemu-user
#   make test-gpio-kernel               the GPIO backend against gpio-sim in a
#                                       qemu-system-aarch64 guest (Debian's kernel)
#
# cross/build.sh installs Debian's multiarch cross toolchain and the :ARCH
# -dev packages when they are missing; everything lands in build-ARCH/,
# build-deb/ and build-vm/, so native and cross builds share a work tree.

CROSS_ARCHES := arm64 armhf
ARCH ?=

.PHONY: deb cross cross-arm64 cross-armhf cross-check cross-clean test-cross \
        test-gpio-kernel

deb:
	$(Q)cross/deb.sh $(ARCH)

cross:
	$(Q)set -e; for a in $(or $(ARCH),$(CROSS_ARCHES)); do cross/build.sh $$a; done

cross-arm64:
	$(Q)cross/build.sh arm64

cross-armhf:
	$(Q)cross/build.sh armhf

cross-check:
	$(Q)tests/cross_check.sh

test-cross:
	$(Q)tests/cross/test_cross.sh $(or $(ARCH),$(CROSS_ARCHES))

test-gpio-kernel:
	$(Q)tests/cross/gpio_kernel.sh

cross-clean:
	$(Q)for m in build-deb/chroot-*/proc; do umount "$$m" 2>/dev/null || true; done
	$(Q)rm -rf --one-file-system build-arm64 build-armhf build-deb build-vm
