"""Nodes checked against their ops' OpDefs in the file's stripped_op_list, as TensorFlow's
importer checks them against its registry: the number of data inputs, and that each
input names an output its source has (``x:3`` of a one-output op). TensorFlow rejects
such a graph; so does the TF-free import, whole, with a GraphError naming the node."""

from __future__ import annotations

from typing import Any

import fastmeta
import pytest
from fastmeta import _core
from fastmeta.protos import meta_graph_pb2, op_def_pb2
from fastmeta.protos.types_pb2 import DT_FLOAT, DT_INT32


def _op_list() -> op_def_pb2.OpList:
    """Some of TensorFlow's OpDefs, as a stripped_op_list holds them: fixed, number_attr
    and type_list_attr args."""
    ops = op_def_pb2.OpList()
    const = ops.op.add(name="Const")
    const.output_arg.add(name="output", type_attr="dtype")
    const.attr.add(name="value", type="tensor")
    const.attr.add(name="dtype", type="type")
    ident = ops.op.add(name="Identity")
    ident.input_arg.add(name="input", type_attr="T")
    ident.output_arg.add(name="output", type_attr="T")
    ident.attr.add(name="T", type="type")
    add_n = ops.op.add(name="AddN")
    add_n.input_arg.add(name="inputs", type_attr="T", number_attr="N")
    add_n.output_arg.add(name="sum", type_attr="T")
    add_n.attr.add(name="N", type="int", has_minimum=True, minimum=1)
    add_n.attr.add(name="T", type="type")
    ident_n = ops.op.add(name="IdentityN")
    ident_n.input_arg.add(name="input", type_list_attr="T")
    ident_n.output_arg.add(name="output", type_list_attr="T")
    ident_n.attr.add(name="T", type="list(type)", has_minimum=True, minimum=1)
    split = ops.op.add(name="Split")
    split.input_arg.add(name="split_dim", type=DT_INT32)
    split.input_arg.add(name="value", type_attr="T")
    split.output_arg.add(name="output", type_attr="T", number_attr="num_split")
    split.attr.add(name="num_split", type="int", has_minimum=True, minimum=1)
    split.attr.add(name="T", type="type")
    return ops


def _meta(*nodes: dict[str, Any]) -> meta_graph_pb2.MetaGraphDef:
    meta = meta_graph_pb2.MetaGraphDef()
    meta.meta_info_def.stripped_op_list.CopyFrom(_op_list())
    for spec in nodes:
        spec = dict(spec)
        attrs = spec.pop("attrs", {})
        node = meta.graph_def.node.add(**spec)
        if node.op == "Const" and "value" not in attrs:  # (an attr without a default)
            node.attr["value"].tensor.dtype = DT_FLOAT
        for key, value in attrs.items():
            if isinstance(value, list):
                node.attr[key].list.type.extend(value)
            elif key == "T":
                node.attr[key].type = value
            else:
                node.attr[key].i = value
    return meta


def _valid() -> meta_graph_pb2.MetaGraphDef:
    return _meta(
        {"name": "c", "op": "Const", "attrs": {"dtype": DT_FLOAT}},
        {"name": "d", "op": "Const", "attrs": {"dtype": DT_INT32}},
        {"name": "i", "op": "Identity", "input": ["c", "^d"], "attrs": {"T": DT_FLOAT}},
        {"name": "sum", "op": "AddN", "input": ["c", "i:0", "^i"], "attrs": {"N": 2, "T": DT_FLOAT}},
        {"name": "idn", "op": "IdentityN", "input": ["c", "d"], "attrs": {"T": [DT_FLOAT, DT_INT32]}},
        {"name": "parts", "op": "Split", "input": ["d", "c"], "attrs": {"num_split": 3, "T": DT_FLOAT}},
        {"name": "use", "op": "AddN", "input": ["parts:2", "idn:0", "parts:1"], "attrs": {"N": 3, "T": DT_FLOAT}},
    )


def _rejected(meta: meta_graph_pb2.MetaGraphDef) -> fastmeta.GraphError:
    g = fastmeta.Graph()
    with pytest.raises(fastmeta.GraphError) as info:
        fastmeta.import_meta_graph(meta, graph=g, import_scope="imp")
    assert g.get_operations() == []
    return info.value


def test_a_graph_that_keeps_its_signatures_imports() -> None:
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(_valid(), graph=g)
    assert [t.name for t in g.get_operation_by_name("use").inputs] == ["parts:2", "idn:0", "parts:1"]


@pytest.mark.parametrize(
    ("node", "new_input", "message"),
    [
        ("i", "c:1", "Connecting to invalid output 1 of source node 'c' which has 1 output"),
        ("use", "parts:3", "Connecting to invalid output 3 of source node 'parts' which has 3 outputs"),
        ("use", "idn:2", "Connecting to invalid output 2 of source node 'idn' which has 2 outputs"),
        ("sum", "sum:1", "Connecting to invalid output 1 of source node 'sum' which has 1 output"),
    ],
)
def test_an_input_naming_an_output_its_source_lacks(node: str, new_input: str, message: str) -> None:
    meta = _valid()
    target = next(n for n in meta.graph_def.node if n.name == node)
    target.input[0] = new_input
    e = _rejected(meta)
    assert f"Node 'imp/{node}'" not in str(e)  # (names as in the file)
    assert f"Node '{node}': input '{new_input}': {message}" in str(e)
    assert e.node == node


@pytest.mark.parametrize(
    ("node", "inputs", "takes", "has"),
    [
        ("i", ["c", "d"], 1, 2),  # fixed
        ("i", ["^c"], 1, 0),  # a control input is not a data input
        ("sum", ["c", "c", "c"], 2, 3),  # number_attr N = 2
        ("idn", ["c"], 2, 1),  # type_list_attr T of two types
        ("parts", ["d", "c", "c"], 2, 3),
    ],
)
def test_a_node_with_more_or_fewer_inputs_than_its_op_takes(node: str, inputs: list[str], takes: int, has: int) -> None:
    meta = _valid()
    target = next(n for n in meta.graph_def.node if n.name == node)
    del target.input[:]
    target.input.extend(inputs)
    e = _rejected(meta)
    op = target.op
    assert f"Node '{node}': op '{op}' takes {takes} data input" in str(e)
    assert f"the NodeDef has {has}" in str(e)


def test_what_the_op_defs_cannot_tell_is_not_checked() -> None:
    meta = _valid()
    nodes = {n.name: n for n in meta.graph_def.node}
    nodes["i"].op = "NotInTheOpList"  # (nor in TensorFlow's registry)
    nodes["i"].input.insert(1, "c")
    nodes["sum"].input[1] = "i:7"
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(meta, graph=g)
    assert [t.name for t in g.get_operation_by_name("i").inputs] == ["c:0", "c:0"]
    # A count attr the node lacks (its OpDef gives no default) is not a count left
    # unknown: the node is refused, as TensorFlow's importer refuses it.
    del nodes["sum"].attr["N"]
    e = _rejected(meta)
    assert e.node == "sum" and "NodeDef missing attr 'N'" in str(e)


def test_ops_the_op_list_lacks_are_checked_by_the_registry() -> None:
    """As TensorFlow checks them against its registry (fastmeta's copy of it)."""
    meta = _valid()
    meta.meta_info_def.ClearField("stripped_op_list")
    next(n for n in meta.graph_def.node if n.name == "use").input[1] = "parts:9"
    assert "Connecting to invalid output 9 of source node 'parts' which has 3 outputs" in str(_rejected(meta))


def test_a_function_call_is_checked_against_its_signature() -> None:
    meta = _valid()
    nodes = {n.name: n for n in meta.graph_def.node}
    nodes["idn"].op = "my_function"
    function = meta.graph_def.library.function.add()
    signature = function.signature
    signature.name = "my_function"
    signature.input_arg.add(name="x", type=1)
    signature.input_arg.add(name="y", type=3)
    signature.output_arg.add(name="z", type=1)
    function.ret["z"] = "x"  # (a body TensorFlow instantiates: tests/TF_BEHAVIOUR.md §6c)
    fastmeta.import_meta_graph(meta, graph=fastmeta.Graph())
    nodes["use"].input[1] = "idn:1"
    assert "Connecting to invalid output 1 of source node 'idn' which has 1 output" in str(_rejected(meta))


def test_a_count_from_the_attrs_default() -> None:
    """A custom op (TensorFlow's registry lacks it): the file's OpDef gives the default."""
    meta = _valid()
    split = next(op for op in meta.meta_info_def.stripped_op_list.op if op.name == "Split")
    split.name = "MySplit"
    next(a for a in split.attr if a.name == "num_split").default_value.i = 3
    parts = next(n for n in meta.graph_def.node if n.name == "parts")
    parts.op = "MySplit"
    del parts.attr["num_split"]
    fastmeta.import_meta_graph(meta, graph=fastmeta.Graph())
    next(n for n in meta.graph_def.node if n.name == "use").input[0] = "parts:4"
    assert "which has 3 outputs" in str(_rejected(meta))


def test_the_check_can_be_left_to_tensorflow() -> None:
    meta = _valid()
    next(n for n in meta.graph_def.node if n.name == "i").input[0] = "c:1"
    with pytest.raises(fastmeta.GraphError):
        _core.rewrite_meta_graph(meta.SerializeToString())
    result = _core.rewrite_meta_graph(meta.SerializeToString(), check_signatures=False)
    assert result.num_nodes == len(meta.graph_def.node)


# --- against TensorFlow: it rejects the same graphs, built by TensorFlow -------------------


def _tf_meta() -> Any:
    tf = pytest.importorskip("tensorflow")
    g = tf.Graph()
    with g.as_default():
        c = tf.constant([1.0, 2.0, 3.0], name="c")
        d = tf.constant(0, name="d")
        i = tf.identity(c, name="i")
        s = tf.add_n([c, i], name="sum")
        idn = tf.identity_n([c, d], name="idn")
        parts = tf.split(tf.concat([c, c, c], 0, name="cat"), 3, axis=0, name="parts")
        tf.add_n([parts[2], idn[0], parts[1], s], name="use")
        return tf, tf.compat.v1.train.export_meta_graph(graph=g)


@pytest.mark.parametrize(
    ("node", "index", "value"),
    [
        ("i", 0, "c:1"),
        ("use", 0, "parts:3"),
        ("use", 1, "idn:2"),
        ("sum", None, "c"),  # one data input more than N
        ("idn", None, "d"),  # one more than T lists
        ("i", None, "c"),
    ],
)
def test_tensorflow_rejects_the_same_graphs(node: str, index: int | None, value: str) -> None:
    tf, tf_meta = _tf_meta()
    target = next(n for n in tf_meta.graph_def.node if n.name == node)
    if index is None:
        target.input.insert(0, value)
    else:
        target.input[index] = value
    data = tf_meta.SerializeToString()
    with tf.Graph().as_default(), pytest.raises(ValueError):
        tf.compat.v1.train.import_meta_graph(tf_meta)
    e = _rejected(meta_graph_pb2.MetaGraphDef.FromString(data))
    assert e.node == node
    # The drop-in leaves the check to TensorFlow's importer: TensorFlow's error, no op added.
    import fastmeta.tf as fmtf

    g = tf.Graph()
    with g.as_default(), pytest.raises(ValueError):
        fmtf.import_meta_graph(data)
    assert g.get_operations() == []


def test_tensorflow_and_fastmeta_accept_the_unbroken_graph() -> None:
    tf, tf_meta = _tf_meta()
    with tf.Graph().as_default() as g:
        tf.compat.v1.train.import_meta_graph(tf_meta)
    fm = fastmeta.Graph()
    fastmeta.import_meta_graph(tf_meta.SerializeToString(), graph=fm)
    assert [op.name for op in fm.get_operations()] == [op.name for op in g.get_operations()]
