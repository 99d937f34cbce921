"""The meta graph file under the core: read (not mapped) when small or not a regular
file, so that a pipe's bytes are never dropped like a mapping's pages and a small file
truncated during an import cannot kill the process (SIGBUS). Each case runs in a child
process, so a crash shows as a failed test instead of taking pytest down."""

from __future__ import annotations

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
    p = subprocess.run(
        [sys.executable, "-c", code, *args], input=stdin, capture_output=True, timeout=300
    )
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
