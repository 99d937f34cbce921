"""Hand-built checkpoint files for tests: a one-data-block sorted string table (what
both checkpoint formats store their entries in), and a V2 bundle (index + data files)
from BundleEntryProtos, with the CRCs TensorFlow's readers check."""

from __future__ import annotations

import struct
import sys
from collections.abc import Sequence
from pathlib import Path

from fastmeta import _core
from fastmeta.protos import tensor_bundle_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
from make_seeds import varint

_TABLE_MAGIC = 0xDB4775248B80FB57


def masked_crc(data: bytes) -> int:
    """CRC32C of ``data``, masked as LevelDB tables and tensor bundles store it."""
    crc = _core.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _block(entries: Sequence[tuple[bytes, bytes]]) -> bytes:
    out = b"".join(varint(0) + varint(len(k)) + varint(len(v)) + k + v for k, v in entries)
    return out + struct.pack("<II", 0, 1)


def table(entries: Sequence[tuple[bytes, bytes]]) -> bytes:
    """A one-data-block sorted string table of ``entries`` (sorted here)."""
    entries = sorted(entries)
    out = bytearray()

    def add(contents: bytes) -> bytes:
        handle = varint(len(out)) + varint(len(contents))
        out.extend(contents + b"\0" + struct.pack("<I", masked_crc(contents + b"\0")))
        return handle

    data = add(_block(entries))
    meta_index = add(_block([]))
    index = add(_block([(entries[-1][0] + b"\xff", data)]))
    footer = (meta_index + index).ljust(40, b"\0") + struct.pack("<Q", _TABLE_MAGIC)
    return bytes(out) + footer


def v2_bundle(prefix: Path, tensors: Sequence[tuple[str, int, Sequence[int], bytes]], endianness: int = 0) -> str:
    """A one-shard V2 checkpoint at ``prefix`` of ``(name, dtype enum, shape, stored
    bytes)``, the data file holding the bytes one after the other; ``endianness`` is
    the header's (1: BIG). A string tensor's bytes are :func:`string_tensor`'s."""
    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=1, endianness=endianness)  # type: ignore[arg-type]
    header.version.producer = 1
    entries = [(b"", header.SerializeToString())]
    data = b""
    for name, dtype, shape, stored in tensors:
        if dtype == 7:  # (DT_STRING: the checksum string_tensor left at the end)
            stored, crc = stored[:-4], struct.unpack("<I", stored[-4:])[0]
        else:
            crc = masked_crc(stored)
        entry = tensor_bundle_pb2.BundleEntryProto(
            dtype=dtype,  # type: ignore[arg-type]
            shard_id=0,
            offset=len(data),
            size=len(stored),
            crc32c=crc,
        )
        for d in shape:
            entry.shape.dim.add(size=d)
        entries.append((name.encode(), entry.SerializeToString()))
        data += stored
    Path(f"{prefix}.index").write_bytes(table(entries))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(data)
    return str(prefix)


def string_tensor(values: Sequence[bytes], big_endian: bool = False) -> bytes:
    """A string tensor as a writer of that byte order stores it: the lengths (varints),
    their masked checksum (over each length as a 4-byte integer in that order, stored
    in that order), then the bytes; for :func:`v2_bundle`, with the entry's checksum
    (over those integers, the stored length checksum and the bytes) appended."""
    order = ">" if big_endian else "<"
    lengths = b"".join(struct.pack(f"{order}I", len(v)) for v in values)
    length_crc = struct.pack(f"{order}I", masked_crc(lengths))
    stored = b"".join(varint(len(v)) for v in values) + length_crc + b"".join(values)
    return stored + struct.pack("<I", masked_crc(lengths + length_crc + b"".join(values)))
