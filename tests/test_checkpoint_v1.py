"""Legacy V1 checkpoints (what a ``SaverDef.V1`` Saver's SaveSlices ops write), read
and written without TensorFlow: checked against TensorFlow's own V1 files (byte for byte
for the ones fastmeta writes) and reader, and against hand-built files for every way
such a file can be wrong.

A V1 file is a sorted string table: the "" entry holds a SavedTensorSlices whose
``meta`` lists each tensor (name, full shape, dtype, the slices this file stores); each
stored slice is an entry keyed by ``EncodeTensorNameSlice(name, slice)`` whose
SavedTensorSlices ``data`` holds the values in a TensorProto's typed repeated fields.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from pathlib import Path
from typing import Any

import fastmeta
import fastmeta.checkpoint as fc
import numpy as np
import pytest
from fastmeta import _core
from fastmeta.checkpoint import CheckpointError
from fastmeta.saver import remove_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
from make_seeds import field, varint
from sstable_builder import table as _table

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"

# DataType enums used below.
DT_FLOAT, DT_INT32, DT_STRING, DT_INT64, DT_BOOL, DT_HALF, DT_RESOURCE = 1, 3, 7, 9, 10, 19, 20


# ---------------------------------------------------------------------------
# a V1 file writer (protobuf wire format + LevelDB table, by hand)
# ---------------------------------------------------------------------------
_varint, _field, _int_field = varint, field, field


def _slice_proto(extents: list[tuple[int, int]]) -> bytes:
    """TensorSliceProto: an extent per dimension, length -1 = the whole dimension."""
    out = b""
    for start, length in extents:
        ext = (_int_field(1, start) if start else b"") + (_int_field(2, length) if length >= 0 else b"")
        out += _field(1, ext)
    return out


def _meta(tensors: list[tuple[str, list[int], int, list[list[tuple[int, int]]]]], versions: bytes = b"") -> bytes:
    """The "" entry: SavedTensorSlices{meta: SavedTensorSliceMeta}."""
    body = b""
    for name, shape, dtype, slices in tensors:
        shape_proto = b"".join(_field(2, _int_field(1, d)) for d in shape)
        ssm = _field(1, name.encode()) + _field(2, shape_proto) + _int_field(3, dtype)
        ssm += b"".join(_field(4, _slice_proto(s)) for s in slices)
        body += _field(1, ssm)
    body += _field(2, versions or _int_field(1, 1))
    return _field(1, body)


def _packed(number: int, values: bytes) -> bytes:
    return _field(number, values)


def _data(name: str, extents: list[tuple[int, int]], tensor_proto: bytes) -> tuple[bytes, bytes]:
    """(key, value) of one stored slice."""
    key = _core.encode_tensor_name_slice(name, extents)
    saved_slice = _field(1, name.encode()) + _field(2, _slice_proto(extents)) + _field(3, tensor_proto)
    return key, _field(2, saved_slice)


def _floats(values: list[float]) -> bytes:
    return _packed(5, struct.pack(f"<{len(values)}f", *values))


def _write_v1(path: Path, meta: bytes, data: list[tuple[bytes, bytes]]) -> str:
    path.write_bytes(_table([(b"", meta), *data]))
    return str(path)


def _one_float_tensor(tmp_path: Path, values: bytes, shape: list[int] | None = None) -> str:
    shape = [3] if shape is None else shape
    full = [(0, -1)] * len(shape)
    return _write_v1(tmp_path / "m.ckpt", _meta([("w", shape, DT_FLOAT, [full])]), [_data("w", full, values)])


# ---------------------------------------------------------------------------
# hand-built files: what is read, and every error
# ---------------------------------------------------------------------------
def test_a_hand_built_file_reads_back(tmp_path: Path) -> None:
    full = [(0, -1), (0, -1)]
    top, bottom = [(0, 1), (0, -1)], [(1, 2), (0, -1)]
    left, right = [(0, -1), (0, 1)], [(0, -1), (1, 2)]
    meta = _meta([
        ("a", [2, 2], DT_FLOAT, [full]),
        ("rows", [3, 2], DT_INT64, [top, bottom]),
        ("cols", [2, 3], DT_INT32, [left, right]),
        ("s", [2], DT_STRING, [[(0, -1)]]),
        ("flag", [], DT_BOOL, [[]]),
        ("h", [2], DT_HALF, [[(0, -1)]]),
        ("not_stored", [4], DT_FLOAT, []),  # (no slices: TensorFlow registers nothing)
    ])  # fmt: skip
    data = [
        _data("a", full, _floats([1.0, 2.0, 3.0, 4.0])),
        _data("rows", top, _packed(10, _varint(-1) + _varint(2))),
        _data("rows", bottom, _packed(10, b"".join(_varint(v) for v in (3, 4, 5, 6)))),
        # unpacked int32 values are read as well as packed ones
        _data("cols", left, _int_field(7, 10) + _int_field(7, 20)),
        _data("cols", right, _packed(7, b"".join(_varint(v) for v in (11, 12, 21, 22)))),
        _data("s", [(0, -1)], _field(8, b"x") + _field(8, b"")),
        _data("flag", [], _packed(11, b"\x01")),
        _data("h", [(0, -1)], _packed(13, _varint(0x3C00) + _varint(0xC000))),
    ]
    reader = fc.load_checkpoint(_write_v1(tmp_path / "m.ckpt", meta, data))
    assert reader.format == "V1" and reader.num_shards == 1
    assert reader.get_variable_to_shape_map() == {
        "a": [2, 2], "rows": [3, 2], "cols": [2, 3], "s": [2], "flag": [], "h": [2]
    }  # fmt: skip
    assert reader.get_variable_to_dtype_map()["h"] == "float16"
    np.testing.assert_array_equal(reader.get_tensor("a"), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(reader.get_tensor("rows"), [[-1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(reader.get_tensor("cols"), [[10, 11, 12], [20, 21, 22]])
    assert reader.get_tensor("cols").dtype == np.int32
    assert reader.get_tensor("s").tolist() == [b"x", b""]
    assert reader.get_tensor("flag") is np.True_
    np.testing.assert_array_equal(reader.get_tensor("h"), np.array([1.0, -2.0], np.float16))
    assert reader.entry("rows")["slices"] == [((0, 1), (0, -1)), ((1, 2), (0, -1))]
    assert reader.entry("a")["slices"] == []
    assert not reader.has_tensor("not_stored")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (_floats([1.0, 2.0]), "tensor 'w' slice -: holds 2 values, not the 3 its slice has"),
        (_floats([1.0, 2.0, 3.0, 4.0]), "holds more than the 3 values its slice has"),
        (_int_field(5, 7), "field 5 has wire type 0, not that of float32 values"),
        (_packed(5, b"\0\0\0\0\0\0"), "truncated fixed32"),
        (b"\x2a\x09\x00", "runs past the end"),
    ],
)
def test_wrong_values_name_the_file_and_tensor(tmp_path: Path, values: bytes, message: str) -> None:
    path = _one_float_tensor(tmp_path, values)
    reader = fc.load_checkpoint(path)  # (values are read when asked for)
    with pytest.raises(CheckpointError, match=re.escape(message)) as info:
        reader.get_tensor("w")
    assert path in str(info.value)


def test_slices_that_overlap_leave_gaps_or_lie_outside(tmp_path: Path) -> None:
    first, second = [(0, 2)], [(1, 2)]
    meta = _meta([("w", [4], DT_FLOAT, [first, second])])
    data = [_data("w", first, _floats([1, 2])), _data("w", second, _floats([3, 4]))]
    with pytest.raises(CheckpointError, match=r"m.ckpt: tensor 'w': slice 1,2 overlaps slice 0,2"):
        fc.load_checkpoint(_write_v1(tmp_path / "m.ckpt", meta, data))
    meta = _meta([("w", [4], DT_FLOAT, [first])])
    reader = fc.load_checkpoint(_write_v1(tmp_path / "m.ckpt", meta, data[:1]))
    with pytest.raises(CheckpointError, match="its slices cover 2 of its 4 elements"):
        reader.get_tensor("w")
    meta = _meta([("w", [4], DT_FLOAT, [[(3, 2)]])])
    with pytest.raises(CheckpointError, match=r"slice 3,2 lies outside its shape \[4\]"):
        fc.load_checkpoint(_write_v1(tmp_path / "m.ckpt", meta, []))
    meta = _meta([("w", [4, 2], DT_FLOAT, [[(0, -1)]])])
    with pytest.raises(CheckpointError, match="has rank 1, its shape"):
        fc.load_checkpoint(_write_v1(tmp_path / "m.ckpt", meta, []))


def test_too_many_slices_are_refused(tmp_path: Path) -> None:
    n = 10_001
    meta = _meta([("w", [n], DT_FLOAT, [[(i, 1)] for i in range(n)])])
    with pytest.raises(CheckpointError, match="stored in more than 10000 slices"):
        fc.load_checkpoint(_write_v1(tmp_path / "m.ckpt", meta, []))


def test_a_huge_shape_with_little_data_allocates_nothing(tmp_path: Path) -> None:
    path = _one_float_tensor(tmp_path, _floats([1.0]), shape=[10**12])
    reader = fc.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="too few for its 1000000000000 float32 elements"):
        reader.get_tensor("w")


def test_missing_data_unknown_dtype_and_versions(tmp_path: Path) -> None:
    full = [(0, -1)]
    path = _write_v1(tmp_path / "m.ckpt", _meta([("w", [1], DT_FLOAT, [full])]), [])
    with pytest.raises(CheckpointError, match="tensor 'w' slice -: its data entry is missing"):
        fc.load_checkpoint(path).get_tensor("w")
    meta = _meta([("r", [1], DT_RESOURCE, [full])])
    path = _write_v1(tmp_path / "m.ckpt", meta, [_data("r", full, b"")])
    reader = fc.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="tensor 'r' has dtype resource, which cannot be read as a numpy"):
        reader.get_tensor("r")
    with pytest.raises(CheckpointError, match="tensor 'r' has dtype resource, which a V1 checkpoint cannot hold"):
        reader._reader.nbytes("r")  # (the core's own check)
    versions = _int_field(1, 1) + _int_field(2, 2)
    path = _write_v1(tmp_path / "m.ckpt", _meta([("w", [1], DT_FLOAT, [full])], versions), [])
    with pytest.raises(CheckpointError, match="requires reader version >= 2"):
        fc.load_checkpoint(path)
    versions = _int_field(1, 1) + _int_field(3, 1)
    path = _write_v1(tmp_path / "m.ckpt", _meta([("w", [1], DT_FLOAT, [full])], versions), [])
    with pytest.raises(CheckpointError, match="disallows reader version 1"):
        fc.load_checkpoint(path)


def test_files_that_disagree_on_a_tensor(tmp_path: Path) -> None:
    top, bottom = [(0, 1)], [(1, 1)]
    a = _write_v1(tmp_path / "m-00000-of-00002", _meta([("w", [2], DT_FLOAT, [top])]), [_data("w", top, _floats([1]))])
    b = _write_v1(tmp_path / "m-00001-of-00002", _meta([("w", [2], DT_FLOAT, [bottom])]),
                  [_data("w", bottom, _floats([2]))])  # fmt: skip
    reader = fc.load_checkpoint(str(tmp_path / "m-?????-of-00002"))
    assert reader.files == [a, b] and reader.num_shards == 2
    np.testing.assert_array_equal(reader.get_tensor("w"), [1, 2])
    assert [p[1] for p in reader.entry("w")["parts"]] == [0, 1]
    _write_v1(tmp_path / "m-00001-of-00002", _meta([("w", [3], DT_FLOAT, [bottom])]), [])
    shape_conflict = r"m-00001-of-00002: tensor 'w' has shape \[3\], but .*m-00000-of-00002 stores it with shape \[2\]"
    with pytest.raises(CheckpointError, match=shape_conflict):
        fc.load_checkpoint(str(tmp_path / "m-?????-of-00002"))
    _write_v1(tmp_path / "m-00001-of-00002", _meta([("w", [2], DT_INT32, [bottom])]), [])
    with pytest.raises(CheckpointError, match=r"has dtype int32, but .* stores it as float32"):
        fc.load_checkpoint(str(tmp_path / "m-?????-of-00002"))


def test_files_that_are_not_v1_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    path.write_bytes(b"\0" * 100)
    with pytest.raises(CheckpointError, match=r"m.ckpt.*\(read as a V1 checkpoint file\)"):
        fc.load_checkpoint(path)
    good = _table([(b"", _meta([("w", [1], DT_FLOAT, [[(0, -1)]])]))])
    for cut in (1, 10, len(good) // 2, len(good) - 1):
        path.write_bytes(good[:cut])
        with pytest.raises(CheckpointError, match=r"m\.ckpt"):
            fc.load_checkpoint(path)
    path.write_bytes(_table([(b"", b"\x08\x01")]))  # (a V2 index's header is not a meta)
    with pytest.raises(CheckpointError, match="holds no SavedTensorSliceMeta: not a V1 checkpoint"):
        fc.load_checkpoint(path)
    path.write_bytes(_table([(b"k", b"")]))
    with pytest.raises(CheckpointError, match="no metadata entry"):
        fc.load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"checkpoint index not found .* no V1 checkpoint file matches"):
        fc.load_checkpoint(tmp_path / "nothing")


def test_mutated_values_raise_checkpoint_errors_only(tmp_path: Path) -> None:
    """Random byte edits of every stored slice's message (table rebuilt, so its
    checksums hold): each read returns an array or raises CheckpointError."""
    rng = np.random.default_rng(7)
    left, right = [(0, -1), (0, 1)], [(0, -1), (1, 2)]
    meta = _meta([("cols", [2, 3], DT_INT64, [left, right]), ("s", [2], DT_STRING, [[(0, -1)]])])
    data = [
        _data("cols", left, _packed(10, _varint(1) + _varint(2))),
        _data("cols", right, _packed(10, b"".join(_varint(v) for v in (3, 4, 5, 6)))),
        _data("s", [(0, -1)], _field(8, b"abc") + _field(8, b"de")),
    ]
    outcomes = {"ok": 0, "error": 0}
    for trial in range(300):
        mutated = []
        for key, value in data:
            b = bytearray(value)
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(len(b)))] = int(rng.integers(256))
            mutated.append((key, bytes(b)))
        reader = fc.load_checkpoint(_write_v1(tmp_path / f"m{trial % 3}.ckpt", meta, mutated))
        for name in ("cols", "s"):
            try:
                reader.get_tensor(name)
                outcomes["ok"] += 1
            except CheckpointError:
                outcomes["error"] += 1
    assert outcomes["ok"] and outcomes["error"]


# ---------------------------------------------------------------------------
# TensorFlow's own V1 files
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


# Every dtype TensorFlow's V1 writer (SaveSlices) takes; bfloat16, uint32 and uint64 it refuses.
V1_DTYPES = ["float32", "float64", "int32", "uint8", "int16", "int8", "string", "complex64", "int64",
             "bool", "uint16", "complex128", "float16"]  # fmt: skip


def _values(dtype: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if dtype == "string":
        return np.array([bytes(rng.integers(0, 256, size=i % 4)) for i in range(n)], dtype=object).reshape(shape)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.startswith("complex"):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype.startswith("float"):
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.fixture(scope="module")
def tf_v1_checkpoints(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """TensorFlow writes: every V1 dtype in several shapes (scalar, empty, 3-d),
    variables partitioned along either dimension, from one Saver and from a sharded one
    over two devices. Returns the paths and each variable's value."""
    from tensorflow.core.protobuf import saver_pb2

    v1 = tf.compat.v1
    root = tmp_path_factory.mktemp("v1")
    (root / "single").mkdir()
    (root / "sharded").mkdir()
    graph = tf.Graph()
    values: dict[str, np.ndarray] = {}
    with graph.as_default():
        for i, dtype in enumerate(V1_DTYPES):
            for j, shape in enumerate([(), (0, 3), (2, 3, 2)]):
                value = _values(dtype, shape, 100 * i + j)
                name = f"{dtype}/v{j}"
                v1.Variable(tf.constant(value, dtype=dtype), name=name)
                values[name] = value
        for axis in (0, 1):
            full = _values("float32", (5, 4), axis)
            v1.get_variable(
                f"part{axis}",
                initializer=tf.constant(full),
                partitioner=v1.fixed_size_partitioner(3 if axis == 0 else 2, axis=axis),
            )
            values[f"part{axis}"] = full
        # Values past TensorFlow's 256 KiB table blocks, each then alone in its block
        # (but the first): read straight into the arrays, whole and in row slices.
        for name, dtype, shape in [
            ("big/a", "float32", (300, 300)),
            ("big/b", "float64", (200, 200)),
            ("big/c", "complex64", (150, 300)),
        ]:
            values[name] = _values(dtype, shape, len(name) + shape[0])
            v1.Variable(tf.constant(values[name]), name=name)
        # One of 512 KiB and more after small ones: TensorFlow writes the block before it
        # first, so it too is alone in its block.
        values["huge/a"] = _values("float32", (3,), 12)
        values["huge/b"] = _values("float32", (400, 400), 13)
        for name in ("huge/a", "huge/b"):
            v1.Variable(tf.constant(values[name]), name=name)
        values["big/p"] = _values("float32", (1000, 200), 11)
        v1.get_variable(
            "big/p", initializer=tf.constant(values["big/p"]), partitioner=v1.fixed_size_partitioner(2, axis=0)
        )
        saver = v1.train.Saver(write_version=saver_pb2.SaverDef.V1, max_to_keep=None)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            single = saver.save(sess, str(root / "single" / "model.ckpt"))
    # A sharded saver over two devices: one file each.
    graph = tf.Graph()
    with graph.as_default():
        for d in range(2):
            with tf.device(f"/cpu:{d}"):
                v1.Variable(tf.constant(values["float32/v2"] + d), name=f"dev{d}")
        saver = v1.train.Saver(write_version=saver_pb2.SaverDef.V1, sharded=True)
        config = v1.ConfigProto(device_count={"CPU": 2})
        with v1.Session(graph=graph, config=config) as sess:
            sess.run(v1.global_variables_initializer())
            sharded = saver.save(sess, str(root / "sharded" / "model.ckpt"), global_step=3)
    return {"single": single, "sharded": sharded, "values": values, "root": root}


def test_every_dtype_and_partition_reads_as_tensorflow_wrote_it(tf: Any, tf_v1_checkpoints: dict) -> None:
    path = tf_v1_checkpoints["single"]
    assert not os.path.exists(path + ".index") and os.path.isfile(path)
    ours = fc.load_checkpoint(path)
    theirs = tf.train.load_checkpoint(path)
    assert ours.format == "V1"
    unread: set[str] = set()
    assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
    assert ours.get_variable_to_dtype_map() == {k: v.name for k, v in theirs.get_variable_to_dtype_map().items()}
    for name, want in tf_v1_checkpoints["values"].items():
        got = ours.get_tensor(name)
        if want.dtype == object:
            assert np.asarray(got).tolist() == want.tolist(), name
            continue
        got = np.asarray(got)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert got.tobytes() == want.tobytes(), name
        try:
            tf_value = np.asarray(theirs.get_tensor(name))
        except tf.errors.UnimplementedError:
            # TensorFlow's V1 reader refuses tensors stored in slices ("Sliced checkpoints
            # are not supported") and some dtypes ("Data type not supported") its writer
            # writes; fastmeta reads them all (compared with the saved values above).
            unread.add(name)
            continue
        assert got.tobytes() == tf_value.tobytes(), name
    assert {"part0", "part1", "big/p"} <= unread
    assert len(ours.entry("part1")["slices"]) == 2


def test_a_sharded_v1_checkpoint_and_its_state_file(tf: Any, tf_v1_checkpoints: dict) -> None:
    pattern = tf_v1_checkpoints["sharded"]
    directory = os.path.dirname(pattern)
    assert pattern.endswith("model.ckpt-3-?????-of-00002")
    assert fastmeta.latest_checkpoint(directory) == tf.train.latest_checkpoint(directory) == pattern
    reader = fastmeta.load_checkpoint(directory)
    assert reader.format == "V1" and reader.num_shards == 2
    assert [os.path.basename(f) for f in reader.files] == [
        "model.ckpt-3-00000-of-00002", "model.ckpt-3-00001-of-00002"
    ]  # fmt: skip
    theirs = tf.train.load_checkpoint(pattern)
    assert reader.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
    for d in range(2):
        assert reader.get_tensor(f"dev{d}").tobytes() == theirs.get_tensor(f"dev{d}").tobytes()
        assert {p[1] for p in reader.entry(f"dev{d}")["parts"]} == {d}
    assert fastmeta.list_variables(directory) == tf.train.list_variables(directory)
    # Saver.recover_last_checkpoints adopts it with TensorFlow's mtime (its first file's).
    graph = fastmeta.Graph()
    with graph.as_default():
        saver = fastmeta.import_meta_graph(str(CORPUS / "saver_v1.meta"))
    with tf.Graph().as_default():
        tf.compat.v1.get_variable("w", [1])
        tf_saver = tf.compat.v1.train.Saver()
        tf_saver.recover_last_checkpoints([pattern, pattern + "-gone"])
    saver.recover_last_checkpoints([pattern, pattern + "-gone"])
    assert saver._last_checkpoints == tf_saver._last_checkpoints
    assert saver.last_checkpoints == [pattern]


def test_removing_a_v1_checkpoint(tmp_path: Path, tf_v1_checkpoints: dict) -> None:
    import shutil

    src = Path(tf_v1_checkpoints["sharded"]).parent
    shutil.copytree(src, tmp_path / "c")
    pattern = str(tmp_path / "c" / "model.ckpt-3-?????-of-00002")
    (tmp_path / "c" / "model.ckpt-3.meta").write_bytes(b"")  # (named without the shard part)
    (tmp_path / "c" / "model.ckpt-30-00000-of-00002").write_bytes(b"another")  # (not matched)
    remove_checkpoint(pattern)
    assert sorted(os.listdir(tmp_path / "c")) == ["checkpoint", "model.ckpt-30-00000-of-00002"]


def test_inspect_checkpoint_on_a_v1_file(tf_v1_checkpoints: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert fc.inspect_checkpoint_main([tf_v1_checkpoints["single"], "--tensor", "part1"]) == 0
    out = capsys.readouterr().out
    assert "part1" in out and "(2 partitions)" in out and "1 file(s) (V1)" in out
    np.testing.assert_array_equal(
        fc.load_checkpoint(tf_v1_checkpoints["single"]).get_tensor("part1"), tf_v1_checkpoints["values"]["part1"]
    )


def test_a_v1_file_changed_under_an_open_reader(tmp_path: Path, tf_v1_checkpoints: dict) -> None:
    """The values are read when asked for, from the file opened: one truncated or
    rewritten in place meanwhile gives a CheckpointError naming it, never a crash; arrays
    already read are the caller's own (writable, unaffected)."""
    import shutil

    path = tmp_path / "model.ckpt"
    shutil.copyfile(tf_v1_checkpoints["single"], path)
    reader = fc.load_checkpoint(path)
    before = reader.get_tensor("float32/v2")
    assert isinstance(before, np.ndarray) and before.flags.writeable
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 3)
    with pytest.raises(CheckpointError, match=r"model\.ckpt: .*(truncated|changed since it was opened)"):
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    with open(path, "r+b") as f:  # the same size again, other bytes
        f.truncate(size)
    with pytest.raises(CheckpointError, match=r"model\.ckpt: data block at offset \d+: block checksum mismatch"):
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    np.testing.assert_array_equal(before, tf_v1_checkpoints["values"]["float32/v2"])


# ---------------------------------------------------------------------------
# writing: Saver.save of a V1 Saver, and _core.write_slices
# ---------------------------------------------------------------------------
def _perturbed(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for i, (name, value) in enumerate(sorted(values.items())):
        if value.dtype == object:
            out[name] = np.array([x + b"#" * (i % 3) for x in value.ravel()], dtype=object).reshape(value.shape)
        elif value.dtype == bool:
            out[name] = ~value
        else:
            out[name] = (value * 2 + 1).astype(value.dtype)
    return out


@pytest.mark.parametrize("kind", ["single", "sharded"])
def test_saving_writes_tensorflows_own_v1_files(tf: Any, tf_v1_checkpoints: dict, tmp_path: Path, kind: str) -> None:
    """A V1 Saver's Saver.save writes the V1 file(s) its SaveSlices ops write, byte for
    byte: every dtype SaveSlices takes, empty and scalar tensors, partitioned variables
    (the metadata lists a variable's slices in the order TensorFlow's kernel adds them,
    which its unstable sort by name decides), values past the 256 KiB table blocks (and
    one past 512 KiB after small ones, which starts a block of its own), and
    one file per shard of a sharded Saver, whose pattern save returns and records."""
    src = tf_v1_checkpoints[kind]
    step = 3 if kind == "sharded" else None
    meta = str(tf_v1_checkpoints["root"] / kind / ("model.ckpt-3.meta" if step else "model.ckpt.meta"))
    graph = fastmeta.Graph()
    saver = fastmeta.import_meta_graph(meta, graph=graph)
    values = saver.restore(src, graph=graph)
    out = tmp_path / "fm"
    out.mkdir()
    path = saver.save(str(out / "model.ckpt"), values, global_step=step, graph=graph)
    assert path == src.replace(str(tf_v1_checkpoints["root"] / kind), str(out))
    assert fastmeta.latest_checkpoint(str(out)) == tf.train.latest_checkpoint(str(out)) == path
    tf_dir = Path(src).parent
    written = sorted(f for f in os.listdir(tf_dir) if f != "checkpoint" and not f.endswith(".meta"))
    assert sorted(f for f in os.listdir(out) if f != "checkpoint" and not f.endswith(".meta")) == written
    for f in written:
        assert (out / f).read_bytes() == (tf_dir / f).read_bytes(), f

    # Other values: TensorFlow restores them from fastmeta's file, and its own save of
    # them writes the same bytes.
    changed = _perturbed(dict(values))
    (tmp_path / "again").mkdir()
    path = saver.save(str(tmp_path / "again" / "model.ckpt"), changed, global_step=step, graph=graph)
    v1 = tf.compat.v1
    with tf.Graph().as_default() as g:
        tf_saver = v1.train.import_meta_graph(meta)
        config = v1.ConfigProto(device_count={"CPU": 2})
        with v1.Session(graph=g, config=config) as sess:
            tf_saver.restore(sess, path)
            variables = {v.op.name: v for v in v1.global_variables()}
            for name, want in changed.items():
                if name in {"part0", "part1", "big/p"}:
                    continue  # (partitioned: checked through the re-save below)
                got = np.asarray(sess.run(variables[name]))
                if want.dtype == object:
                    assert got.tolist() == want.tolist(), name
                else:
                    assert got.tobytes() == want.tobytes(), name
            (tmp_path / "tf").mkdir()
            tf_path = tf_saver.save(sess, str(tmp_path / "tf" / "model.ckpt"), global_step=step, write_meta_graph=False)
    assert tf_path == path.replace(str(tmp_path / "again"), str(tmp_path / "tf"))
    for f in written:
        assert (tmp_path / "again" / f).read_bytes() == (tmp_path / "tf" / f).read_bytes(), f


def test_saving_v1_keeps_max_to_keep_like_tensorflow(tf: Any, tmp_path: Path) -> None:
    """Old sharded V1 checkpoints beyond max_to_keep are deleted by their pattern, as
    TensorFlow deletes them; the state file lists the patterns."""
    from fastmeta.protos import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((CORPUS / "saver_v1_sharded.meta").read_bytes())
    meta.saver_def.max_to_keep = 2
    graph = fastmeta.Graph()
    saver = fastmeta.import_meta_graph(meta, graph=graph)
    values = saver.restore(str(CORPUS / "saver_v1_sharded"), graph=graph)
    (tmp_path / "fm").mkdir()
    paths = [saver.save(str(tmp_path / "fm" / "m"), values, global_step=s, graph=graph, write_meta_graph=s != 2)
             for s in range(4)]  # fmt: skip
    assert paths[3] == str(tmp_path / "fm" / "m-3-?????-of-00002")
    assert saver.last_checkpoints == paths[2:]
    from tensorflow.core.protobuf import meta_graph_pb2 as tf_meta_graph_pb2

    v1 = tf.compat.v1
    (tmp_path / "tf").mkdir()
    with tf.Graph().as_default() as g:
        tf_saver = v1.train.import_meta_graph(
            tf_meta_graph_pb2.MetaGraphDef.FromString(meta.SerializeToString()), clear_devices=True
        )
        config = v1.ConfigProto(device_count={"CPU": 2})
        with v1.Session(graph=g, config=config) as sess:
            tf_saver.restore(sess, paths[3])
            for s in range(4):
                tf_saver.save(sess, str(tmp_path / "tf" / "m"), global_step=s, write_meta_graph=s != 2)
    assert sorted(os.listdir(tmp_path / "fm")) == sorted(os.listdir(tmp_path / "tf"))
    assert tf.train.get_checkpoint_state(str(tmp_path / "fm")).all_model_checkpoint_paths == paths[2:]


# Every dtype SaveSlices takes (quantized ones as their integer bits), by DataType enum.
V1_WRITABLE = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 8: "complex64",
               9: "int64", 10: "bool", 11: "int8", 12: "uint8", 13: "int32", 15: "int16", 16: "uint16",
               17: "uint16", 18: "complex128", 19: "float16"}  # fmt: skip


def test_write_slices_round_trips_every_dtype(tmp_path: Path) -> None:
    """Random values of every dtype, whole and in slices, read back from the written
    file as written (extreme integers and NaN bit patterns included)."""
    rng = np.random.default_rng(5)
    entries: list[tuple[Any, ...]] = []
    want: dict[str, np.ndarray] = {}
    for enum, dt in V1_WRITABLE.items():
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 70)))
        raw = rng.integers(0, 256, size=int(np.prod(shape)) * np.dtype(dt).itemsize, dtype=np.uint8)
        value = raw.view(dt).reshape(shape) if dt != "bool" else (raw % 2).astype(bool).reshape(shape)
        name = f"t{enum}"
        want[name] = value
        entries.append((name, enum, list(shape), np.ascontiguousarray(value).reshape(-1).view(np.uint8)))
        # The same values again as two column slices, given last one first.
        cut = shape[1] // 2
        for start, stop in [(cut, shape[1]), (0, cut)]:
            part = np.ascontiguousarray(value[:, start:stop])
            data = part.reshape(-1).view(np.uint8)
            entries.append((f"s{enum}", enum, list(part.shape), data, list(shape), [(0, -1), (start, stop - start)]))
        want[f"s{enum}"] = value
    strings = np.array([bytes(rng.integers(0, 256, size=i % 5)) for i in range(12)], dtype=object).reshape(3, 4)
    entries.append(("str", DT_STRING, [3, 4], list(strings.ravel())))
    want["str"] = strings
    _core.write_slices(str(tmp_path / "f"), entries)
    assert os.listdir(tmp_path) == ["f"]
    reader = _core.SliceReader([str(tmp_path / "f")])
    for name, value in want.items():
        got = reader.read(name)
        if value.dtype == object:
            assert got == list(value.ravel()), name
        else:
            assert bytes(got) == value.tobytes(), name
    for enum in V1_WRITABLE:
        parts = reader.entry(f"s{enum}")["parts"]
        assert len(parts) == 2 and {p[0][0] for p in parts} == {(0, -1)}, enum


def test_names_of_4_kib_and_more_are_written_as_save_slices_writes_them(tf: Any, tmp_path: Path) -> None:
    """Keys past 4 KiB (the size the table writer borrows rather than copies) in a V1
    file: the bytes TensorFlow's SaveSlices writes, read back by both."""
    names = sorted(c * n for c in "ab" for n in (4080, 4085, 4092, 9000))
    values = [np.arange(i, i + 2, dtype=np.float32) for i in range(len(names))]
    tf.raw_ops.SaveSlices(
        filename=str(tmp_path / "tf"), tensor_names=names, shapes_and_slices=[""] * len(names), data=values
    )
    _core.write_slices(str(tmp_path / "fm"), [(n, 1, [2], v.view(np.uint8)) for n, v in zip(names, values)])
    assert (tmp_path / "fm").read_bytes() == (tmp_path / "tf").read_bytes()
    reader = _core.SliceReader([str(tmp_path / "fm")])
    for n, v in zip(names, values):
        assert reader.read(n) == v.tobytes()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("b", 14, [2], b"\0" * 4)], "dtype bfloat16 cannot be written in the V1 format"),
        ([("u", 22, [1], b"\0" * 4)], "dtype uint32 cannot be written"),
        ([("x", DT_FLOAT, [3], b"\0" * 8)], r"tensor 'x': 8 bytes for float32\[3\]"),
        ([("x", DT_STRING, [2], [b"a"])], "1 strings for shape"),
        (
            [("x", DT_FLOAT, [2], b"\0" * 8, [4], [(1, 2)]), ("x", DT_FLOAT, [2], b"\0" * 8, [4], [(2, 2)])],
            r"slice \(slice 2,2\) overlaps another slice given|slice \(slice 1,2\) overlaps",
        ),
        (
            [("x", DT_FLOAT, [2], b"\0" * 8, [4], [(0, 2)]), ("x", DT_FLOAT, [2], b"\0" * 8, [4], [(0, 2)])],
            "overlaps another slice given",
        ),
        (
            [("x", DT_FLOAT, [2], b"\0" * 8, [4], [(0, 2)]), ("x", DT_INT32, [2], b"\0" * 8, [4], [(2, 2)])],
            r"given as int32\[4\] after float32\[4\]",
        ),
        ([("x", DT_FLOAT, [2], b"\0" * 8, [4], [(3, 2)])], "slice extent 0 does not fit shape"),
        ([("x", DT_FLOAT, [2], b"\0" * 8), ("x", DT_FLOAT, [2], b"\0" * 8)], "overlaps another slice given"),
        ([("", DT_FLOAT, [0], b"")], "tensor name must not be empty"),
    ],
)
def test_write_slices_refuses_what_it_cannot_write(tmp_path: Path, entries: list, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        _core.write_slices(str(tmp_path / "f"), entries)
    assert os.listdir(tmp_path) == []  # (no file, no temporary)


def test_a_slice_tensorflow_finds_too_large_is_refused(tmp_path: Path) -> None:
    """TensorFlow refuses a slice over 2 GiB by its conservative estimate (10 bytes per
    int64); checked before anything is allocated or written."""
    import mmap

    n = (1 << 31) // 10 + 1
    untouched = mmap.mmap(-1, 8 * n)  # (anonymous: address space, no memory until touched)
    with pytest.raises(CheckpointError, match=r"'x' \(slice -\): too large for one V1 slice .*over 2 GiB"):
        _core.write_slices(str(tmp_path / "f"), [("x", DT_INT64, [n], untouched)])
    untouched.close()
    assert os.listdir(tmp_path) == []
