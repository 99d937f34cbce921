#!/usr/bin/env bash
# CI's second stage (after the README's test command): lint and type checks
# (tools/lint.sh), the core's C++ unit tests, the
# whole Python test suite against an ASan+UBSan build of the extension, and a short smoke run
# of every fuzz harness (libFuzzer under ASan+UBSan, then atheris on the Python entry
# points). Fails on any sanitizer report or fuzz finding. The long fuzz runs are
# tools/fuzz.sh and tools/fuzz_python.sh (see docs/HOSTILE_INPUT.md).
#
# Environment: FUZZ_SECONDS (per libFuzzer harness, default 20), ATHERIS_RUNS (per
# atheris harness, default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== lint and types"
bash tools/lint.sh
python -m pip install --quiet "pybind11>=2.12" cmake ninja
# The libFuzzer smoke runs need clang: installed from Debian's packages when it is
# missing and apt-get can (as root); else they are skipped (tools/sanitize_tests.sh says so).
if ! command -v clang++ >/dev/null && ! ls /usr/bin/clang++-[0-9]* >/dev/null 2>&1 &&
  command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== installing clang for the libFuzzer smoke runs"
  timeout 900 apt-get install -y -q clang libclang-rt-dev >/dev/null 2>&1 ||
    echo "== clang could not be installed: the libFuzzer smoke runs will be skipped"
fi
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" bash tools/sanitize_tests.sh

echo "== atheris smoke run (${ATHERIS_RUNS:-20000} executions per harness)"
python -m pip install --quiet "atheris>=2.3"
work="$PWD/build/atheris-smoke"
for target in read rewrite import text checkpoint; do
  log="$work/$target.log"
  mkdir -p "$work"
  if ! FUZZ_WORK="$work" ATHERIS_STAGE="$work/stage" \
    bash tools/fuzz_python.sh "$target" -runs="${ATHERIS_RUNS:-20000}" -max_total_time=120 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "atheris $target: finding or failure (log above)" >&2
    exit 1
  fi
  echo "atheris $target: $(grep -o 'number_of_executed_units: [0-9]*' "$log" | tail -1), clean"
done
