"""A TensorFlow-free graph: what ``import_meta_graph`` imports into.

A :class:`Graph` holds *parts* in creation order: imported segments (one
``RewrittenGraph`` of the C++ core per import, never copied node by node into Python) and
blocks of nodes created from Python (placeholders, the ops of a fresh ``Saver``), kept as
fastmeta ``NodeDef`` messages. :class:`Operation` and :class:`Tensor` are light views made on
demand from a part and a node index; two views of the same node compare equal.

Names follow TensorFlow 2.x: ``unique_name`` is case-insensitive and appends ``_<k>``;
``name_scope("a/")`` re-enters a scope; names are validated with TensorFlow's regexes.
The name stack and the default-graph stack are per thread, as in TensorFlow.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from typing import Any

from google.protobuf.message import DecodeError

from fastmeta import _op_registry
from fastmeta._builtin_ops import TF_VERSION
from fastmeta._function_equal import function_defs_equal
from fastmeta.errors import (
    CollectionError,
    CollectionTypeError,
    CollectionValueError,
    Error,
    FunctionLibraryError,
    GraphError,
    GraphVersionError,
    ParseError,
    ScopeError,
)
from fastmeta.protos import (
    attr_value_pb2,
    function_pb2,
    graph_pb2,
    node_def_pb2,
    op_def_pb2,
    tensor_shape_pb2,
    types_pb2,
)
from fastmeta.reading import locate_decode_error

__all__ = [
    "Graph",
    "Operation",
    "Tensor",
    "get_default_graph",
    "reset_default_graph",
]

# TensorFlow's GraphDef version (TF_GRAPH_DEF_VERSION of 2.21): a fresh graph's producer.
GRAPH_DEF_VERSION = 2474
# The oldest GraphDef producer TensorFlow 2.21 reads (TF_GRAPH_DEF_VERSION_MIN_PRODUCER);
# its importer's version messages name the release (TF_VERSION).
GRAPH_DEF_VERSION_MIN_PRODUCER = 0
# The min_consumer a graph gets when a function library is added to it: TensorFlow's
# Graph::AddFunctionLibrary raises it to this when the library holds a function.
FUNCTION_LIBRARY_MIN_CONSUMER = 12

_VALID_OP_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")
_VALID_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.\\/>-]*$")

_REF_OFFSET = 100


def check_scope_name(name: str, nested: bool) -> None:
    """TensorFlow's check of a scope name entered under a name stack (``nested``) or at
    the root (the op name rule: a "root scope name"); ScopeError with its message."""
    if nested:
        if not _VALID_SCOPE_NAME.match(name):
            raise ScopeError(
                f"'{name}' is not a valid scope name. A scope name has to match the following "
                f"pattern: {_VALID_SCOPE_NAME.pattern}"
            )
    elif not _VALID_OP_NAME.match(name):
        raise ScopeError(
            f"'{name}' is not a valid root scope name. A root scope name has to match the following "
            f"pattern: {_VALID_OP_NAME.pattern}"
        )


# ---------------------------------------------------------------------------
# parts
# ---------------------------------------------------------------------------
class _Segment:
    """One import: the core's RewrittenGraph. Immutable once committed."""

    __slots__ = ("_names", "core", "exported_well_formed")

    def __init__(self, core: Any):
        self.core = core
        self._names: list[str] | None = None
        # Its nodes and recorded shapes, as export writes them, once parsed without error
        # (fastmeta.export: a later export need not parse them again).
        self.exported_well_formed = False

    def __len__(self) -> int:
        return int(self.core.num_nodes)

    def find(self, name: str) -> int:
        return self.core.find(name)  # type: ignore[no-any-return]

    def has_folded(self, lower: str) -> bool:
        return bool(self.core.has_name_folded(lower))

    def name(self, i: int) -> str:
        return self.core.name(i)  # type: ignore[no-any-return]

    def op_type(self, i: int) -> str:
        return self.core.op(i)  # type: ignore[no-any-return]

    def device(self, i: int) -> str:
        return self.core.device(i)  # type: ignore[no-any-return]

    def node_def(self, i: int) -> node_def_pb2.NodeDef:
        data = self.core.node_def(i)
        try:
            return node_def_pb2.NodeDef.FromString(data)
        except DecodeError as e:
            raise _node_decode_error(self.name(i), data, e) from None

    def node_bytes(self) -> bytes:
        data: bytes = self.core.graph_def()
        tail = len(self.core.graph_tail())
        return data[: len(data) - tail] if tail else data


def collection_element(graph: _Lookup, key: str, name: str) -> Operation | Tensor:
    """``graph.as_graph_element(name)`` for an entry of collection ``key``: a name that
    does not resolve is a CollectionError naming both, also of the builtin class
    TensorFlow raises (a KeyError for a name not in the graph; a ValueError,
    :class:`CollectionValueError`, for a name that is no valid one, ``a:0:0``); a
    fastmeta error met on the way (a malformed node: ParseError) is raised as it is."""
    try:
        return graph.as_graph_element(name)
    except Error:
        raise
    except (KeyError, ValueError, TypeError) as e:
        cls = (
            CollectionValueError
            if isinstance(e, ValueError)
            else CollectionTypeError
            if isinstance(e, TypeError)
            else CollectionError
        )
        raise cls(f"collection '{key}': '{name}' is not in the graph ({e})", key=key, name=name) from None


def _recorded_shapes(op: Operation) -> Sequence[tensor_shape_pb2.TensorShapeProto] | None:
    """The ``_output_shapes`` the file recorded for an imported ``op`` (None: none, or
    not imported); a malformed entry is a :class:`ParseError` naming the node."""
    part = op._part
    if not isinstance(part, _Segment):
        return None
    recorded = part.core.output_shapes(op._index)
    if not recorded:
        return None
    try:
        return node_def_pb2.NodeDef.FromString(recorded).attr["_output_shapes"].list.shape
    except DecodeError as e:
        raise _node_decode_error(op.name, recorded, e) from None


def _node_decode_error(name: str, data: bytes, error: Exception) -> ParseError:
    # The core copies attr values through unread (as the rest of what it does not
    # rewrite): protobuf reads them when a node is first looked at, and a malformed one
    # is reported then, naming the node and the place in its NodeDef.
    found = locate_decode_error(data, node_def_pb2.NodeDef.DESCRIPTOR)
    where = f"{found[1]} at byte {found[0]} of its NodeDef" if found else str(error)
    return ParseError(f"Node '{name}': malformed NodeDef ({where})")


class _Block:
    """Nodes created from Python, in creation order."""

    __slots__ = ("index", "nodes")

    def __init__(self) -> None:
        self.nodes: list[node_def_pb2.NodeDef] = []
        self.index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def add(self, node: node_def_pb2.NodeDef) -> int:
        self.index[node.name] = len(self.nodes)
        self.nodes.append(node)
        return len(self.nodes) - 1

    def find(self, name: str) -> int:
        return self.index.get(name, -1)

    def name(self, i: int) -> str:
        return self.nodes[i].name

    def op_type(self, i: int) -> str:
        return self.nodes[i].op

    def device(self, i: int) -> str:
        return self.nodes[i].device

    def node_def(self, i: int) -> node_def_pb2.NodeDef:
        out = node_def_pb2.NodeDef()
        out.CopyFrom(self.nodes[i])
        return out

    def node_bytes(self) -> bytes:
        out = bytearray()
        for node in self.nodes:
            data = node.SerializeToString()
            out.append(0x0A)  # GraphDef.node, length-delimited
            _varint(out, len(data))
            out += data
        return bytes(out)


_Part = _Segment | _Block


def _varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


# ---------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------
class Operation:
    """A node of a :class:`Graph` (a view: cheap to create, compares by graph and name)."""

    __slots__ = ("_graph", "_index", "_lookup", "_node", "_part")

    def __init__(self, graph: Graph, part: _Part, index: int, lookup: _Lookup | None = None):
        self._graph = graph
        self._part = part
        self._index = index
        # Where the names of its inputs resolve: the graph, or, for a view found or made
        # by an import in progress, the import's transaction (whose staged ops the graph
        # does not hold yet; after the commit the transaction looks in the graph).
        self._lookup: _Lookup = graph if lookup is None else lookup
        self._node: node_def_pb2.NodeDef | None = None

    @property
    def graph(self) -> Graph:
        """The graph holding this operation."""
        return self._graph

    @property
    def name(self) -> str:
        """The operation's full name."""
        return self._part.name(self._index)

    @property
    def type(self) -> str:
        """The op type (``NodeDef.op``)."""
        return self._part.op_type(self._index)

    @property
    def device(self) -> str:
        """The (canonical) device string."""
        return self._part.device(self._index)

    @property
    def node_def(self) -> node_def_pb2.NodeDef:
        """The operation's NodeDef (a fastmeta message; parsed once per view), as
        ``as_graph_def`` holds it: inputs rendered from the edges (``x`` for ``x:0``,
        control inputs sorted). TensorFlow's ``Operation.node_def`` keeps the file's
        spelling instead (``fastmeta.tf``'s ops do too)."""
        if self._node is None:
            self._node = self._part.node_def(self._index)
        return self._node

    def get_attr(self, name: str) -> Any:
        """The value of attr ``name`` (as TensorFlow's ``Operation.get_attr`` shapes it:
        scalars as Python values, types as DataType ints, lists as lists, shapes,
        tensors and funcs as messages; ``[]`` for an attr with no value set).
        ``ValueError`` when absent."""
        attrs = self.node_def.attr
        if name not in attrs:
            raise ValueError(f"Operation '{self.name}' has no attr named '{name}'.")
        return _attr_python_value(attrs[name])

    def _input_strings(self) -> list[str]:
        return list(self.node_def.input)

    @property
    def inputs(self) -> list[Tensor]:
        """The data inputs, as Tensors."""
        out: list[Tensor] = []
        if isinstance(self._part, _Segment):
            core = self._part.core
            external = None
            for src, idx in core.edges(self._index):
                if idx < 0:
                    continue
                if src >= 0:
                    out.append(Tensor(Operation(self._graph, self._part, src, self._lookup), idx))
                else:  # an input_map target: a node of an earlier part, by name
                    if external is None:
                        external = core.external()
                    out.append(Tensor(self._lookup.get_operation_by_name(external[-1 - src]), idx))
            return out
        for s in self._input_strings():
            if not s.startswith("^"):
                out.append(self._lookup._tensor_from_input(s))
        return out

    @property
    def control_inputs(self) -> list[Operation]:
        """Operations this one has a control dependency on."""
        out: list[Operation] = []
        if isinstance(self._part, _Segment):
            core = self._part.core
            for src, idx in core.edges(self._index):
                if idx >= 0:
                    continue
                if src >= 0:
                    out.append(Operation(self._graph, self._part, src, self._lookup))
                else:
                    out.append(self._lookup.get_operation_by_name(core.external()[-1 - src]))
            return out
        for s in self._input_strings():
            if s.startswith("^"):
                out.append(self._lookup.get_operation_by_name(s[1:]))
        return out

    @property
    def outputs(self) -> list[Tensor]:
        """The output Tensors, when the op's OpDef is known (``[]`` otherwise)."""
        specs = self._lookup._output_specs(self)
        return [Tensor(self, i) for i in range(len(specs or ()))]

    def values(self) -> tuple[Tensor, ...]:
        """The output Tensors as a tuple (TensorFlow's ``Operation.values()``)."""
        return tuple(self.outputs)

    @property
    def _control_outputs(self) -> list[Operation]:
        """The operations with a control input on this one, in creation order (as
        TensorFlow's private ``Operation._control_outputs``, which lists them in the
        order of its internal edge set)."""
        return self._graph._consumers(self, -1)

    def colocation_groups(self) -> list[bytes]:
        """The ``loc:@`` entries of the ``_class`` attr as the NodeDef lists them (order
        and repeats kept, as TensorFlow's), else ``[b"loc:@<name>"]``."""
        attrs = self.node_def.attr
        if "_class" in attrs:
            groups = [s for s in attrs["_class"].list.s if s.startswith(b"loc:@")]
            if groups:
                return groups
        return [b"loc:@" + self.name.encode("utf-8")]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Operation)
            and other._graph is self._graph
            and other._part is self._part
            and other._index == self._index
        )

    def __hash__(self) -> int:
        return hash((id(self._graph), id(self._part), self._index))

    def __repr__(self) -> str:
        return f"<fastmeta.Operation '{self.name}' type={self.type}>"


class Tensor:
    """Output ``value_index`` of an :class:`Operation` (a view)."""

    __slots__ = ("_op", "_value_index")

    def __init__(self, op: Operation, value_index: int):
        self._op = op
        self._value_index = value_index

    @property
    def op(self) -> Operation:
        """The producing operation."""
        return self._op

    @property
    def value_index(self) -> int:
        """The output index."""
        return self._value_index

    @property
    def graph(self) -> Graph:
        """The graph holding the producing operation."""
        return self._op.graph

    @property
    def name(self) -> str:
        """``<op name>:<index>``."""
        return f"{self._op.name}:{self._value_index}"

    @property
    def device(self) -> str:
        """The producing op's device."""
        return self._op.device

    @property
    def dtype(self) -> int | None:
        """The DataType (``types_pb2`` enum value; ``_REF`` types are >100), when the
        op's OpDef is known; else None."""
        specs = self._op._lookup._output_specs(self._op)
        if specs is None or self._value_index >= len(specs):
            return None
        return specs[self._value_index]

    @property
    def shape(self) -> tensor_shape_pb2.TensorShapeProto | None:
        """The static shape: for an imported op, the shape TensorFlow recorded in the
        file (its ``_output_shapes``, which TensorFlow's graph also starts from: for a
        file TensorFlow wrote, its shape after import); else the shape TensorFlow's shape
        function gives the ops whose rule fastmeta follows (those it creates, a fresh
        Saver's: Const's value shape, the ``shape`` attr of Placeholder and VariableV2,
        an Identity's input's, Assign, ReadVariableOp, RestoreV2; the rules
        ``export_meta_graph`` writes ``_output_shapes`` by); else None."""
        op = self._op
        shapes = _recorded_shapes(op)
        if shapes is not None:
            # (TensorFlow's importer refuses a list shorter than the outputs and
            # ignores entries beyond them)
            count = op.graph._num_outputs(op)
            if self._value_index < len(shapes) and (count is None or count <= len(shapes)):
                return shapes[self._value_index]
        from fastmeta.export import inferred_shape  # (export imports this module)

        return inferred_shape(self)

    def get_shape(self) -> tensor_shape_pb2.TensorShapeProto | None:
        """:attr:`shape` (TensorFlow's ``Tensor.get_shape()``)."""
        return self.shape

    def consumers(self) -> list[Operation]:
        """The operations taking this tensor as a data input, one entry per input (an op
        reading it twice is listed twice), in creation order. (TensorFlow lists the same
        operations in the order of its internal edge sets.)"""
        return self._op._graph._consumers(self._op, self._value_index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tensor) and other._op == self._op and other._value_index == self._value_index

    def __hash__(self) -> int:
        return hash((self._op, self._value_index))

    def __repr__(self) -> str:
        return f"<fastmeta.Tensor '{self.name}'>"


def _attr_python_value(value: attr_value_pb2.AttrValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return []  # (TensorFlow's answer for an attr with no value set)
    if which == "list":
        lst = value.list
        for field in ("s", "i", "f", "b", "type", "shape", "tensor", "func"):
            items = getattr(lst, field)
            if len(items):
                return list(items)
        return []
    return getattr(value, which)


def _with_ref(dtype: int, ref: bool) -> int:
    return dtype + _REF_OFFSET if ref and dtype < _REF_OFFSET else dtype


def output_types(op_def: op_def_pb2.OpDef, node: node_def_pb2.NodeDef) -> list[int] | None:
    """The output DataTypes of ``node`` by ``op_def`` (None when attrs are missing)."""
    out: list[int] = []
    attrs = node.attr
    for arg in op_def.output_arg:
        if arg.type_list_attr:
            if arg.type_list_attr not in attrs:
                return None
            out.extend(_with_ref(t, arg.is_ref) for t in attrs[arg.type_list_attr].list.type)
            continue
        if arg.type:
            dtype = int(arg.type)
        elif arg.type_attr and arg.type_attr in attrs:
            dtype = int(attrs[arg.type_attr].type)
        else:
            return None
        count = 1
        if arg.number_attr:
            if arg.number_attr not in attrs:
                return None
            count = int(attrs[arg.number_attr].i)
        out.extend([_with_ref(dtype, arg.is_ref)] * count)
    return out


# Each op's OpDef is TensorFlow's registry's (as its importer takes them), else one an
# imported file's stripped_op_list brings (an op TensorFlow does not register: a custom op).
def _registry_op_def(op_type: str) -> op_def_pb2.OpDef | None:
    return _op_registry.get(op_type)


# ---------------------------------------------------------------------------
# graph state shared by the Graph and an import transaction
# ---------------------------------------------------------------------------
class _Thread(threading.local):
    name_stack: str = ""


def check_versions(versions: Any) -> None:
    """Refuse a GraphDef's VersionDef as TensorFlow's importer does (``CheckVersions``,
    before it looks at anything else of the GraphDef), with its messages."""
    if versions.producer < GRAPH_DEF_VERSION_MIN_PRODUCER:
        message = (
            f"GraphDef producer version {versions.producer} below min producer "
            f"{GRAPH_DEF_VERSION_MIN_PRODUCER} supported by TensorFlow {TF_VERSION}.  "
            "Please regenerate your graph."
        )
    elif versions.min_consumer > GRAPH_DEF_VERSION:
        message = (
            f"GraphDef min consumer version {versions.min_consumer} above current version "
            f"{GRAPH_DEF_VERSION} for TensorFlow {TF_VERSION}.  Please upgrade TensorFlow."
        )
    elif GRAPH_DEF_VERSION in versions.bad_consumers:
        message = (
            f"GraphDef disallows consumer version {GRAPH_DEF_VERSION}.  "
            "Please upgrade TensorFlow: this version is likely buggy."
        )
    else:
        return
    raise GraphVersionError(message, versions)


def imported_versions(graph_versions: Any, tail: graph_pb2.GraphDef) -> Any:
    """The versions of a graph holding ``graph_versions`` after an import of a GraphDef
    whose fields other than the nodes are ``tail``: merged as TensorFlow's importer
    merges them, ``min_consumer`` at least 12 when ``tail``'s library holds a function."""
    out = graph_pb2.GraphDef().versions
    out.CopyFrom(graph_versions)
    _merge_versions(out, tail.versions)
    if tail.library.function and out.min_consumer < FUNCTION_LIBRARY_MIN_CONSUMER:
        out.min_consumer = FUNCTION_LIBRARY_MIN_CONSUMER
    return out


def fresh_versions() -> Any:
    """A fresh graph's versions (``producer`` TensorFlow's GraphDef version)."""
    out = graph_pb2.GraphDef().versions
    out.producer = GRAPH_DEF_VERSION
    return out


def check_library(tail: graph_pb2.GraphDef) -> None:
    """Refuse the library of a GraphDef's fields other than the nodes (``tail``) as
    TensorFlow refuses it when importing into a fresh graph (see
    ``_Transaction.add_library``)."""
    if tail.library.function or tail.library.gradient:
        _Transaction(Graph()).add_library(tail)


def _check_gradient_functions(library: function_pb2.FunctionDefLibrary) -> None:
    """TensorFlow's ``function.from_library`` checks on a library holding functions: each
    gradient entry names a function of it and a gradient function of it, and not every
    function has a gradient. Its messages (which show the library)."""
    names = {f.signature.name for f in library.function}
    for g in library.gradient:
        for name in (g.function_name, g.gradient_func):
            if name not in names:
                raise FunctionLibraryError(f"FunctionDefLibrary missing '{name}' FunctionDef\n{library}", name)
    with_gradient = {g.function_name for g in library.gradient}
    if names <= with_gradient:
        raise FunctionLibraryError(f"FunctionDefLibrary contains cyclic gradient functions!\n{library}")


def _merge_versions(dst: Any, src: Any) -> None:
    dst.producer = min(dst.producer, src.producer)
    dst.min_consumer = max(dst.min_consumer, src.min_consumer)
    if src.bad_consumers:
        # (TensorFlow's importer merges them as a std::set: sorted, without repeats)
        bad = sorted(set(dst.bad_consumers) | set(src.bad_consumers))
        del dst.bad_consumers[:]
        dst.bad_consumers.extend(bad)


def fixed_output_count(op_def: op_def_pb2.OpDef | None) -> int | None:
    """How many outputs every node of ``op_def`` has, or None when the count depends on
    the node's attrs (``number_attr``/``type_list_attr`` outputs) or the OpDef is unknown."""
    if op_def is None or any(arg.number_attr or arg.type_list_attr for arg in op_def.output_arg):
        return None
    return len(op_def.output_arg)


class _Lookup:
    """Name lookups over a sequence of parts (the committed ones, plus staged ones)."""

    _graph: Graph

    def _all_parts(self) -> Sequence[_Part]:
        raise NotImplementedError

    def _op_def(self, op_type: str) -> op_def_pb2.OpDef | None:
        raise NotImplementedError

    def _find(self, name: str) -> Operation | None:
        """The operation ``name`` names, or None. (Names are unique across parts: imports
        and created ops are uniquified against everything before them.)"""
        raise NotImplementedError

    def _output_specs(self, op: Operation) -> list[int] | None:
        op_def = self._op_def(op.type)
        if op_def is None:
            return None
        return output_types(op_def, op.node_def)

    def _num_outputs(self, op: Operation) -> int | None:
        """How many outputs ``op`` has (None when unknown). Ops whose OpDef fixes the
        count are answered without parsing the NodeDef (the hot path of collection
        restoring)."""
        op_type = op.type
        op_def = self._op_def(op_type)
        if op_def is None:
            return None
        cache = self._graph._fixed_outputs
        hit = cache.get(op_type)
        if hit is None or hit[0] is not op_def:
            hit = (op_def, fixed_output_count(op_def))
            cache[op_type] = hit
        if hit[1] is not None:
            return hit[1]
        specs = output_types(op_def, op.node_def)
        return None if specs is None else len(specs)

    def _resolve_tensor(self, name: str) -> Tensor | None:
        """The tensor a well-formed name (``op:digits``) denotes, or None when the name
        is not of that form or does not resolve: the fast path of as_graph_element
        (collection restoring resolves hundreds of thousands of names), whose full path
        gives the errors."""
        op_name, sep, idx = name.partition(":")
        if not sep or not idx.isdigit() or not idx.isascii():
            return None
        op = self._find(op_name)
        if op is None:
            return None
        out_n = int(idx)
        count = self._num_outputs(op)
        if count is not None and out_n >= count:
            return None
        return Tensor(op, out_n)

    def _tensor_from_input(self, s: str) -> Tensor:
        name, _, idx = s.lstrip("^").partition(":")
        op = self._find(name)
        if op is None:
            raise KeyError(f"The name '{s}' refers to an input not in the graph.")
        return Tensor(op, int(idx) if idx else 0)

    def get_operation_by_name(self, name: str) -> Operation:
        """The Operation called ``name`` (``KeyError`` when missing, ``ValueError`` for a
        tensor name)."""
        if not isinstance(name, str):
            raise TypeError(f"Operation names are strings (or similar), not {type(name).__name__}.")
        element = self.as_graph_element(name, allow_tensor=False, allow_operation=True)
        assert isinstance(element, Operation)
        return element

    def get_tensor_by_name(self, name: str) -> Tensor:
        """The Tensor called ``name`` (``op:idx``); errors as TensorFlow's."""
        if not isinstance(name, str):
            raise TypeError(f"Tensor names are strings (or similar), not {type(name).__name__}.")
        element = self.as_graph_element(name, allow_tensor=True, allow_operation=False)
        assert isinstance(element, Tensor)
        return element

    def as_graph_element(self, obj: Any, allow_tensor: bool = True, allow_operation: bool = True) -> Operation | Tensor:
        """Resolve a name (``op`` → Operation, ``op:idx`` → Tensor; ``str`` or UTF-8
        ``bytes``) or check an Operation/Tensor belongs here; an object with an
        ``_as_graph_element()`` method (a :class:`fastmeta.Variable`) stands for what
        that returns. ``KeyError``/``ValueError``/``TypeError`` with TensorFlow's
        messages. As TensorFlow, a negative output index counts from the end
        (``op:-1`` is the op's last output)."""
        if allow_tensor and type(obj) is str:
            tensor = self._resolve_tensor(obj)
            if tensor is not None:
                return tensor
        if allow_tensor and allow_operation:
            types_str = "Tensor or Operation"
        elif allow_tensor:
            types_str = "Tensor"
        elif allow_operation:
            types_str = "Operation"
        else:
            raise ValueError("allow_tensor and allow_operation can't both be False.")
        convert = getattr(obj, "_as_graph_element", None)
        if callable(convert):
            obj = convert()
        if isinstance(obj, bytes):
            obj = obj.decode("utf-8")
        if isinstance(obj, (Tensor, Operation)):
            if obj.graph is not self._graph:
                raise ValueError(f"{obj!r} is not an element of this graph.")
            if (isinstance(obj, Tensor) and allow_tensor) or (isinstance(obj, Operation) and allow_operation):
                return obj
            raise TypeError(f"Can not convert a {type(obj).__name__} into a {types_str}.")
        if not isinstance(obj, str):
            raise TypeError(f"Can not convert a {type(obj).__name__} into a {types_str}.")
        name = obj
        if ":" in name and allow_tensor:
            parts = name.split(":")
            try:
                if len(parts) != 2:
                    raise ValueError
                op_name, out_n = parts[0], int(parts[1])
            except ValueError:
                raise ValueError(
                    f"The name {name!r} looks a like a Tensor name, but is not a valid one. "
                    'Tensor names must be of the form "<op_name>:<output_index>".'
                ) from None
            op = self._find(op_name)
            if op is None:
                raise KeyError(
                    f"The name {name!r} refers to a Tensor which does not exist. "
                    f"The operation, {op_name!r}, does not exist in the graph."
                )
            count = self._num_outputs(op)
            if count is not None and -count <= out_n < 0:
                out_n += count  # (TensorFlow indexes the op's output list with it)
            if out_n < 0 or (count is not None and out_n >= count):
                raise KeyError(
                    f"The name {name!r} refers to a Tensor which does not exist. "
                    f"The operation, {op_name!r}, exists but only has {count or 0} outputs."
                )
            return Tensor(op, out_n)
        if ":" in name:
            raise ValueError(f"Name {name!r} appears to refer to a Tensor, not a {types_str}.")
        if not allow_operation:
            if self._find(name) is not None:
                raise ValueError(
                    f"The name {name!r} refers to an Operation, not a {types_str}. Tensor names "
                    'must be of the form "<op_name>:<output_index>".'
                )
            raise ValueError(
                f"The name {name!r} looks like an (invalid) Operation name, not a {types_str}. "
                'Tensor names must be of the form "<op_name>:<output_index>".'
            )
        op = self._find(name)
        if op is None:
            raise KeyError(f"The name {name!r} refers to an Operation not in the graph.")
        return op


class _Deferred:
    """A run of collection items made on first use (see :meth:`Graph._realize`): an
    import's variables, whose tens of thousands of objects an import itself never needs.
    ``items()`` makes them all, ``iterate()`` one at a time, ``first(match)`` only the
    first whose name ``match`` accepts (None when none does)."""

    __slots__ = ("first", "items", "iterate")

    def __init__(
        self,
        items: Callable[[], list[Any]],
        iterate: Callable[[], Iterator[Any]],
        first: Callable[[Callable[[str], Any]], Any] | None = None,
    ) -> None:
        self.items = items
        self.iterate = iterate
        self.first = first or (lambda match: next(_named(iterate(), match), None))


def _expand(items: list[Any]) -> None:
    """Replace the :class:`_Deferred` runs in a collection list by their items, in place."""
    out: list[Any] = []
    for x in items:
        if type(x) is _Deferred:
            out.extend(x.items())
        else:
            out.append(x)
    items[:] = out


class Graph(_Lookup):
    """A TensorFlow-free graph holding imported meta graphs and a few Python-created ops.

    Thread safety: imports into one graph are serialised by a per-graph lock and are
    atomic (a failed import leaves the graph exactly as it was); the name scope stack
    is per thread.
    """

    def __init__(self) -> None:
        self._graph = self
        self._lock = threading.RLock()
        self._parts: list[_Part] = []
        # The parts again, for lookups that do not walk every part: the imports (each
        # looked up through its own hash table), and the block holding each created op
        # by name (every create_op makes a part: a graph built op by op has thousands).
        self._segments: list[_Segment] = []
        self._block_of: dict[str, _Block] = {}
        self._names_in_use: dict[str, int] = {}
        # Per lowercased name, a run (lo, hi) of ``name_<k>``, lo <= k < hi, found in use
        # by unique_name's scan: a later scan skips it (see _unique_name)
        self._name_runs: dict[str, tuple[int, int]] = {}
        self._collections: dict[Any, list[Any]] = {}
        self._deferred: set[Any] = set()  # keys whose lists hold _Deferred runs
        # OpDefs of ops the registry lacks, from the imported files (the first of a name)
        self._op_defs: dict[str, op_def_pb2.OpDef] = {}
        # The OpDefs an import in progress brings (see _Transaction.stage_op_defs): its
        # Operations, views of this graph, count their outputs with them before commit.
        self._staged_op_defs: dict[str, op_def_pb2.OpDef] | None = None
        # op type -> (its OpDef, output count when the OpDef fixes it, else None)
        self._fixed_outputs: dict[str, tuple[op_def_pb2.OpDef, int | None]] = {}
        self._functions: dict[str, bytes] = {}
        self._gradients: dict[str, bytes] = {}
        self._registered_gradients: dict[str, bytes] = {}
        self._versions = fresh_versions()
        self._thread = _Thread()

    # -- parts ------------------------------------------------------------
    def _all_parts(self) -> Sequence[_Part]:
        return self._parts

    def _find(self, name: str) -> Operation | None:
        # (names are unique across parts: a created op's block by name, else the imports)
        block = self._block_of.get(name)
        if block is not None:
            return Operation(self, block, block.find(name), self)
        for seg in reversed(self._segments):
            i = seg.find(name)
            if i >= 0:
                return Operation(self, seg, i, self)
        return None

    def _op_def(self, op_type: str) -> op_def_pb2.OpDef | None:
        op_def = _registry_op_def(op_type) or self._op_defs.get(op_type)
        if op_def is None and self._staged_op_defs is not None:
            op_def = self._staged_op_defs.get(op_type)
        return op_def

    # -- default graph ----------------------------------------------------
    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        """Make this the default graph of the current thread inside a ``with`` block."""
        stack = _default_stack()
        stack.append(self)
        try:
            yield self
        finally:
            stack.pop()

    # -- names ------------------------------------------------------------
    @property
    def _name_stack(self) -> str:
        return self._thread.name_stack

    @_name_stack.setter
    def _name_stack(self, value: str) -> None:
        self._thread.name_stack = value

    def get_name_scope(self) -> str:
        """The current name scope (no trailing '/')."""
        return self._name_stack

    @staticmethod
    def _in_use(names: MutableMapping[str, int], parts: Sequence[_Segment], key: str) -> bool:
        """Whether the lowercased name ``key`` is in use: in the name table, or the name
        of an op of one of ``parts``, the imports (every op created from Python has its
        name in the table)."""
        return key in names or any(p.has_folded(key) for p in parts)

    def _name_count(self, names: MutableMapping[str, int], key: str, parts: Sequence[_Segment]) -> int:
        if key in names:
            return names[key]
        return 1 if self._in_use(names, parts, key) else 0

    def _unique_name(
        self,
        names: MutableMapping[str, int],
        parts: Sequence[_Segment],
        runs: MutableMapping[str, tuple[int, int]],
        name: str,
        mark_as_used: bool,
    ) -> str:
        """TensorFlow's ``Graph.unique_name`` on the name table ``names`` (lowercased name
        -> count) and the ops of the imports ``parts``: the count ``i`` of the name is kept (raised by
        one when marking); if it is not 0, the first of ``name_i``, ``name_<i+1>``, ...
        not in use is the name (marked with count 1). TensorFlow scans from ``name_i``
        each time: with a graph holding ``a_1`` ... ``a_N``, every import into scope
        ``a`` scans them all again. Here the run of names the scans found in use is kept
        per name in ``runs`` and skipped (a graph's names only ever get added, so they
        stay in use; a transaction stages its runs with its names): the same names,
        without the rescans."""
        if self._name_stack:
            name = self._name_stack + "/" + name
        key = name.lower()
        i = self._name_count(names, key, parts)
        if mark_as_used:
            names[key] = i + 1
        if i > 0:
            # (the name itself is in use: its count is not 0)
            lo, hi = runs.get(key, (i, i))
            if not lo <= i <= hi:
                lo = hi = i
            k = hi
            while self._in_use(names, parts, f"{key}_{k}"):
                k += 1
            if mark_as_used:
                names[f"{key}_{k}"] = 1
            runs[key] = (lo, k + 1 if mark_as_used else k)
            name = f"{name}_{k}"
        return name

    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        """A name not yet used in this graph, under the current name scope: ``name``, or
        ``name_<k>`` with the smallest free ``k`` from the number of times ``name`` was
        asked for (compared case-insensitively, keeping the caller's capitalization), as
        TensorFlow 2.x. Marks it used unless asked not to. ``name`` must be a str
        (TensorFlow's takes bytes and never finds them in use: a TypeError here)."""
        if not isinstance(name, str):
            raise TypeError(f"unique_name: name must be a str, got {type(name).__name__}")
        with self._lock:
            return self._unique_name(self._names_in_use, self._segments, self._name_runs, name, mark_as_used)

    def _enter_scope(
        self,
        names: MutableMapping[str, int],
        parts: Sequence[_Segment],
        runs: MutableMapping[str, tuple[int, int]],
        name: str | None,
    ) -> tuple[str, str]:
        """(new name stack, returned scope) for ``name_scope(name)``; raises ValueError
        (TypeError for a name that is neither str nor bytes, as TensorFlow's scope regex)."""
        if name:
            if isinstance(name, bytes):  # (TensorFlow's compat.as_str)
                name = name.decode("utf-8")
            elif isinstance(name, (bytearray, memoryview)):
                raise TypeError("cannot use a string pattern on a bytes-like object")
            elif not isinstance(name, str):
                raise TypeError(f"expected string or bytes-like object, got '{type(name).__name__}'")
            check_scope_name(name, bool(self._name_stack))
        if not name:
            return "", ""
        if name[-1] == "/":
            return name[:-1], name
        new_stack = self._unique_name(names, parts, runs, name, True)
        return new_stack, new_stack + "/"

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        """TensorFlow's ``Graph.name_scope``: ``None``/``""`` → root scope; a name ending
        in ``/`` re-enters that scope verbatim; else a unique name under the current
        scope. Yields the scope with a trailing ``/`` (``""`` at the root)."""
        with self._lock:
            new_stack, returned = self._enter_scope(self._names_in_use, self._segments, self._name_runs, name)
        old = self._name_stack
        self._name_stack = new_stack
        try:
            yield returned
        finally:
            self._name_stack = old

    # -- operations -------------------------------------------------------
    def get_operations(self) -> list[Operation]:
        """Every operation in creation order (views created now)."""
        with self._lock:
            parts = list(self._parts)
        return [Operation(self, part, i) for part in parts for i in range(len(part))]

    def num_operations(self) -> int:
        """How many operations the graph holds (no views created)."""
        return sum(len(p) for p in self._parts)

    def _consumers(self, op: Operation, index: int) -> list[Operation]:
        """The operations with an input edge from output ``index`` of ``op`` (-1: control
        edges), one per edge, in creation order. Parts before ``op``'s cannot hold any;
        a later import reaches it only through its input_map (the core's external
        names)."""
        with self._lock:
            parts = list(self._parts)
        name = op.name
        out: list[Operation] = []
        start = next((k for k, part in enumerate(parts) if part is op._part), len(parts))
        # (an op of an import that failed is in no part: it has no consumers)
        for part in parts[start:]:
            if isinstance(part, _Block):
                for i, node in enumerate(part.nodes):
                    for s in node.input:
                        src, _, idx = s.lstrip("^").partition(":")
                        if src == name and (index < 0 if s.startswith("^") else index == (int(idx) if idx else 0)):
                            out.append(Operation(self, part, i))
                continue
            core = part.core
            if part is op._part:
                found = core.consumers(op._index, index)
            else:
                ext = core.external()
                found = sorted(i for k in range(len(ext)) if ext[k] == name for i in core.consumers(-1 - k, index))
            out.extend(Operation(self, part, i) for i in found)
        return out

    def _py_names(self) -> list[str]:
        return [n for p in self._parts if isinstance(p, _Block) for n in p.index]

    def create_op(
        self,
        op_type: str,
        inputs: Iterable[Tensor | Operation | str] = (),
        attrs: dict[str, attr_value_pb2.AttrValue] | None = None,
        name: str | None = None,
        device: str = "",
        control_inputs: Iterable[Operation | str] = (),
        colocate_with: Operation | None = None,
    ) -> Operation:
        """Add one node built from Python (a NodeDef), named ``unique_name(name or op_type)``
        under the current name scope (a name ending in '/' is used verbatim). No attr
        defaults are added: pass every attr TensorFlow would set.
        ``colocate_with`` sets ``_class`` and the target's device, as TensorFlow."""
        with self._lock:
            txn = _Transaction(self)
            op = txn.create_op(op_type, inputs, attrs, name, device, control_inputs, colocate_with)
            txn.commit()
            return Operation(self, op._part, op._index)

    def placeholder(
        self, dtype: int | str, shape: Sequence[int | None] | None = None, name: str | None = None
    ) -> Tensor:
        """A ``Placeholder`` node as ``tf.compat.v1.placeholder`` builds it (attrs
        ``dtype`` and ``shape``; ``shape=None`` = unknown rank)."""
        attrs = {"dtype": attr_value_pb2.AttrValue(type=_as_dtype(dtype))}  # type: ignore[arg-type]
        shape_attr = attr_value_pb2.AttrValue()
        if shape is None:
            shape_attr.shape.unknown_rank = True
        else:
            shape_attr.shape.SetInParent()  # (a scalar's shape is set, with no dims)
            for d in shape:
                shape_attr.shape.dim.add(size=-1 if d is None else int(d))
        attrs["shape"] = shape_attr
        op = self.create_op("Placeholder", (), attrs, name or "Placeholder")
        return Tensor(op, 0)

    # -- collections ------------------------------------------------------
    def _realize(self, name: Any) -> None:
        """Make the deferred items of collection ``name`` (caller holds the lock). An
        import adds its variables as :class:`_Deferred` runs; every way of reading or
        changing a collection goes through here first, so no caller ever sees one."""
        if name in self._deferred:
            _expand(self._collections[name])
            self._deferred.discard(name)

    def add_to_collection(self, name: Any, value: Any) -> None:
        """Append ``value`` to collection ``name``."""
        with self._lock:
            self._realize(name)
            self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names: Any | Iterable[Any], value: Any) -> None:
        """Append ``value`` to each collection of ``names`` (a string is one name)."""
        names = (names,) if isinstance(names, str) else set(names)
        for name in names:
            self.add_to_collection(name, value)

    def get_collection_ref(self, name: Any) -> list[Any]:
        """The live list of collection ``name`` (created empty if missing)."""
        with self._lock:
            self._realize(name)
            return self._collections.setdefault(name, [])

    def get_collection(self, name: Any, scope: str | None = None) -> list[Any]:
        """A copy of collection ``name``; with ``scope``, only items whose ``name``
        matches the regex ``scope`` at the start (items without a name are skipped)."""
        with self._lock:
            self._realize(name)
            items = list(self._collections.get(name, ()))
        return _filter_scope(items, scope)

    def get_all_collection_keys(self) -> list[str]:
        """The string keys of all collections."""
        with self._lock:
            return [k for k in self._collections if isinstance(k, str)]

    def clear_collection(self, name: Any) -> None:
        """Remove collection ``name``."""
        with self._lock:
            self._collections.pop(name, None)
            self._deferred.discard(name)

    # -- export -----------------------------------------------------------
    @property
    def version(self) -> int:
        """Number of operations (TensorFlow increments its version per op)."""
        return self.num_operations()

    @property
    def graph_def_versions(self) -> Any:
        """The merged VersionDef (a copy)."""
        out = graph_pb2.GraphDef().versions
        out.CopyFrom(self._versions)
        return out

    def as_graph_def(self) -> graph_pb2.GraphDef:
        """The graph as a fastmeta ``GraphDef``: nodes in creation order, the union of the
        imported function libraries, versions merged as TensorFlow merges them."""
        with self._lock:
            parts = list(self._parts)
            functions = list(self._functions.values())
            gradients = list(self._gradients.values())
            registered = list(self._registered_gradients.values())
            versions = self.graph_def_versions
        data = b"".join(p.node_bytes() for p in parts)
        try:
            out = graph_pb2.GraphDef.FromString(data)
        except DecodeError:
            # Name the node: parse them one by one (only on this error path).
            for p in parts:
                if isinstance(p, _Segment):
                    for i in range(len(p)):
                        p.node_def(i)
            raise
        _add_library(out, functions, gradients, registered, versions)
        return out

    def _parts_and_library(self) -> tuple[list[tuple[_Part, int]], graph_pb2.GraphDef]:
        """The parts with how many nodes each holds now, and a GraphDef of the library
        and versions alone (``as_graph_def``'s), taken together under the lock."""
        with self._lock:
            parts = [(p, len(p)) for p in self._parts]
            functions = list(self._functions.values())
            gradients = list(self._gradients.values())
            registered = list(self._registered_gradients.values())
            versions = self.graph_def_versions
        out = graph_pb2.GraphDef()
        _add_library(out, functions, gradients, registered, versions)
        return parts, out

    def __repr__(self) -> str:
        return f"<fastmeta.Graph {self.num_operations()} ops>"


def _add_library(
    out: graph_pb2.GraphDef,
    functions: list[bytes],
    gradients: list[bytes],
    registered: list[bytes],
    versions: Any,
) -> None:
    # (TensorFlow's as_graph_def drops the library, gradients included, when it holds
    # no function; the graph keeps its gradients for functions a later import adds)
    if not functions:
        gradients = registered = []
    for f in functions:
        out.library.function.add().ParseFromString(f)
    for g in gradients:
        out.library.gradient.add().ParseFromString(g)
    for r in registered:
        out.library.registered_gradients.add().ParseFromString(r)
    out.versions.CopyFrom(versions)


def _scope_match(scope: str) -> Callable[[str], Any]:
    """Whether ``get_collection(..., scope=scope)`` keeps an item of this name: the regex
    ``scope`` matches at its start."""
    if re.escape(scope) == scope:
        # No character with a meaning in a regex: matching at the start is startswith.
        return lambda name: name.startswith(scope)
    return re.compile(scope).match


def _named(items: Iterable[Any], match: Callable[[str], Any]) -> Iterator[Any]:
    """The items whose ``name`` is a string ``match`` accepts, in order."""
    return (item for item in items if isinstance(name := getattr(item, "name", None), str) and match(name))


def _in_scope(items: Iterable[Any], scope: str) -> Iterator[Any]:
    """The items ``get_collection(..., scope=scope)`` keeps, in order."""
    return _named(items, _scope_match(scope))


def _filter_scope(items: list[Any], scope: str | None) -> list[Any]:
    return items if scope is None else list(_in_scope(items, scope))


def first_in_scope(runs: Iterable[Iterable[Any]], scope: str) -> Any:
    """The first item of the collection lists ``runs`` (in order) that
    ``get_collection(..., scope=scope)`` would keep, or None; of a deferred run, only
    that item is made."""
    match = _scope_match(scope)
    for items in runs:
        for x in items:
            if type(x) is _Deferred:
                found = x.first(match)
                if found is not None:
                    return found
            elif isinstance(name := getattr(x, "name", None), str) and match(name):
                return x
    return None


def _as_dtype(dtype: int | str) -> int:
    if isinstance(dtype, int):
        return dtype
    names = {
        "float32": "DT_FLOAT",
        "float64": "DT_DOUBLE",
        "float16": "DT_HALF",
        "string": "DT_STRING",
    }
    key = names.get(dtype, "DT_" + dtype.upper() if not dtype.upper().startswith("DT_") else dtype.upper())
    return int(types_pb2.DataType.Value(key))


# ---------------------------------------------------------------------------
# transactions: everything an import adds, staged, committed at once
# ---------------------------------------------------------------------------
class _Transaction(_Lookup):
    """Changes staged against a Graph (caller holds ``graph._lock``). Lookups see the
    committed graph plus the staged parts; :meth:`commit` publishes everything."""

    def __init__(self, graph: Graph):
        self._graph = graph
        self.parts: list[_Part] = []
        # The graph's name table and runs with this transaction's changes over them
        # (written to the first map; the graph's own, read through, stay as they are
        # until commit): no copy per transaction, so that ops created one by one, each
        # in a transaction of its own, cost no copy of the whole table.
        self.names: ChainMap[str, int] = ChainMap({}, graph._names_in_use)
        self.runs: ChainMap[str, tuple[int, int]] = ChainMap({}, graph._name_runs)
        self.collections: dict[Any, list[Any]] = {}
        self.deferred: set[Any] = set()  # keys whose staged lists hold _Deferred runs
        self.op_defs: dict[str, op_def_pb2.OpDef] = {}
        self.functions: dict[str, bytes] = {}
        self.gradients: dict[str, bytes] = {}
        self.registered_gradients: dict[str, bytes] = {}
        self.versions = graph.graph_def_versions
        self.name_stack = graph._name_stack
        self._search: list[tuple[Callable[[str], int], _Part]] | None = None  # see _find

    def _all_parts(self) -> Sequence[_Part]:
        return list(self._graph._parts) + self.parts

    def _segments(self) -> list[_Segment]:
        """The imports, committed and staged: the parts whose names the name table lacks."""
        return self._graph._segments + [p for p in self.parts if isinstance(p, _Segment)]

    def _find(self, name: str) -> Operation | None:
        # As the graph's lookup (the staged parts first) through a cached list of the
        # parts' lookup functions: this is the hot path of collection restoring.
        search = self._search
        if search is None:
            search = self._search = [
                (part.core.find if isinstance(part, _Segment) else part.find, part) for part in reversed(self.parts)
            ]
        for find, part in search:
            i = find(name)
            if i >= 0:
                return Operation(self._graph, part, i, self)
        g = self._graph
        block = g._block_of.get(name)
        if block is not None:
            return Operation(g, block, block.find(name), self)
        for seg in reversed(g._segments):
            i = seg.core.find(name)
            if i >= 0:
                return Operation(g, seg, i, self)
        return None

    def _op_def(self, op_type: str) -> op_def_pb2.OpDef | None:
        return _registry_op_def(op_type) or self._graph._op_defs.get(op_type) or self.op_defs.get(op_type)

    @contextlib.contextmanager
    def stage_op_defs(self, op_defs: Iterable[op_def_pb2.OpDef]) -> Iterator[None]:
        """Stage the OpDefs of ops the graph has none for (the first one of a name wins,
        as in the graph) and let the graph's lookups see them inside the ``with``
        block; :meth:`commit` publishes them, a failed import drops them."""
        g = self._graph
        for op_def in op_defs:
            if op_def.name not in g._op_defs and _registry_op_def(op_def.name) is None:
                self.op_defs.setdefault(op_def.name, op_def)
        g._staged_op_defs = self.op_defs
        try:
            yield
        finally:
            g._staged_op_defs = None

    # names (the graph's rules, on the staged name table and this transaction's stack)
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        g = self._graph
        saved = g._name_stack
        g._name_stack = self.name_stack
        try:
            return g._unique_name(self.names, self._segments(), self.runs, name, mark_as_used)
        finally:
            g._name_stack = saved

    def enter_scope(self, name: str | None) -> tuple[str, str]:
        g = self._graph
        saved = g._name_stack
        g._name_stack = self.name_stack
        try:
            return g._enter_scope(self.names, self._segments(), self.runs, name)
        finally:
            g._name_stack = saved

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        new_stack, returned = self.enter_scope(name)
        old = self.name_stack
        self.name_stack = new_stack
        try:
            yield returned
        finally:
            self.name_stack = old

    def py_names(self) -> list[str]:
        return [n for p in self._all_parts() if isinstance(p, _Block) for n in p.index]

    def segments(self) -> list[Any]:
        return [p.core for p in self._all_parts() if isinstance(p, _Segment)]

    def add_segment(self, core: Any) -> _Segment:
        seg = _Segment(core)
        self.parts.append(seg)
        self._search = None
        return seg

    def create_op(
        self,
        op_type: str,
        inputs: Iterable[Tensor | Operation | str] = (),
        attrs: dict[str, attr_value_pb2.AttrValue] | None = None,
        name: str | None = None,
        device: str = "",
        control_inputs: Iterable[Operation | str] = (),
        colocate_with: Operation | None = None,
    ) -> Operation:
        name = op_type if name is None else name
        # (as TensorFlow: the full name is checked, after uniquification)
        full = name[:-1] if name.endswith("/") else self.unique_name(name)
        if not _VALID_OP_NAME.match(full):
            raise GraphError(
                f"`{full}` is not a valid node name. Accepted names conform to Regex /{_VALID_OP_NAME}/",
                node=full,
            )
        if self._find(full) is not None:
            raise GraphError(f"Duplicate node name in graph: '{full}'", node=full)
        node = node_def_pb2.NodeDef(name=full, op=op_type)
        for x in inputs:
            if isinstance(x, Tensor):
                node.input.append(x.op.name if x.value_index == 0 else x.name)
            elif isinstance(x, Operation):
                node.input.append(x.name)
            else:
                node.input.append(x)
        controls = sorted({c.name if isinstance(c, Operation) else str(c).lstrip("^") for c in control_inputs})
        node.input.extend("^" + c for c in controls)
        if colocate_with is not None:
            # (TensorFlow sets a created op's groups sorted and without repeats)
            node.attr["_class"].list.s.extend(sorted(set(colocate_with.colocation_groups())))
            device = colocate_with.device
        node.device = device
        for k, v in (attrs or {}).items():
            node.attr[k].CopyFrom(v)
        self.names.setdefault(full.lower(), 1)
        if not self.parts or not isinstance(self.parts[-1], _Block):
            self.parts.append(_Block())
            self._search = None
        block = self.parts[-1]
        assert isinstance(block, _Block)
        return Operation(self._graph, block, block.add(node), self)

    def add_to_collection(self, key: Any, value: Any) -> None:
        self.collections.setdefault(key, []).append(value)

    def defer_collection(
        self,
        key: Any,
        count: int,
        items: Callable[[], list[Any]],
        iterate: Callable[[], Iterator[Any]],
        first: Callable[[Callable[[str], Any]], Any] | None = None,
    ) -> None:
        """Add ``count`` items to collection ``key`` that are made on first use:
        ``items()`` makes them all, ``iterate()`` one at a time, ``first(match)`` the
        first whose name ``match`` accepts (see Graph._realize, :func:`first_in_scope`)."""
        if count:
            self.collections.setdefault(key, []).append(_Deferred(items, iterate, first))
            self.deferred.add(key)

    def get_collection(self, key: Any, scope: str | None = None) -> list[Any]:
        self._graph._realize(key)
        staged = self.collections.get(key, ())
        if key in self.deferred:
            _expand(self.collections[key])
            self.deferred.discard(key)
        items = list(self._graph._collections.get(key, ())) + list(staged)
        return _filter_scope(items, scope)

    def get_all_collection_keys(self) -> list[str]:
        """The string keys of all collections, committed and staged."""
        keys = dict.fromkeys(self._graph._collections)
        keys.update(dict.fromkeys(self.collections))
        return [k for k in keys if isinstance(k, str)]

    def collection_runs(self, key: Any) -> tuple[list[Any], list[Any]]:
        """The lists of collection ``key`` (committed, then staged), deferred runs as they
        are: for :func:`first_in_scope`."""
        return list(self._graph._collections.get(key, ())), list(self.collections.get(key, ()))

    def add_library(self, tail: graph_pb2.GraphDef) -> None:
        """Stage the library and versions of an import's GraphDef (``tail``), refused as
        TensorFlow refuses them (:class:`FunctionLibraryError`): its C++ graph's
        ``AddLibrary`` (each function, then each gradient, in file order), then its Python
        importer's ``function.from_library`` (the gradients' functions in the library)."""
        library = tail.library
        for f in library.function:
            fname = f.signature.name
            data = f.SerializeToString(deterministic=True)
            old = self.functions.get(fname, self._graph._functions.get(fname))
            # (the same function as TensorFlow decides it, by meaning: the first is kept)
            if old is not None and old != data and not function_defs_equal(function_pb2.FunctionDef.FromString(old), f):
                raise FunctionLibraryError(
                    f"Cannot add function '{fname}' because a different function with the same name already exists.",
                    fname,
                )
            if old is None:
                if _op_registry.core_registry().find(fname):
                    raise FunctionLibraryError(
                        f"Cannot add function '{fname}' because an op with the same name already exists.",
                        fname,
                    )
                self.functions[fname] = data
        for g in library.gradient:
            old = self.gradients.get(g.function_name, self._graph._gradients.get(g.function_name))
            # (TensorFlow keeps one gradient function name per function: "" is none)
            had = "" if old is None else function_pb2.GradientDef.FromString(old).gradient_func
            if had and had != g.gradient_func:
                raise FunctionLibraryError(
                    f"Cannot assign gradient function '{g.gradient_func}' to '{g.function_name}' "
                    f"because it already has gradient function '{had}'",
                    g.function_name,
                )
            if not had:
                self.gradients[g.function_name] = g.SerializeToString(deterministic=True)
        if library.function:
            _check_gradient_functions(library)
        for r in tail.library.registered_gradients:
            self.registered_gradients.setdefault(r.registered_op_type, r.SerializeToString(deterministic=True))
        self.versions.CopyFrom(imported_versions(self.versions, tail))

    def commit(self) -> None:
        g = self._graph
        g._parts.extend(self.parts)
        for part in self.parts:
            if isinstance(part, _Segment):
                g._segments.append(part)
            else:
                g._block_of.update(dict.fromkeys(part.index, part))
        g._names_in_use.update(self.names.maps[0])
        g._name_runs.update(self.runs.maps[0])
        for key, items in self.collections.items():
            if key in self.deferred and key in g._collections and key not in g._deferred:
                # The graph's list may be in a caller's hands (get_collection_ref): it
                # gets the items themselves.
                _expand(items)
                self.deferred.discard(key)
            g._collections.setdefault(key, []).extend(items)
        g._deferred.update(self.deferred)
        g._op_defs.update(self.op_defs)
        g._functions.update(self.functions)
        for k, v in self.gradients.items():
            g._gradients.setdefault(k, v)
        for k, v in self.registered_gradients.items():
            g._registered_gradients.setdefault(k, v)
        g._versions.CopyFrom(self.versions)
        # The views this transaction made resolve names through it: from now on they
        # look in the graph, which holds the staged parts (and whatever comes later).
        self.parts = []
        self._search = None
        self.names = ChainMap()
        self.runs = ChainMap()
        self.collections = {}
        self.deferred = set()
        self.functions = {}
        self.gradients = {}
        self.registered_gradients = {}


# ---------------------------------------------------------------------------
# default graph
# ---------------------------------------------------------------------------
class _DefaultStack(threading.local):
    def __init__(self) -> None:
        self.stack: list[Graph] = []


_default = _DefaultStack()
_global_default: Graph | None = None
_global_lock = threading.Lock()


def _default_stack() -> list[Graph]:
    return _default.stack


def get_default_graph() -> Graph:
    """The innermost ``Graph.as_default()`` graph of this thread, else the global
    default graph (created on first use)."""
    global _global_default
    if _default.stack:
        return _default.stack[-1]
    with _global_lock:
        if _global_default is None:
            _global_default = Graph()
        return _global_default


def reset_default_graph() -> None:
    """Replace the global default graph by a new empty one (``AssertionError`` inside an
    ``as_default()`` block, as TensorFlow)."""
    global _global_default
    if _default.stack:
        raise AssertionError(
            "Do not use tf.reset_default_graph() to clear nested graphs. If you need a cleared "
            "graph, exit the nesting and create a new graph."
        )
    with _global_lock:
        _global_default = Graph()
