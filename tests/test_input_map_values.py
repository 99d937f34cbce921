"""input_map values that are not tensors (numbers, lists, numpy arrays, bytes and str,
variables, operations, None) and the input_map's keys, against TensorFlow's own import.

TensorFlow's importer converts each such value, inside the import's name scope and a
``_inputs`` scope under it, into a ``Const`` (``imp/_inputs/Const``, ``Const_1``, ... in
the input_map's order) before it imports, and refuses them when the import has no
name (``import_scope`` None or empty at the root). Compared: the graph after import
(nodes, order, inputs, the constants' values), the names the graph then hands out,
return elements; and on failure, that fastmeta leaves the graph as it was where
TensorFlow leaves the constants (and the imported nodes) behind. A variable is read as
``convert_to_tensor`` reads it (a ref variable's snapshot, a resource variable's new
``imp/_inputs/ReadVariableOp``), an Operation is refused with TensorFlow's TypeError.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastmeta
import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
import fastmeta.tf as fmtf  # noqa: E402
import fastmeta.tf._importer as fmtf_importer  # noqa: E402
from fastmeta.constants import tensor_proto  # noqa: E402
from tensorflow.python.framework import meta_graph as tf_meta_graph  # noqa: E402
from tensorflow.python.framework import tensor_util  # noqa: E402
from tf_oracle import diff_graph_defs  # noqa: E402

v1 = tf.compat.v1
NAMES = ["imp", "imp/_inputs", "imp/_inputs/Const", "imp_1", "outer/_inputs/Const", "_inputs"]


def _meta(extra: Callable[[], Any] | None = None) -> bytes:
    """x, p (float), s (string), m (float, unknown shape), b (bool); y = x + p,
    z = Identity(s), w = Identity(m), v = Identity(b)."""
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [], name="x")
        p = v1.placeholder(tf.float32, [], name="p")
        s = v1.placeholder(tf.string, None, name="s")
        m = v1.placeholder(tf.float32, None, name="m")
        b = v1.placeholder(tf.bool, None, name="b")
        tf.add(x, p, name="y")
        tf.identity(s, name="z")
        tf.identity(m, name="w")
        tf.identity(b, name="v")
        if extra is not None:
            extra()
        return v1.train.export_meta_graph().SerializeToString()  # type: ignore[no-any-return]


def _tf_run(importer: Callable[..., Any], data: bytes, input_map: dict[str, Any], **kwargs: Any) -> Any:
    """(error or None, graph_def, names the graph hands out next, return elements)."""
    g = tf.Graph()
    with g.as_default():
        t = v1.placeholder(tf.float32, [], name="t")
        imap = {k: t if isinstance(v, str) and v == "<t>" else v for k, v in input_map.items()}
        error, elements = None, None
        try:
            out = importer(v1.MetaGraphDef.FromString(data), input_map=imap, **kwargs)
            if isinstance(out, tuple):
                elements = [e.name for e in out[1] or []]
        except (ValueError, TypeError) as e:
            error = str(e)
        return error, g.as_graph_def(), [g.unique_name(n, mark_as_used=False) for n in NAMES], elements


def _fm_run(data: bytes, input_map: dict[str, Any], scoped: bool = False, **kwargs: Any) -> Any:
    g = fastmeta.Graph()
    with g.as_default():
        t = g.placeholder("float32", [], name="t")
        imap = {k: t if isinstance(v, str) and v == "<t>" else v for k, v in input_map.items()}
        error, elements = None, None
        try:
            if scoped:
                _, out = fastmeta.import_scoped_meta_graph_with_return_elements(data, input_map=imap, **kwargs)
                elements = [e.name for e in out or []]
            else:
                fastmeta.import_meta_graph(data, input_map=imap, **kwargs)
        except fastmeta.InputMapError as e:
            error = str(e)
        return error, g.as_graph_def(), [g.unique_name(n, mark_as_used=False) for n in NAMES], elements


def _same(want: Any, got: Any) -> None:
    assert (got[0] is None) == (want[0] is None), (want[0], got[0])
    assert diff_graph_defs(want[1], got[1]) == []
    assert got[2] == want[2]
    assert got[3] == want[3]


VALUES = {
    "float": {"x": 2.0},
    "numpy_scalar": {"x": np.float32(2.5)},
    "two_and_a_tensor": {"x": 1.5, "p": "<t>", "m": [[1.0, 2.0], [3.0, 4.0]]},
    "numpy_array": {"m": np.arange(6, dtype=np.float32).reshape(2, 3)},
    "bytes": {"s": b"hello"},
    "string_array": {"s": np.array(["a", "bc"])},
    "bools": {"b": [True, False, True]},
    "control_key": {"^x": 1.0, "x": "<t>"},
    "mapped_twice": {"x": 1.0, "p": 1.0},
}


@pytest.mark.parametrize("values", sorted(VALUES))
def test_non_tensor_values_become_constants_as_in_tensorflow(values: str) -> None:
    data = _meta()
    imap = VALUES[values]
    want = _tf_run(v1.train.import_meta_graph, data, imap, import_scope="imp")
    assert want[0] is None
    assert any(n.name == "imp/_inputs/Const" for n in want[1].node)
    _same(want, _tf_run(fmtf.import_meta_graph, data, imap, import_scope="imp"))
    assert fmtf_importer.last_path() == "fast"  # (the constants are imported with the nodes)
    _same(want, _fm_run(data, imap, import_scope="imp"))


def test_constants_inside_an_outer_name_scope_without_import_scope() -> None:
    # No import_scope, but a name scope: the import's name is the scope ("outer/").
    data = _meta()
    imap = {"x": 2.0}
    results = []
    for run in ("tf", "dropin", "fastmeta"):
        if run == "fastmeta":
            g = fastmeta.Graph()
            with g.as_default(), g.name_scope("outer"):
                fastmeta.import_meta_graph(data, input_map=imap)
            results.append(([n.name for n in g.as_graph_def().node], g.unique_name("outer/_inputs", False)))
            continue
        importer = v1.train.import_meta_graph if run == "tf" else fmtf.import_meta_graph
        with tf.Graph().as_default() as tg, tg.name_scope("outer"):
            importer(v1.MetaGraphDef.FromString(data), input_map=imap)
        results.append(([n.name for n in tg.as_graph_def().node], tg.unique_name("outer/_inputs", False)))
    assert "outer/_inputs/Const" in results[0][0]
    assert results[1] == results[0] and results[2] == results[0]


def test_constants_of_a_second_import_into_one_scope() -> None:
    # "imp/" re-enters the scope: the second import's constants go to imp/_inputs_1.
    data = _meta()
    results = []
    for run in ("tf", "dropin", "fastmeta"):
        if run == "fastmeta":
            g = fastmeta.Graph()
            with g.as_default():
                for _ in range(2):
                    fastmeta.import_meta_graph(data, import_scope="imp/", input_map={"x": 2.0})
            results.append(([n.name for n in g.as_graph_def().node], [list(n.input) for n in g.as_graph_def().node]))
            continue
        importer = v1.train.import_meta_graph if run == "tf" else fmtf.import_meta_graph
        with tf.Graph().as_default() as tg:
            for _ in range(2):
                importer(v1.MetaGraphDef.FromString(data), import_scope="imp/", input_map={"x": 2.0})
        results.append(([n.name for n in tg.as_graph_def().node], [list(n.input) for n in tg.as_graph_def().node]))
    assert "imp/_inputs_1/Const" in results[0][0]
    assert results[1] == results[0] and results[2] == results[0]


@pytest.mark.parametrize("scope", [None, ""])
def test_without_a_name_non_tensor_values_are_refused(scope: str | None) -> None:
    data = _meta()
    want = _tf_run(v1.train.import_meta_graph, data, {"x": 2.0}, import_scope=scope)
    assert want[0] is not None and "requires a non-empty `name`" in want[0]
    assert len(want[1].node) == 1  # (nothing was added)
    for got in (
        _tf_run(fmtf.import_meta_graph, data, {"x": 2.0}, import_scope=scope),
        _fm_run(data, {"x": 2.0}, import_scope=scope),
    ):
        assert got[0] == want[0]
        assert [n.name for n in got[1].node] == ["t"]


def test_a_mapped_return_element_is_the_constant() -> None:
    data = _meta()
    kwargs = dict(import_scope="imp", return_elements=["x:0", "y:0"])
    want = _tf_run(tf_meta_graph.import_scoped_meta_graph_with_return_elements, data, {"x": 2.0}, **kwargs)
    assert want[3] == ["imp/_inputs/Const:0", "imp/y:0"]
    _same(want, _tf_run(fmtf.import_scoped_meta_graph_with_return_elements, data, {"x": 2.0}, **kwargs))
    _same(want, _fm_run(data, {"x": 2.0}, scoped=True, **kwargs))


@pytest.mark.parametrize(
    "imap",
    [
        {"x": 2.0, "nope": 1.0},  # an unused key: TensorFlow refuses it after importing
        {"x": 2.0, "p": [[1], [1, 2]]},  # a ragged list: no constant (the first one made)
        {"x": 2.0, "p": None},
    ],
    ids=["unused_key", "ragged", "none"],
)
def test_a_failed_import_leaves_no_constant_behind(imap: dict[str, Any]) -> None:
    data = _meta()
    want = _tf_run(v1.train.import_meta_graph, data, imap, import_scope="imp")
    assert want[0] is not None
    assert any(n.name == "imp/_inputs/Const" for n in want[1].node)  # TensorFlow leaves it
    dropin = _tf_run(fmtf.import_meta_graph, data, imap, import_scope="imp")
    for got in (dropin, _fm_run(data, imap, import_scope="imp")):
        assert got[0] is not None
        assert [n.name for n in got[1].node] == ["t"]
        assert got[2] == ["imp", "imp/_inputs", "imp/_inputs/Const", "imp_1", "outer/_inputs/Const", "_inputs"]


def test_a_constant_of_another_dtype_is_refused_and_not_left_behind() -> None:
    # TensorFlow's importer checks each edge's dtype and leaves the constant behind; the
    # TF-free import refuses the edge with the same message and leaves nothing.
    data = _meta()
    want = _tf_run(v1.train.import_meta_graph, data, {"x": 3}, import_scope="imp")
    assert want[0] is not None
    assert "was passed int32 from imp/_inputs/Const:0 incompatible with expected float" in want[0]
    assert [n.name for n in want[1].node] == ["t", "imp/_inputs/Const"]
    got = _tf_run(fmtf.import_meta_graph, data, {"x": 3}, import_scope="imp")
    assert got[0] == want[0]
    g = fastmeta.Graph()
    with g.as_default():
        g.placeholder("float32", [], name="t")
        with pytest.raises(fastmeta.GraphError) as info:
            fastmeta.import_meta_graph(data, input_map={"x": 3}, import_scope="imp")
    assert "was passed int32 from imp/_inputs/Const:0 incompatible with expected float" in str(info.value)
    assert [n.name for n in g.as_graph_def().node] == ["t"]
    assert g.unique_name("imp", mark_as_used=False) == "imp"


VALUE_CASES = [
    2.0, 3, 2**40, True, 1 + 2j, "hé", b"x\x00y", [1, 2, 3], [1.5, 2.5], [[1, 2], [3, 4]], [], [[]],
    ["a", "bc"], [b"a", "b"], (1, 2), [1, 2.5], [True, False],
    np.float32(2), np.float64(0.1), np.int64(5), np.float16(1.5), np.uint64(2**63), np.bool_(True),
    np.str_("s"), np.bytes_(b"q"), np.array(2.0), np.array("abc"), np.array([], np.float32),
    np.array([1, 2], np.int64), np.array([1, 2, 3], np.uint16), np.array([1, 2], np.uint8),
    np.array([1, 2], np.int8), np.array([1, 2], np.uint32), np.array([2**63], np.uint64),
    np.array([1.5, 2], np.float16), np.array([1 + 1j, 2], np.complex64), np.array([1j], np.complex128),
    np.array([True, False]), np.array(["a", "bb"]), np.array([b"a", b"b"]),
    np.array([[1, 2], [3, 4]], np.int32)[:, 0], [np.float32(1), np.float32(2)],
]  # fmt: skip


@pytest.mark.parametrize("value", VALUE_CASES, ids=lambda v: f"{type(v).__name__}:{v!r}"[:40])
def test_tensor_proto_as_tensorflows(value: Any) -> None:
    want = tensor_util.make_tensor_proto(value).SerializeToString(deterministic=True)
    assert tensor_proto(value).SerializeToString(deterministic=True) == want


# ---------------------------------------------------------------------------
# Values TensorFlow converts otherwise than to one Const (variables, strings,
# operations, None, lists holding tensors), and the input_map's keys: each imported
# by TensorFlow, the drop-in and the TF-free import into a graph that first imported
# ``_base()`` (t, variables rv (ref), vv (resource), cv (resource with a caching
# device)), compared node for node, error type and message, and the names handed out.
# ---------------------------------------------------------------------------
_OBJECT = object()  # (one object: its repr is in TensorFlow's message)
NEXT_NAMES = ["imp", "imp/_inputs", "imp/_inputs/Const", "imp/_inputs/ReadVariableOp", "imp/_inputs/packed"]


def _base() -> bytes:
    g = tf.Graph()
    with g.as_default():
        v1.placeholder(tf.float32, [], name="t")
        v1.placeholder(tf.string, [], name="u")
        v1.Variable(1.0, name="rv", use_resource=False)
        v1.Variable(2.0, name="vv", use_resource=True)
        v1.Variable(3.0, name="cv", use_resource=True, caching_device="/cpu:0")
        return v1.train.export_meta_graph().SerializeToString()  # type: ignore[no-any-return]


def _control_on_x() -> None:
    g = tf.compat.v1.get_default_graph()
    with g.control_dependencies([g.get_operation_by_name("x"), g.get_operation_by_name("p")]):
        tf.identity(g.get_tensor_by_name("s:0"), name="c")


def _objects(g: Any) -> dict[str, Any]:
    out = {v.name[:-2]: v for v in g.get_collection("variables")}
    out.update(t=g.get_tensor_by_name("t:0"), u=g.get_tensor_by_name("u:0"), t_op=g.get_operation_by_name("t"))
    return out


def _run_on_base(run: str, make: Callable[[dict[str, Any]], Any], **kwargs: Any) -> Any:
    """(error message or None, graph_def, names handed out next, node names before the
    import, error). A key that is not a string is shown as ``<key>`` in the message."""
    base, data = _base(), _meta(_control_on_x)
    error: BaseException | None = None
    if run == "fastmeta":
        g: Any = fastmeta.Graph()
        with g.as_default():
            fastmeta.import_meta_graph(base)
            before = [n.name for n in g.as_graph_def().node]
            imap = make(_objects(g))
            try:
                fastmeta.import_meta_graph(data, input_map=imap, **kwargs)
            except (ValueError, TypeError) as e:
                error = e
    else:
        importer = v1.train.import_meta_graph if run == "tf" else fmtf.import_meta_graph
        with tf.Graph().as_default() as g:
            v1.train.import_meta_graph(v1.MetaGraphDef.FromString(base))
            before = [n.name for n in g.as_graph_def().node]
            imap = make(_objects(g))
            try:
                importer(v1.MetaGraphDef.FromString(data), input_map=imap, **kwargs)
            except (ValueError, TypeError) as e:
                error = e
    message = None
    if error is not None:
        message = str(error)
        for key in imap if isinstance(imap, dict) else ():
            if not isinstance(key, (str, bytes)):
                message = message.replace(repr(key), "<key>")
    names = [g.unique_name(n, mark_as_used=False) for n in NEXT_NAMES]
    return message, g.as_graph_def(), names, before, error


OTHER_VALUES: dict[str, Callable[[dict[str, Any]], Any]] = {
    # a ref variable is its snapshot (rv/read:0)
    "ref_variable": lambda o: {"x": o["rv"]},
    # a resource variable: a new imp/_inputs/ReadVariableOp of its handle
    "resource_variable": lambda o: {"x": o["vv"]},
    "resource_variable_twice": lambda o: {"x": o["vv"], "p": o["vv"]},
    "resource_variable_and_constant": lambda o: {"p": 1.0, "x": o["vv"]},
    # a resource variable with a caching device: its cached value (the snapshot)
    "cached_resource_variable": lambda o: {"x": o["cv"]},
    # a variable as a control key's value: the op of the tensor it converts to
    "variable_control_key": lambda o: {"^x": o["vv"], "^p": o["rv"], "x": o["t"]},
    # a str is a string constant, not a tensor name
    "str": lambda o: {"s": "t:0"},
    "str_mixed": lambda o: {"x": o["t"], "p": 1.0, "s": "abc"},
    "numpy_str": lambda o: {"s": np.str_("abc")},
    # a tensor as a control key's value: its op
    "tensor_control_key": lambda o: {"^x": o["t"], "x": o["t"]},
    # a tensor of an earlier import
    "earlier_import": lambda o: {"s": o["u"], "x": o["t"]},
    # bytes keys are names
    "bytes_keys": lambda o: {b"x": o["t"], b"^p": o["t"], b"s": b"abc"},
    # a str onto a float input: the string constant's dtype is refused
    "str_onto_float": lambda o: {"x": "t:0"},
    "operation_control_key": lambda o: {"^x": o["t_op"]},
    "operation_after_a_constant": lambda o: {"p": 1.0, "^x": o["t_op"]},
    "operation": lambda o: {"x": o["t_op"]},
    "none": lambda o: {"x": None},
    "tensor_key": lambda o: {o["t"]: o["t"]},
    "int_key": lambda o: {1: o["t"]},
    "not_a_dict": lambda o: [("x", o["t"])],
    "mixed_list": lambda o: {"x": [1, "a"]},
    "object": lambda o: {"x": _OBJECT},
    "object_after_a_constant": lambda o: {"p": 1.0, "x": _OBJECT},
    "none_after_a_constant": lambda o: {"p": 1.0, "x": None, "^s": o["t_op"]},
    "dict_value": lambda o: {"x": {"a": 1.0}},
    "set_value": lambda o: {"x": {1.0}},
}


def _same_outcome(want: Any, got: Any, run: str) -> None:
    if want[0] is None:
        assert got[0] is None, (run, got[0])
        assert diff_graph_defs(want[1], got[1]) == [], run
        assert got[2] == want[2], run
        return
    assert got[0] is not None, (run, want[0])
    assert got[0] == want[0], run
    assert isinstance(got[4], type(want[4])), run
    if run == "fastmeta":
        assert isinstance(got[4], fastmeta.Error)
    # A failed import leaves the graph as it was (TensorFlow may leave Consts behind).
    assert [n.name for n in got[1].node] == got[3], run


@pytest.mark.parametrize("scope", ["imp", None])
@pytest.mark.parametrize("case", sorted(OTHER_VALUES))
def test_other_values_as_in_tensorflow(case: str, scope: str | None) -> None:
    want = _run_on_base("tf", OTHER_VALUES[case], import_scope=scope)
    for run in ("dropin", "fastmeta"):
        _same_outcome(want, _run_on_base(run, OTHER_VALUES[case], import_scope=scope), run)


@pytest.mark.parametrize("how", ["outer_scope", "twice_into_imp"])
def test_a_resource_variable_read_where_tensorflow_reads_it(how: str) -> None:
    # Under name_scope("outer") without import_scope: outer/_inputs/ReadVariableOp; a
    # second import into "imp/": imp/_inputs_1/ReadVariableOp.
    base, data = _base(), _meta()
    results = []
    for run in ("tf", "dropin", "fastmeta"):
        if run == "fastmeta":
            g: Any = fastmeta.Graph()
            importer: Any = fastmeta.import_meta_graph
            with g.as_default():
                importer(base)
        else:
            g = tf.Graph()
            importer = v1.train.import_meta_graph if run == "tf" else fmtf.import_meta_graph
            with g.as_default():
                v1.train.import_meta_graph(v1.MetaGraphDef.FromString(base))
        with g.as_default():
            imap = {"x": _objects(g)["vv"], "p": _objects(g)["rv"]}
            source = data if run == "fastmeta" else v1.MetaGraphDef.FromString(data)
            if how == "outer_scope":
                with g.name_scope("outer"):
                    importer(source, input_map=imap)
            else:
                for _ in range(2):
                    importer(
                        source if run == "fastmeta" else v1.MetaGraphDef.FromString(data),
                        import_scope="imp/",
                        input_map=imap,
                    )
        results.append(g.as_graph_def())
    names = [n.name for n in results[0].node]
    assert ("outer/_inputs/ReadVariableOp" if how == "outer_scope" else "imp/_inputs_1/ReadVariableOp") in names
    assert diff_graph_defs(results[0], results[1]) == []
    assert diff_graph_defs(results[0], results[2]) == []


def test_a_variable_of_another_graph_is_refused() -> None:
    # TensorFlow maps a tensor of another graph by its name (onto whatever the target
    # graph holds of that name, else "node ... does not exist"): fastmeta refuses it.
    other = fastmeta.Graph()
    with other.as_default():
        fastmeta.import_meta_graph(_base())
    variables = _objects(other)
    g = fastmeta.Graph()
    with g.as_default():
        fastmeta.import_meta_graph(_base())
        before = g.as_graph_def().SerializeToString(deterministic=True)
        for value in (variables["vv"], variables["rv"], variables["t"], variables["t_op"]):
            with pytest.raises(fastmeta.InputMapError, match="belongs to another graph"):
                fastmeta.import_meta_graph(_meta(), import_scope="imp", input_map={"p": 1.0, "^x": value})
        assert g.as_graph_def().SerializeToString(deterministic=True) == before
        assert g.unique_name("imp", mark_as_used=False) == "imp"


def test_a_return_element_mapped_to_a_variable_is_its_read() -> None:
    kwargs: dict[str, Any] = dict(import_scope="imp", return_elements=["x:0", "y:0"])
    results = []
    for importer in (
        tf_meta_graph.import_scoped_meta_graph_with_return_elements,
        fmtf.import_scoped_meta_graph_with_return_elements,
        fastmeta.import_scoped_meta_graph_with_return_elements,
    ):
        if importer is fastmeta.import_scoped_meta_graph_with_return_elements:
            g: Any = fastmeta.Graph()
            with g.as_default():
                fastmeta.import_meta_graph(_base())
                _, elements = importer(_meta(), input_map={"x": _objects(g)["vv"]}, **kwargs)
        else:
            with tf.Graph().as_default() as g:
                v1.train.import_meta_graph(v1.MetaGraphDef.FromString(_base()))
                source = v1.MetaGraphDef.FromString(_meta())
                _, elements = importer(source, input_map={"x": _objects(g)["vv"]}, **kwargs)
        results.append([e.name for e in elements])
    assert results[0] == ["imp/_inputs/ReadVariableOp:0", "imp/y:0"]
    assert results[1] == results[0] and results[2] == results[0]
