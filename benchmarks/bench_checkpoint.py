"""Restoring a large checkpoint into numpy, and saving it: fastmeta vs TensorFlow vs
reading the files.

    python benchmarks/bench_checkpoint.py [--gb 2] [--vars 40] [--tmp DIR] [--no-tf] [--format v1]

The parent writes, WITHOUT TensorFlow, a V2 checkpoint of ``--vars`` float32 variables
totalling ``--gb`` GiB (``fastmeta.checkpoint.write_checkpoint``) plus a meta graph with
those variables (``VariableV2`` nodes and a ``variables`` collection, no saver_def: the
import builds TensorFlow's save/restore ops), in a temporary directory deleted at the end.
With ``--format v1`` TensorFlow (in a subprocess) then rewrites the same values as a
legacy V1 checkpoint (a ``SaverDef.V1`` Saver's SaveSlices: one tensor-slice file), which
every contender reads instead (the floors read that file; the check compares the
contenders' arrays with each other, the file holding no raw tensor bytes to compare with),
and exports its meta graph (that Saver's saver_def), which every contender imports.
Each measurement then runs ONCE, in ITS OWN SUBPROCESS (peak RSS belongs to it):

* ``floor``: a plain ``open().read()`` of every data file (the bytes, nothing else);
* ``floor_np``: ``readinto`` of every data file into one ``numpy.empty`` buffer (numpy
  advises huge pages for large arrays, Python ``bytes`` get 4 KiB pages: on this VM a
  stricter floor than ``read()``);
* ``fm_saver``: ``fastmeta.import_meta_graph`` (untimed) then ``Saver.restore(prefix)``:
  every variable as a writable numpy array, CRC32C-verified;
* ``fm_saver_views``: the same with ``copy=False`` (no second array for a key two
  variables share; before the reader read into the arrays, views over an mmap);
* ``fm_reader``: ``fastmeta.checkpoint.load_checkpoint`` + ``get_tensor`` per variable;
* ``tf_reader``: ``tf.train.load_checkpoint`` + ``get_tensor`` per variable;
* ``fm_save``: the restored values (untimed) saved again by ``Saver.save`` (no meta
  graph, no state file), in the format the meta graph's save ops write;
* ``tf_save``: the same in TensorFlow: ``import_meta_graph``, a session restoring the
  checkpoint (untimed), ``Saver.save``. The two saves must write identical files.

The page cache cannot be dropped here (no root / shared machine), so every child first
reads all checkpoint files once (untimed warm-up, 16 MiB reused buffer) and the timed run
is a warm-cache run for all contenders alike. Likewise memory: on a VM the first touch of
guest memory the host has not backed yet costs ~10x a normal page fault, which would
make whoever runs first in a fresh process pay for it; so every child also touches and
frees 2x the checkpoint size before its run (untimed; the peak RSS is reset after it via
``/proc/self/clear_refs``). Each child reports time, RSS after its imports and warm-ups
and peak RSS (VmHWM) of the run (fastmeta's reader reads the data files into the arrays,
nothing is mapped: its peak is ~1x the data, as RssAnon, the arrays held after the run),
and a CRC32C per variable of what it produced; the
parent checks all contenders produced identical bytes. Table to stdout, JSON to
``benchmarks/results/checkpoint-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KINDS: list[tuple[str, str]] = [
    ("floor", "plain read() of the data files"),
    ("floor_np", "readinto() a numpy buffer"),
    ("fm_saver", "fastmeta Saver.restore"),
    ("fm_saver_views", "fastmeta Saver.restore(copy=False)"),
    ("fm_reader", "fastmeta load_checkpoint+get_tensor"),
    ("tf_reader", "tf.train.load_checkpoint+get_tensor"),
    ("fm_save", "fastmeta Saver.save"),
    ("tf_save", "TensorFlow Saver.save"),
]
SAVES = ("fm_save", "tf_save")


# ---------------------------------------------------------------- generation
def _variable_shapes(total_bytes: int, count: int) -> list[tuple[int, int]]:
    """``count`` float32 matrices of 4096 columns adding up to ~``total_bytes``."""
    rows = max(1, total_bytes // (count * 4096 * 4))
    return [(rows + (i % 3), 4096) for i in range(count)]  # a little size variety


def generate(directory: Path, total_bytes: int, count: int) -> tuple[str, str, int]:
    """Write the checkpoint and the meta graph; return (prefix, meta path, data bytes)."""
    import numpy as np
    from fastmeta.checkpoint import write_checkpoint
    from fastmeta.protos import attr_value_pb2, meta_graph_pb2, types_pb2, variable_pb2

    shapes = _variable_shapes(total_bytes, count)
    rng = np.random.default_rng(0)
    block = rng.standard_normal(1 << 20).astype(np.float32)  # tiled: fast to make
    tensors = {}
    for i, shape in enumerate(shapes):
        n = shape[0] * shape[1]
        reps = -(-n // block.size)
        tensors[f"layer{i:02d}/kernel"] = (np.tile(block + i, reps)[:n]).reshape(shape)
    prefix = str(directory / "model.ckpt")
    write_checkpoint(prefix, tensors)
    del tensors

    meta = meta_graph_pb2.MetaGraphDef()
    float_t = attr_value_pb2.AttrValue(type=types_pb2.DT_FLOAT)
    col = meta.collection_def["variables"].bytes_list
    for i, shape in enumerate(shapes):
        name = f"layer{i:02d}/kernel"
        var = meta.graph_def.node.add(name=name, op="VariableV2")
        var.attr["dtype"].CopyFrom(float_t)
        for d in shape:
            var.attr["shape"].shape.dim.add(size=d)
        var.attr["container"].s = b""
        var.attr["shared_name"].s = b""
        init = meta.graph_def.node.add(name=name + "/Initializer/zeros", op="Const")
        init.attr["dtype"].CopyFrom(float_t)
        init.attr["value"].tensor.dtype = types_pb2.DT_FLOAT
        init.attr["value"].tensor.float_val.append(0.0)
        for d in shape:
            init.attr["value"].tensor.tensor_shape.dim.add(size=d)
        assign = meta.graph_def.node.add(name=name + "/Assign", op="Assign", input=[name, init.name])
        assign.attr["T"].CopyFrom(float_t)
        read = meta.graph_def.node.add(name=name + "/read", op="Identity", input=[name])
        read.attr["T"].CopyFrom(float_t)
        vdef = variable_pb2.VariableDef(
            variable_name=name + ":0",
            initializer_name=name + "/Assign",
            snapshot_name=name + "/read:0",
            initial_value_name=init.name + ":0",
            trainable=True,
        )
        col.value.append(vdef.SerializeToString())
    meta.graph_def.versions.producer = 1882
    meta_path = str(directory / "model.meta")
    Path(meta_path).write_bytes(meta.SerializeToString())
    data = sum(os.path.getsize(p) for p in _data_files(prefix))
    return prefix, meta_path, data


_V1_WRITER = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
from tensorflow.core.protobuf import saver_pb2
v1 = tf.compat.v1
v1.disable_eager_execution()
source, target = sys.argv[1], sys.argv[2]
reader = tf.train.load_checkpoint(source)
shapes = reader.get_variable_to_shape_map()
with tf.Graph().as_default():
    feeds = {}
    for name in sorted(shapes):
        value = v1.placeholder(tf.float32, shapes[name])
        v1.Variable(value, name=name)
        feeds[value] = reader.get_tensor(name)
    saver = v1.train.Saver(write_version=saver_pb2.SaverDef.V1)
    with v1.Session() as sess:
        sess.run(v1.global_variables_initializer(), feeds)
        saver.save(sess, target, write_meta_graph=False, write_state=False)
    saver.export_meta_graph(target + ".meta")
"""


def to_v1(prefix: str) -> tuple[str, str]:
    """TensorFlow rewrites the V2 checkpoint ``prefix`` as a V1 one; returns its path and
    the meta graph of the V1 Saver that wrote it."""
    target = prefix + "-v1"
    subprocess.run([sys.executable, "-c", _V1_WRITER, prefix, target], check=True, capture_output=True)
    return target, target + ".meta"


def _is_v1(prefix: str) -> bool:
    return not os.path.exists(prefix + ".index")


def _data_files(prefix: str) -> list[str]:
    import glob

    if _is_v1(prefix):
        return [prefix]
    return sorted(glob.glob(glob.escape(prefix) + ".data-*"))


# ---------------------------------------------------------------- the children
def _rss(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _warm_memory(nbytes: int) -> None:
    import numpy as np

    block = np.ones(nbytes, np.uint8)
    del block


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _warm(prefix: str) -> None:
    buf = bytearray(16 << 20)
    view = memoryview(buf)
    for path in ([] if _is_v1(prefix) else [prefix + ".index"]) + _data_files(prefix):
        with open(path, "rb", buffering=0) as f:
            while f.readinto(view):
                pass


def child(kind: str, prefix: str, meta: str) -> dict[str, Any]:
    """One measurement: imports and warm-up untimed, then the timed call."""
    import numpy as np
    from fastmeta import _core
    from fastmeta.checkpoint import load_checkpoint

    core: Any = _core
    names = sorted(load_checkpoint(prefix).get_variable_to_shape_map())
    run: Any
    if kind == "floor":

        def run() -> Any:
            out = []
            for path in _data_files(prefix):
                with open(path, "rb") as f:
                    out.append(f.read())
            return out

    elif kind == "floor_np":

        def run() -> Any:
            out = []
            for path in _data_files(prefix):
                buf = np.empty(os.path.getsize(path), np.uint8)
                with open(path, "rb", buffering=0) as f:
                    view = buf.data.cast("B")
                    while view:
                        got = f.readinto(view)
                        if not got:
                            break
                        view = view[got:]
                out.append(buf)
            return out

    elif kind in ("fm_saver", "fm_saver_views"):
        import fastmeta

        saver = fastmeta.import_meta_graph(meta)
        assert saver is not None
        copy = kind == "fm_saver"

        def run() -> Any:
            return saver.restore(prefix, copy=copy)

    elif kind == "fm_reader":

        def run() -> Any:
            reader = load_checkpoint(prefix)
            return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}

    elif kind == "tf_reader":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        def run() -> Any:
            reader = tf.train.load_checkpoint(prefix)
            return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}

    elif kind == "fm_save":
        import fastmeta

        saver = fastmeta.import_meta_graph(meta)
        assert saver is not None
        values = saver.restore(prefix)
        out = _save_target(prefix, kind)

        def run() -> Any:
            return saver.save(out, values, write_meta_graph=False, write_state=False)

    elif kind == "tf_save":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        v1 = tf.compat.v1
        v1.disable_eager_execution()  # (Saver.save runs in the session's graph)
        graph = tf.Graph()
        with graph.as_default():
            tf_saver = v1.train.import_meta_graph(meta)
        sess = v1.Session(graph=graph)
        tf_saver.restore(sess, prefix)
        out = _save_target(prefix, kind)

        def run() -> Any:
            return tf_saver.save(sess, out, write_meta_graph=False, write_state=False)

    else:
        raise ValueError(kind)
    _warm(prefix)
    _warm_memory(2 * sum(os.path.getsize(p) for p in _data_files(prefix)))
    peak_reset = _reset_peak()
    rss_before = _rss("VmRSS")
    t0 = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - t0
    peak = _rss("VmHWM")
    anon_after, file_after = _rss("RssAnon"), _rss("RssFile")
    # What was produced: a CRC32C of each variable's bytes (after timing).
    crcs: dict[str, int] = {}
    if kind in SAVES:  # (each file written, by its name without the save's directory)
        written = Path(_save_target(prefix, kind)).parent
        for path in sorted(written.iterdir()):
            crcs[path.name] = core.crc32c(path.read_bytes())
        shutil.rmtree(written)
    elif kind in ("floor", "floor_np") and _is_v1(prefix):
        pass  # (a V1 file holds the values as protobuf fields, not raw bytes)
    elif kind in ("floor", "floor_np"):
        reader = load_checkpoint(prefix)
        for n in names:
            e = reader.entry(n)
            crcs[n] = core.crc32c(memoryview(result[e["shard_id"]])[e["offset"] : e["offset"] + e["size"]])
    else:
        for n in names:
            arr = np.ascontiguousarray(result[n])
            assert arr.dtype == np.float32, (kind, n, arr.dtype)
            crcs[n] = core.crc32c(arr.reshape(-1).view(np.uint8))
    return {
        "kind": kind,
        "seconds": seconds,
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "peak_reset_after_warmup": peak_reset,
        "rss_anon_after_bytes": anon_after,
        "rss_file_after_bytes": file_after,
        "crc32c": crcs,
    }


def _save_target(prefix: str, kind: str) -> str:
    """Where save contender ``kind`` writes: a directory of its own beside ``prefix``."""
    directory = Path(prefix).parent / kind
    directory.mkdir(exist_ok=True)
    return str(directory / "saved.ckpt")


# ---------------------------------------------------------------- the parent
def _run_child(kind: str, prefix: str, meta: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, "--prefix", prefix, "--meta", meta]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"kind": kind, "error": out.stderr.strip().splitlines()[-5:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Generate, measure each contender once in a subprocess, check, report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, default=2.0, help="checkpoint size in GiB (default 2)")
    ap.add_argument("--vars", type=int, default=40, help="number of variables (default 40)")
    ap.add_argument("--tmp", default=None, help="directory for the temporary checkpoint")
    ap.add_argument("--no-tf", action="store_true", help="skip the TensorFlow contender")
    ap.add_argument(
        "--format",
        choices=["v2", "v1"],
        default="v2",
        help="v1: TensorFlow rewrites the checkpoint as a legacy V1 file, which is read",
    )
    ap.add_argument("--out", default=str(HERE / "results"), help="directory for the JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    ap.add_argument("--meta", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.prefix, args.meta)))
        return 0

    sys.path.insert(0, str(HERE))
    from run import machine_info

    machine = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="fastmeta-bench-ckpt-", dir=args.tmp))
    try:
        t0 = time.perf_counter()
        prefix, meta, data_bytes = generate(tmp, int(args.gb * 2**30), args.vars)
        gen_s = time.perf_counter() - t0
        print(f"checkpoint: {data_bytes / 2**30:.3f} GiB in {args.vars} float32 variables, "
              f"written in {gen_s:.1f} s (fastmeta, TF-free)")  # fmt: skip
        if args.format == "v1":
            t0 = time.perf_counter()
            prefix, meta = to_v1(prefix)
            print(f"rewritten by TensorFlow as a V1 checkpoint ({os.path.getsize(prefix) / 2**30:.3f} GiB "
                  f"file) in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        results = []
        for kind, _ in KINDS:
            if kind in ("tf_reader", "tf_save") and args.no_tf:
                continue
            results.append(_run_child(kind, prefix, meta))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    by_kind = {r["kind"]: r for r in results}
    floor = by_kind.get("floor", {}).get("seconds")
    floor_np = by_kind.get("floor_np", {}).get("seconds")
    tf_s = by_kind.get("tf_reader", {}).get("seconds")
    tf_save_s = by_kind.get("tf_save", {}).get("seconds")
    ref = by_kind.get("floor", {}).get("crc32c")
    if args.format == "v1":  # (the floors read protobuf bytes: the arrays are compared with each other)
        ref = next(
            (r["crc32c"] for r in results if r.get("crc32c") and r["kind"] not in ("floor", "floor_np", *SAVES)), None
        )
    # The saves are compared with each other: the same files, byte for byte.
    save_ref = next((r["crc32c"] for r in results if r["kind"] in SAVES and r.get("crc32c")), None)
    print(f"\n{'contender':<40} {'time s':>8} {'x read':>7} {'x readinto':>10} {'x TF':>6} "
          f"{'GiB/s':>6} {'RSS0 MiB':>9} {'peak MiB':>9} {'anon MiB':>9}  check")  # fmt: skip
    for kind, label in KINDS:
        r = by_kind.get(kind)
        if r is None:
            continue
        if "error" in r:
            print(f"{label:<40} ERROR {r['error']}")
            continue
        sec = r["seconds"]
        r["x_floor_read"] = sec / floor if floor else None
        r["x_floor_readinto"] = sec / floor_np if floor_np else None
        if kind in SAVES:  # (against TensorFlow's save; reading is no floor for writing)
            r["x_floor_read"] = r["x_floor_readinto"] = None
            r["x_tf"] = sec / tf_save_s if tf_save_s else None
            r["equal_to_floor"] = r["crc32c"] == save_ref
        else:
            r["x_tf"] = sec / tf_s if tf_s else None
            r["equal_to_floor"] = r["crc32c"] == ref or (args.format == "v1" and kind in ("floor", "floor_np"))
        check = "equal" if r["equal_to_floor"] else "DIFFERENT"
        print(
            f"{label:<40} {sec:8.3f} {r['x_floor_read'] or 0:7.2f} "
            f"{r['x_floor_readinto'] or 0:10.2f} {r['x_tf'] or 0:6.2f} "
            f"{data_bytes / sec / 2**30:6.2f} {r['rss_before_bytes'] / 2**20:9.0f} "
            f"{r['peak_rss_bytes'] / 2**20:9.0f} {r['rss_anon_after_bytes'] / 2**20:9.0f}  {check}"
        )
    print("(one run each, separate subprocesses, warm page cache and warm memory: the page "
          "cache could not be dropped; peak = VmHWM of the run, mmapped file pages included; "
          "anon = RssAnon after the run, the arrays held)")  # fmt: skip
    doc = {
        "benchmark": "checkpoint restore and save",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "data_bytes": data_bytes,
        "variables": args.vars,
        "dtype": "float32",
        "format": args.format,
        "generate_seconds": gen_s,
        "page_cache": "warm (each child reads every file once, untimed, before its run)",
        "results": [{k: v for k, v in r.items() if k != "crc32c"} for r in results],
        "all_equal": all(r.get("equal_to_floor") for r in results if "error" not in r),
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"checkpoint{'-v1' if args.format == 'v1' else ''}-{stamp}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nJSON: {path}")
    return 0 if doc["all_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
