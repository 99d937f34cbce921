"""Reading meta graphs: paths (memory-mapped by the core), bytes, or messages.

Binary first, then text format, as TensorFlow's ``read_meta_graph_file`` does; but
every failure is a typed fastmeta error naming the file and the byte offset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Union

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from fastmeta import _core
from fastmeta.errors import MetaGraphNotFoundError, ParseError
from fastmeta.protos import meta_graph_pb2, saved_model_pb2

__all__ = ["LoadedMetaGraph", "load_meta_graph", "read_meta_graph_file"]

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


def _is_message(obj: Any) -> bool:
    return hasattr(obj, "SerializeToString") and hasattr(obj, "DESCRIPTOR")


def _describe_binary_failure(data: Any) -> str:
    """A hint for common wrong inputs (a SavedModel passed as a meta graph)."""
    try:
        saved = saved_model_pb2.SavedModel.FromString(bytes(data))
        if saved.meta_graphs and saved.saved_model_schema_version:
            return " (this looks like a SavedModel: pass one of its meta_graphs)"
    except Exception:  # noqa: BLE001 - only a hint
        pass
    return ""


def _parse_text(data: Any, label: str, path: str | None, binary_error: Exception) -> LoadedMetaGraph:
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
        text_format.Merge(text, message)
    except text_format.ParseError as e:
        raise ParseError(
            f"Cannot parse file {label}: not a binary MetaGraphDef ({binary_error}), "
            f"and as text format: {e}",
            offset=getattr(binary_error, "offset", None),
            path=path,
        ) from None
    serialized = message.SerializeToString()
    graph_free = meta_graph_pb2.MetaGraphDef()
    graph_free.CopyFrom(message)
    graph_free.ClearField("graph_def")
    return LoadedMetaGraph(serialized, graph_free, label, path, text_format=True)


def load_meta_graph(meta_graph_or_file: MetaGraphSource) -> LoadedMetaGraph:
    """Resolve any accepted input to bytes for the core (without modifying a message)."""
    path: str | None = None
    if _is_message(meta_graph_or_file):
        name = meta_graph_or_file.DESCRIPTOR.full_name
        if not name.endswith("MetaGraphDef"):
            raise ParseError(f"expected a MetaGraphDef message, got {name}")
        buffer: Any = meta_graph_or_file.SerializeToString()
        label = "<MetaGraphDef message>"
    elif isinstance(meta_graph_or_file, (bytes, bytearray, memoryview)):
        buffer = meta_graph_or_file
        label = "<bytes>"
    elif isinstance(meta_graph_or_file, (str, os.PathLike)):
        path = os.fspath(meta_graph_or_file)
        if not os.path.exists(path):
            raise MetaGraphNotFoundError(f"File does not exist. Received: {path}.", path)
        buffer = _core.MappedFile(path)
        label = path
    else:
        raise TypeError(
            "meta_graph_or_file must be a path, bytes or a MetaGraphDef message, "
            f"got {type(meta_graph_or_file).__name__}"
        )
    try:
        rest = meta_graph_pb2.MetaGraphDef.FromString(_core.meta_graph_rest(buffer))
    except (ParseError, DecodeError) as e:
        if isinstance(e, ParseError) and path is not None:
            e.path = path
        return _parse_text(buffer, label, path, e)
    return LoadedMetaGraph(buffer, rest, label, path)


def read_meta_graph_file(filename: Union[str, "os.PathLike[str]"]) -> meta_graph_pb2.MetaGraphDef:
    """Read a MetaGraphDef file (binary, else text format) into a fastmeta message.

    Raises MetaGraphNotFoundError when the file does not exist and ParseError (naming
    the file and byte offset) when it is neither a binary nor a text MetaGraphDef.
    """
    loaded = load_meta_graph(os.fspath(filename))
    try:
        return meta_graph_pb2.MetaGraphDef.FromString(bytes(loaded.buffer))
    except DecodeError:
        # The core accepted the top level; a deeper field is malformed. Let the core
        # name the offset.
        _core.rewrite_meta_graph(loaded.buffer, add_default_attrs=False)
        raise
