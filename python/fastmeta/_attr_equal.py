"""Whether an attr value equals its OpDef's default as TensorFlow's
``strip_default_attrs`` decides it (its C++ ``AreAttrValuesEqual``), for the export:

* two ``type`` values: equal when the types are (whatever else either holds);
* two ``tensor`` values: equal when the tensors are, element by element (dtype, shape and
  values: ``tensor_content`` or a ``*_val`` field, a short ``*_val`` list padded with its
  last value as TensorFlow reads it); a tensor TensorFlow cannot read equals nothing;
* two ``func`` values: the same name and attrs, each attr compared by these rules;
* anything else: the same deterministic serialization (so a list packed or not, a
  redundant varint byte, fields in another order are equal; -0.0 is not 0.0).

The serialization is compared first: the rules above are read only when it differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastmeta.protos import attr_value_pb2, tensor_pb2

# DataType -> (element type, the TensorProto field its values are in), for the dtypes
# whose elements this module reads (others: compared as serialized).
_ELEMENTS: dict[int, tuple[Any, str]] = {
    1: (np.float32, "float_val"),
    2: (np.float64, "double_val"),
    3: (np.int32, "int_val"),
    4: (np.uint8, "int_val"),
    5: (np.int16, "int_val"),
    6: (np.int8, "int_val"),
    8: (np.complex64, "scomplex_val"),
    9: (np.int64, "int64_val"),
    10: (np.bool_, "bool_val"),
    11: (np.int8, "int_val"),
    12: (np.uint8, "int_val"),
    13: (np.int32, "int_val"),
    14: (np.uint16, "half_val"),  # bfloat16, by its bits
    15: (np.int16, "int_val"),
    16: (np.uint16, "int_val"),
    17: (np.uint16, "int_val"),
    18: (np.complex128, "dcomplex_val"),
    19: (np.uint16, "half_val"),  # half, by its bits
    22: (np.uint32, "uint32_val"),
    23: (np.uint64, "uint64_val"),
}
_STRING = 7
_UNREADABLE = object()  # a tensor TensorFlow cannot read


def _serialized(value: Any) -> bytes:
    return bytes(value.SerializeToString(deterministic=True))


def _tensor_key(t: tensor_pb2.TensorProto) -> Any:
    """The tensor as TensorFlow reads it, in a comparable form: (dtype, dims, elements);
    ``_UNREADABLE``; or None for a dtype this module does not read."""
    if t.tensor_shape.unknown_rank or any(d.size < 0 for d in t.tensor_shape.dim):
        return _UNREADABLE
    dims = tuple(int(d.size) for d in t.tensor_shape.dim)
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if t.dtype == _STRING:
        if t.tensor_content:
            return None
        strings = list(t.string_val)
        if len(strings) < count and strings:
            strings += [strings[-1]] * (count - len(strings))
        return (t.dtype, dims, tuple(strings[:count]) if strings else (b"",) * count)
    spec = _ELEMENTS.get(t.dtype)
    if spec is None:
        return None
    element, field = spec
    itemsize = np.dtype(element).itemsize
    if t.tensor_content:
        if len(t.tensor_content) != count * itemsize:
            return _UNREADABLE
        return (t.dtype, dims, bytes(t.tensor_content))
    raw: list[Any] = list(getattr(t, field))
    if np.issubdtype(element, np.complexfloating):
        raw = [complex(a, b) for a, b in zip(raw[0::2], raw[1::2])]
    values: np.ndarray
    if not raw:
        values = np.zeros(count, dtype=element)
    else:
        raw = raw[:count] + [raw[-1]] * max(0, count - len(raw))
        kind = np.dtype(element).kind
        if kind in "iu":
            values = np.array(raw, dtype=np.int64).astype(element)
        elif kind == "f":
            values = np.array(raw, dtype=np.float64).astype(element)
        else:
            values = np.array(raw, dtype=element)
    return (t.dtype, dims, values.tobytes())


def _tensors_equal(a: tensor_pb2.TensorProto, b: tensor_pb2.TensorProto) -> bool:
    ka, kb = _tensor_key(a), _tensor_key(b)
    if ka is _UNREADABLE or kb is _UNREADABLE:
        return False
    if ka is None or kb is None:
        return _serialized(a) == _serialized(b)
    return bool(ka == kb)


def same_as_tensorflow(a: attr_value_pb2.AttrValue, b: attr_value_pb2.AttrValue) -> bool:
    """Whether ``a`` and ``b`` are equal as TensorFlow's strip_default_attrs compares
    them."""
    return _serialized(a) == _serialized(b) or equal_though_serialized_apart(a, b)


def equal_though_serialized_apart(a: attr_value_pb2.AttrValue, b: attr_value_pb2.AttrValue) -> bool:
    """``same_as_tensorflow(a, b)`` for values whose serializations differ."""
    if a.type != b.type:
        return False
    if a.type != 0:
        return True
    if a.HasField("tensor") != b.HasField("tensor"):
        return False
    if a.HasField("tensor"):
        return _tensors_equal(a.tensor, b.tensor)
    if a.HasField("func") != b.HasField("func"):
        return False
    if a.HasField("func"):
        fa, fb = a.func, b.func
        return (
            fa.name == fb.name
            and set(fa.attr) == set(fb.attr)
            and all(same_as_tensorflow(fa.attr[k], fb.attr[k]) for k in fa.attr)
        )
    return False
