"""Differential tests of the TF-free Graph API (``Operation``, ``Tensor``, lookups,
``return_elements``) against the same calls on TensorFlow's ``tf.Graph``, after the same
import: the answers (values, error types and messages) must be TensorFlow's.

The corpus tests compare what an import builds (``as_graph_def``, collections); these
compare what the API answers about it, including the cases a file written by
TensorFlow's Python API never holds (a ``_class`` with its groups unsorted or repeated)
and the ways a caller may name an element (``bytes``, a negative output index, a
Variable).
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastmeta
import pytest
from fastmeta.protos import meta_graph_pb2
from google.protobuf import text_format

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
from tensorflow.python.framework import errors_impl  # noqa: E402
from tensorflow.python.framework import meta_graph as tf_meta_graph  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus_fixtures import CORPUS, MANIFEST  # noqa: E402

# Fixtures TensorFlow imports without an input_map.
PLAIN = sorted(f["file"] for f in MANIFEST["fixtures"] if not f["required_input_map"])

v1 = tf.compat.v1

_F = 'attr { key: "T" value { type: DT_FLOAT } }'


def _const(name: str, extra: str = "") -> str:
    return (
        f'node {{ name: "{name}" op: "Const" {extra} attr {{ key: "dtype" value {{ type: DT_FLOAT }} }} '
        'attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1 } } } }\n'
    )


def _identity(name: str, source: str, extra: str = "") -> str:
    return f'node {{ name: "{name}" op: "Identity" input: "{source}" {extra} {_F} }}\n'


def _class(*targets: str) -> str:
    entries = " ".join(f's: "loc:@{t}"' for t in targets)
    return f'attr {{ key: "_class" value {{ list {{ {entries} }} }} }}'


def _op_list() -> Any:
    with tf.Graph().as_default():
        v1.identity(tf.constant(1.0))
        return v1.train.export_meta_graph().meta_info_def.stripped_op_list


def _meta(text: str) -> bytes:
    meta = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(text, meta.graph_def)
    meta.meta_info_def.stripped_op_list.ParseFromString(_op_list().SerializeToString())
    return meta.SerializeToString()


def _answer(call: Callable[[], Any]) -> Any:
    """What a call answers, in a form both loaders' answers compare in: element names,
    dtypes as enums, errors as (type kind, message)."""
    try:
        value = call()
    except (KeyError, ValueError, TypeError) as e:
        kind = next(k for k in (KeyError, ValueError, TypeError) if isinstance(e, k))
        return ("error", kind.__name__, str(e))
    if isinstance(value, list):
        return [getattr(x, "name", x) for x in value]
    return getattr(value, "name", value)


def _both(data: bytes, calls: Callable[[Any], list[Callable[[], Any]]], **kwargs: Any) -> tuple[list[Any], list[Any]]:
    with tf.Graph().as_default() as tg:
        v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), **kwargs)
        want = [_answer(c) for c in calls(tg)]
    fg = fastmeta.Graph()
    with fg.as_default():
        fastmeta.import_meta_graph(data, **kwargs)
        got = [_answer(c) for c in calls(fg)]
    return want, got


@pytest.mark.parametrize("scope", [None, "imp"])
def test_colocation_groups_as_the_node_lists_them(scope: str | None) -> None:
    # TensorFlow answers the _class entries in the NodeDef's order, repeats kept.
    data = _meta(_const("a") + _const("c") + _identity("b", "a", _class("c", "a", "c")) + _identity("d", "a"))
    prefix = f"{scope}/" if scope else ""

    def calls(g: Any) -> list[Callable[[], Any]]:
        return [lambda n=n: g.get_operation_by_name(prefix + n).colocation_groups() for n in ("b", "d")]

    want, got = _both(data, calls, import_scope=scope)
    assert want[0] == [f"loc:@{prefix}{t}".encode() for t in ("c", "a", "c")]
    assert got == want


def test_a_created_ops_colocation_is_sorted_without_repeats() -> None:
    # (TensorFlow sets a created op's _class from its colocation stack sorted, as a set.)
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(_meta(_const("a") + _const("c") + _identity("b", "a", _class("c", "a", "c"))), graph=g)
    made = g.create_op("NoOp", name="n", colocate_with=g.get_operation_by_name("b"))
    assert list(made.node_def.attr["_class"].list.s) == [b"loc:@a", b"loc:@c"]


_NAMES: list[Any] = [
    "a",
    "a:0",
    b"a",
    b"a:0",
    bytearray(b"a:0"),
    "a:-1",
    "a:-2",
    "a:1",
    "a: 0",
    "a:x",
    "a:0:1",
    "nope",
    "nope:0",
    "",
    None,
]


@pytest.mark.parametrize("allow", [(True, True), (True, False), (False, True)], ids=["any", "tensor", "op"])
def test_as_graph_element_answers_as_tensorflow(allow: tuple[bool, bool]) -> None:
    data = _meta(_const("a") + _identity("b", "a"))

    def calls(g: Any) -> list[Callable[[], Any]]:
        return [lambda n=n: g.as_graph_element(n, allow_tensor=allow[0], allow_operation=allow[1]) for n in _NAMES]

    want, got = _both(data, calls)
    assert got == want


def test_lookups_by_name_answer_as_tensorflow() -> None:
    data = _meta(_const("a") + _identity("b", "a"))

    def calls(g: Any) -> list[Callable[[], Any]]:
        out: list[Callable[[], Any]] = []
        for n in _NAMES:
            out.append(lambda n=n: g.get_tensor_by_name(n))
            out.append(lambda n=n: g.get_operation_by_name(n))
        return out

    want, got = _both(data, calls)
    assert got == want


@pytest.mark.parametrize("fixture", ["mlp_ref", "mlp_resource_adam", "partitioned"])
def test_as_graph_element_of_a_variable_is_tensorflows(fixture: str) -> None:
    # A ref variable stands for its variable tensor, a resource one for its read tensor.
    data = (CORPUS / f"{fixture}.meta").read_bytes()

    def calls(g: Any) -> list[Callable[[], Any]]:
        return [lambda v=v: g.as_graph_element(v) for v in g.get_collection("variables")]

    want, got = _both(data, calls, import_scope="imp")
    assert want and got == want


@pytest.mark.parametrize("fixture", ["mlp_ref", "mlp_resource_adam", "partitioned", "ema_replicas"])
def test_variable_dtypes_are_tensorflows(fixture: str) -> None:
    # A ref variable's dtype is its tensor's _REF type (float32_ref), a resource one's
    # the value type.
    data = (CORPUS / f"{fixture}.meta").read_bytes()

    def calls(g: Any) -> list[Callable[[], Any]]:
        return [lambda v=v: getattr(v.dtype, "as_datatype_enum", v.dtype) for v in g.get_collection("variables")]

    want, got = _both(data, calls, import_scope="imp")
    assert want and got == want


def test_get_attr_of_an_attr_without_a_value() -> None:
    data = _meta(_const("a", 'attr { key: "_empty" value {} }'))

    def calls(g: Any) -> list[Callable[[], Any]]:
        op = g.get_operation_by_name("a")
        return [lambda: op.get_attr("_empty"), lambda: op.get_attr("absent")]

    want, got = _both(data, calls)
    assert want[0] == []
    assert got == want


_RETURN_ELEMENTS: list[list[Any]] = [
    ["logits:0", "x", "train_gd"],
    [b"logits:0", b"x"],
    ["logits:-1"],
    ["logits:5"],  # past the op's outputs
    ["train_gd:0"],  # an op without outputs
    ["logits:x"],
    ["logits:"],
    ["logits:0:1"],
    ["nope:0"],
    ["nope"],
    ["^x"],
    [5],
]


@pytest.mark.parametrize("names", _RETURN_ELEMENTS, ids=repr)
def test_return_elements_answer_as_tensorflow(names: list[Any]) -> None:
    path = str(CORPUS / "mlp_ref.meta")

    def run(importer: Callable[..., Any], graph: Any) -> Any:
        with graph.as_default():
            try:
                _, elements = importer(path, import_scope="imp", return_elements=names)
            except (KeyError, ValueError, TypeError) as e:
                kind = next(k for k in (KeyError, ValueError, TypeError) if isinstance(e, k))
                return ("error", kind.__name__, str(e))
            return [e.name for e in elements]

    want = run(tf_meta_graph.import_scoped_meta_graph_with_return_elements, tf.Graph())
    got = run(fastmeta.import_scoped_meta_graph_with_return_elements, fastmeta.Graph())
    assert got == want


def _tf_shape(shape: Any) -> Any:
    """A fastmeta TensorShapeProto (or None: unknown) as a tf.TensorShape."""
    if shape is None:
        return tf.TensorShape(None)
    from tensorflow.core.framework import tensor_shape_pb2

    return tf.TensorShape(tensor_shape_pb2.TensorShapeProto.FromString(shape.SerializeToString()))


@pytest.mark.parametrize("scope", [None, "imp"])
@pytest.mark.parametrize("fixture", PLAIN)
def test_tensor_shapes_are_tensorflows(fixture: str, scope: str | None) -> None:
    # Every imported output's static shape: the file's recorded _output_shapes, which
    # TensorFlow's graph holds after importing a file it wrote. (Ops fastmeta creates
    # itself, a fresh Saver's, have no recorded shapes: TensorFlow's shape functions'
    # where fastmeta follows them, else None.)
    path = str(CORPUS / fixture)
    with tf.Graph().as_default() as tg:
        v1.train.import_meta_graph(path, import_scope=scope)
    with fastmeta.Graph().as_default() as fg:  # (the fresh Saver's ops go to the default graph)
        fastmeta.import_meta_graph(path, import_scope=scope)
    imported = fastmeta.graph._Segment
    compared = 0
    for op in fg.get_operations():
        theirs = tg.get_operation_by_name(op.name).outputs
        assert len(op.outputs) == len(theirs), op.name
        assert [t.name for t in op.values()] == [t.name for t in tg.get_operation_by_name(op.name).values()]
        for t, want in zip(op.outputs, theirs):
            assert t.get_shape() == t.shape
            if t.shape is None and not isinstance(op._part, imported):
                continue
            assert t.shape is not None, t.name
            assert t.shape.SerializeToString() == want.shape.as_proto().SerializeToString(), t.name
            compared += 1
    assert compared >= sum(len(op.outputs) for op in tg.get_operations()) * 0.8


def test_tensor_shapes_after_a_more_specific_input_map_stay_compatible() -> None:
    # TensorFlow merges the recorded shapes with its shape inference: mapped onto a
    # tensor of a more specific shape, its shapes downstream are refinements of the
    # recorded ones fastmeta answers.
    path = str(CORPUS / "mlp_ref.meta")
    with tf.Graph().as_default() as tg:
        x = v1.placeholder(tf.float32, [2, 4], name="new_x")
        v1.train.import_meta_graph(path, import_scope="imp", input_map={"x:0": x})
    with fastmeta.Graph().as_default() as fg:
        fx = fg.placeholder("float32", [2, 4], name="new_x")
        fastmeta.import_meta_graph(path, import_scope="imp", input_map={"x:0": fx})
    refined = 0
    for op in tg.get_operations():
        for t, ft in zip(op.outputs, fg.get_operation_by_name(op.name).outputs):
            ours = _tf_shape(ft.shape)
            assert ours.is_compatible_with(t.shape), t.name
            refined += ours != t.shape
    assert fg.get_tensor_by_name("imp/logits:0").shape.dim[0].size == -1
    assert refined  # (TensorFlow's logits: [2, 3])


def test_recorded_shapes_beyond_the_outputs_are_ignored() -> None:
    # As TensorFlow's importer: the first num_outputs recorded shapes count.
    shapes = 'attr { key: "_output_shapes" value { list { shape {} shape { dim { size: 3 } } } } }'
    data = _meta(_const("a", shapes))
    with tf.Graph().as_default() as tg:
        v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data))
    with fastmeta.Graph().as_default() as fg:
        fastmeta.import_meta_graph(data)
    got = fg.get_tensor_by_name("a:0").shape
    want = tg.get_tensor_by_name("a:0").shape.as_proto()
    assert got is not None and got.SerializeToString() == want.SerializeToString()


@pytest.mark.parametrize("key", ["cond_context", "while_context"])
def test_context_to_proto_with_an_export_scope_is_tensorflows(key: str) -> None:
    # TensorFlow strips export_scope from a context's own names only: its nested
    # contexts are written by to_control_flow_context_def without it (names kept whole).
    data = (CORPUS / "nested_cf_v1.meta").read_bytes()
    with tf.Graph().as_default() as tg:
        v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), import_scope="imp")
        want = [
            [c.to_proto(s).SerializeToString(deterministic=True) for s in (None, "imp", "imp/")]
            for c in tg.get_collection(key)
        ]
    fg = fastmeta.Graph()
    fastmeta.import_meta_graph(data, import_scope="imp", graph=fg)
    got = []
    for c in fg.get_collection(key):
        protos = [c.to_proto(s) for s in (None, "imp", "imp/")]
        got.append([p.SerializeToString(deterministic=True) if p is not None else None for p in protos])
    assert any(c.nested_contexts for c in fg.get_collection(key))
    assert got == want


def test_merged_bad_consumers_are_tensorflows() -> None:
    # TensorFlow's importer merges bad_consumers as a set: sorted, without repeats.
    metas = []
    for versions in (
        "producer: 27 bad_consumers: 5 bad_consumers: 3",
        "producer: 30 bad_consumers: 9 bad_consumers: 1 bad_consumers: 5",
    ):
        meta = meta_graph_pb2.MetaGraphDef.FromString(_meta(_const("a") + _identity("b", "a")))
        text_format.Parse(versions, meta.graph_def.versions)
        metas.append(meta.SerializeToString())
    with tf.Graph().as_default() as tg:
        for i, data in enumerate(metas):
            v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), import_scope=f"s{i}")
        want = tg.as_graph_def().versions.SerializeToString()
    fg = fastmeta.Graph()
    for i, data in enumerate(metas):
        fastmeta.import_meta_graph(data, import_scope=f"s{i}", graph=fg)
    assert list(fg.graph_def_versions.bad_consumers) == [1, 3, 5, 9]
    assert fg.as_graph_def().versions.SerializeToString() == want


def _scoped(g: Any, outer: str | None, call: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with g.name_scope(outer):
            return call()

    return run


def _enter(g: Any, name: Any) -> Any:
    with g.name_scope(name) as scope:
        return scope, g.get_name_scope()


@pytest.mark.parametrize("outer", [None, "o"])
def test_scope_and_node_name_errors_are_tensorflows(outer: str | None) -> None:
    # At the root a scope must be a valid op name ("root scope name"); nested, the
    # looser scope rule. A created op's full name must be a valid node name.
    data = _meta(_const("a"))
    scopes = ["-x", "_x", "a b", "/", ">", "x-y", "imp/"]
    names = ["-x", "_q", "a b", "-x/", "ok"]

    def calls(g: Any) -> list[Callable[[], Any]]:
        out: list[Callable[[], Any]] = [_scoped(g, outer, lambda s=s: _enter(g, s)) for s in scopes]
        if isinstance(g, fastmeta.Graph):
            make = [lambda n=n: g.create_op("NoOp", name=n) for n in names]
        else:
            make = [lambda n=n: g.create_op("NoOp", [], name=n) for n in names]
        return out + [_scoped(g, outer, m) for m in make]

    want, got = _both(data, calls)
    assert (
        "error",
        "ValueError",
        "'-x' is not a valid root scope name. A root scope name has to match the "
        "following pattern: ^[A-Za-z0-9.][A-Za-z0-9_.\\\\/>-]*$",
    ) in want or outer
    assert got == want


def test_unique_names_of_a_long_sequence_are_tensorflows() -> None:
    # unique_name keeps a count per lowercased name and scans name_<count>, ... for a
    # free one (fastmeta skips the run of names an earlier scan found in use): a long
    # sequence of names asked for, marked or not, scopes entered and ops created in
    # between, over an imported graph holding a, a_1, A_2 (names differing in case,
    # names of the form base_<k> and base_<k>_<j>), gives TensorFlow's names.
    rng = random.Random(46)
    bases = ["a", "A", "a_1", "A_2", "a_3", "a_1_1", "b", "B_1"]
    steps = [
        (rng.choice(["mark", "peek", "op", "scope"]), rng.choice([*bases, f"a_{rng.randrange(40)}"]))
        for _ in range(600)
    ]
    data = _meta(_const("a") + _const("a_1") + _const("A_2"))

    def calls(g: Any) -> list[Callable[[], Any]]:
        def call(what: str, name: str) -> Any:
            if what == "op":
                return g.create_op("NoOp", [], name=name).name
            if what == "scope":
                return _enter(g, name)
            return g.unique_name(name, mark_as_used=what == "mark")

        return [lambda what=what, name=name: call(what, name) for what, name in steps]

    want, got = _both(data, calls)
    assert len(set(want)) > 300  # (mostly names no earlier call gave)
    assert got == want


def test_an_import_scope_refused_at_the_root_is_named_as_tensorflow_names_it() -> None:
    data = _meta(_const("a"))
    with tf.Graph().as_default():
        with pytest.raises(ValueError) as want:
            v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), import_scope="-x")
    with pytest.raises(fastmeta.ScopeError) as got:
        fastmeta.import_meta_graph(data, import_scope="-x", graph=fastmeta.Graph())
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("fixture", ["nested_cf_v1.meta", "keras_rnn_v1.meta"])
def test_context_back_prop_and_grad_state_are_tensorflows(fixture: str) -> None:
    # A CondContext answers back_prop of the while loop around it (False outside one);
    # an imported context has no gradient loop state.
    data = (CORPUS / fixture).read_bytes()

    def answers(g: Any) -> list[Any]:
        ctxts = g.get_collection("cond_context") + g.get_collection("while_context")
        return [(c.name, c.back_prop, c.grad_state) for c in ctxts]

    with tf.Graph().as_default() as tg:
        v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), import_scope="imp")
        want = answers(tg)
    fg = fastmeta.Graph()
    fastmeta.import_meta_graph(data, import_scope="imp", graph=fg)
    got = answers(fg)
    assert {b for _, b, _ in want} == {True, False} or fixture == "keras_rnn_v1.meta"
    assert got == want


def _element(x: Any) -> Any:
    return None if x is None else x.name


def _object_answers(item: Any) -> tuple[Any, ...]:
    """What a collection object answers beyond its proto (a Variable, QueueRunner or v1
    control-flow context; other items: their name or value), in a form both graphs'
    answers compare in: element names, enums as ints."""
    if hasattr(item, "initializer") and hasattr(item, "trainable"):  # Variable
        shape = item.shape
        dims = shape.as_list() if isinstance(shape, tf.TensorShape) else [d.size for d in shape.dim]
        return (
            "variable",
            item.name,
            item.op.name,
            item.device,
            getattr(item.dtype, "as_datatype_enum", item.dtype),
            dims,
            bool(item.trainable),
            int(getattr(item.synchronization, "value", item.synchronization)),
            int(getattr(item.aggregation, "value", item.aggregation)),
            _element(item.initializer),
            _element(item.initial_value),
            None if item._save_slice_info is None else item._save_slice_info.spec,
        )
    if hasattr(item, "enqueue_ops"):  # QueueRunner
        codes = [
            e if isinstance(e, int) else errors_impl._EXCEPTION_CLASS_TO_CODE[e]  # (classes in TF)
            for e in item.queue_closed_exception_types
        ]
        return (
            "queue_runner",
            item.name,
            _element(item.queue),
            [_element(o) for o in item.enqueue_ops],
            _element(item.close_op),
            _element(item.cancel_op),
            codes,
        )
    if hasattr(item, "pivot"):  # CondContext / WhileContext
        values = getattr(item, "_values", None) or item.values
        external = getattr(item, "_external_values", None)
        if external is None:
            external = item.external_values
        nested = getattr(item, "_nested_contexts", None)
        if nested is None:
            nested = item.nested_contexts
        out = [
            item.name,
            _element(item.pivot),
            _element(item.outer_context),
            sorted(values),
            sorted((k, _element(v)) for k, v in external.items()),
            [_element(c) for c in nested],
        ]
        for attr in ("pred", "branch", "parallel_iterations", "back_prop", "swap_memory", "maximum_iterations"):
            if hasattr(item, attr):
                value = getattr(item, attr)
                out.append((attr, value if isinstance(value, (bool, int)) else _element(value)))
        for attr in ("loop_exits", "loop_enters"):
            if hasattr(item, attr):
                out.append((attr, [_element(t) for t in getattr(item, attr)]))
        return ("context", *out)
    if hasattr(item, "saver_def"):
        return ("saver", item.saver_def.SerializeToString(deterministic=True))
    return ("item", getattr(item, "name", item) if not isinstance(item, (bytes, str, int, float)) else item)


@pytest.mark.parametrize("scope", [None, "imp"])
@pytest.mark.parametrize("fixture", PLAIN)
def test_collection_objects_answer_as_tensorflows(fixture: str, scope: str | None) -> None:
    # Beyond their protos (compared by the corpus tests), the objects a collection holds
    # answer as TensorFlow's: a Variable's device, dtype, shape, synchronization, ...; a
    # QueueRunner's ops; a context's pivots, outer and nested contexts, external values.
    path = str(CORPUS / fixture)
    with tf.Graph().as_default() as tg:
        v1.train.import_meta_graph(path, import_scope=scope, clear_devices=True)
        want = {key: [_object_answers(x) for x in tg.get_collection(key)] for key in tg.get_all_collection_keys()}
    fg = fastmeta.Graph()
    fastmeta.import_meta_graph(path, import_scope=scope, clear_devices=True, graph=fg)
    got = {key: [_object_answers(x) for x in fg.get_collection(key)] for key in fg.get_all_collection_keys()}
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key] == want[key], key


def _attr_answer(value: Any) -> Any:
    if isinstance(value, list):
        return [_attr_answer(v) for v in value]
    if isinstance(value, tf.DType):
        return value.as_datatype_enum
    if hasattr(value, "SerializeToString"):
        return value.SerializeToString(deterministic=True)
    return value


def _op_answers(op: Any) -> tuple[Any, ...]:
    attrs = {k: _attr_answer(op.get_attr(k)) for k in sorted(op.node_def.attr)}
    return (
        op.type,
        op.device,
        [t.name for t in op.inputs],
        sorted(c.name for c in op.control_inputs),
        list(op.colocation_groups()),
        [getattr(t.dtype, "as_datatype_enum", t.dtype) for t in op.outputs],
        [sorted(c.name for c in t.consumers()) for t in op.outputs],
        attrs,
    )


@pytest.mark.parametrize("scope", [None, "imp"])
@pytest.mark.parametrize("fixture", PLAIN)
def test_operations_answer_as_tensorflows(fixture: str, scope: str | None) -> None:
    # Every imported op: type, device, inputs (data and control), colocation groups,
    # output dtypes, each output's consumers, and every attr through get_attr.
    path = str(CORPUS / fixture)
    with tf.Graph().as_default() as tg:
        v1.train.import_meta_graph(path, import_scope=scope)
        want = {op.name: _op_answers(op) for op in tg.get_operations()}
    fg = fastmeta.Graph()
    with fg.as_default():  # (a fresh Saver's ops go to the default graph)
        fastmeta.import_meta_graph(path, import_scope=scope)
    got = {op.name: _op_answers(op) for op in fg.get_operations()}
    assert list(got) == list(want)
    for name, answers in want.items():
        assert got[name] == answers, name


@pytest.mark.parametrize("name", [5, bytearray(b"s"), ("a",), b"s"], ids=repr)
def test_name_scope_of_a_name_that_is_no_str_as_tensorflow(name: Any) -> None:
    # TensorFlow decodes bytes and hands anything else to its scope regex (a TypeError);
    # fastmeta made 5 into five NULs (a ScopeError) and took a bytearray.
    def outcome(graph: Any) -> Any:
        try:
            with graph.name_scope(name) as scope:
                return scope
        except TypeError as e:
            return ("TypeError", str(e))

    assert outcome(fastmeta.Graph()) == outcome(tf.Graph())
    with pytest.raises(TypeError, match="must be a str"):
        fastmeta.Graph().unique_name(b"a")  # type: ignore[arg-type]
