#!/usr/bin/env bash
# Long fuzz run of the libFuzzer harnesses in cpp/fuzz (see docs/HOSTILE_INPUT.md).
#
#   tools/fuzz.sh [-n RUNS] [-t SECONDS] [-p] [HARNESS...]
#
#   -n RUNS     executions per harness (default 10000000)
#   -t SECONDS  stop each harness after this long anyway (default: no limit)
#   -p          run the harnesses at the same time (still one process each)
#   HARNESS     rewriter_fuzzer structure_fuzzer checkpoint_index_fuzzer (default: all built)
#
# Environment: FUZZ_WORK (corpora, logs, crashes; default build/fuzz-work), FUZZ_BUILD
# (default build/fuzz), FASTMETA_SRC (source tree to build; default this checkout),
# CXX (default: clang++, else clang++-NN), MAX_LEN (default 8192).
# Every harness runs as one process at nice 19 with ASan+UBSan; a crash, leak, timeout
# (10 s per input) or OOM (2 GiB) stops it and leaves the input in $FUZZ_WORK/crashes:
# copy it to tests/regressions/ and it is replayed by the tests from then on. The
# last line per harness gives the exact number of executions.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runs=10000000
seconds=0
parallel=0
while getopts "n:t:p" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    t) seconds=$OPTARG ;;
    p) parallel=1 ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
src="${FASTMETA_SRC:-$here}"
work="${FUZZ_WORK:-$here/build/fuzz-work}"
build="${FUZZ_BUILD:-$here/build/fuzz}"
max_len="${MAX_LEN:-8192}"
cxx="${CXX:-}"
if [ -z "$cxx" ]; then
  cxx=$(command -v clang++ || ls /usr/bin/clang++-[0-9]* 2>/dev/null | sort -V | tail -1 || true)
fi
[ -n "$cxx" ] || { echo "fuzz.sh: needs clang (apt-get install clang libclang-rt-dev)" >&2; exit 1; }

cmake -S "$src" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DFASTMETA_BUILD_FUZZERS=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  harnesses=(rewriter_fuzzer structure_fuzzer)
  [ -f "$src/cpp/include/fastmeta/checkpoint.h" ] && harnesses+=(checkpoint_index_fuzzer)
fi
nice -n 19 cmake --build "$build" -j 2 --target "${harnesses[@]}" >/dev/null

mkdir -p "$work/crashes" "$work/logs"
python3 "$here/fuzz/make_seeds.py" "$work/seeds" >/dev/null

run_one() {
  local h=$1 seeds=$work/seeds/meta
  [ "$h" = checkpoint_index_fuzzer ] && seeds=$work/seeds/index
  mkdir -p "$work/corpus/$h"
  local limit=()
  [ "$seconds" -gt 0 ] && limit=(-max_total_time="$seconds")
  # Regression inputs join the corpus so the run starts from every known crash.
  local extra=()
  [ -d "$here/tests/regressions/$h" ] && extra=("$here/tests/regressions/$h")
  set +e
  nice -n 19 "$build/$h" -runs="$runs" "${limit[@]}" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/crashes/$h-" \
    "$work/corpus/$h" "$seeds" "${extra[@]}" >"$work/logs/$h.log" 2>&1
  local rc=$?
  set -e
  local n
  n=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/logs/$h.log" | tail -1 | awk '{print $2}')
  echo "$h: ${n:-?} executions, exit $rc (log $work/logs/$h.log)"
  return $rc
}

status=0
if [ $parallel -eq 1 ]; then
  pids=()
  for h in "${harnesses[@]}"; do run_one "$h" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
else
  for h in "${harnesses[@]}"; do run_one "$h" || status=1; done
fi
ls "$work/crashes" | grep -q . && { echo "crash inputs in $work/crashes:"; ls "$work/crashes"; status=1; }
exit $status
