"""Build seed corpora for the fuzzers from the committed test fixtures.

    python fuzz/make_seeds.py OUT_DIR

writes OUT_DIR/meta/ (every tests/fixtures/corpus/*.meta, the text-format fixtures,
small hand-made graphs exercising scopes, colocation, control inputs and while
loops, and hostile samples) and OUT_DIR/index/ (every checkpoint .index fixture,
prefixed with the checkpoint harness's mode byte 0, and small payloads for the
wrapped modes 1-3) and OUT_DIR/ckpt/ (each fixture checkpoint whole for the atheris
harness: mode byte 0, the index length in 2 bytes little endian, the index, the data
shard; single-shard checkpoints only) and OUT_DIR/text/ (small text-format meta graphs
using each construct of the format, for the atheris text harness). Plain files, one input each; libFuzzer and
atheris both take the directories as corpora.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "corpus"


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


def field(number: int, payload: bytes | int) -> bytes:
    """A length-delimited field (bytes) or a varint field (int)."""
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def node(
    name: str | bytes,
    op: str = "NoOp",
    inputs: tuple[str, ...] = (),
    device: str = "",
    attrs: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    raw_name = name if isinstance(name, bytes) else name.encode()
    body = field(1, raw_name) + field(2, op.encode())
    body += b"".join(field(3, i.encode()) for i in inputs)
    if device:
        body += field(4, device.encode())
    for key, value in attrs:
        body += field(5, field(1, key.encode()) + field(2, value))
    return field(1, body)


def meta(*nodes: bytes, op_list: bytes = b"") -> bytes:
    info = field(1, field(2, op_list)) if op_list else b""
    return info + field(2, b"".join(nodes))


def class_attr(*targets: str) -> bytes:
    return field(1, b"".join(field(2, f"loc:@{t}".encode()) for t in targets))


def handmade() -> dict[str, bytes]:
    """Small graphs that reach every stage of the rewriter quickly."""
    op_def = field(1, field(1, b"Const") + field(4, field(1, b"dtype") + field(3, field(6, 1))))
    while_loop = meta(
        node("enter", "Enter", ("c",), attrs=(("frame_name", field(2, b"f")),)),
        node("merge", "Merge", ("enter", "next")),
        node("next", "NextIteration", ("merge",)),
        node("c", "Const"),
        op_list=op_def,
    )
    return {
        "tiny": meta(node("a")),
        "chain": meta(
            node("a", "Const"),
            node("b", "Identity", ("a", "^c")),
            node("c"),
            node("d", "AddN", ("b", "a:1", "^a")),
        ),
        "colocated": meta(
            node("v", "VariableV2", device="/job:w/task:1/gpu:0"),
            node("r", "Identity", ("v",), attrs=(("_class", class_attr("v")),)),
            node("s", "Assign", ("v", "r"), device="/cpu:0"),
        ),
        "while_loop": while_loop,
        "defaults": meta(node("k", "Const", attrs=(("dtype", b""),)), op_list=op_def),
        "nested_names": meta(node("outer/inner/x"), node("outer/inner"), node("a>b", "NoOp", ("^outer/inner",))),
        "unknown_fields": meta(node("a") + field(99, b"zz"), node("b")) + field(77, 5),
        # The wire format at protobuf's edges (tests/test_wire_vs_protobuf.py): a 10-byte
        # varint with bits past 64, NodeDef fields 1-5 of another wire type (unknown
        # fields), a 5-byte overlong tag and length, groups nested to the limit.
        "wire_edges": meta(
            node("a")
            + field(1, field(1, b"b") + field(2, b"NoOp") + field(1, 3) + field(3, 4) + field(5, 5))
            + field(1, field(1, b"c") + field(2, b"NoOp") + b"\xf8\x86\x80\x80\x00" + b"\x81" + b"\x80" * 8 + b"\x7e")
            + field(1, field(1, b"d") + field(2, b"NoOp") + b"\x7b" * 98 + b"\x7c" * 98)
        )
        + b"\x12\x80\x80\x80\x80\x00",
        # Hostile samples: each must be a clean typed error.
        "dup": meta(node("a"), node("a")),
        "cycle": meta(node("a", "NoOp", ("^b",)), node("b", "NoOp", ("^a",))),
        "bad_utf8": meta(node(b"a\xff")),
        "past_end": b"\x12\xff\xff\x03" + node("a"),
        "overlong": b"\x12" + b"\xff" * 11,
        "wrong_wire": field(2, 5) + meta(node("a", "NoOp") + field(1, field(2, b"NoOp") + field(4, 1))),
        "groups_too_deep": meta(field(1, field(1, b"a") + field(2, b"NoOp") + b"\x7b" * 99 + b"\x7c" * 99)),
        "tag_past_2_29": meta(node("a") + b"\x7b\x80\x80\x80\x80\x10\x00\x7c"),
        "tag_6_bytes": meta(node("a")) + b"\xf8\x86\x80\x80\x80\x00\x01",
        "text": b'graph_def { node { name: "a" op: "NoOp" } }',
        "saved_model": field(1, 1) + field(2, meta(node("a"))),
    }


def tf2_fields() -> dict[str, bytes]:
    """Meta graphs with a GraphDef.debug_info and a MetaGraphDef.object_graph_def (a TF2
    SavedModel's object graph: a module, a variable, a function and its concrete function,
    with nested StructuredValues), and a graph of 40 nodes under scopes, large enough for
    the import's look-up of clashes from the target's names (a target of at most 4 names)."""
    from fastmeta.protos import graph_debug_info_pb2, meta_graph_pb2

    m = meta_graph_pb2.MetaGraphDef()
    for name, op, inputs in (("x", "Placeholder", ()), ("w", "VarHandleOp", ()), ("y", "NoOp", ("^x", "^w"))):
        m.graph_def.node.add(name=name, op=op, input=inputs)
    m.graph_def.node[0].attr["dtype"].type = 1
    m.graph_def.node[1].attr["dtype"].type = 1
    m.graph_def.node[1].attr["shape"].shape.dim.add(size=2)
    info = m.graph_def.debug_info
    info.files.extend(["model.py", "lib/\xe9.py"])
    frame = info.frames_by_id[0x1234_5678_9ABC_DEF0]
    frame.file_index, frame.line, frame.col, frame.func, frame.code = 1, 7, 3, "f", "y = g(x)"
    info.traces_by_id[1].frame_id.extend([0x1234_5678_9ABC_DEF0, 1, 2])
    info.name_to_trace_id["y"] = 1
    info.traces["x"].file_line_cols.add(file_index=0, line=1)
    og = m.object_graph_def
    root = og.nodes.add()
    root.user_object.identifier = "_generic_user_object"
    root.children.add(node_id=1, local_name="w")
    root.children.add(node_id=2, local_name="__call__")
    var = og.nodes.add()
    var.variable.dtype, var.variable.name, var.variable.trainable = 1, "w", True
    var.variable.shape.dim.add(size=2)
    fn = og.nodes.add()
    fn.function.concrete_functions.append("__inference_call_7")
    fn.function.function_spec.is_method = True
    conc = og.concrete_functions["__inference_call_7"]
    conc.bound_inputs.append(1)
    sig = conc.canonicalized_input_signature.tuple_value.values.add()
    spec = sig.tuple_value.values.add().tensor_spec_value
    spec.name, spec.dtype = "x", 1
    spec.shape.dim.add(size=-1)
    conc.output_signature.dict_value.fields["y"].tensor_spec_value.dtype = 1
    both = m.SerializeToString()
    debug_only = meta_graph_pb2.MetaGraphDef(graph_def=m.graph_def).SerializeToString()
    objects_only = meta_graph_pb2.MetaGraphDef(object_graph_def=og).SerializeToString()
    wide = meta(
        *(node(f"s{k % 3}/n{k}", "NoOp", (f"^s{(k - 1) % 3}/n{k - 1}",) if k else ()) for k in range(40)),
        node("s1", "NoOp", ("^s0/n0", "^s2/n5")),
    )
    assert graph_debug_info_pb2.GraphDebugInfo.FromString(info.SerializeToString()) == info
    return {"tf2_both": both, "debug_info": debug_only, "object_graph": objects_only, "wide_scoped": wide}


def texts() -> dict[str, bytes]:
    """Small text-format meta graphs, between them every construct the core's text reader
    reads (and some it declines)."""
    return {
        "graph": b"graph_def { node { name: 'a' op: 'Const' device: '/cpu:0' attr { key: 'dtype' value { "
        b"type: DT_FLOAT } } attr { key: 'value' value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 2 "
        b"} } float_val: [1.5, -2e-3f, inf, nan] } } } } node { name: 'b' input: ['a', '^a'] } versions { "
        b"producer: 27 bad_consumers: [1, 0x2] } }",
        "info": rb"""meta_info_def < meta_graph_version: 'v' "1"; tags: ['a', 'b'], stripped_op_list { op { """
        rb"name: 'C' attr { name: 'T' type: 'type' allowed_values { list { type: [DT_INT32, 1] } } } } } > "
        b"# comment\n",
        "escapes": rb"""collection_def { key: 'k' value { bytes_list { value: '\n\t\\\'\"\x41\x4\101\0\377' """
        rb"value: '\u0041' } } } collection_def { key: 'n' value { int64_list { value: [-1, 9223372036854775807] "
        rb"} } }",
        "any": rb"collection_def { key: 'a' value { any_list { value { [type.googleapis.com/tensorflow.SaverDef] { "
        rb"filename_tensor_name: 'f:0' max_to_keep: 3 version: V2 } } value { type_url: 'x/y' value: '\001' } } } }",
        "attrs": b"graph_def { node { attr { key: 'x' value { i: 1 s: 'x' list { i: 1 } } } attr { key: 'x' value { "
        b"b: t } } attr { key: 'f' value { func { name: 'g' attr { key: 'T' value { shape { unknown_rank: true "
        b"} } } } } } } library { function { signature { name: 'g' } ret { key: 'y' value: 'z:output:0' } } } }",
        "saver": b"saver_def { filename_tensor_name: 'save/Const:0' version: V2 sharded: True "
        b"keep_checkpoint_every_n_hours: 10000.0 max_to_keep: 5 }",
    }


def index_payloads() -> dict[str, bytes]:
    def one_entry_block(key: bytes, value: bytes) -> bytes:
        body = varint(0) + varint(len(key)) + varint(len(value)) + key + value
        return body + (0).to_bytes(4, "little") + (1).to_bytes(4, "little")

    header = field(1, 1) + field(3, field(1, 1))
    entry = field(1, 1) + field(2, field(2, field(1, 3))) + field(4, 0) + field(5, 12)
    return {
        "mode1_block": b"\x01" + one_entry_block(b"", header),
        "mode1_entry": b"\x01" + one_entry_block(b"w", entry),
        "mode2_snappy": b"\x02" + varint(9) + bytes([8 << 2]) + b"abcdefghi",
        "mode3_index": b"\x03" + one_entry_block(b"\xff", varint(0) + varint(10)),
        **v1_payloads(),
    }


def v1_payloads() -> dict[str, bytes]:
    """Inputs the harness reads as V1 checkpoints (every input is; the table modes see
    these as mode 0, a whole file): after the mode byte (4: entries in blocks of their
    own), length-prefixed chunks, the metadata first, then one stored value per slice it
    lists (checkpoint_target.h)."""

    def chunks(*parts: bytes, small_blocks: bool = True) -> bytes:
        return (b"\x04" if small_blocks else b"\x00") + b"".join(varint(len(p)) + p for p in parts)

    def tensor(name: bytes, dims: list[int], dtype: int, slices: list[bytes]) -> bytes:
        shape = b"".join(field(2, field(1, d)) for d in dims)
        return field(1, field(1, name) + field(2, shape) + field(3, dtype) + b"".join(field(4, s) for s in slices))

    def stored(tensor_proto: bytes) -> bytes:
        return field(2, field(3, tensor_proto))

    whole1 = field(1, b"")
    left, right = field(1, b"") + field(1, field(2, 1)), field(1, b"") + field(1, field(1, 1) + field(2, 2))
    meta = field(
        1,
        tensor(b"f", [2], 1, [whole1])
        + tensor(b"cols", [2, 3], 3, [left, right])
        + tensor(b"s", [2], 7, [whole1])
        + tensor(b"h", [2], 19, [whole1])
        + field(2, field(1, 1)),
    )
    return {
        "v1_float": chunks(
            field(1, tensor(b"f", [2], 1, [whole1])), stored(field(5, b"\0\0\xc0?\0\0\0\xc0")), small_blocks=False
        ),
        # 1100 floats (4400 bytes) alone in a block: read straight into place
        "v1_large": chunks(
            field(1, tensor(b"w", [1100], 1, [whole1])), stored(field(5, bytes(range(256)) * 17 + bytes(48)))
        ),
        "v1_mixed": chunks(
            meta,  # then one value per slice, tensors in name order: cols (2 slices), f, h, s
            stored(field(7, varint(1) + varint(2))),
            stored(field(7, varint(3) + varint(4) + varint(5) + varint(6))),
            stored(field(5, b"\0\0\xc0?\0\0\0\xc0")),
            stored(field(13, varint(0x3C00) + varint(0xC000))),
            stored(field(8, b"ab") + field(8, b"")),
        ),
    }


def write(out: Path, name: str, data: bytes) -> None:
    digest = hashlib.sha1(data).hexdigest()[:12]
    (out / f"{name}-{digest}").write_bytes(data)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    meta_dir, index_dir, ckpt_dir, text_dir = out / "meta", out / "index", out / "ckpt", out / "text"
    for d in (meta_dir, index_dir, ckpt_dir, text_dir):
        d.mkdir(parents=True, exist_ok=True)
    for path in sorted(CORPUS.glob("*.meta")) + sorted(CORPUS.glob("*.pbtxt")):
        write(meta_dir, path.stem, path.read_bytes())
    for name, data in {**handmade(), **tf2_fields()}.items():
        write(meta_dir, name, data)
    for path in sorted(CORPUS.glob("*/*.index")):
        index = path.read_bytes()
        write(index_dir, path.stem, b"\x00" + index)
        shards = sorted(path.parent.glob(path.stem + ".data-*-of-*"))
        if len(shards) == 1:  # (the atheris harness writes one data shard)
            write(ckpt_dir, path.stem, b"\x00" + len(index).to_bytes(2, "little") + index + shards[0].read_bytes())
    for path in sorted(CORPUS.glob("saver_v1*/*.ckpt*")):  # V1 files: an empty index, the file as the shard
        write(ckpt_dir, path.name, b"\x00\x00\x00" + path.read_bytes())
    for name, data in index_payloads().items():
        write(index_dir, name, data)
    for name, data in texts().items():
        write(text_dir, name, data)
    from fastmeta.protos import meta_graph_pb2
    from google.protobuf import text_format

    for name in ("tf2_both", "object_graph"):  # (the text harness's schema has object_graph_def too)
        message = meta_graph_pb2.MetaGraphDef.FromString(tf2_fields()[name])
        write(text_dir, name, text_format.MessageToString(message).encode())
    counts = ", ".join(f"{len(list(d.iterdir()))} {d.name}" for d in (meta_dir, index_dir, ckpt_dir, text_dir))
    print(f"seeds: {counts} in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
