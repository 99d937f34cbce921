"""The meta graph file under the core: read (not mapped) when small or not a regular
file, so that a pipe's bytes are never dropped like a mapping's pages and a small file
truncated during an import cannot kill the process (SIGBUS). Each case runs in a child
process, so a crash shows as a failed test instead of taking pytest down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fastmeta import _core

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
# Larger than a few pages (the core drops the input's pages once read when it is a
# mapping), smaller than MappedFile.kMapFrom (256 KiB).
SMALL = CORPUS / "dynamic_rnn_v2.meta"


def _child(code: str, *args: str, stdin: bytes | None = None) -> str:
    p = subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, timeout=300)
    if p.returncode < 0:
        pytest.fail(f"the child died of {signal.Signals(-p.returncode).name}\n{p.stderr.decode()}")
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


_NODES = """
import sys, fastmeta
g = fastmeta.Graph()
with g.as_default():
    fastmeta.import_meta_graph(sys.argv[1], import_scope="imp")
print("\\n".join(str(op.node_def) for op in g.get_operations()))
"""


@pytest.mark.parametrize("meta", ["keras_rnn_v1.meta", "dynamic_rnn_v2.meta"])
def test_a_meta_graph_piped_in(meta: str) -> None:
    # /dev/stdin is a pipe: read, never mapped, so its pages are not the core's to drop
    # (they came back as zeros: "invalid field number 0").
    path = CORPUS / meta
    from_file = _child(_NODES, str(path))
    assert from_file.count("name:") > 100
    assert _child(_NODES, "/dev/stdin", stdin=path.read_bytes()) == from_file


def test_a_small_meta_graph_truncated_under_the_import(tmp_path: Path) -> None:
    copy = tmp_path / "g.meta"
    copy.write_bytes(SMALL.read_bytes())
    assert copy.stat().st_size < 256 << 10
    out = _child(
        """
import os, sys
from fastmeta import _core
path = sys.argv[1]
f = _core.MappedFile(path.encode())
os.truncate(path, 0)            # (as cp or an in-place writer would)
g = _core.rewrite_meta_graph(f, prefix="imp")
print(g.num_nodes, bytes(memoryview(f)) == open(sys.argv[2], "rb").read())
""",
        str(copy),
        str(SMALL),
    )
    assert out.split() == [str(_core.rewrite_meta_graph(SMALL.read_bytes(), prefix="imp").num_nodes), "True"]


# ---- a mapped file truncated (or written to) by another process while fastmeta reads it ----
# Files of MappedFile.kMapFrom bytes or more are mapped: a page past the new end of a
# truncated file used to raise SIGBUS and kill the process (the child's return code -7).
# Now it reads as zeros and a FileChangedError naming the file replaces the result.
LARGE = CORPUS / "keras_rnn_v1.meta"

_TRUNCATED = """
import json, os, sys
import fastmeta
from fastmeta import _core
import fastmeta.importer, fastmeta.reading, fastmeta.saved_model

api, when, keep, path, small = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
target = os.path.join(path, "saved_model.pb") if api == "saved_model.load" else path
done = []

def truncating(module, name, after=False):
    real = getattr(module, name)
    def call(*args, **kwargs):
        if not done and not after:
            done.append(os.truncate(target, keep))
        result = real(*args, **kwargs)
        if not done and after:
            done.append(os.truncate(target, keep))
        return result
    setattr(module, name, call)

g = fastmeta.Graph()
with g.as_default():
    fastmeta.import_meta_graph(small, import_scope="before")
before = (g.as_graph_def().SerializeToString(deterministic=True),
          {k: len(g.get_collection(k)) for k in g.get_all_collection_keys()})
if when == "mapped":  # before anything has read the mapping
    truncating(fastmeta.reading, "_read_rest")
    truncating(fastmeta.saved_model, "_scan_binary")
elif when == "never":
    pass
elif api == "read_meta_graph_file":  # read, then the whole message parsed from it
    truncating(fastmeta.reading, "load_meta_graph", after=True)
else:  # read and its fields other than the graph parsed, then the core's pass
    truncating(_core, "rewrite_meta_graph")

try:
    with g.as_default():
        if api == "import_meta_graph":
            fastmeta.import_meta_graph(path, import_scope="imp")
        elif api == "rewrite_meta_graph":
            fastmeta.rewrite_meta_graph(path, import_scope="imp")
        elif api == "read_meta_graph_file":
            fastmeta.read_meta_graph_file(path)
        else:
            fastmeta.saved_model.load(path, ["serve"], import_scope="imp", graph=g)
    out = {"error": None}
except Exception as e:
    out = {"error": type(e).__name__, "message": str(e), "path": getattr(e, "path", None),
           "file_error": isinstance(e, fastmeta.FileError), "os_error": isinstance(e, OSError)}
after = (g.as_graph_def().SerializeToString(deterministic=True),
         {k: len(g.get_collection(k)) for k in g.get_all_collection_keys()})
out["truncated"] = bool(done)
out["graph_unchanged"] = after == before
print(json.dumps(out))
"""


def _saved_model(root: Path) -> Path:
    """A SavedModel of LARGE's graph (its variables and saver dropped, so that it loads
    with no checkpoint), under tags "serve", and again under "train"."""
    from fastmeta.protos import meta_graph_pb2, saved_model_pb2

    meta = meta_graph_pb2.MetaGraphDef.FromString(LARGE.read_bytes())
    meta.ClearField("saver_def")
    for key in ("variables", "trainable_variables"):
        del meta.collection_def[key]
    saved = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    for tag in ("serve", "train"):
        m = saved.meta_graphs.add()
        m.CopyFrom(meta)
        m.meta_info_def.tags[:] = [tag]
    root.mkdir()
    (root / "saved_model.pb").write_bytes(saved.SerializeToString())
    return root


_APIS = ["import_meta_graph", "rewrite_meta_graph", "read_meta_graph_file", "saved_model.load"]


@pytest.mark.parametrize("api", _APIS)
@pytest.mark.parametrize("when", ["mapped", "read"])
@pytest.mark.parametrize("keep", ["none", "half"])
def test_a_mapped_meta_graph_truncated_under_the_read(tmp_path: Path, api: str, when: str, keep: str) -> None:
    if api == "saved_model.load":
        path = _saved_model(tmp_path / "model")
        target = path / "saved_model.pb"
    else:
        path = target = tmp_path / "g.meta"
        path.write_bytes(LARGE.read_bytes())
    size = target.stat().st_size
    assert size >= 256 << 10  # (mapped)
    # Untouched, it reads (the same child, nothing truncated).
    untouched = json.loads(_child(_TRUNCATED, api, "never", "0", str(path), str(SMALL)))
    assert untouched["error"] is None and not untouched["truncated"]
    # Truncated to nothing, or inside a page half-way (no fault: zeros to the page's end).
    cut = 0 if keep == "none" else size // 2 + 5
    out = json.loads(_child(_TRUNCATED, api, when, str(cut), str(path), str(SMALL)))
    assert out["truncated"]
    assert out["error"] == "FileChangedError", out
    assert out["file_error"] and out["os_error"]
    assert out["path"] == str(target)
    assert str(target) in out["message"] and "changed" in out["message"] and "truncated" in out["message"]
    assert out["graph_unchanged"]


_FOREIGN = """
import faulthandler, mmap, os, sys
from fastmeta import _core
order, path, other, kind = sys.argv[1:5]
if order == "faulthandler first":
    faulthandler.enable()
held = _core.MappedFile(path.encode())  # (the handler is installed)
if order == "faulthandler after":
    faulthandler.enable()
    again = _core.MappedFile(path.encode())  # (ours on top again, passing on to it)
    os.truncate(path, 0)
    try:
        bytes(again)
    except Exception as e:
        print(type(e).__name__, flush=True)
    try:
        again.check()
    except Exception as e:
        print(type(e).__name__, flush=True)
if kind == "sent":
    os.kill(os.getpid(), 7)
with open(other, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
os.truncate(other, 0)
print(m[len(m) - 1])  # a mapping that is not fastmeta's: SIGBUS, as ever
print("survived")
"""


@pytest.mark.skipif(
    "asan" in os.environ.get("LD_PRELOAD", ""),
    reason="under AddressSanitizer its own SIGBUS handling decides how the process dies",
)
@pytest.mark.parametrize("order", ["no faulthandler", "faulthandler first", "faulthandler after"])
@pytest.mark.parametrize("kind", ["fault", "sent"])
def test_a_sigbus_not_in_a_fastmeta_mapping_still_kills(tmp_path: Path, order: str, kind: str) -> None:
    path, other = tmp_path / "g.meta", tmp_path / "other"
    path.write_bytes(LARGE.read_bytes())
    other.write_bytes(b"x" * (1 << 16))
    p = subprocess.run(
        [sys.executable, "-c", _FOREIGN, order, str(path), str(other), kind],
        capture_output=True,
        timeout=60,
    )
    assert p.returncode == -signal.SIGBUS, (p.returncode, p.stderr.decode())
    out = p.stdout.decode().split()
    assert "survived" not in out
    if order == "faulthandler after":
        assert out == ["FileChangedError"]  # bytes() copied zeros; check() raised
    # The handler passed on to (faulthandler) ran once: no loop between the two.
    assert p.stderr.decode().count("Fatal Python error: Bus error") == (order != "no faulthandler")
