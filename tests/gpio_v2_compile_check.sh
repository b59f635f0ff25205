#!/usr/bin/env bash
# gpio_v2_compile_check.sh - build drivers/gpio/backend_v2.c against the
# real libgpiod 2 header, on a machine that has libgpiod 1 installed.
#
# How: Debian 13 (trixie) ships libgpiod 2.  With a private apt
# configuration (its own sources list, lists and cache under the work
# directory; the system's apt state is not touched) we download trixie's
# libgpiod-dev and libgpiod3 packages, unpack them with dpkg-deb -x, then
#   1. compile backend_v2.c with -DSG_GPIOD_MAJOR=2 against that gpiod.h
#      with the project's warning flags (-Werror), to an object file;
#   2. check that every gpiod_* symbol the object needs is exported by
#      trixie's libgpiod.so.3 (a link check without trixie's libc).
# If libgpiod 2 is already the system's (pkg-config says 2.x), the normal
# build covers it and we check against the system header instead.
#
# Exit: 0 pass, 1 fail, 77 skipped (header could not be fetched; said
# LOUDLY on stderr).  WORK defaults to build/gpio-v2 and is reused.
set -uo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-build/gpio-v2}
SUITE=${SUITE:-trixie}
CC=${CC:-cc}
FLAGS=(-std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
       -Wmissing-prototypes -Wno-missing-field-initializers -Wpointer-arith
       -Wformat=2 -Wvla -D_GNU_SOURCE -I. -DSG_GPIOD_MAJOR=2)
skip() {
  echo "************************************************************" >&2
  echo "SKIPPED: libgpiod 2 compile check: $*" >&2
  echo "************************************************************" >&2
  exit 77
}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

if [[ "$(pkg-config --modversion libgpiod 2>/dev/null | cut -d. -f1)" == 2 ]]; then
  inc=$(pkg-config --variable=includedir libgpiod)
  lib=$(pkg-config --variable=libdir libgpiod)/libgpiod.so
else
  inc="$WORK/root/usr/include"
  if [[ ! -f "$inc/gpiod.h" ]] || ! grep -q gpiod_line_request_read_edge_events "$inc/gpiod.h"; then
    command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
      skip "apt-get/dpkg-deb not available"
    mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/archives/partial" \
             "$WORK/apt/sources" "$WORK/deb" "$WORK/root"
    cat >"$WORK/apt/sources/$SUITE.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    APT=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$WORK/apt/sources"
         -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt"
         -o Dir::State::status=/dev/null -o APT::Sandbox::User=root -q)
    timeout 300 apt-get "${APT[@]}" update >"$WORK/apt.log" 2>&1 ||
      skip "apt-get update for $SUITE failed (no mirror?), see $WORK/apt.log"
    (cd "$WORK/deb" && timeout 300 apt-get "${APT[@]}" download libgpiod-dev libgpiod3) \
      >>"$WORK/apt.log" 2>&1 || skip "could not download $SUITE libgpiod-dev, see $WORK/apt.log"
    for d in "$WORK"/deb/*.deb; do dpkg-deb -x "$d" "$WORK/root" || skip "dpkg-deb -x $d failed"; done
    [[ -f "$inc/gpiod.h" ]] || skip "no gpiod.h in the $SUITE package"
  fi
  lib=$(find "$WORK/root" -name 'libgpiod.so.3*' -type f | head -n 1)
fi
ver=""
for d in "$WORK"/deb/libgpiod-dev_*.deb; do
  [[ -f "$d" ]] && ver="($(dpkg-deb -f "$d" Package Version | tr '\n' ' ' | sed 's/ $//'), Debian $SUITE)"
done
echo "libgpiod 2 header: $inc/gpiod.h $ver"

obj="$WORK/backend_v2.o"
if ! $CC "${FLAGS[@]}" -I"$inc" -c -o "$obj" drivers/gpio/backend_v2.c; then
  echo "FAIL: backend_v2.c does not compile against libgpiod 2" >&2; exit 1
fi
# The file must not be empty under MAJOR=2 (the #if must have let it in).
nm "$obj" | grep -q ' D gpio_backend_real\| R gpio_backend_real' ||
  { echo "FAIL: gpio_backend_real missing from backend_v2.o" >&2; exit 1; }
echo "compile: ok"

if [[ -n "${lib:-}" && -f "$lib" ]]; then
  need=$(nm -u "$obj" | awk '{print $2}' | grep '^gpiod_' | sort -u)
  have=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
  missing=$(comm -23 <(echo "$need") <(echo "$have"))
  if [[ -n "$missing" ]]; then
    echo "FAIL: symbols not in $(basename "$lib"): $missing" >&2; exit 1
  fi
  echo "link: ok ($(echo "$need" | wc -l) gpiod_* symbols found in $(basename "$lib"))"
else
  echo "link: not checked (no libgpiod.so.3 unpacked)"
fi
# And v1 must stay out of a v2 build, v2 out of a v1 build.
$CC "${FLAGS[@]/-DSG_GPIOD_MAJOR=2/-DSG_GPIOD_MAJOR=1}" -I"$inc" -fsyntax-only drivers/gpio/backend_v2.c ||
  { echo "FAIL: backend_v2.c is not empty under SG_GPIOD_MAJOR=1" >&2; exit 1; }
echo "PASS: libgpiod 2 backend compiles and links against $SUITE's libgpiod"
