#!/usr/bin/env bash
# test_cross.sh - `make test-cross`: sensorgate on the Raspberry Pi's
# architectures, under qemu-user on this machine.
#
#   tests/cross/test_cross.sh [arm64] [armhf]        default: both
#
# For each architecture:
#   1. cross/build.sh ARCH builds the gateway and every unit test
#      (build-ARCH/, Debian's multiarch cross toolchain; it installs what is
#      missing unless CROSS_NO_INSTALL=1);
#   2. every unit-test binary runs under qemu-user;
#   3. end to end: `sensorgate run` with simulated sensors -> spool -> the
#      embedded Kafka cluster, until deliveries show in the spool; kill -9;
#      a restart must deliver every event spooled before the kill (spool
#      recovery), continue the sequence, and stop cleanly on SIGTERM.
# qemu-user runs the binary with the multiarch loader (tests/cross/qemu.sh
# says why the old `-L /usr/TRIPLET` hung in rd_kafka_new).
#
# Prints the time of each phase and ends with "N passed, N failed,
# N skipped"; exit 1 on a failure.  A missing toolchain or qemu is a loud
# SKIP, never a silent one.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
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
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# spool_stat ARCH DIR -> "last acked pending corrupt" (or nothing)
spool_stat() {
  qemu_run "build-$1/sensorgate" spool stat "$2" 2>/dev/null | tail -1 |
    sed -n 's/.*seqs \([0-9]*\)\.\.\([0-9]*\), delivered up to \([0-9]*\), pending \([0-9]*\), corrupt regions \([0-9]*\).*/\2 \3 \4 \5/p' |
    awk '{ last = ($1 > $2) ? $1 : $2; print last, $2, $3, $4 }'
}

# wait_acked ARCH DIR MIN PID SECONDS: until the cursor reaches MIN.
wait_acked() {
  local deadline=$(($(date +%s) + $5)) st
  while (($(date +%s) < deadline)); do
    kill -0 "$4" 2>/dev/null || return 2
    st=$(spool_stat "$1" "$2")
    if [[ -n $st ]] && (($(cut -d' ' -f2 <<<"$st") >= $3)); then
      echo "$st"
      return 0
    fi
    sleep 1
  done
  return 1
}

unit_tests() {
  local arch=$1 t0 out line p f tp=0 tf=0
  t0=$(now)
  for t in "${UNITS[@]}"; do
    # SIGKILL: a guest stuck with its signals blocked ignores SIGTERM.
    out=$(timeout -s KILL 600 "$QEMU" "${QEMU_ARGS[@]}" "$t" 2>&1)
    rc=$?
    line=$(tail -n 1 <<<"$out")
    p=$(sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' <<<"$line")
    f=$(sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' <<<"$line")
    if [[ -z $p ]]; then p=0 f=1; fi
    ((rc != 0 && f == 0)) && f=1
    tp=$((tp + p)) tf=$((tf + f))
    if ((f)); then
      ko "$arch: qemu $(basename "$t"): $p passed, $f failed (exit $rc)"
      tail -15 <<<"$out" | sed 's/^/     /'
    else
      ok "$arch: qemu $(basename "$t"): $p passed"
    fi
  done
  echo "     $arch: unit tests under qemu: $tp passed, $tf failed in $(since "$t0") s"
}

end_to_end() {
  local arch=$1 dir conf bin pid st last1 acked1 st2 t0 rc
  bin=build-$arch/sensorgate
  dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-cross-$arch.XXXXXX")
  conf=$dir/gw.yaml
  # ack_interval 5s: the cursor lags the deliveries, so the kill -9 leaves
  # delivered-but-unsaved and undelivered records for recovery to resend.
  cat >"$conf" <<EOF
gateway: {id: cross-$arch, shutdown_timeout: 10s}
spool: {dir: $dir/spool, fsync: 100ms, ack_interval: 5s}
kafka: {bootstrap: embedded, embedded_brokers: 1, topic: "cross.{source}"}
http: {port: 0}
view: {mode: lines}
sources:
  - {name: sim, driver: sim, sensors: [{id: c, kind: counter, rate: 500}]}
EOF
  t0=$(now)
  # exec: $! must be qemu itself (the guest), not a subshell, for kill -9.
  (exec "$QEMU" "${QEMU_ARGS[@]}" "$bin" run -c "$conf" >"$dir/run1.log" 2>&1) &
  pid=$!
  if ! st=$(wait_acked "$arch" "$dir/spool" 500 "$pid" 180); then
    ko "$arch: e2e: no 500 deliveries within 180 s"
    tail -20 "$dir/run1.log" | sed 's/^/     /'
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return
  fi
  ok "$arch: e2e: sim -> spool -> embedded cluster under qemu: cursor at $(cut -d' ' -f2 <<<"$st") after $(since "$t0") s"
  sleep 2
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  st=$(spool_stat "$arch" "$dir/spool")
  read -r last1 acked1 _ _ <<<"$st"
  echo "     $arch: after kill -9: spooled up to $last1, cursor at $acked1 ($((last1 - acked1)) to resend)"
  t0=$(now)
  (exec "$QEMU" "${QEMU_ARGS[@]}" "$bin" run -c "$conf" >"$dir/run2.log" 2>&1) &
  pid=$!
  if st2=$(wait_acked "$arch" "$dir/spool" "$last1" "$pid" 180); then
    ok "$arch: e2e: spool recovery after kill -9: all $last1 events spooled before the kill delivered $(since "$t0") s after the restart"
  else
    ko "$arch: e2e: after the restart the cursor did not reach $last1 within 180 s: $(spool_stat "$arch" "$dir/spool")"
    tail -20 "$dir/run2.log" | sed 's/^/     /'
  fi
  sleep 1
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  st2=$(spool_stat "$arch" "$dir/spool")
  read -r last2 acked2 pending2 corrupt2 <<<"$st2"
  if ((rc == 0 && last2 > last1 && acked2 == last2 && pending2 == 0 && corrupt2 == 0)); then
    ok "$arch: e2e: SIGTERM exit 0, sequence went on to $last2, all delivered, no corrupt region"
    rm -rf "$dir"
  else
    ko "$arch: e2e: after SIGTERM: exit $rc, spool: last $last2 acked $acked2 pending $pending2 corrupt $corrupt2 (logs in $dir)"
    tail -20 "$dir/run2.log" | sed 's/^/     /'
  fi
}

for arch in "${ARCHES[@]}"; do
  case "$arch" in arm64 | armhf) ;; *) ko "$arch: unknown architecture"; continue ;; esac
  t_arch=$(now)
  mapfile -t UNITS < <(ls tests/unit/test_*.c | sed "s|tests/unit/\(.*\)\.c|build-$arch/tests/\1|")
  log=$(mktemp)
  t0=$(now)
  cross/build.sh "$arch" all "${UNITS[@]}" >"$log" 2>&1
  rc=$?
  if ((rc == 2)); then
    notice "$arch: toolchain or :$arch libraries missing - $(grep -m1 'cross\[' "$log")"
    rm -f "$log"
    continue
  elif ((rc != 0)); then
    ko "$arch: cross/build.sh failed (exit $rc)"
    tail -20 "$log"
    rm -f "$log"
    continue
  fi
  rm -f "$log"
  ok "$arch: cross build of sensorgate and ${#UNITS[@]} unit tests in $(since "$t0") s"
  if ! qemu_runner "$arch" "$ROOT"; then
    if [[ ${CROSS_NO_INSTALL:-0} != 1 ]] && [[ $QEMU_WHY == *qemu-user-static* ]]; then
      echo "test-cross: installing qemu-user-static"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
    fi
    if ! qemu_runner "$arch" "$ROOT"; then
      notice "$arch: cannot run under qemu-user: $QEMU_WHY"
      continue
    fi
  fi
  echo "     $arch: $("$QEMU" --version | head -1)"
  unit_tests "$arch"
  end_to_end "$arch"
  echo "     $arch: $(since "$t_arch") s in all"
done

echo "$pass passed, $fail failed, $skip skipped"
((fail == 0))
