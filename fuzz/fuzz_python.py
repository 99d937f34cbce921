"""atheris harnesses for fastmeta's Python entry points.

    python fuzz/fuzz_python.py TARGET [CORPUS_DIR...] [-runs=N] [-max_total_time=S] ...

TARGET is one of ``read`` (``fastmeta.read_meta_graph_file`` on a file holding the
input), ``rewrite`` (``fastmeta.rewrite_meta_graph`` on the bytes, with a scope,
clear_devices and an input_map chosen by a checksum of the input), ``import``
(``fastmeta.import_meta_graph`` of the bytes, twice into one fresh ``fastmeta.Graph``,
scope and clear_devices chosen by a checksum of the input), ``text`` (the core's
text-format reader against protobuf's ``text_format.Merge``: whatever the core converts,
protobuf must read as the same message) or ``checkpoint``
(``fastmeta.checkpoint.CheckpointReader`` on an index and a data shard both taken from
the input, every tensor read). Any exception that is not a ``fastmeta.Error`` is a finding. Seeds:
``python fuzz/make_seeds.py DIR`` (``DIR/meta``, ``DIR/ckpt``: mode byte, 2-byte index
length, index, data shard).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["fastmeta"]):
    import fastmeta
    from fastmeta import checkpoint as fm_checkpoint
    from fastmeta import reading
    from fastmeta.protos import meta_graph_pb2

from google.protobuf import text_format

# Where the harness writes the files it reads back: tools/fuzz_python.sh gives a folder
# of its work directory; run directly, a temporary one (removed if Python exits normally).
_TMP = os.environ.get("FASTMETA_FUZZ_SCRATCH") or tempfile.mkdtemp(prefix="fastmeta-atheris-")
if "FASTMETA_FUZZ_SCRATCH" not in os.environ:
    atexit.register(shutil.rmtree, _TMP, True)
_PATH = os.path.join(_TMP, "input.meta")
# Mostly scopes TensorFlow accepts (the import goes deep), some it refuses.
_SCOPES = ["", "imp", "imp", "a.b", "a>b/", "x/y//", "imp/", "", "a\\b", "_bad", "a$", "\u00e9"]


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


def _options(data: bytes) -> tuple[str, bool, int]:
    # The options come from a checksum of the input, not from bytes taken off its front:
    # the whole input is the meta graph, so the seeds (real meta graphs) import as they
    # are and mutations start from valid graphs (the session-3 runs took the options from
    # the first bytes, which broke every seed). Each distinct input gets its own options,
    # the same on every run (findings reproduce).
    h = zlib.crc32(data)
    return _SCOPES[h % len(_SCOPES)], (h >> 8) & 1 == 1, (h >> 9) % 4


def target_rewrite(data: bytes) -> None:
    scope, clear, variant = _options(data)
    # An input_map key that is not in the graph is always an error; one the graph may
    # have ("x:0" of many test graphs) exercises the mapping; mostly none.
    input_map = {"no_such_node_in_any_graph:0": "ext:0"} if variant == 1 else {"x:0": "ext:0"} if variant == 2 else None
    _expect_typed(lambda: fastmeta.rewrite_meta_graph(data, scope, clear, input_map))


def target_import(data: bytes) -> None:
    scope, clear, _ = _options(data)
    graph = fastmeta.Graph()

    def run() -> None:
        fastmeta.import_meta_graph(data, clear_devices=clear, import_scope=scope, graph=graph)
        fastmeta.import_meta_graph(data, clear_devices=clear, import_scope=scope, graph=graph)

    _expect_typed(run)


def target_text(data: bytes) -> None:
    converted = reading.text_to_binary(data, meta_graph_pb2.MetaGraphDef)
    if converted is None:
        return  # (declined: protobuf's reader decides, as without the core)
    ours = meta_graph_pb2.MetaGraphDef.FromString(bytes(converted))
    theirs = meta_graph_pb2.MetaGraphDef()
    # (raising here is a finding too: the core converted a text protobuf refuses)
    text_format.Merge(data.decode("utf-8"), theirs, descriptor_pool=reading.tensorflow_alias_pool())
    if ours.SerializeToString(deterministic=True) != theirs.SerializeToString(deterministic=True):
        raise AssertionError("the core's conversion is not protobuf's message")


def target_checkpoint(data: bytes) -> None:
    # data[0]: the C++ harness's mode byte (skipped); data[1:3]: the length n of the
    # .index (little endian); then n bytes of .index and the rest is the data shard, so
    # mutations reach the tensor decoding behind intact entries, not only the table.
    n = int.from_bytes(data[1:3], "little")
    prefix = os.path.join(_TMP, "ckpt")
    with open(prefix + ".index", "wb") as f:
        f.write(data[3 : 3 + n])
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(data[3 + n :])

    reader: list[fm_checkpoint.CheckpointReader] = []

    def load() -> None:
        reader.append(fm_checkpoint.CheckpointReader(prefix))
        reader[0].debug_string()

    _expect_typed(load)
    if not reader:
        return
    for name in list(reader[0].get_variable_to_dtype_map()):
        _expect_typed(functools.partial(reader[0].get_tensor, name))
    _expect_typed(lambda: fm_checkpoint.list_variables(prefix))


TARGETS = {
    "read": target_read,
    "rewrite": target_rewrite,
    "import": target_import,
    "text": target_text,
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
