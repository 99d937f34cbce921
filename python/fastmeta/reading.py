"""Reading meta graphs: paths (memory-mapped by the core), bytes, or messages.

Binary first, then text format, as TensorFlow's ``read_meta_graph_file`` does; but
every failure is a typed fastmeta error naming the file and the byte offset.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
from dataclasses import dataclass
from typing import Any, Union

from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from google.protobuf.message import DecodeError

from fastmeta import _core
from fastmeta._wire_schema import text_schema, wire_schema
from fastmeta.errors import Error, FileError, FileParseError, MetaGraphNotFoundError, ParseError
from fastmeta.protos import graph_pb2, meta_graph_pb2, saved_model_pb2

__all__ = [
    "LoadedMetaGraph",
    "check_unchanged",
    "decode_error",
    "load_meta_graph",
    "locate_decode_error",
    "parse_at_depth",
    "read_meta_graph_file",
    "text_error",
]

MetaGraphSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]


@dataclass
class LoadedMetaGraph:
    """A meta graph ready for the core: its serialized bytes (``buffer``: a memory map,
    bytes or a buffer; never a caller's message) and everything but the GraphDef,
    parsed (``rest``)."""

    buffer: Any
    rest: meta_graph_pb2.MetaGraphDef
    label: str
    path: str | None
    text_format: bool = False
    #: How deep the MetaGraphDef lies in the file protobuf parses (1: a SavedModel's meta
    #: graph), for protobuf's nesting limit, which counts from the file's root.
    depth: int = 0


def _is_message(obj: Any) -> bool:
    return hasattr(obj, "SerializeToString") and hasattr(obj, "DESCRIPTOR")


def _describe_binary_failure(data: Any) -> str:
    """A hint for common wrong inputs (a SavedModel passed as a meta graph)."""
    try:
        saved = saved_model_pb2.SavedModel.FromString(bytes(data))
        if saved.meta_graphs and saved.saved_model_schema_version:
            return " (this looks like a SavedModel: pass one of its meta_graphs)"
    except Exception:
        pass
    return ""


def _describe_text_failure(text: str) -> str:
    """A hint for a text SavedModel (``saved_model.pbtxt``) passed as a meta graph."""
    try:
        saved = saved_model_pb2.SavedModel()
        text_format.Merge(text, saved, descriptor_pool=tensorflow_alias_pool())
        if saved.meta_graphs:
            return " (this looks like a text SavedModel: pass one of its meta_graphs)"
    except Exception:
        pass
    return ""


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise IndexError(pos)
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def locate_decode_error(data: bytes, descriptor: Any, base: int = 0, depth: int = 0) -> tuple[int, str] | None:
    """Where protobuf's decoder gave up without saying: the first string field with
    invalid UTF-8, message nested past protobuf's depth limit (100), or malformed
    wire data, found by walking the wire format with the message's descriptor.
    Returns (byte offset, what) or None. Only used on the error path."""
    pos = 0
    try:
        while pos < len(data):
            start = pos
            tag, pos = _varint(data, pos)
            wire_type = tag & 7
            field = descriptor.fields_by_number.get(tag >> 3)
            if wire_type == 0:
                _, pos = _varint(data, pos)
            elif wire_type in (1, 5):
                pos += 8 if wire_type == 1 else 4
            elif wire_type == 2:
                length, pos = _varint(data, pos)
                payload = data[pos : pos + length]
                if len(payload) != length:
                    return base + start, "length prefix past the end of its message"
                if field is not None and field.type == field.TYPE_STRING:
                    try:
                        payload.decode("utf-8")
                    except UnicodeDecodeError:
                        return base + pos, f"{field.full_name} is not valid UTF-8"
                elif field is not None and field.type == field.TYPE_MESSAGE:
                    if depth >= 99:
                        what = f"{field.full_name}: nested deeper than protobuf's limit (100)"
                        return base + start, what
                    found = locate_decode_error(payload, field.message_type, base + pos, depth + 1)
                    if found is not None:
                        return found
                pos += length
            else:
                return None  # groups: the core reports them
            if pos > len(data):
                return base + start, "truncated field"
    except IndexError:
        return base + pos, "truncated or overlong varint"
    return None


def check_unchanged(buffer: Any) -> None:
    """Raise :class:`fastmeta.errors.FileChangedError` if ``buffer`` is a memory-mapped
    file (or a memoryview of one) that was truncated or written to since it was mapped.
    Call it once its bytes have been consumed, and before raising an error they caused:
    a truncated mapping reads as zeros past the file's new end."""
    exporter = buffer.obj if isinstance(buffer, memoryview) else buffer
    if isinstance(exporter, _core.MappedFile):
        exporter.check()


def decode_error(error: Exception, data: Any, label: str, path: str | None) -> ParseError:
    """A ParseError naming the file and byte offset for protobuf's bare DecodeError
    (a FileChangedError instead when the bytes were a file that changed meanwhile)."""
    check_unchanged(data)
    found = locate_decode_error(bytes(data), meta_graph_pb2.MetaGraphDef.DESCRIPTOR)
    if found is None:
        return ParseError(f"{label}: not a valid MetaGraphDef ({error})", path=path)
    offset, what = found
    return ParseError(f"{label}: {what} (at byte offset {offset})", offset=offset, path=path)


@functools.lru_cache(maxsize=1)
def tensorflow_alias_pool() -> descriptor_pool.DescriptorPool:
    """A private descriptor pool holding fastmeta's messages under TensorFlow's
    ``tensorflow.*`` names, so text format can expand ``Any`` values such as
    ``[type.googleapis.com/tensorflow.TensorShapeProto] {...}`` without TensorFlow
    (the wire formats are identical). It never touches the default pool, so it
    lives beside TensorFlow's own descriptors."""
    import fastmeta.protos as protos

    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for info in pkgutil.iter_modules(protos.__path__):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"fastmeta.protos.{info.name}")
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        files[proto.name] = proto

    def rename(type_name: str) -> str:
        return ".tensorflow." + type_name[len(".fastmeta.") :] if type_name.startswith(".fastmeta.") else type_name

    def fix_message(message: descriptor_pb2.DescriptorProto) -> None:
        for field in message.field:
            if field.type_name:
                field.type_name = rename(field.type_name)
        for nested in message.nested_type:
            fix_message(nested)

    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str) -> None:
        if name in added:
            return
        if name not in files:
            # A well-known dependency (google/protobuf/any.proto): copied as it is.
            external = descriptor_pb2.FileDescriptorProto()
            descriptor_pool.Default().FindFileByName(name).CopyToProto(external)
            pool.Add(external)
            added.add(name)
            return
        proto = files[name]
        for dep in proto.dependency:
            add(dep)
        alias = descriptor_pb2.FileDescriptorProto()
        alias.CopyFrom(proto)
        alias.name = "fastmeta_tensorflow_alias/" + proto.name
        alias.package = "tensorflow"
        del alias.dependency[:]
        alias.dependency.extend(("fastmeta_tensorflow_alias/" + d) if d in files else d for d in proto.dependency)
        for message in alias.message_type:
            fix_message(message)
        pool.Add(alias)
        added.add(name)

    for name in sorted(files):
        add(name)
    return pool


def text_to_binary(data: Any, message: Any, strict: bool = False) -> Any:
    """The binary form of text-format ``data`` as a ``message`` (fastmeta's MetaGraphDef or
    SavedModel class), converted by the core, or None where protobuf's own text reader
    must read it (what the core's reader leaves out: see text_format.h); whatever the core
    converts, protobuf reads as the same message: with ``text_format.Merge``, or with
    ``text_format.Parse`` when ``strict`` (which refuses a singular field given twice)."""
    schema = text_schema(meta_graph_pb2.MetaGraphDef.DESCRIPTOR, saved_model_pb2.SavedModel.DESCRIPTOR)
    return _core.text_to_binary(data, schema, message.DESCRIPTOR.full_name, strict)


# The most characters of protobuf's text-format error kept in a message (it quotes the
# offending token whole: a 10 MB string literal in the wrong place made a 20 MB message).
_TEXT_ERROR_LIMIT = 1000


def text_error(error: Exception) -> str:
    """protobuf's text-format refusal ``error`` (or the RecursionError of its recursive
    parser) as a message's reason, its middle cut when it is long."""
    if not isinstance(error, text_format.ParseError):
        return "messages nested too deeply to parse"
    text = str(error)
    if len(text) <= _TEXT_ERROR_LIMIT:
        return text
    keep = _TEXT_ERROR_LIMIT // 2
    return f"{text[:keep]} [... {len(text) - 2 * keep} characters ...] {text[-keep:]}"


def _parse_text(data: Any, label: str, path: str | None, binary_error: Exception) -> LoadedMetaGraph:
    if isinstance(binary_error, ParseError):
        binary_error = ParseError(binary_error.args[0], binary_error.offset)  # (its path: `label` already)
    fast = text_to_binary(data, meta_graph_pb2.MetaGraphDef)
    if fast is not None:
        return LoadedMetaGraph(fast, _read_rest(fast), label, path, text_format=True)
    raw = bytes(data)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        hint = _describe_binary_failure(raw)
        raise ParseError(
            f"{label}: not a binary MetaGraphDef ({binary_error}){hint}, nor text format "
            f"(invalid UTF-8 at byte offset {e.start})",
            offset=getattr(binary_error, "offset", e.start),
            path=path,
        ) from None
    message = meta_graph_pb2.MetaGraphDef()
    try:
        text_format.Merge(text, message, descriptor_pool=tensorflow_alias_pool())
    except (text_format.ParseError, RecursionError) as e:
        # (protobuf's text parser recurses per nested message: a few hundred levels
        # exhaust Python's stack, long before the binary format's limit of 100 applies)
        what = text_error(e) + _describe_text_failure(text)
        raise ParseError(
            f"Cannot parse file {label}: not a binary MetaGraphDef ({binary_error}), and as text format: {what}",
            offset=getattr(binary_error, "offset", None),
            path=path,
        ) from None
    serialized = message.SerializeToString()
    graph_free = meta_graph_pb2.MetaGraphDef()
    graph_free.CopyFrom(message)
    graph_free.ClearField("graph_def")
    return LoadedMetaGraph(serialized, graph_free, label, path, text_format=True)


def _length_delimited(number: int, payload: bytes) -> bytes:
    out = bytearray([number << 3 | 2])
    n = len(payload)
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + payload


def parse_at_depth(data: Any, message: Any, depth: int) -> Any:
    """protobuf's parse of ``data`` as a ``message`` (fastmeta's GraphDef or MetaGraphDef)
    lying ``depth`` levels below its file's root message: its nesting limit (100) counts
    from there, so ``data`` is parsed inside the messages that hold it in the file (a
    MetaGraphDef holds the GraphDef, a SavedModel the MetaGraphDef)."""
    if depth <= 0:
        return message.FromString(bytes(data))
    if message is graph_pb2.GraphDef:
        return parse_at_depth(_length_delimited(2, bytes(data)), meta_graph_pb2.MetaGraphDef, depth - 1).graph_def
    if message is meta_graph_pb2.MetaGraphDef and depth == 1:
        return saved_model_pb2.SavedModel.FromString(_length_delimited(2, bytes(data))).meta_graphs[0]
    raise ValueError(f"no message holds a {message.DESCRIPTOR.full_name} {depth} levels deep")


def _read_rest(buffer: Any, depth: int = 0) -> meta_graph_pb2.MetaGraphDef:
    """The MetaGraphDef's fields other than graph_def, parsed straight from the buffer
    (protobuf merges the ranges as it would read them back to back). ``depth``: the
    MetaGraphDef's in its file (see :class:`LoadedMetaGraph`). What protobuf refuses there
    is a ParseError naming the byte offset (see :func:`_rest_parse_error`)."""
    view = memoryview(buffer)
    ranges = _core.meta_graph_rest_ranges(buffer, depth=depth)
    try:
        if depth > 0:
            joined = b"".join(view[begin:end] for begin, end in ranges)
            return parse_at_depth(joined, meta_graph_pb2.MetaGraphDef, depth)
        rest = meta_graph_pb2.MetaGraphDef()
        for begin, end in ranges:
            rest.MergeFromString(view[begin:end])
        return rest
    except DecodeError as e:
        raise _rest_parse_error(e, view, ranges, depth) from None


def _rest_parse_error(error: DecodeError, view: memoryview, ranges: list[tuple[int, int]], depth: int) -> Exception:
    """Where protobuf's parse of the MetaGraphDef's fields other than graph_def failed
    (it does not say): the core's wire check of each range against the MetaGraphDef's
    schema (what protobuf refuses, it refuses) names the problem and its byte offset in
    the buffer. (The check never disagrees; protobuf's own error if it did.)"""
    schema = wire_schema(meta_graph_pb2.MetaGraphDef.DESCRIPTOR)
    for begin, end in ranges:
        try:
            schema.check(0, view[begin:end], depth=depth)
        except ParseError as e:
            offset = begin + (e.offset or 0)
            return ParseError(f"malformed MetaGraphDef: {e.reason} (at byte offset {offset})", offset=offset)
    return error


def load_meta_graph(meta_graph_or_file: MetaGraphSource) -> LoadedMetaGraph:
    """Resolve any accepted input to bytes for the core (without modifying a message).
    A :class:`LoadedMetaGraph` (a SavedModel's meta graph, say) is taken as it is."""
    path: str | None = None
    if isinstance(meta_graph_or_file, LoadedMetaGraph):
        return meta_graph_or_file
    if _is_message(meta_graph_or_file):
        message: Any = meta_graph_or_file
        name = message.DESCRIPTOR.full_name
        if not name.endswith("MetaGraphDef"):
            raise ParseError(f"expected a MetaGraphDef message, got {name}")
        buffer: Any = message.SerializeToString()
        label = "<MetaGraphDef message>"
    elif isinstance(meta_graph_or_file, (bytes, bytearray, memoryview)):
        buffer = meta_graph_or_file
        label = "<bytes>"
    elif isinstance(meta_graph_or_file, (str, os.PathLike)):
        path = os.fspath(meta_graph_or_file)
        if not os.path.exists(path):
            raise MetaGraphNotFoundError(f"File does not exist. Received: {path}.", path)
        if os.path.isdir(path) and any(
            os.path.exists(os.path.join(path, name)) for name in ("saved_model.pb", "saved_model.pbtxt")
        ):
            raise FileError(
                f"cannot read {path}: it is a SavedModel directory, not a meta graph file "
                "(load it with fastmeta.saved_model.load(export_dir, tags), or pass one of the "
                "MetaGraphDefs in its saved_model.pb; `fastmeta inspect DIR` lists them)",
                path,
            )
        buffer = _core.MappedFile(os.fsencode(path))  # (bytes: also a name that is not UTF-8)
        label = path
    else:
        # Any other object with the buffer protocol (mmap, numpy array, array.array):
        # used in place, as its bytes.
        try:
            view = memoryview(meta_graph_or_file)
        except TypeError:
            raise TypeError(
                "meta_graph_or_file must be a path, a bytes-like object or a MetaGraphDef "
                f"message, got {type(meta_graph_or_file).__name__}"
            ) from None
        if not view.c_contiguous:
            raise TypeError(f"meta_graph_or_file: a {type(meta_graph_or_file).__name__} buffer that is not contiguous")
        buffer = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        label = f"<{type(meta_graph_or_file).__name__} buffer>"
    try:
        loaded = _parse_rest(buffer, label, path)
    except ParseError as e:
        check_unchanged(buffer)  # (the error may be the zeros' of a truncated file)
        if path is None or isinstance(e, OSError):
            raise
        # (a file TensorFlow's reader cannot parse is its OSError)
        raise FileParseError(e.args[0], e.offset, path) from None
    except Exception:
        check_unchanged(buffer)
        raise
    check_unchanged(buffer)
    return loaded


def _parse_rest(buffer: Any, label: str, path: str | None) -> LoadedMetaGraph:
    try:
        rest = _read_rest(buffer)
    except (ParseError, DecodeError) as e:
        if isinstance(e, ParseError) and path is not None:
            e.path = path
        return _parse_text(buffer, label, path, e)
    if bytes(memoryview(buffer)[:1]) == b"\x08":
        # Field 1 as a varint never starts a MetaGraphDef; it does start a SavedModel.
        hint = _describe_binary_failure(buffer)
        if hint:
            raise ParseError(f"{label}: not a MetaGraphDef{hint}", offset=0, path=path)
    return LoadedMetaGraph(buffer, rest, label, path)


def read_meta_graph_file(filename: str | os.PathLike[str]) -> meta_graph_pb2.MetaGraphDef:
    """Read a MetaGraphDef file (binary, else text format) into a fastmeta message.

    Raises MetaGraphNotFoundError when the file does not exist and ParseError (naming
    the file and byte offset) when it is neither a binary nor a text MetaGraphDef.
    """
    loaded = load_meta_graph(os.fspath(filename))
    try:
        data = bytes(loaded.buffer)
        check_unchanged(loaded.buffer)
        return meta_graph_pb2.MetaGraphDef.FromString(data)
    except DecodeError as e:
        # The core accepted the top level; a deeper field is malformed. Let the core
        # name the offset, else find it here (a string field the core does not read).
        try:
            _core.rewrite_meta_graph(loaded.buffer, add_default_attrs=False)
        except ParseError as core_error:
            core_error.path = loaded.path
            raise
        except Error:
            pass  # a graph-level problem is not what failed the decode
        raise decode_error(e, loaded.buffer, loaded.label, loaded.path) from None
