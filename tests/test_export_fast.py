"""The default ``export_meta_graph`` (and ``Saver.save``'s meta graph) writes the
GraphDef at the bytes level: the core's rewritten NodeDefs with their recorded
``_output_shapes`` spliced in (``fastmeta.export._graph_def_bytes``), Python making only
the nodes the core leaves and those fastmeta created. Its result must parse equal to
the route through messages (``_FAST_GRAPH_DEF = False``, which the differential tests of
test_export_meta_graph.py hold against TensorFlow), on the whole corpus and on graphs
made to reach every rule: input_map, scopes, ops created after the import, two imports
into one graph, a file that recorded no shapes, or fewer or more than an op's outputs,
and malformed recorded bytes. With ``clear_devices`` and / or ``strip_default_attrs``
too (the core drops devices and default-valued attrs from the bytes), also on attrs
spelled in other encodings, ``_class`` and ``frame_name`` values the message route
rewrites, and nodes with an input an input_map remapped.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fastmeta  # noqa: E402
import fastmeta.export as export  # noqa: E402
from corpus_fixtures import CORPUS, FIXTURES, IDS  # noqa: E402
from fastmeta.graph import _Segment  # noqa: E402
from fastmeta.protos import meta_graph_pb2  # noqa: E402


def _read(name: str) -> meta_graph_pb2.MetaGraphDef:
    return fastmeta.read_meta_graph_file(CORPUS / FIXTURES[name]["file"])


def _import(name: str, source: Any = None, **kwargs: Any) -> tuple[fastmeta.Graph, Any]:
    """A corpus meta graph imported into a fresh graph, its required input_map made of a
    placeholder created first (so the graph has created ops before the import)."""
    fx = FIXTURES[name]
    g = fastmeta.Graph()
    with g.as_default():
        req = fx["required_input_map"]
        imap = None
        if req:
            ph = req["replacement"]
            imap = {req["key"]: g.placeholder(ph["dtype"], ph["shape"], name=ph["name"])}
        saver = fastmeta.import_meta_graph(
            source if source is not None else str(CORPUS / fx["file"]), input_map=imap, **kwargs
        )
    return g, saver


def _both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, g: fastmeta.Graph, **kwargs: Any
) -> tuple[meta_graph_pb2.MetaGraphDef, meta_graph_pb2.MetaGraphDef]:
    """The export through bytes and through messages, as returned and as written
    (compared here), in that order."""
    out = []
    for fast in (True, False):
        monkeypatch.setattr(export, "_FAST_GRAPH_DEF", fast)
        path = tmp_path / f"fast_{fast}.meta"
        meta = fastmeta.export_meta_graph(str(path), graph=g, **kwargs)
        if kwargs.get("as_text"):
            from google.protobuf import text_format

            written = text_format.Parse(path.read_text(), meta_graph_pb2.MetaGraphDef())
        else:
            written = meta_graph_pb2.MetaGraphDef.FromString(path.read_bytes())
        assert written == meta
        out.append(meta)
    return out[0], out[1]


def _assert_equal(fast: meta_graph_pb2.MetaGraphDef, slow: meta_graph_pb2.MetaGraphDef) -> None:
    assert len(fast.graph_def.node) == len(slow.graph_def.node)
    for a, b in zip(fast.graph_def.node, slow.graph_def.node):
        assert a == b, (a, b)
    assert fast == slow


def _nodes_with_shapes(meta: meta_graph_pb2.MetaGraphDef) -> int:
    return sum("_output_shapes" in n.attr for n in meta.graph_def.node)


# ---------------------------------------------------------------------------
# the corpus
# ---------------------------------------------------------------------------
ARGS: list[tuple[str, dict[str, Any]]] = [
    ("default", {}),
    ("as_text", {"as_text": True}),
    ("collection_list", {"collection_list": ["variables", "train_op", "nope"]}),
    ("strip_default_attrs", {"strip_default_attrs": True}),
    ("clear_devices", {"clear_devices": True}),
    ("both", {"clear_devices": True, "strip_default_attrs": True}),
]

# The options the core makes at the bytes level besides the default export.
OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("clear_devices", {"clear_devices": True}),
    ("strip_default_attrs", {"strip_default_attrs": True}),
    ("both", {"clear_devices": True, "strip_default_attrs": True}),
]
OPTION_IDS = [o[0] for o in OPTIONS]


@pytest.mark.parametrize("label,kwargs", ARGS, ids=[a[0] for a in ARGS])
@pytest.mark.parametrize("name", IDS)
def test_corpus_export_same_both_ways(
    name: str, label: str, kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    g, _ = _import(name)
    fast, slow = _both(monkeypatch, tmp_path, g, **kwargs)
    _assert_equal(fast, slow)
    if label == "default" and len(slow.graph_def.node):
        assert _nodes_with_shapes(fast) > 0


@pytest.mark.parametrize("name", IDS)
def test_corpus_scoped_import_and_export_scope(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    g, _ = _import(name, import_scope="imp")
    _assert_equal(*_both(monkeypatch, tmp_path, g))
    _assert_equal(*_both(monkeypatch, tmp_path, g, export_scope="imp"))
    for _, kwargs in OPTIONS:
        _assert_equal(*_both(monkeypatch, tmp_path, g, **kwargs))


@pytest.mark.parametrize("label,kwargs", [("default", {}), *OPTIONS], ids=["default", *OPTION_IDS])
@pytest.mark.parametrize("name", IDS)
def test_corpus_saver_export_same_both_ways(
    name: str, label: str, kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Saver.export_meta_graph (its graph as as_graph_def renders it: mapped inputs not
    respelled under clear_devices)."""
    _, saver = _import(name, import_scope="imp")
    if saver is None:
        pytest.skip("no saver")
    out = []
    for fast in (True, False):
        monkeypatch.setattr(export, "_FAST_GRAPH_DEF", fast)
        out.append(saver.export_meta_graph(str(tmp_path / f"{fast}.meta"), **kwargs))
        assert meta_graph_pb2.MetaGraphDef.FromString((tmp_path / f"{fast}.meta").read_bytes()) == out[-1]
    _assert_equal(out[0], out[1])


# ---------------------------------------------------------------------------
# graphs that reach each rule
# ---------------------------------------------------------------------------
def test_ops_created_after_import_and_several_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Created ops between and after three imports into one graph: the second builds a
    Saver (its file has variables and no saver_def: created ops, RestoreV2 and Assign
    shapes inferred by Python), the third maps its input onto a created placeholder
    (its consumers read a tensor of another part). Graph order kept."""
    g, _ = _import("mlp_ref")
    x = FIXTURES["mlp_ref"]["inputs"][0]
    with g.as_default():
        g.placeholder(x["dtype"], x["shape"], name="between")
        fastmeta.import_meta_graph(str(CORPUS / "no_saver_def.meta"), import_scope="two")
        fastmeta.import_meta_graph(
            str(CORPUS / "mlp_ref.meta"), import_scope="three", input_map={x["name"]: g.get_tensor_by_name("between:0")}
        )
        g.placeholder("int32", [3], name="after")
    fast, slow = _both(monkeypatch, tmp_path, g)
    _assert_equal(fast, slow)
    names = [n.name for n in fast.graph_def.node]
    assert names == [op.name for op in g.get_operations()]
    created = [op for op in g.get_operations() if not isinstance(op._part, _Segment)]
    assert "SaveV2" in {op.type for op in created}  # (the Saver built)
    assert names.index("between") < names.index("three/" + x["name"].split(":")[0]) < names.index("after")
    # The input_map respelled under an export_scope / clear_devices, both ways alike.
    for _, kwargs in OPTIONS:
        _assert_equal(*_both(monkeypatch, tmp_path, g, **kwargs))
    _assert_equal(*_both(monkeypatch, tmp_path, g, export_scope="three"))
    # (there: "between:0" as TensorFlow spells it, where as_graph_def renders "between")
    assert any("between:0" in n.input for n in _both(monkeypatch, tmp_path, g, clear_devices=True)[0].graph_def.node)
    assert not any("between:0" in n.input for n in fast.graph_def.node)


def _edit_shapes(name: str, edit: Any) -> bytes:
    """A corpus file with each node's recorded ``_output_shapes`` changed by ``edit``
    (node -> None: leave it)."""
    meta = _read(name)
    for node in meta.graph_def.node:
        edit(node)
    return meta.SerializeToString()


def _drop_shapes(node: Any) -> None:
    if "_output_shapes" in node.attr:
        del node.attr["_output_shapes"]


@pytest.mark.parametrize("name", IDS)
def test_file_without_recorded_shapes(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No node recorded shapes: the core pads with unknown shapes, follows Identity to
    its input, and leaves the shapes Python infers (Const, Assign...) to Python."""
    g, _ = _import(name, source=_edit_shapes(name, _drop_shapes))
    _assert_equal(*_both(monkeypatch, tmp_path, g))


def _more_and_fewer(node: Any) -> None:
    """Every third node recorded one shape too many, every third one too few (Identity
    and Const among them)."""
    if "_output_shapes" not in node.attr:
        return
    shapes = node.attr["_output_shapes"].list.shape
    k = sum(map(ord, node.name)) % 3
    if k == 0:
        shapes.add(dim=[{"size": 7}])
    elif k == 1 and len(shapes):
        del shapes[-1]


@pytest.mark.parametrize("name", IDS)
def test_recorded_counts_other_than_the_outputs(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    g, _ = _import(name, source=_edit_shapes(name, _more_and_fewer))
    _assert_equal(*_both(monkeypatch, tmp_path, g))


def test_identity_chain_without_shapes_follows_its_input(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Identity nodes that recorded nothing get their input's recorded shape, through a
    chain of them, as Python's inference gives it (not unknown)."""
    meta = _read("mlp_ref")
    idents = [n for n in meta.graph_def.node if n.op == "Identity" and not n.input[0].startswith("^")]
    assert idents
    for n in idents:
        del n.attr["_output_shapes"]
    g, _ = _import("mlp_ref", source=meta.SerializeToString())
    fast, slow = _both(monkeypatch, tmp_path, g)
    _assert_equal(fast, slow)
    by_name = {n.name: n for n in fast.graph_def.node}
    known = [n for n in idents if not by_name[n.name].attr["_output_shapes"].list.shape[0].unknown_rank]
    assert known  # (some read variables whose shapes were recorded)


@pytest.mark.parametrize("label,kwargs", [("default", {}), *OPTIONS], ids=["default", *OPTION_IDS])
def test_export_makes_no_message_per_node(
    label: str, kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The export (default, or with clear_devices / strip_default_attrs) neither parses
    the graph into messages (``as_graph_def``) nor each imported node: only the few the
    core leaves to Python; and the devices and default-valued attrs are gone."""
    g, _ = _import("mlp_ref")
    plain = fastmeta.export_meta_graph(graph=g)
    calls = []
    node_def = _Segment.node_def

    def counted(self: _Segment, i: int) -> Any:
        calls.append(i)
        return node_def(self, i)

    def refused(self: fastmeta.Graph) -> Any:
        raise AssertionError("as_graph_def called")

    monkeypatch.setattr(_Segment, "node_def", counted)
    monkeypatch.setattr(fastmeta.Graph, "as_graph_def", refused)
    meta = fastmeta.export_meta_graph(str(tmp_path / "m.meta"), graph=g, **kwargs)
    assert len(calls) * 10 < len(meta.graph_def.node)
    devices = sum(bool(n.device) for n in meta.graph_def.node)
    attrs = sum(len(n.attr) for n in meta.graph_def.node)
    assert sum(bool(n.device) for n in plain.graph_def.node) > 0
    assert (devices == 0) == bool(kwargs.get("clear_devices"))
    assert (attrs < sum(len(n.attr) for n in plain.graph_def.node)) == bool(kwargs.get("strip_default_attrs"))
    assert meta.meta_info_def.stripped_default_attrs == bool(kwargs.get("strip_default_attrs"))


# ---------------------------------------------------------------------------
# nodes spelled so that the bytes alone do not say what the message route makes
# ---------------------------------------------------------------------------
def _entry(key: str, value: bytes) -> bytes:
    """A NodeDef.attr field: the map entry (key, value) with ``value`` as given."""
    body = export._field_head(1, len(key.encode())) + key.encode() + export._field_head(2, len(value)) + value
    return export._field_head(5, len(body)) + body


def _with_node_bytes(name: str, edit: dict[str, Any]) -> bytes:
    """A corpus file whose nodes named in ``edit`` are written as ``edit[name](node)``
    gives them (bytes: the NodeDef's, spelled as the test wants)."""
    return _meta_with_node_bytes(_read(name), edit)


def _meta_with_node_bytes(meta: Any, edit: dict[str, Any]) -> bytes:
    """``meta`` serialized with its nodes named in ``edit`` written as ``edit[name](node)``
    gives them."""
    gd = meta.graph_def
    body = b""
    for node in gd.node:
        data = edit[node.name](node) if node.name in edit else node.SerializeToString()
        body += export._field_head(1, len(data)) + data
    rest = type(gd)()
    rest.versions.CopyFrom(gd.versions)
    rest.library.CopyFrom(gd.library)
    body += rest.SerializeToString()
    meta.ClearField("graph_def")
    return meta.SerializeToString() + export._field_head(2, len(body)) + body


def _without(node: Any, *keys: str) -> bytes:
    out = type(node)()
    out.CopyFrom(node)
    for k in keys:
        if k in out.attr:
            del out.attr[k]
    return out.SerializeToString()


def test_default_attrs_spelled_otherwise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Default values in another encoding (a list's ints unpacked, a bool true spelled
    2, an overlong varint), an entry with a field more: stripped, or kept, as the
    message route does."""
    meta = _read("layers_cnn_v1")
    conv = next(n.name for n in meta.graph_def.node if n.op == "Conv2D")
    bias = next(n.name for n in meta.graph_def.node if n.op == "BiasAdd")
    unpacked = b"\x18\x01" * 4  # ListValue.i 1, 1, 1, 1 unpacked: dilations' default
    key = b"data_format"
    value = b"\x12\x04NHWC"
    odd = export._field_head(1, len(key)) + key + export._field_head(2, len(value)) + value + b"\x18\x01"
    edits = {
        conv: lambda n: (
            _without(n, "dilations", "use_cudnn_on_gpu", "explicit_paddings", "data_format")
            + _entry("dilations", export._field_head(1, len(unpacked)) + unpacked)
            + _entry("use_cudnn_on_gpu", b"\x28\x02")  # (true, the default)
            + _entry("explicit_paddings", b"")  # (no value: the import writes the default in)
            + _entry("data_format", b"\x12\x84\x00NHWC")
        ),  # (its length in two bytes)
        # an entry with a field more: its node left to Python
        bias: lambda n: _without(n, "data_format") + export._field_head(5, len(odd)) + odd,
    }
    g, _ = _import("layers_cnn_v1", source=_with_node_bytes("layers_cnn_v1", edits))
    for _, kwargs in OPTIONS:
        _assert_equal(*_both(monkeypatch, tmp_path, g, **kwargs))
    plain, _ = _both(monkeypatch, tmp_path, g)
    fast, _ = _both(monkeypatch, tmp_path, g, strip_default_attrs=True)
    before = plain.graph_def.node[[n.name for n in plain.graph_def.node].index(conv)].attr
    after = {n.name: n for n in fast.graph_def.node}[conv].attr
    assert {"dilations", "use_cudnn_on_gpu", "data_format", "explicit_paddings"} <= set(before)
    assert {"dilations", "use_cudnn_on_gpu", "data_format"} <= set(before) - set(after)


def test_class_and_frame_name_the_message_route_rewrites(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Under clear_devices the message route writes ``_class`` back as its list's
    strings and an Enter's ``frame_name`` as its string: values holding more (an
    ``i`` beside the list, an ``i`` after the string: the oneof's) come out rewritten
    both ways."""
    meta = _read("control_flow_v1")
    colocated = next(n.name for n in meta.graph_def.node if "_class" in n.attr)
    enter = next(n.name for n in meta.graph_def.node if n.op == "Enter")

    def with_class(n: Any) -> bytes:
        lst = n.attr["_class"].list.SerializeToString() + b"\x18\x07"  # (ListValue.i 7)
        return _without(n, "_class") + _entry("_class", export._field_head(1, len(lst)) + lst)

    def with_frame(n: Any) -> bytes:
        s = n.attr["frame_name"].s
        return _without(n, "frame_name") + _entry("frame_name", export._field_head(2, len(s)) + s + b"\x18\x01")

    source = _with_node_bytes("control_flow_v1", {colocated: with_class, enter: with_frame})
    g, _ = _import("control_flow_v1", source=source)
    for _, kwargs in OPTIONS:
        _assert_equal(*_both(monkeypatch, tmp_path, g, **kwargs))
    fast, _ = _both(monkeypatch, tmp_path, g, clear_devices=True)
    by_name = {n.name: n for n in fast.graph_def.node}
    assert not by_name[colocated].attr["_class"].list.i
    assert by_name[enter].attr["frame_name"].WhichOneof("value") == "s"


# ---------------------------------------------------------------------------
# Saver.save: the file alone
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("strip", [False, True])
def test_saver_save_meta_graph_same_both_ways(strip: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    g = fastmeta.Graph()
    saver = fastmeta.import_meta_graph(str(CORPUS / "mlp_ref.meta"), graph=g)
    values = saver.restore(str(CORPUS / FIXTURES["mlp_ref"]["checkpoint"]))
    written = []
    for fast in (True, False, True):
        monkeypatch.setattr(export, "_FAST_GRAPH_DEF", fast)
        prefix = saver.save(str(tmp_path / f"m{len(written)}"), values, strip_default_attrs=strip)
        written.append(meta_graph_pb2.MetaGraphDef.FromString(Path(prefix + ".meta").read_bytes()))
    _assert_equal(written[0], written[1])
    _assert_equal(written[2], written[1])
    # The first save checked the import's bytes; the next one need not.
    assert all(p.exported_well_formed for p in g._parts if isinstance(p, _Segment))


@pytest.mark.parametrize("attr", ["_output_shapes", "dtype"])
def test_malformed_attr_value_is_refused_at_import(attr: str) -> None:
    """A malformed attr value or recorded shape list: refused when the file is imported
    (as TensorFlow refuses the file), so no graph holds bytes an export could not write."""
    meta = _read("mlp_ref")
    node = next(n for n in meta.graph_def.node if attr in n.attr)
    # AttrValue whose list field claims 100 bytes where there are 2.
    node.attr[attr].Clear()
    node.attr[attr].list.s.append(b"xy")
    data = meta.SerializeToString()
    good = node.attr[attr].SerializeToString()
    bad = b"\x0a\x64" + good[2:]
    assert len(bad) == len(good) and data.count(good) == 1
    data = data.replace(good, bad)
    with pytest.raises(fastmeta.ParseError) as info:
        _import("mlp_ref", source=data)
    assert f"Node '{node.name}'" in str(info.value) and f"attr '{attr}'" in str(info.value)


# ---------------------------------------------------------------------------
# the core's check that the bytes it wrote parse (Saver.save writes them unparsed)
# ---------------------------------------------------------------------------
def test_saver_save_checks_the_bytes_in_the_core(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A well-formed import's bytes are checked by the core (export_nodes' WireSchema),
    not parsed with protobuf; the file is the same as the message route's."""
    from fastmeta.protos import graph_pb2

    g, saver = _import("mlp_ref")
    values = saver.restore(str(CORPUS / FIXTURES["mlp_ref"]["checkpoint"]))
    parsed = []
    original = graph_pb2.GraphDef.FromString

    def counted(data: Any) -> Any:
        parsed.append(len(data))
        return original(data)

    monkeypatch.setattr(graph_pb2.GraphDef, "FromString", staticmethod(counted))
    fast = saver.save(str(tmp_path / "fast"), values)
    assert parsed == []
    assert all(p.exported_well_formed for p in g._parts if isinstance(p, _Segment))
    monkeypatch.setattr(export, "_FAST_GRAPH_DEF", False)
    slow = saver.save(str(tmp_path / "slow"), values)
    _assert_equal(*(meta_graph_pb2.MetaGraphDef.FromString(Path(p + ".meta").read_bytes()) for p in (fast, slow)))


def _attr_value_with(field: int, payload: bytes) -> bytes:
    return export._field_head(field, len(payload)) + payload


# AttrValue bytes appended to a node as an attr `_odd`: protobuf refuses the first ones
# (invalid UTF-8 in a string, a length past the end, an unterminated group, a truncated
# packed varint, an invalid wire type, field number 0), accepts the others (a known
# field of another wire type, an unknown group, a packed list of whole values).
_REFUSED = {
    "utf8": _attr_value_with(10, b"\x0a\x02\xff\xfe"),  # func.name
    "utf8_surrogate": _attr_value_with(10, b"\x0a\x03\xed\xa0\x80"),
    "utf8_deep": _attr_value_with(1, _attr_value_with(7, b"\x12\x04\x10\x01\x12\x01\xc0")),  # shape.dim.name
    "length": b"\x0a\x64xy",
    "group": b"\xfb\x01\x08\x01",
    "packed": _attr_value_with(1, b"\x1a\x01\x80"),  # list.i
    "wire_type": b"\x0f\x00",
    "field_zero": b"\x00\x01",
}
_ACCEPTED = {
    "wire_mismatch": b"\x10\x05",  # s as a varint
    "group_unknown": b"\xfb\x01\x08\x01\xfc\x01",
    "packed_whole": _attr_value_with(1, b"\x1a\x02\x96\x01"),
    "unpacked": _attr_value_with(1, b"\x18\x05\x18\x06"),
    "utf8_valid": _attr_value_with(10, b"\x0a\x04\xf0\x9f\x98\x80"),
}


@pytest.mark.parametrize("case", sorted(_REFUSED) + sorted(_ACCEPTED))
def test_odd_bytes_saved_as_through_messages(case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Odd attr bytes: protobuf's refusals are refused by the import (a ParseError naming
    the node); what it accepts is written the same both ways by Saver.save and
    export_meta_graph."""
    from google.protobuf.message import DecodeError

    value = _REFUSED.get(case, _ACCEPTED.get(case, b""))
    refused = case in _REFUSED
    from fastmeta.protos import attr_value_pb2

    try:
        attr_value_pb2.AttrValue.FromString(value)
        assert not refused
    except DecodeError:
        assert refused
    meta = _read("mlp_ref")
    node = next(n.name for n in meta.graph_def.node if n.op == "MatMul")
    source = _with_node_bytes("mlp_ref", {node: lambda n: n.SerializeToString() + _entry("_odd", value)})
    if refused:
        with pytest.raises(fastmeta.ParseError) as info:
            _import("mlp_ref", source=source)
        assert f"Node '{node}'" in str(info.value) and "attr '_odd'" in str(info.value)
        return
    _, good = _import("mlp_ref")
    values = good.restore(str(CORPUS / FIXTURES["mlp_ref"]["checkpoint"]))
    results: list[Any] = []
    for fast in (True, False):
        monkeypatch.setattr(export, "_FAST_GRAPH_DEF", fast)
        g, saver = _import("mlp_ref", source=source)
        for save in (False, True):
            try:
                if save:
                    path = Path(saver.save(str(tmp_path / f"s{fast}"), values) + ".meta")
                else:
                    path = tmp_path / f"{fast}.meta"
                    fastmeta.export_meta_graph(str(path), graph=g)
            except fastmeta.errors.Error as e:
                results.append((type(e), str(e)))
                continue
            results.append(meta_graph_pb2.MetaGraphDef.FromString(path.read_bytes()))
    for a, b in zip(results[:2], results[2:]):
        _assert_equal(a, b)


def test_core_check_never_passes_what_protobuf_refuses() -> None:
    """WireSchema.surely_parses, differential against protobuf: true on the corpus'
    GraphDefs, and never true of bytes protobuf refuses (random corruptions of them)."""
    import random

    from fastmeta.protos import graph_pb2
    from google.protobuf.message import DecodeError

    schema = export._graph_def_schema()
    rng = random.Random(1234)
    sure = refused = 0
    for name in sorted(FIXTURES)[:12]:
        data = _read(name).graph_def.SerializeToString()
        assert schema.surely_parses(0, data), name
        for _ in range(150):
            b = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(len(b))
                pick = rng.random()
                if pick < 0.5:
                    b[at] = rng.randrange(256)
                elif pick < 0.7:
                    b[at : at + 1] = bytes(rng.choice([[0xFF], [0x80, 0x80], [0xC0], [0xED, 0xA0, 0x80], [0x0B], []]))
                else:
                    del b[at:]
            got = schema.surely_parses(0, bytes(b))
            try:
                graph_pb2.GraphDef.FromString(bytes(b))
            except DecodeError:
                refused += 1
                assert not got, (name, bytes(b))
            sure += got
    assert refused > 100 and sure > 100  # (both outcomes reached)


# ---------------------------------------------------------------------------
# export_nodes on several threads
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"clear_devices": True}, {"strip_default_attrs": True}])
def test_export_is_identical_for_any_thread_count(
    kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The core's nodes (ranges on threads, joined; nodes left to Python in every
    range) and the file written: the same bytes whatever the thread count, and equal
    to the message route's."""
    from test_core_threads import replicated_meta_graph

    g = fastmeta.Graph()
    fastmeta.import_meta_graph(replicated_meta_graph(60), graph=g)  # ~16k nodes
    (part,) = [p for p in g._parts if isinstance(p, _Segment)]
    # (Shape's nodes, ~660 spread over the graph, left to Python: nodes left in every range)
    rules = [
        (op, export._OUTPUTS_BY_PYTHON, missing, []) if op == "Shape" else (op, outputs, missing, args)
        for op, outputs, missing, args in export._segment_rules(g, part)
    ]
    schema = export._graph_def_schema()
    outputs = []
    for threads in (1, 2, 3, 7):
        data, left, left_at, sure = part.core.export_nodes(rules, True, False, [], threads, schema)
        outputs.append((b"".join(data), left, left_at, sure))
        assert len(data) == (1 if threads == 1 else min(threads * 4, len(part) // 4096))
    assert outputs[0][3] and len(outputs[0][1]) >= 10
    assert all(o == outputs[0] for o in outputs)
    written = []
    for threads in (1, 2, 5):
        monkeypatch.setattr(export, "_EXPORT_THREADS", threads)
        part.exported_well_formed = False
        path = tmp_path / f"t{threads}.meta"
        fastmeta.export_meta_graph(str(path), graph=g, **kwargs)
        written.append(path.read_bytes())
    assert len(set(written)) == 1
    monkeypatch.setattr(export, "_FAST_GRAPH_DEF", False)
    slow = fastmeta.export_meta_graph(graph=g, **kwargs)
    _assert_equal(meta_graph_pb2.MetaGraphDef.FromString(written[0]), slow)


def test_each_variable_converted_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A variable in several collections (global and trainable) is made into its
    VariableDef once per export; the collections written are the same as before."""
    from fastmeta.variables import Variable

    g, saver = _import("mlp_ref")
    before = fastmeta.export_meta_graph(graph=g)
    calls: list[int] = []
    original = Variable.to_proto

    def counted(self: Any, export_scope: str | None = None) -> Any:
        calls.append(id(self))
        return original(self, export_scope=export_scope)

    monkeypatch.setattr(Variable, "to_proto", counted)
    after = fastmeta.export_meta_graph(graph=g)
    shared = set(g.get_collection("variables")) & set(g.get_collection("trainable_variables"))
    assert shared and len(calls) == len(set(calls))
    assert after.collection_def == before.collection_def
    calls.clear()
    prefix = saver.save(str(tmp_path / "m"), saver.restore(str(CORPUS / FIXTURES["mlp_ref"]["checkpoint"])))
    assert calls and len(calls) == len(set(calls))
    written = meta_graph_pb2.MetaGraphDef.FromString(Path(prefix + ".meta").read_bytes())
    assert written.collection_def == before.collection_def


# ---------------------------------------------------------------------------
# ops whose output count is an attr: counted by the core from the node's attrs
# ---------------------------------------------------------------------------
def _made_by_python(monkeypatch: pytest.MonkeyPatch, g: fastmeta.Graph, **kwargs: Any) -> list[str]:
    """The op types of the imported nodes an export makes into messages (those the
    core leaves to Python)."""
    made: list[str] = []
    node_def = _Segment.node_def

    def counted(self: _Segment, i: int) -> Any:
        node = node_def(self, i)
        made.append(node.op)
        return node

    with monkeypatch.context() as m:
        m.setattr(_Segment, "node_def", counted)
        fastmeta.export_meta_graph(graph=g, **kwargs)
    return made


@pytest.mark.parametrize("label,kwargs", [("default", {}), *OPTIONS], ids=["default", *OPTION_IDS])
def test_attr_counted_outputs_written_by_the_core(
    label: str, kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ShapeN, IdentityN, Unpack, Split... (see test_export_meta_graph's
    attr_count_meta_graph): the core counts their outputs from their attrs, none is
    made by Python, and the export is the message route's."""
    from test_export_meta_graph import ATTR_COUNT_OPS, attr_count_meta_graph

    g = fastmeta.Graph()
    fastmeta.import_meta_graph(attr_count_meta_graph(), graph=g)
    assert not ATTR_COUNT_OPS & set(_made_by_python(monkeypatch, g, **kwargs))
    _assert_equal(*_both(monkeypatch, tmp_path, g, **kwargs))


def _attr_count_edited(edits: dict[str, Any]) -> bytes:
    """attr_count_meta_graph with the nodes named in ``edits`` written as each edit
    gives them (NodeDef message -> its bytes)."""
    from test_export_meta_graph import attr_count_meta_graph

    return _meta_with_node_bytes(meta_graph_pb2.MetaGraphDef.FromString(attr_count_meta_graph()), edits)


def _shapes_cut(k: int) -> Any:
    def edit(node: Any) -> bytes:
        del node.attr["_output_shapes"].list.shape[k:]
        return node.SerializeToString()

    return edit


def _shapes_added(node: Any) -> bytes:
    node.attr["_output_shapes"].list.shape.add(dim=[{"size": 9}])
    return node.SerializeToString()


def _attr_spelled(key: str, value: bytes) -> Any:
    def edit(node: Any) -> bytes:
        return _without(node, key) + _entry(key, value)

    return edit


# name -> (edit, whether the core writes the node)
_COUNT_EDITS: dict[str, tuple[str, Any, bool]] = {
    "fewer_shapes": ("shape_n", _shapes_cut(1), True),  # (padded with unknown shapes)
    "no_shapes": ("split", _shapes_cut(0), True),
    "more_shapes": ("unstack", _shapes_added, True),  # (cut to the outputs)
    "overlong_n": ("shape_n", _attr_spelled("N", b"\x18\x83\x00"), True),  # (3 in two bytes)
    "unpacked_types": ("identity_n", _attr_spelled("T", export._field_head(1, 6) + b"\x30\x01\x30\x03\x30\x01"), True),
    "types_packed_twice": (
        "identity_n",
        _attr_spelled("T", export._field_head(1, 7) + b"\x32\x02\x01\x03\x32\x01\x01"),
        True,
    ),
    "n_twice": ("shape_n", _attr_spelled("N", b"\x18\x01\x18\x03"), False),  # (protobuf: the last)
    "types_and_more": (
        "identity_n",
        _attr_spelled("T", export._field_head(1, 7) + b"\x32\x03\x01\x03\x01\x18\x05"),
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(_COUNT_EDITS))
def test_attr_counted_outputs_spelled_otherwise(case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Recorded shapes fewer or more than the attr's count, the count attr in another
    encoding: written by the core as the message route writes them; spellings the core
    does not read (a value holding more than the count) left to Python, the same."""
    name, edit, by_core = _COUNT_EDITS[case]
    g = fastmeta.Graph()
    try:
        fastmeta.import_meta_graph(_attr_count_edited({name: edit}), graph=g)
    except fastmeta.errors.Error as e:  # pragma: no cover - (a spelling the import refuses)
        pytest.fail(f"import refused {case}: {e}")
    made = _made_by_python(monkeypatch, g)
    op = g.get_operation_by_name(name).type
    assert (op not in made) == by_core
    for kwargs in [{}, *(o[1] for o in OPTIONS)]:
        fast, slow = _both(monkeypatch, tmp_path, g, **kwargs)
        _assert_equal(fast, slow)
    node = {n.name: n for n in fast.graph_def.node}[name]
    assert len(node.attr["_output_shapes"].list.shape) == len(g.get_operation_by_name(name).outputs)


# ---------------------------------------------------------------------------
# the bytes written: the same in every process
# ---------------------------------------------------------------------------
# Run in a fresh interpreter: each export of each corpus graph named, written to argv[1].
_EXPORT_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import fastmeta
import fastmeta.export as export
from corpus_fixtures import CORPUS, FIXTURES

out = Path(sys.argv[1])
for name in {names!r}:
    for fast in (True, False):
        export._FAST_GRAPH_DEF = fast
        g = fastmeta.Graph()
        saver = fastmeta.import_meta_graph(str(CORPUS / FIXTURES[name]["file"]), graph=g)
        for label, kwargs in {exports!r}:
            fastmeta.export_meta_graph(str(out / f"{{name}}_{{fast}}_{{label}}.meta"), graph=g, **kwargs)
        if saver is not None and FIXTURES[name].get("checkpoint"):
            values = saver.restore(str(CORPUS / FIXTURES[name]["checkpoint"]))
            saver.save(str(out / f"{{name}}_{{fast}}_save"), values, write_state=False)
"""

# Graphs with map fields to write: collections, signature_def, attr maps (the nodes',
# functions'), control-flow contexts' external_values.
_DETERMINISM_GRAPHS = ["mlp_ref", "misc_graph", "saved_model_tf2", "attr_kinds", "control_flow_v1"]


def test_written_bytes_are_the_same_in_every_process(tmp_path: Path) -> None:
    """The same graphs exported in two processes (other hash seeds, other addresses)
    are written byte for byte alike, both routes, every option (protobuf's map fields,
    serialized in hash order unless asked otherwise, are written sorted by key); the
    files still parse equal to the MetaGraphDef returned."""
    import os
    import subprocess

    exports = [(label, kwargs) for label, kwargs in ARGS if label != "collection_list"]
    script = _EXPORT_SCRIPT.format(tests=str(HERE), names=_DETERMINISM_GRAPHS, exports=exports)
    runs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        out.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, timeout=600)
        runs.append({p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix == ".meta"})
    assert len(runs[0]) >= len(_DETERMINISM_GRAPHS) * 2 * len(exports)
    assert runs[0].keys() == runs[1].keys()
    differ = sorted(k for k in runs[0] if runs[0][k] != runs[1][k])
    assert differ == []
    g, _ = _import("misc_graph")
    returned = fastmeta.export_meta_graph(graph=g)
    assert meta_graph_pb2.MetaGraphDef.FromString(runs[0]["misc_graph_True_default.meta"]) == returned
