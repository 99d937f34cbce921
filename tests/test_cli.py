"""The command line: ``python -m fastmeta import|rewrite|inspect`` on the bundled example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fastmeta
import pytest
from fastmeta.protos import meta_graph_pb2

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "mlp.meta"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastmeta", *args], capture_output=True, text=True, timeout=300)


def test_rewrite_writes_what_rewrite_meta_graph_returns(tmp_path: Path) -> None:
    out = tmp_path / "scoped.meta"
    proc = run("rewrite", str(EXAMPLE), str(out), "--import-scope", "tower_0", "--clear-devices")
    assert proc.returncode == 0, proc.stderr
    written = meta_graph_pb2.MetaGraphDef.FromString(out.read_bytes())
    expected = fastmeta.rewrite_meta_graph(EXAMPLE, import_scope="tower_0", clear_devices=True)
    assert written == expected
    assert all(n.name.startswith("tower_0/") and not n.device for n in written.graph_def.node)


def test_rewrite_as_text_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "scoped.pbtxt"
    assert run("rewrite", str(EXAMPLE), str(out), "--as-text").returncode == 0
    assert fastmeta.read_meta_graph_file(out) == fastmeta.rewrite_meta_graph(EXAMPLE)


def test_inspect_json_counts() -> None:
    proc = run("inspect", str(EXAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    meta = fastmeta.read_meta_graph_file(EXAMPLE)
    assert summary["nodes"] == len(meta.graph_def.node)
    assert sum(summary["ops"].values()) == summary["nodes"]
    assert summary["tensorflow_version"] == meta.meta_info_def.tensorflow_version
    assert set(summary["collections"]) == set(meta.collection_def)
    assert summary["saver"]["restore_op_name"] == meta.saver_def.restore_op_name


def test_import_summary() -> None:
    proc = run("import", str(EXAMPLE), "--import-scope", "tower_0")
    assert proc.returncode == 0, proc.stderr
    assert "operations" in proc.stdout and "tower_0/save/restore_all" in proc.stdout


def test_errors_are_one_line_and_nonzero(tmp_path: Path) -> None:
    proc = run("inspect", str(tmp_path / "missing.meta"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("fastmeta: error: File does not exist")
    bad = tmp_path / "bad.meta"
    bad.write_bytes(b"\xff\xfe garbage \x00")
    proc = run("rewrite", str(bad), str(tmp_path / "out.meta"))
    assert proc.returncode == 1 and "byte offset" in proc.stderr
    assert not (tmp_path / "out.meta").exists()


def test_inspect_lists_the_function_library(tmp_path: Path) -> None:
    corpus = ROOT / "tests" / "fixtures" / "corpus"
    meta = fastmeta.read_meta_graph_file(corpus / "control_flow_v2.meta")
    proc = run("inspect", str(corpus / "control_flow_v2.meta"), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    lib = meta.graph_def.library
    assert summary["functions"] == {f.signature.name: len(f.node_def) for f in lib.function}
    assert summary["gradients"] == {g.function_name: g.gradient_func for g in lib.gradient}
    text = run("inspect", str(corpus / "control_flow_v2.meta")).stdout
    assert f"functions       {len(lib.function)} (" in text
    # A malformed library is reported like any other malformed input: here a second
    # graph_def field (protobuf merges it into the first) whose library holds a function
    # with a good signature and a node whose name's length runs past its end (below the
    # signatures, which is all the core reads of a library).
    bad = tmp_path / "bad_library.meta"
    signature = b"\x0a\x01f"
    function = b"\x0a" + bytes([len(signature)]) + signature + b"\x1a\x03\x0a\x05\x0a"
    library = b"\x0a" + bytes([len(function)]) + function
    graph_def = b"\x12" + bytes([len(library)]) + library
    bad.write_bytes(meta.SerializeToString() + b"\x12" + bytes([len(graph_def)]) + graph_def)
    proc = run("inspect", str(bad))
    assert proc.returncode == 1 and "byte offset" in proc.stderr, proc.stderr


def test_a_file_exported_with_export_scope(tmp_path: Path) -> None:
    # TensorFlow's export_meta_graph(export_scope=...) renames the inputs from outside
    # the scope $unbound_inputs_*: inspect describes the file without an input_map and
    # lists them; rewrite refuses it as TensorFlow's import does unless --input-map maps
    # them, and then writes TensorFlow's import with that input_map.
    tf_oracle = pytest.importorskip("tf_oracle")
    path = tmp_path / "tower.meta"
    path.write_bytes(tf_oracle.unbound_inputs_meta())
    meta = fastmeta.read_meta_graph_file(path)
    proc = run("inspect", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["nodes"] == len(meta.graph_def.node) == 4
    assert summary["ops"] == {"Identity": 2, "Const": 1, "Mul": 1}
    assert summary["unbound_inputs"] == ["$unbound_inputs_x", "$unbound_inputs_halves:1"]
    proc = run("inspect", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "\nunbound inputs  2 (" in proc.stdout and "\n  $unbound_inputs_halves:1\n" in proc.stdout
    assert "unbound inputs" not in run("inspect", str(EXAMPLE)).stdout

    tf = pytest.importorskip("tensorflow")
    with tf.Graph().as_default(), pytest.raises(ValueError) as refused:
        tf.compat.v1.train.import_meta_graph(str(path))
    out = tmp_path / "out.meta"
    proc = run("rewrite", str(path), str(out))
    assert proc.returncode == 1 and proc.stderr == f"fastmeta: error: {refused.value}\n"
    assert str(refused.value).startswith("Graph contains unbound inputs: $unbound_inputs_x,")
    assert not out.exists()
    mapping = [arg for key, value in tf_oracle.UNBOUND_INPUT_MAP.items() for arg in ("--input-map", f"{key}={value}")]
    for scope in (None, "imp"):
        proc = run("rewrite", str(path), str(out), *mapping, *(["--import-scope", scope] if scope else []))
        assert proc.returncode == 0, proc.stderr
        written = meta_graph_pb2.MetaGraphDef.FromString(out.read_bytes())
        want = tf_oracle.tf_import_unbound(str(path), import_scope=scope)
        assert not tf_oracle.diff_graph_defs(want, written.graph_def)
        if scope is None:
            assert [list(n.input) for n in written.graph_def.node] == [[], ["nx", "mul/y"], ["mul"], ["nh"]]
    proc = run("rewrite", str(path), str(out), "--input-map", "$unbound_inputs_x")
    assert proc.returncode == 2 and "expected KEY=VALUE" in proc.stderr


def test_inspect_lists_a_control_input_from_outside_the_export_scope(tmp_path: Path) -> None:
    # TensorFlow leaves a control input from outside the scope (^$unbound_inputs_c) out of
    # the unbound_inputs collection: inspect still describes the file, and lists it.
    tf_oracle = pytest.importorskip("tf_oracle")
    path = tmp_path / "tower.meta"
    path.write_bytes(tf_oracle.unbound_inputs_meta(control=True))
    meta = fastmeta.read_meta_graph_file(path)
    assert b"^$unbound_inputs_c" not in meta.collection_def["unbound_inputs"].bytes_list.value
    assert "^$unbound_inputs_c" in [i for n in meta.graph_def.node for i in n.input]
    proc = run("inspect", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["nodes"] == 4
    assert summary["unbound_inputs"] == ["$unbound_inputs_x", "$unbound_inputs_halves:1", "^$unbound_inputs_c"]
