"""The message schemas the core takes, made from the descriptors protobuf parses with:
the WireSchema of a message type (the field kinds protobuf's parser tells apart) and the
text-format reader's description (field names, types, enums)."""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.descriptor import FieldDescriptor as FD

__all__ = ["reachable", "text_schema", "wire_schema"]

# WireSchema kinds by FieldDescriptor type (the rest: never surely parsed).
_WIRE_KINDS = {
    **dict.fromkeys((FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64), 1),
    **dict.fromkeys((FD.TYPE_SINT32, FD.TYPE_SINT64, FD.TYPE_BOOL, FD.TYPE_ENUM), 1),
    **dict.fromkeys((FD.TYPE_DOUBLE, FD.TYPE_FIXED64, FD.TYPE_SFIXED64), 2),
    **dict.fromkeys((FD.TYPE_FLOAT, FD.TYPE_FIXED32, FD.TYPE_SFIXED32), 3),
    FD.TYPE_STRING: 4,
    FD.TYPE_BYTES: 5,
    FD.TYPE_MESSAGE: 6,
}
_WIRE_BYTES = 5
_WIRE_OTHER = 7


@functools.cache
def _checks_utf8(file: FileDescriptor) -> bool:
    """Whether protobuf checks the UTF-8 of the file's `string` fields: proto3's, not
    proto2's (GraphDebugInfo is proto2, as TensorFlow's)."""
    return descriptor_pb2.FileDescriptorProto.FromString(file.serialized_pb).syntax == "proto3"


def reachable(*roots: Descriptor) -> list[Descriptor]:
    """``roots`` and every message type their fields reach, each once, breadth first
    (``roots`` first, in order)."""
    order = list({r.full_name: r for r in roots}.values())
    seen = {d.full_name for d in order}
    for desc in order:  # (grows as messages are found)
        for f in desc.fields:
            sub = f.message_type
            if sub is not None and sub.full_name not in seen:
                seen.add(sub.full_name)
                order.append(sub)
    return order


@functools.cache
def wire_schema(root: Descriptor) -> Any:
    """The core's WireSchema of ``root`` (message 0) and the messages it reaches, from
    the descriptors protobuf parses with (made once per root). A `string` field whose
    UTF-8 protobuf does not check is bytes to it. The fields' and messages' names name a
    string field whose UTF-8 is invalid in the check's error ("MetaInfoDef.tags is not
    valid UTF-8")."""
    from fastmeta import _core

    order = reachable(root)
    index = {d.full_name: i for i, d in enumerate(order)}
    tables: list[list[tuple[int, int, bool, int, str]]] = []
    for desc in order:
        fields = []
        for f in desc.fields:
            kind = _WIRE_KINDS.get(f.type, _WIRE_OTHER)
            if f.type == FD.TYPE_STRING and not _checks_utf8(desc.file):
                kind = _WIRE_BYTES
            message = index[f.message_type.full_name] if kind == 6 else 0
            fields.append((f.number, kind, f.is_repeated, message, f.name))
        tables.append(fields)
    return _core.WireSchema(tables, [_message_name(d) for d in order])


def _message_name(desc: Descriptor) -> str:
    """A message type's name in errors; a map's entry is named for its field
    ("MetaGraphDef.collection_def", whose fields are key and value)."""
    parent = desc.containing_type
    if parent is not None and desc.GetOptions().map_entry:
        for f in parent.fields:
            if f.message_type is desc:
                return f"{parent.name}.{f.name}"
    return desc.name


@functools.cache
def text_schema(*roots: Descriptor) -> str:
    """The core's text-format reader's description (``cpp/include/fastmeta/text_format.h``
    gives the form) of ``roots`` and the message and enum types they reach: field names,
    numbers, types, which repeated fields are packed, which fields keep a default value
    set, oneofs and map entries."""
    messages = reachable(*roots)
    message_index = {d.full_name: i for i, d in enumerate(messages)}
    enums = list({f.enum_type.full_name: f.enum_type for d in messages for f in d.fields if f.enum_type}.values())
    enum_index = {e.full_name: i for i, e in enumerate(enums)}
    lines = []
    for desc in messages:
        lines.append(f"M {desc.full_name} {int(desc.GetOptions().map_entry)}")
        for f in desc.fields:
            ref = (
                message_index[f.message_type.full_name]
                if f.message_type is not None
                else enum_index[f.enum_type.full_name]
                if f.enum_type is not None
                else -1
            )
            oneof = f.containing_oneof.index if f.containing_oneof is not None else -1
            lines.append(
                f"F {f.name} {f.number} {f.type} {int(f.is_repeated)} {int(f.is_packed)} "
                f"{int(f.has_presence)} {oneof} {ref}"
            )
    for enum in enums:
        lines.append(f"E {enum.full_name}")
        lines.extend(f"V {v.name} {v.number}" for v in enum.values)
    return "\n".join(lines)
