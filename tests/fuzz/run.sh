#!/usr/bin/env bash
# run.sh DIR TARGET SECONDS - run one fuzz target built by tests/fuzz/fuzz.mk
# for SECONDS under ASan/UBSan, with its corpus in DIR/corpus-TARGET and
# the seeds in DIR/seeds-*; failing inputs are saved as DIR/TARGET-*.
# Prints the engine's summary; exits non-zero if the target failed.
set -uo pipefail
dir=$1 target=$2 secs=$3
seeds=$dir/seeds-json
[[ -d $dir/seeds-$target ]] && seeds=$dir/seeds-$target
dict=()
[[ $target == json || $target == map ]] && dict=(-dict=tests/fuzz/json.dict)
mkdir -p "$dir/corpus-$target"
log=$dir/fuzz-$target.log
echo "  FUZZ   $target for ${secs}s"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$dir/fuzz_$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
  -max_len=65536 "${dict[@]}" -print_final_stats=1 \
  -artifact_prefix="$dir/$target-" "$dir/corpus-$target" "$seeds" >"$log" 2>&1
rc=$?
if ((rc)); then
  tail -40 "$log"
  echo "  fuzz target $target FAILED (rc $rc); input saved under $dir/$target-*"
else
  grep -aE "^stat::number_of_executed_units|^standalone:|^#[0-9]+.*DONE" "$log" | tail -2 | sed 's/^/         /'
fi
exit $rc
