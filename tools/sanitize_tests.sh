#!/usr/bin/env bash
# Runs fastmeta's core tests under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   tools/sanitize_tests.sh [--quick] [PYTEST_ARGS...]
#
# 1. builds the C++ unit tests with -DFASTMETA_SANITIZE=address,undefined and runs
#    them with ctest (they replay tests/regressions/ through the fuzz targets);
# 2. builds the extension the same way into build/sanitize/ (the installed one is not
#    touched), stages it beside a copy of python/fastmeta, and runs the whole Python
#    test suite (TensorFlow differential tests included; or PYTEST_ARGS) against it
#    with libasan preloaded;
# 3. unless --quick, builds the libFuzzer harnesses (if clang is installed) and runs
#    each for FUZZ_SECONDS (default 20) from the seed corpora.
# Any sanitizer report aborts the run (-fno-sanitize-recover=all) and fails the script.
# Leak checking is off for the Python step (CPython keeps memory until exit); the C++
# tests and the fuzzers run with it on.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
build="$here/build/sanitize"
stage="$build/stage"
jobs="${JOBS:-2}"
mkdir -p "$build"

echo "== C++ tests (ASan+UBSan)"
cmake -S "$here" -B "$build/cpp" -DFASTMETA_BUILD_TESTS=ON -DFASTMETA_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice cmake --build "$build/cpp" -j "$jobs" >/dev/null
(cd "$build/cpp" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure)

echo "== extension (ASan+UBSan)"
py=$(command -v python3)
pybind_dir=$("$py" -c "import pybind11; print(pybind11.get_cmake_dir())")
cmake -S "$here" -B "$build/ext" -DFASTMETA_BUILD_PYTHON=ON -DFASTMETA_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -Dpybind11_DIR="$pybind_dir" -DPython_EXECUTABLE="$py" >/dev/null
nice cmake --build "$build/ext" -j "$jobs" --target _core >/dev/null
rm -rf "$stage" && mkdir -p "$stage"
cp -r "$here/python/fastmeta" "$stage/fastmeta"
find "$stage/fastmeta" -name '_core*.so' -delete
cp "$build"/ext/_core*.so "$stage/fastmeta/"

echo "== Python tests against the sanitized extension"
# libstdc++ too: CPython does not link it, and ASan's __cxa_throw interceptor needs it
# loaded before the extension (else "CHECK failed: real___cxa_throw != 0" on a throw).
preload="$(${CXX:-g++} -print-file-name=libasan.so):$(${CXX:-g++} -print-file-name=libstdc++.so)"
site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(tests)
fi
# -S: skip site (and with it the .pth of an editable install, which would load the
# unsanitized extension); PYTHONPATH puts the staged package first.
(cd "$here" && LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 \
  UBSAN_OPTIONS=print_stacktrace=1 PYTHONPATH="$stage:$here/tests:$site" \
  "$py" -S -c "import fastmeta._core as c, sys; assert c.__file__.startswith('$stage'), c.__file__" &&
  LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 \
  UBSAN_OPTIONS=print_stacktrace=1 PYTHONPATH="$stage:$here/tests:$site" \
  "$py" -S -m pytest -q -p no:cacheprovider "${tests[@]}")

if [ $quick -eq 0 ]; then
  if command -v clang++ >/dev/null || ls /usr/bin/clang++-[0-9]* >/dev/null 2>&1; then
    echo "== fuzz smoke run (${FUZZ_SECONDS:-20} s per harness)"
    FUZZ_WORK="$build/fuzz-smoke" "$here/tools/fuzz.sh" -n 100000000 -t "${FUZZ_SECONDS:-20}"
  else
    echo "== fuzz smoke run skipped: no clang (apt-get install clang libclang-rt-dev)"
  fi
fi
echo "sanitizer run: all green"
