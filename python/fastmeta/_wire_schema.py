"""The core's WireSchema of a message type (the field kinds protobuf's parser tells
apart), made from the descriptors protobuf parses with."""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.descriptor import FieldDescriptor as FD

__all__ = ["wire_schema"]

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


@functools.cache
def wire_schema(root: Descriptor) -> Any:
    """The core's WireSchema of ``root`` (message 0) and the messages it reaches, from
    the descriptors protobuf parses with (made once per root). A `string` field whose
    UTF-8 protobuf does not check is bytes to it."""
    from fastmeta import _core

    index: dict[str, int] = {root.full_name: 0}
    order = [root]
    tables: list[list[tuple[int, int, bool, int]]] = []
    for desc in order:  # (grows as messages are found)
        fields = []
        for f in desc.fields:
            kind = _WIRE_KINDS.get(f.type, _WIRE_OTHER)
            if f.type == FD.TYPE_STRING and not _checks_utf8(desc.file):
                kind = _WIRE_BYTES
            message = 0
            if kind == 6:
                sub = f.message_type
                if sub.full_name not in index:
                    index[sub.full_name] = len(order)
                    order.append(sub)
                message = index[sub.full_name]
            fields.append((f.number, kind, f.is_repeated, message))
        tables.append(fields)
    return _core.WireSchema(tables)
