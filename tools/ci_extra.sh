#!/usr/bin/env bash
# CI's second stage (after the README's test command): the core's C++ unit tests and
# the Python core tests against an ASan+UBSan build of the extension. Fails on any
# sanitizer report. The long fuzz runs are tools/fuzz.sh (see docs/HOSTILE_INPUT.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet "pybind11>=2.12" cmake ninja
bash tools/sanitize_tests.sh --quick
