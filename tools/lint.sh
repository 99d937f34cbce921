#!/usr/bin/env bash
# Lint and type checks (CI runs them): ruff's rules and its formatting over the Python
# sources, tests, benchmarks, tools and fuzz harnesses, then mypy over the package. The
# versions are pinned (as in pyproject's `dev` extra): a new release's rules or style
# would otherwise fail a clean clone that passed yesterday.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet "ruff==0.17.6" "mypy==2.4.1"
paths=(python tests benchmarks tools fuzz)
ruff check "${paths[@]}"
ruff format --check "${paths[@]}"
python -m mypy
