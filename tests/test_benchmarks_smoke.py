"""Smoke test of the benchmark suite at tiny sizes: the generator is deterministic and
TensorFlow-valid, and every contender's result passes its correctness check (timings are
not asserted: the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402
import pyrewrite  # noqa: E402
from fastmeta import _core  # noqa: E402
from fastmeta.protos import meta_graph_pb2  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = generate.ensure(2000, data_dir=tmp_path_factory.mktemp("bench"))
    return path


def test_generator_is_deterministic_and_sized(tmp_path: Path, small: Path) -> None:
    params = generate.params_for_nodes(2000)
    again = generate.generate(tmp_path / "again.meta", params)
    assert (tmp_path / "again.meta").read_bytes() == small.read_bytes()
    assert 1500 <= int(again["nodes"]) <= 2500  # type: ignore[call-overload]


def test_generated_graph_has_every_feature(small: Path) -> None:
    meta = meta_graph_pb2.MetaGraphDef.FromString(small.read_bytes())
    nodes = meta.graph_def.node
    names = [n.name for n in nodes]
    assert len(set(names)) == len(names)
    devices = {n.device for n in nodes}
    assert any(d.startswith("/job:ps/replica:0/task:") for d in devices)
    assert any("/gpu:" in d for d in devices) and any("/device:GPU:" in d for d in devices)
    assert any(n.name.startswith("tower_3/gradients/") for n in nodes)
    assert any(i.endswith(":1") for n in nodes for i in n.input)
    assert any(i.startswith("^") for n in nodes for i in n.input)
    # As TensorFlow writes them: control inputs sorted by name, each once.
    controls = [[i for i in n.input if i.startswith("^")] for n in nodes]
    assert max(len(c) for c in controls) > 100
    assert all(c == sorted(set(c)) for c in controls)
    assert any(s.startswith(b"loc:@") for n in nodes for s in n.attr["_class"].list.s)
    assert {"ApplyAdam", "Conv2D", "MatMul", "SaveV2", "RestoreV2"} <= {n.op for n in nodes}
    # Some nodes have stripped defaults that the stripped_op_list restores.
    ops = {op.name: op for op in meta.meta_info_def.stripped_op_list.op}
    convs = [n for n in nodes if n.op == "Conv2D"]
    assert any("use_cudnn_on_gpu" not in n.attr for n in convs)
    assert any(a.name == "use_cudnn_on_gpu" and a.HasField("default_value") for a in ops["Conv2D"].attr)
    kinds = {c.WhichOneof("kind") for c in meta.collection_def.values()}
    assert kinds == {"node_list", "bytes_list", "int64_list", "float_list"}
    assert meta.saver_def.sharded and meta.saver_def.restore_op_name == "save/restore_all"
    # Mostly creation order, some consumers before their producers.
    position = {n: i for i, n in enumerate(names)}
    backward = sum(1 for i, n in enumerate(nodes) for x in n.input if position[x.lstrip("^").split(":")[0]] > i)
    assert 0 < backward < len(nodes) // 10


def test_pyrewrite_agrees_with_core_on_names(small: Path) -> None:
    data = small.read_bytes()
    out = meta_graph_pb2.MetaGraphDef.FromString(pyrewrite.rewrite(data, "imported"))
    core = _core.rewrite_meta_graph(data, prefix="imported")
    assert sorted(n.name for n in out.graph_def.node) == sorted(core.names())
    assert out.saver_def.restore_op_name == "imported/save/restore_all"


def test_run_checks_pass(tmp_path: Path, small: Path) -> None:
    small_bytes = small.read_bytes()
    cmd = [
        sys.executable,
        str(BENCH / "run.py"),
        "--sizes",
        "2k",
        "--repeat",
        "1",
        "--warmup-below",
        "0",
        "--results",
        str(tmp_path),
        "--data-dir",
        str(small.parent),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = tmp_path.glob("*.json")
    doc: dict[str, Any] = json.loads(result.read_text())
    assert doc["machine"]["cores"] and doc["machine"]["python"]
    assert doc["config"]["page_cache"] == "read-back"
    assert small.read_bytes() == small_bytes  # (read back, not rewritten)
    rows = {r["kind"]: r for r in doc["results"]}
    for kind in ("read", "memcpy", "fm_rewrite_1", "pyrewrite"):
        assert rows[kind]["median_s"] is not None, rows[kind]
    for row in rows.values():
        assert not row["check"].startswith(("MISMATCH", "ERROR")), row
        if row["median_s"] is not None and row["kind"] not in ("tf_import", "pyrewrite"):
            assert row["check"].startswith("ok"), row
        if row["median_s"] is not None:  # no warm-up discarded here: the first run is kept
            assert row["first_s"] == row["runs"][0]["seconds"], row
    assert "| fastmeta rewrite, 1 thread" in proc.stdout
    assert "| first s |" in proc.stdout


def test_10k_graph_imports_and_matches_tensorflow_registry(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.framework import op_def_registry

    for name in generate.OP_SPECS:
        ours, theirs = generate.op_def(name), op_def_registry.get(name)
        assert [a.name for a in ours.input_arg] == [a.name for a in theirs.input_arg], name
        assert [a.name for a in ours.output_arg] == [a.name for a in theirs.output_arg], name
        assert {a.name: (a.type, a.default_value.SerializeToString()) for a in ours.attr} == {
            a.name: (a.type, a.default_value.SerializeToString()) for a in theirs.attr
        }, name
    path, info = generate.ensure(10_000, data_dir=tmp_path)
    with tf.Graph().as_default() as graph:
        saver = tf.compat.v1.train.import_meta_graph(str(path), import_scope="imported")
        assert len(graph.get_operations()) == info["nodes"]
        assert saver is not None
        assert len(graph.get_collection("trainable_variables")) > 0
        assert len(graph.get_collection("queue_runners")) == 1


def test_scan_floor_builds_and_counts_the_nodes(tmp_path: Path, small: Path) -> None:
    """benchmarks/scan_floor.cc (the floor under the rewrite's throughput) builds with the
    project's CMake option and reads the same node count as the core."""
    import shutil

    if shutil.which("cmake") is None or (shutil.which("c++") is None and shutil.which("g++") is None):
        pytest.skip("needs cmake and a C++ compiler")
    root = BENCH.parent
    build = tmp_path / "build"
    subprocess.run(
        ["cmake", "-S", str(root), "-B", str(build), "-DFASTMETA_BUILD_BENCHMARKS=ON", "-DFASTMETA_BUILD_PYTHON=OFF"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["cmake", "--build", str(build), "--target", "scan_floor", "-j2"], check=True, capture_output=True)
    run = subprocess.run([str(build / "scan_floor"), str(small), "2"], check=True, capture_output=True, text=True)
    out = run.stdout
    nodes = _core.rewrite_meta_graph_file(str(small)).num_nodes
    assert f": {nodes} nodes," in out
    for step in ("memcpy (recycled)", "memcpy (fresh)", "boundary scan", "field scan", "both scans"):
        assert step in out


def test_generated_graph_large_enough_for_mapped_blocks_matches_tensorflow(tmp_path: Path) -> None:
    """A 30k-node training graph: big enough that the core's scratch and output blocks are
    huge-page mappings of their own (1 MiB and more) and the work runs in parallel parts.
    Graph, every collection and the Saver equal TensorFlow's."""
    pytest.importorskip("tensorflow")
    import fastmeta
    import tf_oracle

    path, info = generate.ensure(30_000, data_dir=tmp_path)
    assert info["size"] > 4 << 20
    expected = tf_oracle.tf_import(str(path), import_scope="imported")
    g = fastmeta.Graph()
    saver = fastmeta.import_meta_graph(str(path), import_scope="imported", graph=g)
    got = g.as_graph_def()
    assert tf_oracle.diff_graph_defs(expected.graph_def, got, ignore_experimental_type=True) == []
    # The one known difference: TensorFlow's C++ importer types the generator's Shape ops
    # (a file TensorFlow wrote carries the type already; see tests/TF_BEHAVIOUR.md, 4).
    typed = tf_oracle.diff_graph_defs(expected.graph_def, got, max_diffs=10**6)
    ops = {n.name: n.op for n in expected.graph_def.node}
    assert typed and all("experimental_type differs" in d and ops[d.split("'")[1]] == "Shape" for d in typed)
    assert tf_oracle.describe_collections(g) == expected.collections
    assert saver is not None and tf_oracle.describe_item(saver) == expected.saver


def test_sizes_parse_with_the_tensorflow_prefix() -> None:
    import run

    assert run.parse_sizes("10k, 1m,tf100k,TF2k,1500") == [
        ("10k", 10_000),
        ("1m", 1_000_000),
        ("tf100k", 100_000),
        ("tf2k", 2_000),
        ("1500", 1_500),
    ]


def test_tensorflow_made_graph_is_measured_and_checked(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    import tf_graph

    path, info = tf_graph.ensure(2000, data_dir=tmp_path)
    assert info["maker"] == "tensorflow" and 1500 <= info["nodes"] <= 2500, info
    meta = meta_graph_pb2.MetaGraphDef.FromString(path.read_bytes())
    names = {n.name for n in meta.graph_def.node}
    assert {"tower_0/model/dense_0/MatMul", "tower_1/model/dense_0/MatMul", "train", "save/restore_all"} <= names
    devices = {n.device for n in meta.graph_def.node}
    assert any(d.startswith("/job:ps/task:1") for d in devices), devices
    assert any(d.endswith("device:GPU:1") for d in devices), devices
    assert {"queue_runners", "variables", "trainable_variables", "summaries", "train_op"} <= set(meta.collection_def), (
        sorted(meta.collection_def)
    )
    assert meta.saver_def.sharded
    assert tf_graph.ensure(2000, data_dir=tmp_path) == (path, info)  # (cached)
    cmd = [
        sys.executable,
        str(BENCH / "run.py"),
        "--sizes",
        "tf2k",
        "--repeat",
        "1",
        "--warmup-below",
        "0",
        "--kinds",
        "fm_rewrite_1,fm_import,tf_import",
        "--results",
        str(tmp_path / "results"),
        "--data-dir",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = (tmp_path / "results").glob("*.json")
    rows = {r["kind"]: r for r in json.loads(result.read_text())["results"]}
    assert rows["tf_import"]["check"] == "baseline", rows["tf_import"]
    for kind in ("fm_rewrite_1", "fm_import"):
        assert rows[kind]["size"] == "tf2k" and rows[kind]["check"].startswith("ok vs tf_import"), rows[kind]


def test_text_benchmark_runs_and_its_fastmeta_imports_agree(tmp_path: Path) -> None:
    # (bench_text fails when the core's text reader and protobuf's give different graphs)
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_text.py"),
            "--nodes",
            "2000",
            "--kinds",
            "fastmeta,fastmeta_merge",
            "--data-dir",
            str(tmp_path),
            "--json",
            str(tmp_path / "r.json"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    record = json.loads((tmp_path / "r.json").read_text())
    runs = record["results"]
    assert runs["fastmeta"]["hash"] == runs["fastmeta_merge"]["hash"]
    assert runs["fastmeta"]["nodes"] > 1500 and "text_format.Merge import" in out.stdout
