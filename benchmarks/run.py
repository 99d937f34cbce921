"""fastmeta's benchmark suite: one table, ratios against baselines measured in the same run.

    python benchmarks/run.py [--sizes 10k,100k,1m] [--quick] [--repeat N]

For each size a generated training meta graph (benchmarks/generate.py, cached under
benchmarks/data/; a size such as tf100k asks for one TensorFlow made, benchmarks/tf_graph.py)
is loaded by every contender, EACH IN ITS OWN SUBPROCESS so that peak
RSS belongs to one measurement: the file read, a memcpy of the same bytes (the floor),
fastmeta's C++ rewrite (1 thread and all threads), fastmeta's TF-free import, fastmeta.tf's
import into a real tf.Graph, the pure-Python protobuf rewrite (benchmarks/pyrewrite.py)
and TensorFlow's own import_meta_graph. Each child reports every run's time and peak RSS
plus a result digest (node count and a hash of the sorted node names); the parent checks
each result against the baseline's (TensorFlow's when it ran, else the Python rewrite's).
The table goes to stdout, the JSON (with machine info) to benchmarks/results/.

The machine may be shared: judge the ratios (measured minutes apart in one run), never
the absolute timings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import hashlib
import importlib.util
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tf_graph  # noqa: E402  (standard library only until it makes a graph)

SIZES = {"2k": 2_000, "small": 2_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}

# (key, label) in table order. Baselines first.
KINDS: list[tuple[str, str]] = [
    ("read", "file read (Python)"),
    ("memcpy", "memcpy of the bytes"),
    ("fm_rewrite_1", "fastmeta rewrite, 1 thread"),
    ("fm_rewrite_all", "fastmeta rewrite, all threads"),
    ("fm_import", "fastmeta.import_meta_graph"),
    ("fm_tf_import", "fastmeta.tf.import_meta_graph"),
    ("pyrewrite", "pure-Python protobuf rewrite"),
    ("tf_import", "TF import_meta_graph"),
]
SLOW = {"pyrewrite", "tf_import", "fm_tf_import"}


# ---------------------------------------------------------------- memory probes


def _status(field_name: str) -> int:
    """A /proc/self/status field in bytes (0 when unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs 5); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS, so the next run's RSS starts clean."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _peak_rss() -> int:
    hwm = _status("VmHWM")
    if hwm:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------- the children


@dataclass
class Outcome:
    """What one measured call produced, for the checks."""

    nodes: int | None = None
    names_sha1: str | None = None
    output_sha1: str | None = None
    note: str = ""


def _names_digest(names: Sequence[str]) -> str:
    h = hashlib.sha1()
    for n in sorted(names):
        h.update(n.encode())
        h.update(b"\n")
    return h.hexdigest()


Prepared = tuple[Callable[[], Any], Callable[[Any], Outcome]]


def _prepare(kind: str, path: str, scope: str, clear_devices: bool) -> Prepared:
    """(measured call, result -> Outcome). Raises NotImplementedError to skip with a note."""
    if kind == "read":

        def read() -> bytes:
            with open(path, "rb") as f:
                return f.read()

        return read, lambda r: Outcome(note=f"{len(r)} bytes")
    if kind == "memcpy":
        import numpy as np

        with open(path, "rb") as f:
            src = np.frombuffer(bytearray(f.read()), dtype=np.uint8)
        return src.copy, lambda r: Outcome(note=f"{r.nbytes} bytes")
    if kind in ("fm_rewrite_1", "fm_rewrite_all"):
        from fastmeta import _core

        threads = 1 if kind == "fm_rewrite_1" else (os.cpu_count() or 1)
        kwargs: dict[str, Any] = {"prefix": scope, "clear_devices": clear_devices}
        try:  # (TensorFlow's op registry, as the CLI's rewrite takes its OpDefs)
            from fastmeta import _op_registry

            kwargs["registry"] = _op_registry.core_registry()
        except ImportError:  # (an older fastmeta)
            pass
        try:
            _core.rewrite_meta_graph_file(path, threads=threads, **kwargs)
            kwargs["threads"] = threads
            note = f"threads={threads}"
        except TypeError:
            if kind == "fm_rewrite_all":
                raise NotImplementedError("_core has no threads= option yet") from None
            note = "_core has no threads= (single-threaded)"
        gc.collect()

        def rewrite() -> Any:
            return _core.rewrite_meta_graph_file(path, **kwargs)

        def check(r: Any) -> Outcome:
            return Outcome(r.num_nodes, _names_digest(r.names()), hashlib.sha1(r.graph_def()).hexdigest(), note)

        return rewrite, check
    if kind == "fm_import":
        import fastmeta

        if not hasattr(fastmeta, "import_meta_graph"):
            raise NotImplementedError("fastmeta.import_meta_graph does not exist yet")

        def fm_import() -> Any:
            g = fastmeta.Graph()
            fastmeta.import_meta_graph(path, import_scope=scope or None, clear_devices=clear_devices, graph=g)
            return g

        def fm_check(g: Any) -> Outcome:
            names = [op.name for op in g.get_operations()]
            return Outcome(len(names), _names_digest(names))

        return fm_import, fm_check
    if kind in ("fm_tf_import", "tf_import"):
        if importlib.util.find_spec("tensorflow") is None:
            raise NotImplementedError("TensorFlow is not installed")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        if kind == "fm_tf_import":
            try:
                import fastmeta.tf as fmtf
            except ImportError as e:
                raise NotImplementedError(f"fastmeta.tf unavailable: {e}") from None
            importer = fmtf.import_meta_graph
        else:
            importer = tf.compat.v1.train.import_meta_graph

        def tf_import() -> Any:
            g = tf.Graph()
            with g.as_default():
                importer(path, import_scope=scope or None, clear_devices=clear_devices)
            return g

        def tf_check(g: Any) -> Outcome:
            names = [op.name for op in g.get_operations()]
            return Outcome(len(names), _names_digest(names))

        return tf_import, tf_check
    if kind == "pyrewrite":
        import pyrewrite
        from fastmeta.protos import meta_graph_pb2

        def py_rewrite() -> Any:
            with open(path, "rb") as f:
                meta = meta_graph_pb2.MetaGraphDef.FromString(f.read())
            pyrewrite.rewrite_message(meta, scope, clear_devices)
            return meta, meta.SerializeToString()

        def py_check(r: Any) -> Outcome:
            names = [n.name for n in r[0].graph_def.node]
            return Outcome(len(names), _names_digest(names), note=f"{len(r[1])} bytes out")

        return py_rewrite, py_check
    raise ValueError(f"unknown benchmark {kind}")


def child(args: argparse.Namespace) -> int:
    """Measure one benchmark on one file; print one JSON line."""
    out: dict[str, Any] = {"kind": args.child}
    try:
        call, check = _prepare(args.child, args.file, args.scope, args.clear_devices)
    except NotImplementedError as e:
        out["skipped"] = str(e)
        print(json.dumps(out))
        return 0
    runs: list[dict[str, float]] = []
    outcome: Outcome | None = None
    start = time.perf_counter()
    warmup_done = False
    warmup_delta = float("nan")
    first_seconds = float("nan")  # the first call in this fresh process, kept or not
    while True:
        # (outside the measured call: no contender pays for a collection)
        gc.collect()
        _malloc_trim()
        can_reset = _reset_peak()
        base = _status("VmRSS")
        t0 = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - t0
        peak = _peak_rss()
        if first_seconds != first_seconds:
            first_seconds = elapsed
        if outcome is None:
            outcome = check(result)
        del result
        # A fast first run only warms caches (page cache, allocator): discard it.
        delta = peak - base if can_reset else float("nan")
        if not warmup_done and not runs and elapsed < args.warmup_below:
            warmup_done = True
            warmup_delta = delta
            continue
        runs.append({"seconds": elapsed, "peak_rss": peak, "delta_rss": delta, "base_rss": base})
        total = time.perf_counter() - start
        if len(runs) >= args.repeat or (total > args.budget and len(runs) >= 1):
            break
    assert outcome is not None
    out.update(
        {
            "runs": runs,
            "outcome": asdict(outcome),
            "peak_reset": _reset_peak(),
            "warmup_delta_rss": warmup_delta,
            "first_seconds": first_seconds,
        }
    )
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------- the parent


@dataclass
class Row:
    size: str
    nodes: int
    file_bytes: int
    kind: str
    label: str
    runs: list[dict[str, float]] = field(default_factory=list)
    median_s: float | None = None
    first_s: float | None = None  # the first call in a fresh process (what a one-off import pays)
    gb_per_s: float | None = None
    x_vs_tf: float | None = None  # TF's time / this time
    of_memcpy: float | None = None  # this throughput / memcpy's
    peak_rss: int | None = None
    delta_rss: int | None = None
    rss_per_file: float | None = None  # delta_rss / file size
    check: str = ""
    note: str = ""
    outcome: dict[str, Any] = field(default_factory=dict)


def _run_child(kind: str, path: Path, args: argparse.Namespace, repeat: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--file",
        str(path),
        "--repeat",
        str(repeat),
        "--budget",
        str(args.budget),
        "--scope",
        args.scope,
        "--warmup-below",
        str(args.warmup_below),
    ]
    if args.clear_devices:
        cmd.append("--clear-devices")
    # A fixed mmap threshold stops glibc from keeping a freed big buffer in the heap
    # (its dynamic threshold would), which would hide the next run's allocation from RSS.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0", MALLOC_MMAP_THRESHOLD_="1048576")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "error": f"timed out after {args.timeout} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"kind": kind, "error": f"exit {proc.returncode}: {tail[:200]}"}
    return dict(json.loads(lines[-1]))


def _check_rows(rows: list[Row]) -> None:
    """Compare each result with its baseline's (in place)."""
    by = {r.kind: r for r in rows}
    ref = next((by[k] for k in ("tf_import", "pyrewrite") if k in by and by[k].outcome), None)
    for r in rows:
        if r.check or not r.outcome:
            continue
        if r.kind in ("read", "memcpy"):
            expected = f"{r.file_bytes} bytes"
            r.check = "ok" if r.outcome.get("note") == expected else f"MISMATCH {r.outcome}"
            continue
        if ref is None or ref is r:
            r.check = "baseline" if ref is r else "n/a (no baseline)"
            continue
        problems = []
        if r.outcome.get("nodes") != ref.outcome.get("nodes"):
            problems.append(f"{r.outcome.get('nodes')} nodes vs {ref.outcome.get('nodes')}")
        elif r.outcome.get("names_sha1") != ref.outcome.get("names_sha1"):
            problems.append("node names differ")
        r.check = f"ok vs {ref.kind}" if not problems else "MISMATCH " + "; ".join(problems)
    one, many = by.get("fm_rewrite_1"), by.get("fm_rewrite_all")
    if one and many and one.outcome and many.outcome and many.check.startswith("ok"):
        if one.outcome.get("output_sha1") != many.outcome.get("output_sha1"):
            many.check = "MISMATCH: output differs from 1 thread"
        else:
            many.check += ", = 1 thread"


def _fill_ratios(rows: list[Row]) -> None:
    by = {r.kind: r for r in rows}
    tf_t = by["tf_import"].median_s if "tf_import" in by else None
    mc_t = by["memcpy"].median_s if "memcpy" in by else None
    for r in rows:
        if r.median_s is None:
            continue
        r.gb_per_s = r.file_bytes / r.median_s / 1e9
        if tf_t:
            r.x_vs_tf = tf_t / r.median_s
        if mc_t:
            r.of_memcpy = mc_t / r.median_s


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def render_table(rows: list[Row]) -> str:
    head = [
        "size",
        "nodes",
        "file MB",
        "benchmark",
        "runs",
        "median s",
        "first s",
        "GB/s",
        "x vs TF",
        "of memcpy",
        "peak RSS MB",
        "dRSS/file",
        "check",
    ]
    body = []
    for r in rows:
        body.append(
            [
                r.size,
                f"{r.nodes:,}",
                f"{r.file_bytes / 1e6:.1f}",
                r.label,
                str(len(r.runs)),
                _fmt(r.median_s, ".4f"),
                _fmt(r.first_s, ".4f"),
                _fmt(r.gb_per_s, ".3f"),
                _fmt(r.x_vs_tf, ".1f"),
                _fmt(r.of_memcpy, ".3f"),
                "-" if r.peak_rss is None else f"{r.peak_rss / 2**20:.0f}",
                _fmt(r.rss_per_file, ".2f"),
                r.check if not r.note else f"{r.check} ({r.note})" if r.check else r.note,
            ]
        )
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    numeric = {1, 2, 4, 5, 6, 7, 8, 9, 10, 11}

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in numeric else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    repo = HERE.parent

    def git(*a: str) -> str | None:
        try:
            return subprocess.run(["git", *a], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    import numpy
    from google.protobuf import __version__ as protobuf_version

    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "protobuf": protobuf_version,
        "tensorflow": tf_graph.installed_tensorflow(),
        "fastmeta": _version("fastmeta"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "loadavg_start": list(os.getloadavg()),
    }


def machine_line(m: dict[str, Any]) -> str:
    mem = f"{m['memory_bytes'] / 2**30:.0f} GiB" if m.get("memory_bytes") else "? GiB"
    commit = (m.get("git_commit") or "?")[:10] + ("+dirty" if m.get("git_dirty") else "")
    return (
        f"{m['cpu']}, {m['cores']} cores, {mem}; Python {m['python']}, numpy {m['numpy']}, "
        f"protobuf {m['protobuf']}, TF {m['tensorflow']}; fastmeta {commit}; load "
        f"{m['loadavg_start'][0]:.1f} at start"
    )


def parse_sizes(text: str) -> list[tuple[str, int]]:
    """`10k,1m,tf100k` -> [(label, nodes)]; a `tf` prefix asks for a TensorFlow-made graph."""
    out = []
    for item in filter(None, (s.strip().lower() for s in text.split(","))):
        size = item.removeprefix("tf")
        if size in SIZES:
            out.append((item, SIZES[size]))
        else:
            mult = {"k": 1_000, "m": 1_000_000}.get(size[-1], 1)
            out.append((item, int(float(size.rstrip("km")) * mult)))
    return out


def targets(rows: list[Row]) -> dict[str, Any]:
    """Issue 5's targets on the largest generated graph measured (a TensorFlow-made one
    when there is none)."""
    rows = [r for r in rows if not r.size.startswith("tf")] or rows
    if not rows:
        return {}
    largest = max(rows, key=lambda r: r.nodes)
    by = {r.kind: r for r in rows if r.size == largest.size}
    out: dict[str, Any] = {"nodes": largest.nodes, "size": largest.size}
    many = by.get("fm_rewrite_all") or by.get("fm_rewrite_1")
    if many and many.of_memcpy is not None:
        out["rewrite_of_memcpy"] = {"value": many.of_memcpy, "target": 1 / 3, "met": many.of_memcpy >= 1 / 3}
    imp = by.get("fm_import")
    if imp and imp.x_vs_tf is not None:
        out["import_x_vs_tf"] = {"value": imp.x_vs_tf, "target": 200, "met": imp.x_vs_tf >= 200}
    if imp and imp.rss_per_file is not None:
        out["import_rss_per_file"] = {"value": imp.rss_per_file, "target": 2.0, "met": imp.rss_per_file <= 2.0}
    return out


def read_back(path: Path) -> None:
    """Put `path` in the page cache as a file read from disk is: evict it, read it once.

    A file the generator has just written sits in the page cache in the 4 KiB pages of
    the write; read back from disk, the kernel's readahead caches it in large folios
    (ext4 on Linux 6.x). Mapping a file costs ~10x more in the first state (~22 ms of
    page faults for the 1M graph here against ~2 ms), and that is paid twice by a
    mapped-input rewrite (the parse and the write each touch the pages). A graph a
    job loads is usually a file an earlier job wrote, so every contender of a run
    sees the read-back state (``--page-cache as-is`` keeps whatever state it is in).
    """
    with open(path, "rb") as f:
        fd = f.fileno()
        os.fsync(fd)  # (dirty pages cannot be evicted)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while f.read(1 << 24):
            pass


def parent(args: argparse.Namespace) -> int:
    import generate

    machine = machine_info()
    kinds = [(k, label) for k, label in KINDS if not args.kinds or k in args.kinds.split(",")]
    rows: list[Row] = []
    for size_label, nodes in parse_sizes(args.sizes):
        t0 = time.perf_counter()
        if size_label.startswith("tf"):
            try:
                path, info = tf_graph.ensure(nodes, data_dir=args.data_dir)
            except ModuleNotFoundError as e:
                print(f"[{size_label}] skipped: {e}", file=sys.stderr, flush=True)
                continue
        else:
            path, info = generate.ensure(nodes, data_dir=args.data_dir)
        if args.page_cache == "read-back":
            read_back(path)
        print(
            f"[{size_label}] {path.name}: {info['nodes']:,} nodes, {info['size'] / 1e6:.1f} MB "
            f"(ready in {time.perf_counter() - t0:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
        size_rows: list[Row] = []
        for kind, label in kinds:
            row = Row(size_label, int(info["nodes"]), int(info["size"]), kind, label)  # type: ignore[call-overload]
            size_rows.append(row)
            if kind == "tf_import" and args.quick and nodes >= 1_000_000:
                row.note = "skipped (--quick)"
                continue
            repeat = args.repeat if kind not in SLOW else max(1, min(args.repeat, 3))
            t1 = time.perf_counter()
            res = _run_child(kind, path, args, repeat)
            if "skipped" in res or "error" in res:
                row.note = res.get("skipped") or res["error"]
                if "error" in res:
                    row.check = "ERROR"
                print(f"  {label}: {row.note}", file=sys.stderr, flush=True)
                continue
            row.runs = res["runs"]
            row.outcome = res["outcome"]
            if row.outcome.get("note", "").startswith("_core has no"):
                row.note = row.outcome["note"]
            row.median_s = statistics.median(r["seconds"] for r in row.runs)
            first = res.get("first_seconds", float("nan"))
            row.first_s = first if first == first else None
            row.peak_rss = max(int(r["peak_rss"]) for r in row.runs)
            deltas = [r["delta_rss"] for r in row.runs if r["delta_rss"] == r["delta_rss"]]
            warm = res.get("warmup_delta_rss", float("nan"))
            if warm == warm:  # the warm-up ran in a fresh process: include its memory
                deltas.append(warm)
            if deltas:
                row.delta_rss = int(max(deltas))
                row.rss_per_file = row.delta_rss / row.file_bytes
            print(
                f"  {label}: median {row.median_s:.4f} s over {len(row.runs)} ({time.perf_counter() - t1:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        _check_rows(size_rows)
        _fill_ratios(size_rows)
        rows.extend(size_rows)
    machine["loadavg_end"] = list(os.getloadavg())
    table = render_table(rows)
    print(f"Machine: {machine_line(machine)}")
    print(
        f"Config: import_scope={args.scope!r}, clear_devices={args.clear_devices}, "
        f"repeat={args.repeat}{', quick' if args.quick else ''}, page cache {args.page_cache}"
    )
    print(table)
    goal = targets(rows)
    if goal:
        print(
            "Targets (largest size): "
            + ", ".join(
                f"{k} {v['value']:.3g} ({'met' if v['met'] else 'NOT met'}, target {v['target']:.3g})"
                for k, v in goal.items()
                if isinstance(v, dict)
            )
        )
    if not args.no_json:
        out_dir = Path(args.results)
        out_dir.mkdir(parents=True, exist_ok=True)
        date = _dt.date.today().isoformat()
        tag = f"-{args.tag}" if args.tag else ""
        out = out_dir / f"{date}-{machine['host']}{tag}.json"
        doc = {
            "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "machine": machine,
            "config": {
                "sizes": args.sizes,
                "quick": args.quick,
                "repeat": args.repeat,
                "import_scope": args.scope,
                "clear_devices": args.clear_devices,
                "page_cache": args.page_cache,
            },
            "results": [asdict(r) for r in rows],
            "targets": goal,
            "table": table,
        }
        out.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    failed = [r for r in rows if r.check.startswith(("MISMATCH", "ERROR"))]
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10k,100k,1m", help="e.g. 2k,10k,100k,1m")
    ap.add_argument("--quick", action="store_true", help="fewer runs; no TensorFlow run at 1M")
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement (slow ones <= 3)")
    ap.add_argument("--budget", type=float, default=60.0, help="stop repeating a measurement after this many seconds")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per measurement process")
    ap.add_argument("--scope", default="imported", help="import scope given to every contender")
    ap.add_argument("--clear-devices", action="store_true")
    ap.add_argument("--kinds", default="", help="comma-separated subset of: " + ",".join(k for k, _ in KINDS))
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--no-json", action="store_true")
    ap.add_argument("--tag", default="", help="suffix of the JSON file name")
    ap.add_argument("--data-dir", default=str(HERE / "data"), help="where graphs are cached")
    ap.add_argument(
        "--warmup-below", type=float, default=2.0, help="discard a first run faster than this (cache warm-up)"
    )
    ap.add_argument(
        "--page-cache",
        choices=("read-back", "as-is"),
        default="read-back",
        help="evict each graph from the page cache and read it once before its "
        "measurements (as a file read from disk), or leave the cache as it is",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick and args.repeat == 5:
        args.repeat = 3
    if args.child:
        return child(args)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
