"""Whether two FunctionDefs are the same function as TensorFlow's graph decides it when a
library brings a function of a name it already holds (``FunctionDefsEqual``): an equal
one is skipped, a different one refused.

Compared, each by meaning rather than by bytes:

* the signatures (OpDefs): their attr definitions as a set keyed by name (name, type,
  description, minimum when set, default and allowed values as attr values),
  ``control_output`` as a set, everything else serialized deterministically;
* the function's ``attr`` entries that hold a value, as attr values;
* the body's ``node_def``s matched by name (their order ignored): op, device, the same
  number of inputs, data inputs in order (``x`` equal to ``x:0``), control inputs as a
  set, and the attrs whose names do not start with ``_``, as attr values;
* ``ret`` and ``control_ret`` as maps.

Not compared: ``arg_attr`` (the arguments' ``_output_shapes``...),
``resource_arg_unique_id``, and the body nodes' internal (``_``) attrs, experimental
debug info and full types. Attr values compare as TensorFlow's ``AreAttrValuesEqual``
(:mod:`fastmeta._attr_equal`).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastmeta._attr_equal import same_as_tensorflow
from fastmeta.protos import function_pb2, node_def_pb2, op_def_pb2

__all__ = ["function_defs_equal"]


def function_defs_equal(old: function_pb2.FunctionDef, new: function_pb2.FunctionDef) -> bool:
    """Whether ``new`` is the same function as ``old`` (the one the graph holds), as
    TensorFlow's ``FunctionDefsEqual(old, new)``."""
    if not _op_defs_equal(old.signature, new.signature):
        return False
    old_attrs = {k: v for k, v in old.attr.items() if v.WhichOneof("value") is not None}
    new_attrs = {k: v for k, v in new.attr.items() if v.WhichOneof("value") is not None}
    if old_attrs.keys() != new_attrs.keys():
        return False
    if not all(same_as_tensorflow(v, new_attrs[k]) for k, v in old_attrs.items()):
        return False
    if not _node_defs_equal(old.node_def, new.node_def):
        return False
    return dict(old.ret) == dict(new.ret) and dict(old.control_ret) == dict(new.control_ret)


def _op_defs_equal(a: op_def_pb2.OpDef, b: op_def_pb2.OpDef) -> bool:
    if not _attr_defs_equal(a.attr, b.attr):
        return False
    if set(a.control_output) != set(b.control_output):
        return False
    rest_a, rest_b = op_def_pb2.OpDef(), op_def_pb2.OpDef()
    rest_a.CopyFrom(a)
    rest_b.CopyFrom(b)
    for rest in (rest_a, rest_b):
        rest.ClearField("attr")
        rest.ClearField("control_output")
    return rest_a.SerializeToString(deterministic=True) == rest_b.SerializeToString(deterministic=True)


def _attr_defs_equal(a: Iterable[op_def_pb2.OpDef.AttrDef], b: Iterable[op_def_pb2.OpDef.AttrDef]) -> bool:
    by_name = {d.name: d for d in a}
    for d in b:
        other = by_name.pop(d.name, None)
        if other is None or not _attr_def_equal(other, d):
            return False
    return not by_name


def _attr_def_equal(a: op_def_pb2.OpDef.AttrDef, b: op_def_pb2.OpDef.AttrDef) -> bool:
    return (
        a.name == b.name
        and a.type == b.type
        and a.description == b.description
        and a.has_minimum == b.has_minimum
        and (not a.has_minimum or a.minimum == b.minimum)
        and same_as_tensorflow(a.default_value, b.default_value)
        and same_as_tensorflow(a.allowed_values, b.allowed_values)
    )


def _node_defs_equal(old: Iterable[node_def_pb2.NodeDef], new: Iterable[node_def_pb2.NodeDef]) -> bool:
    by_name = {n.name: n for n in old}  # (the last of a name, as TensorFlow's index)
    for n in new:
        other = by_name.pop(n.name, None)
        if other is None or not _node_def_equal(other, n):
            return False
    return not by_name


def _node_def_equal(actual: node_def_pb2.NodeDef, expected: node_def_pb2.NodeDef) -> bool:
    if actual.name != expected.name or actual.op != expected.op or actual.device != expected.device:
        return False
    if len(actual.input) != len(expected.input):
        return False
    first_control = len(actual.input)
    for i, a in enumerate(actual.input):
        if a.startswith("^"):
            first_control = i
            break
        e = expected.input[i]
        if a != e and a != e + ":0" and a + ":0" != e:
            return False
    if set(actual.input[first_control:]) != set(expected.input[first_control:]):
        return False
    actual_attrs = {k for k in actual.attr if not k.startswith("_")}
    expected_attrs = {k for k in expected.attr if not k.startswith("_")}
    if actual_attrs != expected_attrs:
        return False
    return all(same_as_tensorflow(expected.attr[k], actual.attr[k]) for k in expected_attrs)
