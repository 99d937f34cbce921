"""Attr values at the edges of the wire format, differential against TensorFlow 2.21: an
attr entry with a key and no value, an attr map that repeats a key, the producer op
list's drop rule and ``strip_default_attrs`` with a value spelled in another encoding
than the default (equal as messages, different as bytes) or the other way round.

Every file here is put together at the wire level (raw entries appended to a NodeDef or
an OpDef), since a protobuf message would re-encode them; each case is imported by
TensorFlow and by fastmeta (TF-free, ``rewrite_meta_graph`` and the drop-in), and the
results compared."""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

import fastmeta
import pytest
from fastmeta.protos import meta_graph_pb2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "fuzz"))

from make_seeds import field, varint  # noqa: E402
from test_op_registry import _dropin_graph_def, _fm_graph_def  # noqa: E402
from tf_oracle import diff_graph_defs, tf_import  # noqa: E402


def _tf() -> Any:
    # (eager execution stays on: every graph here is built and imported inside its own
    # tf.Graph, and later test modules need eager)
    return pytest.importorskip("tensorflow")


# --- wire-level building blocks ---------------------------------------------------------------


_varint, _ld, _vi = varint, field, field


def _f32(number: int, value: float) -> bytes:
    return _varint(number << 3 | 5) + struct.pack("<f", value)


def _entry(key: str, value: bytes) -> bytes:
    """A NodeDef's attr map entry (field 5), the AttrValue as given."""
    return _ld(5, _ld(1, key.encode()) + _ld(2, value))


def _small_meta() -> meta_graph_pb2.MetaGraphDef:
    """Placeholder ``p``, ``i = Identity(p)``, ``n = IdentityN(p, p)``, as TensorFlow
    exports them (with its stripped_op_list)."""
    tf = _tf()
    g = tf.Graph()
    with g.as_default():
        p = tf.compat.v1.placeholder(tf.float32, name="p")
        tf.identity(p, name="i")
        tf.identity_n([p, p], name="n")
        data = tf.compat.v1.train.export_meta_graph(graph=g).SerializeToString()
    return meta_graph_pb2.MetaGraphDef.FromString(data)


def _assemble(
    meta: meta_graph_pb2.MetaGraphDef,
    node_extra: dict[str, bytes] | None = None,
    op_extra: dict[str, bytes] | None = None,
    drop: dict[str, str] | None = None,
    replace: dict[str, bytes] | None = None,
) -> bytes:
    """``meta`` serialized with raw bytes appended to the named NodeDefs (``node_extra``)
    and OpDefs of the op list (``op_extra``), after removing attr ``drop[node]`` from
    the node; a NodeDef named in ``replace`` is those bytes instead."""
    node_extra, op_extra, drop, replace = node_extra or {}, op_extra or {}, drop or {}, replace or {}
    meta = meta_graph_pb2.MetaGraphDef.FromString(meta.SerializeToString())
    for node in meta.graph_def.node:
        if node.name in drop:
            del node.attr[drop[node.name]]
    nodes = b"".join(
        _ld(1, replace[n.name] if n.name in replace else n.SerializeToString() + node_extra.get(n.name, b""))
        for n in meta.graph_def.node
    )
    ops = b"".join(
        _ld(1, op.SerializeToString() + op_extra.get(op.name, b"")) for op in meta.meta_info_def.stripped_op_list.op
    )
    del meta.graph_def.node[:]
    graph_def = nodes + meta.graph_def.SerializeToString()
    meta.meta_info_def.ClearField("stripped_op_list")
    meta_info = meta.meta_info_def.SerializeToString() + _ld(2, ops)
    meta.ClearField("graph_def")
    meta.ClearField("meta_info_def")
    return meta.SerializeToString() + _ld(1, meta_info) + _ld(2, graph_def)


def _rewrite_graph_def(data: bytes, **kwargs: Any) -> Any:
    return fastmeta.rewrite_meta_graph(data, **kwargs).graph_def


FRONT_DOORS = {"import": _fm_graph_def, "rewrite": _rewrite_graph_def, "dropin": _dropin_graph_def}


def _assert_as_tensorflow(data: bytes) -> Any:
    """Each front door's GraphDef is TensorFlow's (the rewrite's keeps _output_shapes);
    returns TensorFlow's."""
    expected = tf_import(data).graph_def
    for door, run in FRONT_DOORS.items():
        ignore = ("_output_shapes",) if door == "rewrite" else ()
        diffs = diff_graph_defs(expected, run(data), ignore_attrs=ignore)
        assert diffs == [], f"{door}: " + "\n".join(diffs[:20])
    return expected


def _tf_error(data: bytes) -> str:
    """TensorFlow's import of ``data`` fails: its message."""
    tf = _tf()
    with tf.Graph().as_default(), pytest.raises(ValueError) as info:
        tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data))
    return str(info.value)


def _assert_refused_as_tensorflow(data: bytes, node: str) -> None:
    """TensorFlow refuses the file with a ValueError; so does each front door of fastmeta,
    with a GraphError naming ``node`` and TensorFlow's reason."""
    reason = _tf_error(data).split("\n")[0]
    attr = _tf_error(data).split(" for attr ")[-1].split("\n")[0] if " for attr " in _tf_error(data) else ""
    for door, run in FRONT_DOORS.items():
        with pytest.raises(fastmeta.GraphError) as info:
            run(data)
        assert info.value.node == node, door
        assert reason in str(info.value), (door, reason, str(info.value))
        assert attr in str(info.value), (door, attr, str(info.value))


# --- 1. an attr entry with a key and no value -----------------------------------------------


def test_a_valueless_attr_with_a_default_takes_the_default() -> None:
    """Placeholder's ``shape`` (default: unknown rank) present with no value: TensorFlow
    fills in the default, as fastmeta does."""
    data = _assemble(_small_meta(), {"p": _entry("shape", b"")}, drop={"p": "shape"})
    expected = _assert_as_tensorflow(data)
    p = next(n for n in expected.node if n.name == "p")
    assert p.attr["shape"].HasField("shape")


def test_a_valueless_type_attr_without_a_default_is_refused() -> None:
    """Identity's ``T`` (a type attr, no default) present with no value: TensorFlow's
    importer refuses the node ('AttrValue missing value with expected type'); so does
    fastmeta, naming it."""
    _assert_refused_as_tensorflow(_assemble(_small_meta(), {"i": _entry("T", b"")}, drop={"i": "T"}), "i")


def test_a_valueless_list_attr_under_its_minimum_is_refused() -> None:
    """IdentityN's ``T`` (list(type), at least 1) with no value counts as an empty list:
    too short for TensorFlow, and for fastmeta."""
    _assert_refused_as_tensorflow(_assemble(_small_meta(), {"n": _entry("T", b"")}, drop={"n": "T"}), "n")


def test_a_valueless_attr_of_unknown_fields_only_is_refused() -> None:
    """An AttrValue holding only an unknown field has no value either."""
    data = _assemble(_small_meta(), {"i": _entry("T", _vi(99, 1))}, drop={"i": "T"})
    _assert_refused_as_tensorflow(data, "i")


# --- 2. an attr map that repeats a key ----------------------------------------------------------


def test_a_repeated_key_set_then_valueless_is_refused() -> None:
    """The last entry of a key wins: ``T`` given, then given no value, has none."""
    _assert_refused_as_tensorflow(_assemble(_small_meta(), {"i": _entry("T", b"")}), "i")


def test_a_repeated_key_valueless_then_set_is_imported() -> None:
    data = _assemble(_small_meta(), {"i": _entry("T", b"") + _entry("T", _vi(6, 1))}, drop={"i": "T"})
    _assert_as_tensorflow(data)


def test_a_repeated_key_with_a_defaulted_attr() -> None:
    """Placeholder's ``shape`` set, then given no value: the default fills it."""
    data = _assemble(_small_meta(), {"p": _entry("shape", _ld(7, _ld(2, _vi(1, 3)))) + _entry("shape", b"")})
    _assert_as_tensorflow(data)


def test_a_repeated_key_last_value_wins() -> None:
    data = _assemble(_small_meta(), {"p": _entry("shape", _ld(7, b"")) + _entry("shape", _ld(7, _ld(2, _vi(1, 3))))})
    expected = _assert_as_tensorflow(data)
    p = next(n for n in expected.node if n.name == "p")
    assert [d.size for d in p.attr["shape"].shape.dim] == [3]


def test_a_repeated_class_key() -> None:
    class_of = _ld(1, _ld(2, b"loc:@p"))
    data = _assemble(_small_meta(), {"i": _entry("_class", class_of) + _entry("_class", _ld(1, _ld(2, b"loc:@i")))})
    _assert_as_tensorflow(data)


# --- 3. the producer op list's drop rule, values in other encodings --------------------------


FLOAT_1_2 = struct.pack("<ff", 1.0, 2.0)
TENSOR_HEAD = _vi(1, 1) + _ld(2, _ld(2, _vi(1, 2)))  # dtype float, shape [2]
FUNC_ATTR_A = _ld(2, _ld(1, b"a") + _ld(2, _vi(3, 1)))  # NameAttrList.attr entries
FUNC_ATTR_B = _ld(2, _ld(1, b"b") + _ld(2, _vi(3, 2)))

# (attr type, the producer OpDef's default, the node's value): equal as messages or not.
ENCODINGS = {
    "list_int_packed_vs_unpacked": ("list(int)", _ld(1, _ld(3, b"\x01\x02")), _ld(1, _vi(3, 1) + _vi(3, 2))),
    "list_int_in_two_pieces": ("list(int)", _ld(1, _ld(3, b"\x01\x02")), _ld(1, _vi(3, 1)) + _ld(1, _vi(3, 2))),
    "list_empty_packed_field": ("list(int)", _ld(1, b""), _ld(1, _ld(3, b""))),
    "list_type_unpacked": ("list(type)", _ld(1, _ld(6, b"\x01\x03")), _ld(1, _vi(6, 1) + _vi(6, 3))),
    "int_redundant_varint_byte": ("int", _vi(3, 7), b"\x18\x87\x00"),
    "int_overwritten": ("int", _vi(3, 7), _vi(3, 5) + _vi(3, 7)),
    "oneof_member_overwritten": ("int", _vi(3, 7), _ld(2, b"x") + _vi(3, 7)),
    "int_other_value": ("int", _vi(3, 7), _vi(3, 8)),
    "bool_as_2": ("bool", _vi(5, 1), _vi(5, 2)),
    "type_redundant_varint_byte": ("type", _vi(6, 1), b"\x30\x81\x00"),
    "float_minus_zero": ("float", _f32(4, 0.0), _f32(4, -0.0)),
    "float_nan_other_bits": ("float", _f32(4, float("nan")), _varint(4 << 3 | 5) + b"\x01\x00\xc0\x7f"),
    "shape_in_two_pieces": (
        "shape",
        _ld(7, _ld(2, _vi(1, 3)) + _ld(2, _vi(1, 4))),
        _ld(7, _ld(2, _vi(1, 3))) + _ld(7, _ld(2, _vi(1, 4))),
    ),
    "shape_explicit_false_unknown_rank": ("shape", _ld(7, b""), _ld(7, _vi(3, 0))),
    "shape_dim_explicit_zero": ("shape", _ld(7, _ld(2, b"")), _ld(7, _ld(2, _vi(1, 0)))),
    "shape_fields_reordered": ("shape", _ld(7, _ld(2, _vi(1, 3)) + _vi(3, 1)), _ld(7, _vi(3, 1) + _ld(2, _vi(1, 3)))),
    "shape_unknown_rank_vs_unknown_dim": ("shape", _ld(7, _vi(3, 1)), _ld(7, _ld(2, _vi(1, 2**64 - 1)))),
    "tensor_fields_reordered": (
        "tensor",
        _ld(8, TENSOR_HEAD + _ld(5, FLOAT_1_2)),
        _ld(8, _ld(5, FLOAT_1_2) + _ld(2, _ld(2, _vi(1, 2))) + _vi(1, 1)),
    ),
    "tensor_float_val_unpacked": (
        "tensor",
        _ld(8, TENSOR_HEAD + _ld(5, FLOAT_1_2)),
        _ld(8, TENSOR_HEAD + _f32(5, 1.0) + _f32(5, 2.0)),
    ),
    "tensor_content_vs_float_val": (
        "tensor",
        _ld(8, TENSOR_HEAD + _ld(5, FLOAT_1_2)),
        _ld(8, TENSOR_HEAD + _ld(4, FLOAT_1_2)),
    ),
    "func_attrs_reordered": (
        "func",
        _ld(10, _ld(1, b"f") + FUNC_ATTR_A + FUNC_ATTR_B),
        _ld(10, _ld(1, b"f") + FUNC_ATTR_B + FUNC_ATTR_A),
    ),
    "unknown_field": ("int", _vi(3, 7), _vi(3, 7) + _vi(99, 1)),
    "unknown_fields_reordered": ("int", _vi(3, 7) + _vi(98, 1) + _vi(99, 2), _vi(99, 2) + _vi(3, 7) + _vi(98, 1)),
}


def _as_new_producer(attr_type: str, default: bytes, value: bytes) -> bytes:
    """A producer whose Identity has attr ``new_knob`` (which TensorFlow's registry
    lacks) with ``default`` as its op list says, and node ``i`` holding ``value``
    (both spelled as given)."""
    attr_def = _ld(1, b"new_knob") + _ld(2, attr_type.encode()) + _ld(3, default)
    return _assemble(_small_meta(), {"i": _entry("new_knob", value)}, {"Identity": _ld(4, attr_def)})


@pytest.mark.parametrize("case", sorted(ENCODINGS))
def test_the_drop_rule_compares_values_as_tensorflow(case: str) -> None:
    """TensorFlow drops ``new_knob`` when the node's value equals the producer's default
    as a message (protobuf's ==), whatever the bytes; fastmeta decides alike."""
    data = _as_new_producer(*ENCODINGS[case])
    expected = _assert_as_tensorflow(data)
    dropped = "new_knob" not in next(n for n in expected.node if n.name == "i").attr
    got = next(n for n in _fm_graph_def(data).node if n.name == "i")
    assert ("new_knob" not in got.attr) == dropped


@pytest.mark.parametrize("last_is_default", [True, False])
def test_the_drop_rule_takes_a_repeated_keys_last_entry(last_is_default: bool) -> None:
    """``new_knob`` given twice, once at the producer's default: the last entry decides."""
    entries = [_vi(3, 7), _vi(3, 8)]
    if not last_is_default:
        entries.reverse()
    attr_def = _ld(1, b"new_knob") + _ld(2, b"int") + _ld(3, _vi(3, 8))
    data = _assemble(
        _small_meta(), {"i": b"".join(_entry("new_knob", e) for e in entries)}, {"Identity": _ld(4, attr_def)}
    )
    expected = _assert_as_tensorflow(data)
    assert ("new_knob" in next(n for n in expected.node if n.name == "i").attr) != last_is_default


# --- 4. strip_default_attrs on export, values in other encodings ------------------------------


def _packed(*values: int) -> bytes:
    return b"".join(_varint(v) for v in values)


UINT8_4 = _vi(1, 4) + _ld(2, _ld(2, _vi(1, 4)))  # dtype uint8, shape [4]
ONES = _packed(1, 1, 1, 1)
ONES_CONTENT = _ld(4, b"\x01" * 4)
INT32_SCALAR = _vi(1, 3) + _ld(2, b"")

# Pairs of AttrValues (bytes) that TensorFlow's strip_default_attrs compares.
STRIP_PAIRS = {
    **{case: (default, value) for case, (_, default, value) in ENCODINGS.items()},
    "tensor_content_vs_int_val": (
        _ld(8, UINT8_4 + _ld(7, _packed(255, 0, 0, 255))),
        _ld(8, UINT8_4 + _ld(4, bytes([255, 0, 0, 255]))),
    ),
    "tensor_content_other_values": (
        _ld(8, UINT8_4 + _ld(7, _packed(255, 0, 0, 255))),
        _ld(8, UINT8_4 + _ld(4, bytes([255, 0, 0, 0]))),
    ),
    "tensor_int_val_padded_with_its_last": (
        _ld(8, UINT8_4 + _ld(7, _packed(1, 2, 2, 2))),
        _ld(8, UINT8_4 + _ld(7, _packed(1, 2))),
    ),
    "tensor_int_val_empty_is_zeros": (_ld(8, UINT8_4 + _ld(7, _packed(0, 0, 0, 0))), _ld(8, UINT8_4)),
    "tensor_int_val_wraps": (_ld(8, UINT8_4 + _ld(7, _varint(255) * 4)), _ld(8, UINT8_4 + _ld(7, _varint(511) * 4))),
    "tensor_scalar_version_number": (
        _ld(8, INT32_SCALAR + _ld(7, b"\x01")),
        _ld(8, INT32_SCALAR + _vi(3, 5) + _ld(7, b"\x01")),
    ),
    "tensor_content_wrong_size": (
        _ld(8, UINT8_4 + _ld(4, b"\x01\x02")),
        _ld(8, UINT8_4 + _ld(4, b"\x01\x02") + _vi(3, 1)),
    ),
    "tensor_unknown_dim": (
        _ld(8, _vi(1, 4) + _ld(2, _ld(2, _vi(1, 2**64 - 1)))),
        _ld(8, _vi(1, 4) + _ld(2, _ld(2, _vi(1, 2**64 - 1))) + _vi(3, 1)),
    ),
    "tensor_string_padded": (
        _ld(8, _vi(1, 7) + _ld(2, _ld(2, _vi(1, 2))) + _ld(8, b"a") + _ld(8, b"a")),
        _ld(8, _vi(1, 7) + _ld(2, _ld(2, _vi(1, 2))) + _ld(8, b"a")),
    ),
    "tensor_float_minus_zero": (
        _ld(8, _vi(1, 1) + _ld(2, b"") + _ld(5, struct.pack("<f", 0.0))),
        _ld(8, _vi(1, 1) + _ld(2, b"") + _ld(5, struct.pack("<f", -0.0))),
    ),
    "tensor_half_bits": (
        _ld(8, _vi(1, 19) + _ld(2, b"") + _ld(13, _varint(0x3C00))),
        _ld(8, _vi(1, 19) + _ld(2, b"") + _ld(4, b"\x00\x3c")),
    ),
    "func_with_tensor_attr": (
        _ld(10, _ld(1, b"f") + _ld(2, _ld(1, b"t") + _ld(2, _ld(8, UINT8_4 + _ld(7, ONES))))),
        _ld(10, _ld(1, b"f") + _ld(2, _ld(1, b"t") + _ld(2, _ld(8, UINT8_4 + ONES_CONTENT)))),
    ),
    "type_with_unknown_field": (_vi(6, 1), _vi(6, 1) + _vi(99, 1)),
}


@pytest.mark.parametrize("case", sorted(STRIP_PAIRS))
def test_strip_compares_attr_values_as_tensorflow(case: str) -> None:
    """fastmeta's strip_default_attrs rule against TensorFlow's own comparison of the
    pair (what its export calls for each attr: c_api.EqualAttrValueWrapper)."""
    _tf()
    from fastmeta import _attr_equal
    from fastmeta.protos import attr_value_pb2
    from tensorflow.python.client import pywrap_tf_session as c_api

    default, value = STRIP_PAIRS[case]
    a, b = attr_value_pb2.AttrValue.FromString(value), attr_value_pb2.AttrValue.FromString(default)
    expected = c_api.EqualAttrValueWrapper(a.SerializeToString(), b.SerializeToString()) == ""
    assert _attr_equal.same_as_tensorflow(a, b) == expected


def _image_summary_meta(bad_color: bytes) -> bytes:
    """An ImageSummary whose ``bad_color`` (a tensor attr; default: uint8 [255, 0, 0,
    255] in int_val) is spelled ``bad_color``."""
    tf = _tf()
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.uint8, [1, 2, 2, 3], name="x")
        tf.compat.v1.summary.image("img", x)
        meta = meta_graph_pb2.MetaGraphDef.FromString(tf.compat.v1.train.export_meta_graph(graph=g).SerializeToString())
    node = next(n.name for n in meta.graph_def.node if n.op == "ImageSummary")
    return _assemble(meta, {node: _entry("bad_color", bad_color)}, drop={node: "bad_color"})


@pytest.mark.parametrize("spelling", ["tensor_content", "int_val_unpacked", "other_color"])
@pytest.mark.parametrize("route", [{}, {"clear_extraneous_savers": True}])
def test_strip_default_attrs_of_a_tensor_attr(spelling: str, route: dict[str, Any]) -> None:
    """The default spelled another way is stripped as TensorFlow strips it (by the
    tensor's values), by the bytes route of the export and the message route alike."""
    tf = _tf()
    values = {
        "tensor_content": _ld(4, bytes([255, 0, 0, 255])),
        "int_val_unpacked": b"".join(_vi(7, v) for v in (255, 0, 0, 255)),
        "other_color": _ld(4, bytes([0, 0, 0, 255])),
    }
    data = _image_summary_meta(_ld(8, UINT8_4 + values[spelling]))
    tf_graph = tf_import(data).graph
    with tf_graph.as_default():
        expected = tf.compat.v1.train.export_meta_graph(graph=tf_graph, strip_default_attrs=True)
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(data, graph=g)
    got = fastmeta.export_meta_graph(graph=g, strip_default_attrs=True, **route)
    assert {n.name: sorted(n.attr) for n in got.graph_def.node} == {
        n.name: sorted(n.attr) for n in expected.graph_def.node
    }


# --- 5. an attr without a default absent from the node ----------------------------------------


def _matmul_meta() -> meta_graph_pb2.MetaGraphDef:
    """Const ``c``, ``m = MatMul(c, c)``, Placeholder ``p``, as TensorFlow exports them."""
    tf = _tf()
    g = tf.Graph()
    with g.as_default():
        c = tf.constant([[1.0]], name="c")
        tf.linalg.matmul(c, c, name="m")
        tf.compat.v1.placeholder(tf.float32, name="p")
        data = tf.compat.v1.train.export_meta_graph(graph=g).SerializeToString()
    return meta_graph_pb2.MetaGraphDef.FromString(data)


def _without(meta: meta_graph_pb2.MetaGraphDef, node: str, attrs: tuple[str, ...]) -> bytes:
    meta = meta_graph_pb2.MetaGraphDef.FromString(meta.SerializeToString())
    for n in meta.graph_def.node:
        if n.name == node:
            for a in attrs:
                del n.attr[a]
    return meta.SerializeToString()


ABSENT = {
    "matmul_T": ("m", ("T",)),
    "const_value": ("c", ("value",)),
    "const_dtype": ("c", ("dtype",)),
    "const_dtype_and_value": ("c", ("dtype", "value")),
    "placeholder_dtype": ("p", ("dtype",)),
}


@pytest.mark.parametrize("case", sorted(ABSENT))
def test_a_required_attr_absent_is_refused(case: str) -> None:
    """TensorFlow's importer refuses a node lacking an attr its OpDef gives no default
    (``NodeDef missing attr 'T' from Op<...>``; several: ``missing attrs 'dtype',
    'value'``, sorted); so does each front door of fastmeta, with a GraphError naming
    the node and TensorFlow's words, leaving a graph it imports into as it was."""
    node, attrs = ABSENT[case]
    data = _without(_matmul_meta(), node, attrs)
    message = _tf_error(data)
    assert message.startswith("NodeDef missing attr"), message
    reason = message.split(" from Op<")[0]
    for door, run in FRONT_DOORS.items():
        with pytest.raises(fastmeta.GraphError) as info:
            run(data)
        assert info.value.node == node, door
        assert reason in str(info.value), (door, reason, str(info.value))
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(_matmul_meta().SerializeToString(), graph=g, import_scope="a")
    before = g.as_graph_def().SerializeToString(deterministic=True)
    with pytest.raises(fastmeta.GraphError):
        fastmeta.import_meta_graph(data, graph=g, import_scope="b")
    assert g.as_graph_def().SerializeToString(deterministic=True) == before


def _identity_before_op(attrs: bytes) -> bytes:
    """Node ``i`` of ``_small_meta`` with its attr entries ``attrs`` before its op field."""
    return _ld(1, b"i") + attrs + _ld(2, b"Identity") + _ld(3, b"p")


def test_attrs_before_the_op_field_are_checked_too() -> None:
    """Field order is free in protobuf: attrs ahead of ``op`` are the node's as well.
    ``T`` there is found (imported as TensorFlow); given no value there, or absent
    while another attr is there, the node is refused, as TensorFlow refuses it."""
    float_t = _vi(6, 1)
    _assert_as_tensorflow(_assemble(_small_meta(), replace={"i": _identity_before_op(_entry("T", float_t))}))
    _assert_refused_as_tensorflow(_assemble(_small_meta(), replace={"i": _identity_before_op(_entry("T", b""))}), "i")
    data = _assemble(_small_meta(), replace={"i": _identity_before_op(_entry("_class", _ld(1, _ld(2, b"loc:@p"))))})
    assert _tf_error(data).startswith("NodeDef missing attr 'T' from Op<")
    for run in FRONT_DOORS.values():
        with pytest.raises(fastmeta.GraphError, match="NodeDef missing attr 'T'"):
            run(data)


def _assert_both_refuse(data: bytes, node: str) -> None:
    """TensorFlow refuses ``data`` (a ValueError); the TF-free import and the rewrite
    refuse it with a GraphError naming ``node``, the drop-in with TensorFlow's error."""
    reason = _tf_error(data)
    for door, run in FRONT_DOORS.items():
        if door == "dropin":
            with pytest.raises(ValueError, match="node " + node):
                run(data)
            continue
        with pytest.raises(fastmeta.GraphError) as info:
            run(data)
        assert info.value.node == node, (door, reason)


def test_counts_and_types_of_attrs_before_the_op_field_are_checked() -> None:
    """Attrs ahead of ``op`` count for the node's signature too (they were read before
    the op's OpDef was known): ``IdentityN`` given two types there and three inputs, and
    ``Identity`` typed int32 there reading a float, are refused as TensorFlow refuses
    them; given what they read, they are imported as TensorFlow imports them."""
    two_floats = _ld(1, _vi(6, 1) + _vi(6, 1))  # AttrValue{list{type: [float, float]}}
    n_before_op = _ld(1, b"n") + _entry("T", two_floats) + _ld(2, b"IdentityN")
    _assert_as_tensorflow(_assemble(_small_meta(), replace={"n": n_before_op + _ld(3, b"p") + _ld(3, b"p")}))
    three_inputs = n_before_op + _ld(3, b"p") + _ld(3, b"p") + _ld(3, b"p")
    _assert_both_refuse(_assemble(_small_meta(), replace={"n": three_inputs}), "n")
    int32_t = _vi(6, 3)
    _assert_both_refuse(_assemble(_small_meta(), replace={"i": _identity_before_op(_entry("T", int32_t))}), "i")


def _defun_without(function: str, node: str, attr: str) -> bytes:
    meta = meta_graph_pb2.MetaGraphDef.FromString((HERE / "fixtures" / "corpus" / "defun_library.meta").read_bytes())
    f = next(f for f in meta.graph_def.library.function if f.signature.name == function)
    del next(n for n in f.node_def if n.name == node).attr[attr]
    return meta.SerializeToString()


def test_a_function_body_node_lacking_a_required_attr_is_imported() -> None:
    """TensorFlow's importer does not check a function's body nodes against their
    OpDefs: a body node of a function no node calls, lacking its ``T``, is imported, as
    fastmeta imports it (the library as the file has it)."""
    _assert_as_tensorflow(_defun_without("triple_grad_UVQ4cyvFJaM", "mul_0", "T"))


def test_a_called_functions_body_node_lacking_a_required_attr_is_refused() -> None:
    """TensorFlow instantiates a function some node calls, and fails (NotFoundError, not
    the importer's ValueError) when the instantiation needs the missing attr; fastmeta
    instantiates it too (tests/TF_BEHAVIOUR.md §6c), refusing the import with a
    FunctionBodyError naming the caller and the function, the graph untouched."""
    tf = _tf()
    data = _defun_without("__inference_doubled_sum_6268", "mul", "T")
    with tf.Graph().as_default(), pytest.raises(tf.errors.NotFoundError, match="type attr not found: T") as tf_error:
        tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data))
    g = fastmeta.Graph()
    with pytest.raises(fastmeta.FunctionBodyError) as info:
        fastmeta.import_meta_graph(data, graph=g)
    assert str(tf_error.value) in str(info.value)
    assert info.value.function == "__inference_doubled_sum_6268" and info.value.body_node == "mul"
    assert not g.get_operations()


# --- an _output_shapes attr that is no list(shape) ---------------------------------------------


@pytest.mark.parametrize(
    "value", ["f: 1.5", 's: "x"', 'list { s: "x" }', "list { shape {} i: 2 }", "list { shape {} }"]
)
def test_an_output_shapes_attr_of_another_kind_stays_as_in_tensorflow(value: str) -> None:
    # TensorFlow's importer reads _output_shapes as list(shape) and then clears it; a value
    # it cannot read so stays in the node (fastmeta dropped every _output_shapes).
    from google.protobuf import text_format

    meta = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(
        'node { name: "c" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } } attr { key: "value" value '
        '{ tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1 } } } attr { key: "_output_shapes" value { '
        + value
        + " } } }",
        meta.graph_def,
    )
    expected = _assert_as_tensorflow(meta.SerializeToString())
    kept = "_output_shapes" in expected.node[0].attr
    assert kept == (value != "list { shape {} }")
