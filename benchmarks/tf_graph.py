"""A training meta graph made by TensorFlow itself, beside generate.py's, for realism.

    python benchmarks/tf_graph.py --nodes 100000 [--out PATH]

Built in graph mode with TensorFlow's own v1 API, the way TF1 data-parallel trainers
were: an input queue with its queue runner; `towers` towers of dense layers
(`MatMul`/`BiasAdd`/`Relu`) on `/job:worker/.../device:GPU:i`, their variables spread over
`/job:ps` tasks by `replica_device_setter`; per-tower gradients (`tf.gradients`), averaged
and applied by Adam (its slots colocated with their variables); a global step, summaries,
an init op and a sharded saver; written by `export_meta_graph`. Depth (layers per tower)
grows with the node count asked for. `run.py --sizes tf100k` measures it (when TensorFlow
is installed); graphs are cached under benchmarks/data/ by size and TensorFlow version.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
SEED = 7
TOWERS = 2
PS_TASKS = 2
WIDTH = 8
BATCH = 4
PROBE_LAYERS = 4  # a small build tells how many nodes a layer adds


def build(layers: int, towers: int = TOWERS, ps_tasks: int = PS_TASKS) -> tuple[Any, Any]:
    """The trainer's graph with `layers` dense layers per tower, and its Saver."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(SEED)
        worker = "/job:worker/replica:0/task:0"
        with graph.device(v1.train.replica_device_setter(ps_tasks=ps_tasks, worker_device=worker + "/device:CPU:0")):
            global_step = v1.train.get_or_create_global_step()
        with graph.device(worker + "/device:CPU:0"), tf.name_scope("input"):
            queue = v1.FIFOQueue(32, [tf.float32, tf.float32], shapes=[[BATCH, WIDTH], [BATCH, 1]], name="batch_queue")
            enqueue = queue.enqueue([v1.random_normal([BATCH, WIDTH], seed=1), v1.random_normal([BATCH, 1], seed=2)])
            v1.train.add_queue_runner(v1.train.QueueRunner(queue, [enqueue]))
        optimizer = v1.train.AdamOptimizer(1e-3)
        tower_grads = []
        for t in range(towers):
            setter = v1.train.replica_device_setter(ps_tasks=ps_tasks, worker_device=f"{worker}/device:GPU:{t}")
            with graph.device(setter), tf.name_scope(f"tower_{t}"):
                x, y = queue.dequeue()
                with v1.variable_scope("model", reuse=t > 0):
                    h = x
                    for i in range(layers):
                        with v1.variable_scope(f"dense_{i}"):
                            kernel = v1.get_variable(
                                "kernel",
                                [WIDTH, WIDTH],
                                use_resource=i % 2 == 0,
                                initializer=v1.glorot_uniform_initializer(seed=i),
                            )
                            bias = v1.get_variable(
                                "bias", [WIDTH], use_resource=i % 2 == 0, initializer=v1.zeros_initializer()
                            )
                            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(h, kernel), bias))
                    out = v1.get_variable(
                        "logits/kernel", [WIDTH, 1], initializer=v1.glorot_uniform_initializer(seed=layers)
                    )
                    prediction = tf.matmul(h, out)
                loss = v1.losses.mean_squared_error(y, prediction)
                v1.summary.scalar("loss", loss)
                tower_grads.append(optimizer.compute_gradients(loss))
        with graph.device(worker + "/device:CPU:0"), tf.name_scope("average_gradients"):
            averaged = []
            for pairs in zip(*tower_grads):
                grads = [g for g, _ in pairs]
                averaged.append((tf.add_n(grads) / float(towers), pairs[0][1]))
        train_op = optimizer.apply_gradients(averaged, global_step=global_step, name="train")
        v1.add_to_collection(v1.GraphKeys.TRAIN_OP, train_op)
        v1.summary.merge_all()
        v1.global_variables_initializer()
        saver = v1.train.Saver(sharded=True)
    return graph, saver


def _layers_for(nodes: int) -> int:
    """Layers per tower for about `nodes` nodes (from two probe builds)."""
    small = len(build(1)[0].as_graph_def().node)
    probe = len(build(1 + PROBE_LAYERS)[0].as_graph_def().node)
    per_layer = (probe - small) / PROBE_LAYERS
    return max(1, round(1 + (nodes - small) / per_layer))


def make(nodes: int, path: Path) -> dict[str, Any]:
    """Writes the graph of about `nodes` nodes to `path`; returns its info."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    layers = _layers_for(nodes)
    graph, saver = build(layers)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    meta = tf.compat.v1.train.export_meta_graph(filename=str(tmp), graph=graph, saver_def=saver.saver_def)
    os.replace(tmp, path)
    info = {
        "nodes": len(meta.graph_def.node),
        "size": path.stat().st_size,
        "layers": layers,
        "towers": TOWERS,
        "ps_tasks": PS_TASKS,
        "tensorflow": tf.__version__,
        "maker": "tensorflow",
    }
    path.with_name(path.name + ".json").write_text(json.dumps(info) + "\n")
    return info


def installed_tensorflow() -> str | None:
    """The installed TensorFlow's version (either distribution), without importing it."""
    from importlib import metadata

    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def ensure(nodes: int, data_dir: str | os.PathLike[str] | None = None) -> tuple[Path, dict[str, Any]]:
    """The cached TensorFlow-made graph of about `nodes` nodes, made in a subprocess
    (TensorFlow stays out of the caller's process) when it is not there yet."""
    version = installed_tensorflow()
    if not version:
        raise ModuleNotFoundError("TensorFlow is not installed: no TensorFlow-made graph")
    folder = Path(data_dir) if data_dir else DATA_DIR
    path = folder / f"tf_train_{nodes}_tf{version}.meta"
    info_path = path.with_name(path.name + ".json")
    if not (path.exists() and info_path.exists()):
        import subprocess

        cmd = [sys.executable, str(Path(__file__).resolve()), "--nodes", str(nodes), "--out", str(path)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return path, json.loads(info_path.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, required=True, help="approximate node count")
    ap.add_argument("--out", help="output .meta path (default: benchmarks/data/, cached)")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    if args.out:
        path = Path(args.out)
        info = make(args.nodes, path)
    else:
        path, info = ensure(args.nodes)
    # One JSON line: the graph's info, where it is and how long it took.
    print(json.dumps({**info, "path": str(path), "seconds": round(time.perf_counter() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
