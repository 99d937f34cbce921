"""fastmeta.Saver.restore / save: TensorFlow checkpoints read and written through an
imported meta graph without TensorFlow, checked bit-for-bit against TensorFlow (the
oracle): its checkpoint reader, and its own Saver restoring our files."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastmeta
import fastmeta.checkpoint as fc
import numpy as np
import pytest
from corpus_fixtures import CORPUS, MANIFEST
from fastmeta.checkpoint import CheckpointError
from fastmeta.protos import meta_graph_pb2

# Every fixture TensorFlow wrote a checkpoint for (binary meta named after the fixture).
CKPT_FIXTURES = {
    f["name"]: f["checkpoint"] for f in MANIFEST["fixtures"] if f["checkpoint"] and f["file"] == f"{f['name']}.meta"
}
SCOPES = [None, "imp"]


@pytest.fixture(scope="module")
def tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


def _same(a: Any, b: Any) -> bool:
    """Bit-equal arrays (same shape, dtype size and bytes; string arrays: equal bytes)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype == object or b.dtype == object:
        return a.shape == b.shape and a.dtype == b.dtype and a.tolist() == b.tolist()
    return (
        a.shape == b.shape
        and a.dtype.itemsize == b.dtype.itemsize
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def _import(meta: Any, scope: str | None) -> tuple[fastmeta.Graph, fastmeta.Saver]:
    g = fastmeta.Graph()
    with g.as_default():
        saver = fastmeta.import_meta_graph(meta, import_scope=scope)
    assert isinstance(saver, fastmeta.Saver)
    return g, saver


def _tf_restored(tf: Any, meta: Any, scope: str | None, prefix: str) -> dict[str, np.ndarray]:
    """{variable op name: value} after TensorFlow imports ``meta`` and its Saver restores
    ``prefix``."""
    graph = tf.Graph()
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(meta, import_scope=scope, clear_devices=True)
        variables = tf.compat.v1.global_variables()
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, prefix)
            values = sess.run(variables)
    return {v.op.name: val for v, val in zip(variables, values)}


def _value_of(restored: fastmeta.RestoredVariables, name: str) -> np.ndarray:
    return restored.slices[name] if name in restored.slices else restored[name]


def _tf_meta(tf: Any, meta: meta_graph_pb2.MetaGraphDef) -> Any:
    out = tf.compat.v1.MetaGraphDef()
    out.ParseFromString(meta.SerializeToString())
    return out


# ---------------------------------------------------------------------------
# restore
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("name", sorted(CKPT_FIXTURES))
def test_restore_matches_tensorflow(tf: Any, name: str, scope: str | None) -> None:
    meta = str(CORPUS / f"{name}.meta")
    ckpt = str(CORPUS / CKPT_FIXTURES[name])
    g, saver = _import(meta, scope)
    restored = saver.restore(ckpt)
    assert restored.prefix == ckpt
    reader = tf.train.load_checkpoint(ckpt)
    # Every tensor of the checkpoint (variables, optimizer slots, global_step) is covered.
    assert set(restored.checkpoint_keys.values()) == set(reader.get_variable_to_shape_map())
    for var, key in restored.checkpoint_keys.items():
        if scope:
            assert var == f"{scope}/{var[len(scope) + 1 :]}" and not key.startswith(scope)
        if var in restored:
            assert key == (var[len(scope) + 1 :] if scope else var)
            try:
                want = reader.get_tensor(key)
            except tf.errors.UnimplementedError:
                # TensorFlow's reader of a V1 checkpoint refuses a tensor stored in several
                # slices ("Sliced checkpoints are not supported"; its restore op reads them,
                # checked below); fastmeta's reassembles it.
                assert fc.load_checkpoint(ckpt).format == "V1" and restored.slices
                continue
            assert _same(restored[var], want), var
    # ... and the values are exactly what TensorFlow's own Saver.restore assigns.
    theirs = _tf_restored(tf, meta, scope, ckpt)
    graph_vars = {v.op.name for v in g.get_collection("variables")}
    assert (
        set(theirs)
        == graph_vars
        == set(restored.slices)
        | (
            set(restored)
            - {
                full
                for full in restored
                if any(restored.checkpoint_keys[p] == restored.checkpoint_keys[full] for p in restored.slices)
            }
        )
    )
    for var, want in theirs.items():
        got = _value_of(restored, var)
        assert got.dtype == want.dtype and _same(got, want), var


def test_restore_partitioned_result_shape() -> None:
    _, saver = _import(str(CORPUS / "partitioned.meta"), "imp")
    restored = saver.restore(str(CORPUS / CKPT_FIXTURES["partitioned"]))
    assert sorted(restored) == ["imp/emb/table", "imp/global_step", "imp/res/table"]
    assert sorted(restored.slices) == [
        "imp/emb/table/part_0", "imp/emb/table/part_1", "imp/emb/table/part_2",
        "imp/res/table/part_0", "imp/res/table/part_1",
    ]  # fmt: skip
    full = restored["imp/emb/table"]
    assert full.shape == (10, 4)
    glued = np.concatenate([restored.slices[f"imp/emb/table/part_{i}"] for i in range(3)])
    assert _same(glued, full)
    assert restored.checkpoint_keys["imp/emb/table/part_1"] == "emb/table"
    targets = saver.restore_targets()
    assert {t.key for t in targets} == {"emb/table", "global_step", "res/table"}
    assert all(t.full_name in restored for t in targets)


def test_restore_directory_and_zero_copy() -> None:
    _, saver = _import(str(CORPUS / "mlp_ref.meta"), None)
    by_dir = saver.restore(str(CORPUS / "mlp_ref"))
    views = saver.restore(str(CORPUS / CKPT_FIXTURES["mlp_ref"]), copy=False)
    assert by_dir.keys() == views.keys()
    for k in by_dir:
        assert _same(by_dir[k], views[k])
        assert by_dir[k].flags.writeable
    assert views["layer1/weights"].flags.owndata  # (read into it, not a view of a mapping)


def test_latest_checkpoint_top_level(tf: Any) -> None:
    for rel in CKPT_FIXTURES.values():
        directory = str((CORPUS / rel).parent)
        assert fastmeta.latest_checkpoint(directory) == tf.train.latest_checkpoint(directory)
    assert fastmeta.list_variables(str(CORPUS / "partitioned")) == tf.train.list_variables(str(CORPUS / "partitioned"))
    assert fastmeta.load_checkpoint(str(CORPUS / "partitioned")).has_tensor("emb/table")


# ---------------------------------------------------------------------------
# save
# ---------------------------------------------------------------------------
def _perturbed(restored: fastmeta.RestoredVariables) -> dict[str, np.ndarray]:
    out = {}
    for i, (name, value) in enumerate(sorted(restored.items())):
        if value.dtype == object:  # strings
            out[name] = np.array([x + b"!" * (i + 1) for x in value.ravel()], dtype=object).reshape(value.shape)
        else:
            out[name] = (value * 3 + (i + 1)).astype(value.dtype)
    return out


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("name", sorted(CKPT_FIXTURES))
def test_save_restores_in_tensorflow(tf: Any, tmp_path: Path, name: str, scope: str | None):
    meta = str(CORPUS / f"{name}.meta")
    _, saver = _import(meta, scope)
    restored = saver.restore(str(CORPUS / CKPT_FIXTURES[name]))
    values = _perturbed(restored)
    path = saver.save(str(tmp_path / "model"), values, global_step=7)
    # (A sharded V1 Saver's path is its files' pattern, as TensorFlow's save returns it.)
    shards = len(glob.glob(str(tmp_path / "model-7-[0-9]*-of-*")))
    assert path == str(tmp_path / "model-7") + (f"-?????-of-{shards:05d}" if shards else "")
    assert saver.last_checkpoints == [path]
    assert fastmeta.latest_checkpoint(str(tmp_path)) == path
    assert tf.train.latest_checkpoint(str(tmp_path)) == path
    theirs = _tf_restored(tf, meta, scope, path)
    again = saver.restore(path)
    for var, got in theirs.items():
        want = _value_of(again, var)
        assert _same(got, want), var
    for full, value in values.items():
        assert _same(again[full], value), full
    # Keys (slice keys of partitioned variables included) and values are those of the
    # checkpoint TensorFlow's own save op writes after restoring ours.
    (tmp_path / "tf").mkdir()
    graph = tf.Graph()
    with graph.as_default():
        tf_saver = tf.compat.v1.train.import_meta_graph(meta, import_scope=scope, clear_devices=True)
        with tf.compat.v1.Session(graph=graph) as sess:
            tf_saver.restore(sess, path)
            tf_path = tf_saver.save(sess, str(tmp_path / "tf" / "model"), write_meta_graph=False)
    ours, tf_written = fc.load_checkpoint(path), fc.load_checkpoint(tf_path)
    assert ours.format == tf_written.format  # (V1 for a V1 Saver, as TensorFlow writes)
    assert [os.path.basename(f).replace("model-7", "model") for f in ours.files] == [
        os.path.basename(f) for f in tf_written.files
    ]
    if tf_written.format == "V2":  # (stored keys, slices' included)
        assert sorted(ours._reader.keys()) == sorted(tf_written._reader.keys())
    else:
        assert [ours.entry(k)["parts"] for k in ours.get_variable_to_shape_map()] == [
            tf_written.entry(k)["parts"] for k in tf_written.get_variable_to_shape_map()
        ]
    assert ours.get_variable_to_shape_map() == tf_written.get_variable_to_shape_map()
    assert ours.get_variable_to_dtype_map() == tf_written.get_variable_to_dtype_map()
    for key in tf_written.get_variable_to_shape_map():
        assert _same(ours.get_tensor(key), tf_written.get_tensor(key)), key


@pytest.mark.parametrize(
    ("name", "checkpoint"),
    [
        ("partitioned", CKPT_FIXTURES["partitioned"]),
        ("ema_replicas", "ema_replicas/ema_replicas.ckpt"),
        ("saver_v1", CKPT_FIXTURES["saver_v1"]),
        ("saver_v1_sharded", CKPT_FIXTURES["saver_v1_sharded"]),
    ],
)
def test_save_writes_tensorflows_bytes(tf: Any, tmp_path: Path, name: str, checkpoint: str) -> None:
    """The files of Saver.save are those TensorFlow's save ops write, byte for byte: a
    sharded saver's one data file per shard (ema_replicas: two devices), each tensor in
    its SaveV2's order (partitioned: slices among whole tensors, not in key order); a
    V1 Saver's V1 file, or one per shard (saver_v1_sharded: two ps tasks, a variable
    partitioned across them, strings, float16, bool, int8, int64)."""
    meta = str(CORPUS / f"{name}.meta")
    _, saver = _import(meta, None)
    values = _perturbed(saver.restore(str(CORPUS / checkpoint)))
    (tmp_path / "fm").mkdir()
    prefix = saver.save(str(tmp_path / "fm" / "model"), values, global_step=3, write_meta_graph=False)
    assert saver.restore(prefix).keys() == values.keys()
    (tmp_path / "tf").mkdir()
    graph = tf.Graph()
    with graph.as_default():
        tf_saver = tf.compat.v1.train.import_meta_graph(meta, clear_devices=True)
        with tf.compat.v1.Session(graph=graph) as sess:
            tf_saver.restore(sess, prefix)
            tf_saver.save(sess, str(tmp_path / "tf" / "model"), global_step=3, write_meta_graph=False)
    files = sorted(os.listdir(tmp_path / "tf"))
    assert sorted(os.listdir(tmp_path / "fm")) == files
    reader = fc.load_checkpoint(prefix)
    assert reader.format == ("V1" if name.startswith("saver_v1") else "V2")
    if reader.format == "V2":
        assert len([f for f in files if ".data-" in f]) == reader.num_shards
    else:  # (the file, or one per shard)
        assert len(reader.files) == reader.num_shards
        assert {os.path.basename(f) for f in reader.files} < set(files)
    for f in files:
        if f != "checkpoint":
            assert (tmp_path / "fm" / f).read_bytes() == (tmp_path / "tf" / f).read_bytes(), f


@pytest.mark.parametrize("name", ["mlp_ref", "ema_replicas", "saver_v1", "no_saver_def"])
def test_a_missing_directory_as_tensorflow_meets_it(tf: Any, tmp_path: Path, name: str) -> None:
    """Saving into a directory that does not exist: TensorFlow's unsharded SaveV2 creates
    it (one level, trailing slash too), a sharded or V1 save does not, and TensorFlow's
    Saver then raises "Parent directory of ... doesn't exist"; fastmeta the same."""
    meta = str(CORPUS / f"{name}.meta")
    g = fastmeta.Graph()
    with g.as_default():
        saver = fastmeta.import_meta_graph(meta)
    assert saver is not None
    values = dict(saver.restore(str(CORPUS / CKPT_FIXTURES[name]))) if name in CKPT_FIXTURES else None
    graph = tf.Graph()
    with graph.as_default():
        tf_saver = tf.compat.v1.train.import_meta_graph(meta, clear_devices=True)
        if tf_saver is None:
            tf_saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            if values is None:  # (no checkpoint in the corpus: TF's initial values)
                values = {v.op.name: sess.run(v) for v in tf.compat.v1.global_variables()}
            for sub in ("new/model", "two/levels/model", "trail/"):
                outcome = []
                for side in ("tf", "fm"):
                    path = str(tmp_path / side / sub)
                    (tmp_path / side).mkdir(exist_ok=True)
                    try:
                        if side == "tf":
                            got = tf_saver.save(sess, path, global_step=1, write_meta_graph=False)
                        else:
                            got = saver.save(path, values, global_step=1, write_meta_graph=False)
                    except ValueError as e:
                        assert "Parent directory of" in str(e), str(e)
                        outcome.append(("refused", sorted(os.listdir(tmp_path / side))))
                    else:
                        outcome.append((os.path.relpath(got, tmp_path / side), sorted(os.listdir(tmp_path / side))))
                assert outcome[0] == outcome[1], sub


def test_partitions_across_shards_are_indexed_as_tensorflow_merges_them(tf: Any, tmp_path: Path) -> None:
    """A sharded V2 save of partitioned variables whose slices lie on two devices: TF's
    MergeV2Checkpoints lists a tensor's slices shard by shard and keeps the shard_id of
    the first shard that holds one; a tensor wholly in shard 1 gets shard_id 1."""
    v1 = tf.compat.v1

    def place(op: Any) -> str:
        return "/cpu:1" if any(p in op.name for p in ("emb/part_0", "emb/part_2", "tail/")) else "/cpu:0"

    graph = tf.Graph()
    config = v1.ConfigProto(device_count={"CPU": 2})
    with graph.as_default(), graph.device(place):
        v1.get_variable("a", initializer=np.arange(2, dtype=np.float32))
        v1.get_variable(
            "emb", shape=[6, 2], partitioner=v1.fixed_size_partitioner(3), initializer=v1.random_normal_initializer()
        )
        v1.get_variable(
            "tail", shape=[4, 3], partitioner=v1.fixed_size_partitioner(2), initializer=v1.random_normal_initializer()
        )
        tf_saver = v1.train.Saver(sharded=True)
        (tmp_path / "tf").mkdir()
        with v1.Session(graph=graph, config=config) as sess:
            sess.run(v1.global_variables_initializer())
            tf_prefix = tf_saver.save(sess, str(tmp_path / "tf" / "model"), write_meta_graph=False)
        tf_saver.export_meta_graph(str(tmp_path / "model.meta"))
    _, saver = _import(str(tmp_path / "model.meta"), None)
    (tmp_path / "fm").mkdir()
    prefix = saver.save(str(tmp_path / "fm" / "model"), saver.restore(tf_prefix), write_meta_graph=False)
    tf_reader, fm_reader = fc.load_checkpoint(tf_prefix), fc.load_checkpoint(prefix)
    assert tf_reader.entry("emb")["shard_id"] == 0 and tf_reader.entry("tail")["shard_id"] == 1
    for key in ("emb", "tail"):
        assert fm_reader.entry(key) == tf_reader.entry(key)
    files = sorted(f for f in os.listdir(tmp_path / "tf") if f != "checkpoint")
    assert sorted(f for f in os.listdir(tmp_path / "fm") if f != "checkpoint") == files
    for f in files:
        assert (tmp_path / "fm" / f).read_bytes() == (tmp_path / "tf" / f).read_bytes(), f


def test_paths_given_as_bytes_and_a_global_step_that_is_not_an_integer(tmp_path: Path) -> None:
    """Paths as bytes (``os.fsencode``'s, as TensorFlow's Saver and reader take them)
    name the same files as their str; a global_step fastmeta cannot number is a typed
    error that is also TensorFlow's TypeError, and nothing is written."""
    _, saver = _import(str(CORPUS / "mlp_ref.meta"), None)
    values = saver.restore(os.fsencode(CORPUS / CKPT_FIXTURES["mlp_ref"]))
    prefix = saver.save(os.fsencode(tmp_path / "m"), values, global_step=np.int64(7), write_meta_graph=False)
    assert prefix == str(tmp_path / "m-7")
    for path in (prefix, os.fsencode(prefix), os.fsencode(tmp_path)):
        assert sorted(fc.load_checkpoint(path).get_variable_to_shape_map()) == sorted(values)
    fc.write_checkpoint(os.fsencode(tmp_path / "w"), {"x": np.ones(2)})
    assert fc.load_checkpoint(str(tmp_path / "w")).get_tensor("x").tolist() == [1.0, 1.0]
    before = sorted(os.listdir(tmp_path))
    for step in ("global_step:0", 1.5, None.__class__):
        with pytest.raises(fc.CheckpointTypeError, match="global_step must be an integer") as info:
            saver.save(str(tmp_path / "n"), values, global_step=step)  # type: ignore[arg-type]
        assert isinstance(info.value, TypeError)
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("name", sorted(CKPT_FIXTURES))
def test_debug_string_is_tensorflows(tf: Any, name: str) -> None:
    """CheckpointReader.debug_string() gives TensorFlow's bytes (V2: slice entries under
    their binary keys, full entries of partitioned tensors left out); V1 the same lines,
    in name order where TensorFlow's follow a hash map."""
    prefix = str(CORPUS / CKPT_FIXTURES[name])
    want = tf.compat.v1.train.NewCheckpointReader(prefix).debug_string()
    reader = fc.load_checkpoint(prefix)
    got = reader.debug_string()
    if reader.format == "V1":
        assert got.splitlines() == sorted(got.splitlines())
        got, want = sorted(got.splitlines()), sorted(want.splitlines())
    assert got == want


def test_save_partitions_given_per_slice(tmp_path: Path) -> None:
    _, saver = _import(str(CORPUS / "partitioned.meta"), None)
    restored = saver.restore(str(CORPUS / CKPT_FIXTURES["partitioned"]))
    per_slice: dict[str, Any] = {k: v + 1 for k, v in restored.slices.items()}
    per_slice["global_step"] = 5  # a Python int, cast to the variable's int64
    path = saver.save(str(tmp_path / "p"), per_slice)
    back = saver.restore(path)
    assert _same(back["emb/table"], restored["emb/table"] + 1)
    assert _same(back["global_step"], np.int64(5))
    assert fc.load_checkpoint(path).entry("emb/table")["slices"]
    # Whole and per partition at once: which value is meant is unclear, so refused.
    for parts in (["emb/table/part_0"], list(per_slice)):
        given = {**{p: per_slice[p] for p in parts}, **restored}
        whole_and_parts = r"'emb/table' is given whole and as its partitions \['emb/table/part_0'"
        with pytest.raises(CheckpointError, match=whole_and_parts):
            saver.save(str(tmp_path / "q"), given)
    assert not glob.glob(str(tmp_path / "q*"))


def test_save_errors_write_nothing(tmp_path: Path) -> None:
    _, saver = _import(str(CORPUS / "mlp_ref.meta"), "imp")
    restored = saver.restore(str(CORPUS / CKPT_FIXTURES["mlp_ref"]))
    values = dict(restored)
    del values["imp/layer1/weights"]
    with pytest.raises(CheckpointError, match="imp/layer1/weights"):
        saver.save(str(tmp_path / "m"), values)
    with pytest.raises(CheckpointError, match="not variables this Saver saves"):
        saver.save(str(tmp_path / "m"), {**restored, "imp/nope": np.zeros(1)})
    bad_shape = {**restored, "imp/layer1/biases": np.zeros(9, np.float32)}
    with pytest.raises(CheckpointError, match=r"imp/layer1/biases.*shape \[9\]"):
        saver.save(str(tmp_path / "m"), bad_shape)
    with pytest.raises(CheckpointError, match="dtype"):
        saver.save(str(tmp_path / "m"), {**restored, "imp/global_step": np.float32(1.5)})
    with pytest.raises(CheckpointError, match="Parent directory"):
        saver.save(str(tmp_path / "missing" / "deeper" / "m"), dict(restored))
    assert os.listdir(tmp_path) == []
    assert saver.last_checkpoints == []


@pytest.mark.parametrize(("max_to_keep", "hours"), [(2, 10000.0), (1, 10000.0), (0, 10000.0), (1, 1e-9)])
def test_max_to_keep_like_tensorflow(tf: Any, tmp_path: Path, max_to_keep: int, hours: float) -> None:
    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((CORPUS / "mlp_ref.meta").read_bytes())
    meta.saver_def.max_to_keep = max_to_keep
    meta.saver_def.keep_checkpoint_every_n_hours = hours
    _, saver = _import(meta, None)
    values = dict(saver.restore(str(CORPUS / CKPT_FIXTURES["mlp_ref"])))
    ours_dir, tf_dir = tmp_path / "ours", tmp_path / "tf"
    ours_dir.mkdir()
    tf_dir.mkdir()
    graph = tf.Graph()
    with graph.as_default():
        tf_saver = tf.compat.v1.train.import_meta_graph(_tf_meta(tf, meta), clear_devices=True)
        with tf.compat.v1.Session(graph=graph) as sess:
            tf_saver.restore(sess, str(CORPUS / CKPT_FIXTURES["mlp_ref"]))
            for step in range(1, 5):
                tf_saver.save(sess, str(tf_dir / "model"), global_step=step)
                saver.save(str(ours_dir / "model"), values, global_step=step)
    assert sorted(os.listdir(ours_dir)) == sorted(os.listdir(tf_dir))
    assert [os.path.basename(p) for p in saver.last_checkpoints] == [
        os.path.basename(p) for p in tf_saver.last_checkpoints
    ]
    ours_state = fc.get_checkpoint_state(ours_dir)
    tf_state = tf.train.get_checkpoint_state(str(tf_dir))
    assert ours_state is not None
    assert os.path.basename(ours_state.model_checkpoint_path) == os.path.basename(tf_state.model_checkpoint_path)
    assert [os.path.basename(p) for p in ours_state.all_model_checkpoint_paths] == [
        os.path.basename(p) for p in tf_state.all_model_checkpoint_paths
    ]


def test_recover_last_checkpoints_and_restore_none_as_tensorflow(tf: Any, tmp_path: Path) -> None:
    """recover_last_checkpoints keeps the checkpoints that exist, stamped with their
    files' mtimes in whole seconds (TensorFlow's file system stat), a V1 file's too;
    restore(None) is TensorFlow's ValueError."""
    _, saver = _import(str(CORPUS / "mlp_ref.meta"), None)
    values = dict(saver.restore(str(CORPUS / CKPT_FIXTURES["mlp_ref"])))
    paths = [saver.save(str(tmp_path / "m"), values, global_step=i, write_state=False) for i in (1, 2)]
    (tmp_path / "v1").write_bytes(b"")
    os.utime(paths[0] + ".index", ns=(0, 1_234_567_891_987_654_321))
    paths += [str(tmp_path / "gone"), str(tmp_path / "v1")]
    with tf.Graph().as_default():
        tf.compat.v1.get_variable("w", [1])
        tf_saver = tf.compat.v1.train.Saver()
        tf_saver.recover_last_checkpoints(paths)
    saver.recover_last_checkpoints(paths)
    assert saver._last_checkpoints == tf_saver._last_checkpoints
    assert saver._last_checkpoints[0] == (paths[0], 1234567891.0)
    assert saver.last_checkpoints == tf_saver.last_checkpoints == [paths[0], paths[1], paths[3]]
    with pytest.raises(ValueError, match="Can't load save_path when it is None"):
        saver.restore(None)  # type: ignore[arg-type]


def test_fresh_saver_save_restores_in_tensorflow(tf: Any, tmp_path: Path) -> None:
    """A meta graph without saver_def: fastmeta builds TF's save/restore ops; a file saved
    through them restores in TensorFlow's own fresh Saver."""
    meta = str(CORPUS / "no_saver_def.meta")
    g, saver = _import(meta, None)
    rng = np.random.default_rng(3)
    values: dict[str, np.ndarray] = {}
    for t in saver.restore_targets():
        shape = g.get_operation_by_name(t.variable).get_attr("shape")
        dims = [d.size for d in shape.dim]
        dtype = fc._NP_DTYPES[t.dtype]
        values[t.full_name] = (rng.standard_normal(dims) * 10).astype(dtype)
    path = saver.save(str(tmp_path / "fresh"), values)
    theirs = _tf_restored(tf, meta, None, path)
    assert set(theirs) == set(values)
    for k, v in values.items():
        assert _same(theirs[k], v), k


# ---------------------------------------------------------------------------
# corrupt checkpoints
# ---------------------------------------------------------------------------
def _copy_ckpt(tmp_path: Path, name: str = "mlp_ref") -> str:
    src = CORPUS / CKPT_FIXTURES[name]
    for f in src.parent.iterdir():
        if f.name.startswith(src.name + "."):
            shutil.copy(f, tmp_path / f.name)
    return str(tmp_path / src.name)


def test_corrupt_data_names_file_and_tensor(tmp_path: Path) -> None:
    prefix = _copy_ckpt(tmp_path)
    entry = fc.load_checkpoint(prefix).entry("layer1/weights/Momentum")
    data = f"{prefix}.data-00000-of-00001"
    blob = bytearray(Path(data).read_bytes())
    blob[entry["offset"] + 5] ^= 0x40
    Path(data).write_bytes(bytes(blob))
    _, saver = _import(str(CORPUS / "mlp_ref.meta"), "imp")
    result = None
    with pytest.raises(CheckpointError) as info:
        result = saver.restore(prefix)
    assert result is None
    msg = str(info.value)
    assert "layer1/weights/Momentum" in msg and "data-00000-of-00001" in msg


@pytest.mark.parametrize("damage", ["truncate_index", "missing_shard", "bad_magic"])
def test_damaged_files_raise(tmp_path: Path, damage: str) -> None:
    prefix = _copy_ckpt(tmp_path)
    index = Path(prefix + ".index")
    if damage == "truncate_index":
        index.write_bytes(index.read_bytes()[:-20])
    elif damage == "missing_shard":
        os.remove(prefix + ".data-00000-of-00001")
    else:
        blob = bytearray(index.read_bytes())
        blob[-1] ^= 0xFF
        index.write_bytes(bytes(blob))
    _, saver = _import(str(CORPUS / "mlp_ref.meta"), None)
    with pytest.raises(CheckpointError) as info:
        saver.restore(prefix)
    assert os.path.basename(prefix) in str(info.value)


def test_missing_key_and_wrong_dtype(tmp_path: Path) -> None:
    _, saver = _import(str(CORPUS / "mlp_ref.meta"), "imp")
    restored = saver.restore(str(CORPUS / CKPT_FIXTURES["mlp_ref"]))
    tensors = {restored.checkpoint_keys[k]: v for k, v in restored.items()}
    del tensors["layer2/biases"]
    fc.write_checkpoint(tmp_path / "partial", tensors)
    with pytest.raises(CheckpointError, match=r"partial.*'layer2/biases'.*imp/layer2/biases"):
        saver.restore(str(tmp_path / "partial"))
    tensors["layer2/biases"] = np.zeros(3, np.float64)
    fc.write_checkpoint(tmp_path / "wrong", tensors)
    with pytest.raises(CheckpointError, match=r"wrong.*'layer2/biases'.*float64.*expects float32"):
        saver.restore(str(tmp_path / "wrong"))


def test_restore_op_not_in_graph() -> None:
    _, saver = _import(str(CORPUS / "mlp_ref.meta"), None)
    with pytest.raises(CheckpointError, match="restore op 'save/restore_all' is not in the graph"):
        saver.restore(str(CORPUS / CKPT_FIXTURES["mlp_ref"]), graph=fastmeta.Graph())


def _restore_graph(names_value: bytes, restore_inputs: tuple[str, ...], dtypes: bytes | None) -> bytes:
    """v <- Assign(v, r:0) under restore_all; r a RestoreV2 (no OpDef in the file, so its
    inputs are not counted at import) reading the names Const and a specs Const."""
    sys.path.insert(0, str(CORPUS.parent.parent.parent / "fuzz"))
    from make_seeds import field, meta, node

    scalar_string = field(1, 7) + field(2, field(2, field(1, 1)))  # DT_STRING, shape [1]
    restore_attrs = (("dtypes", dtypes),) if dtypes is not None else ()
    string = ("dtype", field(6, 7))  # (the attrs the OpDefs give no default)
    nodes = (
        node("v", "VariableV2", attrs=(("dtype", field(6, 1)), ("shape", field(7, field(2, field(1, 2))))))
        + node("f", "Const", attrs=(string, ("value", field(8, scalar_string + field(8, b"f")))))
        + node("names", "Const", attrs=(string, ("value", field(8, names_value))))
        + node("specs", "Const", attrs=(string, ("value", field(8, scalar_string + field(8, b"")))))
        + node("r", "RestoreV2", restore_inputs, attrs=restore_attrs)
        + node("as", "Assign", ("v", "r:0"), attrs=(("T", field(6, 1)),))
        + node("restore_all", "NoOp", ("^as",))
    )
    saver_def = field(1, b"f:0") + field(2, b"f:0") + field(3, b"restore_all")
    return meta(nodes) + field(3, saver_def)


def test_a_malformed_restore_op_is_a_checkpoint_error(tmp_path: Path) -> None:
    # No dtypes attr (refused at import, as TensorFlow's importer refuses it), dtypes of
    # the wrong kind (TypeError); and a
    # tensor_names Const whose shape claims 10^12 strings
    # (the last one repeats): expanded in full, a MemoryError (or gigabytes).
    sys.path.insert(0, str(CORPUS.parent.parent.parent / "fuzz"))
    from make_seeds import field

    prefix = fc.write_checkpoint(tmp_path / "ck", {"v": np.ones(2, np.float32)})
    one_float = field(1, field(6, 1))
    names = field(1, 7) + field(2, field(2, field(1, 1))) + field(8, b"v")
    huge = field(1, 7) + field(2, field(2, field(1, 10**12))) + field(8, b"v")
    # Inputs missing: the import refuses the node (RestoreV2's OpDef, as TensorFlow's).
    for inputs in [(), ("f",)]:
        with pytest.raises(fastmeta.GraphError, match="op 'RestoreV2' takes 3 data inputs"):
            fastmeta.import_meta_graph(_restore_graph(names, inputs, one_float), graph=fastmeta.Graph())
    with pytest.raises(fastmeta.GraphError, match="NodeDef missing attr 'dtypes'"):
        fastmeta.import_meta_graph(_restore_graph(names, ("f", "names", "specs"), None), graph=fastmeta.Graph())
    for inputs, dtypes in [(("f", "names", "specs"), field(3, 5))]:
        g = fastmeta.Graph()
        saver = fastmeta.import_meta_graph(_restore_graph(names, inputs, dtypes), graph=g)
        assert saver is not None
        with pytest.raises(CheckpointError, match="restore op 'r' \\(RestoreV2\\) is malformed"):
            saver.restore(prefix, graph=g)
        with pytest.raises(CheckpointError, match="is malformed"):
            saver.save(str(tmp_path / "out"), {"v": np.ones(2, np.float32)}, graph=g)
    g = fastmeta.Graph()
    saver = fastmeta.import_meta_graph(_restore_graph(huge, ("f", "names", "specs"), one_float), graph=g)
    assert saver is not None
    assert _same(saver.restore(prefix, graph=g)["v"], np.ones(2, np.float32))


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CKPT_FIXTURES))
def test_inspect_checkpoint_cli_json(tf: Any, name: str) -> None:
    prefix = str(CORPUS / CKPT_FIXTURES[name])
    out = subprocess.run(
        [sys.executable, "-m", "fastmeta", "inspect-checkpoint", prefix, "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    doc = json.loads(out.stdout)
    assert doc["prefix"] == prefix
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    assert [r["name"] for r in doc["tensors"]] == sorted(shapes)
    for row in doc["tensors"]:
        assert row["shape"] == shapes[row["name"]]
        assert row["dtype"] == dtypes[row["name"]].name
        try:
            value = np.asarray(reader.get_tensor(row["name"]))
        except tf.errors.UnimplementedError:  # (a V1 tensor in slices: see above)
            value = np.asarray(fc.load_checkpoint(prefix).get_tensor(row["name"]))
        if value.dtype != object:  # (a string tensor's size is what its file stores)
            assert row["size"] == value.nbytes
    bad = subprocess.run(
        [sys.executable, "-m", "fastmeta", "inspect-checkpoint", prefix + "-nope", "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 1 and "error:" in bad.stderr and bad.stdout == ""


@pytest.mark.parametrize("use_resource", [False, True])
def test_a_reshaping_savers_restore_as_tensorflows(tf: Any, tmp_path: Path, use_resource: bool) -> None:
    """Saver(reshape=True) puts a Reshape between the restore op and the assign: the
    stored tensor may have another shape with as many elements (here a flat [6] for a
    [2, 3] variable). Restored as TensorFlow restores it; a count that does not fit is
    an error before anything is read."""
    v1 = tf.compat.v1
    values = np.arange(6, dtype=np.float32) * 10
    fc.write_checkpoint(tmp_path / "flat", {"w": values})
    fc.write_checkpoint(tmp_path / "odd", {"w": np.zeros(5, np.float32)})
    with tf.Graph().as_default():
        w = v1.get_variable("w", [2, 3], use_resource=use_resource, initializer=v1.zeros_initializer())
        saver = v1.train.Saver([w], reshape=True)
        meta = saver.export_meta_graph(str(tmp_path / "m.meta"))
        with v1.Session() as sess:
            saver.restore(sess, str(tmp_path / "flat"))
            expected = sess.run(w)
    g = fastmeta.Graph()
    fm_saver = fastmeta.import_meta_graph(meta.SerializeToString(), graph=g)
    assert fm_saver is not None
    (target,) = fm_saver.restore_targets(g)
    assert target.reshape and target.shape == (2, 3)
    restored = fm_saver.restore(str(tmp_path / "flat"), g)
    assert _same(restored["w"], expected) and restored["w"].shape == (2, 3)
    with pytest.raises(CheckpointError, match="cannot be reshaped"):
        fm_saver.restore(str(tmp_path / "odd"), g)
    # What fastmeta saves through it, TensorFlow restores.
    prefix = fm_saver.save(str(tmp_path / "fm"), {"w": expected + 1}, graph=g)
    with tf.Graph().as_default():
        saver = v1.train.import_meta_graph(str(tmp_path / "m.meta"))
        with v1.Session() as sess:
            saver.restore(sess, prefix)
            assert _same(sess.run(v1.global_variables()[0]), expected + 1)


def test_a_saver_that_also_saves_a_lookup_table(tf: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A Saver over a variable and a MutableHashTable: restore reads the variable and
    says the table is not restored; save refuses (TensorFlow could not restore a file
    without the table's keys)."""
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        w = v1.get_variable("w", initializer=np.arange(3, dtype=np.float32))
        table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=-1, name="tbl")
        insert = table.insert(tf.constant(["a"]), tf.constant([7], tf.int64))
        saver = v1.train.Saver([w, table])
        meta = saver.export_meta_graph()
        with v1.Session() as sess:
            sess.run([v1.global_variables_initializer(), insert])
            prefix = saver.save(sess, str(tmp_path / "tf"))
    g = fastmeta.Graph()
    fm_saver = fastmeta.import_meta_graph(meta.SerializeToString(), graph=g)
    assert fm_saver is not None
    with caplog.at_level("WARNING", logger="fastmeta.saver"):
        restored = fm_saver.restore(prefix, g)
    assert list(restored) == ["w"] and _same(restored["w"], np.arange(3, dtype=np.float32))
    assert "LookupTableImportV2" in caplog.text and "not restored" in caplog.text
    with pytest.raises(CheckpointError, match=r"LookupTableImportV2.*cannot write"):
        fm_saver.save(str(tmp_path / "fm"), {"w": np.ones(3, np.float32)}, graph=g)
    assert not list(tmp_path.glob("fm*"))


def test_an_object_based_checkpoint_restores_through_its_object_graph(
    tf: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A tf.train.Checkpoint stores variables under object paths; TensorFlow's
    name-based Saver.restore finds them through the checkpoint's object graph, and so
    does fastmeta's. A variable the object graph lacks is an error naming it."""
    v1 = tf.compat.v1
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3) * 10
    bias = np.full(3, 7, np.float32)
    # (the object-based checkpoint is written in a subprocess: eager mode)
    script = (
        "import numpy as np, tensorflow as tf, sys\n"
        "w = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3) * 10, name='dense/kernel')\n"
        "b = tf.Variable(np.full(3, 7, np.float32), name='dense/bias')\n"
        "print(tf.train.Checkpoint(model=tf.Module(), w=w, b=b).write(sys.argv[1]))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "obj" / "ckpt")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    prefix = out.stdout.strip().splitlines()[-1]
    assert "w/.ATTRIBUTES/VARIABLE_VALUE" in [k for k, _ in fc.list_variables(prefix)]
    metas = {}
    for names in (["dense/kernel", "dense/bias"], ["dense/kernel", "other"]):
        with tf.Graph().as_default():
            for name, shape in zip(names, ([2, 3], [3])):
                v1.get_variable(name, shape=shape)
            metas[names[1]] = v1.train.Saver().export_meta_graph().SerializeToString()
    with tf.Graph().as_default():
        saver = v1.train.import_meta_graph(v1.MetaGraphDef.FromString(metas["dense/bias"]))
        with v1.Session() as sess:
            saver.restore(sess, prefix)
            expected = {v.op.name: sess.run(v) for v in v1.global_variables()}
    assert _same(expected["dense/kernel"], kernel) and _same(expected["dense/bias"], bias)
    g = fastmeta.Graph()
    fm_saver = fastmeta.import_meta_graph(metas["dense/bias"], graph=g)
    assert fm_saver is not None
    with caplog.at_level("WARNING", logger="fastmeta.saver"):
        restored = fm_saver.restore(prefix, g)
    assert "object-based checkpoint" in caplog.text
    assert sorted(restored) == sorted(expected)
    assert all(_same(restored[k], expected[k]) for k in expected)
    assert restored.checkpoint_keys["dense/kernel"] == "w/.ATTRIBUTES/VARIABLE_VALUE"
    g2 = fastmeta.Graph()
    fm_saver = fastmeta.import_meta_graph(metas["other"], graph=g2)
    assert fm_saver is not None
    with pytest.raises(CheckpointError, match="without the variables \\['other'\\]"):
        fm_saver.restore(prefix, g2)


def test_an_object_based_checkpoint_is_looked_up_by_graph_names_under_an_import_scope(tf: Any, tmp_path: Path) -> None:
    """TensorFlow's fallback looks the Saver's variables up in the object graph by their
    graph names, import scope included: variables saved as 'imp/dense/...' restore into
    a meta graph imported under 'imp', ones saved as 'dense/...' do not."""
    v1 = tf.compat.v1
    script = (
        "import numpy as np, tensorflow as tf, sys\n"
        "s = sys.argv[2]\n"
        "w = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name=s + 'dense/kernel')\n"
        "b = tf.Variable(np.full(3, 7, np.float32), name=s + 'dense/bias')\n"
        "print(tf.train.Checkpoint(w=w, b=b).write(sys.argv[1]))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    prefixes = {}
    for scope in ("imp/", ""):
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / f"obj{len(scope)}" / "ckpt"), scope],
                             capture_output=True, text=True, env=env, check=True)  # fmt: skip
        prefixes[scope] = out.stdout.strip().splitlines()[-1]
    with tf.Graph().as_default():
        v1.get_variable("dense/kernel", shape=[2, 3])
        v1.get_variable("dense/bias", shape=[3])
        meta = v1.train.Saver().export_meta_graph().SerializeToString()
    for scope, prefix in prefixes.items():
        with tf.Graph().as_default():
            saver = v1.train.import_meta_graph(v1.MetaGraphDef.FromString(meta), import_scope="imp")
            with v1.Session() as sess:
                try:
                    saver.restore(sess, prefix)
                    expected = {v.op.name: sess.run(v) for v in v1.global_variables()}
                except tf.errors.NotFoundError:
                    expected = None
        g = fastmeta.Graph()
        with g.as_default():
            fm_saver = fastmeta.import_meta_graph(meta, import_scope="imp")
        assert fm_saver is not None
        if expected is None:
            assert scope == ""
            with pytest.raises(CheckpointError, match="without the variables"):
                fm_saver.restore(prefix)
            continue
        assert scope == "imp/"
        restored = fm_saver.restore(prefix)
        assert sorted(restored) == sorted(expected) == ["imp/dense/bias", "imp/dense/kernel"]
        assert all(_same(restored[k], expected[k]) for k in expected)
        assert restored.checkpoint_keys["imp/dense/kernel"] == "w/.ATTRIBUTES/VARIABLE_VALUE"


def test_the_restore_walk_follows_a_shared_identity_chain_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The restore op's walk looks through Identity chains for the restore op behind each
    input: many readers of one long chain walk it once (it was once per reader: a 400 KB
    file took minutes). Counted in op.inputs reads, not timed."""
    from fastmeta.graph import Operation
    from fastmeta.protos import graph_pb2, node_def_pb2, saver_pb2

    def node(name: str, op: str, inputs: list[str], **attrs: int) -> node_def_pb2.NodeDef:
        n = node_def_pb2.NodeDef(name=name, op=op, input=inputs)
        for key, dtype in attrs.items():
            n.attr[key].type = dtype
        return n

    readers = length = 300
    nodes = [node("x", "Placeholder", [], dtype=1), node("f", "Placeholder", [], dtype=7)]
    nodes += [node(f"i{k}", "Identity", [f"i{k - 1}" if k else "x"], T=1) for k in range(length)]
    nodes += [node(f"c{k}", "Identity", [f"i{length - 1}"], T=1) for k in range(readers)]
    nodes += [node("restore_all", "NoOp", [f"^c{k}" for k in range(readers)])]
    nodes += [node("save", "Identity", ["f"], T=7)]
    mg = meta_graph_pb2.MetaGraphDef(graph_def=graph_pb2.GraphDef(node=nodes))
    mg.saver_def.CopyFrom(
        saver_pb2.SaverDef(
            filename_tensor_name="f:0", save_tensor_name="save:0", restore_op_name="restore_all", version=2
        )
    )
    g = fastmeta.Graph()
    saver = fastmeta.import_meta_graph(mg.SerializeToString(), graph=g)
    assert saver is not None
    reads = 0
    inputs = Operation.inputs

    def counted(self: Operation) -> Any:
        nonlocal reads
        reads += 1
        return inputs.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Operation, "inputs", property(counted))
    assert saver.restore_targets(g) == []
    assert reads <= 4 * (readers + length), reads
