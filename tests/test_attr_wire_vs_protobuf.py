"""The node fields the core copies through unparsed (attr values, experimental_debug_info,
experimental_type): fastmeta accepts a meta graph exactly when protobuf's parser (TensorFlow's
own MetaGraphDef class, as ``tf.compat.v1.train.import_meta_graph`` parses the file) does;
a refusal is a ParseError naming the file, the node and the byte offset, before the target
graph is touched."""

from __future__ import annotations

import sys
from pathlib import Path

import fastmeta
import pytest
from fastmeta.rewrite import rewrite_meta_graph_bytes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
from make_seeds import field, meta, varint  # noqa: E402


def node_with(extra: bytes, name: bytes = b"c") -> bytes:
    """Node ``name`` (op NoOp) with ``extra`` raw NodeDef fields (the name last, so an error
    names a node whose name comes after the bad field)."""
    return field(1, field(2, b"NoOp") + extra + field(1, name))


def attr(value: bytes, key: bytes = b"foo") -> bytes:
    return field(5, field(1, key) + field(2, value))


def fixed32(number: int) -> bytes:
    return varint(number << 3 | 5)


def nested_func(levels: int) -> bytes:
    """An AttrValue holding a func whose attr holds a func ... ``levels`` AttrValues deep."""
    value = field(3, 1)
    for _ in range(levels - 1):
        value = field(10, field(1, b"f") + field(2, field(1, b"k") + field(2, value)))
    return value


def nested_list(levels: int) -> bytes:
    """The same through ListValue.func (one more message per level)."""
    value = field(3, 1)
    for _ in range(levels - 1):
        value = field(1, field(9, field(2, field(1, b"k") + field(2, value))))
    return value


def nested_full_type(levels: int) -> bytes:
    value = field(1, 1)
    for _ in range(levels - 1):
        value = field(2, value)
    return value


# (id, NodeDef fields): each accepted or refused as protobuf decides.
CASES = [
    ("issue_list_length_past_end", attr(b"\x0a\x05\x01")),
    ("list_truncated_inner_length", attr(field(1, b"\x12\x05ab"))),
    ("s_bad_utf8_bytes_field", attr(field(2, b"\xff\xfe"))),
    ("list_s_bad_utf8_bytes_field", attr(field(1, field(2, b"\xc0\x80")))),
    ("tensor_string_val_bad_utf8", attr(field(8, field(8, b"\xff")))),
    ("placeholder_bad_utf8", attr(field(9, b"\xff"))),
    ("dim_name_bad_utf8", attr(field(7, field(2, field(1, 3) + field(2, b"\xed\xa0\x80"))))),
    ("func_name_bad_utf8", attr(field(10, field(1, b"f\xff")))),
    ("func_attr_key_bad_utf8", attr(field(10, field(2, field(1, b"\xff") + field(2, field(3, 1)))))),
    ("handle_device_bad_utf8", attr(field(8, field(14, field(1, b"\xff"))))),
    ("variant_type_name_bad_utf8", attr(field(8, field(15, field(1, b"\xff"))))),
    ("variant_metadata_bad_utf8", attr(field(8, field(15, field(2, b"\xff"))))),
    ("dim_name_valid_utf8", attr(field(7, field(2, field(2, "ä".encode()))))),
    ("s_as_varint_wire_mismatch", attr(field(2, 5))),
    ("list_as_fixed32_wire_mismatch", attr(fixed32(1) + b"\x00\x00\x00\x00")),
    ("dim_size_as_bytes_wire_mismatch", attr(field(7, field(2, field(1, b"\x01"))))),
    ("unknown_group_ok", attr(b"\x7b\x08\x01\x7c")),
    ("unknown_group_unterminated", attr(b"\x7b\x08\x01")),
    ("unknown_group_mismatched_end", attr(b"\x7b\x84\x01")),
    ("end_group_outside_group", attr(b"\x7c")),
    ("field_number_0_in_group", attr(b"\x7b\x00\x01\x7c")),
    ("field_number_0", attr(b"\x00\x01")),
    ("field_number_0_length_delimited", attr(field(3, 1) + b"\x02\x00")),
    ("field_number_max", attr(varint(((1 << 29) - 1) << 3) + b"\x00")),
    ("field_number_past_max", attr(varint((1 << 29) << 3) + b"\x00")),
    ("wire_type_6", attr(b"\x0e")),
    ("wire_type_7_in_group", attr(b"\x7b\x0f\x7c")),
    ("varint_10_bytes", attr(b"\x18" + b"\xff" * 9 + b"\x7f")),
    ("varint_11_bytes", attr(b"\x18" + b"\xff" * 10 + b"\x01")),
    ("truncated_fixed32", attr(b"\x25\x00\x00")),
    ("packed_int_list", attr(field(1, field(3, b"\x01\x96\x01\x03")))),
    ("unpacked_int_list", attr(field(1, field(3, 1) + field(3, 150)))),
    ("packed_int_truncated", attr(field(1, field(3, b"\x01\x82")))),
    ("packed_float_partial", attr(field(1, field(4, b"\x00\x00\x00")))),
    ("packed_double_partial", attr(field(8, field(6, b"\x00" * 12)))),
    ("packed_float_whole", attr(field(1, field(4, b"\x00" * 8)))),
    ("map_entry_empty", attr(field(10, field(2, b"")))),
    ("map_entry_value_malformed", attr(field(10, field(2, field(2, b"\x0a\x05"))))),
    ("func_nested_33", attr(nested_func(33))),
    ("func_nested_34", attr(nested_func(34))),
    ("list_nested_25", attr(nested_list(25))),
    ("list_nested_26", attr(nested_list(26))),
    ("groups_nested_96", attr(b"\x7b" * 96 + b"\x7c" * 96)),
    ("groups_nested_97", attr(b"\x7b" * 97 + b"\x7c" * 97)),
    ("debug_info_bad_utf8", field(6, field(1, b"\xff"))),
    ("debug_info_ok", field(6, field(1, b"a") + field(2, b"f"))),
    ("full_type_s_bad_utf8", field(7, field(2, field(3, b"\xff")))),
    ("full_type_truncated", field(7, b"\x08")),
    ("full_type_nested_98", field(7, nested_full_type(98))),
    ("full_type_nested_99", field(7, nested_full_type(99))),
    ("node_unknown_field", field(99, b"\xff")),
    # _class, which the core reads for colocation: a field of another wire type is unknown.
    ("class_list_s_as_varint", attr(field(1, field(2, 5)), key=b"_class")),
    ("class_list_as_varint", attr(field(1, 5), key=b"_class")),
    ("class_list_truncated", attr(field(1, field(2, b"loc:@c") + b"\x12\x7f"), key=b"_class")),
]


def protobuf_accepts(data: bytes) -> bool:
    meta_graph_pb2 = pytest.importorskip("tensorflow.core.protobuf.meta_graph_pb2")

    try:
        meta_graph_pb2.MetaGraphDef.FromString(data)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("extra", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_accepts_exactly_what_protobuf_accepts(extra: bytes, tmp_path: Path) -> None:
    data = meta(node_with(extra))
    path = tmp_path / "g.meta"
    path.write_bytes(data)
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(meta(field(1, field(1, b"x") + field(2, b"NoOp"))), graph=graph)
    before = graph.as_graph_def().SerializeToString(deterministic=True)
    if protobuf_accepts(data):
        fastmeta.import_meta_graph(str(path), graph=graph)
        assert graph.get_operation_by_name("c").type == "NoOp"
        rewrite_meta_graph_bytes(data)
        return
    for fn in (
        lambda: fastmeta.import_meta_graph(str(path), graph=graph),
        lambda: fastmeta.import_meta_graph(str(path), import_scope="imp", graph=graph),
        lambda: rewrite_meta_graph_bytes(str(path)),
        lambda: fastmeta.rewrite_meta_graph(str(path)),
    ):
        with pytest.raises(fastmeta.errors.ParseError) as info:
            fn()
        e = info.value
        assert isinstance(e, ValueError)
        assert "Node 'c'" in str(e) and str(path) in str(e), str(e)
        assert e.offset is not None and f"byte offset {e.offset}" in str(e)
        assert 0 < e.offset < len(data)
    assert graph.as_graph_def().SerializeToString(deterministic=True) == before


def test_the_offset_is_the_bad_field() -> None:
    value = field(7, field(2, field(2, b"n\xff")))
    data = meta(node_with(attr(value)))
    with pytest.raises(fastmeta.errors.ParseError) as info:
        fastmeta.rewrite_meta_graph(data)
    assert info.value.offset == data.index(b"n\xff")
    assert "attr 'foo'" in str(info.value) and "TensorShapeProto.Dim.name" in str(info.value)


def test_tf_dropin_refuses_with_the_graph_untouched(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    import fastmeta.tf

    data = meta(node_with(attr(b"\x0a\x05\x01")))
    path = tmp_path / "g.meta"
    path.write_bytes(data)
    with tf.Graph().as_default() as g:
        tf.constant(1.0, name="x")
        before = g.as_graph_def().SerializeToString(deterministic=True)
        with pytest.raises((OSError, RuntimeError)):  # (binary parse failed, then the text one)
            tf.compat.v1.train.import_meta_graph(str(path))
        with pytest.raises(fastmeta.errors.ParseError) as info:
            fastmeta.tf.import_meta_graph(str(path))
        assert "Node 'c'" in str(info.value)
        assert g.as_graph_def().SerializeToString(deterministic=True) == before
