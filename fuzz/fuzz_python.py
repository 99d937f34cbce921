"""atheris harnesses for fastmeta's Python entry points.

    python fuzz/fuzz_python.py TARGET [CORPUS_DIR...] [-runs=N] [-max_total_time=S] ...

TARGET is one of ``read`` (``fastmeta.read_meta_graph_file`` on a file holding the
input), ``rewrite`` (``fastmeta.rewrite_meta_graph`` on the bytes, with a scope,
clear_devices and an input_map drawn from the input), ``import``
(``fastmeta.import_meta_graph`` into a fresh ``fastmeta.Graph``) or ``checkpoint``
(``fastmeta.checkpoint.CheckpointReader`` on an index file holding the input, every
tensor read). Any exception that is not a ``fastmeta.Error`` is a finding. Seeds:
``python fuzz/make_seeds.py DIR`` (``DIR/meta``, ``DIR/index``; the index seeds start
with the C++ harness's mode byte, which this harness skips).
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Callable

import atheris

with atheris.instrument_imports(include=["fastmeta"]):
    import fastmeta
    from fastmeta import checkpoint as fm_checkpoint

_TMP = tempfile.mkdtemp(prefix="fastmeta-atheris-")
_PATH = os.path.join(_TMP, "input.meta")
_SCOPES = ["", "imp", "a.b", "a\\b", "a>b/", "x/y//", "_bad", "a$", "\u00e9"]


def _expect_typed(fn: Callable[[], object]) -> None:
    try:
        fn()
    except fastmeta.Error:
        pass
    except RecursionError:
        raise
    except Exception as e:
        # Not a fastmeta error: a finding (atheris reports the traceback and the input).
        raise AssertionError(f"untyped {type(e).__name__}: {e}") from e


def _write(data: bytes) -> str:
    with open(_PATH, "wb") as f:
        f.write(data)
    return _PATH


def target_read(data: bytes) -> None:
    _expect_typed(lambda: fastmeta.read_meta_graph_file(_write(data)))


def target_rewrite(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    scope = _SCOPES[fdp.ConsumeIntInRange(0, len(_SCOPES) - 1)]
    clear = fdp.ConsumeBool()
    input_map = {fdp.ConsumeUnicodeNoSurrogates(8): "ext:0"} if fdp.ConsumeBool() else None
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    _expect_typed(lambda: fastmeta.rewrite_meta_graph(body, scope, clear, input_map))


def target_import(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    scope = _SCOPES[fdp.ConsumeIntInRange(0, len(_SCOPES) - 1)]
    clear = fdp.ConsumeBool()
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    graph = fastmeta.Graph()

    def run() -> None:
        fastmeta.import_meta_graph(body, clear_devices=clear, import_scope=scope, graph=graph)
        fastmeta.import_meta_graph(body, clear_devices=clear, import_scope=scope, graph=graph)

    _expect_typed(run)


def target_checkpoint(data: bytes) -> None:
    prefix = os.path.join(_TMP, "ckpt")
    with open(prefix + ".index", "wb") as f:
        f.write(data[1:])
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(data[:4096])

    def run() -> None:
        reader = fm_checkpoint.CheckpointReader(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)

    _expect_typed(run)


TARGETS = {
    "read": target_read,
    "rewrite": target_rewrite,
    "import": target_import,
    "checkpoint": target_checkpoint,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
