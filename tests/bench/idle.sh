#!/usr/bin/env bash
# idle.sh - what a quiet gateway costs: CPU time and system calls per
# second, per thread, of `sensorgate run` with a config of your choice.
#
#   tests/bench/idle.sh CONFIG [SECONDS]     (default 30)
#
# Starts $BUILD/sensorgate run -c CONFIG (BUILD= as for make, default
# build), lets it settle for 5 s, then reads utime+stime of every thread
# (/proc/PID/task/TID/schedstat, ns on a CPU)
# over SECONDS, then attaches strace -f for 10 s and counts
# each thread's system calls per second (strace slows what it traces, so
# the CPU figures come from the untraced window).  Stops the gateway.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
conf=${1:?usage: idle.sh CONFIG [SECONDS]}
secs=${2:-30}
out=$(mktemp -d)
"$BUILD/sensorgate" run -c "$conf" >"$out/gw.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$out"' EXIT
sleep 5
kill -0 "$pid" || { cat "$out/gw.log"; exit 1; }
ticks() { # tid, ns on a CPU (schedstat), every thread
  for t in /proc/"$pid"/task/*; do
    echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat")"
  done | sort
}
ticks >"$out/t0"
sleep "$secs"
ticks >"$out/t1"
join "$out/t0" "$out/t1" | awk -v s="$secs" '
  { d = ($3 - $2) / 1e9; tot += d
    printf "  thread %-8s %8.4f s CPU (%.4f %% of a core)\n", $1, d, 100 * d / s }
  END { printf "  all threads     %8.4f s CPU in %d s (%.4f %% of a core)\n", tot, s, 100 * tot / s }'
timeout -s INT 10 strace -f -qq -p "$pid" -o "$out/st" >/dev/null 2>&1 || true
echo "  system calls per second over 10 s (strace -f), by thread:"
awk '$2 !~ /^</ { name = $2; sub(/\(.*/, "", name); n[$1]++; c[$1 " " name]++ }
     END { for (k in c) { split(k, a, " "); s[a[1]] = s[a[1]] sprintf(" %s %.1f", a[2], c[k] / 10) }
           for (t in n) printf "  thread %-8s %7.1f/s:%s\n", t, n[t] / 10, s[t] }' "$out/st" |
  sort -k3 -nr
