#!/usr/bin/env bash
# Runs fuzz targets (built by fuzz/build.sh) for FUZZ_SECONDS each and prints libFuzzer's final
# stats. The working corpus grows in build-fuzz/corpus/<target>/ (seeded from
# fuzz/corpus/<target>/); crashes land in build-fuzz/findings/<target>/.
#   fuzz/run.sh                 every target, one after the other
#   fuzz/run.sh yaml json       some targets
#   FUZZ_SECONDS=600            time per target (default 60)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
ALL="json yaml form query http_framing state_reader lock_info packed_text rego_parse rego_eval archive cost_plan"
TARGETS=${*:-$ALL}

max_len() {
  case $1 in
    http_framing) echo 65536 ;;
    state_reader) echo 65536 ;;
    cost_plan) echo 65536 ;;
    yaml | json) echo 16384 ;;
    form) echo 16384 ;;
    lock_info) echo 8192 ;;
    packed_text) echo 16384 ;;
    rego_parse | rego_eval) echo 8192 ;;
    archive) echo 65536 ;;
    query) echo 4096 ;;
    *) echo 4096 ;;
  esac
}

status=0
for t in $TARGETS; do
  bin=$BUILD/fuzz_$t
  [ -x "$bin" ] || { echo "missing $bin (run fuzz/build.sh)" >&2; exit 2; }
  corpus=$BUILD/corpus/$t
  findings=$BUILD/findings/$t
  mkdir -p "$corpus" "$findings"
  log=$BUILD/logs/$t.log
  mkdir -p "$(dirname "$log")"
  dict=()
  dict_file=$ROOT/fuzz/dict/$t.dict
  extra=()
  # The Rego targets evaluate with a 32 MiB budget: one allocation past 256 MiB means a builtin
  # built its result before charging the budget (a finding, like a timeout).
  # With FUZZ_TOLERATE_KNOWN set (R1 open: see fuzz/findings-rego/README.md) the limit is off.
  case $t in
    rego_*)
      dict_file=$ROOT/fuzz/dict/rego.dict
      [ -n "${FUZZ_TOLERATE_KNOWN:-}" ] || extra=(-malloc_limit_mb=256) ;;
  esac
  [ -f "$dict_file" ] && dict=(-dict="$dict_file")
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" "$corpus" "$ROOT/fuzz/corpus/$t" "${dict[@]}" "${extra[@]}" -max_len="$(max_len "$t")" -timeout=5 \
      -rss_limit_mb=2560 -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
      -artifact_prefix="$findings/" >"$log" 2>&1
  rc=$?
  execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  secs=$(grep -m1 '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
  ran=$(grep -aoE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 | awk '{print $5}')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' )
  if [ $rc -eq 0 ]; then
    printf '%-13s ok      execs=%-10s time=%-5s exec/s=%-7s %s\n' "$t" "${execs:-?}" "${ran:-?}s" "${secs:-?}" "$cov"
  else
    printf '%-13s FINDING execs=%-10s (rc=%s) see %s and %s\n' "$t" "${execs:-?}" "$rc" "$log" "$findings"
    grep -a -m1 -E 'FUZZ_CHECK failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|what\(\)' "$log" | sed 's/^/              /'

    status=1
  fi
done
exit $status
