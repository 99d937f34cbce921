"""``import_meta_graph`` without TensorFlow.

Does what ``tf.compat.v1.train.import_meta_graph`` does, into a :class:`fastmeta.Graph`:
the GraphDef is rewritten by the C++ core (scope, uniquification against the graph,
input_map, devices, default attrs), collections are rebuilt in TensorFlow's order by its
rules, and a Saver is returned by its rules.

Deliberate improvements over TensorFlow:

* Atomic: everything (nodes, collections, saver ops, used names) is staged and committed
  only when nothing failed; a failed import leaves the target graph exactly as it was
  (TensorFlow leaves it half-modified).
* The caller's ``MetaGraphDef`` is never modified (TensorFlow clears devices, adds
  default attrs and prefixes the saver_def in place).
* Bad input raises typed fastmeta errors (``ParseError`` instead of
  ``UnicodeDecodeError`` for a truncated file, ``CollectionError`` naming the collection
  key and the entry, ``InputMapError``).
* Imports into one graph are serialised by the graph's lock.

Kept as TensorFlow (pitfalls included): with ``graph=g``, the Saver of a meta graph
without saver_def is still built in (and the variables checked in) the *default* graph.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from google.protobuf.message import DecodeError

from fastmeta._function_bodies import check_called_functions
from fastmeta._import_names import (
    check_return_elements_found,
    checked_return_elements,
    element_not_c_int,
    file_node_lookup,
    parse_names,
    replaced_elements,
    tensor_id,
)
from fastmeta.constants import ConversionError, ConversionTypeError, const_attrs, flat
from fastmeta.control_flow import CondContext, WhileContext
from fastmeta.errors import (
    CollectionError,
    CollectionIndexError,
    CollectionRuntimeError,
    CollectionTypeError,
    CollectionValueError,
    Error,
    GraphError,
    InputMapError,
    InputMapOverflowError,
    InputMapTypeError,
)
from fastmeta.graph import (
    Graph,
    Operation,
    Tensor,
    _Segment,
    _Transaction,
    check_scope_name,
    check_versions,
    collection_element,
    first_in_scope,
    get_default_graph,
)
from fastmeta.protos import attr_value_pb2, graph_pb2, meta_graph_pb2, op_def_pb2, types_pb2
from fastmeta.queue_runner import QueueRunner
from fastmeta.reading import MetaGraphSource, load_meta_graph
from fastmeta.rewrite import (
    check_unbound_inputs,
    checked_input_map,
    class_attr_error,
    graph_tail,
    input_map_pairs,
    parse_input_map_key,
    run_core,
)
from fastmeta.saver import Saver, SaverItemRefused, build_saver
from fastmeta.scoping import (
    REGISTERED_PROTOS,
    VARIABLE_COLLECTIONS,
    prepend_name_scope,
    strip_name_scope,
    strip_name_scopes,
    while_frame_names,
)
from fastmeta.variables import BulkVariables, Variable, bulk_prefix

__all__ = ["import_meta_graph", "import_scoped_meta_graph_with_return_elements"]

logger = logging.getLogger("fastmeta")

_VARIABLE_KEYS = frozenset(
    {
        "variables",
        "trainable_variables",
        "local_variables",
        "model_variables",
        "moving_average_variables",
        "global_step",
        "metric_variables",
    }
)
_COMPAT_KEYS = frozenset({"local_variables", "model_variables", "metric_variables"})

_KNOWN_KWARGS = frozenset(
    {
        "graph",
        "input_map",
        "unbound_inputs_col_name",
        "restore_collections_predicate",
        "return_elements",
        "threads",
    }
)

Element = Operation | Tensor


def _version_tuple(text: str) -> tuple[int, ...]:
    out = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


class _CondMarker:
    def __init__(self, txn: _Transaction):
        self.txn = txn

    def __call__(self) -> None:
        self.txn.unique_name("cond_text")


def _tf_dtype_name(dtype: int | None) -> str:
    """TensorFlow's name of a DataType (``float32``, ``float32_ref``)."""
    from fastmeta import _core

    if dtype is None:
        return "<unknown>"
    if dtype > 100:
        return f"{_core.dtype_name(dtype - 100)}_ref"
    return str(_core.dtype_name(dtype))


def _dims(shape: Any) -> list[int | None] | None:
    """A TensorShapeProto's dimensions (None unknown), or None for an unknown rank."""
    if shape is None or shape.unknown_rank:
        return None
    return [d.size if d.size >= 0 else None for d in shape.dim]


def _shape_repr(elem: Tensor | Variable) -> str:
    """``str`` of TensorFlow's TensorShape of a tensor or variable."""
    dims = _dims(elem.shape)
    if dims is None:
        return "<unknown>"
    text = [str(d) for d in dims]
    return f"({text[0]},)" if len(text) == 1 else f"({', '.join(text)})"


def _tf_repr(elem: Tensor | Variable) -> str:
    """TensorFlow's repr of the tensor or variable a fastmeta one stands for."""
    shape = _shape_repr(elem)
    kind = "Variable" if isinstance(elem, Variable) else "Tensor"
    return f"<tf.{kind} '{elem.name}' shape={shape} dtype={_tf_dtype_name(elem.dtype)}>"


def _nested_dtype(value: Any) -> int | None:
    """The value type of the first tensor or variable in nested lists and tuples (what
    TensorFlow packs to), or None when they hold none."""
    for elem in value:
        if isinstance(elem, (Tensor, Variable)):
            d = elem.dtype
            if d is None:
                raise InputMapError(f"the dtype of {elem!r} is unknown (its op has no OpDef)")
            return d - 100 if d > 100 else d
        if isinstance(elem, (list, tuple)):
            inner = _nested_dtype(elem)
            if inner is not None:
                return inner
    return None


def _variable_value(txn: _Transaction, value: Variable) -> Tensor:
    """``convert_to_tensor`` of a variable in the current name scope: a ref variable's
    snapshot; a resource variable's cached value, else a new ``ReadVariableOp``."""
    if not value.is_resource:
        return value.snapshot
    if value._cached_value is not None:
        return value._cached_value
    dtype = attr_value_pb2.AttrValue(type=value.dtype or 0)  # type: ignore[arg-type]
    return Tensor(txn.create_op("ReadVariableOp", (value.handle,), {"dtype": dtype}, "ReadVariableOp"), 0)


def _tf_shown(value: Any) -> tuple[str, str]:
    """``str`` of a value, and its type's name, as TensorFlow shows its own tensors,
    variables and operations."""
    if isinstance(value, Operation):
        return str(value.node_def), "Operation"
    if isinstance(value, Variable):
        return _tf_repr(value), "ResourceVariable" if value.is_resource else "RefVariable"
    if isinstance(value, Tensor):
        shape = "" if _dims(value.shape) is None else f", shape={_shape_repr(value)}"
        return f'Tensor("{value.name}"{shape}, dtype={_tf_dtype_name(value.dtype)})', "SymbolicTensor"
    return str(value), type(value).__name__


def _const(txn: _Transaction, value: Any, name: str, dtype: int | None = None) -> Tensor:
    """A ``Const`` of ``value`` (``constant(value, dtype)``), TensorFlow's errors typed."""
    try:
        attrs = const_attrs(value, dtype, _tf_dtype_name(dtype), _tf_shown)
    except ConversionTypeError as e:
        raise InputMapTypeError(str(e)) from None
    except ConversionError as e:
        raise InputMapError(str(e)) from None
    except TypeError as e:  # (numpy's, let through by TensorFlow)
        raise InputMapTypeError(str(e)) from None
    except ValueError as e:
        raise InputMapError(str(e)) from None
    except OverflowError as e:  # (numpy's, let through by TensorFlow)
        raise InputMapOverflowError(str(e)) from None
    return Tensor(txn.create_op("Const", (), attrs, name), 0)


def _shape_text(dims: list[int | None] | None) -> str:
    return "?" if dims is None else "[" + ",".join("?" if d is None else str(d) for d in dims) + "]"


def _merged(a: list[int | None] | None, b: list[int | None] | None) -> list[int | None] | None:
    """TensorFlow's shape merge (``InferenceContext::Merge``); its message on a clash."""
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b):
        raise ValueError(f"Shapes must be equal rank, but are {len(a)} and {len(b)}")
    out: list[int | None] = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x is not None and y is not None and x != y:
            raise ValueError(
                f"Dimension {i} in both shapes must be equal, but are {x} and {y}. "
                f"Shapes are {_shape_text(a)} and {_shape_text(b)}."
            )
        out.append(x if x is not None else y)
    return out


def pack_shape(
    name: str, dtype_name: str, inputs: Sequence[str], shapes: Sequence[list[int | None] | None]
) -> list[int | None] | None:
    """The shape of TensorFlow's ``Pack`` ``name`` (``T`` the DataType named
    ``dtype_name``) of ``inputs`` (as its node summary names them) of ``shapes`` (None:
    unknown rank): their merge, from the last to the first, with one more dimension in
    front; where two clash, TensorFlow's shape function's error as an InputMapError."""
    cur = shapes[-1]
    for i in range(len(shapes) - 2, -1, -1):
        try:
            cur = _merged(shapes[i], cur)
        except ValueError as e:
            summary = f"{{{{node {name}}}}} = Pack[N={len(inputs)}, T={dtype_name}, axis=0](" + ", ".join(inputs) + ")"
            raise InputMapError(
                f"{e}\n\tFrom merging shape {i} with other shapes. for '{summary}' with input shapes: "
                + ", ".join(_shape_text(s) for s in shapes)
                + "."
            ) from None
    return None if cur is None else [len(inputs), *cur]


def _packed(
    txn: _Transaction, items: Sequence[Any], dtype: int, name: str, shapes: dict[str, Any]
) -> Tensor | list[Any]:
    """What TensorFlow's auto-packing makes of nested lists holding tensors: in a name
    scope ``name``, each nested list packed in turn (scope ``<index>``; left a list when
    it holds no tensor), then, when some element is a tensor, a ``Const`` of each other
    element (named by its index, of ``dtype``), the variables read, and a ``Pack``
    named as the scope; ``shapes`` records the shapes of the tensors made."""
    with txn.name_scope(name) as scope:
        converted: list[Any] = []
        must_pack = False
        for i, elem in enumerate(items):
            if isinstance(elem, (Tensor, Variable)):
                d = elem.dtype
                if d is None or (d - 100 if d > 100 else d) != dtype:
                    raise InputMapTypeError(
                        f"Cannot convert a list containing a tensor of dtype <dtype: '{_tf_dtype_name(d)}'> to "
                        f"<dtype: '{_tf_dtype_name(dtype)}'> (Tensor is: {_tf_repr(elem)})"
                    )
                must_pack = True
            elif isinstance(elem, (list, tuple)):
                elem = _packed(txn, elem, dtype, str(i), shapes)
                must_pack = must_pack or isinstance(elem, Tensor)
            converted.append(elem)
        if not must_pack:
            return converted
        elems: list[Tensor | Variable] = []
        for i, elem in enumerate(converted):
            if isinstance(elem, (Tensor, Variable)):
                elems.append(elem)
            else:
                const = _const(txn, elem, str(i), dtype)
                shapes[const.name] = _dims(const.shape)
                elems.append(const)
        inputs = [e if isinstance(e, Tensor) else _variable_value(txn, e) for e in elems]
        in_shapes = [shapes[t.name] if t.name in shapes else _dims(e.shape) for t, e in zip(inputs, elems)]
        attrs = {
            "N": attr_value_pb2.AttrValue(i=len(inputs)),
            "T": attr_value_pb2.AttrValue(type=dtype),  # type: ignore[arg-type]
            "axis": attr_value_pb2.AttrValue(i=0),
        }
        names = [t.op.name if t.value_index == 0 else t.name for t in inputs]
        dims = pack_shape(scope[:-1], types_pb2.DataType.Name(dtype), names, in_shapes)
        packed = Tensor(txn.create_op("Pack", inputs, attrs, scope), 0)
        shapes[packed.name] = dims
        return packed


def _ranged(txn: _Transaction, value: range) -> Tensor:
    """TensorFlow's conversion of a ``range``: in a ``Range`` scope, ``start``,
    ``limit`` and ``delta`` constants, each of the widest of their types (``Cast``)
    and a ``Range`` op."""
    with txn.name_scope("Range") as scope:
        bounds = [_const(txn, v, n) for v, n in ((value.start, "start"), (value.stop, "limit"), (value.step, "delta"))]
        widest = max(int(b.op.node_def.attr["dtype"].type) for b in bounds)  # (int32 3 < int64 9)
        cast = []
        for b in bounds:
            src = int(b.op.node_def.attr["dtype"].type)
            if src != widest:
                attrs = {
                    "SrcT": attr_value_pb2.AttrValue(type=src),  # type: ignore[arg-type]
                    "DstT": attr_value_pb2.AttrValue(type=widest),  # type: ignore[arg-type]
                    "Truncate": attr_value_pb2.AttrValue(b=False),
                }
                b = Tensor(txn.create_op("Cast", (b,), attrs, "Cast"), 0)
            cast.append(b)
        tidx = {"Tidx": attr_value_pb2.AttrValue(type=widest)}  # type: ignore[arg-type]
        return Tensor(txn.create_op("Range", cast, tidx, scope), 0)


def _converted(txn: _Transaction, key: str, value: Any) -> Tensor:
    """The tensor TensorFlow's ``convert_to_tensor`` makes of an input_map value that is
    not a tensor, made (staged) in the current name scope: a variable's value
    (:func:`_variable_value`); nested lists holding tensors or variables packed
    (:func:`_packed`); a ``range`` as a ``Range`` op; a ``Const`` of a number, string,
    list, numpy or other array-like value. TensorFlow's errors, typed."""
    if isinstance(value, Variable):
        return _variable_value(txn, value)
    if isinstance(value, Operation):
        raise InputMapTypeError(f"can't convert Operation '{value.name}' to Tensor")
    if isinstance(value, (list, tuple)):
        dtype = _nested_dtype(value)
        if dtype is not None:
            packed = _packed(txn, value, dtype, "packed", {})
            assert isinstance(packed, Tensor)
            return packed
    if isinstance(value, range):
        return _ranged(txn, value)
    if isinstance(value, (list, tuple, dict)):
        leaves = flat(value)
        # (as make_tensor_proto: a tensor left in the value is refused first; a
        # variable or an Operation is an element numpy cannot convert)
        if any(isinstance(x, Tensor) for x in leaves):
            raise InputMapTypeError("Expected any non-tensor type, but got a tensor instead.")
        if any(isinstance(x, (Variable, Operation)) for x in leaves):
            raise InputMapTypeError(
                f"Failed to convert elements of {_tf_text(value)} to Tensor. Consider casting elements to a "
                "supported type. See https://www.tensorflow.org/api_docs/python/tf/dtypes for supported TF dtypes."
            )
    return _const(txn, value, "Const")


def _tf_text(value: Any) -> str:
    """``repr(value)`` with the fastmeta tensors, variables and operations in it shown
    as TensorFlow shows its own."""
    if isinstance(value, (Tensor, Variable)):
        return _tf_repr(value)
    if isinstance(value, Operation):
        return f"<tf.Operation '{value.name}' type={value.type}>"
    if isinstance(value, list):
        return "[" + ", ".join(_tf_text(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_tf_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_tf_text(k)}: {_tf_text(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _constant_inputs(
    txn: _Transaction, input_map: Mapping[str, Any] | None, name: str, prefix: str
) -> Mapping[str, Any] | None:
    """The input_map with each value that is not a fastmeta Tensor replaced by the
    tensor TensorFlow's importer converts it to (:func:`_converted`): made in the
    input_map's order under ``<prefix>/_inputs`` (``Const``, ``Const_1``,
    ``ReadVariableOp``, ...), before the import's nodes; refused when the import has no
    name. Staged in ``txn`` (a failed import leaves none behind: TensorFlow's does)."""
    if not input_map or all(isinstance(v, Tensor) for v in input_map.values()):
        return input_map
    if not name:
        raise InputMapError(
            "tf.import_graph_def() requires a non-empty `name` if `input_map` contains non-Tensor "
            "values. Try calling tf.convert_to_tensor() on `input_map` values before calling "
            "tf.import_graph_def()."
        )
    out: dict[str, Any] = {}
    saved = txn.name_stack
    txn.name_stack = prefix
    try:
        with txn.name_scope("_inputs"):
            for key, value in input_map.items():
                out[key] = value if isinstance(value, Tensor) else _converted(txn, key, value)
    finally:
        txn.name_stack = saved
    return out


def _check_graphs(txn: _Transaction, input_map: Mapping[str, Any] | None) -> None:
    """Refuse a Tensor, Variable or Operation of another graph (TensorFlow maps it by
    its name onto whatever node of that name the target graph holds, or fails)."""
    for key, value in (input_map or {}).items():
        if isinstance(value, (Tensor, Operation, Variable)) and value.graph is not txn._graph:
            raise InputMapError(f"input_map[{key!r}] = {value!r} belongs to another graph")


def _resolve_input_map(
    txn: _Transaction, input_map: Mapping[str, Any] | None
) -> tuple[list[tuple[str, str]], list[int]]:
    """The input_map as the core takes it: (key, target tensor or ``^op``) pairs, and
    each target tensor's DataType (0 for a control input, or when not known), which
    the core checks against the inputs it feeds, as TensorFlow's importer does."""
    pairs = input_map_pairs(input_map)
    out = []
    dtypes = []
    for key, value in pairs:
        target = value.lstrip("^")
        try:
            element = txn.as_graph_element(target if ":" in target or value.startswith("^") else target + ":0")
        except (KeyError, ValueError, TypeError) as e:
            raise InputMapError(f"input_map[{key!r}] = {value!r} is not a tensor of the target graph ({e})") from None
        dtype = 0
        if isinstance(element, Tensor) and not value.startswith("^"):
            value = element.name
            dtype = element.dtype or 0
        out.append((key, value))
        dtypes.append(dtype)
    return out, dtypes


def _collection_value(key: str, value: Any, scope: str) -> Any:
    """TensorFlow's prepend_name_scope on a non-node, non-int collection value."""
    if not scope:
        return value
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as e:  # (TensorFlow's: a ValueError)
            raise CollectionValueError(
                f"collection '{key}': entry {value[:40]!r} is not UTF-8 text and cannot be put under scope '{scope}'",
                key=key,
                name=repr(value[:40]),
            ) from e
        return prepend_name_scope(text, scope)
    if isinstance(value, str):
        return prepend_name_scope(value, scope)
    logger.warning("Expected binary or unicode string, got %r", value)
    return value


def _collection_keys(rest: meta_graph_pb2.MetaGraphDef) -> list[str]:
    """The collections in the order TensorFlow restores them: trainable_variables first
    when present, then the others sorted."""
    keys = sorted(rest.collection_def)
    if "trainable_variables" in rest.collection_def:
        keys = ["trainable_variables"] + [k for k in keys if k != "trainable_variables"]
    return keys


def _predicate_once(
    rest: meta_graph_pb2.MetaGraphDef, unbound_col: Any, predicate: Callable[[str], bool]
) -> Callable[[str], bool]:
    """``restore_collections_predicate`` asked once per collection the restore would
    look at, in TensorFlow's order (:func:`_collection_keys`, the unbound-inputs
    collection skipped), before anything is imported; the answers, for every later use
    (the core's frame names and variable lookups need some before the restore runs). A
    stateful predicate ("restore each key once") sees each key once, as in TensorFlow."""
    answers = {key: bool(predicate(key)) for key in _collection_keys(rest) if key != unbound_col}
    return lambda key: answers.get(key, False)


def _bulk_counts(
    rest: meta_graph_pb2.MetaGraphDef, unbound_col: str | None, predicate: Callable[[str], bool]
) -> dict[str, int]:
    """The memoised variable collections the bulk path settles, in restore order, with
    how many values each holds (none for a file written before TensorFlow 1.9, whose
    VariableDefs the slow path reads with its own rules)."""
    version = rest.meta_info_def.tensorflow_version
    if version and _version_tuple(version) < (1, 9):
        return {}
    counts: dict[str, int] = {}
    for key in _collection_keys(rest):
        if key not in VARIABLE_COLLECTIONS or key not in _VARIABLE_KEYS or key == unbound_col:
            continue
        coll = rest.collection_def[key]
        if REGISTERED_PROTOS.get(key) is None or coll.WhichOneof("kind") != "bytes_list" or not predicate(key):
            continue
        counts[key] = len(coll.bytes_list.value)
    return counts


def _bulk_variables(
    txn: _Transaction,
    counts: dict[str, int],
    scope: str,
    values_of: Callable[[str], list[bytes]],
) -> BulkVariables | None:
    """The variables of the memoised variable collections (``counts``, from
    :func:`_bulk_counts`), settled in bulk (one call into the core for all their names: a
    large graph has tens of thousands); entries the bulk path leaves to
    ``Variable.from_proto`` (and anything malformed, reported there) are unsettled in it."""
    seg = next((p for p in reversed(txn.parts) if isinstance(p, _Segment)), None)
    if seg is None or not counts:
        return None
    # Read by the core from its copy of the file (no bytes object per value; looked up
    # during the rewrite when it was asked to), unless it does not read them as
    # protobuf did.
    bulk = BulkVariables.from_meta_graph(scope, graph=txn, segment=seg, counts=counts)
    if bulk is None:
        bulk = BulkVariables(scope, graph=txn, segment=seg, collections={k: values_of(k) for k in counts})
    # VariableDefs naming an earlier import's nodes (this one's renamed): settled there.
    earlier = [p for p in reversed(txn._all_parts()) if isinstance(p, _Segment) and p is not seg]
    bulk.settle_elsewhere(txn, values_of, earlier)
    return bulk


def _restore_collections(
    txn: _Transaction,
    rest: meta_graph_pb2.MetaGraphDef,
    scope: str,
    unbound_col: str | None,
    predicate: Callable[[str], bool],
    bulk_counts: dict[str, int],
) -> None:
    keys = _collection_keys(rest)
    version = rest.meta_info_def.tensorflow_version
    old_tf = bool(version) and _version_tuple(version) < (1, 9)
    marker = _CondMarker(txn)
    # Each access to a repeated bytes field makes new bytes objects: one list per key,
    # shared by the bulk step and the loop below (each value hashed once).
    raw_values: dict[str, list[bytes]] = {}

    def values_of(key: str) -> list[bytes]:
        values = raw_values.get(key)
        if values is None:
            values = raw_values[key] = list(rest.collection_def[key].bytes_list.value)
        return values

    # One Variable per distinct VariableDef across the memoised collections: those the
    # bulk path settled (made on first use), the others made here by from_proto.
    bulk = _bulk_variables(txn, bulk_counts, scope, values_of)
    memo: dict[bytes, Variable] = {}
    for key in keys:
        if key == unbound_col:
            continue
        if not predicate(key):
            continue
        coll = rest.collection_def[key]
        kind = coll.WhichOneof("kind")
        if kind is None:
            logger.error("Cannot identify data type for collection %s. Skipping.", key)
            continue
        proto_cls = REGISTERED_PROTOS.get(key)
        if proto_cls is not None and kind == "bytes_list":
            memoised = key in VARIABLE_COLLECTIONS
            if memoised and bulk is not None and bulk.covers(key):
                # The usual case: the bulk step settled every entry, checked; the
                # Variable objects are made when the collection is first read.
                txn.defer_collection(
                    key,
                    bulk.count(key),
                    functools.partial(bulk.items, key),
                    functools.partial(bulk.iterate, key),
                    functools.partial(bulk.first, key),
                )
                continue
            for j, raw in enumerate(values_of(key)):
                if memoised:
                    known = memo.get(raw)
                    if known is None and bulk is not None:
                        row = bulk.settled_row(key, j)
                        if row is not None:
                            known = bulk.get_row(row)
                    if known is not None:
                        txn.add_to_collection(key, known)
                        continue
                proto = proto_cls()
                try:
                    proto.ParseFromString(raw)
                except DecodeError as e:
                    raise CollectionError(
                        f"collection '{key}': an entry is not a valid {proto_cls.__name__}: {e}",
                        key=key,
                    ) from e
                item: Any
                if key in _VARIABLE_KEYS:
                    if old_tf:
                        proto.trainable = key == "trainable_variables"  # type: ignore[attr-defined]
                    item = Variable.from_proto(proto, scope, graph=txn, key=key)  # type: ignore[arg-type]
                    if memoised:
                        memo[raw] = item
                elif key == "savers":
                    item = Saver(saver_def=proto, name=scope)  # type: ignore[arg-type]
                elif key == "queue_runners":
                    item = QueueRunner.from_proto(proto, scope, graph=txn, key=key)  # type: ignore[arg-type]
                elif key == "cond_context":
                    item = CondContext.from_proto(
                        proto,
                        scope,
                        graph=txn,
                        key=key,  # type: ignore[arg-type]
                        mark_name=marker,
                    )
                else:
                    item = WhileContext.from_proto(
                        proto,
                        scope,
                        graph=txn,
                        key=key,  # type: ignore[arg-type]
                        mark_name=marker,
                    )
                txn.add_to_collection(key, item)
            continue
        if key in _COMPAT_KEYS:
            logger.warning(
                "The saved meta_graph is possibly from an older release:\n'%s' collection "
                "should be of type 'byte_list', but instead is of type '%s'.",
                key,
                kind,
            )
        values = getattr(coll, kind).value
        if kind == "node_list":
            for v in values:
                name = prepend_name_scope(v, scope)
                txn.add_to_collection(key, collection_element(txn, key, name))
        elif kind == "int64_list":
            for v in values:
                txn.add_to_collection(key, int(v))
        elif kind == "any_list":
            for v in values:
                if scope:
                    logger.warning("Expected binary or unicode string, got %s", v)
                copy = type(v)()
                copy.CopyFrom(v)
                txn.add_to_collection(key, copy)
        else:
            for v in values:
                txn.add_to_collection(key, _collection_value(key, v, scope))


def _parse_names(input_map: Mapping[str, Any] | None, elements: Sequence[str] | None) -> list[tuple[str, int | None]]:
    """As TensorFlow's ``import_graph_def`` before it imports anything: the input_map's
    tensor keys parsed in order, then the return elements (their parse errors, and the
    TypeError for an output index that is no C int); the parsed elements."""
    for key in input_map or ():
        if not key.startswith("^"):
            parse_input_map_key(key)
    return parse_names(elements or (), element_not_c_int)


def _return_elements(
    txn: _Transaction,
    seg: Any,
    prefix: str,
    imap: list[tuple[str, str]],
    names: Sequence[str],
    parsed: Sequence[tuple[str, int | None]],
) -> list[Element]:
    """The return elements (``names``, parsed) checked as TensorFlow's importer checks
    them (:func:`check_return_elements_found`), found among the nodes of the core's
    result ``seg`` by their names in the file (also those renamed to avoid a clash)."""
    # A tensor the input_map replaces is returned as its replacement, as TensorFlow's
    # importer does (of two spellings of one key, "x" and "x:0", the later wins).
    mapped = replaced_elements(imap)
    index_of = file_node_lookup(seg, prefix)

    def lookup(op_name: str) -> tuple[bool, int | None]:
        i = index_of(op_name)
        if i < 0:
            return False, None
        op = txn.as_graph_element(seg.name(i), allow_tensor=False)
        assert isinstance(op, Operation)
        return True, txn._num_outputs(op)

    check_return_elements_found(names, parsed, mapped, lookup)
    out: list[Element] = []
    for name, (op_name, idx) in zip(names, parsed):
        if idx is not None and (op_name, idx) in mapped:
            target = mapped[(op_name, idx)]
            if target.startswith("^"):  # (a control key: the last output of its op)
                target = target[1:] + ":-1"
        else:
            i = index_of(op_name)
            if i < 0:  # (after an op whose output count is unknown)
                shown = f"node '{op_name}'" if idx is None else f"tensor '{tensor_id(op_name, idx)}'"
                raise GraphError(f"Requested return {shown} not found in graph def", node=name)
            target = seg.name(i) if idx is None else f"{seg.name(i)}:{idx}"
        try:
            out.append(txn.as_graph_element(target))
        except (KeyError, ValueError, TypeError, IndexError) as e:
            if isinstance(e, Error):
                raise
            # (an output of an op whose output count is unknown; -1 of an op without
            # outputs): TensorFlow's ValueError, typed.
            raise GraphError(f"Invalid return_element {name!r}: {e}", node=name) from None
    return out


# The cyclic garbage collector is paused while imports run: an import makes tens of
# thousands of objects (variables, collection entries; in fastmeta.tf, TensorFlow's
# Operations and Tensors, which do refer to each other), all of which stay alive in the
# graph, so the collector's passes over them find nothing to free and are pure overhead
# (~10% of a large import). The first import to start pauses it, the last to finish
# restores the caller's setting.
_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


@_gc_paused()
def _import(
    meta_graph_or_file: MetaGraphSource,
    clear_devices: bool,
    import_scope: str | None,
    graph: Graph | None,
    input_map: Mapping[str, Any] | None,
    unbound_inputs_col_name: str | None,
    restore_collections_predicate: Callable[[str], bool],
    return_elements: Sequence[str | bytes] | None,
    build_saver_for_return: bool,
    threads: int = 0,
    before_commit: Callable[[_Transaction, Any], None] | None = None,
) -> tuple[dict[str, Variable], list[Element] | None, Any]:
    if import_scope is not None and not isinstance(import_scope, str):
        raise TypeError(f"import_scope must be a string, got {type(import_scope).__name__}")
    loaded = load_meta_graph(meta_graph_or_file)
    rest = loaded.rest
    if input_map is not None and not isinstance(input_map, Mapping):
        checked_input_map(input_map)  # (TensorFlow's TypeError)
    check_unbound_inputs(rest, unbound_inputs_col_name, input_map)
    input_map = checked_input_map(input_map) or None
    elements = checked_return_elements(return_elements)
    target = graph if graph is not None else get_default_graph()
    # The scope's characters, by the rules of the graph's name stack (as entering it
    # checks them), before the graph's name table is asked about it.
    if import_scope:
        check_scope_name(import_scope, bool(target._name_stack))
    default = get_default_graph()
    with target._lock:
        txn = _Transaction(target)
        scope_to_prepend = txn.unique_name(import_scope or "", mark_as_used=False)
        prefix, _ = txn.enter_scope(import_scope or scope_to_prepend)
        _check_graphs(txn, input_map)
        input_map = _constant_inputs(txn, input_map, import_scope or scope_to_prepend, prefix)
        parsed = _parse_names(input_map, elements)
        imap, imap_dtypes = _resolve_input_map(txn, input_map)
        restore_collections_predicate = _predicate_once(rest, unbound_inputs_col_name, restore_collections_predicate)
        restored = [
            k
            for k in ("while_context", "cond_context")
            if k in rest.collection_def and k != unbound_inputs_col_name and restore_collections_predicate(k)
        ]
        frames = while_frame_names({k: rest.collection_def[k] for k in restored}, scope_to_prepend)
        # The core looks the variable collections' names up while it has the graph's
        # name table at hand (it skips them if its prefix differs or a node is renamed).
        bulk_counts = _bulk_counts(rest, unbound_inputs_col_name, restore_collections_predicate)
        core = run_core(
            loaded,
            prefix,
            clear_devices=clear_devices,
            input_map=imap,
            input_map_dtypes=imap_dtypes,
            existing=txn.segments(),
            existing_names=txn.py_names(),
            frame_names=frames,
            threads=threads,
            variable_collections=list(bulk_counts),
            variable_prefix=bulk_prefix(scope_to_prepend),
            collect_output_shapes=True,  # (for Tensor.shape)
        )
        tail: graph_pb2.GraphDef = graph_tail(core, loaded)
        check_versions(tail.versions)
        # (as TensorFlow adds the library: before it looks at the nodes)
        txn.add_library(tail)
        # The bodies of the functions the nodes call, instantiated as TensorFlow's
        # importer instantiates them (nothing to do without a library).
        check_called_functions(core, tail.library, rest.meta_info_def.stripped_op_list.op)
        if (class_error := class_attr_error(core)) is not None:
            raise class_error  # (TensorFlow's, after its C++ importer: see class_attr_error)
        txn.add_segment(core)
        # The graph's Operations that collection restoring looks at count their outputs
        # with the import's OpDefs: staged until commit (a failed import must not decide
        # the outputs of a later one's ops).
        op_defs = list(rest.meta_info_def.stripped_op_list.op)
        for f in tail.library.function:
            sig = op_def_pb2.OpDef()
            sig.CopyFrom(f.signature)
            op_defs.append(sig)
        with txn.stage_op_defs(op_defs):
            _restore_collections(
                txn, rest, scope_to_prepend, unbound_inputs_col_name, restore_collections_predicate, bulk_counts
            )
            returned = None
            if elements is not None:
                returned = _return_elements(txn, core, prefix, imap, elements, parsed)
            var_list: dict[str, Variable] = {}
            saver: Any = None
            if build_saver_for_return:
                # import_meta_graph returns no var_list: the Saver's scope needs its first entry only.
                saver = _saver(rest, import_scope, scope_to_prepend, txn, target, default)
            else:
                in_scope = txn.get_collection("variables", scope=scope_to_prepend)
                var_list = dict(zip(strip_name_scopes([v.name for v in in_scope], scope_to_prepend), in_scope))
            if before_commit is not None:
                # (the SavedModel loader restores its variables here: a failure leaves
                # the graph as it was)
                if isinstance(saver, tuple):
                    before_commit(saver[0], saver[1])
                else:
                    before_commit(txn, saver)
        txn.commit()
        if isinstance(saver, tuple):
            other_txn, saver = saver
            other_txn.commit()
    return var_list, returned, saver


def _saver(
    rest: meta_graph_pb2.MetaGraphDef,
    import_scope: str | None,
    scope_to_prepend: str,
    txn: _Transaction,
    target: Graph,
    default: Graph,
) -> Any:
    if rest.HasField("saver_def"):
        # TensorFlow takes the scope from the first entry of the var_list (the graph's
        # variables under the scope, keyed by their names with the scope stripped).
        scope = import_scope
        committed, staged = txn.collection_runs("variables")
        var = first_in_scope((committed,), scope_to_prepend)
        key = ""
        if var is None:
            var = first_in_scope((staged,), scope_to_prepend)
        elif scope_to_prepend:
            # An earlier variable the scope's regex matches: TensorFlow's var_list, keyed
            # by stripped names, holds the last variable of its key (its scope may differ).
            # (Only then: this import's variables have keys of their own, and reading the
            # collection would make the Variable objects the import defers.)
            key = strip_name_scope(var.name, scope_to_prepend)
            for v in txn.get_collection("variables", scope=scope_to_prepend):
                if v.name.endswith(key) and strip_name_scope(v.name, scope_to_prepend) == key:
                    var = v
        if var is not None:
            key = key or strip_name_scope(var.name, scope_to_prepend)
            scope = var.name[: -len(key)] if key else var.name
        return Saver(saver_def=rest.saver_def, name=scope, graph=target)
    if default is target:
        return _fresh_saver(txn, import_scope)
    # The saver goes to the default graph, as TensorFlow does.
    with default._lock:
        other = _Transaction(default)
        saver = _fresh_saver(other, import_scope)
        return None if saver is None else (other, saver)


def _fresh_saver(txn: _Transaction, import_scope: str | None) -> Any:
    """TensorFlow's Saver over the variables under ``import_scope`` when the file has no
    saver_def; None (logged) when there are none."""
    variables = txn.get_collection("variables", scope=import_scope or None)
    saveables = txn.get_collection("saveable_objects", scope=import_scope or None)
    if not variables and not saveables:
        logger.info("Saver not created because there are no variables in the graph to restore")
        return None
    return _build_saver(txn)


_REFUSED_AS = {
    TypeError: CollectionTypeError,
    ValueError: CollectionValueError,
    RuntimeError: CollectionRuntimeError,
    IndexError: CollectionIndexError,
}


def _build_saver(txn: _Transaction) -> Any:
    """TensorFlow's fresh ``Saver()``: over every item of ``variables`` and
    ``saveable_objects`` (whatever the scope), Variables and the tensors of variable ops
    alike. What TensorFlow refuses (an operation, a tensor no variable op makes, two
    variables of one name, slices mixed with a whole variable...) is the collection error
    of TensorFlow's builtin class, naming the collection of the item it refuses."""
    variables = txn.get_collection("variables")
    saveables = txn.get_collection("saveable_objects")
    for key, items in (("variables", variables), ("saveable_objects", saveables)):
        for x in items:
            if not isinstance(x, (Operation, Tensor, Variable)):
                # (TensorFlow's Saver sorts its items by name: an AttributeError there)
                raise CollectionTypeError(
                    f"collection '{key}': no Saver can be built: item {x!r} is no variable, tensor or operation",
                    key=key,
                )
    try:
        return build_saver(txn, variables + saveables, lambda t: _tf_shown(t)[0])
    except SaverItemRefused as e:
        key = "variables" if e.item is None or any(x is e.item for x in variables) else "saveable_objects"
        name = getattr(e.item, "name", None)
        raise _REFUSED_AS[e.builtin](f"collection '{key}': no Saver can be built: {e}", key=key, name=name) from None


def _check_kwargs(kwargs: Mapping[str, Any]) -> None:
    unknown = set(kwargs) - _KNOWN_KWARGS
    if unknown:
        raise TypeError(f"import_meta_graph() got unexpected keyword arguments: {sorted(unknown)}")


def import_meta_graph(
    meta_graph_or_file: MetaGraphSource,
    clear_devices: bool = False,
    import_scope: str | None = None,
    **kwargs: Any,
) -> Saver | None:
    """Import a meta graph (a path, bytes, or a fastmeta/TensorFlow ``MetaGraphDef``) into
    ``graph`` (default: the default graph), as ``tf.compat.v1.train.import_meta_graph``.

    kwargs: ``graph``, ``input_map`` ({name in the file (str or bytes): a fastmeta.Tensor of
    the graph, or a value converted as TensorFlow's importer converts it, under
    ``<scope>/_inputs``: a number, list, numpy array, ``bytes`` or ``str`` becomes a
    ``Const`` (a ``str`` is a string value, not a tensor name), a ref Variable is its
    snapshot, a resource Variable a new ``ReadVariableOp``, nested lists holding tensors
    or variables a ``Pack`` (``packed``), a ``range`` a ``Range`` op, a ``memoryview``
    or ``bytearray`` numpy's array of it; an Operation is refused}),
    ``unbound_inputs_col_name`` (default ``"unbound_inputs"``),
    ``restore_collections_predicate`` (key → bool), ``return_elements`` (checked, as
    TensorFlow checks them, not returned); and fastmeta's own ``threads``
    (worker threads of the C++ rewrite; 0, the default, uses every core — the result
    does not depend on it).

    Returns a :class:`fastmeta.Saver` (from the saver_def, scope recovered from the first
    imported variable), a fresh Saver with new save/restore ops when there is no saver_def
    but the default graph holds variables under the scope, else None.

    Atomic (a failed import leaves the graph unchanged) and never modifies the caller's
    message — both deliberately unlike TensorFlow.
    """
    _check_kwargs(kwargs)
    # (return_elements are checked, as TensorFlow's import_meta_graph checks them, but
    # not returned: import_scoped_meta_graph_with_return_elements returns them.)
    saver = import_with_kwargs(meta_graph_or_file, clear_devices, import_scope, kwargs.get("graph"), kwargs)
    return saver


def import_with_kwargs(
    meta_graph_or_file: Any,
    clear_devices: bool,
    import_scope: str | None,
    graph: Graph | None,
    kwargs: Mapping[str, Any],
    before_commit: Callable[[_Transaction, Any], None] | None = None,
) -> Saver | None:
    """``import_meta_graph``'s import with its ``kwargs`` (checked by the caller), into
    ``graph``, building a Saver; ``before_commit`` as :func:`_import` takes it."""
    _, _, saver = _import(
        meta_graph_or_file,
        clear_devices,
        import_scope,
        graph,
        kwargs.get("input_map"),
        kwargs.get("unbound_inputs_col_name", "unbound_inputs"),
        kwargs.get("restore_collections_predicate", lambda key: True),
        kwargs.get("return_elements"),
        True,
        threads=int(kwargs.get("threads", 0)),
        before_commit=before_commit,
    )
    return saver  # type: ignore[no-any-return]


def import_scoped_meta_graph_with_return_elements(
    meta_graph_or_file: MetaGraphSource,
    clear_devices: bool = False,
    graph: Graph | None = None,
    import_scope: str | None = None,
    input_map: Mapping[str, Any] | None = None,
    unbound_inputs_col_name: str | None = "unbound_inputs",
    restore_collections_predicate: Callable[[str], bool] = lambda key: True,
    return_elements: Sequence[str | bytes] | None = None,
) -> tuple[dict[str, Variable], list[Element] | None]:
    """TensorFlow's ``import_scoped_meta_graph_with_return_elements``: import without
    building a Saver; return ``(var_dict, return_elements)`` where ``var_dict`` maps
    variable names (scope stripped) to :class:`fastmeta.Variable` and
    ``return_elements`` (names in the file, ``op`` or ``op:idx``) are resolved to the
    imported Operations/Tensors (None when not asked), checked in TensorFlow's order with
    its messages: a :class:`GraphError` for an element that does not parse or is not
    found (:class:`GraphTypeError`, also a ``TypeError``, for an output index that is no
    C ``int``). Atomic, as :func:`import_meta_graph`.
    """
    var_list, elements, _ = _import(
        meta_graph_or_file,
        clear_devices,
        import_scope,
        graph,
        input_map,
        unbound_inputs_col_name,
        restore_collections_predicate,
        return_elements,
        False,
    )
    return var_list, elements
