"""The TensorFlow-free import against TensorFlow on odd collection contents: the builtin
class of each error (a fastmeta error that is also the class TensorFlow raises), and a
ref VariableDef naming its variable's op, which TensorFlow imports.

Each case is run through TensorFlow's ``import_meta_graph`` (skipped where TensorFlow is
not installed) and through ``fastmeta.import_meta_graph`` into a fastmeta.Graph, which a
failed import must leave as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fastmeta
import tf_oracle
from fastmeta.protos import meta_graph_pb2, queue_runner_pb2, variable_pb2
from tf_oracle import describe_collections


def _tf() -> Any:
    tf = tf_oracle._tf()
    tf.compat.v1.disable_eager_execution()
    return tf


def _base(mht: bool = False) -> meta_graph_pb2.MetaGraphDef:
    """A small graph: a tensor ``a:0`` and a ref variable ``r``, with a saver_def (and a
    v1 MutableHashTable ``mht`` when ``mht``), as TensorFlow exports it."""
    tf = _tf()
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        tf.identity(tf.constant(1.0), name="a")
        v1.Variable(1.0, name="r", use_resource=False)
        if mht:
            tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1, name="mht")
        data = v1.train.export_meta_graph(saver_def=v1.train.Saver().as_saver_def()).SerializeToString()
    return meta_graph_pb2.MetaGraphDef.FromString(data)


def _edited(edit: Callable[[meta_graph_pb2.MetaGraphDef], None], mht: bool = False) -> bytes:
    mg = _base(mht)
    edit(mg)
    return mg.SerializeToString()


def _snapshot(g: fastmeta.Graph) -> tuple:
    return (g.as_graph_def().SerializeToString(deterministic=True), describe_collections(g), g.num_operations())


def _tf_error(data: bytes, scope: str | None) -> BaseException:
    tf = _tf()
    with tf.Graph().as_default():
        try:
            tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data), import_scope=scope)
        except Exception as e:
            return e
    raise AssertionError("TensorFlow imported it")


def _fastmeta_error(data: bytes, scope: str | None, cls: type[BaseException]) -> BaseException:
    g = fastmeta.Graph()
    with g.as_default():
        g.placeholder("float32", [2], name="before")
    before = _snapshot(g)
    with g.as_default(), pytest.raises(cls) as info:
        fastmeta.import_meta_graph(data, import_scope=scope)
    assert _snapshot(g) == before
    return info.value


def _variables_as_node_list(names: list[str]) -> Callable[[meta_graph_pb2.MetaGraphDef], None]:
    def edit(mg: meta_graph_pb2.MetaGraphDef) -> None:
        mg.ClearField("saver_def")
        del mg.collection_def["variables"]
        del mg.collection_def["trainable_variables"]
        mg.collection_def["variables"].node_list.value.extend(names)

    return edit


def _op_named_variable(mg: meta_graph_pb2.MetaGraphDef) -> None:
    # variable_name 'r' (the op), not 'r:0'
    for key in ("variables", "trainable_variables"):
        values = mg.collection_def[key].bytes_list.value
        for i, raw in enumerate(values):
            vd = variable_pb2.VariableDef.FromString(raw)
            if vd.variable_name == "r:0":
                vd.variable_name = "r"
                values[i] = vd.SerializeToString()


def _no_saver_def(edit: Callable[[meta_graph_pb2.MetaGraphDef], None]) -> Callable[[meta_graph_pb2.MetaGraphDef], None]:
    def both(mg: meta_graph_pb2.MetaGraphDef) -> None:
        edit(mg)
        mg.ClearField("saver_def")

    return both


# What the fresh Saver of a file without saver_def refuses with a TypeError.
@pytest.mark.parametrize(
    ("case", "key"),
    [
        ("variables_naming_a_tensor", "variables"),
        ("variables_naming_an_op", "variables"),
        ("saveable_objects_op", "saveable_objects"),
    ],
)
@pytest.mark.parametrize("scope", [None, "s"])
def test_what_the_fresh_saver_refuses_is_a_typed_type_error(case: str, key: str, scope: str | None) -> None:
    if case == "variables_naming_a_tensor":
        data = _edited(_variables_as_node_list(["r:0", "a:0"]))
    elif case == "variables_naming_an_op":
        data = _edited(_variables_as_node_list(["a"]))
    elif case == "saveable_objects_op":
        data = _edited(
            _no_saver_def(lambda mg: mg.collection_def["saveable_objects"].node_list.value.append("mht")), mht=True
        )
    want = _tf_error(data, scope)
    got = _fastmeta_error(data, scope, fastmeta.CollectionTypeError)
    assert type(want) is TypeError
    assert isinstance(got, TypeError) and isinstance(got, fastmeta.CollectionError)
    assert got.key == key
    assert str(got) == f"collection '{key}': no Saver can be built: {want}"


@pytest.mark.parametrize("scope", [None, "s"])
def test_a_ref_variable_naming_its_op_fails_the_fresh_saver_as_in_tensorflow(scope: str | None) -> None:
    # TensorFlow's conversion of such a variable to a tensor gives an Operation, which its
    # conversion machinery refuses with a RuntimeError.
    data = _edited(_no_saver_def(_op_named_variable))
    want = _tf_error(data, scope)
    got = _fastmeta_error(data, scope, fastmeta.CollectionRuntimeError)
    assert type(want) is RuntimeError and isinstance(got, RuntimeError)
    shown = f"returned non-Tensor: <tf.Operation '{scope + '/' if scope else ''}r' type=VariableV2>"
    assert shown in str(want) and shown in str(got) and got.key == "variables"


@pytest.mark.parametrize("name", ["a:0:0", "loc:@a"])
def test_a_node_list_entry_tensorflow_refuses_with_a_value_error(name: str) -> None:
    data = _edited(lambda mg: mg.collection_def["bad"].node_list.value.append(name))
    want = _tf_error(data, None)
    got = _fastmeta_error(data, None, fastmeta.CollectionValueError)
    assert type(want) is ValueError and isinstance(got, ValueError) and isinstance(got, KeyError)
    assert str(want) in str(got) and got.key == "bad" and got.name == name


def test_a_node_list_entry_not_in_the_graph_stays_a_key_error() -> None:
    data = _edited(lambda mg: mg.collection_def["bad"].node_list.value.append("nope"))
    want = _tf_error(data, None)
    got = _fastmeta_error(data, None, fastmeta.CollectionError)
    assert type(want) is KeyError and isinstance(got, KeyError) and not isinstance(got, ValueError)


def test_non_utf8_bytes_under_a_scope_are_a_value_error() -> None:
    # TensorFlow: UnicodeDecodeError (a ValueError) as it puts the entry under the scope.
    data = _edited(lambda mg: mg.collection_def["b"].bytes_list.value.append(b"\xff"))
    want = _tf_error(data, "s")
    assert isinstance(want, UnicodeDecodeError)
    got = _fastmeta_error(data, "s", fastmeta.CollectionValueError)
    assert isinstance(got, ValueError)


@pytest.mark.parametrize("scope", [None, "s", "a/b"])
def test_a_ref_variable_def_naming_its_op_imports_as_in_tensorflow(scope: str | None) -> None:
    # TensorFlow's RefVariable.from_proto keeps what as_graph_element gives: the op; the
    # variable's name is then the op's, and it has no op, dtype nor shape.
    data = _edited(_op_named_variable)
    tf = _tf()
    with tf.Graph().as_default() as tg:
        tf_saver = tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data), import_scope=scope)
        tf_vars = tg.get_collection("variables")
        tf_cols = describe_collections(tg)
        tf_gd = tg.as_graph_def()
    g = fastmeta.Graph()
    with g.as_default():
        saver = fastmeta.import_meta_graph(data, import_scope=scope)
    got = g.get_collection("variables")
    assert [v.name for v in got] == [v.name for v in tf_vars] == [f"{scope}/r" if scope else "r"]
    assert describe_collections(g) == tf_cols
    assert saver is not None
    assert saver.saver_def.SerializeToString(deterministic=True) == tf_saver.saver_def.SerializeToString(
        deterministic=True
    )
    assert not tf_tests_diff(g, tf_gd)
    v = got[0]
    assert v.device == tf_vars[0].device and v.graph is g
    assert v.initializer.name == tf_vars[0].initializer.name
    assert v.snapshot.name == tf_vars[0]._snapshot.name
    assert isinstance(v._as_graph_element(), fastmeta.Operation)
    for attr in ("op", "dtype"):
        with pytest.raises(AttributeError):
            getattr(tf_vars[0], attr)
        with pytest.raises(AttributeError):
            getattr(v, attr)
    assert g.get_collection("trainable_variables") == [v] or g.get_collection("trainable_variables")[0].name == v.name


def tf_tests_diff(g: fastmeta.Graph, tf_gd: Any) -> list[str]:
    return tf_oracle.diff_graph_defs(tf_gd, g.as_graph_def())


# A file without saver_def whose `variables` / `saveable_objects` list tensors variable
# ops make (node_list items, not VariableDefs): TensorFlow's fresh Saver saves each under
# the name of its variable op (a resource variable's read tensor: the handle it reads).


def _variable_tensors(variables: list[str] | None, saveable_objects: list[str]) -> bytes:
    """Ref variables ``v`` and ``u`` (``u`` in no collection) and a resource variable ``r``;
    no saver_def; ``variables`` replaced by the ``variables`` node_list (kept as
    VariableDefs when None), ``saveable_objects`` listing ``saveable_objects``."""
    tf = _tf()
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        v1.Variable([1.0, 2.0], name="v", use_resource=False)
        v1.Variable([3.0], name="r", use_resource=True)
        v1.Variable([[4.0]], name="u", use_resource=False, collections=[])
        mg = meta_graph_pb2.MetaGraphDef.FromString(v1.train.export_meta_graph().SerializeToString())
    mg.ClearField("saver_def")
    if variables is not None:
        del mg.collection_def["variables"]
        del mg.collection_def["trainable_variables"]
        mg.collection_def["variables"].node_list.value.extend(variables)
    if saveable_objects:
        mg.collection_def["saveable_objects"].node_list.value.extend(saveable_objects)
    return mg.SerializeToString()


@pytest.mark.parametrize(
    ("variables", "saveable_objects"),
    [
        (["v:0"], []),
        (["r/Read/ReadVariableOp:0"], []),
        (["v:0", "r/Read/ReadVariableOp:0", "u:0"], []),
        (None, ["u:0"]),
        (["v:0"], ["r/Read/ReadVariableOp:0"]),
    ],
    ids=["ref", "resource_read", "all_three", "saveable_beside_variable_defs", "both_collections"],
)
@pytest.mark.parametrize("scope", [None, "s"])
def test_a_fresh_saver_over_variable_tensors_is_tensorflow_s(
    variables: list[str] | None, saveable_objects: list[str], scope: str | None, tmp_path: Path
) -> None:
    data = _variable_tensors(variables, saveable_objects)
    tf = _tf()
    v1 = tf.compat.v1
    with tf.Graph().as_default() as tg:
        tf_saver = v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), import_scope=scope)
        assert tf_saver is not None
        with v1.Session() as sess:
            sess.run(
                [
                    op
                    for op in tg.get_operations()
                    if op.type in ("Assign", "AssignVariableOp") and not op.name.startswith("save/")
                ]
            )
            tf_prefix = tf_saver.save(sess, str(tmp_path / "tf" / "model"))
    g = fastmeta.Graph()
    with g.as_default():
        saver = fastmeta.import_meta_graph(data, import_scope=scope)
    assert saver is not None
    assert tf_tests_diff(g, tg.as_graph_def()) == []
    assert saver.saver_def.SerializeToString() == tf_saver.saver_def.SerializeToString()
    # What it restores is what TensorFlow's Saver saved; what it saves, TensorFlow's bytes.
    values = saver.restore(tf_prefix)
    reader = tf.train.load_checkpoint(tf_prefix)
    assert sorted(values) == sorted(reader.get_variable_to_shape_map())
    for name, value in values.items():
        assert (value == reader.get_tensor(name)).all()
    fm_prefix = saver.save(str(tmp_path / "fm" / "model"), values)
    for suffix in (".index", ".data-00000-of-00001"):
        assert Path(fm_prefix + suffix).read_bytes() == Path(tf_prefix + suffix).read_bytes()


@pytest.mark.parametrize(
    ("variables", "saveable_objects", "cls", "key"),
    [
        (["r:0"], [], fastmeta.CollectionIndexError, "variables"),  # (a handle op's output)
        (["v:0", "v:0"], [], fastmeta.CollectionValueError, "variables"),
        (None, ["r/Read/ReadVariableOp:0"], fastmeta.CollectionValueError, "variables"),
        (["v:0"], ["v/read:0"], fastmeta.CollectionTypeError, "saveable_objects"),
        (["v:0"], ["u:0", "r:0"], fastmeta.CollectionIndexError, "saveable_objects"),
    ],
    ids=["handle_op_tensor", "twice", "read_beside_its_variable", "snapshot", "handle_op_saveable"],
)
@pytest.mark.parametrize("scope", [None, "s"])
def test_variable_tensors_the_fresh_saver_refuses_as_tensorflow(
    variables: list[str] | None, saveable_objects: list[str], cls: type[Exception], key: str, scope: str | None
) -> None:
    data = _variable_tensors(variables, saveable_objects)
    want = _tf_error(data, scope)
    got = _fastmeta_error(data, scope, cls)
    builtin = next(b for b in (IndexError, ValueError, TypeError) if issubclass(cls, b))
    assert type(want) is builtin and isinstance(got, fastmeta.CollectionError)
    assert got.key == key
    # (TensorFlow's IndexError says no more than "tuple index out of range": fastmeta's
    # message says why)
    assert str(got).startswith(f"collection '{key}': no Saver can be built: {want}")


@pytest.mark.parametrize("kind", ["bytes_list", "int64_list", "float_list"])
def test_an_unnamed_saveable_objects_item_is_a_collection_type_error(kind: str) -> None:
    # TensorFlow's Saver sorts its items by name: an AttributeError on a str or a number.
    # fastmeta: a CollectionTypeError naming the collection (a deliberate difference).
    def edit(mg: meta_graph_pb2.MetaGraphDef) -> None:
        getattr(mg.collection_def["saveable_objects"], kind).value.append(b"zz" if kind == "bytes_list" else 3)

    data = _edited(_no_saver_def(edit))
    want = _tf_error(data, None)
    got = _fastmeta_error(data, None, fastmeta.CollectionTypeError)
    assert type(want) is AttributeError and "has no attribute 'name'" in str(want)
    assert got.key == "saveable_objects" and "is no variable, tensor or operation" in str(got)


def _variable_fields(resource: bool, **fields: str) -> Callable[[meta_graph_pb2.MetaGraphDef], None]:
    def edit(mg: meta_graph_pb2.MetaGraphDef) -> None:
        for key in ("variables", "trainable_variables"):
            values = mg.collection_def[key].bytes_list.value
            vd = variable_pb2.VariableDef.FromString(values[0])
            for field, value in fields.items():
                setattr(vd, field, value)
            if resource:
                vd.is_resource = True
            values[0] = vd.SerializeToString()

    return edit


@pytest.mark.parametrize(
    "fields",
    [
        {"initial_value_name": "r/initial_value"},  # (an op's name: as_graph_element gives the op)
        {"snapshot_name": "r/read"},
        {"variable_name": "r/read:0"},  # (a tensor of another op: its shape is the variable's)
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()),
)
def test_variable_defs_naming_what_tensorflow_accepts_import_as_in_tensorflow(fields: dict[str, str]) -> None:
    # TensorFlow's RefVariable.from_proto keeps whatever as_graph_element gives; fastmeta
    # refused an op's name where it expected a tensor.
    data = _edited(_variable_fields(False, **fields))
    tf = _tf()
    with tf.Graph().as_default() as tg:
        tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data))
        want = tg.get_collection("variables")[0]
        want_shape = want.shape.as_list()
        want_names = (want.name, want._snapshot.name, want.initial_value.name)
    g = fastmeta.Graph()
    with g.as_default():
        fastmeta.import_meta_graph(data)
    got = g.get_collection("variables")[0]
    assert (got.name, got.snapshot.name, got.initial_value.name) == want_names
    assert [d.size for d in got.shape.dim] == want_shape == []


@pytest.mark.parametrize(
    "resource,fields,builtin",
    [
        (True, {"variable_name": "r"}, ValueError),  # (get_tensor_by_name's refusal of an op's name)
        (True, {}, IndexError),  # (a ref variable's VariableDef said to be a resource one: no ReadVariableOp)
    ],
    ids=["resource_naming_an_op", "ref_as_resource"],
)
def test_variable_defs_tensorflow_refuses_fail_with_its_builtin_class(
    resource: bool, fields: dict[str, str], builtin: type[BaseException]
) -> None:
    data = _edited(_variable_fields(resource, **fields))
    expected = _tf_error(data, None)
    assert isinstance(expected, builtin)
    got = _fastmeta_error(data, None, fastmeta.CollectionError)
    assert isinstance(got, builtin)
    if builtin is ValueError:
        assert str(expected) in str(got)


@pytest.mark.parametrize("code", [0, 17, 99])
def test_a_queue_runner_code_no_error_class_has_is_tensorflow_s_key_error(code: int) -> None:
    # TensorFlow maps each queue_closed_exception_types code to its error class (a
    # KeyError for one without); fastmeta kept the code.
    tf = _tf()
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        queue = v1.FIFOQueue(2, tf.float32, name="fifo")
        v1.train.add_queue_runner(v1.train.QueueRunner(queue, [queue.enqueue([1.0])]))
        mg = meta_graph_pb2.MetaGraphDef.FromString(v1.train.export_meta_graph().SerializeToString())
    values = mg.collection_def["queue_runners"].bytes_list.value
    qr = queue_runner_pb2.QueueRunnerDef.FromString(values[0])
    qr.queue_closed_exception_types[:] = [11, code]
    values[0] = qr.SerializeToString()
    data = mg.SerializeToString()
    assert isinstance(_tf_error(data, None), KeyError)
    got = _fastmeta_error(data, None, fastmeta.CollectionError)
    assert isinstance(got, KeyError) and f"holds {code}" in str(got)
