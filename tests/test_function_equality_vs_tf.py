"""A second import bringing a function of a name the graph already holds: TensorFlow
keeps the first when the two are the same by its ``FunctionDefsEqual`` (a comparison by
meaning: body nodes matched by name, some fields ignored) and refuses a different one.
The TensorFlow-free import against TensorFlow (skipped where it is not installed).
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
from fastmeta._function_equal import function_defs_equal
from fastmeta.protos import attr_value_pb2, function_pb2, meta_graph_pb2


def _tf() -> Any:
    tf = tf_oracle._tf()
    tf.compat.v1.disable_eager_execution()
    return tf


def _base() -> meta_graph_pb2.MetaGraphDef:
    """A graph calling v1 Defun ``FnA`` (a * 2 + 1)."""
    tf = _tf()
    from tensorflow.python.framework import function as tf_function

    v1 = tf.compat.v1
    with tf.Graph().as_default():

        @tf_function.Defun(tf.float32, func_name="FnA")
        def body(a: Any) -> Any:
            return a * 2.0 + 1.0

        tf.identity(body(v1.placeholder(tf.float32, [], name="x")), name="y")
        data = v1.train.export_meta_graph().SerializeToString()
    return meta_graph_pb2.MetaGraphDef.FromString(data)


Edit = Callable[[function_pb2.FunctionDef], None]


def _node(f: function_pb2.FunctionDef, name: str) -> Any:
    return next(n for n in f.node_def if n.name == name)


def _reorder(f: function_pb2.FunctionDef) -> None:
    nodes = list(f.node_def)[::-1]
    del f.node_def[:]
    f.node_def.extend(nodes)


def _arg_attr(f: function_pb2.FunctionDef) -> None:
    shape = f.arg_attr[0].attr["_output_shapes"].list.shape[0]
    shape.Clear()
    shape.dim.add(size=-1)


def _controls(*names: str) -> Edit:
    def edit(f: function_pb2.FunctionDef) -> None:
        _node(f, "add_0").input.extend(names)

    return edit


def _set(path: str, value: Any) -> Edit:
    def edit(f: function_pb2.FunctionDef) -> None:
        if path == "resource_arg_unique_id":
            f.resource_arg_unique_id[0] = value
        elif path == "unset_attr":
            f.attr["unset"].CopyFrom(attr_value_pb2.AttrValue())
        elif path == "function_attr":
            f.attr["_disable_call_shape_inference"].b = value
        elif path == "internal_node_attr":
            _node(f, "mul").attr["_class"].list.s.append(value)
        elif path == "node_attr":
            _node(f, "mul").attr["T"].type = value
        elif path == "device":
            _node(f, "mul").device = value
        elif path == "input":
            _node(f, "mul").input[0] = value
        elif path == "ret":
            f.ret["add"] = value
        elif path == "control_ret":
            f.control_ret["c"] = value
        elif path == "description":
            f.signature.description = value
        elif path == "debug_info":
            _node(f, "mul").experimental_debug_info.original_node_names.append(value)
        elif path == "const_value_list":  # the same tensor, its value given as a list of one
            _node(f, "mul/y").attr["value"].tensor.tensor_shape.dim.add(size=2)
            _node(f, "mul/y").attr["value"].tensor.float_val[:] = value
        else:
            raise AssertionError(path)

    return edit


def _nothing(f: function_pb2.FunctionDef) -> None:
    pass


# (edit of the first file's FnA, edit of the second's)
CASES: dict[str, tuple[Edit, Edit]] = {
    "node_defs_reordered": (_nothing, _reorder),
    "arg_attr": (_nothing, _arg_attr),
    "resource_arg_unique_id": (_nothing, _set("resource_arg_unique_id", 7)),
    "unset_function_attr": (_nothing, _set("unset_attr", None)),
    "internal_node_attr": (_nothing, _set("internal_node_attr", b"loc:@a")),
    "node_debug_info": (_nothing, _set("debug_info", "elsewhere")),
    "input_spelled_with_0": (_nothing, _set("input", "a:0")),
    "control_inputs_reordered": (_controls("^mul", "^add/y"), _controls("^add/y", "^mul")),
    "tensor_values_padded": (_set("const_value_list", [2.0]), _set("const_value_list", [2.0, 2.0])),
    # different
    "function_attr_differs": (_nothing, _set("function_attr", False)),
    "node_attr_differs": (_nothing, _set("node_attr", 2)),
    "device_differs": (_nothing, _set("device", "/cpu:0")),
    "input_differs": (_nothing, _set("input", "mul/y:output:0")),
    "ret_differs": (_nothing, _set("ret", "mul:z:0")),
    "control_ret_added": (_nothing, _set("control_ret", "mul")),
    "description_differs": (_nothing, _set("description", "other")),
    "control_inputs_differ": (_controls("^mul"), _controls("^add/y")),
    "tensor_values_differ": (_set("const_value_list", [2.0]), _set("const_value_list", [2.0, 3.0])),
}


def _file(edit: Edit) -> bytes:
    mg = _base()
    edit(mg.graph_def.library.function[0])
    return mg.SerializeToString()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_function_of_a_name_the_graph_holds_as_in_tensorflow(case: str) -> None:
    first, second = (_file(edit) for edit in CASES[case])
    tf = _tf()
    with tf.Graph().as_default() as tg:
        tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(first))
        try:
            tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(second), import_scope="s")
            want: Any = tg.as_graph_def().library
        except ValueError as e:
            want = e
    g = fastmeta.Graph()
    with g.as_default():
        fastmeta.import_meta_graph(first)
        before = g.as_graph_def().SerializeToString(deterministic=True)
        if isinstance(want, ValueError):
            with pytest.raises(fastmeta.FunctionLibraryError) as got:
                fastmeta.import_meta_graph(second, import_scope="s")
            assert str(got.value) == str(want) and got.value.function == "FnA"
            assert g.as_graph_def().SerializeToString(deterministic=True) == before
        else:
            fastmeta.import_meta_graph(second, import_scope="s")
            # the first definition kept, as TensorFlow keeps it
            assert [f.SerializeToString(deterministic=True) for f in g.as_graph_def().library.function] == [
                f.SerializeToString(deterministic=True) for f in want.function
            ]
    a = meta_graph_pb2.MetaGraphDef.FromString(first).graph_def.library.function[0]
    b = meta_graph_pb2.MetaGraphDef.FromString(second).graph_def.library.function[0]
    assert function_defs_equal(a, b) == (not isinstance(want, ValueError))


def test_the_same_function_twice_in_one_file_keeps_the_first() -> None:
    mg = _base()
    twin = mg.graph_def.library.function.add()
    twin.CopyFrom(mg.graph_def.library.function[0])
    _reorder(twin)
    data = mg.SerializeToString()
    g = fastmeta.Graph()
    with g.as_default():
        fastmeta.import_meta_graph(data)
    assert [f.SerializeToString(deterministic=True) for f in g.as_graph_def().library.function] == [
        mg.graph_def.library.function[0].SerializeToString(deterministic=True)
    ]
