#!/usr/bin/env bash
# gpio_loopback.sh - the gpio driver on real hardware: a Raspberry Pi with
# ONE JUMPER WIRE between GPIO17 (pin 11) and GPIO27 (pin 13).  Nothing
# else may use those two lines.  See docs/gpio.md, "Hardware test".
#
# libgpiod's gpioset (Debian package `gpiod`, v1 or v2) drives GPIO27;
# sensorgate reads GPIO17 through its gpio driver, first as edges, then in
# count mode, and the script checks what reached the spool:
#   1. edges:  N rising and N falling edges, each with its kernel
#      timestamp, in order, none marked uncertain, no overflow;
#   2. count:  the count windows add up to N pulses.
# Usage: tests/hw/gpio_loopback.sh   (env: CHIP IN OUT N HALF_MS BIN)
# Exit: 0 pass, 1 fail, 77 not on suitable hardware (skipped, loudly).
set -uo pipefail
cd "$(dirname "$0")/../.."
CHIP=${CHIP:-gpiochip0}; IN=${IN:-17}; OUT=${OUT:-27}
N=${N:-20}; HALF_MS=${HALF_MS:-50}; BIN=${BIN:-build/sensorgate}
skip() { echo "SKIPPED: $*" >&2; exit 77; }
[[ -e /dev/$CHIP ]] || skip "/dev/$CHIP not found (not a Pi?)"
[[ -r /dev/$CHIP && -w /dev/$CHIP ]] || skip "no access to /dev/$CHIP (join the gpio group, see docs/gpio.md)"
command -v gpioset >/dev/null || skip "gpioset not found: apt-get install gpiod"
[[ -x $BIN ]] || skip "$BIN not built: run make"
pid=""; work=$(mktemp -d); trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
if gpioset --version 2>&1 | grep -q 'v2\.'; then tools=2; else tools=1; fi

set_out() { # value, hold ms
  if ((tools == 1)); then
    gpioset --mode=time --usec=$(($2 * 1000)) "$CHIP" "$OUT=$1"
  else
    timeout "$(awk "BEGIN{print $2/1000}")" gpioset -c "$CHIP" "$OUT=$1"
  fi
}
pulses() { for ((i = 0; i < N; i++)); do set_out 1 "$HALF_MS"; set_out 0 "$HALF_MS"; done; }

run_phase() { # name, line yaml
  local dir="$work/$1"
  cat >"$dir.yaml" <<YAML
gateway: {id: hw}
spool: {dir: $dir}
kafka: {bootstrap: embedded}
view: {mode: off}
sources:
  - name: hw
    driver: gpio
    chip: $CHIP
    lines:
      - $2
YAML
  set_out 0 10
  "$BIN" run -c "$dir.yaml" >"$dir.log" 2>&1 & pid=$!
  sleep 1; pulses; sleep 1.5
  kill -INT "$pid"; wait "$pid"
  "$BIN" spool dump "$dir" --all >"$dir.dump"
}

run_phase edges "{id: loop, line: $IN, bias: pull_down}"
run_phase count "{id: loop, line: $IN, bias: pull_down, mode: count, interval: 500ms}"

python3 - "$work" "$N" "$HALF_MS" <<'PY'
import json, sys
work, n, half = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def events(name):
    out = []
    for line in open(f"{work}/{name}.dump"):
        if " value=" in line:
            out.append(json.loads(line.split(" value=", 1)[1]))
    return out
fail = []
ev = [e for e in events("edges") if e["sensor"] == "loop"]
edges = [e for e in ev if e.get("attrs", {}).get("edge") in ("rising", "falling")]
rising = sum(e["attrs"]["edge"] == "rising" for e in edges)
falling = sum(e["attrs"]["edge"] == "falling" for e in edges)
print(f"edges: {rising} rising, {falling} falling (expected {n} each)")
if rising != n or falling != n: fail.append("edge count")
if any(e["quality"] != "good" for e in ev): fail.append("uncertain events")
ts = [e["time_ns"] for e in edges]
if ts != sorted(ts): fail.append("timestamps out of order")
gaps = [(b - a) / 1e6 for a, b in zip(ts, ts[1:])]
if gaps:
    print(f"edge spacing: min {min(gaps):.2f} ms, max {max(gaps):.2f} ms (hold {half} ms)")
    if min(gaps) < half * 0.8: fail.append("edges closer than the hold time")
for a, b in zip(edges, edges[1:]):
    if a["attrs"]["edge"] == b["attrs"]["edge"]: fail.append("two edges of one kind in a row"); break
counts = [e for e in events("count") if e["sensor"] == "loop"]
total = sum(int(e["value"]) for e in counts)
print(f"count: {len(counts)} windows, {total} pulses (expected {n})")
if total != n: fail.append("count total")
if fail:
    print("FAIL: " + ", ".join(fail)); sys.exit(1)
print("PASS")
PY
