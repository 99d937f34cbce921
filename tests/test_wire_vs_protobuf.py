"""The wire format as the core reads it, differential against protobuf's parser (upb, as
TensorFlow's ``MetaGraphDef.FromString`` and ``SavedModel.FromString`` read a file): varint,
tag and length encodings, fields of another wire type than their declaration's (unknown
fields to protobuf), field numbers and unknown groups with protobuf's nesting limit (100,
counted from the file's root message: a SavedModel's meta graph lies one level deeper).
What protobuf accepts, fastmeta accepts, with the nodes TensorFlow's parse has; what it
refuses is a ParseError with the byte offset (and the node, where one is at fault)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import fastmeta
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
from make_seeds import field, meta, varint  # noqa: E402

pytest.importorskip("tensorflow")


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def long_varint(value: int, size: int, high: int = 0) -> bytes:
    """``value`` in exactly ``size`` bytes (padded with continuation bytes); ``high`` is
    OR-ed into the last byte's payload (bits past 64 on a 10-byte varint)."""
    out = bytearray()
    for i in range(size):
        byte = (value >> (7 * i)) & 0x7F
        if i == size - 1:
            out.append(byte | high)
        else:
            out.append(byte | 0x80)
    return bytes(out)


def groups(levels: int, number: int = 15) -> bytes:
    return tag(number, 3) * levels + tag(number, 4) * levels


def nodedef(*extra: bytes, name: bytes = b"c", op: bytes = b"NoOp", inputs: tuple[bytes, ...] = (b"^a",)) -> bytes:
    """A NodeDef (its body) with ``extra`` raw fields between its op and its inputs."""
    return field(1, name) + field(2, op) + b"".join(extra) + b"".join(field(3, i) for i in inputs)


A = field(1, field(1, b"a") + field(2, b"NoOp"))


def graph(*nodes: bytes) -> bytes:
    """MetaGraphDef bytes: node ``a`` then each NodeDef body given."""
    return meta(A, *(field(1, n) for n in nodes))


def function_groups(levels: int) -> bytes:
    """A graph whose library's function ``f`` holds ``levels`` nested unknown groups."""
    return meta(A, field(2, field(1, field(1, field(1, b"f")) + groups(levels))), field(1, nodedef()))


V10 = b"\x81" + b"\x80" * 8 + b"\x7e"  # 1, with bits 64-69 set: 1 to protobuf

# (id, MetaGraphDef bytes)
CASES: list[tuple[str, bytes]] = [
    # 1. varints: 10 bytes with bits past 64 (dropped), 11 bytes (refused)
    ("top_unknown_varint_10_bytes_high_bits", graph(nodedef()) + tag(99, 0) + V10),
    ("node_unknown_varint_10_bytes_high_bits", graph(nodedef(tag(99, 0) + V10))),
    ("group_varint_10_bytes_high_bits", graph(nodedef(tag(99, 3) + tag(1, 0) + V10 + tag(99, 4)))),
    ("top_unknown_varint_11_bytes", graph(nodedef()) + tag(99, 0) + b"\xff" * 10 + b"\x01"),
    (
        "op_arg_type_10_bytes_high_bits",
        field(1, field(2, field(1, field(1, b"MyOp") + field(3, field(1, b"out") + tag(3, 0) + V10))))
        + meta(field(1, field(1, b"a") + field(2, b"MyOp")), field(1, nodedef())),
    ),
    ("producer_10_bytes_high_bits", graph(nodedef()) + field(2, field(4, tag(1, 0) + V10))),
    # tags: at most 5 bytes, below 2^32
    ("tag_5_bytes_overlong", graph(nodedef(long_varint(99 << 3, 5) + b"\x01"))),
    ("tag_6_bytes_overlong", graph(nodedef(long_varint(99 << 3, 6) + b"\x01"))),
    ("top_tag_6_bytes_overlong", graph(nodedef()) + long_varint(99 << 3, 6) + b"\x01"),
    ("tag_10_bytes_overlong", graph(nodedef(long_varint(99 << 3, 10) + b"\x01"))),
    ("tag_field_number_max", graph(nodedef(tag((1 << 29) - 1, 0) + b"\x01"))),
    ("tag_at_2_32", graph(nodedef(long_varint(1 << 32, 5) + b"\x01"))),
    ("top_tag_at_2_32", graph(nodedef()) + long_varint(1 << 32, 5) + b"\x01"),
    ("group_tag_at_2_32", graph(nodedef(tag(99, 3) + long_varint(1 << 32, 5) + b"\x01" + tag(99, 4)))),
    ("group_tag_6_bytes", graph(nodedef(tag(99, 3) + long_varint(8, 6) + b"\x01" + tag(99, 4)))),
    ("node_field_number_0", graph(nodedef(b"\x00\x01"))),
    ("top_field_number_0", graph(nodedef()) + b"\x00\x01"),
    ("group_field_number_0", graph(nodedef(tag(99, 3) + b"\x00\x01" + tag(99, 4)))),
    ("top_group_field_number_0", graph(nodedef()) + tag(99, 3) + b"\x02\x00" + tag(99, 4)),
    # lengths: at most 5 bytes
    ("graph_def_length_5_bytes", field(2, A)[:1] + long_varint(len(A), 5) + A),
    ("graph_def_length_6_bytes", field(2, A)[:1] + long_varint(len(A), 6) + A),
    ("node_length_5_bytes", meta(A + b"\x0a" + long_varint(len(nodedef()), 5) + nodedef())),
    ("node_length_6_bytes", meta(A + b"\x0a" + long_varint(len(nodedef()), 6) + nodedef())),
    ("input_length_5_bytes", graph(nodedef(b"\x1a" + long_varint(2, 5) + b"^a", inputs=()))),
    ("group_length_6_bytes", graph(nodedef(tag(99, 3) + b"\x0a" + long_varint(1, 6) + b"x" + tag(99, 4)))),
    ("length_10_bytes_high_bits", graph(nodedef()) + tag(99, 2) + long_varint(1, 10, 0x7E) + b"x"),
    # 2. known fields of another wire type: unknown fields to protobuf
    ("graph_def_as_varint", graph(nodedef()) + field(2, 5)),
    ("graph_def_as_fixed32", graph(nodedef()) + tag(2, 5) + b"\0" * 4),
    ("graph_def_as_fixed64", graph(nodedef()) + tag(2, 1) + b"\0" * 8),
    ("graph_def_as_group", graph(nodedef()) + tag(2, 3) + field(1, 1) + tag(2, 4)),
    ("meta_info_def_as_varint", field(1, 3) + graph(nodedef())),
    ("stripped_op_list_as_varint", field(1, field(2, 3)) + graph(nodedef())),
    ("op_as_varint", field(1, field(2, field(1, 3))) + graph(nodedef())),
    ("op_name_as_varint", field(1, field(2, field(1, field(1, 3)))) + graph(nodedef())),
    ("op_arg_as_varint", field(1, field(2, field(1, field(1, b"MyOp") + field(3, 7)))) + graph(nodedef())),
    ("node_as_varint", meta(A, field(1, 3), field(1, nodedef()))),
    ("node_as_group", meta(A, tag(1, 3) + field(1, b"x") + tag(1, 4), field(1, nodedef()))),
    ("library_as_varint", meta(A, field(2, 1), field(1, nodedef()))),
    ("function_as_varint", meta(A, field(2, field(1, 1)), field(1, nodedef()))),
    ("debug_info_as_varint", meta(A, field(5, 1), field(1, nodedef()))),
    ("name_as_varint", graph(nodedef(field(1, 3)))),
    ("name_as_varint_only", graph(field(2, b"NoOp") + field(1, 3) + field(1, b"c"))),
    ("op_as_fixed64", graph(nodedef(tag(2, 1) + b"\0" * 8))),
    ("input_as_varint", graph(nodedef(field(3, 7)))),
    ("input_as_fixed32_first", graph(nodedef(tag(3, 5) + b"abcd", inputs=(b"^a",)))),
    ("device_as_varint", graph(nodedef(field(4, 7)))),
    ("attr_as_varint", graph(nodedef(field(5, 7)))),
    ("attr_as_group", graph(nodedef(tag(5, 3) + field(1, b"k") + tag(5, 4)))),
    ("attr_key_as_varint", graph(nodedef(field(5, field(1, 3) + field(1, b"k") + field(2, field(3, 1)))))),
    ("attr_value_as_varint", graph(nodedef(field(5, field(1, b"k") + field(2, 3) + field(2, field(3, 1)))))),
    ("fields_after_attrs_as_varint", graph(nodedef(field(5, field(1, b"k") + field(2, field(3, 1))) + field(1, 4)))),
    # 3. unknown groups: protobuf's depth limit (MetaGraphDef 0, GraphDef 1, NodeDef 2)
    ("node_groups_nested_65", graph(nodedef(groups(65)))),
    ("node_groups_nested_98", graph(nodedef(groups(98)))),
    ("node_groups_nested_99", graph(nodedef(groups(99)))),
    ("graph_groups_nested_99", meta(A, groups(99))),
    ("graph_groups_nested_100", meta(A, groups(100))),
    ("top_groups_nested_100", graph(nodedef()) + groups(100)),
    ("top_groups_nested_101", graph(nodedef()) + groups(101)),
    ("meta_info_groups_nested_99", field(1, groups(99)) + graph(nodedef())),
    ("meta_info_groups_nested_100", field(1, groups(100)) + graph(nodedef())),
    ("op_groups_nested_97", field(1, field(2, field(1, field(1, b"MyOp") + groups(97)))) + graph(nodedef())),
    ("op_groups_nested_98", field(1, field(2, field(1, field(1, b"MyOp") + groups(98)))) + graph(nodedef())),
    ("attr_entry_groups_nested_97", graph(nodedef(field(5, field(1, b"k") + groups(97) + field(2, field(3, 1)))))),
    ("attr_entry_groups_nested_98", graph(nodedef(field(5, field(1, b"k") + groups(98) + field(2, field(3, 1)))))),
    # the library, copied through below the functions' signatures (FunctionDef: depth 3)
    ("function_groups_nested_97", function_groups(97)),
    ("function_groups_nested_98", function_groups(98)),
    ("group_mismatched_end", graph(nodedef(tag(99, 3) + tag(98, 4)))),
    ("group_unterminated", graph(nodedef(tag(99, 3) + field(1, 1)))),
    ("node_end_group_outside", graph(nodedef(tag(99, 4)))),
    ("top_end_group_outside", graph(nodedef()) + tag(99, 4)),
    # 4. fields protobuf parses that the import does not keep: GraphDef.debug_info
    # (GraphDebugInfo, proto2: strings unchecked) and MetaGraphDef.object_graph_def
    ("debug_info_length_past_end", meta(A, field(5, b"\x0a\x05ab"), field(1, nodedef()))),
    ("debug_info_not_utf8", meta(A, field(5, field(1, b"\xff")), field(1, nodedef()))),
    ("debug_info_frame_ids_packed", meta(A, field(5, field(2, field(2, field(2, b"\0" * 3)))), field(1, nodedef()))),
    ("debug_info_groups_nested_98", meta(A, field(5, groups(98)), field(1, nodedef()))),
    ("debug_info_groups_nested_99", meta(A, field(5, groups(99)), field(1, nodedef()))),
    ("object_graph_length_past_end", graph(nodedef()) + field(7, b"\x0a\x05ab")),
    ("object_graph_name_not_utf8", graph(nodedef()) + field(7, field(1, field(13, b"\xff")))),
    ("object_graph_groups_nested_98", graph(nodedef()) + field(7, field(1, groups(98)))),
    ("object_graph_groups_nested_99", graph(nodedef()) + field(7, field(1, groups(99)))),
]


def protobuf_parse(data: bytes) -> Any:
    from tensorflow.core.protobuf import meta_graph_pb2

    try:
        return meta_graph_pb2.MetaGraphDef.FromString(data)
    except Exception:
        return None


def nodes_of(graph_def: Any) -> dict[str, tuple[Any, ...]]:
    """The nodes as the graph has them (known fields only: unknown ones are not the graph's)."""
    return {
        n.name: (
            n.op,
            sorted(n.input),
            n.device,
            {k: v.SerializeToString(deterministic=True) for k, v in n.attr.items()},
        )
        for n in graph_def.node
    }


def check_refused(fn: Any, data: bytes) -> None:
    with pytest.raises(fastmeta.errors.ParseError) as info:
        fn()
    e = info.value
    assert isinstance(e, ValueError)
    assert e.offset is not None and f"byte offset {e.offset}" in str(e), str(e)
    assert 0 <= e.offset < len(data)


@pytest.mark.parametrize("data", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_accepts_exactly_what_protobuf_accepts(data: bytes) -> None:
    parsed = protobuf_parse(data)
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(meta(field(1, field(1, b"x") + field(2, b"NoOp"))), graph=graph)
    before = graph.as_graph_def().SerializeToString()
    if parsed is None:
        check_refused(lambda: fastmeta.rewrite_meta_graph(data), data)
        check_refused(lambda: fastmeta.rewrite_meta_graph(data, import_scope="imp"), data)
        check_refused(lambda: fastmeta.import_meta_graph(data, graph=graph), data)
        assert graph.as_graph_def().SerializeToString() == before
        return
    want = nodes_of(parsed.graph_def)
    assert nodes_of(fastmeta.rewrite_meta_graph(data).graph_def) == want
    scoped = nodes_of(fastmeta.rewrite_meta_graph(data, import_scope="imp").graph_def)
    assert sorted(scoped) == sorted("imp/" + name for name in want)
    fresh = fastmeta.Graph()
    fastmeta.import_meta_graph(data, graph=fresh)
    assert nodes_of(fresh.as_graph_def()) == want


def saved_model(meta_graph: bytes) -> bytes:
    """A SavedModel holding ``meta_graph`` (tagged "serve")."""
    return field(1, 1) + field(2, field(1, field(4, b"serve")) + meta_graph)


# (id, MetaGraphDef bytes in a SavedModel): one level deeper than in a .meta file.
SAVED_CASES: list[tuple[str, bytes]] = [
    ("top_groups_nested_99", graph(nodedef()) + groups(99)),
    ("top_groups_nested_100", graph(nodedef()) + groups(100)),
    ("meta_info_groups_nested_98", field(1, groups(98)) + graph(nodedef())),
    ("meta_info_groups_nested_99", field(1, groups(99)) + graph(nodedef())),
    ("collection_groups_nested_97", field(4, field(1, b"k") + groups(97)) + graph(nodedef())),
    ("collection_groups_nested_98", field(4, field(1, b"k") + groups(98)) + graph(nodedef())),
    ("graph_groups_nested_98", meta(A, groups(98))),
    ("graph_groups_nested_99", meta(A, groups(99))),
    ("node_groups_nested_97", graph(nodedef(groups(97)))),
    ("node_groups_nested_98", graph(nodedef(groups(98)))),
    ("attr_groups_nested_95", graph(nodedef(field(5, field(1, b"k") + field(2, groups(95)))))),
    ("attr_groups_nested_96", graph(nodedef(field(5, field(1, b"k") + field(2, groups(96)))))),
    ("function_groups_nested_96", function_groups(96)),
    ("function_groups_nested_97", function_groups(97)),
]


@pytest.mark.parametrize("data", [c[1] for c in SAVED_CASES], ids=[c[0] for c in SAVED_CASES])
def test_saved_model_meta_graph_lies_one_level_deeper(data: bytes, tmp_path: Path) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model(data)
    (tmp_path / "saved_model.pb").write_bytes(saved)
    try:
        want = saved_model_pb2.SavedModel.FromString(saved).meta_graphs[0].graph_def
    except Exception:
        want = None
    graph = fastmeta.Graph()
    if want is None:
        with pytest.raises(fastmeta.errors.ParseError) as info:
            fastmeta.saved_model.load(tmp_path, ["serve"], graph=graph)
        e = info.value
        assert isinstance(e, fastmeta.SavedModelParseError) and str(tmp_path) in str(e)
        assert e.offset is not None and 0 <= e.offset < len(saved), str(e)
        assert graph.get_operations() == []
        return
    fastmeta.saved_model.load(tmp_path, ["serve"], graph=graph)
    assert nodes_of(graph.as_graph_def()) == nodes_of(want)


@pytest.mark.parametrize("data", [c[1] for c in SAVED_CASES], ids=[c[0] for c in SAVED_CASES])
def test_tf_dropin_saved_model_meta_graph_lies_one_level_deeper(data: bytes, tmp_path: Path) -> None:
    import fastmeta.tf
    import tensorflow as tf

    saved = saved_model(data)
    (tmp_path / "saved_model.pb").write_bytes(saved)
    with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as sess:
        try:
            tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(tmp_path))
            want: list[str] | None = [n.name for n in g.as_graph_def().node]
        except Exception:
            want = None
    with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as sess:
        if want is None:
            with pytest.raises(fastmeta.errors.ParseError) as info:
                fastmeta.tf.saved_model.load(sess, ["serve"], tmp_path)
            assert str(tmp_path) in str(info.value)
            assert g.as_graph_def().node == []
            return
        fastmeta.tf.saved_model.load(sess, ["serve"], tmp_path)
        assert [n.name for n in g.as_graph_def().node] == want


MG = field(1, field(4, b"serve")) + graph(nodedef())

# (id, SavedModel bytes): its top level, walked without parsing the meta graphs.
SAVED_TOP_CASES: list[tuple[str, bytes]] = [
    ("top_group", field(1, 1) + tag(9, 3) + field(1, 1) + tag(9, 4) + field(2, MG)),
    ("top_groups_nested_100", field(1, 1) + groups(100) + field(2, MG)),
    ("top_groups_nested_101", field(1, 1) + groups(101) + field(2, MG)),
    ("tag_5_bytes", long_varint(1 << 3, 5) + b"\x01" + field(2, MG)),
    ("tag_6_bytes", field(1, 1) + long_varint(99 << 3, 6) + b"\x01" + field(2, MG)),
    ("meta_graph_length_5_bytes", field(1, 1) + tag(2, 2) + long_varint(len(MG), 5) + MG),
    ("meta_graph_length_6_bytes", field(1, 1) + tag(2, 2) + long_varint(len(MG), 6) + MG),
    ("version_as_bytes", field(1, b"x") + field(2, MG)),
    ("version_10_bytes_high_bits", tag(1, 0) + V10 + field(2, MG)),
    ("meta_graphs_as_varint", field(1, 1) + field(2, 5) + field(2, MG)),
    ("field_number_0", field(1, 1) + b"\x00\x01" + field(2, MG)),
    ("end_group_outside", field(1, 1) + tag(9, 4) + field(2, MG)),
]


@pytest.mark.parametrize("saved", [c[1] for c in SAVED_TOP_CASES], ids=[c[0] for c in SAVED_TOP_CASES])
def test_saved_model_top_level(saved: bytes, tmp_path: Path) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    (tmp_path / "saved_model.pb").write_bytes(saved)
    try:
        want = saved_model_pb2.SavedModel.FromString(saved)
    except Exception:
        want = None
    if want is None:
        with pytest.raises(fastmeta.SavedModelParseError) as info:
            fastmeta.saved_model.read_saved_model(tmp_path)
        assert info.value.offset is not None and 0 <= info.value.offset < len(saved)
        return
    read = fastmeta.saved_model.read_saved_model(tmp_path)
    assert read.schema_version == want.saved_model_schema_version
    assert len(read.meta_graphs) == len(want.meta_graphs)
    graph = fastmeta.Graph()
    fastmeta.saved_model.load(tmp_path, ["serve"], graph=graph)
    assert nodes_of(graph.as_graph_def()) == nodes_of(want.meta_graphs[0].graph_def)


def attr_entry(key: bytes, value: bytes) -> bytes:
    return field(5, field(1, key) + field(2, value))


B_FF = field(2, b"\xff")


def nested_funcs(levels: int) -> bytes:
    """A graph whose node's attr is a func attr ``levels`` deep (3 messages a level)."""
    value = field(3, 1)
    for _ in range(levels):
        value = field(10, field(1, b"f") + field(2, field(1, b"k") + field(2, value)))
    return graph(nodedef(attr_entry(b"k", value)))


# (id, MetaGraphDef bytes): a meta graph the load does not choose. TensorFlow's loader
# parses the whole SavedModel, every meta graph's GraphDef included: what protobuf
# refuses there fails the load, whichever meta graph is loaded.
UNCHOSEN_CASES: list[tuple[str, bytes]] = [
    ("valid", graph(nodedef())),
    ("node_name_bad_utf8", graph(nodedef(name=b"c\xff"))),
    ("node_op_bad_utf8", graph(nodedef(op=b"No\xffOp"))),
    ("node_input_bad_utf8", graph(nodedef(inputs=(b"^\xff",)))),
    ("node_device_bad_utf8", graph(nodedef(field(4, b"\xff")))),
    ("attr_key_bad_utf8", graph(nodedef(attr_entry(b"k\xff", field(3, 1))))),
    ("attr_func_name_bad_utf8", graph(nodedef(attr_entry(b"k", field(10, field(1, b"\xff")))))),
    ("attr_s_not_utf8", graph(nodedef(attr_entry(b"k", field(2, b"\xff"))))),  # (bytes: accepted)
    ("attr_dim_name_bad_utf8", graph(nodedef(attr_entry(b"k", field(7, field(2, field(2, b"\xff"))))))),
    ("attr_list_i_packed_truncated", graph(nodedef(attr_entry(b"k", field(1, field(3, b"\x80")))))),
    ("attr_length_past_end", graph(nodedef(attr_entry(b"k", b"\x3a\x05\x10")))),
    ("node_length_past_end", graph(nodedef(b"\x22\x09ab"))),
    ("node_wire_type_7", graph(nodedef(tag(9, 7)))),
    ("node_field_number_0", graph(nodedef(b"\x00\x01"))),
    ("node_tag_6_bytes", graph(nodedef(long_varint(99 << 3, 6) + b"\x01"))),
    ("node_tag_at_2_32", graph(nodedef(long_varint(1 << 32, 5) + b"\x01"))),
    ("node_unknown_varint_11_bytes", graph(nodedef(tag(99, 0) + b"\xff" * 10 + b"\x01"))),
    ("node_unknown_payload_garbage", graph(nodedef(field(99, b"\xff\xff\xff")))),  # (not parsed: accepted)
    ("node_field_19000", graph(nodedef(field(19000, 1)))),
    ("node_name_as_varint", graph(nodedef(field(1, 3)))),  # (an unknown field)
    ("node_groups_nested_97", graph(nodedef(groups(97)))),
    ("node_groups_nested_98", graph(nodedef(groups(98)))),
    ("node_group_unterminated", graph(nodedef(tag(99, 3)))),
    ("node_group_mismatched_end", graph(nodedef(tag(99, 3) + tag(98, 4)))),
    ("node_end_group_outside", graph(nodedef(tag(99, 4)))),
    ("graph_length_past_end", field(2, A + b"\x0a\x30")),
    ("versions_packed_truncated", meta(A, field(4, field(3, b"\x80")))),
    ("version_varint_11_bytes", meta(A, tag(3, 0) + b"\xff" * 11)),
    ("debug_info_not_utf8", meta(A, field(5, field(1, b"\xff")))),  # (proto2: not checked)
    ("debug_info_packed_truncated", meta(A, field(5, field(2, b"\x80")))),
    ("function_name_bad_utf8", meta(A, field(2, field(1, field(1, field(1, b"\xff")))))),
    ("function_node_bad_utf8", meta(A, field(2, field(1, field(1, field(1, b"f")) + field(3, field(1, b"\xff")))))),
    ("function_ret_bad_utf8", meta(A, field(2, field(1, field(1, field(1, b"f")) + field(4, field(1, b"a") + B_FF))))),
    ("gradient_bad_utf8", meta(A, field(2, field(2, field(1, b"\xff"))))),
    ("function_groups_nested_96", function_groups(96)),
    ("function_groups_nested_97", function_groups(97)),
    ("attr_messages_nested_100", nested_funcs(31)),
    ("attr_messages_nested_101", nested_funcs(32)),
    ("debug_info_length_past_end", meta(A, field(5, b"\x0a\x05ab"))),
    ("object_graph_valid", graph(nodedef()) + field(7, field(1, field(13, b"r")))),
    ("object_graph_name_not_utf8", graph(nodedef()) + field(7, field(1, field(13, b"\xff")))),
    ("object_graph_concrete_function_truncated", graph(nodedef()) + field(7, field(2, field(1, b"f") + b"\x12\x09"))),
]


def two_meta_graphs(other: bytes) -> bytes:
    """A SavedModel of a valid meta graph tagged "serve", then ``other`` tagged "train"."""
    return field(1, 1) + field(2, MG) + field(2, field(1, field(4, b"train")) + other)


def tf_loader_error(export_dir: Path, tags: list[str]) -> BaseException | None:
    import tensorflow as tf

    with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as sess:
        try:
            tf.compat.v1.saved_model.loader.load(sess, tags, str(export_dir))
        except Exception as e:
            return e
    return None


@pytest.mark.parametrize("other", [c[1] for c in UNCHOSEN_CASES], ids=[c[0] for c in UNCHOSEN_CASES])
def test_unchosen_meta_graph_is_checked(other: bytes, tmp_path: Path) -> None:
    import fastmeta.tf
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    saved = two_meta_graphs(other)
    (tmp_path / "saved_model.pb").write_bytes(saved)
    try:
        saved_model_pb2.SavedModel.FromString(saved)
        refused = False
    except Exception:
        refused = True
    expected = tf_loader_error(tmp_path, ["serve"])
    assert (expected is not None) == refused
    begin = len(saved) - len(other)  # (where the unchosen meta graph's fields start)
    if not refused:
        graph = fastmeta.Graph()
        fastmeta.saved_model.load(tmp_path, ["serve"], graph=graph)
        assert [op.name for op in graph.get_operations()] == ["a", "c"]
        with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as sess:
            fastmeta.tf.saved_model.load(sess, ["serve"], tmp_path)
            assert [n.name for n in g.as_graph_def().node] == ["a", "c"]
        return
    # (a parse error before the tags are looked for, as TensorFlow's)
    assert isinstance(tf_loader_error(tmp_path, ["nonesuch"]), OSError)
    for tags in (["serve"], ["nonesuch"]):
        graph = fastmeta.Graph()
        with pytest.raises(fastmeta.SavedModelParseError) as info:
            fastmeta.saved_model.load(tmp_path, tags, graph=graph)
        assert graph.get_operations() == []
        with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as sess:
            with pytest.raises(fastmeta.SavedModelParseError) as dropin:
                fastmeta.tf.saved_model.load(sess, tags, tmp_path)
            assert g.as_graph_def().node == []
        assert str(dropin.value) == str(info.value)
        e = info.value
        assert isinstance(e, OSError) and e.path == str(tmp_path / "saved_model.pb")
        assert e.offset is not None and begin <= e.offset < len(saved), str(e)
        assert f"byte offset {e.offset}" in str(e) and "meta graph 1" in str(e)
