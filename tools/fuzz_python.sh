#!/usr/bin/env bash
# Runs an atheris harness of fuzz/fuzz_python.py with coverage feedback.
#
#   tools/fuzz_python.sh TARGET [LIBFUZZER_ARGS...]     TARGET: read, rewrite, import, text, checkpoint
#
# atheris cannot instrument modules an editable install loads through its import hook
# (the run then has no coverage: "no interesting inputs were found", corpus of one
# input), so the package is staged as plain files beside the installed extension in
# $ATHERIS_STAGE (default build/atheris-stage) and run with site-packages on
# PYTHONPATH but not through site (-S). Corpus: $FUZZ_WORK/atheris/TARGET (default
# build/fuzz-work); seeds: fuzz/make_seeds.py. The last line gives the exact count.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
target=${1:?usage: tools/fuzz_python.sh TARGET [LIBFUZZER_ARGS...]}
shift
py=${PYTHON:-python3}
stage="${ATHERIS_STAGE:-$here/build/atheris-stage}"
work="${FUZZ_WORK:-$here/build/fuzz-work}"
so=$("$py" -c "import fastmeta._core as c; print(c.__file__)")
site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf "$stage"
mkdir -p "$stage" "$work/atheris/$target" "$work/scratch/$target"
# the harness's files on disk (libFuzzer ends the process without Python's atexit)
export FASTMETA_FUZZ_SCRATCH="$work/scratch/$target"
cp -r "$here/python/fastmeta" "$stage/"
cp "$so" "$stage/fastmeta/"
"$py" "$here/fuzz/make_seeds.py" "$work/seeds" >/dev/null
seeds="$work/seeds/meta"
max_len=8192
# (graphs of the fixtures' size, which their mutator keeps whole: see fuzz_python.py)
case "$target" in rewrite | import) max_len=32768 ;; esac
[ "$target" = checkpoint ] && seeds="$work/seeds/ckpt"
[ "$target" = text ] && seeds="$work/seeds/text"
cd "$work"
PYTHONPATH="$stage:$site" exec "$py" -S "$here/fuzz/fuzz_python.py" "$target" "$work/atheris/$target" "$seeds" \
  -max_len="$max_len" -print_final_stats=1 "$@"
