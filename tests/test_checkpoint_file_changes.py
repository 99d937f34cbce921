"""Checkpoint data files truncated or rewritten in place while a reader is open, or
after arrays were handed out: the process never dies (no SIGBUS), a read raises
CheckpointError naming the file, tensor and byte offset, and arrays already returned
keep their values (they own their bytes, as TensorFlow's reader returns copies).

Each case runs in a child process, so a crash shows as a failed test (with its signal)
instead of taking pytest down. The values are checked against TensorFlow's own reader of
the intact files, and a fresh TensorFlow reader of the damaged files fails too."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import fastmeta.checkpoint as fc
import numpy as np
import pytest

CORPUS = Path(__file__).parent / "fixtures" / "corpus"

# Run by the child: builds the tensors every case uses.
_PRELUDE = textwrap.dedent(
    """
    import os, sys, threading
    import numpy as np
    import fastmeta, fastmeta.checkpoint as fc
    from fastmeta.checkpoint import CheckpointError, PartitionedSlice
    d = sys.argv[1]
    def tensors():
        big = np.arange(1 << 20, dtype=np.float32) * 0.5        # 4 MiB: read in pieces
        full = np.arange(24, dtype=np.int32).reshape(4, 6)
        return {
            "big": big,
            "f64": np.linspace(0.0, 1.0, 5000),
            "rows": [PartitionedSlice([4, 6], [0, 0], full[:1]), PartitionedSlice([4, 6], [1, 0], full[1:])],
            "cols": [PartitionedSlice([4, 6], [0, 0], full[:, :2]), PartitionedSlice([4, 6], [0, 2], full[:, 2:])],
            "s": np.array([b"one", b"two", b"three"], dtype=object),
        }
    prefix = os.path.join(d, "m")
    data = prefix + ".data-00000-of-00001"
    def expect_error(fn, *needles):
        try:
            fn()
        except CheckpointError as e:
            for n in needles:
                assert n in str(e), (n, str(e))
            return str(e)
        raise AssertionError("no CheckpointError")
    """
)


def _run(tmp_path: Path, body: str) -> str:
    """Runs ``body`` in a child (after the prelude, with ``d`` = tmp_path); fails the
    test if the child died of a signal or failed; returns its stdout."""
    code = _PRELUDE + textwrap.dedent(body)
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    if p.returncode < 0:
        pytest.fail(f"the child died of {signal.Signals(-p.returncode).name}\n{p.stdout}{p.stderr}")
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


def _tf_values(tf: Any, prefix: str) -> dict[str, Any]:
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _tf_fails(tf: Any, prefix: str, name: str) -> None:
    """A fresh TensorFlow reader of the damaged files cannot read ``name`` either."""
    with pytest.raises(Exception):  # noqa: B017 (TensorFlow's type varies: IndexError, DataLossError)
        tf.train.load_checkpoint(prefix).get_tensor(name)


def test_truncated_under_an_open_reader(tmp_path: Path, tf: Any) -> None:
    out = _run(
        tmp_path,
        """
        fc.write_checkpoint(prefix, tensors())
        np.save(os.path.join(d, "want_big.npy"), tensors()["big"])
        r = fc.load_checkpoint(prefix)
        kept = {n: r.get_tensor(n) for n in ("big", "rows", "cols", "s")}
        kept_view = r.get_array("f64", copy=False)   # once a view over the mapping
        offset = r.entry("big")["offset"]
        os.truncate(data, 64)    # (slices are stored first: their keys start with a NUL)
        for name in ("big", "f64", "rows", "cols", "s"):
            expect_error(lambda: r.get_tensor(name), data, "runs past the end of the file (64 bytes)")
        msg = expect_error(lambda: r.get_array("big"), f"tensor 'big' at byte offset {offset} (")
        print(msg)
        # What was handed out before is the caller's and unchanged.
        np.save(os.path.join(d, "kept_f64.npy"), kept_view)
        np.save(os.path.join(d, "kept_big.npy"), kept["big"])
        np.save(os.path.join(d, "kept_rows.npy"), kept["rows"])
        np.save(os.path.join(d, "kept_cols.npy"), kept["cols"])
        assert list(kept["s"]) == [b"one", b"two", b"three"]
        assert kept_view.flags.writeable and kept["big"].flags.owndata
        """,
    )
    assert "runs past the end of the file (64 bytes); truncated?" in out
    # The arrays kept equal TensorFlow's reading of the intact checkpoint.
    intact = tmp_path / "intact"
    want = np.load(tmp_path / "want_big.npy")
    full = np.arange(24, dtype=np.int32).reshape(4, 6)
    fc.write_checkpoint(intact / "m", {"big": want, "f64": np.linspace(0.0, 1.0, 5000), "rows": full, "cols": full})
    theirs = _tf_values(tf, str(intact / "m"))
    for name in ("big", "f64", "rows", "cols"):
        np.testing.assert_array_equal(np.load(tmp_path / f"kept_{name}.npy"), theirs[name])
    _tf_fails(tf, str(tmp_path / "m"), "big")


def test_rewritten_in_place_after_a_read(tmp_path: Path, tf: Any) -> None:
    # The same file (inode), one byte of a tensor already read and verified changed: the
    # next read is a checksum error (it was returned silently from the mapping before).
    _run(
        tmp_path,
        """
        fc.write_checkpoint(prefix, tensors())
        r = fc.load_checkpoint(prefix)
        first = r.get_tensor("big")
        e = r.entry("big")
        with open(data, "r+b") as f:
            f.seek(e["offset"] + (3 << 20))
            b = f.read(1)
            f.seek(e["offset"] + (3 << 20))
            f.write(bytes([b[0] ^ 1]))
        for _ in range(2):
            expect_error(lambda: r.get_tensor("big"), data, "tensor 'big'", f"byte offset {e['offset']}",
                         "checksum mismatch")
        assert np.array_equal(first, tensors()["big"])
        """,
    )
    _tf_fails(tf, str(tmp_path / "m"), "big")


def test_saver_restore_of_a_truncated_checkpoint(tmp_path: Path, tf: Any) -> None:
    shutil.copytree(CORPUS / "mlp_ref", tmp_path / "mlp_ref")
    shutil.copy(CORPUS / "mlp_ref.meta", tmp_path / "mlp_ref.meta")
    _run(
        tmp_path,
        """
        g = fastmeta.Graph()
        with g.as_default():
            saver = fastmeta.import_meta_graph(os.path.join(d, "mlp_ref.meta"))
        ckpt = os.path.join(d, "mlp_ref", "mlp_ref.ckpt")
        for copy in (True, False):
            restored = saver.restore(ckpt, copy=copy)
            np.savez(os.path.join(d, f"restored_{copy}.npz"), **{k.replace("/", "|"): v for k, v in restored.items()})
            shard = ckpt + ".data-00000-of-00001"
            raw = open(shard, "rb").read()
            os.truncate(shard, 0)
            expect_error(lambda: saver.restore(ckpt, copy=copy), shard, "runs past the end of the file (0 bytes)")
            for k, v in restored.items():   # still readable (copy=False: once views over the mapping)
                float(np.asarray(v, dtype=np.float64).sum())
            with open(shard, "wb") as f:
                f.write(raw)
        """,
    )
    theirs = _tf_values(tf, str(CORPUS / "mlp_ref" / "mlp_ref.ckpt"))
    for copy in (True, False):
        ours = np.load(tmp_path / f"restored_{copy}.npz")
        assert ours.files
        for k in ours.files:
            np.testing.assert_array_equal(ours[k], theirs[k.replace("|", "/")])


def test_truncated_and_restored_while_threads_read(tmp_path: Path) -> None:
    # The file shrinks and grows back under reads on other threads (the race a size
    # check alone cannot close): every read returns the right values or raises
    # CheckpointError; the process lives.
    out = _run(
        tmp_path,
        """
        fc.write_checkpoint(prefix, tensors())
        raw = open(data, "rb").read()
        r = fc.load_checkpoint(prefix)
        want = tensors()["big"]
        stop = threading.Event()
        outcomes = {"ok": 0, "error": 0}
        def reader():
            while not stop.is_set():
                try:
                    got = r.get_tensor("big")
                except CheckpointError:
                    outcomes["error"] += 1
                else:
                    assert np.array_equal(got, want)
                    outcomes["ok"] += 1
        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        for i in range(150):
            os.truncate(data, (i * 7919) % len(raw))
            with open(data, "r+b") as f:
                f.write(raw)
        stop.set()
        for t in threads:
            t.join()
        print(outcomes)
        assert outcomes["ok"] + outcomes["error"] > 0
        assert np.array_equal(r.get_tensor("big"), want)
        """,
    )
    assert "'ok'" in out
