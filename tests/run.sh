#!/usr/bin/env bash
# run.sh - the test runner behind `make test`: every unit-test binary,
# then the pytest integration suite (real mosquitto, Kafka, Modbus peers).
# Ends with one line "N passed, N failed" over everything.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export SG_BUILD="$PWD/$BUILD"
unit_pass=0; unit_fail=0; failed_bins=()

echo "== unit tests"
for t in "$BUILD"/tests/test_*; do
  [[ -x "$t" ]] || continue
  out=$("$t" 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | tail -n 1)
  p=$(sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' <<<"$line")
  f=$(sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' <<<"$line")
  if [[ -z "$p" ]]; then p=0; f=1; fi
  if ((rc != 0 && f == 0)); then f=1; fi
  unit_pass=$((unit_pass + p)); unit_fail=$((unit_fail + f))
  if ((f)); then failed_bins+=("$t"); printf '%s\n' "$out"; fi
  printf '  %-40s %s passed, %s failed\n' "$(basename "$t")" "$p" "$f"
done

# One formatter for every C file: a file off the .clang-format style is a
# failed test (run `make format`).
if command -v clang-format >/dev/null && git rev-parse --git-dir >/dev/null 2>&1; then
  if make -s check-format >/tmp/sg-format.$$ 2>&1; then
    unit_pass=$((unit_pass + 1)); printf '  %-40s %s\n' "clang-format" "ok"
  else
    unit_fail=$((unit_fail + 1)); failed_bins+=("clang-format")
    head -20 /tmp/sg-format.$$; printf '  %-40s %s\n' "clang-format" "FAILED (run make format)"
  fi
  rm -f /tmp/sg-format.$$
fi

# The import graph: no include cycles, the core reaches drivers only
# through drivers/driver.h (tests/lint/includes.py says what it checks).
if python3 tests/lint/includes.py >/tmp/sg-includes.$$ 2>&1; then
  unit_pass=$((unit_pass + 1)); printf '  %-40s %s\n' "include graph" "ok"
else
  unit_fail=$((unit_fail + 1)); failed_bins+=("include graph")
  cat /tmp/sg-includes.$$; printf '  %-40s %s\n' "include graph" "FAILED"
fi
rm -f /tmp/sg-includes.$$

# A short slice of the fuzz targets (tests/fuzz/fuzz.mk: the MQTT
# driver's JSON parser, mapper, device-time parsing and rule matcher, the
# spool's frame scanner and recovery, the config loader, the Modbus codec,
# under ASan/UBSan); `make fuzz` runs them longer.
if [[ "${1:-}" != "--unit-only" ]]; then
  echo "== fuzz (short slice)"
  if make -s --no-print-directory BUILD="$BUILD" fuzz-smoke >/tmp/sg-fuzz.$$ 2>&1; then
    unit_pass=$((unit_pass + 1)); grep -E "FUZZ|DONE|standalone:" /tmp/sg-fuzz.$$
    printf '  %-40s %s\n' "fuzz slice" "ok"
  else
    unit_fail=$((unit_fail + 1)); failed_bins+=("fuzz slice")
    tail -40 /tmp/sg-fuzz.$$; printf '  %-40s %s\n' "fuzz slice" "FAILED"
  fi
  rm -f /tmp/sg-fuzz.$$
fi

# The metrics table and the code agree (tests/lint/metrics.py).
if python3 tests/lint/metrics.py >/tmp/sg-metrics.$$ 2>&1; then
  unit_pass=$((unit_pass + 1)); printf '  %-40s %s\n' "metrics table" "ok"
else
  unit_fail=$((unit_fail + 1)); failed_bins+=("metrics table")
  cat /tmp/sg-metrics.$$; printf '  %-40s %s\n' "metrics table" "FAILED"
fi
rm -f /tmp/sg-metrics.$$

if [[ "${1:-}" == "--unit-only" ]]; then
  echo "unit: $unit_pass passed, $unit_fail failed"
  exit $((unit_fail > 0))
fi

echo "== integration tests"
report=$(mktemp)
python3 -m pytest -q -p no:cacheprovider tests/integration -rfEs \
  --junitxml="$report" ${PYTEST_ARGS:-} ; prc=$?
read -r ip if_ is <<<"$(python3 - "$report" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
    s = r if r.tag == "testsuite" else r.find("testsuite")
    t, f, e, sk = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    print(t - f - e - sk, f + e, sk)
except Exception:
    print(0, 1, 0)
PY
)"
rm -f "$report"
if ((prc != 0 && if_ == 0)); then if_=1; fi

# The benchmark harness end to end (asserts that it ran, not a speed);
# not under the sanitizers, whose build the bench tools do not link with.
if [[ -n "${ASAN_OPTIONS:-}" ]]; then
  echo "== bench-smoke: not run under ASan"
elif echo "== bench-smoke" && make -s --no-print-directory BUILD="$BUILD" bench-smoke >/tmp/sg-bench-smoke.$$ 2>&1; then
  ip=$((ip + 1)); echo "  bench-smoke ok"
else
  if_=$((if_ + 1)); tail -20 /tmp/sg-bench-smoke.$$; echo "  bench-smoke FAILED"
fi
rm -f /tmp/sg-bench-smoke.$$
# A slice of the tutorial: its chapters' plain-process steps, run and
# checked (tests/docs/run.py; `make test-docs` runs all nine chapters in
# 6 to 10 minutes, this slice in under one).  Not under the sanitizers:
# the steps run build/sensorgate.
DOCS_SLICE=${DOCS_SLICE:-01 03 09}
if [[ -n "${ASAN_OPTIONS:-}" ]]; then
  echo "== docs slice: not run under ASan"
elif echo "== docs slice: tutorial chapters $DOCS_SLICE (make test-docs runs all nine)" &&
  python3 tests/docs/run.py $DOCS_SLICE >/tmp/sg-docs.$$ 2>&1; then
  ip=$((ip + 1)); grep -E '^  [0-9]{2}-|^  SKIPPED|^docs:' /tmp/sg-docs.$$
else
  if_=$((if_ + 1)); cat /tmp/sg-docs.$$; echo "  docs slice FAILED"
fi
rm -f /tmp/sg-docs.$$
((${#failed_bins[@]})) && echo "failed unit binaries: ${failed_bins[*]}"
echo
echo "summary: unit $unit_pass/$((unit_pass + unit_fail)), integration $ip/$((ip + if_)) (skipped $is)"
echo "$((unit_pass + ip)) passed, $((unit_fail + if_)) failed, $is skipped"
exit $(( (unit_fail + if_) > 0 ))
