#!/usr/bin/env bash
# Lint and type checks (CI runs them): ruff's rules and its formatting over the Python
# sources, tests, benchmarks, tools and fuzz harnesses, mypy over the package, and
# clang-format's style (.clang-format) over the C++ under cpp/. The
# versions are pinned (as in pyproject's `dev` extra): a new release's rules or style
# would otherwise fail a clean clone that passed yesterday.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet "ruff==0.17.6" "mypy==2.4.1" "clang-format==23.1.5"
paths=(python tests benchmarks tools fuzz)
ruff check "${paths[@]}"
ruff format --check "${paths[@]}"
python -m mypy
find cpp \( -name '*.cc' -o -name '*.h' \) -print0 | xargs -0 clang-format --dry-run --Werror
