# cross/cross.mk - Raspberry Pi cross builds, included by the top-level
# Makefile (`-include cross/cross.mk`).
#
#   make cross-arm64    build-arm64/sensorgate  (Pi 3/4/5, Zero 2 W; 64-bit OS)
#   make cross-armhf    build-armhf/sensorgate  (ARMv7 32-bit OS; not Pi 1/Zero)
#   make cross          both
#   make cross-check    both, then file(1) and a run under qemu-user
#
# cross/build.sh installs the Debian multiarch toolchain and libraries when
# they are missing and runs this Makefile with BUILD=build-ARCH,
# CC=TRIPLET-gcc and PKG_CONFIG=TRIPLET-pkg-config.  docs/raspberry-pi.md
# has the details.

.PHONY: cross cross-arm64 cross-armhf cross-check cross-clean

cross: cross-arm64 cross-armhf

cross-arm64:
	$(Q)cross/build.sh arm64

cross-armhf:
	$(Q)cross/build.sh armhf

cross-check:
	$(Q)tests/cross_check.sh

cross-clean:
	$(Q)rm -rf build-arm64 build-armhf
