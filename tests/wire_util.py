"""Protobuf wire-format building blocks for tests that put files together by hand (raw
fields a protobuf message would re-encode, or messages of formats fastmeta has no
classes for)."""

from __future__ import annotations


def varint(v: int) -> bytes:
    """``v`` as a base-128 varint; a negative value as its 64-bit two's complement, as
    protobuf encodes a negative int32/int64."""
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def vi(number: int, value: int) -> bytes:
    """A varint field."""
    return varint(number << 3) + varint(value)
