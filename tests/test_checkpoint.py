"""fastmeta.checkpoint: V2 tensor bundles read/written without TensorFlow, checked
bit-for-bit against TensorFlow (the oracle) where it is installed."""

from __future__ import annotations

import json
import os

import fastmeta.checkpoint as fc
import numpy as np
import pytest
from fastmeta import _core
from fastmeta.checkpoint import CheckpointError, PartitionedSlice
from fastmeta.errors import Error
from sstable_builder import string_tensor, v2_bundle

try:
    import ml_dtypes
except ImportError:  # pragma: no cover
    ml_dtypes = None


def _same(a, b) -> bool:
    """Bit-equal arrays (NaN-safe), or equal object arrays of bytes."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype == object or b.dtype == object:
        return [bytes(x) for x in a.ravel()] == [bytes(x) for x in b.ravel()]
    if a.dtype.itemsize != b.dtype.itemsize:
        return False
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def _sample_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "f64": np.array([np.nan, -0.0, np.inf, 1e300]),
        "f16": rng.standard_normal(5).astype(np.float16),
        "i8": np.array([-128, 0, 127], np.int8),
        "i16": np.array([[-1, 2], [3, -32768]], np.int16),
        "i32": np.arange(12, dtype=np.int32).reshape(2, 2, 3),
        "i64": np.array(2**62 + 7, np.int64),
        "u8": np.arange(256, dtype=np.uint8),
        "u16": np.array([0, 65535], np.uint16),
        "u32": np.array([2**32 - 1], np.uint32),
        "u64": np.array([2**64 - 1, 3], np.uint64),
        "b": np.array([True, False, True]),
        "c64": np.array([1 + 2j, -3.5j], np.complex64),
        "c128": np.array([[1e-300 + 1j]], np.complex128),
        "s": np.array([[b"a", b""], [b"\x00\xff", "\u00e9".encode()]], dtype=object),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.float32(3.5),
        "scalar_s": np.array(b"text", dtype=object),
        "scalar_b": np.array(False),
        "nested/name/with spaces": np.ones(2, np.int32),
    }
    if ml_dtypes is not None:
        out["bf16"] = np.array([1.5, -2.0, 3e38], dtype=ml_dtypes.bfloat16)
    return out


# ---- no TensorFlow needed ------------------------------------------------------


def test_round_trip_all_dtypes(tmp_path):
    arrays = _sample_arrays()
    prefix = fc.write_checkpoint(tmp_path / "ck" / "model", arrays)
    assert os.path.exists(prefix + ".index")
    assert os.path.exists(prefix + ".data-00000-of-00001")
    assert not [p for p in os.listdir(tmp_path / "ck") if "tempstate" in p]
    r = fc.load_checkpoint(prefix)
    assert sorted(r.get_variable_to_shape_map()) == sorted(arrays)
    for name, want in arrays.items():
        got = r.get_tensor(name)
        assert np.shape(got) == np.shape(want), name
        assert _same(got, want), name
        assert _same(r.get_array(name), want), name
        assert r.has_tensor(name)
    # 0-d tensors come back as scalars, as from TensorFlow's reader; get_array keeps arrays
    assert type(r.get_tensor("scalar")) is np.float32 and r.get_tensor("scalar") == 3.5
    assert r.get_tensor("scalar_s") == b"text" and r.get_tensor("scalar_b") is np.False_
    assert r.get_array("scalar").shape == () and r.get_array("scalar_s").dtype == object
    assert r.get_variable_to_dtype_map()["f16"] == "float16"
    assert r.get_variable_to_dtype_map()["s"] == "string"
    assert r.get_variable_to_shape_map()["scalar"] == []
    assert not r.has_tensor("nope")
    assert [n for n, _ in fc.list_variables(prefix)] == sorted(arrays)


def test_arrays_own_their_bytes(tmp_path):
    # As TensorFlow's reader returns copies: with copy=False too (once a read-only view
    # over the mmapped data file), the array is the caller's, read straight into it.
    prefix = fc.write_checkpoint(tmp_path / "m", {"x": np.arange(10, dtype=np.float64)})
    r = fc.load_checkpoint(prefix)
    for copy in (False, True):
        arr = r.get_tensor("x", copy=copy)
        assert arr.flags.writeable and arr.flags.owndata
        assert arr.sum() == 45.0


def test_str_elements_and_bad_dtype(tmp_path):
    prefix = fc.write_checkpoint(tmp_path / "m", {"s": np.array(["ab", "\u00e9"])})
    assert list(fc.load_checkpoint(prefix).get_tensor("s")) == [b"ab", "\u00e9".encode()]
    with pytest.raises(CheckpointError):
        fc.write_checkpoint(tmp_path / "m2", {"d": np.array(["2020-01-01"], dtype="datetime64[D]")})


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_slice_is_named_in_the_error(tmp_path, damage):
    # (A slice's stored key is binary, with NUL bytes: the message names the tensor and
    # the slice instead, whole.)
    full = np.arange(12, dtype=np.float32).reshape(6, 2)
    parts = [PartitionedSlice([6, 2], [0, 0], full[:3]), PartitionedSlice([6, 2], [3, 0], full[3:])]
    strings = [
        PartitionedSlice([2], [0], np.array([b"ab"], dtype=object)),
        PartitionedSlice([2], [1], np.array([b"cd"], dtype=object)),
    ]
    prefix = fc.write_checkpoint(tmp_path / "m", {"emb": parts, "s": strings})
    data = tmp_path / "m.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    if damage == "flip":
        raw[0] ^= 0xFF  # the first stored tensor: a slice of emb
        data.write_bytes(bytes(raw))
        expect = "tensor 'emb (slice 0,3:0,2)' (byte offset 0, 24 bytes): checksum mismatch"
    else:
        data.write_bytes(bytes(raw[:30]))
        expect = "tensor 'emb (slice 3,3:0,2)' at byte offset 24 (24 bytes) runs past the end of the file (30 bytes)"
    with pytest.raises(CheckpointError) as e:
        fc.load_checkpoint(prefix).get_tensor("emb")
    assert str(e.value) == f"{data}: {expect}" + ("; truncated?" if damage == "truncate" else "; data corrupt")
    if damage == "truncate":
        with pytest.raises(CheckpointError, match=r"string tensor 's \(slice 0,1\)'|tensor 's \(slice 0,1\)'"):
            fc.load_checkpoint(prefix).get_tensor("s")


def test_partitioned_write_and_reassemble(tmp_path):
    full = np.arange(40, dtype=np.float32).reshape(10, 4)
    parts = [
        PartitionedSlice([10, 4], [0, 0], full[0:4]),
        PartitionedSlice([10, 4], [4, 0], full[4:7]),
        PartitionedSlice([10, 4], [7, 0], full[7:10]),
    ]
    grid = np.arange(24, dtype=np.int64).reshape(4, 6)
    grid_parts = [PartitionedSlice([4, 6], [r, c], grid[r : r + 2, c : c + 3]) for r in (0, 2) for c in (0, 3)]
    prefix = fc.write_checkpoint(tmp_path / "m", {"p": parts, "g": grid_parts, "x": np.ones(2)})
    r = fc.load_checkpoint(prefix)
    assert r.get_variable_to_shape_map() == {"p": [10, 4], "g": [4, 6], "x": [2]}
    assert _same(r.get_tensor("p"), full)
    assert _same(r.get_tensor("g"), grid)
    assert len(r.entry("p")["slices"]) == 3
    # Missing slices are an error, not garbage.
    with pytest.raises(CheckpointError, match="cover"):
        bad = fc.write_checkpoint(tmp_path / "b", {"p": parts[:2]})
        fc.load_checkpoint(bad).get_tensor("p")


def test_latest_checkpoint_and_state(tmp_path):
    d = tmp_path / "run"
    assert fc.latest_checkpoint(d) is None
    p1 = fc.write_checkpoint(d / "ckpt-1", {"x": np.zeros(1)})
    p2 = fc.write_checkpoint(d / "ckpt-2", {"x": np.ones(1)})
    fc.update_checkpoint_state(d, "ckpt-2", ["ckpt-1"])
    assert fc.latest_checkpoint(d) == p2
    state = fc.get_checkpoint_state(d)
    assert state.all_model_checkpoint_paths == [p1, p2]
    assert fc.load_checkpoint(d).get_tensor("x")[0] == 1.0
    assert fc.list_variables(d) == [("x", [1])]
    fc.update_checkpoint_state(d, str(d / "ckpt-1"), save_relative_paths=True)
    assert 'model_checkpoint_path: "ckpt-1"' in (d / "checkpoint").read_text()
    assert fc.latest_checkpoint(d) == p1
    # A state naming a missing checkpoint resolves to None.
    fc.update_checkpoint_state(d, "ckpt-9")
    assert fc.latest_checkpoint(d) is None
    (d / "checkpoint").write_text("this is { not text format")
    assert fc.latest_checkpoint(d) is None
    with pytest.raises(CheckpointError):
        fc.load_checkpoint(tmp_path / "run")


def test_cli(tmp_path, capsys):
    prefix = fc.write_checkpoint(
        tmp_path / "m",
        {
            "a": np.zeros((2, 3), np.float32),
            "s": np.array([b"x"], dtype=object),
            "p": [PartitionedSlice([4], [0], np.ones(2, np.int32)), PartitionedSlice([4], [2], np.ones(2, np.int32))],
        },
    )
    assert fc.inspect_checkpoint_main([prefix, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in doc["tensors"]}
    assert rows["a"] == {"name": "a", "dtype": "float32", "shape": [2, 3], "size": 24, "shard": 0, "partitions": 0}
    assert rows["p"]["size"] == 16 and rows["p"]["partitions"] == 2
    assert rows["s"]["dtype"] == "string"
    assert fc.inspect_checkpoint_main([prefix, "--tensor", "a"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "[2,3]" in out and "3 tensors" in out
    assert fc.inspect_checkpoint_main([str(tmp_path / "missing")]) == 1
    assert "not found" in capsys.readouterr().err


# ---- corruption: always CheckpointError naming the file, never a crash -------------


@pytest.fixture
def small_ckpt(tmp_path):
    arrays = {
        "w": np.arange(64, dtype=np.float32),
        "s": np.array([b"hello", b"world"], dtype=object),
        "step": np.int64(5),
    }
    return fc.write_checkpoint(tmp_path / "m", arrays), arrays


def _read_all(prefix):
    r = fc.load_checkpoint(prefix)
    return {k: r.get_tensor(k) for k in r.get_variable_to_shape_map()}


def test_error_class():
    assert issubclass(CheckpointError, Error)
    assert issubclass(CheckpointError, ValueError)
    assert _core.CheckpointError is CheckpointError


def test_paths_that_are_not_utf8_and_paths_with_nul(tmp_path):
    # A file name that is not UTF-8 (as os.listdir/os.fsdecode spell it: lone
    # surrogates) was pybind11's TypeError; a NUL ended the name early in C++, so
    # write_checkpoint wrote "victim" when asked for "victim\0.ckpt".
    prefix = os.path.join(os.fsdecode(bytes(tmp_path)), os.fsdecode(b"m\xff"))
    value = np.arange(3, dtype=np.float32)
    assert fc.write_checkpoint(prefix, {"v": value}) == prefix
    assert os.path.exists(os.fsencode(prefix) + b".index")
    assert _same(fc.load_checkpoint(prefix).get_tensor("v"), value)
    with pytest.raises(CheckpointError) as info:
        fc.CheckpointReader(prefix + "x")
    assert "m\\xffx.index" in str(info.value)
    for bad in (str(tmp_path / "victim\0.ckpt"), str(tmp_path / "m\0")):
        with pytest.raises(CheckpointError, match="NUL"):
            fc.write_checkpoint(bad, {"v": value})
        with pytest.raises(CheckpointError, match="NUL"):
            fc.CheckpointReader(bad)
    assert sorted(os.listdir(tmp_path)) == sorted(os.fsdecode(b"m\xff") + s for s in (".data-00000-of-00001", ".index"))


def test_flipped_data_byte_names_tensor(small_ckpt):
    prefix, arrays = small_ckpt
    data_path = prefix + ".data-00000-of-00001"
    original = open(data_path, "rb").read()
    r = fc.load_checkpoint(prefix)
    for name in arrays:
        e = r.entry(name)
        for pos in {e["offset"], e["offset"] + e["size"] - 1}:
            bad = bytearray(original)
            bad[pos] ^= 0x10
            open(data_path, "wb").write(bad)
            with pytest.raises(CheckpointError) as info:
                fc.load_checkpoint(prefix).get_tensor(name)
            assert data_path in str(info.value)
            assert name in str(info.value)
    # every single-byte flip is detected
    for pos in range(len(original)):
        bad = bytearray(original)
        bad[pos] ^= 0x01
        open(data_path, "wb").write(bad)
        with pytest.raises(CheckpointError):
            _read_all(prefix)


def test_flipped_index_bytes(small_ckpt):
    prefix, arrays = small_ckpt
    index_path = prefix + ".index"
    original = open(index_path, "rb").read()
    undetected = []
    for pos in range(len(original)):
        bad = bytearray(original)
        bad[pos] ^= 0x04
        open(index_path, "wb").write(bad)
        try:
            got = _read_all(prefix)
        except CheckpointError as e:
            assert prefix in str(e)
            continue
        # Only the footer's zero padding is unchecked; then the data must be intact.
        assert all(_same(got[k], v) for k, v in arrays.items())
        undetected.append(pos)
    assert all(pos >= len(original) - 48 for pos in undetected)


def test_truncated_files(small_ckpt):
    prefix, _ = small_ckpt
    index_path = prefix + ".index"
    data_path = prefix + ".data-00000-of-00001"
    index = open(index_path, "rb").read()
    data = open(data_path, "rb").read()
    for n in range(0, len(index), 5):
        open(index_path, "wb").write(index[:n])
        with pytest.raises(CheckpointError, match=r"\.index"):
            fc.load_checkpoint(prefix)
    open(index_path, "wb").write(index)
    for n in range(0, len(data), 7):
        open(data_path, "wb").write(data[:n])
        with pytest.raises(CheckpointError) as info:
            _read_all(prefix)
        assert data_path in str(info.value)


def test_missing_files_and_magic(small_ckpt):
    prefix, _ = small_ckpt
    index_path = prefix + ".index"
    data_path = prefix + ".data-00000-of-00001"
    os.remove(data_path)
    r = fc.load_checkpoint(prefix)  # metadata still readable, like TF
    assert "w" in r.get_variable_to_shape_map()
    with pytest.raises(CheckpointError, match="data-00000-of-00001"):
        r.get_tensor("w")
    index = bytearray(open(index_path, "rb").read())
    index[-1] ^= 0xFF
    open(index_path, "wb").write(index)
    with pytest.raises(CheckpointError, match="magic"):
        fc.load_checkpoint(prefix)
    os.remove(index_path)
    with pytest.raises(CheckpointError, match="not found"):
        fc.load_checkpoint(prefix)
    with pytest.raises(CheckpointError, match="tensor 'nope' not found"):
        fc.load_checkpoint(fc.write_checkpoint(prefix, {"a": np.zeros(1)})).get_tensor("nope")


def test_snappy_index_is_read(tmp_path):
    # TF writes uncompressed indexes; the reader also accepts snappy blocks.
    entries = [(f"v{i:03d}", 3, [1], np.array([i], np.int32)) for i in range(300)]
    _core.write_bundle(str(tmp_path / "m"), entries, block_size=512, snappy=True)
    r = fc.load_checkpoint(tmp_path / "m")
    assert len(r.get_variable_to_shape_map()) == 300
    assert r.get_tensor("v123")[0] == 123


# ---- against TensorFlow --------------------------------------------------------


@pytest.fixture(scope="module")
def tf():
    tf = pytest.importorskip("tensorflow")
    return tf


def _assert_matches_tf(tf, prefix, expect_names=None):
    ours = fc.load_checkpoint(prefix)
    theirs = tf.train.load_checkpoint(prefix)
    tf_shapes = theirs.get_variable_to_shape_map()
    tf_dtypes = theirs.get_variable_to_dtype_map()
    assert ours.get_variable_to_shape_map() == tf_shapes
    assert ours.get_variable_to_dtype_map() == {k: v.name for k, v in tf_dtypes.items()}
    assert fc.list_variables(prefix) == tf.train.list_variables(prefix)
    for name in tf_shapes:
        want = theirs.get_tensor(name)
        got = ours.get_tensor(name)
        if tf_dtypes[name] == tf.bfloat16 and ml_dtypes is None:
            want = np.asarray(want).view(np.uint16)
        else:  # a 0-d tensor comes back as TensorFlow's scalar (np.float32, bytes...)
            assert type(got) is type(want), (name, type(got), type(want))
        assert _same(got, want), name
    if expect_names is not None:
        assert set(expect_names) <= set(tf_shapes)
    return ours


ALL_TF_DTYPES = [
    "float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128", "string",
]  # fmt: skip


def _tf_values(tf):
    rng = np.random.default_rng(1)
    out = {}
    for dt in ALL_TF_DTYPES:
        d = tf.as_dtype(dt)
        if dt == "string":
            v = tf.constant([[b"x", b""], [b"\x00\x01", b"y" * 300]])
        elif dt == "bool":
            v = tf.constant([True, False, True])
        elif d.is_complex:
            v = tf.complex(tf.constant(rng.standard_normal(4)), tf.constant(rng.standard_normal(4)))
            v = tf.cast(v, d)
        elif d.is_floating:
            v = tf.cast(tf.constant(rng.standard_normal((2, 3)) * 100), d)
        else:
            v = tf.cast(tf.constant(rng.integers(0, 100, (3, 2))), d)
        out[f"t_{dt}"] = v
    out["scalar"] = tf.constant(7, tf.int64)
    out["empty"] = tf.zeros([0, 5], tf.float32)
    return out


def test_tf_savev2_all_dtypes_and_shards(tf, tmp_path):
    values = _tf_values(tf)
    names = list(values)
    prefix = str(tmp_path / "all")
    tf.raw_ops.SaveV2(
        prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=[values[n] for n in names]
    )
    _assert_matches_tf(tf, prefix, names)
    # Three shards merged into one bundle (as a sharded Saver does).
    parts = []
    for i in range(3):
        p = str(tmp_path / f"tmp_part_{i}")
        sub = names[i::3]
        tf.raw_ops.SaveV2(
            prefix=p, tensor_names=sub, shape_and_slices=[""] * len(sub), tensors=[values[n] for n in sub]
        )
        parts.append(p)
    merged = str(tmp_path / "merged")
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts, destination_prefix=merged)
    ours = _assert_matches_tf(tf, merged, names)
    assert ours.num_shards == 3
    assert os.path.exists(merged + ".data-00002-of-00003")
    assert {ours.entry(n)["shard_id"] for n in names} == {0, 1, 2}
    # A missing shard is reported by file name.
    os.remove(merged + ".data-00001-of-00003")
    victim = next(n for n in names if ours.entry(n)["shard_id"] == 1)
    with pytest.raises(CheckpointError, match=r"merged\.data-00001-of-00003"):
        fc.load_checkpoint(merged).get_tensor(victim)


def test_tf2_checkpoint_with_optimizer_slots(tf, tmp_path):
    v = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="kernel")
    b = tf.Variable(tf.zeros([3], tf.bfloat16), name="bias")
    h = tf.Variable(tf.ones([2], tf.float16))
    s = tf.Variable([b"alpha", b"beta"])
    i = tf.Variable(np.int64(2**40))
    opt = tf.keras.optimizers.Adam(0.1) if hasattr(tf, "keras") else None
    if opt is not None:
        try:
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(v * v)
            opt.apply_gradients([(tape.gradient(loss, v), v)])
        except Exception:  # keras flavours differ; the slots are a bonus
            opt = None
    ckpt = tf.train.Checkpoint(v=v, b=b, h=h, s=s, i=i, **({"opt": opt} if opt else {}))
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path / "run"), max_to_keep=3)
    manager.save()
    i.assign_add(1)
    prefix = manager.save()
    ours = _assert_matches_tf(tf, prefix)
    run_dir = str(tmp_path / "run")
    assert fc.latest_checkpoint(run_dir) == tf.train.latest_checkpoint(run_dir)
    assert fc.latest_checkpoint(tmp_path / "run") == prefix
    state = fc.get_checkpoint_state(tmp_path / "run")
    tf_state = tf.train.get_checkpoint_state(str(tmp_path / "run"))
    assert state.all_model_checkpoint_paths == list(tf_state.all_model_checkpoint_paths)
    assert ours.get_tensor("i/.ATTRIBUTES/VARIABLE_VALUE") == 2**40 + 1
    if opt is not None:
        # Keras 3 stores Adam's m/v slots as opt/_variables/N (Keras 2: OPTIMIZER_SLOT).
        slots = [k for k, shape in ours.get_variable_to_shape_map().items() if k.startswith("opt/") and shape == [2, 3]]
        assert len(slots) >= 2


def test_tf1_saver_ref_resource_partitioned_sharded(tf, tmp_path):
    (tmp_path / "v1").mkdir()
    prefix = str(tmp_path / "v1" / "model.ckpt")
    config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
    with tf.Graph().as_default():
        with tf.device("/cpu:0"):
            ref = tf.compat.v1.get_variable(
                "ref", initializer=np.arange(8, dtype=np.float64).reshape(2, 4), use_resource=False
            )
            step = tf.compat.v1.train.get_or_create_global_step()
        with tf.device("/cpu:1"):
            res = tf.compat.v1.get_variable("res", initializer=np.ones((3, 3), np.float32), use_resource=True)
            part = tf.compat.v1.get_variable(
                "part",
                shape=[10, 4],
                initializer=tf.compat.v1.random_normal_initializer(),
                partitioner=tf.compat.v1.fixed_size_partitioner(3),
                use_resource=False,
            )
            tf.compat.v1.get_variable("strs", initializer=tf.constant([b"a", b"bb"]), use_resource=True)
        loss = tf.cast(tf.reduce_sum(ref), tf.float32) + tf.reduce_sum(res) + tf.reduce_sum(tf.concat(list(part), 0))
        train = tf.compat.v1.train.AdamOptimizer(0.01).minimize(loss, global_step=step)
        saver = tf.compat.v1.train.Saver(sharded=True)
        with tf.compat.v1.Session(config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(train)
            path = saver.save(sess, prefix, global_step=step)
            full_part = sess.run(tf.concat(list(part), 0))
    ours = _assert_matches_tf(tf, path, ["ref", "res", "part", "strs", "global_step", "ref/Adam"])
    assert ours.num_shards == 2
    assert len(ours.entry("part")["slices"]) == 3
    assert _same(ours.get_tensor("part"), full_part)
    assert "part/Adam_1" in ours.get_variable_to_shape_map()
    assert fc.latest_checkpoint(tmp_path / "v1") == tf.train.latest_checkpoint(str(tmp_path / "v1"))
    # The slice keys TF wrote are exactly the ones we compute.
    keys = set(ours._reader.keys())
    for s in ours.entry("part")["slices"]:
        assert _core.encode_tensor_name_slice("part", s) in keys


def test_fastmeta_written_restores_in_tf(tf, tmp_path):
    arrays = _sample_arrays()
    prefix = fc.write_checkpoint(tmp_path / "ours", arrays)
    theirs = tf.train.load_checkpoint(prefix)
    for name, want in arrays.items():
        got = theirs.get_tensor(name)
        if name == "bf16":
            got = np.asarray(got).view(np.uint16)
            want = want.view(np.uint16)
        assert _same(got, want), name
    # RestoreV2 with explicit dtypes, too.
    names = ["f32", "s", "c128", "b"]
    dtypes = [tf.float32, tf.string, tf.complex128, tf.bool]
    restored = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * 4, dtypes=dtypes)
    for name, t in zip(names, restored):
        assert _same(t.numpy(), arrays[name]), name
    _assert_matches_tf(tf, prefix)


def test_fastmeta_partitioned_restores_in_tf(tf, tmp_path):
    full = np.arange(30, dtype=np.float32).reshape(10, 3)
    prefix = fc.write_checkpoint(
        tmp_path / "p",
        {
            "part": [
                PartitionedSlice([10, 3], [0, 0], full[:4]),
                PartitionedSlice([10, 3], [4, 0], full[4:]),
            ]
        },
    )
    assert _same(tf.train.load_checkpoint(prefix).get_tensor("part"), full)
    # ... and a partitioned variable restores from it through a Saver.
    with tf.Graph().as_default():
        part = tf.compat.v1.get_variable("part", shape=[10, 3], partitioner=tf.compat.v1.fixed_size_partitioner(2))
        with tf.compat.v1.Session() as sess:
            tf.compat.v1.train.Saver().restore(sess, prefix)
            assert _same(sess.run(tf.concat(list(part), 0)), full)


def test_byte_identical_to_savev2(tf, tmp_path):
    values = _tf_values(tf)
    names = sorted(values)
    tf.raw_ops.SaveV2(
        prefix=str(tmp_path / "tf"),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[values[n] for n in names],
    )
    arrays = {}
    for n in names:
        v = values[n].numpy()
        arrays[n] = v if values[n].dtype != tf.bfloat16 or ml_dtypes is not None else None
    if any(v is None for v in arrays.values()):
        pytest.skip("needs ml_dtypes for bfloat16")
    fc.write_checkpoint(tmp_path / "fm", arrays)
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / f"tf{suffix}").read_bytes() == (tmp_path / f"fm{suffix}").read_bytes()


def test_names_of_4_kib_and_more_are_written_as_savev2_writes_them(tf, tmp_path):
    """A table entry's header and key of 4 KiB or more (the size the table writer takes
    from the caller's memory rather than copy) once came out as freed bytes."""
    names = [*sorted(c * n for c in "abc" for n in (4091, 4092, 4093, 9000)), "z"]
    values = {n: np.arange(i, i + 3, dtype=np.float32) for i, n in enumerate(names)}
    tf.raw_ops.SaveV2(
        prefix=str(tmp_path / "tf"),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[values[n] for n in names],
    )
    fc.write_checkpoint(tmp_path / "fm", values)
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / f"tf{suffix}").read_bytes() == (tmp_path / f"fm{suffix}").read_bytes()
    got = fc.load_checkpoint(tmp_path / "fm")
    assert sorted(got.get_variable_to_shape_map()) == names
    for n in names:
        np.testing.assert_array_equal(got.get_tensor(n), values[n])


def test_partitioned_write_is_savev2s_bytes(tf, tmp_path):
    """write_checkpoint with partitions among whole tensors: SaveV2's bytes for the names
    in order, slices in the order given with the spec a partitioned variable's Saver
    gives (every extent explicit), data in that order (not the slice keys' order)."""
    emb = np.arange(12, dtype=np.float32).reshape(6, 2)
    cols = np.arange(6, dtype=np.int64).reshape(2, 3)
    parts = {"emb": [(4, 2), (0, 4)], "cols": [(0, 1), (1, 2)]}
    tensors = {
        "z": np.float32(1.5),
        "emb": [fc.PartitionedSlice([6, 2], [start, 0], emb[start : start + n]) for start, n in parts["emb"]],
        "a": np.arange(3, dtype=np.int32),
        "cols": [fc.PartitionedSlice([2, 3], [0, start], cols[:, start : start + n]) for start, n in parts["cols"]],
    }
    names, specs, values = [], [], []
    for name in sorted(tensors):
        if name == "emb":
            for start, n in parts["emb"]:
                names.append(name)
                specs.append(f"6 2 {start},{n}:0,2")
                values.append(emb[start : start + n])
        elif name == "cols":
            for start, n in parts["cols"]:
                names.append(name)
                specs.append(f"2 3 0,2:{start},{n}")
                values.append(cols[:, start : start + n])
        else:
            names.append(name)
            specs.append("")
            values.append(tensors[name])
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "tf"), tensor_names=names, shape_and_slices=specs, tensors=values)
    fc.write_checkpoint(tmp_path / "fm", tensors)
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / f"tf{suffix}").read_bytes() == (tmp_path / f"fm{suffix}").read_bytes(), suffix
    reader = tf.train.load_checkpoint(str(tmp_path / "fm"))
    np.testing.assert_array_equal(reader.get_tensor("emb"), emb)
    np.testing.assert_array_equal(reader.get_tensor("cols"), cols)


@pytest.mark.parametrize("odd", ["run[1]", "back\\slash", "star*", "what?"])
def test_prefixes_with_glob_characters_are_taken_literally(tf, tmp_path, odd):
    """TensorFlow finds a V2 checkpoint by glob: a prefix holding `[` or a backslash
    matches nothing there (README: deliberately better); fastmeta opens every one."""
    d = tmp_path / odd
    d.mkdir()
    prefix = fc.write_checkpoint(d / "model", {"w": np.arange(2.0)})
    fc.update_checkpoint_state(d, prefix)
    assert fc.latest_checkpoint(d) == prefix
    np.testing.assert_array_equal(fc.load_checkpoint(d).get_tensor("w"), np.arange(2.0))
    found = tf.train.latest_checkpoint(str(d))
    assert found == (None if ("[" in odd or "\\" in odd) else prefix)


def test_update_checkpoint_state_read_by_tf(tf, tmp_path):
    d = tmp_path / "s"
    p1 = fc.write_checkpoint(d / "a-1", {"x": np.zeros(1)})
    p2 = fc.write_checkpoint(d / "a-2", {"x": np.ones(1)})
    fc.update_checkpoint_state(d, p2, [p1], all_model_checkpoint_timestamps=[1.0, 2.5], last_preserved_timestamp=0.5)
    st = tf.train.get_checkpoint_state(str(d))
    assert st.model_checkpoint_path == p2
    assert list(st.all_model_checkpoint_paths) == [p1, p2]
    assert list(st.all_model_checkpoint_timestamps) == [1.0, 2.5]
    assert tf.train.latest_checkpoint(str(d)) == fc.latest_checkpoint(d) == p2
    # TF-written state files (relative paths) resolve the same way.
    tf.compat.v1.train.update_checkpoint_state(str(d), "a-1", ["a-1"])
    assert fc.latest_checkpoint(d) == tf.train.latest_checkpoint(str(d)) == str(d / "a-1")


@pytest.mark.parametrize("relative_dir", [True, False])
@pytest.mark.parametrize("save_relative_paths", [False, True])
def test_update_checkpoint_state_writes_what_tf_writes(tf, tmp_path, monkeypatch, relative_dir, save_relative_paths):
    """Paths in the state file as TensorFlow writes them: relative to a relative save_dir
    ("run/model-1" -> "model-1"), absolute ones made relative with save_relative_paths."""
    monkeypatch.chdir(tmp_path)
    written = {}
    for who in ("tf", "fm"):
        run = f"{who}run" if relative_dir else str(tmp_path / f"{who}run")
        os.makedirs(run)
        paths = [os.path.join(run, "model-1"), os.path.join(run, "model-2"), str(tmp_path / who / "elsewhere-3")]
        kwargs = dict(
            all_model_checkpoint_paths=paths[:2],
            all_model_checkpoint_timestamps=[],
            save_relative_paths=save_relative_paths,
        )
        if who == "tf":  # (what TensorFlow's Saver.save calls)
            from tensorflow.python.checkpoint import checkpoint_management

            checkpoint_management.update_checkpoint_state_internal(run, paths[2], **kwargs)
        else:
            fc.update_checkpoint_state(run, paths[2], **kwargs)
        written[who] = (
            open(os.path.join(run, "checkpoint")).read().replace("fmrun", "tfrun").replace("/fm/", "/tf/"),
            fc.latest_checkpoint(run),
            tf.train.latest_checkpoint(run),
        )
    assert written["fm"][0] == written["tf"][0]
    assert written["fm"][1] == written["fm"][2]
    assert written["tf"][1] == written["tf"][2]


def test_tf_exotic_dtypes(tf, tmp_path):
    """int4/uint4, int2/uint2, float8, float4 and quantized types: stored one element per
    byte/word (int2, uint2 and float4_e2m1fn, DataTypes 31-33, were unknown to fastmeta)."""
    ml = pytest.importorskip("ml_dtypes")
    values = {
        "i4": tf.cast(tf.constant([1, -2, 7, -8]), tf.as_dtype("int4")),
        "u4": tf.cast(tf.constant([0, 15, 3]), tf.as_dtype("uint4")),
        "f8a": tf.cast(tf.constant([1.0, -2.0, 0.5]), tf.as_dtype("float8_e5m2")),
        "f8b": tf.cast(tf.constant([1.0, -448.0]), tf.as_dtype("float8_e4m3fn")),
        "i2": tf.constant(np.array([1, -2, 0], ml.int2)),
        "u2": tf.constant(np.array([0, 3, 2], ml.uint2)),
        "f4": tf.constant(np.array([0.5, -6.0, 1.5], ml.float4_e2m1fn)),
        "q8": tf.constant(np.array([1, -3], np.int8), dtype=tf.qint8),
        "qu8": tf.constant(np.array([1, 250], np.uint8), dtype=tf.quint8),
        "q32": tf.constant(np.array([1, -3], np.int32), dtype=tf.qint32),
    }
    names = sorted(values)
    prefix = str(tmp_path / "x")
    tf.raw_ops.SaveV2(
        prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=[values[n] for n in names]
    )
    ours = _assert_matches_tf(tf, prefix, names)
    assert ours.get_tensor("i4").dtype == np.dtype(ml.int4)
    assert ours.get_tensor("f4").dtype == np.dtype(ml.float4_e2m1fn)
    assert ours.get_variable_to_dtype_map()["i2"] == "int2"
    # fastmeta writes the ml_dtypes types back as the same TF dtypes.
    plain = {n: ours.get_tensor(n) for n in ["i4", "u4", "f8a", "f8b", "i2", "u2", "f4"]}
    back = fc.write_checkpoint(tmp_path / "back", plain)
    theirs = tf.train.load_checkpoint(back)
    for n, v in plain.items():
        assert theirs.get_variable_to_dtype_map()[n] == values[n].dtype
        assert _same(theirs.get_tensor(n), v), n


def test_big_endian_arrays_are_written_little_endian(tmp_path):
    native = {"a": np.arange(6, dtype=np.int32).reshape(2, 3), "f": np.array([1.5, -2.0])}
    swapped = {k: v.astype(v.dtype.newbyteorder(">")) for k, v in native.items()}
    fc.write_checkpoint(tmp_path / "n", native)
    fc.write_checkpoint(tmp_path / "s", swapped)
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / f"n{suffix}").read_bytes() == (tmp_path / f"s{suffix}").read_bytes()


def test_inspect_checkpoint_prints_values_json_can_hold(tmp_path, capsys):
    from fastmeta.cli import main

    prefix = fc.write_checkpoint(
        tmp_path / "m",
        {
            "c": np.array([1 + 2j, -3j], dtype=np.complex64),
            "i": np.arange(4, dtype=np.int64).reshape(2, 2),
            "s": np.array([b"x", b"\xff"], dtype=object),
            "h": np.array([0.5], dtype=np.float16),
        },
    )
    assert (
        main(
            ["inspect-checkpoint", prefix, "--json", "--tensor", "c", "--tensor", "i", "--tensor", "s", "--tensor", "h"]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["values"] == {"c": [[1.0, 2.0], [0.0, -3.0]], "i": [[0, 1], [2, 3]], "s": ["x", "\\xff"], "h": [0.5]}
    assert main(["inspect-checkpoint", prefix, "--tensor", "i"]) == 0
    assert "[[0 1]" in capsys.readouterr().out


def test_a_full_shape_its_slices_cannot_fill_is_refused_before_allocating(tmp_path):
    # 300000 x 300000 float32 is 360 GB: refused from the index, nothing allocated.
    block = np.ones((2, 2), dtype=np.float32)
    strings = [PartitionedSlice([10**9], [0], np.array([b"a"], dtype=object))]
    prefix = fc.write_checkpoint(
        tmp_path / "m", {"p": [PartitionedSlice([300000, 300000], [0, 0], block)], "s": strings}
    )
    r = fc.load_checkpoint(prefix)
    with pytest.raises(CheckpointError, match=r"'p': its slices cover at most 16 of the 360000000000 bytes"):
        r.get_tensor("p")
    with pytest.raises(CheckpointError, match=r"'s': its slices cover at most"):
        r.get_tensor("s")


@pytest.mark.parametrize("kind", ["float", "string"])
def test_overlapping_slices_are_refused_wherever_they_lie(tmp_path, kind):
    # A 4x6 grid of 2x3 blocks, plus one block overlapping the first only (listed last).
    dtype = np.float32 if kind == "float" else object
    grid = (
        np.arange(24).astype(dtype).reshape(4, 6)
        if kind == "float"
        else np.array([[str(i).encode() for i in range(r * 6, r * 6 + 6)] for r in range(4)], dtype=object)
    )
    blocks = [PartitionedSlice([4, 6], [r, c], grid[r : r + 2, c : c + 3]) for r in (0, 2) for c in (0, 3)]
    good = fc.write_checkpoint(tmp_path / "good", {"g": blocks})
    assert _same(fc.load_checkpoint(good).get_tensor("g"), grid)
    extra = PartitionedSlice([4, 6], [1, 2], grid[1:2, 2:3])
    bad = fc.write_checkpoint(tmp_path / "bad", {"g": [*blocks, extra]})
    with pytest.raises(CheckpointError, match=r"bad.index: partitioned tensor 'g' has overlapping slices"):
        fc.load_checkpoint(bad).get_tensor("g")


def test_a_tensor_of_many_small_slices_is_reassembled(tmp_path):
    # 20000 one-element slices, listed in reverse: each placed once, none compared with
    # every other (the overlap check is one bit per element).
    n = 20000
    full = np.arange(n, dtype=np.float32) * 0.5
    slices = [PartitionedSlice([n], [i], full[i : i + 1]) for i in reversed(range(n))]
    prefix = fc.write_checkpoint(tmp_path / "m", {"w": slices})
    r = fc.load_checkpoint(prefix)
    assert r.entry("w")["num_slices"] == n
    assert _same(r.get_tensor("w"), full)


@pytest.mark.parametrize(
    "shape", [[1] * 65, [1] * 254, [0, 2**62], [2**62, 0, 3]], ids=["rank65", "rank254", "zero_by_huge", "huge_by_zero"]
)
def test_a_shape_numpy_cannot_hold_is_tensorflow_s_value_error(tf, tmp_path, shape):
    # Listed as TensorFlow lists it; get_tensor refuses it as TensorFlow's reader does
    # (a ValueError: numpy's limit on dimensions, or on the product of the non-zero ones),
    # a CheckpointError naming the file and tensor.
    data = b"" if 0 in shape else b"\0" * 4
    _core.write_bundle(str(tmp_path / "m"), [("w", fc.DT_FLOAT, shape, data)])
    ours = fc.load_checkpoint(tmp_path / "m")
    theirs = tf.train.load_checkpoint(str(tmp_path / "m"))
    assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
    with pytest.raises(ValueError) as want:
        theirs.get_tensor("w")
    with pytest.raises(CheckpointError) as got:
        ours.get_tensor("w")
    assert str(got.value) == f"{tmp_path / 'm'}: tensor 'w': {want.value}".rstrip()


def test_more_than_254_dimensions_are_refused_on_opening(tmp_path):
    # TensorFlow's reader aborts the process on such a shape (not compared). Refused as
    # the index is read, whatever follows: a small index cannot make the reader hold an
    # extent per couple of bytes (slices too: the C++ tests).
    _core.write_bundle(str(tmp_path / "m"), [("w", fc.DT_FLOAT, [1] * 255, b"\0" * 4)])
    with pytest.raises(CheckpointError, match=r"m.index: entry for tensor 'w': shape has more than 254 dimensions"):
        fc.load_checkpoint(tmp_path / "m")


def test_an_index_that_is_no_regular_file_is_refused(tmp_path, tf):
    # TensorFlow reads an index by its size (a device's is 0: "too short to be an
    # sstable"); fastmeta read /dev/zero to its end, without bound.
    os.symlink("/dev/zero", tmp_path / "m.index")
    with pytest.raises(Exception, match="too short"):
        tf.train.load_checkpoint(str(tmp_path / "m"))
    with pytest.raises(CheckpointError, match=r"m\.index: not a regular file \(a pipe or device\)"):
        fc.load_checkpoint(tmp_path / "m")


def test_a_huge_sparse_index_fails_on_its_footer(tmp_path):
    # Mapped, not read whole: only the footer's page is touched (fastmeta allocated the
    # file's size first: a MemoryError, or gigabytes read before the CheckpointError).
    path = tmp_path / "m.index"
    try:
        with open(path, "wb") as f:
            f.truncate(16 << 30)
    except OSError:
        pytest.skip("no sparse 16 GiB file here")
    with pytest.raises(CheckpointError, match=r"bad table magic number in footer \(at byte 17179869176\)"):
        fc.load_checkpoint(tmp_path / "m")


def test_a_state_file_that_is_a_device_is_read_by_its_size(tmp_path, tf):
    os.symlink("/dev/zero", tmp_path / "checkpoint")
    with pytest.raises(ValueError, match="Invalid checkpoint state loaded from") as theirs:
        tf.train.latest_checkpoint(str(tmp_path))
    with pytest.raises(CheckpointError) as ours:
        fc.latest_checkpoint(tmp_path)
    assert str(ours.value) == str(theirs.value)


def test_paths_are_cleaned_lexically_as_tensorflow_cleans_them(tmp_path, tf):
    # TensorFlow's file system cleans a path before it opens it: "d/missing/../m" is
    # d/m, and "link/../d" the link's own parent's d, whatever the link points to.
    d = tmp_path / "d"
    d.mkdir()
    fc.write_checkpoint(d / "m", {"w": np.arange(3, dtype=np.float32)})
    (tmp_path / "elsewhere" / "deep").mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere" / "deep", tmp_path / "link")
    state = tmp_path / "state"
    state.mkdir()
    (state / "checkpoint").write_text('model_checkpoint_path: "nope/../../d/m"\n')
    for path in (f"{d}/missing/../m", f"{tmp_path}/link/../d/m", str(state)):
        assert fc.list_variables(path) == tf.train.list_variables(path) == [("w", [3])], path
    assert fc.latest_checkpoint(state) == tf.train.latest_checkpoint(str(state)) == f"{state}/nope/../../d/m"
    assert fc.load_checkpoint(f"{d}/missing/../m").get_tensor("w").tolist() == [0.0, 1.0, 2.0]


def test_a_big_endian_bundle_is_read_as_tensorflow_reads_it(tmp_path, tf):
    # Written on a big-endian machine (the header says BIG): TensorFlow swaps each
    # element into this machine's order after checking the stored bytes' checksum;
    # fastmeta refused such a checkpoint.
    ml = pytest.importorskip("ml_dtypes")
    arrays = {
        "f32": np.array([1.5, -2.0, 3.25], np.float32),
        "f64": np.array([[1.5], [-1e300]], np.float64),
        "i64": np.array([1, 2**40], np.int64),
        "u16": np.array([258, 65535], np.uint16),
        "f16": np.array([0.5, -2.0], np.float16),
        "bf16": np.array([1.5, -2.0], ml.bfloat16),
        "c64": np.array([1 + 2j, -3.5j], np.complex64),
        "c128": np.array([1e200 + 2j], np.complex128),
        "b": np.array([True, False, True]),
        "i8": np.array([-3, 7], np.int8),
    }
    enums = {"f32": 1, "f64": 2, "i64": 9, "u16": 17, "f16": 19, "bf16": 14, "c64": 8, "c128": 18, "b": 10, "i8": 6}
    strings = [b"", b"abc", b"\xff" * 300]
    tensors = []
    for name, a in arrays.items():
        parts = a.view(a.real.dtype) if a.dtype.kind == "c" else a
        stored = parts.astype(parts.dtype.newbyteorder(">")).tobytes()
        tensors.append((name, enums[name], a.shape, stored))
    tensors.append(("s", 7, [3], string_tensor(strings, big_endian=True)))
    prefix = v2_bundle(tmp_path / "be", tensors, endianness=1)
    ours, theirs = fc.load_checkpoint(prefix), tf.train.load_checkpoint(prefix)
    for name, a in arrays.items():
        got, want = ours.get_tensor(name), theirs.get_tensor(name)
        assert got.dtype == a.dtype and got.tobytes() == a.tobytes() == np.asarray(want).tobytes(), name
    assert list(ours.get_tensor("s")) == list(theirs.get_tensor("s")) == strings
    # A little-endian copy of the same values reads the same (the checksums differ).
    little = v2_bundle(
        tmp_path / "le",
        [(n, enums[n], a.shape, a.tobytes()) for n, a in arrays.items()] + [("s", 7, [3], string_tensor(strings))],
    )
    for name, a in arrays.items():
        assert fc.load_checkpoint(little).get_tensor(name).tobytes() == a.tobytes()
    # A byte flipped in the stored (big-endian) bytes: the checksum of what is stored fails.
    data = tmp_path / "be.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[0] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        fc.load_checkpoint(prefix).get_tensor("f32")
