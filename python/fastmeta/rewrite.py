"""``rewrite_meta_graph``: the MetaGraphDef TensorFlow's graph would hold after import.

The GraphDef is rewritten by the C++ core in one pass; collections and the saver_def
are put under the same scope here (they are small).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.message import DecodeError

from fastmeta import _core, _op_registry
from fastmeta._function_bodies import check_called_functions
from fastmeta._import_names import C_INT_RANGE, input_map_key_not_c_int, is_utf8, parse_return_element
from fastmeta.errors import GraphError, GraphTypeError, InputMapError, InputMapTypeError, ParseError
from fastmeta.graph import check_library, check_versions, fresh_versions, imported_versions
from fastmeta.protos import graph_pb2, meta_graph_pb2, node_def_pb2
from fastmeta.reading import LoadedMetaGraph, MetaGraphSource, decode_error, load_meta_graph, parse_at_depth
from fastmeta.scoping import (
    importer_prefix,
    rescope_collection,
    rescope_proto,
    validate_import_scope,
    while_frame_names,
)

__all__ = [
    "check_unbound_inputs",
    "checked_input_map",
    "class_attr_error",
    "graph_tail",
    "input_map_pairs",
    "parse_input_map_key",
    "rewrite_meta_graph",
    "rewrite_meta_graph_bytes",
    "run_core",
    "unbound_inputs",
    "unbound_inputs_error",
]


def unbound_inputs(rest: Any, col_name: str | None = "unbound_inputs") -> list[Any]:
    """The values of a meta graph's unbound-inputs collection ``col_name``, as stored
    (bytes for a bytes_list, what TensorFlow writes): the inputs from outside an
    ``export_scope`` a scoped export renamed ``$unbound_inputs_<input>``; empty when
    there is no such collection (or ``col_name`` is None). ``rest`` is a MetaGraphDef,
    fastmeta's or TensorFlow's. TensorFlow compares ``col_name`` with each key by ``==``:
    a name that is not a ``str`` (``b"unbound_inputs"``, an int) names no collection."""
    if not isinstance(col_name, str) or not col_name or col_name not in rest.collection_def:
        return []
    coll = rest.collection_def[col_name]
    kind = coll.WhichOneof("kind")
    return list(getattr(coll, kind).value) if kind else []


def unbound_input_names(values: Sequence[Any]) -> list[str]:
    """Unbound-inputs collection ``values`` (as stored: bytes for a bytes_list) as names:
    bytes read as UTF-8 (a byte that is not, which TensorFlow fails to decode, replaced),
    anything else as its ``str``."""
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def unbound_inputs_error(values: Sequence[Any], input_map: Mapping[Any, Any] | None) -> InputMapError | None:
    """TensorFlow's refusal of an import whose unbound-inputs collection holds ``values``
    (as stored: bytes for a bytes_list) unless the input_map's keys are exactly those
    values (so never when one repeats); None when it imports. The message lists the
    values "not in input_map" compared as stored, as TensorFlow does: a bytes value is
    never a ``str`` key, so for a bytes_list (what TensorFlow writes) every value is
    listed, mapped or not. (A value that is not UTF-8, which TensorFlow fails to decode,
    matches no key.)"""
    if not values:
        return None
    names = unbound_input_names(values)
    if input_map and sorted(names) == sorted(input_map):
        return None

    def listed(value: Any) -> bool:
        try:
            return not input_map or value not in input_map
        except TypeError:  # (an unhashable value: an Any of an any_list)
            return True

    missing = ",".join(n for n, v in zip(names, values) if listed(v))
    return InputMapError(f"Graph contains unbound inputs: {missing}. Must provide these inputs through input_map.")


def check_unbound_inputs(rest: Any, col_name: str | None, input_map: Mapping[Any, Any] | None) -> None:
    """Refuse, as TensorFlow's ``import_scoped_meta_graph`` does first thing after reading
    the file, a meta graph whose unbound-inputs collection ``col_name`` is not exactly
    the input_map's keys (:func:`unbound_inputs_error`); the import, the drop-in and
    ``rewrite_meta_graph`` share it."""
    error = unbound_inputs_error(unbound_inputs(rest, col_name), input_map)
    if error is not None:
        raise error


def checked_input_map(input_map: Any) -> dict[str, Any]:
    """The input_map as TensorFlow's importer takes it: a dict (here any Mapping) whose
    keys are strings, ``bytes`` keys read as UTF-8 names; what it refuses with a
    TypeError, with its messages, as :class:`InputMapTypeError`."""
    if input_map is None:
        return {}
    if not isinstance(input_map, Mapping):
        raise InputMapTypeError(f"Argument `input_map` must be a dictionary. Obtained {type(input_map).__name__}")
    if not all(isinstance(k, (bytes, str)) for k in input_map):
        raise InputMapTypeError(f"All keys for argument `input_map` must be strings. Obtained keys: {list(input_map)}")
    out: dict[str, Any] = {}
    for key, value in input_map.items():
        if isinstance(key, bytes):
            try:
                key = key.decode("utf-8")
            except UnicodeDecodeError:
                raise InputMapError(f"input_map key {key!r} is not a valid name: it is not UTF-8") from None
        out[key] = value
    return out


def parse_input_map_key(key: str) -> tuple[str, int | None]:
    """An input_map tensor key (``x``, ``x:1``) parsed as TensorFlow's importer parses it
    (:func:`parse_return_element`), its ValueErrors as InputMapErrors, and its TypeError
    (raised by the binding it hands the index to) for an output index that is no C
    ``int`` as an :class:`InputMapTypeError`. A key that is not UTF-8 names no node."""
    if not is_utf8(key):  # (a lone surrogate: no node of a GraphDef has such a name)
        raise InputMapError(f"input_map key {key!r} is not a valid name: it cannot be encoded as UTF-8")
    try:
        op_name, index = parse_return_element(key)
    except GraphError as e:
        raise InputMapError(str(e)) from None
    if index is not None and index not in C_INT_RANGE:
        raise input_map_key_not_c_int(key, index)
    return op_name, index


def input_map_pairs(input_map: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Normalise an input_map: keys are names in the file (``x``, ``x:1``, ``^x``), values
    are tensor names in the target graph (strings) or objects with a ``name``.

    As TensorFlow's importer: a tensor key is parsed as a tensor name (Python's ``int()``
    of what follows the one ``:``: ``"x: 0"`` is ``x:0``; TensorFlow's messages for what
    it refuses) and spelled ``op:index``; of two spellings of one key the later wins; the
    entries come out ordered by (node name, output index; a control key's is -1), the
    order of TensorFlow's map, in which the core names the keys no node has."""
    entries: dict[tuple[str, int], tuple[str, str]] = {}
    for key, value in checked_input_map(input_map).items():
        name = value if isinstance(value, str) else getattr(value, "name", None)
        if not isinstance(name, str):
            raise InputMapError(f"input_map value for {key!r} must be a tensor or a tensor name, got {value!r}")
        for what, text in (("key", key), ("value", name)):
            if not is_utf8(text):  # (a lone surrogate: no node of a GraphDef has such a name)
                raise InputMapError(f"input_map {what} {text!r} is not a valid name: it cannot be encoded as UTF-8")
        if key.startswith("^"):
            slot = (key[1:], -1)
            if not name.startswith("^"):
                name = "^" + name.split(":")[0]
        else:
            op_name, index = parse_input_map_key(key)
            if index == -1:
                shown = name if ":" in name else name + ":0"
                raise InputMapError(f"input_map entry ^{op_name}->{shown} between control edge and non-control edge")
            slot = (op_name, index or 0)
            key = f"{op_name}:{index or 0}"
        entries.pop(slot, None)
        entries[slot] = (key, name)
    return [entries[slot] for slot in sorted(entries)]


def run_core(
    loaded: LoadedMetaGraph,
    scope: str,
    *,
    clear_devices: bool = False,
    input_map: Sequence[tuple[str, str]] = (),
    input_map_dtypes: Sequence[int] = (),
    existing: Sequence[Any] = (),
    existing_names: Sequence[str] = (),
    frame_names: Sequence[tuple[str, str]] = (),
    threads: int = 0,
    variable_collections: Sequence[str] = (),
    variable_prefix: str = "",
    collect_output_shapes: bool = False,
) -> Any:
    """Run the core rewriter on a loaded meta graph (GIL released inside; ``threads``
    worker threads, 0 for every core). The VariableDefs of ``variable_collections`` are
    looked up on the way, their names under ``variable_prefix`` (see the result's
    ``variable_rows_of``); ``collect_output_shapes`` keeps the nodes' dropped
    ``_output_shapes`` aside (the result's ``output_shapes``). ``input_map_dtypes``, parallel
    to ``input_map``, gives each target tensor's DataType (0: not known) for the core's
    check of the edges' dtypes. Each op's OpDef is TensorFlow's registry's, else the
    file's (see ``fastmeta._op_registry``)."""
    try:
        return _core.rewrite_meta_graph(
            loaded.buffer,
            prefix=importer_prefix(scope),
            clear_devices=bool(clear_devices),  # (TensorFlow reads it for its truth)
            input_map=list(input_map),
            input_map_dtypes=list(input_map_dtypes),
            existing=list(existing),
            existing_names=list(existing_names),
            frame_names=list(frame_names),
            threads=threads,
            variable_collections=list(variable_collections),
            variable_prefix=variable_prefix,
            collect_output_shapes=collect_output_shapes,
            registry=_op_registry.core_registry(),
            depth=loaded.depth,
        )
    except ParseError as e:
        e.path = loaded.path
        raise


# The Python type of what TensorFlow's Operation.get_attr gives for an AttrValue of each
# kind, which its importer then iterates as a list of strings.
_ATTR_VALUE_TYPES = {
    "i": "int",
    "f": "float",
    "b": "bool",
    "type": "DType",
    "shape": "TensorShapeProto",
    "tensor": "TensorProto",
    "func": "NameAttrList",
}


def class_attr_error(core: Any) -> GraphError | None:
    """TensorFlow's error for the first node (in creation order) of an import whose
    ``_class`` attr TensorFlow's Python importer refuses, or None. It reads each new op's
    ``_class`` as a list of strings (``_GetColocationNames``). Without a prefix, a value
    that is no list fails: a non-empty string (``TypeError: Expected binary or unicode
    string, got 108``: its first byte), a number, a type, a shape, a tensor or a func
    (``'int' object is not iterable``), a placeholder with an ``AssertionError`` (here a
    :class:`GraphError`); an empty string or no value passes (under a prefix its C++
    importer has made such a value an empty list, as the core does). With or without
    one, a list of no strings but values of another kind fails on its first value
    (``got 1``: the first kind ``get_attr`` finds, in its order). Looked for only when
    the core saw such a ``_class``."""
    if not core.class_not_list:
        return None
    for i in range(core.num_nodes):
        node = node_def_pb2.NodeDef.FromString(core.node_def(i))
        value = node.attr.get("_class")
        if value is None:
            continue
        which = value.WhichOneof("value")
        if which == "list" and not value.list.s:
            for kind in ("i", "f", "b", "type", "shape", "tensor", "func"):
                values = getattr(value.list, kind)
                if values:
                    first = values[0]
                    # (a type as its DType's repr; a message as protobuf's text form)
                    shown = f"tf.{_core.dtype_name(first)}" if kind == "type" else repr(first)
                    return GraphTypeError(f"Expected binary or unicode string, got {shown}", node.name)
            continue
        if core.prefix:
            continue
        if which == "s" and value.s:
            return GraphTypeError(f"Expected binary or unicode string, got {value.s[0]}", node.name)
        if which in _ATTR_VALUE_TYPES:
            return GraphTypeError(f"'{_ATTR_VALUE_TYPES[which]}' object is not iterable", node.name)
        if which == "placeholder":
            return GraphError(f"Unsupported field type in {value}", node.name)
    return None


def _checked_tail(result: Any, loaded: LoadedMetaGraph) -> graph_pb2.GraphDef:
    """The rewritten GraphDef's fields after the nodes (see :func:`graph_tail`), once
    what TensorFlow's import into a fresh graph refuses is refused: its versions, its
    library, the bodies of the functions the nodes call, a ``_class`` holding no list."""
    tail = graph_tail(result, loaded)
    check_versions(tail.versions)
    check_library(tail)
    check_called_functions(result, tail.library, loaded.rest.meta_info_def.stripped_op_list.op)
    if (class_error := class_attr_error(result)) is not None:
        raise class_error
    return tail


def _rescoped_rest(loaded: LoadedMetaGraph, scope: str) -> meta_graph_pb2.MetaGraphDef:
    rest = meta_graph_pb2.MetaGraphDef()
    rest.CopyFrom(loaded.rest)
    if scope:
        if rest.HasField("saver_def"):
            rescope_proto(rest.saver_def, scope)
        for key in list(rest.collection_def):
            rest.collection_def[key].CopyFrom(rescope_collection(key, rest.collection_def[key], scope))
    return rest


def graph_tail(result: Any, loaded: LoadedMetaGraph) -> graph_pb2.GraphDef:
    """The rewritten GraphDef's fields other than the nodes (library, versions) as a
    GraphDef. The core copies the function
    library through unread below the functions' signatures, so a malformed part of it
    is found here: a ParseError naming the byte offset in ``loaded``. It is parsed at the
    GraphDef's depth in the file, for protobuf's nesting limit (see ``parse_at_depth``)."""
    try:
        tail: graph_pb2.GraphDef = parse_at_depth(result.graph_tail(), graph_pb2.GraphDef, loaded.depth + 1)
        return tail
    except DecodeError as e:
        raise decode_error(e, loaded.buffer, loaded.label, loaded.path) from None


def _rewrite(
    meta_graph_or_file: MetaGraphSource,
    import_scope: str | None,
    clear_devices: bool,
    input_map: Mapping[str, Any] | None,
    threads: int = 0,
) -> tuple[meta_graph_pb2.MetaGraphDef, Any]:
    loaded = (
        meta_graph_or_file if isinstance(meta_graph_or_file, LoadedMetaGraph) else load_meta_graph(meta_graph_or_file)
    )
    if input_map is not None and not isinstance(input_map, Mapping):
        checked_input_map(input_map)  # (TensorFlow's TypeError, before the check of unbound inputs)
    check_unbound_inputs(loaded.rest, "unbound_inputs", input_map)
    scope = validate_import_scope(import_scope)
    frames = while_frame_names(dict(loaded.rest.collection_def), scope)
    result = run_core(
        loaded,
        scope,
        clear_devices=clear_devices,
        input_map=input_map_pairs(input_map),
        frame_names=frames,
        threads=threads,
    )
    return _rescoped_rest(loaded, scope), result


def rewrite_meta_graph(
    meta_graph_or_file: MetaGraphSource,
    import_scope: str | None = None,
    clear_devices: bool = False,
    input_map: Mapping[str, Any] | None = None,
    threads: int = 0,
) -> meta_graph_pb2.MetaGraphDef:
    """Return the MetaGraphDef a fresh graph would hold after TensorFlow's
    ``import_meta_graph(meta_graph_or_file, clear_devices, import_scope, input_map=...)``.

    The GraphDef has the imported nodes in TensorFlow's creation order, names and
    inputs under the scope, canonical devices (colocated ops on their target's device),
    default attrs restored and ``_output_shapes`` dropped; collections and the
    saver_def are rescoped. ``meta_graph_or_file`` (a path, bytes, or a fastmeta or
    TensorFlow MetaGraphDef message) is never modified.

    ``input_map`` maps names in the file (``x``, ``x:1``, ``^x``) to tensors of the graph
    the result is meant for, each given by its name (``"new_x:0"``, a control key's value
    ``"new_x"`` or ``"^new_x"``) or as an object with a ``name``; nothing checks they
    exist. A file TensorFlow exported with ``export_scope`` lists the inputs it took from
    outside the scope (``$unbound_inputs_x``) in its ``unbound_inputs`` collection: as
    TensorFlow's import, the rewrite needs an input_map whose keys are exactly those
    (else :class:`InputMapError`, TensorFlow's ValueError and message).
    """
    loaded = load_meta_graph(meta_graph_or_file)
    rest, result = _rewrite(loaded, import_scope, clear_devices, input_map)
    tail = _checked_tail(result, loaded)
    try:
        rest.graph_def.ParseFromString(result.graph_def())
    except DecodeError as e:
        # A field the core copies through unread (bad UTF-8 in a function, too deep).
        raise decode_error(e, loaded.buffer, loaded.label, loaded.path) from None
    versions = imported_versions(fresh_versions(), tail)
    if versions != rest.graph_def.versions:
        rest.graph_def.versions.CopyFrom(versions)
    if not tail.library.function and rest.graph_def.HasField("library"):
        rest.graph_def.ClearField("library")  # (as TensorFlow's as_graph_def: no function)
    return rest


def rewrite_meta_graph_bytes(
    meta_graph_or_file: MetaGraphSource,
    import_scope: str | None = None,
    clear_devices: bool = False,
    input_map: Mapping[str, Any] | None = None,
    threads: int = 0,
) -> bytes:
    """:func:`rewrite_meta_graph`, serialized, without parsing the nodes in Python."""
    loaded = load_meta_graph(meta_graph_or_file)
    rest, result = _rewrite(loaded, import_scope, clear_devices, input_map, threads)
    tail = _checked_tail(result, loaded)  # (not copied into the output malformed)
    graph = result.graph_def()
    versions = imported_versions(fresh_versions(), tail)
    library_dropped = not tail.library.function and tail.HasField("library")
    if versions != tail.versions or library_dropped:
        # (The core copies the file's versions and library; a fresh graph's differ, for a
        # library with min_consumer below 12, a producer above TensorFlow's, a library
        # without functions (as_graph_def drops it): rare, parsed.)
        try:
            rest.graph_def.ParseFromString(graph)
        except DecodeError as e:
            raise decode_error(e, loaded.buffer, loaded.label, loaded.path) from None
        rest.graph_def.versions.CopyFrom(versions)
        if library_dropped:
            rest.graph_def.ClearField("library")
        return rest.SerializeToString(deterministic=True)
    header = bytearray([0x12])  # field 2 (graph_def), length-delimited
    n = len(graph)
    while n >= 0x80:
        header.append((n & 0x7F) | 0x80)
        n >>= 7
    header.append(n)
    return rest.SerializeToString(deterministic=True) + bytes(header) + graph
