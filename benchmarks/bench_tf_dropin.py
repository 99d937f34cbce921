"""Benchmark: ``fastmeta.tf.import_meta_graph`` vs TensorFlow's, and TensorFlow's floor.

For each meta graph (~100k and ~1M nodes; one run each, every measurement in a fresh
subprocess so that the runs do not share caches, memory or name state):

* ``tf``       ``tf.compat.v1.train.import_meta_graph(path)`` into a fresh graph;
* ``fastmeta`` ``fastmeta.tf.import_meta_graph(path)`` into a fresh graph;
* ``floor``    TensorFlow's C++ ``ImportGraphDef`` plus the Python ``Operation`` wrappers
  made as fastmeta.tf makes them (``_importer._add_operations``: only the wrappers when
  no scope or context asks for more; the cyclic GC paused) on the already rewritten GraphDef bytes (prepared
  before the clock starts): what any importer into a ``tf.Graph`` has to pay.

Every measurement reports the node count and a hash of ``as_graph_def()`` (nodes in
order, library functions by name) and must equal the ``tf`` baseline's. The fastmeta
run also prints where its time goes (phases of ``fastmeta.tf._importer.profile``).

Input graphs: ``benchmarks/generate.py`` (TF-free generator) when present, else a
stack of dense layers with Adam built with TensorFlow itself; both cached under
``benchmarks/data/`` (gitignored).

Usage: ``python benchmarks/bench_tf_dropin.py [--sizes 100k,1m] [--json out.json]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SIZES = {"100k": 100_000, "1m": 1_000_000}
TARGETS = {"speedup_vs_tf": 1.6, "ratio_vs_floor": 1.1}


# ---------------------------------------------------------------------------
# Input graphs
# ---------------------------------------------------------------------------
def _quiet_tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tf.compat.v1.disable_eager_execution()
    return tf


def generate_with_tf(nodes: int, path: Path) -> None:
    """Write a meta graph of about ``nodes`` nodes: towers of dense layers (ref
    variables, glorot init), a summed loss, Adam with a global step, and a Saver."""
    tf = _quiet_tf()
    per_layer = 55  # nodes per dense layer with its Adam update (measured)
    layers = max(1, nodes // per_layer)
    depth = 50
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8], name="x")
        losses = []
        for t in range((layers + depth - 1) // depth):
            h = x
            with tf.compat.v1.variable_scope(f"tower{t}"):
                for i in range(min(depth, layers - t * depth)):
                    with tf.compat.v1.variable_scope(f"layer{i}"):
                        w = tf.compat.v1.get_variable(
                            "w", [8, 8], initializer=tf.compat.v1.glorot_uniform_initializer()
                        )
                        b = tf.compat.v1.get_variable("b", [8], initializer=tf.compat.v1.zeros_initializer())
                        h = tf.nn.relu(tf.matmul(h, w) + b)
                losses.append(tf.reduce_mean(tf.square(h)))
        loss = tf.add_n(losses, name="loss")
        step = tf.compat.v1.train.get_or_create_global_step()
        train = tf.compat.v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=step, name="train")
        tf.compat.v1.add_to_collection("train_op", train)
        saver = tf.compat.v1.train.Saver()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tf.compat.v1.train.export_meta_graph(str(tmp), saver_def=saver.as_saver_def())
        tmp.rename(path)


def _generate_tf_free(size: str, nodes: int) -> Path | None:
    """Use benchmarks/generate.py (a colleague's TF-free generator) if it is there."""
    generator = HERE / "generate.py"
    if not generator.is_file():
        return None
    path = DATA / f"train_{size}.meta"
    if path.is_file():
        return path
    proc = subprocess.run(
        [sys.executable, str(generator), "--nodes", str(nodes), "--out", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not path.is_file():
        print(f"  (benchmarks/generate.py failed, using the TF-built graph: {proc.stderr.strip()[-300:]})")
        return None
    return path


def meta_graph_for(size: str, tf_built: bool) -> Path:
    """The cached meta graph for ``size`` (generated on first use)."""
    nodes = SIZES[size]
    if not tf_built:
        path = _generate_tf_free(size, nodes)
        if path is not None:
            return path
    path = DATA / f"tf_dense_adam_{size}.meta"
    if not path.is_file():
        print(f"  generating {path.name} with TensorFlow (once; cached) ...", flush=True)
        start = time.perf_counter()
        _in_child("generate", str(path), str(nodes))
        print(f"  generated in {time.perf_counter() - start:.0f}s", flush=True)
    return path


# ---------------------------------------------------------------------------
# Measurements (each runs in its own process)
# ---------------------------------------------------------------------------
def graph_digest(graph: Any) -> tuple[int, str]:
    """(node count, sha256 over the nodes in order and the functions by name)."""
    gd = graph.as_graph_def()
    h = hashlib.sha256()
    for node in gd.node:
        h.update(node.SerializeToString(deterministic=True))
    for f in sorted(gd.library.function, key=lambda f: f.signature.name):
        h.update(f.SerializeToString(deterministic=True))
    h.update(gd.versions.SerializeToString(deterministic=True))
    return len(gd.node), h.hexdigest()[:16]


def _measure(kind: str, path: str) -> dict[str, Any]:
    tf = _quiet_tf()
    result: dict[str, Any] = {"kind": kind}
    graph = tf.Graph()
    if kind == "tf":
        with graph.as_default():
            start = time.perf_counter()
            tf.compat.v1.train.import_meta_graph(path)
            result["seconds"] = time.perf_counter() - start
    elif kind == "fastmeta":
        import fastmeta.tf as ftf
        from fastmeta.tf import _importer

        with graph.as_default(), _importer.profile() as phases:
            start = time.perf_counter()
            ftf.import_meta_graph(path)
            result["seconds"] = time.perf_counter() - start
        result["phases"] = dict(phases)
        result["path"] = _importer.last_path()
    elif kind == "floor":
        from fastmeta.reading import load_meta_graph
        from fastmeta.tf import _importer
        from tensorflow.python.client import pywrap_tf_session as c_api
        from tensorflow.python.framework import c_api_util

        # The bytes fastmeta.tf hands to TensorFlow for this import (a fresh graph).
        rewritten = _importer._rewrite(load_meta_graph(path), "", False, [], []).graph_def()
        scoped = c_api_util.ScopedTFImportGraphDefOptions()
        c_api.TF_ImportGraphDefOptionsSetPrefix(scoped.options, "")
        start = time.perf_counter()
        buffer = c_api.TF_NewBufferFromString(rewritten)
        with graph._c_graph.get() as c_graph:
            results = c_api.TF_GraphImportGraphDefWithResults(c_graph, buffer, scoped.options)
        c_api.TF_DeleteBuffer(buffer)
        mid = time.perf_counter()
        with _importer._gc_paused():  # (as fastmeta.tf pauses the cyclic GC while it imports)
            _importer._add_operations(graph, {})
        end = time.perf_counter()
        c_api.TF_DeleteImportGraphDefResults(results)
        result["seconds"] = end - start
        result["phases"] = {"TF C++ import": mid - start, "TF Operation wrappers": end - mid}
    else:
        raise ValueError(kind)
    result["nodes"], result["digest"] = graph_digest(graph)
    return result


def _in_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def _child(argv: list[str]) -> None:
    if argv[0] == "generate":
        generate_with_tf(int(argv[2]), Path(argv[1]))
        print("{}")
    else:
        print(json.dumps(_measure(argv[0], argv[1])))


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
def run(size: str, tf_built: bool) -> dict[str, Any]:
    """Measure one input size; prints and returns the figures."""
    path = meta_graph_for(size, tf_built)
    mb = path.stat().st_size / 1e6
    print(f"\n== {size}: {path.name} ({mb:.1f} MB)", flush=True)
    runs = {kind: _in_child(kind, str(path)) for kind in ("tf", "floor", "fastmeta")}
    base = runs["tf"]
    for kind, r in runs.items():
        same = (r["nodes"], r["digest"]) == (base["nodes"], base["digest"])
        r["equal_to_tf"] = same
        print(
            f"  {kind:9s} {r['seconds']:8.3f} s  nodes={r['nodes']} digest={r['digest']}"
            f"{'' if same else '  <-- DIFFERS FROM TF'}"
        )
    fm, floor = runs["fastmeta"], runs["floor"]
    speedup = base["seconds"] / fm["seconds"]
    vs_floor = fm["seconds"] / floor["seconds"]
    print(f"  speedup vs TF       {speedup:6.2f}x   (target >= {TARGETS['speedup_vs_tf']}x)")
    print(f"  fastmeta / floor    {vs_floor:6.3f}x   (target <= {TARGETS['ratio_vs_floor']}x)")
    print(f"  fastmeta path: {fm.get('path')}")
    print("  where fastmeta.tf's time goes:")
    total = fm["seconds"]
    for phase, secs in sorted(fm["phases"].items(), key=lambda kv: -kv[1]):
        print(f"    {phase:24s} {secs:8.3f} s  {100 * secs / total:5.1f}%")
    accounted = sum(fm["phases"].values())
    print(f"    {'(unaccounted)':24s} {total - accounted:8.3f} s")
    print("  floor breakdown: " + ", ".join(f"{k} {v:.3f} s" for k, v in floor["phases"].items()))
    return {
        "size": size,
        "file": path.name,
        "megabytes": mb,
        "runs": runs,
        "speedup_vs_tf": speedup,
        "ratio_vs_floor": vs_floor,
    }


def main() -> None:
    """Command line entry point."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1m")
    parser.add_argument(
        "--tf-built", action="store_true", help="use the TensorFlow-built graphs even if generate.py exists"
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    import tensorflow as tf

    print(
        f"python {platform.python_version()}, tensorflow {tf.__version__}, {platform.machine()}, {os.cpu_count()} cpus"
    )
    report = [run(size, args.tf_built) for size in args.sizes.split(",")]
    ok = all(r["runs"][k]["equal_to_tf"] for r in report for k in r["runs"])
    print(f"\nall results equal to TensorFlow's: {ok}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
