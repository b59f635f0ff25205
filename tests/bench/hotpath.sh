#!/usr/bin/env bash
# hotpath.sh - instructions per call of the event path's hot functions,
# from callgrind (repeatable on a shared machine, unlike wall-clock time).
#
#   tests/bench/hotpath.sh [N]    N calls per case (default 20000)
#
# Builds $BUILD/bench/hotpath (tests/bench/hotpath.c) and prints, for each
# case, the instructions per call of the function toggled on (everything
# it calls included) and the costliest functions under it.  BUILD= as
# for make (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
N=${1:-20000}
make -s --no-print-directory BUILD="$BUILD" "$BUILD/bench/hotpath"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# case  function toggled on  what it measures
cases=(
  "render sg_record_render JSON envelope and headers of a double reading"
  "topic sg_event_encode encode of a reading carrying its own topic"
  "produce sg_send_produce one record handed to librdkafka"
  "read sg_spool_read one record read back from the spool"
)
for c in "${cases[@]}"; do
  read -r name fn what <<<"$c"
  valgrind --tool=callgrind --callgrind-out-file="$out/$name" \
    --toggle-collect="$fn" "$BUILD/bench/hotpath" "$name" "$N" "$out" >/dev/null 2>"$out/$name.log" ||
    { cat "$out/$name.log" >&2; exit 1; }
  total=$(sed -n 's/^summary: *//p' "$out/$name")
  awk -v n="$N" -v t="$total" -v fn="$fn" -v w="$what" \
    'BEGIN { printf "%-8s %-18s %8.0f instructions per call  (%s)\n", "", fn, t / n, w }'
  # The functions under it (inclusive), the toggled one's own frames left out.
  callgrind_annotate --inclusive=yes "$out/$name" 2>/dev/null |
    awk -v n="$N" '$2 ~ /^\(/ && $2 !~ /^\(100/ && $3 ~ /:/ {
      gsub(",", "", $1); sub(/ \[.*/, "", $3); sub(/^.*\//, "", $3)
      if ($1 / n >= 50 && !seen[$3]++ && k++ < 8) printf "           %8.0f  %s\n", $1 / n, $3 }'
done
# System calls of the reader: pread(2) per record read back.
if command -v strace >/dev/null; then
  strace -f -qq -c -e trace=pread64 -o "$out/strace" "$BUILD/bench/hotpath" read "$N" "$out" >/dev/null
  awk -v n="$N" '$NF == "pread64" { printf "%-8s %-18s %8.3f pread(2) per record (strace)\n", "", "sg_spool_read", $4 / n }' "$out/strace"
fi
