"""Benchmark: importing a text-format meta graph.

The generated graph (``benchmarks/generate.py``, ~100k nodes by default) is printed as text
(protobuf's ``MessageToString``, as ``export_meta_graph(as_text=True)`` writes it; cached
beside it under ``benchmarks/data/``), then imported into a fresh graph, each contender in
its own process, one run each:

* ``fastmeta``        ``fastmeta.import_meta_graph(path)`` (the core's text reader);
* ``fastmeta_merge``  the same with the core's text reader switched off: protobuf's Python
  ``text_format.Merge``, which fastmeta used before and falls back to;
* ``tf``              ``tf.compat.v1.train.import_meta_graph(path)`` (when TensorFlow is
  installed; it reads text with the same ``text_format.Merge``).

Each reports the graph's node count, and the two fastmeta runs a hash of the imported
GraphDef, which must be equal. Usage: ``python benchmarks/bench_text.py [--nodes 100000]
[--kinds fastmeta,fastmeta_merge,tf] [--data-dir DIR] [--json out.json]``.
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
sys.path.insert(0, str(HERE))

import generate  # noqa: E402


def text_graph(nodes: int, data_dir: Path | None) -> Path:
    """The generated graph of about ``nodes`` nodes as a text file (made once)."""
    from fastmeta.protos import meta_graph_pb2
    from google.protobuf import text_format

    binary, _ = generate.ensure(nodes, data_dir=data_dir)
    out = binary.with_suffix(".pbtxt")
    if not out.exists():
        message = meta_graph_pb2.MetaGraphDef.FromString(binary.read_bytes())
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text_format.MessageToString(message))
        tmp.replace(out)
    return out


def run_one(kind: str, path: str) -> dict[str, Any]:
    """One contender's import of ``path`` in this process."""
    if kind == "tf":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        tf.compat.v1.disable_eager_execution()
        with tf.Graph().as_default() as graph:
            start = time.perf_counter()
            tf.compat.v1.train.import_meta_graph(path)
            seconds = time.perf_counter() - start
            return {"seconds": seconds, "nodes": len(graph.as_graph_def().node), "hash": None}
    import fastmeta
    from fastmeta import reading

    if kind == "fastmeta_merge":
        reading.text_to_binary = lambda data, message: None  # type: ignore[assignment]
    graph = fastmeta.Graph()
    start = time.perf_counter()
    fastmeta.import_meta_graph(path, graph=graph)
    seconds = time.perf_counter() - start
    data = graph.as_graph_def().SerializeToString(deterministic=True)
    return {"seconds": seconds, "nodes": len(graph.get_operations()), "hash": hashlib.sha256(data).hexdigest()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000, help="approximate node count")
    parser.add_argument("--data-dir", type=Path, help="where the graphs are cached (default benchmarks/data)")
    parser.add_argument("--kinds", default="fastmeta,fastmeta_merge,tf")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return 0
    path = text_graph(args.nodes, args.data_dir)
    results: dict[str, dict[str, Any]] = {}
    for kind in args.kinds.split(","):
        if kind == "tf":
            try:
                import tensorflow  # noqa: F401
            except ImportError:
                continue
        out = subprocess.run(
            [sys.executable, __file__, "--one", kind, str(path)], check=True, capture_output=True, text=True
        )
        results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{kind:15s} {results[kind]['seconds']:9.3f} s  {results[kind]['nodes']:,} nodes", flush=True)
    hashes = {r["hash"] for k, r in results.items() if k.startswith("fastmeta")}
    if len(hashes) > 1:
        raise SystemExit("the two fastmeta imports differ")
    base = results.get("tf") or results.get("fastmeta_merge")
    if base is not None and "fastmeta" in results:
        print(
            f"fastmeta: {base['seconds'] / results['fastmeta']['seconds']:.1f}x the "
            f"{'TensorFlow' if 'tf' in results else 'text_format.Merge'} import"
        )
    if args.json:
        record = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
            },
            "file": path.name,
            "file_bytes": path.stat().st_size,
            "results": results,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
