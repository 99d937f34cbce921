"""Constants from Python values, as TensorFlow's ``convert_to_tensor`` makes them.

An ``input_map`` value that is not a tensor (a number, a list, a numpy array, bytes) is
converted by TensorFlow's importer into a ``Const`` op; the TF-free import does the
same, with the ``TensorProto`` TensorFlow's ``make_tensor_proto`` would write for it
(dtype inference, float64 → float32 and int64 → int32 for Python values, packed
``tensor_content`` for more than one element of a numeric type, ``*_val`` fields else).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fastmeta.protos import attr_value_pb2, tensor_pb2, types_pb2

__all__ = ["ConversionError", "ConversionTypeError", "const_attrs", "flat", "is_constant_value", "tensor_proto"]

_DT = types_pb2.DataType

# numpy dtype -> (DataType, the TensorProto field of its values)
_NUMERIC: dict[np.dtype[Any], tuple[Any, str]] = {
    np.dtype(np.float16): (_DT.DT_HALF, "half_val"),
    np.dtype(np.float32): (_DT.DT_FLOAT, "float_val"),
    np.dtype(np.float64): (_DT.DT_DOUBLE, "double_val"),
    np.dtype(np.int8): (_DT.DT_INT8, "int_val"),
    np.dtype(np.int16): (_DT.DT_INT16, "int_val"),
    np.dtype(np.int32): (_DT.DT_INT32, "int_val"),
    np.dtype(np.int64): (_DT.DT_INT64, "int64_val"),
    np.dtype(np.uint8): (_DT.DT_UINT8, "int_val"),
    np.dtype(np.uint16): (_DT.DT_UINT16, "int_val"),
    np.dtype(np.uint32): (_DT.DT_UINT32, "uint32_val"),
    np.dtype(np.uint64): (_DT.DT_UINT64, "uint64_val"),
    np.dtype(np.complex64): (_DT.DT_COMPLEX64, "scomplex_val"),
    np.dtype(np.complex128): (_DT.DT_COMPLEX128, "dcomplex_val"),
    np.dtype(np.bool_): (_DT.DT_BOOL, "bool_val"),
}
# The types TensorFlow writes as raw bytes when there is more than one element (not
# uint16, complex or bool).
_CONTENT_TYPES = frozenset(
    {
        _DT.DT_HALF,
        _DT.DT_FLOAT,
        _DT.DT_DOUBLE,
        _DT.DT_INT8,
        _DT.DT_INT16,
        _DT.DT_INT32,
        _DT.DT_INT64,
        _DT.DT_UINT8,
        _DT.DT_UINT32,
        _DT.DT_UINT64,
    }
)
_SCALARS = (bool, int, float, complex, str, bytes, np.generic)


class ConversionError(ValueError):
    """A value no constant can be made of (the caller reports it, typed), with the
    message of TensorFlow's ``convert_to_tensor`` where it raises a ValueError."""


class ConversionTypeError(ConversionError, TypeError):
    """A value no constant can be made of where TensorFlow raises a TypeError (a value
    of no convertible type, strings mixed with numbers, an int too large for int64)."""


def _not_convertible(value: Any) -> ConversionTypeError:
    return ConversionTypeError(
        f"Failed to convert elements of {value} to Tensor. Consider casting elements to a supported type. "
        "See https://www.tensorflow.org/api_docs/python/tf/dtypes for supported TF dtypes."
    )


def _array_like(value: Any) -> bool:
    """Whether ``value`` exposes a buffer (``memoryview``, ``bytearray``; not
    ``bytes``), which TensorFlow's ``make_tensor_proto`` reads as numpy does. (So does
    it an object with ``__array__``: not converted here, as a tensor has one.)"""
    if isinstance(value, bytes):
        return False
    try:
        memoryview(value)
    except TypeError:
        return False
    return True


def is_constant_value(value: Any) -> bool:
    """Whether TensorFlow's ``convert_to_tensor`` makes one ``Const`` of ``value``: a
    Python or numpy scalar, bytes or str, a numpy array or another array-like value
    (``memoryview``, ``bytearray``), or (nested) lists and tuples of those."""
    if isinstance(value, (_SCALARS, np.ndarray)) or _array_like(value):
        return True
    if isinstance(value, (list, tuple)):
        # (a range in a list is numpy's sequence of its ints: alone, TensorFlow makes
        # a Range op of it)
        return all(isinstance(v, range) or is_constant_value(v) for v in value)
    return False


def _flat_strings(value: Any, whole: Any) -> list[bytes]:
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _flat_strings(v, whole)]
    if isinstance(value, bytes):
        return [bytes(value)]
    if isinstance(value, str):
        return [value.encode("utf-8")]
    raise _not_convertible(whole)


def _dense_shape(value: Any) -> list[int]:
    """The shape nested lists state by their first elements (TensorFlow checks numpy's
    array has it)."""
    shape: list[int] = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def flat(value: Any) -> list[Any]:
    """The leaves of nested sequences (lists, tuples, ``range``...; not strings) and
    mappings (their values by sorted key), as TensorFlow's ``nest.flatten``."""
    if isinstance(value, Mapping):
        try:
            keys = sorted(value)
        except TypeError:
            keys = list(value)
        return [x for k in keys for x in flat(value[k])]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [x for v in value for x in flat(v)]
    return [value]


# The Python types a value given for a tensor of a DataType may hold (TensorFlow's
# check before numpy converts it).
_EXPECTED: dict[int, tuple[type, ...]] = {
    _DT.DT_BOOL: (bool,),
    _DT.DT_STRING: (bytes, str),
    **{
        d: (numbers.Integral, np.integer)
        for d in (
            _DT.DT_INT8,
            _DT.DT_INT16,
            _DT.DT_INT32,
            _DT.DT_INT64,
            _DT.DT_UINT8,
            _DT.DT_UINT16,
            _DT.DT_UINT32,
            _DT.DT_UINT64,
        )
    },
    **{d: (numbers.Real, np.integer, np.floating) for d in (_DT.DT_HALF, _DT.DT_FLOAT, _DT.DT_DOUBLE)},
    **{d: (numbers.Complex, np.number) for d in (_DT.DT_COMPLEX64, _DT.DT_COMPLEX128)},
}


def _numpy_dtype(dtype: int) -> Any:
    if dtype == _DT.DT_STRING:
        return np.dtype(object)
    for np_dtype, (dt, _) in _NUMERIC.items():
        if dt == dtype:
            return np_dtype
    raise ConversionError(f"no constant of DataType {dtype} is made by the TF-free import")


def _dtype_of(array: np.ndarray[Any, Any]) -> int | None:
    if array.dtype.kind in "SUO":
        return int(_DT.DT_STRING)
    spec = _NUMERIC.get(array.dtype.newbyteorder("=")) if array.dtype.isnative else None
    return None if spec is None else int(spec[0])


def _shown(value: Any) -> tuple[str, str]:
    return str(value), type(value).__name__


def _typed_array(value: Any, dtype: int, name: str, show: Callable[[Any], tuple[str, str]]) -> np.ndarray[Any, Any]:
    """``make_tensor_proto(value, dtype)``'s array: numpy values cast (numpy's errors),
    Python values checked against the dtype first (a wrong one is shown by ``show``:
    its text and its type's name), then converted."""
    np_dtype = _numpy_dtype(dtype)
    if isinstance(value, (np.ndarray, np.generic)) or _array_like(value):
        return np.asarray(value).astype(np_dtype)  # type: ignore[no-any-return]
    if value is None:
        raise ConversionError("None values not supported.")
    expected = _EXPECTED.get(dtype)
    if expected is not None:
        for leaf in flat(value):
            if not (
                isinstance(leaf, expected) or (isinstance(leaf, np.ndarray) and issubclass(leaf.dtype.type, expected))
            ):
                text, kind = show(leaf)
                raise ConversionTypeError(f"Expected {name}, but got {text} of type '{kind}'.")
    if np_dtype.kind != "O":
        array = np.array(value).astype(np_dtype)
    else:
        array = np.array(value, dtype=np_dtype)
    if list(array.shape) != _dense_shape(value):
        raise ConversionError(
            f"Expected values {value} to be a dense tensor with shape {_dense_shape(value)}, "
            f"but got shape {list(array.shape)}."
        )
    return array  # type: ignore[no-any-return]


def tensor_proto(
    value: Any,
    dtype: int | None = None,
    dtype_name: str = "",
    show: Callable[[Any], tuple[str, str]] = _shown,
) -> tensor_pb2.TensorProto:
    """The ``TensorProto`` of ``tf.make_tensor_proto(value)``, or with ``dtype`` (a
    DataType, ``dtype_name`` its TensorFlow name) of ``tf.make_tensor_proto(value,
    dtype)`` (no shape given; an element of the wrong type is named in the error as
    ``show`` gives it: text, type name).

    Raises :class:`ConversionError` for what TensorFlow cannot convert either (ragged
    lists, mixed strings and numbers, unsupported dtypes, None), with TensorFlow's
    message (:class:`ConversionTypeError` where TensorFlow raises a TypeError); numpy's
    own errors as they come (TensorFlow lets them through)."""
    if dtype is not None:
        array = _typed_array(value, dtype, dtype_name, show)
        if _dtype_of(array) != dtype:
            raise ConversionTypeError(f"`dtype` {dtype_name} is not compatible with {value} of dtype {array.dtype}.")
        return _proto_of(array, value, isinstance(value, (np.ndarray, np.generic)) or _array_like(value))
    if value is None:
        raise ConversionError("None values not supported.")
    if not is_constant_value(value):
        raise _not_convertible(value)
    is_numpy = isinstance(value, (np.ndarray, np.generic)) or _array_like(value)
    try:
        array = np.asarray(value) if is_numpy else np.array(value)
    except ValueError as e:  # (ragged lists: numpy's message, as TensorFlow's)
        raise ConversionError(str(e)) from None
    except (TypeError, OverflowError):
        raise _not_convertible(value) from None
    if not is_numpy:
        if list(array.shape) != _dense_shape(value):
            raise ConversionError(
                f"Expected values {value!r} to be a dense tensor with shape {_dense_shape(value)}, "
                f"but got shape {list(array.shape)}."
            )
        # Python's float and int are float64 and int64 in numpy: TensorFlow prefers
        # float32, and int32 where no value changes.
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        elif array.dtype == np.int64:
            narrow = array.astype(np.int32)
            if np.array_equal(narrow, array):
                array = narrow
    return _proto_of(array, value, is_numpy)


def _proto_of(array: np.ndarray[Any, Any], value: Any, is_numpy: bool) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto()
    proto.tensor_shape.SetInParent()
    for d in array.shape:
        proto.tensor_shape.dim.add(size=int(d))
    if array.dtype.kind in "SUO":
        proto.dtype = _DT.DT_STRING
        if is_numpy:
            items = array.ravel().tolist()
            for x in items:
                if not isinstance(x, (str, bytes)):
                    raise ConversionTypeError(f"Expected binary or unicode string, got {x!r}")
            proto.string_val.extend(x.encode("utf-8") if isinstance(x, str) else x for x in items)
        else:
            proto.string_val.extend(_flat_strings(value, value))
        return proto
    spec = _NUMERIC.get(array.dtype.newbyteorder("=")) if array.dtype.isnative else None
    if spec is None:
        raise ConversionError(f"Unrecognized data type for a tensor: {array.dtype} (of {value!r})")
    dtype, field = spec
    proto.dtype = dtype
    if dtype in _CONTENT_TYPES and array.size > 1:
        if array.nbytes >= 1 << 31:
            raise ConversionError("Cannot create a tensor proto whose content is larger than 2GB.")
        proto.tensor_content = array.tobytes()
        return proto
    flat = array.ravel()
    if dtype == _DT.DT_HALF:
        proto.half_val.extend(int(x) for x in flat.view(np.uint16))
    elif dtype in (_DT.DT_COMPLEX64, _DT.DT_COMPLEX128):
        getattr(proto, field).extend(v for x in flat.tolist() for v in (x.real, x.imag))
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


def const_attrs(
    value: Any,
    dtype: int | None = None,
    dtype_name: str = "",
    show: Callable[[Any], tuple[str, str]] = _shown,
) -> dict[str, attr_value_pb2.AttrValue]:
    """The attrs of the ``Const`` TensorFlow makes of ``value`` (``dtype``, ``value``),
    with ``dtype`` given as :func:`tensor_proto`'s."""
    proto = tensor_proto(value, dtype, dtype_name, show)
    return {
        "dtype": attr_value_pb2.AttrValue(type=proto.dtype),
        "value": attr_value_pb2.AttrValue(tensor=proto),
    }
