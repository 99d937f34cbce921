"""TF1 SavedModels: ``fastmeta.saved_model.load`` (TF-free) and ``fastmeta.tf.saved_model.load``
(the drop-in), differential against ``tf.compat.v1.saved_model.loader.load``.

SavedModels are built here with TensorFlow's v1 builders (``SavedModelBuilder`` with
``main_op`` or ``legacy_init_op`` and the legacy ``saved_model_assets`` collection; the
internal ``_SavedModelBuilder`` with ``asset_file_def`` and the ``__saved_model_init_op``
signature; ``simple_save``; text format), each with ref, resource and partitioned
variables, an asset whose path the init op stores in a variable, and two meta graphs of
different tags. TensorFlow's loader is the oracle, run step by step (its own
``SavedModelLoader``) so the values right after the restore can be compared too.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

tf = pytest.importorskip("tensorflow")
np = pytest.importorskip("numpy")

import fastmeta  # noqa: E402
import fastmeta.tf as ftf  # noqa: E402
from tf_oracle import diff_graph_defs  # noqa: E402

pytestmark = pytest.mark.tf

v1 = tf.compat.v1
KINDS = ["main_op", "legacy_init_op", "asset_file_def", "pbtxt", "simple_save", "stripped"]
SCOPES = [None, "imp"]


def build(export_dir: Path, kind: str) -> None:
    """A SavedModel of ``kind`` (see the module docstring) in ``export_dir``."""
    from tensorflow.python.saved_model import builder_impl

    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        w = v1.get_variable("w", initializer=tf.ones([3, 2]), use_resource=False)
        r = v1.get_variable("r", initializer=tf.fill([2], 2.0), use_resource=True)
        p = v1.get_variable(
            "p", shape=[5, 2], initializer=v1.constant_initializer(3.0),
            partitioner=v1.fixed_size_partitioner(2), use_resource=False,
        )  # fmt: skip
        y = tf.add(tf.matmul(x, w) + r, tf.reduce_sum(p), name="y")
        counter = v1.get_variable("counter", initializer=0, trainable=False, use_resource=True)
        seen = v1.get_variable("seen_asset", initializer="", dtype=tf.string, trainable=False, use_resource=False)
        vocab = export_dir.parent / f"{export_dir.name}_vocab.txt"
        vocab.write_text("a\nb\n")
        asset = tf.constant(str(vocab), name="asset_path")
        init = tf.group(v1.assign_add(counter, 7), v1.assign(seen, asset), name="init_all")
        signatures = {"sig": v1.saved_model.predict_signature_def({"x": x}, {"y": y})}
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            sess.run(w.assign([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
            sess.run(r.assign([-1.0, 0.5]))
            sess.run(counter.assign(35))
            for i, part in enumerate(p):
                sess.run(part.assign(np.full(part.shape, 10.0 * (i + 1), np.float32)))
            if kind == "simple_save":
                v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, asset)
                v1.saved_model.simple_save(sess, str(export_dir), {"x": x}, {"y": y},
                                           legacy_init_op=init)  # fmt: skip
                return
            if kind == "asset_file_def":
                b: Any = builder_impl._SavedModelBuilder(str(export_dir))
                b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures,
                                               assets_list=[asset], init_op=init)  # fmt: skip
                b.add_meta_graph(["train", "gpu"], clear_devices=True, init_op=init)
                b.save()
                return
            b = v1.saved_model.Builder(str(export_dir))
            extra = {"legacy_init_op": init} if kind == "legacy_init_op" else {"main_op": init}
            b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures,
                                           assets_collection=[asset], strip_default_attrs=kind == "stripped",
                                           **extra)  # fmt: skip
            b.add_meta_graph(["train", "gpu"], clear_devices=True)  # (the op is in the collection)
            b.save(as_text=kind == "pbtxt")
    if kind == "legacy_init_op":
        # TensorFlow 2.21's builder files a legacy_init_op under saved_model_main_op: the
        # legacy key, as older TensorFlows wrote it, by hand.
        from tensorflow.core.protobuf import saved_model_pb2

        path = export_dir / "saved_model.pb"
        saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
        for meta in saved.meta_graphs:
            meta.collection_def["legacy_init_op"].CopyFrom(meta.collection_def.pop("saved_model_main_op"))
        path.write_bytes(saved.SerializeToString())


_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("saved_models")
    for kind in KINDS:
        build(root / kind, kind)
        _BUILT[kind] = root / kind
    return _BUILT


def tf_load(export_dir: Path, tags: list[str], import_scope: str | None = None, **kw: Any) -> dict[str, Any]:
    """TensorFlow's loader, step by step (its SavedModelLoader's own methods, in the order
    its ``load`` calls them): graph, values after the restore, values after the init op,
    asset feed, init op, and the MetaGraphDef ``loader.load`` returns."""
    from tensorflow.python.saved_model import loader_impl

    g = tf.Graph()
    with v1.Session(graph=g) as sess, g.as_default():
        loader = loader_impl.SavedModelLoader(str(export_dir))
        saver, _ = loader.load_graph(g, tags, import_scope, **kw)
        loader.restore_variables(sess, saver, import_scope)
        variables = v1.global_variables()
        restored = dict(zip([v.op.name for v in variables], sess.run(variables)))
        meta = loader.get_meta_graph_def_from_tags(tags)
        assets = loader_impl.get_asset_tensors(str(export_dir), meta, import_scope=import_scope)
        init_op = loader_impl.get_init_op(meta, import_scope)
        loader.run_init_ops(sess, tags, import_scope)
        after = dict(zip([v.op.name for v in variables], sess.run(variables)))
        graph_def = g.as_graph_def()
    # (the whole loader, for the MetaGraphDef it returns)
    g2 = tf.Graph()
    with v1.Session(graph=g2) as sess:
        returned = v1.saved_model.loader.load(sess, tags, str(export_dir), import_scope=import_scope, **kw)
        assert g2.as_graph_def() == graph_def
    return {
        "graph_def": graph_def, "restored": restored, "after": after, "assets": assets,
        "init_op": None if init_op is None else init_op.name, "returned": returned,
    }  # fmt: skip


@pytest.mark.parametrize("scope", SCOPES, ids=["no_scope", "scope"])
@pytest.mark.parametrize("kind", KINDS)
def test_tf_free_load_is_tensorflows(models: dict[str, Path], kind: str, scope: str | None) -> None:
    export_dir = models[kind]
    tags = ["serve"]
    expected = tf_load(export_dir, tags, scope)
    graph = fastmeta.Graph()
    loaded = fastmeta.saved_model.load(export_dir, tags, import_scope=scope, graph=graph)
    assert loaded.graph is graph
    assert diff_graph_defs(expected["graph_def"], graph.as_graph_def()) == []
    # The restored values, as TensorFlow's session holds them right after its restore.
    values = loaded.variables
    assert values is not None
    got = {**values, **values.slices}
    for name, value in expected["restored"].items():
        if name.endswith("/p") or name == "p":
            continue  # (a partitioned variable has no whole variable in TensorFlow's graph)
        assert name in got, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    parts = sorted(n for n in expected["restored"] if "/part_" in n)
    full = values[parts[0].rsplit("/", 1)[0]]
    np.testing.assert_array_equal(full, np.concatenate([expected["restored"][n] for n in parts]))
    assert loaded.asset_paths == {k: os.fsdecode(v) for k, v in expected["assets"].items()}
    assert loaded.asset_paths and all(os.path.isfile(p) for p in loaded.asset_paths.values())
    assert loaded.init_op is not None and loaded.init_op.name == expected["init_op"]
    assert loaded.meta_graph_def.SerializeToString(deterministic=True) == fastmeta.saved_model.read_saved_model(
        export_dir
    ).meta_graph_for_tags(tags).meta_graph_def().SerializeToString(deterministic=True)
    assert set(loaded.signature_def) == set(expected["returned"].signature_def)


@pytest.mark.parametrize("scope", SCOPES, ids=["no_scope", "scope"])
@pytest.mark.parametrize("kind", KINDS)
def test_dropin_load_is_tensorflows(models: dict[str, Path], kind: str, scope: str | None) -> None:
    export_dir = models[kind]
    expected = tf_load(export_dir, ["serve"], scope)
    g = tf.Graph()
    with v1.Session(graph=g) as sess:
        returned = ftf.saved_model.load(sess, ["serve"], str(export_dir), import_scope=scope)
        variables = v1.global_variables()
        after = dict(zip([v.op.name for v in variables], sess.run(variables)))
    assert diff_graph_defs(expected["graph_def"], g.as_graph_def()) == []
    assert type(returned) is type(expected["returned"])
    assert returned == expected["returned"]
    assert set(after) == set(expected["after"])
    for name, value in expected["after"].items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    # The init op ran with the asset fed its path inside the SavedModel.
    prefix = f"{scope}/" if scope else ""
    assert after[prefix + "counter"] == 35 + 7
    assert os.fsdecode(after[prefix + "seen_asset"]) == os.path.join(str(export_dir), "assets", f"{kind}_vocab.txt")


def test_stripped_default_attrs_come_back_in_the_returned_meta_graph(models: dict[str, Path]) -> None:
    """TensorFlow's importer adds its registry's default attrs to the returned message's nodes."""
    stripped = fastmeta.saved_model.read_saved_model(models["stripped"]).meta_graphs[0].meta_graph_def()
    assert stripped.meta_info_def.stripped_default_attrs
    returned = tf_load(models["stripped"], ["serve"])["returned"]
    assert returned.graph_def != tf.compat.v1.GraphDef.FromString(stripped.graph_def.SerializeToString())


TF2_MODULE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf

class M(tf.Module):
    def __init__(self):
        self.w = tf.Variable([[1.0, 2.0], [3.0, 4.0]], name="w")
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(["a", "b"], [1, 2]), -1)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32), tf.TensorSpec([None], tf.string)])
    def __call__(self, x, k):
        return {"y": tf.matmul(x, self.w), "ids": self.table.lookup(k)}

tf.saved_model.save(M(), sys.argv[1])
"""


def test_tf2_saved_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A TF2 SavedModel through the v1 loader: the restore and the table initializer run
    inside functions. The drop-in is TensorFlow's; TF-free, the graph and init op are,
    and nothing is restored (a warning says why)."""
    import subprocess

    export_dir = tmp_path / "tf2"
    proc = subprocess.run([sys.executable, "-c", TF2_MODULE, str(export_dir)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    expected = tf_load(export_dir, ["serve"])
    g = tf.Graph()
    with v1.Session(graph=g) as sess:
        returned = ftf.saved_model.load(sess, ["serve"], str(export_dir))
        sig = returned.signature_def["serving_default"]
        feeds = {sig.inputs["x"].name: [[1.0, 1.0]], sig.inputs["k"].name: [b"b", b"z"]}
        y, ids = sess.run([sig.outputs["y"].name, sig.outputs["ids"].name], feeds)
    assert returned == expected["returned"]
    assert diff_graph_defs(expected["graph_def"], g.as_graph_def()) == []
    np.testing.assert_array_equal(y, [[4.0, 6.0]])  # restored w (the init op filled the table)
    np.testing.assert_array_equal(ids, [2, -1])
    graph = fastmeta.Graph()
    with caplog.at_level("WARNING", logger="fastmeta"):
        loaded = fastmeta.saved_model.load(export_dir, ["serve"], graph=graph)
    assert diff_graph_defs(expected["graph_def"], graph.as_graph_def()) == []
    assert loaded.init_op is not None and loaded.init_op.name == expected["init_op"]
    assert loaded.variables == {} and "restores inside a function" in caplog.text


def test_other_tags_pick_the_other_meta_graph(models: dict[str, Path]) -> None:
    export_dir = models["main_op"]
    expected = tf_load(export_dir, ["gpu", "train"], "t")
    graph = fastmeta.Graph()
    loaded = fastmeta.saved_model.load(export_dir, ("gpu", "train"), import_scope="t", graph=graph)
    assert loaded.tags == ["train", "gpu"]
    assert diff_graph_defs(expected["graph_def"], graph.as_graph_def()) == []
    g = tf.Graph()
    with v1.Session(graph=g) as sess:
        returned = ftf.saved_model_load(sess, {"train", "gpu"}, str(export_dir), import_scope="t")
    assert returned == expected["returned"]
    assert diff_graph_defs(expected["graph_def"], g.as_graph_def()) == []


def test_clear_devices_and_saver_kwargs(models: dict[str, Path]) -> None:
    """saver_kwargs go to the import (clear_devices among them); TensorFlow's returned
    MetaGraphDef has its nodes' devices cleared and its saver_def scoped: so has the drop-in's."""
    export_dir = models["legacy_init_op"]
    expected = tf_load(export_dir, ["serve"], "dev", clear_devices=True)
    g = tf.Graph()
    with v1.Session(graph=g) as sess:
        returned = ftf.saved_model.load(sess, ["serve"], str(export_dir), import_scope="dev", clear_devices=True)
    assert returned == expected["returned"]
    assert returned.saver_def.restore_op_name.startswith("dev/")
    graph = fastmeta.Graph()
    fastmeta.saved_model.load(export_dir, ["serve"], import_scope="dev", graph=graph, clear_devices=True)
    assert diff_graph_defs(expected["graph_def"], graph.as_graph_def()) == []


def test_second_load_into_one_graph(models: dict[str, Path]) -> None:
    """Two loads into one graph: TensorFlow takes the init op from the graph's collection,
    whose first entry is the first load's: fastmeta returns the same op."""
    export_dir = models["main_op"]
    g = tf.Graph()
    with v1.Session(graph=g) as sess:
        from tensorflow.python.saved_model import loader_impl

        v1.saved_model.loader.load(sess, ["serve"], str(export_dir), import_scope="a")
        with g.as_default():
            meta = loader_impl.SavedModelLoader(str(export_dir)).get_meta_graph_def_from_tags(["serve"])
            v1.saved_model.loader.load(sess, ["serve"], str(export_dir), import_scope="b")
            tf_init = loader_impl.get_init_op(meta, "b").name
    graph = fastmeta.Graph()
    fastmeta.saved_model.load(export_dir, ["serve"], import_scope="a", graph=graph)
    second = fastmeta.saved_model.load(export_dir, ["serve"], import_scope="b", graph=graph)
    assert second.init_op is not None and second.init_op.name == tf_init


def _without_saver_def(src: Path, export_dir: Path) -> Path:
    """A copy of the SavedModel ``src`` whose meta graphs have no saver_def: the loader's
    import builds a fresh Saver over all the graph's variables."""
    from tensorflow.core.protobuf import saved_model_pb2

    shutil.copytree(src, export_dir)
    path = export_dir / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for meta in saved.meta_graphs:
        meta.ClearField("saver_def")
    path.write_bytes(saved.SerializeToString())
    return export_dir


def test_no_saver_def_restores_with_a_fresh_saver(models: dict[str, Path], tmp_path: Path) -> None:
    """The fresh Saver's restore op is staged in the import when the loader walks it: its
    inputs must resolve among the staged ops (they were looked up in the committed graph:
    a KeyError)."""
    export_dir = _without_saver_def(models["main_op"], tmp_path / "model")
    expected = tf_load(export_dir, ["serve"])
    graph = fastmeta.Graph()
    loaded = fastmeta.saved_model.load(export_dir, ["serve"], graph=graph)
    assert loaded.saver is not None
    assert diff_graph_defs(expected["graph_def"], graph.as_graph_def()) == []
    values = loaded.variables
    assert values is not None
    got = {**values, **values.slices}
    assert expected["restored"]
    for name, value in expected["restored"].items():
        if name.endswith("/p") or name == "p":
            continue
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    # The views the import made see the graph after its commit too.
    restore_op = graph.get_operation_by_name(loaded.saver.saver_def.restore_op_name)
    assert restore_op.control_inputs
    assert loaded.saver.restore_targets()


def test_no_saver_def_under_a_scope_restores_scoped_keys(models: dict[str, Path], tmp_path: Path) -> None:
    """Under a scope, the fresh Saver's keys are the scoped names (``imp/w``), which the
    checkpoint does not hold: TensorFlow's restore fails (NotFoundError), so does
    fastmeta's (a CheckpointError naming the key), leaving the graph empty."""
    export_dir = _without_saver_def(models["main_op"], tmp_path / "model")
    g = tf.Graph()
    with v1.Session(graph=g) as sess, pytest.raises(tf.errors.NotFoundError, match="Key imp/"):
        v1.saved_model.loader.load(sess, ["serve"], str(export_dir), import_scope="imp")
    graph = fastmeta.Graph()
    with graph.as_default(), pytest.raises(fastmeta.CheckpointError, match="'imp/w'"):
        fastmeta.saved_model.load(export_dir, ["serve"], import_scope="imp", graph=graph)
    assert graph.get_operations() == [] and graph.get_all_collection_keys() == []


@pytest.mark.parametrize("variables", ["absent", "present"])
def test_no_saver_def_into_a_graph_with_variables(models: dict[str, Path], tmp_path: Path, variables: str) -> None:
    """Loaded without a scope into a graph that already holds variables, a SavedModel with
    no saver_def gets a fresh Saver over all of them, the earlier ones included, which its
    checkpoint does not have (or there is none): TensorFlow's restore fails (a
    ValueError, or NotFoundError naming the key), fastmeta's is a CheckpointError (a
    ValueError) and the graph is left as it was."""
    export_dir = _without_saver_def(models["main_op"], tmp_path / "model")
    if variables == "absent":
        shutil.rmtree(export_dir / "variables")
    earlier = HERE / "fixtures" / "corpus" / "dynamic_rnn_v2.meta"
    g = tf.Graph()
    with g.as_default():
        v1.train.import_meta_graph(str(earlier), import_scope="before")
        with v1.Session(graph=g) as sess, pytest.raises(Exception) as tf_error:
            v1.saved_model.loader.load(sess, ["serve"], str(export_dir))
    graph = fastmeta.Graph()
    with graph.as_default():
        fastmeta.import_meta_graph(str(earlier), import_scope="before")
    assert graph.get_collection("variables")
    before = graph.as_graph_def().SerializeToString(deterministic=True)
    keys = {k: len(graph.get_collection(k)) for k in graph.get_all_collection_keys()}
    with graph.as_default(), pytest.raises(fastmeta.CheckpointError) as info:
        fastmeta.saved_model.load(export_dir, ["serve"], graph=graph)
    assert isinstance(info.value, ValueError)
    if variables == "absent":
        assert tf_error.type is ValueError and "not a valid checkpoint" in str(tf_error.value)
        assert str(export_dir / "variables" / "variables") in str(info.value)
    else:
        assert tf_error.type is tf.errors.NotFoundError and "before/" in str(tf_error.value)
        assert "before/" in str(info.value)
    assert graph.as_graph_def().SerializeToString(deterministic=True) == before
    assert {k: len(graph.get_collection(k)) for k in graph.get_all_collection_keys()} == keys
    # Nothing of the failed load is left: the model with its saver_def loads into it.
    loaded = fastmeta.saved_model.load(models["main_op"], ["serve"], import_scope="imp", graph=graph)
    assert loaded.variables is not None and "imp/w" in loaded.variables
    assert "save/restore_all" not in {op.name for op in graph.get_operations()}


# ---- bad input ------------------------------------------------------------------------


def _tf_error(export_dir: Path, tags: list[str]) -> BaseException:
    g = tf.Graph()
    with v1.Session(graph=g) as sess, pytest.raises(Exception) as info:
        v1.saved_model.loader.load(sess, tags, str(export_dir))
    return info.value


def _fm_error(export_dir: Path, tags: list[str], graph: fastmeta.Graph) -> BaseException:
    with pytest.raises(fastmeta.Error) as info:
        fastmeta.saved_model.load(export_dir, tags, import_scope="imp", graph=graph)
    assert graph.get_operations() == [] and graph.get_all_collection_keys() == []
    g = tf.Graph()
    with v1.Session(graph=g) as sess, pytest.raises(fastmeta.Error) as dropin:
        ftf.saved_model.load(sess, tags, str(export_dir))
    assert type(dropin.value) is type(info.value)
    return info.value


@pytest.mark.parametrize("case", ["missing_dir", "empty_dir"])
def test_no_saved_model_file(tmp_path: Path, case: str) -> None:
    export_dir = tmp_path / "model"
    if case == "empty_dir":
        export_dir.mkdir()
    expected = _tf_error(export_dir, ["serve"])
    error = _fm_error(export_dir, ["serve"], fastmeta.Graph())
    assert isinstance(expected, OSError)
    assert isinstance(error, fastmeta.SavedModelNotFoundError) and isinstance(error, FileNotFoundError)
    assert str(error) == str(expected)
    assert error.path == str(export_dir)  # type: ignore[attr-defined]


def test_wrong_tags_list_the_available(models: dict[str, Path]) -> None:
    for tags in (["serving"], ["serve", "gpu"], []):
        expected = _tf_error(models["main_op"], tags)
        error = _fm_error(models["main_op"], tags, fastmeta.Graph())
        assert isinstance(expected, RuntimeError)
        assert isinstance(error, fastmeta.TagsNotFoundError) and isinstance(error, RuntimeError)
        assert str(error) == str(expected)
        assert error.available == [{"serve"}, {"train", "gpu"}]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "added",
    [
        "saved_model_schema_version: 1\n",
        "meta_graphs { meta_info_def { tags: 'x' stripped_default_attrs: true stripped_default_attrs: false } }\n",
    ],
)
def test_a_pbtxt_giving_a_singular_field_twice_is_refused_as_tensorflow_refuses_it(
    models: dict[str, Path], tmp_path: Path, added: str
) -> None:
    # TensorFlow's loader reads saved_model.pbtxt with protobuf's text_format.Parse, which
    # refuses a singular field given twice in a message (a text meta graph file is read
    # with Merge, where the last wins: fastmeta read a SavedModel's that way too).
    export_dir = tmp_path / "model"
    shutil.copytree(models["pbtxt"], export_dir)
    path = export_dir / "saved_model.pbtxt"
    path.write_text(added + path.read_text())
    expected = _tf_error(export_dir, ["serve"])
    assert isinstance(expected, OSError) and "should not have multiple" in str(expected)
    error = _fm_error(export_dir, ["serve"], fastmeta.Graph())
    assert isinstance(error, fastmeta.SavedModelParseError) and isinstance(error, OSError)
    assert str(expected).split(": ", 1)[1].replace("tensorflow.", "fastmeta.") in str(error)


def test_a_pbtxt_that_is_a_directory_is_a_file_error(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pbtxt").mkdir()
    error = _fm_error(tmp_path, ["serve"], fastmeta.Graph())
    assert isinstance(error, fastmeta.FileError) and "it is a directory" in str(error)


@pytest.mark.parametrize("how", ["truncated", "garbage", "pbtxt_syntax"])
def test_garbled_file(models: dict[str, Path], tmp_path: Path, how: str) -> None:
    export_dir = tmp_path / "model"
    if how == "pbtxt_syntax":
        shutil.copytree(models["pbtxt"], export_dir)
        path = export_dir / "saved_model.pbtxt"
        path.write_text(path.read_text()[:-200] + " }}} nonsense")
    else:
        shutil.copytree(models["main_op"], export_dir)
        path = export_dir / "saved_model.pb"
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 1000] if how == "truncated" else data[:20] + b"\xff" * 64 + data[84:])
    expected = _tf_error(export_dir, ["serve"])
    assert isinstance(expected, OSError) and str(path) in str(expected)
    error = _fm_error(export_dir, ["serve"], fastmeta.Graph())
    assert isinstance(error, fastmeta.SavedModelParseError) and isinstance(error, OSError)
    assert error.path == str(path) and str(path) in str(error)  # type: ignore[attr-defined]


def _garble_meta_graph(models: dict[str, Path], tmp_path: Path, index: int) -> tuple[Path, Path, Any]:
    """A copy of the main_op model with six bytes in the middle of meta graph ``index``'s
    bytes overwritten: (the export dir, its saved_model.pb, that meta graph as read before)."""
    export_dir = tmp_path / "model"
    shutil.copytree(models["main_op"], export_dir)
    path = export_dir / "saved_model.pb"
    data = bytearray(path.read_bytes())
    meta = fastmeta.saved_model.read_saved_model(export_dir).meta_graphs[index]
    middle = meta.offset + len(meta.data) // 2
    data[middle : middle + 6] = b"\xff" * 6
    path.write_bytes(bytes(data))
    return export_dir, path, meta


def test_garbled_graph_of_the_chosen_meta_graph(models: dict[str, Path], tmp_path: Path) -> None:
    """Damage inside the meta graph's GraphDef: found by the core, reported at its offset
    in the file."""
    export_dir, path, meta = _garble_meta_graph(models, tmp_path, 0)
    expected = _tf_error(export_dir, ["serve"])
    assert isinstance(expected, OSError)
    error = _fm_error(export_dir, ["serve"], fastmeta.Graph())
    assert isinstance(error, fastmeta.SavedModelParseError) and error.path == str(path)  # type: ignore[attr-defined]
    assert error.offset is not None and meta.offset <= error.offset < meta.offset + len(meta.data)  # type: ignore[attr-defined]
    assert f"at byte offset {error.offset} of the file" in str(error)  # type: ignore[attr-defined]


@pytest.mark.parametrize("tags", [["serve"], ["nonesuch"]])
def test_garbled_graph_of_another_meta_graph(models: dict[str, Path], tmp_path: Path, tags: list[str]) -> None:
    """Damage inside the GraphDef of a meta graph not loaded: TensorFlow parses the whole
    file, so the load fails (before the tags are looked for), at its offset in the file."""
    export_dir, path, other = _garble_meta_graph(models, tmp_path, 1)
    expected = _tf_error(export_dir, tags)
    assert isinstance(expected, OSError) and "Cannot parse file" in str(expected)
    error = _fm_error(export_dir, tags, fastmeta.Graph())
    assert isinstance(error, fastmeta.SavedModelParseError) and error.path == str(path)  # type: ignore[attr-defined]
    assert error.offset is not None and other.offset <= error.offset < other.offset + len(other.data)  # type: ignore[attr-defined]
    assert f"at byte offset {error.offset})" in str(error) and "meta graph 1" in str(error)  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["no_variables_dir", "no_index", "corrupt_data"])
def test_bad_variables_leave_the_graph_unchanged(models: dict[str, Path], tmp_path: Path, how: str) -> None:
    export_dir = tmp_path / "model"
    shutil.copytree(models["main_op"], export_dir)
    variables = export_dir / "variables"
    if how == "no_variables_dir":
        shutil.rmtree(variables)
    elif how == "no_index":
        (variables / "variables.index").unlink()
    else:
        data = variables / "variables.data-00000-of-00001"
        raw = bytearray(data.read_bytes())
        raw[: len(raw)] = bytes(b ^ 0x5A for b in raw)
        data.write_bytes(bytes(raw))
    g = tf.Graph()
    with v1.Session(graph=g) as sess, pytest.raises(Exception) as tf_error:
        v1.saved_model.loader.load(sess, ["serve"], str(export_dir))
    # (TensorFlow fails after the import, in the session)
    assert tf_error.type is (tf.errors.DataLossError if how == "corrupt_data" else ValueError)
    assert len(g.get_operations()) > 0
    graph = fastmeta.Graph()
    with pytest.raises(fastmeta.CheckpointError) as info:
        fastmeta.saved_model.load(export_dir, ["serve"], import_scope="imp", graph=graph)
    assert "variables" in str(info.value)
    assert graph.get_operations() == [] and graph.get_all_collection_keys() == []
    # Nothing of the failed load is left: a retry lands in the same scope.
    shutil.rmtree(export_dir)
    shutil.copytree(models["main_op"], export_dir)
    loaded = fastmeta.saved_model.load(export_dir, ["serve"], import_scope="imp", graph=graph)
    assert loaded.variables is not None and "imp/w" in loaded.variables


def test_a_garbled_legacy_asset_collection_leaves_the_graph_unchanged(models: dict[str, Path], tmp_path: Path) -> None:
    """An AssetFileDef in the legacy ``saved_model_assets`` collection that does not parse:
    TensorFlow's loader fails after its import (DecodeError); the TF-free load reads the
    assets inside the import (after the restore, as TensorFlow's order), so it fails with
    the graph as it was (its assets were read after the import had committed)."""
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir = tmp_path / "model"
    shutil.copytree(models["main_op"], export_dir)
    path = export_dir / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    asset = saved.meta_graphs[0].collection_def["saved_model_assets"].any_list.value.add()
    asset.type_url = "type.googleapis.com/tensorflow.AssetFileDef"
    asset.value = b"\xff\xff"
    path.write_bytes(saved.SerializeToString())
    g = tf.Graph()
    with v1.Session(graph=g) as sess, pytest.raises(Exception, match="Error parsing message"):
        v1.saved_model.loader.load(sess, ["serve"], str(export_dir))
    graph = fastmeta.Graph()
    with pytest.raises(fastmeta.ParseError, match="an AssetFileDef cannot be parsed"):
        fastmeta.saved_model.load(export_dir, ["serve"], import_scope="imp", graph=graph)
    assert graph.get_operations() == [] and graph.get_all_collection_keys() == []


def test_not_exactly_one_init_op(models: dict[str, Path], tmp_path: Path) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir = tmp_path / "model"
    shutil.copytree(models["main_op"], export_dir)
    path = export_dir / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    saved.meta_graphs[0].collection_def["saved_model_main_op"].node_list.value.append("y")
    path.write_bytes(saved.SerializeToString())
    expected = _tf_error(export_dir, ["serve"])
    graph = fastmeta.Graph()
    with pytest.raises(fastmeta.SavedModelError) as info:
        fastmeta.saved_model.load(export_dir, ["serve"], graph=graph)
    assert isinstance(expected, RuntimeError) and str(info.value) == str(expected)
    assert graph.get_operations() == []


@pytest.mark.parametrize("where", ["signature", "main_op"])
def test_an_init_op_naming_a_tensor_is_tensorflow_s_type_error(models: dict[str, Path], tmp_path: Path,
                                                               where: str) -> None:  # fmt: skip
    """The init op given by the ``__saved_model_init_op`` signature or the
    ``saved_model_main_op`` collection names a tensor (``y:0``): TensorFlow's loader takes
    its truth value and fails (OperatorNotAllowedInGraphError, a TypeError); so do both
    doors (the TF-free one with the graph as it was)."""
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir = tmp_path / "model"
    shutil.copytree(models["asset_file_def" if where == "signature" else "main_op"], export_dir)
    path = export_dir / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    meta = saved.meta_graphs[0]
    if where == "signature":
        meta.signature_def["__saved_model_init_op"].outputs["__saved_model_init_op"].name = "y:0"
    else:
        meta.collection_def["saved_model_main_op"].node_list.value[0] = "y:0"
    path.write_bytes(saved.SerializeToString())
    expected = _tf_error(export_dir, ["serve"])
    assert isinstance(expected, TypeError) and "as a Python `bool` is not allowed" in str(expected)
    with v1.Session(graph=tf.Graph()) as sess, pytest.raises(TypeError) as dropin:
        ftf.saved_model.load(sess, ["serve"], str(export_dir))
    assert type(dropin.value) is type(expected)
    graph = fastmeta.Graph()
    with pytest.raises(fastmeta.SavedModelTypeError, match="names tensor 'imp/y:0', not an operation") as info:
        fastmeta.saved_model.load(export_dir, ["serve"], import_scope="imp", graph=graph)
    assert isinstance(info.value, TypeError) and "as a Python `bool` is not allowed" in str(info.value)
    assert graph.get_operations() == []


def test_contains_saved_model(models: dict[str, Path], tmp_path: Path) -> None:
    for kind in ("main_op", "pbtxt"):
        assert fastmeta.saved_model.contains_saved_model(models[kind]) == v1.saved_model.contains_saved_model(
            str(models[kind])) is True  # fmt: skip
    assert fastmeta.saved_model.contains_saved_model(tmp_path) is v1.saved_model.contains_saved_model(str(tmp_path))


@pytest.mark.parametrize("kind", ["asset_file_def", "pbtxt"])
def test_cli_inspect_lists_meta_graphs(models: dict[str, Path], kind: str) -> None:
    import json
    import subprocess

    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir = models[kind]
    proc = subprocess.run([sys.executable, "-m", "fastmeta", "inspect", str(export_dir), "--json"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    saved = saved_model_pb2.SavedModel()
    if kind == "pbtxt":
        text_format.Parse((export_dir / "saved_model.pbtxt").read_text(), saved)
    else:
        saved.ParseFromString((export_dir / "saved_model.pb").read_bytes())
    assert [(m["tags"], m["nodes"], m["signatures"], m["saver"]) for m in summary["meta_graphs"]] == [
        (list(m.meta_info_def.tags), len(m.graph_def.node), sorted(m.signature_def), m.HasField("saver_def"))
        for m in saved.meta_graphs
    ]
    assert summary["format"] == ("text" if kind == "pbtxt" else "binary")
    text = subprocess.run([sys.executable, "-m", "fastmeta", "inspect", str(export_dir)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert text.returncode == 0 and "tags ['train', 'gpu']" in text.stdout
    # Commands that need one meta graph still refuse the directory, saying what to do.
    refused = subprocess.run([sys.executable, "-m", "fastmeta", "rewrite", str(export_dir), os.devnull],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert refused.returncode == 1 and "fastmeta.saved_model.load" in refused.stderr


@pytest.mark.parametrize("case", ["malformed", "filtered"])
def test_an_init_op_tensorflow_refuses_fails_with_its_builtin_class(
    models: dict[str, Path], tmp_path: Path, case: str
) -> None:
    """A ``__saved_model_init_op`` signature naming no valid name (``y:0:1``):
    TensorFlow's lookup's ValueError; the ``saved_model_main_op`` collection left out by
    ``restore_collections_predicate``: the IndexError of its first item. The TF-free
    loader raised a plain SavedModelError (a RuntimeError) for both; the graph is left
    as it was."""
    from tensorflow.core.protobuf import saved_model_pb2

    kwargs: dict[str, Any] = {}
    export_dir = tmp_path / "model"
    if case == "malformed":
        shutil.copytree(models["asset_file_def"], export_dir)
        path = export_dir / "saved_model.pb"
        saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
        saved.meta_graphs[0].signature_def["__saved_model_init_op"].outputs["__saved_model_init_op"].name = "y:0:1"
        path.write_bytes(saved.SerializeToString())
        builtin: type[BaseException] = ValueError
    else:
        shutil.copytree(models["main_op"], export_dir)
        kwargs["restore_collections_predicate"] = lambda key: key != "saved_model_main_op"
        builtin = IndexError
    with v1.Session(graph=tf.Graph()) as sess, pytest.raises(Exception) as expected:
        v1.saved_model.loader.load(sess, ["serve"], str(export_dir), **kwargs)
    assert isinstance(expected.value, builtin)
    graph = fastmeta.Graph()
    with pytest.raises(fastmeta.SavedModelError) as info:
        fastmeta.saved_model.load(export_dir, ["serve"], graph=graph, **kwargs)
    assert isinstance(info.value, builtin)
    assert graph.get_operations() == []


def test_the_dropin_returns_tensorflows_message_for_a_newer_producer(models: dict[str, Path], tmp_path: Path) -> None:
    """A node holding an attr TensorFlow's registry lacks at the default the file's op
    list gives it (a newer producer's): TensorFlow's importer drops it from the message
    the loader returns (its _RemoveDefaultAttrs); the drop-in returned it kept."""
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir = tmp_path / "model"
    shutil.copytree(models["main_op"], export_dir)
    path = export_dir / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    meta = saved.meta_graphs[0]
    node = next(n for n in meta.graph_def.node if n.op == "Identity")
    op_def = next(o for o in meta.meta_info_def.stripped_op_list.op if o.name == "Identity")
    op_def.attr.add(name="new_attr", type="int").default_value.i = 0
    node.attr["new_attr"].i = 0
    path.write_bytes(saved.SerializeToString())
    with v1.Session(graph=tf.Graph()) as sess:
        expected = v1.saved_model.loader.load(sess, ["serve"], str(export_dir))
    with v1.Session(graph=tf.Graph()) as sess:
        got = ftf.saved_model.load(sess, ["serve"], str(export_dir))
    assert all("new_attr" not in n.attr for n in expected.graph_def.node)
    assert got == expected
