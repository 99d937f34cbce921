"""input_map values TensorFlow's ``convert_to_tensor`` converts otherwise than to one
``Const`` of a Python or numpy value: (nested) lists and tuples holding tensors or
variables, which it auto-packs (a ``Pack`` op named ``packed`` under ``<scope>/_inputs``,
each other element a ``Const`` of the tensors' dtype named by its index, nested lists
packed in scopes named by theirs), ``range`` (a ``Range`` op), and array-like values
(``memoryview``, ``bytearray``: numpy's array of them). Each case is imported by
TensorFlow, the drop-in and the TF-free import into a graph holding tensors and
variables, with import_scope set and unset, and compared node for node (or the error
type and message, and that a failed TF-free import leaves the graph as it was).
"""

from __future__ import annotations

import os
import re
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
from tensorflow.python.training import saver as saver_lib  # noqa: E402
from test_input_map_values import _same_outcome  # noqa: E402
from tf_oracle import diff_graph_defs  # noqa: E402

v1 = tf.compat.v1
NEXT_NAMES = ["imp", "imp/_inputs", "imp/_inputs/packed", "imp/_inputs/packed_1", "imp/_inputs/Range", "packed"]
# (one object each: their reprs are in TensorFlow's messages)
_VIEW = memoryview(b"ab")
_FLOATS = memoryview(np.array([1.5, 2.5], np.float32).tobytes()).cast("f")


def _base() -> bytes:
    """t (float32 []), u (string []), i (int32 [2]), q (float32 [2, 3]), e (float32 of
    unknown shape), variables rv (ref), vv (resource), cv (resource, caching device)."""
    g = tf.Graph()
    with g.as_default():
        v1.placeholder(tf.float32, [], name="t")
        v1.placeholder(tf.string, [], name="u")
        v1.placeholder(tf.int32, [2], name="i")
        v1.placeholder(tf.float32, [2, 3], name="q")
        v1.placeholder(tf.float32, None, name="e")
        v1.Variable(1.0, name="rv", use_resource=False)
        v1.Variable(2.0, name="vv", use_resource=True)
        v1.Variable(3.0, name="cv", use_resource=True, caching_device="/cpu:0")
        return v1.train.export_meta_graph().SerializeToString()  # type: ignore[no-any-return]


def _meta() -> bytes:
    """Placeholders of unknown shape m (float32), s (string), b (bool), k (int32),
    k64 (int64), n (uint8), each read by an Identity."""
    g = tf.Graph()
    with g.as_default():
        for name, dtype in (
            ("m", tf.float32),
            ("s", tf.string),
            ("b", tf.bool),
            ("k", tf.int32),
            ("k64", tf.int64),
            ("n", tf.uint8),
        ):
            tf.identity(v1.placeholder(dtype, None, name=name), name=name + "_out")
        return v1.train.export_meta_graph().SerializeToString()  # type: ignore[no-any-return]


def _objects(g: Any) -> dict[str, Any]:
    out = {v.name[:-2]: v for v in g.get_collection("variables")}
    for name in ("t", "u", "i", "q", "e"):
        out[name] = g.get_tensor_by_name(name + ":0")
    out["t_op"] = g.get_operation_by_name("t")
    return out


def _run(run: str, make: Callable[[dict[str, Any]], Any], **kwargs: Any) -> Any:
    """(error message or None, graph_def, names handed out next, node names before the
    import, error)."""
    base, data = _base(), _meta()
    error: BaseException | None = None
    if run == "fastmeta":
        g: Any = fastmeta.Graph()
        with g.as_default():
            fastmeta.import_meta_graph(base)
            graph_def = g.as_graph_def()
            before = [n.name for n in graph_def.node]
            try:
                fastmeta.import_meta_graph(data, input_map=make(_objects(g)), **kwargs)
            except (ValueError, TypeError, OverflowError) as e:
                error = e
    else:
        importer = v1.train.import_meta_graph if run == "tf" else fmtf.import_meta_graph
        with tf.Graph().as_default() as g:
            v1.train.import_meta_graph(v1.MetaGraphDef.FromString(base))
            graph_def = g.as_graph_def()
            before = [n.name for n in graph_def.node]
            try:
                importer(v1.MetaGraphDef.FromString(data), input_map=make(_objects(g)), **kwargs)
            except (ValueError, TypeError, OverflowError) as e:
                error = e
    names = [g.unique_name(n, mark_as_used=False) for n in NEXT_NAMES]
    return None if error is None else str(error), g.as_graph_def(), names, before, error, graph_def


CASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    # a tensor and Python numbers: Consts of the tensor's dtype named by their index
    "tensor_and_float": lambda o: {"m": [o["t"], 1.0]},
    "tensor_and_int": lambda o: {"m": [1, o["t"], 2.5]},
    "tensor_and_bool": lambda o: {"m": [True, o["t"]]},
    "tuple": lambda o: {"m": (o["t"], np.float32(2))},
    "numpy_elements": lambda o: {"m": [o["t"], np.array(2.0), np.float64(3), np.int64(4)]},
    "only_a_tensor": lambda o: {"m": [o["t"]]},
    "tensor_twice": lambda o: {"m": [o["t"], o["t"]]},
    "nested": lambda o: {"m": [[o["t"], 2.0], [3.0, o["t"]]]},
    # a nested list without a tensor is one Const; its scope was entered first, so
    # the Const named by its index is uniquified (packed/0_1)
    "nested_without_a_tensor": lambda o: {"m": [[1.0, 2.0], [o["t"], 3.0]]},
    "deeply_nested": lambda o: {"m": [[[o["t"]], [4.0]], [[5.0], [6.0]]]},
    "tensor_of_a_shape": lambda o: {"m": [o["q"], np.zeros((2, 3), np.float32), [[1, 2, 3], [4, 5, 6]]]},
    "unknown_shape": lambda o: {"m": [o["e"], [1.0, 2.0]]},
    "int_tensor": lambda o: {"k": [o["i"], [3, 4]]},
    "int_tensor_and_float": lambda o: {"k": [o["i"], [3.5, 4]]},
    "int_tensor_and_big_int": lambda o: {"k": [o["i"], [2**40, 1]]},
    "strings": lambda o: {"s": [o["u"], "a", b"b", np.str_("c")]},
    # variables: a ref variable's snapshot; a resource variable read in the pack's scope
    "ref_variable": lambda o: {"m": [o["t"], o["rv"]]},
    "resource_variable": lambda o: {"m": [o["vv"], 1.0, o["vv"]]},
    "only_a_resource_variable": lambda o: {"m": [o["vv"]]},
    "cached_resource_variable": lambda o: {"m": [o["cv"], o["rv"]]},
    "nested_variables": lambda o: {"m": [[o["vv"], 1.0], [o["rv"], o["vv"]]]},
    # two lists and a constant: packed, Const, packed_1
    "two_packs": lambda o: {"m": [o["t"]], "k": 1, "s": [o["u"]]},
    "packed_control_key": lambda o: {"^m": [o["t"]], "m": o["t"]},
    # refused as TensorFlow refuses them
    "dtype_conflict": lambda o: {"m": [o["t"], o["u"]]},
    "dtype_conflict_variable": lambda o: {"s": [o["u"], o["rv"]]},
    "dtype_conflict_resource_variable": lambda o: {"s": [o["u"], o["vv"]]},
    "dtype_conflict_shaped": lambda o: {"m": [o["t"], o["q"]]},
    "dtype_conflict_nested": lambda o: {"m": [[o["t"]], [o["i"]]]},
    "string_into_float": lambda o: {"m": [o["t"], "a"]},
    "int_into_string": lambda o: {"s": [o["u"], 1]},
    "float_into_int": lambda o: {"k": [o["i"], [1.5, 2]]},
    "numpy_string_into_float": lambda o: {"m": [o["t"], np.array("a")]},
    "none_in_the_list": lambda o: {"m": [o["t"], None]},
    "none_nested": lambda o: {"m": [o["t"], [None]]},
    "dict_in_the_list": lambda o: {"m": [o["t"], {"a": "x"}]},
    "ragged_nested": lambda o: {"m": [o["t"], [[1.0], [1.0, 2.0]]]},
    "rank_clash": lambda o: {"m": [o["t"], [1.0, 2.0]]},
    "dimension_clash": lambda o: {"m": [o["q"], np.zeros((2, 4), np.float32)]},
    "dimension_clash_later": lambda o: {"m": [o["e"], [1.0, 2.0], [1.0, 2.0, 3.0]]},
    "wrong_dtype_for_the_input": lambda o: {"b": [o["t"]]},
    "numpy_scalar_into_string": lambda o: {"s": [o["u"], np.float32(1)]},
    "complex_into_float": lambda o: {"m": [o["t"], 1 + 2j]},
    "huge_int_into_int32": lambda o: {"k": [o["i"], [2**70, 1]]},  # numpy's OverflowError
    "range_beside_a_tensor": lambda o: {"k": [o["i"], range(2)]},
    # a list's conversion failing after TensorFlow made some of its ops, or after the
    # ops of the values before it (TensorFlow leaves them; the drop-in refuses first)
    "string_after_a_constant": lambda o: {"m": [o["t"], 1.0, "a"]},
    "ragged_after_a_constant": lambda o: {"m": [o["t"], 2.0, [[1.0], [1.0, 2.0]]]},
    "rank_clash_after_a_range": lambda o: {"k": range(2), "m": [o["t"], [1.0, 2.0]]},
    "rank_clash_after_a_constant": lambda o: {"k": 1, "m": [o["t"], [1.0, 2.0]]},
    "rank_clash_after_a_variable": lambda o: {"s": o["rv"], "m": [o["t"], [1.0, 2.0]]},
    "ragged_after_a_pack": lambda o: {"k": [o["i"], [1, 2]], "m": [o["t"], [[1.0], [1.0, 2.0]]]},
    "string_after_a_pack": lambda o: {"k": [o["i"], [1, 2]], "m": [o["t"], "a"]},
    "dtype_conflict_after_a_pack": lambda o: {"k": [o["i"]], "m": [[o["t"]], [o["i"]]]},
    "dtype_conflict_after_a_read": lambda o: {"m": [[o["vv"]], [o["i"]]]},
    "nested_dimension_clash": lambda o: {"m": [[o["t"], 1.0], [o["t"]]]},
    "nested_rank_clash": lambda o: {"m": [[o["t"], 1.0], o["t"]]},
    "rank_clash_with_a_read": lambda o: {"m": [o["q"], o["vv"], 1.0]},
    "rank_clash_with_a_cached_read": lambda o: {"m": [o["cv"], o["q"]]},
    "rank_clash_with_a_snapshot": lambda o: {"m": [[o["rv"], 2.0], o["rv"]]},
    "rank_clash_in_a_second_pack": lambda o: {"k": [o["i"]], "m": [o["t"], [1.0]]},
    "constant_after_a_rank_clash": lambda o: {"m": [o["t"], [1.0]], "k": [1.5, "a"]},
    "list_of_none_before_a_pack": lambda o: {"k": [None, True], "s": [o["vv"]]},
    "ragged_list_before_a_pack": lambda o: {"k": [[1.0], [2.0, 3.0]], "m": [o["t"]]},
    # ragged lists and shape clashes inside nested packs (one helper makes the Pack
    # message on both fastmeta paths)
    "ragged_inside_a_nested_pack": lambda o: {"m": [[o["t"], [1.0, [2.0]]]]},
    "ragged_three_deep": lambda o: {"m": [o["t"], [[[1.0]], [[1.0], [2.0]]]]},
    "nested_packs_of_two_ranks": lambda o: {"m": [[[o["t"]]], [[o["t"], 1.0]]]},
    "dimension_clash_in_the_first_pair": lambda o: {"m": [o["q"], [[1.0, 2.0, 3.0]] * 2, [[1.0, 2.0]] * 2]},
    # graph objects where TensorFlow converts none: shown as TensorFlow shows its own
    "operation_beside_a_tensor": lambda o: {"m": [o["t"], o["t_op"]]},
    "operation_nested": lambda o: {"m": [o["t"], [o["t_op"]]]},
    "tensor_in_a_dict_beside_a_tensor": lambda o: {"m": [o["t"], {"a": o["q"]}]},
    "unknown_shape_tensor_in_a_dict": lambda o: {"m": [o["t"], {"a": o["e"]}]},
    "variable_in_a_dict_beside_a_tensor": lambda o: {"m": [o["t"], {"a": o["vv"]}, {"b": o["rv"]}]},
    "tensor_in_a_dict": lambda o: {"m": {"a": o["t"]}},
    "tensor_in_a_dict_in_a_list": lambda o: {"m": [{"a": o["t"]}]},
    "variable_in_a_dict": lambda o: {"m": [{"a": o["vv"], "b": (o["rv"],)}]},
    "operation_in_a_list": lambda o: {"m": [o["t_op"]]},
    "range_in_a_list": lambda o: {"k": [range(2)]},
    "ranges_in_a_list": lambda o: {"k": [range(2), range(3)]},
    # array-like values: numpy's arrays of them
    "memoryview": lambda o: {"n": _VIEW},
    "bytearray": lambda o: {"n": bytearray(b"xyz")},
    "memoryview_of_floats": lambda o: {"m": _FLOATS},
    "memoryview_onto_a_string": lambda o: {"s": _VIEW},
    "memoryview_in_a_list": lambda o: {"n": [_VIEW]},
    "memoryview_with_a_tensor": lambda o: {"m": [o["e"], _FLOATS]},
    # range: a Range op of start/limit/delta Consts (cast to the widest type)
    "range": lambda o: {"k": range(3)},
    "range_steps": lambda o: {"k": range(10, 2, -3)},
    "empty_range": lambda o: {"k": range(0)},
    "big_range": lambda o: {"k64": range(1, 2**40, 2**20)},
    "range_onto_a_float": lambda o: {"m": range(2)},
}
# Values the TF-free import already converted as TensorFlow does (checked here too, as
# the brief asked; these passed before the packing change).
CONVERTED_BEFORE: dict[str, Callable[[dict[str, Any]], Any]] = {
    "numpy_string_array": lambda o: {"s": np.array([["a", "bc"], ["d", "e"]])},
    "numpy_bool_scalar": lambda o: {"b": np.bool_(False)},
    "mixed_int_float_nested": lambda o: {"m": [[1, 2.5], [3, 4]]},
    "empty_list": lambda o: {"m": []},
    "none_in_a_list_without_tensors": lambda o: {"m": [1.0, None]},
    "huge_int": lambda o: {"k64": [2**62, -(2**63)]},
    "too_huge_int": lambda o: {"k64": [2**64]},
}


ALL_CASES = {**CASES, **CONVERTED_BEFORE}


# (With import_scope unset, every case is refused before conversion, as TensorFlow
# refuses it: those passed before too.)
@pytest.mark.parametrize("scope", ["imp", None])
@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_values_converted_as_tensorflow_converts_them(case: str, scope: str | None) -> None:
    want = _run("tf", ALL_CASES[case], import_scope=scope)
    _same_outcome(want, _run("fastmeta", ALL_CASES[case], import_scope=scope), "fastmeta")
    # The drop-in hands some of these values to TensorFlow's conversion, having first
    # checked them, the file, the keys and the edges' dtypes: a conversion that fails
    # (a list's own shape or nested dtype clash, an element no constant is made of)
    # fails before any is made, the graph untouched, with TensorFlow's message.
    dropin = _run("dropin", ALL_CASES[case], import_scope=scope)
    _same_outcome(want, dropin, "dropin")
    if want[0] is not None:
        assert dropin[1] == dropin[5]


@pytest.mark.parametrize("how", ["outer_scope", "twice_into_imp"])
def test_packed_where_tensorflow_packs(how: str) -> None:
    # Under name_scope("outer") without import_scope: outer/_inputs/packed; a second
    # import into "imp/": imp/_inputs_1/packed (its ReadVariableOp in that scope).
    results = []
    for run in ("tf", "dropin", "fastmeta"):
        if run == "fastmeta":
            g: Any = fastmeta.Graph()
            importer: Any = fastmeta.import_meta_graph
            with g.as_default():
                importer(_base())
        else:
            g = tf.Graph()
            importer = v1.train.import_meta_graph if run == "tf" else fmtf.import_meta_graph
            with g.as_default():
                v1.train.import_meta_graph(v1.MetaGraphDef.FromString(_base()))
        with g.as_default():
            o = _objects(g)
            imap = {"m": [[o["vv"], 1.0], [o["t"], 2.0]], "k": range(2)}

            def source(run: str = run) -> Any:
                return _meta() if run == "fastmeta" else v1.MetaGraphDef.FromString(_meta())

            if how == "outer_scope":
                with g.name_scope("outer"):
                    importer(source(), input_map=imap)
            else:
                for _ in range(2):
                    importer(source(), import_scope="imp/", input_map=imap)
        results.append(g.as_graph_def())
    names = [n.name for n in results[0].node]
    want = "outer/_inputs/packed" if how == "outer_scope" else "imp/_inputs_1/packed/0/ReadVariableOp"
    assert want in names
    assert diff_graph_defs(results[0], results[1]) == []
    assert diff_graph_defs(results[0], results[2]) == []


def _with_a_bad_node() -> bytes:
    """:func:`_meta` with a node reading a node the file lacks, after the others."""
    tf_meta = v1.MetaGraphDef.FromString(_meta())
    node = tf_meta.graph_def.node.add(name="zz_bad", op="Identity", input=["no_such_node"])
    node.attr["T"].type = tf.float32.as_datatype_enum
    return tf_meta.SerializeToString()  # type: ignore[no-any-return]


def _unstacked() -> bytes:
    """A placeholder m (float32 [3]) unstacked by "un" (its output count: its attr num)."""
    g = tf.Graph()
    with g.as_default():
        tf.unstack(v1.placeholder(tf.float32, [3], name="m"), name="un")
        return v1.train.export_meta_graph().SerializeToString()  # type: ignore[no-any-return]


# Values TensorFlow converts (adding ops to the graph) before its import fails on
# something else: a key the file lacks, an input of another dtype, a node reading a node
# the file lacks. The drop-in must fail as the TF-free import does, the graph untouched.
# (A return element naming no node of the file is found by TensorFlow's importer after the
# conversion too.)
FAIL_AFTER_CONVERSION: dict[str, tuple[Callable[[dict[str, Any]], Any], Callable[[], bytes]]] = {
    "packed_and_a_bad_key": (lambda o: {"m": [o["t"], 1.0], "nope": o["t"]}, _meta),
    "packed_into_a_bool": (lambda o: {"b": [o["t"], 1.0]}, _meta),
    "packed_then_a_bad_node": (lambda o: {"m": [o["t"], 1.0]}, _with_a_bad_node),
    "variable_and_a_bad_key": (lambda o: {"m": o["vv"], "nope": [o["t"]]}, _meta),
    "variable_into_a_string": (lambda o: {"s": o["rv"]}, _meta),
    "range_into_a_bool": (lambda o: {"b": range(2)}, _meta),
    "range_then_a_bad_node": (lambda o: {"k": range(2)}, _with_a_bad_node),
    "packed_and_a_bad_return_tensor": (lambda o: {"m": [o["t"], 1.0]}, _meta),
    "packed_and_a_bad_return_op": (lambda o: {"m": [o["t"], 1.0]}, _meta),
    "variable_and_a_bad_return_tensor": (lambda o: {"m": o["vv"]}, _meta),
    "range_and_a_bad_return_op": (lambda o: {"k": range(2)}, _meta),
    "packed_and_an_unparsable_return_element": (lambda o: {"m": [o["t"], 1.0]}, _meta),
    "packed_and_a_return_output_out_of_range": (lambda o: {"m": [o["t"], 1.0]}, _meta),
    "packed_and_a_return_output_out_of_range_by_attr": (lambda o: {"m": [o["t"], 1.0, 2.0]}, _unstacked),
}
# (the return_elements of the cases that ask for some)
RETURN_ELEMENTS: dict[str, list[str]] = {
    "packed_and_a_bad_return_tensor": ["m:0", "nope:0"],
    "packed_and_a_bad_return_op": ["m_out", "nope"],
    "variable_and_a_bad_return_tensor": ["m_out:0", "m:0", "nope:0"],
    "range_and_a_bad_return_op": ["nope"],
    "packed_and_an_unparsable_return_element": ["m_out:x"],
    "packed_and_a_return_output_out_of_range": ["m_out:0", "m_out:1"],
    "packed_and_a_return_output_out_of_range_by_attr": ["un:2", "un:3"],
}


@pytest.mark.parametrize("case", sorted(FAIL_AFTER_CONVERSION))
def test_dropin_fails_after_conversion_as_the_tf_free_import_graph_untouched(case: str) -> None:
    make, source = FAIL_AFTER_CONVERSION[case]
    kwargs: dict[str, Any] = {"import_scope": "imp"}
    if case in RETURN_ELEMENTS:
        kwargs["return_elements"] = RETURN_ELEMENTS[case]
    outcomes = {}
    for run in ("fastmeta", "dropin", "tf"):
        base = _base()
        if run == "fastmeta":
            g: Any = fastmeta.Graph()
            with g.as_default():
                fastmeta.import_meta_graph(base)
                before = [n.name for n in g.as_graph_def().node]
                with pytest.raises(Exception) as info:
                    fastmeta.import_meta_graph(source(), input_map=make(_objects(g)), **kwargs)
        else:
            importer = v1.train.import_meta_graph if run == "tf" else fmtf.import_meta_graph
            with tf.Graph().as_default() as g:
                v1.train.import_meta_graph(v1.MetaGraphDef.FromString(base))
                before = [op.name for op in g.get_operations()]
                names = dict(g._names_in_use)
                with pytest.raises(Exception) as info:
                    importer(v1.MetaGraphDef.FromString(source()), input_map=make(_objects(g)), **kwargs)
                if run == "dropin":
                    assert [op.name for op in g.get_operations()] == before
                    assert dict(g._names_in_use) == names
        outcomes[run] = info.value
        if run == "fastmeta":
            assert [n.name for n in g.as_graph_def().node] == before
    assert isinstance(outcomes["fastmeta"], fastmeta.Error)
    assert type(outcomes["dropin"]) is type(outcomes["fastmeta"]), (outcomes["dropin"], outcomes["fastmeta"])
    assert str(outcomes["dropin"]) == str(outcomes["fastmeta"])
    assert isinstance(outcomes["dropin"], type(outcomes["tf"]))  # (TensorFlow's builtin)
    if case in RETURN_ELEMENTS:
        assert str(outcomes["dropin"]) == str(outcomes["tf"])


@pytest.mark.parametrize("scope", ["imp", "imp/"])
def test_dropin_return_elements_with_values_tensorflow_converts(scope: str) -> None:
    # found as TensorFlow finds them (also when the nodes are renamed: a second import
    # into the reused scope "imp/"), the mapped tensor returned as its converted value
    elements = ["m_out", "m_out:0", "m:0", "k_out:0", "k"]
    got = {}
    for run in ("tf", "dropin"):
        with tf.Graph().as_default() as g:
            v1.train.import_meta_graph(v1.MetaGraphDef.FromString(_base()))
            o = _objects(g)
            importer = (
                saver_lib._import_meta_graph_with_return_elements
                if run == "tf"
                else fmtf.import_meta_graph_with_return_elements
            )
            for _ in range(2):
                _, out = importer(
                    v1.MetaGraphDef.FromString(_meta()),
                    import_scope=scope,
                    input_map={"m": [o["t"], 1.0], "k": range(2)},
                    return_elements=elements,
                )
            graph_def = g.as_graph_def()
            before = [op.name for op in g.get_operations()]
            with pytest.raises(ValueError) as info:  # then one naming no node of the file
                importer(
                    v1.MetaGraphDef.FromString(_meta()),
                    import_scope=scope,
                    input_map={"m": [o["t"], 1.0]},
                    return_elements=[*elements, "nope:0"],
                )
            if run == "dropin":
                assert [op.name for op in g.get_operations()] == before
            got[run] = ([x.name for x in out], graph_def, str(info.value))
    assert got["dropin"][0] == got["tf"][0]
    assert diff_graph_defs(got["tf"][1], got["dropin"][1]) == []
    assert got["dropin"][2] == got["tf"][2]


def test_dropin_with_values_tensorflow_converts_imports_as_tensorflow() -> None:
    # the succeeding counterpart: node for node TensorFlow's graph
    for case in ("resource_variable", "nested_variables", "range", "two_packs"):
        want = _run("tf", CASES[case], import_scope="imp")
        got = _run("dropin", CASES[case], import_scope="imp")
        assert want[0] is None and got[0] is None
        assert diff_graph_defs(want[1], got[1]) == []
        assert got[2] == want[2]


def _with_outputs() -> bytes:
    """:func:`_meta` with a node of three outputs ("un", unstacking a float32 [3]
    placeholder w) and one of none ("nop")."""
    g = tf.Graph()
    with g.as_default():
        v1.train.import_meta_graph(v1.MetaGraphDef.FromString(_meta()), import_scope="")
        tf.unstack(v1.placeholder(tf.float32, [3], name="w"), name="un")
        tf.no_op(name="nop")
        return v1.train.export_meta_graph().SerializeToString()  # type: ignore[no-any-return]


# input_map values converted as TensorFlow converts them: by TensorFlow itself (a
# packed list, a range, a variable), into a Const (made by the drop-in), none
ELEMENT_MAPS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "packed": lambda o: {"m": [o["t"], 1.0]},
    "range": lambda o: {"k": range(2)},
    "variable": lambda o: {"m": o["vv"]},
    "constant": lambda o: {"m": 1.0},
    "none": lambda o: {},
}


def _refused_elements(
    run: str, make: Callable[[dict[str, Any]], Any], elements: list[str], scope: str = "imp", twice: bool = False
) -> tuple[Any, ...]:
    """(error type, message with addresses blanked, graph_def before, graph_def and name
    table after) of one import of :func:`_with_outputs` into "imp" (of a graph holding
    :func:`_base`), asking for ``elements``; or the returned names when it succeeds."""
    importer = (
        saver_lib._import_meta_graph_with_return_elements
        if run == "tf"
        else fmtf.import_meta_graph_with_return_elements
    )
    with tf.Graph().as_default() as g:
        v1.train.import_meta_graph(v1.MetaGraphDef.FromString(_base()))
        if twice:
            v1.train.import_meta_graph(v1.MetaGraphDef.FromString(_with_outputs()), import_scope=scope)
        imap = make(_objects(g))
        before = g.as_graph_def(), dict(g._names_in_use)
        try:
            _, out = importer(
                v1.MetaGraphDef.FromString(_with_outputs()),
                import_scope=scope,
                input_map=imap,
                return_elements=elements,
            )
        except (ValueError, TypeError) as e:
            message = re.sub(r" at 0x[0-9a-f]+>", " at 0x?>", str(e))
            return type(e), message, before, (g.as_graph_def(), dict(g._names_in_use))
    return None, [x.name for x in out], before, (g.as_graph_def(), dict(g._names_in_use))


@pytest.mark.parametrize("make", sorted(ELEMENT_MAPS))
@pytest.mark.parametrize(
    "elements",
    [
        ["m_out:-2"],  # negative indices: only -1 (the control slot) passes TensorFlow's importer
        ["un:-3"],
        ["nop:-2"],
        ["m_out:-2147483648"],
        ["un:-1", "m:-1", "m_out:- 2"],
        ["nope:-1"],  # named as TensorFlow names the control slot: '^nope'
        ["nope: +3"],  # named by its parsed index: 'nope:3'
        ["nope", "m_out:5"],  # return tensors are checked before return ops
        ["nope", "un:-2"],
        ["m_out:5", "nope:0"],
        ["m_out:x", "m_out:2147483648"],  # all parsed, and handed to TensorFlow, in order
        ["nope:0", "m_out:2147483648"],  # TypeError: an index that is no C int
        ["m_out:0", "nope", "un:-2147483649"],
        ["m_out:-1", "un:-1", "un:2", "m:-0"],  # (these pass)
    ],
    ids=lambda v: repr(v),
)
def test_dropin_refuses_return_elements_as_tensorflow_graph_untouched(elements: list[str], make: str) -> None:
    want = _refused_elements("tf", ELEMENT_MAPS[make], elements)
    got = _refused_elements("dropin", ELEMENT_MAPS[make], elements)
    assert got[:2] == want[:2] if want[0] is None else (got[0] is not None and issubclass(got[0], want[0]))
    assert got[1] == want[1]
    if want[0] is None:
        assert diff_graph_defs(want[3][0], got[3][0]) == []
        return
    if issubclass(got[0], ValueError):
        assert issubclass(got[0], fastmeta.Error)
    assert got[3][0] == got[2][0] and got[3][1] == got[2][1]  # (TensorFlow's may hold the converted ops)


def _foreign() -> Any:
    """A float32 [] placeholder "ot" of a graph of its own (a new one per call)."""
    with tf.Graph().as_default():
        return v1.placeholder(tf.float32, [], name="ot")


# lists holding a tensor of another graph: TensorFlow's Pack refuses it after the
# Consts of the list's other elements, and the ops of the values before, are made
FOREIGN: dict[str, Callable[[dict[str, Any]], Any]] = {
    "after_a_constant": lambda o: {"m": [o["t"], 1.0, _foreign()]},
    "first_then_a_constant": lambda o: {"m": [_foreign(), 2.0]},
    "after_a_pack": lambda o: {"k": [o["i"], [1, 2]], "m": [o["t"], _foreign()]},
    "after_a_read": lambda o: {"m": o["vv"], "k": [o["t"], _foreign()]},
    "alone": lambda o: {"m": [o["t"], _foreign()]},
    "after_a_variable": lambda o: {"s": [o["rv"], _foreign()]},
    "before_a_resource_variable": lambda o: {"k": [_foreign(), o["cv"], 2.0]},
    "after_a_nested_pack": lambda o: {"m": [[o["t"], 1.0], _foreign()]},
}


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_dropin_refuses_a_pack_of_two_graphs_as_tensorflow_graph_untouched(case: str) -> None:
    want = _run("tf", FOREIGN[case], import_scope="imp")
    got = _run("dropin", FOREIGN[case], import_scope="imp")
    assert want[0] is not None and got[0] is not None

    def blanked(message: str) -> str:
        return re.sub(r" at 0x[0-9a-f]+>", " at 0x?>", message)

    assert blanked(got[0]) == blanked(want[0])
    assert isinstance(got[4], type(want[4]))
    assert got[1] == got[5]


@pytest.mark.parametrize(
    "existing",
    [
        ["imp/m", "imp/m_out", "imp/un", "imp/w/x"],  # clashes: renamed m_1, m_out_1, un_1
        ["imp/m", "imp/m_1", "imp/m_out_1/y"],  # m_2 (m_1 taken); m_out not renamed
        ["imp/nope"],  # none renamed
    ],
)
def test_core_lists_the_renamed_nodes_by_their_names_in_the_file(existing: list[str]) -> None:
    from fastmeta.reading import load_meta_graph
    from fastmeta.rewrite import run_core

    loaded = load_meta_graph(_with_outputs())
    got = run_core(loaded, "imp", existing_names=existing)
    plain = run_core(loaded, "")
    want = [(i, plain.name(i)) for i in range(plain.num_nodes) if got.name(i) != "imp/" + plain.name(i)]
    assert got.renamed() == want
    assert bool(want) == (existing != ["imp/nope"])


@pytest.mark.parametrize("make", ["packed", "variable"])
@pytest.mark.parametrize(
    "elements",
    [
        ["un:2", "m_out", "m:0", "nop"],  # (these pass: the renamed nodes found by their names in the file)
        ["m_out_1:0"],  # a renamed node's new name, which the file lacks
        ["nope", "un:-2"],
        ["un_1"],
        ["m_out:1", "nop:-1", "w:0"],
    ],
    ids=lambda v: repr(v),
)
def test_dropin_return_elements_in_a_reused_scope_as_tensorflow(elements: list[str], make: str) -> None:
    want = _refused_elements("tf", ELEMENT_MAPS[make], elements, scope="imp/", twice=True)
    got = _refused_elements("dropin", ELEMENT_MAPS[make], elements, scope="imp/", twice=True)
    assert got[1] == want[1]
    if want[0] is None:
        assert got[0] is None
        assert diff_graph_defs(want[3][0], got[3][0]) == []
        return
    assert got[0] is not None and issubclass(got[0], want[0])
    assert got[3][0] == got[2][0] and got[3][1] == got[2][1]


@pytest.mark.parametrize("make", sorted(ELEMENT_MAPS))
@pytest.mark.parametrize("key", ["m:2147483648", "m:-2147483649", "k: 4294967296"])
def test_dropin_refuses_an_input_map_key_index_that_is_no_c_int_as_tensorflow(key: str, make: str) -> None:
    def with_key(o: dict[str, Any]) -> Any:
        return {**ELEMENT_MAPS[make](o), key: o["t"]}

    want = _refused_elements("tf", with_key, ["m_out:0"])
    got = _refused_elements("dropin", with_key, ["m_out:0"])
    assert want[0] is TypeError and got[0] is not None and issubclass(got[0], TypeError)
    assert re.sub(r" at 0x[0-9a-f]+>", " at 0x?>", got[1]) == re.sub(r" at 0x[0-9a-f]+>", " at 0x?>", want[1])
    assert got[3][0] == got[2][0] and got[3][1] == got[2][1]
