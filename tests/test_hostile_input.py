"""Hostile input through the Python entry points: every case is a typed fastmeta error
(also the matching builtin) naming the file and byte offset or the node; never a crash,
a hang or an allocation out of proportion to the input. See docs/HOSTILE_INPUT.md."""

from __future__ import annotations

import os
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastmeta
import pytest
from fastmeta import _core, errors
from fastmeta.errors import ScopeError
from fastmeta.rewrite import rewrite_meta_graph_bytes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
from make_seeds import class_attr, field, meta, node, varint  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "corpus"
SMALL = CORPUS / "no_variables.meta"
REGRESSIONS = ROOT / "tests" / "regressions"


def raises(exc: type[BaseException], fn: Callable[[], Any]) -> BaseException:
    with pytest.raises(exc) as info:
        fn()
    assert isinstance(info.value, fastmeta.Error)
    return info.value


def rewrite(data: bytes, **kwargs: Any) -> Any:
    return fastmeta.rewrite_meta_graph(data, **kwargs)


def test_every_error_class_is_exported_at_the_top() -> None:
    for name in errors.__all__:
        assert getattr(fastmeta, name) is getattr(errors, name), name
        assert name in fastmeta.__all__
        assert issubclass(getattr(errors, name), fastmeta.Error)


def test_missing_file() -> None:
    e = raises(FileNotFoundError, lambda: fastmeta.read_meta_graph_file("/nonexistent/x.meta"))
    assert isinstance(e, fastmeta.MetaGraphNotFoundError)
    assert "/nonexistent/x.meta" in str(e)
    raises(FileNotFoundError, lambda: fastmeta.rewrite_meta_graph("/nonexistent/x.meta"))


def test_directory_and_saved_model_dir(tmp_path: Path) -> None:
    raises(OSError, lambda: fastmeta.read_meta_graph_file(tmp_path))
    (tmp_path / "saved_model.pb").write_bytes(b"")
    e = raises(OSError, lambda: fastmeta.read_meta_graph_file(tmp_path))
    assert "SavedModel" in str(e)


def test_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    # os.listdir spells it with lone surrogates; the core took only UTF-8 str paths
    # (pybind11's TypeError).
    path = os.path.join(os.fsdecode(bytes(tmp_path)), os.fsdecode(b"g\xff.meta"))
    with open(path, "wb") as f:
        f.write(SMALL.read_bytes())
    assert fastmeta.read_meta_graph_file(path) == fastmeta.read_meta_graph_file(SMALL)
    assert fastmeta.rewrite_meta_graph(path, import_scope="s") == fastmeta.rewrite_meta_graph(SMALL, import_scope="s")
    fastmeta.import_meta_graph(path, graph=fastmeta.Graph())
    with open(path, "wb") as f:
        f.write(b"\x12\x05ab")
    e = raises(fastmeta.ParseError, lambda: fastmeta.read_meta_graph_file(path))
    assert "byte offset" in str(e) and e.path == path  # type: ignore[attr-defined]
    raises(FileNotFoundError, lambda: fastmeta.read_meta_graph_file(path + "x"))


def test_empty_file_is_an_empty_graph(tmp_path: Path) -> None:
    path = tmp_path / "empty.meta"
    path.write_bytes(b"")
    assert fastmeta.read_meta_graph_file(path) == fastmeta.read_meta_graph_file(path)
    assert len(fastmeta.read_meta_graph_file(path).graph_def.node) == 0
    assert len(rewrite(b"").graph_def.node) == 0


def test_truncated_at_every_byte(tmp_path: Path) -> None:
    data = SMALL.read_bytes()
    path = tmp_path / "cut.meta"
    for n in range(len(data)):
        cut = data[:n]
        try:
            rewrite(cut)
        except fastmeta.ParseError as e:
            assert "byte offset" in str(e)
            assert e.offset is not None and e.offset <= n
        except fastmeta.GraphError as e:
            assert e.node
        if n % 7 == 0:  # the file path too (slower: one file per cut)
            path.write_bytes(cut)
            try:
                fastmeta.read_meta_graph_file(path)
            except fastmeta.Error as e:
                assert str(path) in str(e)


def test_random_bytes_and_text_errors(tmp_path: Path) -> None:
    rng = __import__("random").Random(7)
    for _ in range(200):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        try:
            rewrite(blob)
        except fastmeta.Error:
            pass
    path = tmp_path / "bad.pbtxt"
    path.write_bytes(b'graph_def { node { name: "a" ')
    e = raises(ValueError, lambda: fastmeta.read_meta_graph_file(path))
    assert str(path) in str(e) and "1:" in str(e)
    path.write_bytes(b"graph_def { nod: 3 }")
    raises(ValueError, lambda: fastmeta.read_meta_graph_file(path))


def test_unknown_fields_are_kept() -> None:
    data = meta(node("a") + field(99, b"zz")) + field(77, 5)
    out = fastmeta.rewrite_meta_graph(data, import_scope="s").SerializeToString()
    assert b"\x9a\x06\x02zz" in out and b"\xe8\x04\x05" in out


@pytest.mark.parametrize(
    "data, what",
    [
        (meta(node(b"a\xff")), "byte offset"),
        (meta(field(1, field(1, b"a") + field(2, b"\xc0\x80"))), "UTF-8"),
        # Inside a function the core copies through unread.
        (
            meta(node("a") + field(2, field(1, field(1, field(1, b"f")) + field(3, field(1, b"\xff"))))),
            "UTF-8",
        ),
    ],
)
def test_invalid_utf8(data: bytes, what: str) -> None:
    try:
        rewrite(data)
    except fastmeta.Error as e:
        assert isinstance(e, ValueError)
        assert what in str(e)


def test_invalid_utf8_offsets(tmp_path: Path) -> None:
    lib = field(2, field(1, field(1, field(1, b"f")) + field(3, field(1, b"n\xff") + field(2, b"NoOp"))))
    data = meta(node("a") + lib)
    e = raises(ValueError, lambda: rewrite(data))
    assert isinstance(e, fastmeta.ParseError) and e.offset == data.index(b"n\xff")
    path = tmp_path / "lib.meta"
    path.write_bytes(data)
    e = raises(ValueError, lambda: fastmeta.read_meta_graph_file(path))
    assert str(path) in str(e) and f"byte offset {data.index(b'n' + bytes([0xFF]))}" in str(e)


def test_wire_errors() -> None:
    e = raises(ValueError, lambda: rewrite(b"\x12\xff\xff\xff\xff\x0fabc"))
    assert "byte offset 1" in str(e)
    raises(ValueError, lambda: rewrite(b"\x12" + b"\xff" * 11))  # overlong varint
    # graph_def as a varint: an unknown field to protobuf (see test_wire_vs_protobuf.py)
    assert len(rewrite(field(2, 5)).graph_def.node) == 0
    # NodeDef.name as a varint: unknown too, leaving a node without a name
    e = raises(ValueError, lambda: rewrite(meta(field(1, field(1, 3)))))
    assert isinstance(e, fastmeta.GraphError) and "invalid node name" in str(e)
    # A length claiming 3 GiB of repeated inputs in a 20-byte file: no large allocation.
    tracemalloc.start()
    try:
        raises(
            ValueError,
            lambda: rewrite(meta(field(1, field(1, b"a") + b"\x1a" + b"\x80\x80\x80\x80\x0c"))),
        )
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "library",
    [
        field(2, field(1, b"f") + b"\x12\x09g"),  # GradientDef.gradient_func past its end
        field(1, field(1, field(1, b"f")) + b"\x1a\x05xy"),  # FunctionDef.node_def past its end
        field(3, b"\x0a\x80"),  # RegisteredGradient: a truncated varint
    ],
    ids=["gradient", "function_body", "registered_gradient"],
)
def test_malformed_library_is_a_parse_error(library: bytes) -> None:
    # The core reads the function library only down to the functions' signatures and
    # copies the rest through; what is malformed below that is found when Python
    # parses it. Every entry point reports it as a ParseError with the byte offset,
    # and an import leaves the target graph untouched.
    data = field(2, node("a") + field(2, library))  # MetaGraphDef.graph_def.library
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(meta(node("x")), graph=graph)
    before = graph.as_graph_def().SerializeToString(deterministic=True)
    for fn in (
        lambda: fastmeta.rewrite_meta_graph(data),
        lambda: rewrite_meta_graph_bytes(data, import_scope="imp"),
        lambda: fastmeta.import_meta_graph(data, graph=graph),
        lambda: fastmeta.import_meta_graph(data, import_scope="imp", graph=graph),
    ):
        e = raises(fastmeta.ParseError, fn)
        assert e.offset is not None and "byte offset" in str(e)  # type: ignore[attr-defined]
    assert graph.as_graph_def().SerializeToString(deterministic=True) == before


def test_deep_nesting() -> None:
    value = field(2, b"s")
    for _ in range(300):
        value = field(10, field(1, b"f") + field(2, field(1, b"k") + field(2, value)))
    attr = field(5, field(1, b"x") + field(2, value))
    data = meta(field(1, field(1, b"a") + field(2, b"NoOp") + attr))
    e = raises(ValueError, lambda: rewrite(data))
    assert "nested" in str(e) and "byte offset" in str(e)
    # Unknown fields nested 100 000 deep: the core does not recurse into them.
    headers: list[bytes] = []
    inner = 1
    for _ in range(100_000):
        headers.append(b"\x7a" + varint(inner))
        inner += len(headers[-1])
    nested = b"".join(reversed(headers)) + b"x"
    g = _core.rewrite_meta_graph(meta(field(1, field(1, b"a") + field(2, b"NoOp") + nested)))
    assert g.num_nodes == 1


def test_deep_nesting_in_text_format(tmp_path: Path) -> None:
    # protobuf's text parser recurses per message: 400 nested AttrValue.func levels were
    # a RecursionError from every entry point.
    levels = 'func { name: "f" attr { key: "k" value { '
    text = 'graph_def { node { name: "a" op: "NoOp" attr { key: "k" value { ' + levels * 400 + "}}}" * 400 + " }}}}"
    path = tmp_path / "deep.pbtxt"
    path.write_text(text)
    for fn in (
        lambda: fastmeta.read_meta_graph_file(path),
        lambda: fastmeta.rewrite_meta_graph(path),
        lambda: fastmeta.rewrite_meta_graph(text.encode()),
        lambda: fastmeta.import_meta_graph(path, graph=fastmeta.Graph()),
    ):
        e = raises(fastmeta.ParseError, fn)
        assert "nested too deeply" in str(e)


def test_a_huge_misplaced_token_gives_a_short_message(tmp_path: Path) -> None:
    # protobuf's text-format error quotes the offending token whole: a 1 MB identifier
    # where a value belongs made a message of megabytes. Cut in the middle, the line and
    # column kept (a SavedModel's text too).
    token = "x" * 1_000_000
    path = tmp_path / "big.pbtxt"
    path.write_text(f"graph_def {{ node {{ name: {token} }} }}")
    e = raises(fastmeta.ParseError, lambda: fastmeta.read_meta_graph_file(path))
    assert len(str(e)) < 3000 and "1:" in str(e) and "characters ...]" in str(e)
    saved = tmp_path / "sm"
    saved.mkdir()
    (saved / "saved_model.pbtxt").write_text(f"meta_graphs {{ {token} }}")
    e = raises(fastmeta.SavedModelParseError, lambda: fastmeta.saved_model.read_saved_model(saved))
    assert len(str(e)) < 3000 and "characters ...]" in str(e)


def test_graph_errors_name_the_node() -> None:
    e = raises(ValueError, lambda: rewrite(meta(node("a") + node("a"))))
    assert isinstance(e, fastmeta.GraphError) and e.node == "a"
    # (an op no OpDef describes: NoOp's would refuse the data input first)
    e = raises(ValueError, lambda: rewrite(meta(node("a", "CustomOp", ("zz",)))))
    assert "zz" in str(e) and e.node == "a"  # type: ignore[attr-defined]
    e = raises(ValueError, lambda: rewrite(meta(node("a", "NoOp", ("^b",)) + node("b", "NoOp", ("^a",)))))
    assert "cycle" in str(e)
    for bad in ["_a", "a b", "a:0", "a>", "a\\b", "^a"]:
        e = raises(ValueError, lambda bad=bad: rewrite(meta(node(bad))))  # type: ignore[misc]
        assert "invalid node name" in str(e)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("filler", [0, 6000], ids=["small", "parallel"])
def test_colocation_errors_in_node_order(threads: int, filler: int) -> None:
    # The loc:@ targets are looked up in bulk; errors still come in node order: an
    # unknown target, a device that does not parse, a malformed _class list.
    pad = tuple(node(f"pad{k}") for k in range(filler))
    unknown = node("u", attrs=(("_class", class_attr("a", "nowhere")),))
    bad_device = node("d", device="/job:ps/bad_field:3")
    broken = node("p", attrs=(("_class", field(1, field(2, b"loc:@a") + b"\x12\x7f")),))

    def first_error(*nodes: bytes) -> BaseException:
        data = meta(node("a"), *pad, *nodes)
        with pytest.raises(fastmeta.Error) as info:
            rewrite(data, import_scope="imp", threads=threads)
        return info.value

    e = first_error(unknown)
    assert isinstance(e, fastmeta.GraphError) and e.node == "u"
    assert "expects to be colocated with unknown node 'nowhere'" in str(e)
    assert first_error(unknown, bad_device).node == "u"  # type: ignore[attr-defined]
    assert first_error(bad_device, unknown).node == "d"  # type: ignore[attr-defined]
    # A malformed _class list is refused with the node, as protobuf refuses the file,
    # before any lookup: whatever comes before it.
    for nodes in ((unknown, broken), (broken, unknown)):
        e = first_error(*nodes)
        assert isinstance(e, fastmeta.ParseError) and "Node 'p'" in str(e)
    both = node("q", attrs=(("_class", field(1, field(2, b"loc:@gone") + b"\x12\x7f")),))
    assert "Node 'q'" in str(first_error(both))


def test_non_utf8_names_in_messages() -> None:
    # The message quotes bytes from the file; it must not become a UnicodeDecodeError.
    e = raises(ValueError, lambda: rewrite(meta(node("a", "NoOp", (b"b\xff".decode("latin-1"),)))))
    assert "a" in str(e)
    data = meta(node(b"a\xff"))
    e = raises(ValueError, lambda: _core.rewrite_meta_graph(data))
    assert "byte offset" in str(e)


@pytest.mark.parametrize("scope", ["a.b", "a>b", "a-b/", ".a", "a//b", "9lives"])
def test_scopes_with_regex_metacharacters_are_literal(scope: str) -> None:
    out = fastmeta.rewrite_meta_graph(SMALL, import_scope=scope)
    prefix = scope.rstrip("/") + "/"
    assert all(n.name.startswith(prefix) for n in out.graph_def.node)


def test_a_scope_starting_with_a_digit_rescopes_collections_and_saver() -> None:
    # TensorFlow splices the scope into a regex replacement: "9lives" reads as a group
    # reference there (re.error). fastmeta rescopes literally.
    g = fastmeta.Graph()
    saver = fastmeta.import_meta_graph(CORPUS / "mlp_ref.meta", import_scope="9lives", graph=g)
    assert saver is not None and saver.saver_def.filename_tensor_name.startswith("9lives/")
    names = [v.name for v in g.get_collection("variables")]
    assert names and all(n.startswith("9lives/") for n in names)


def test_an_unparsable_tensorflow_version_is_read_leniently() -> None:
    meta = fastmeta.read_meta_graph_file(CORPUS / "mlp_ref.meta")
    meta.meta_info_def.tensorflow_version = "unknown"
    g = fastmeta.Graph()
    assert fastmeta.import_meta_graph(meta, graph=g) is not None
    assert g.get_collection("variables")


@pytest.mark.parametrize("scope", ["a\\b", "a\\1", "a$", "a(b", "a*", "a.*", "_a", "/a", "\\g<0>"])
def test_scopes_tf_refuses(scope: str) -> None:
    e = raises(ValueError, lambda: fastmeta.rewrite_meta_graph(SMALL, import_scope=scope))
    assert isinstance(e, ScopeError)
    raises(
        ValueError,
        lambda: fastmeta.import_meta_graph(SMALL, import_scope=scope, graph=fastmeta.Graph()),
    )


def test_core_refuses_invalid_prefix() -> None:
    e = raises(ValueError, lambda: _core.rewrite_meta_graph(SMALL.read_bytes(), prefix="a\\b"))
    assert "would lead to invalid node names" in str(e)


def test_input_map_errors() -> None:
    data = meta(node("a", "CustomOp") + node("b", "Identity", ("a", "^a"), attrs=(("T", field(6, 1)),)))
    e = raises(ValueError, lambda: rewrite(data, input_map={"zz": "y:0"}))
    assert isinstance(e, fastmeta.InputMapError) and "zz" in str(e)


def test_lone_surrogates_in_names_are_typed_errors() -> None:
    # Strings that cannot be encoded as UTF-8 reached the core's str arguments, which
    # raised pybind11's TypeError ("incompatible function arguments").
    data = meta(node("a") + node("b", "Identity", ("a",)))
    for input_map in ({"a\udcff:0": "y:0"}, {"^a\udcff": "^y"}, {"a:0": "y\udcff:0"}):
        raises(fastmeta.InputMapError, lambda m=input_map: rewrite(data, input_map=m))  # type: ignore[misc]
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(meta(node("x")), graph=g)
    before = g.as_graph_def().SerializeToString(deterministic=True)
    x = g.get_operation_by_name("x")
    raises(fastmeta.InputMapError, lambda: fastmeta.import_meta_graph(data, graph=g, input_map={"^a\udcff": x}))
    # An import scope into a graph that holds nodes: refused before its name table sees it.
    e = raises(fastmeta.ScopeError, lambda: fastmeta.import_meta_graph(data, graph=g, import_scope="imp\udcff"))
    assert "is not a valid root scope name" in str(e)
    assert g.as_graph_def().SerializeToString(deterministic=True) == before


def test_huge_file_guard(tmp_path: Path) -> None:
    path = tmp_path / "sparse.meta"
    with open(path, "wb") as f:
        f.truncate(3 << 30)  # sparse: no disk, no memory
    tracemalloc.start()
    try:
        e = raises(ValueError, lambda: fastmeta.read_meta_graph_file(path))
        assert isinstance(e, fastmeta.SizeLimitError) and "2 GiB" in str(e)
        raises(ValueError, lambda: fastmeta.rewrite_meta_graph(path))
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
        os.unlink(path)


def test_saved_model_by_mistake(tmp_path: Path) -> None:
    saved = field(1, 1) + field(2, SMALL.read_bytes())
    path = tmp_path / "saved_model.pb"
    path.write_bytes(saved)
    for fn in (
        lambda: fastmeta.read_meta_graph_file(path),
        lambda: fastmeta.rewrite_meta_graph(path),
        lambda: fastmeta.rewrite_meta_graph(saved),
    ):
        e = raises(ValueError, fn)
        assert "SavedModel" in str(e)
    # A text one (saved_model.pbtxt) gets the hint too.
    from fastmeta.protos import saved_model_pb2
    from google.protobuf import text_format

    text = text_format.MessageToString(saved_model_pb2.SavedModel.FromString(saved))
    path = tmp_path / "saved_model.pbtxt"
    path.write_text(text)
    e = raises(fastmeta.ParseError, lambda: fastmeta.read_meta_graph_file(path))
    assert "this looks like a text SavedModel" in str(e)


def test_uniquify_collision_refused() -> None:
    data = meta(node("Const") + node("Const_1"))
    first = _core.rewrite_meta_graph(data)
    e = raises(
        ValueError,
        lambda: _core.rewrite_meta_graph(data, prefix="imp", existing=[first], existing_names=["imp/Const"]),
    )
    assert "imp/Const_1" in str(e)


def test_malformed_attr_value_is_a_parse_error_naming_the_node() -> None:
    # The core copies attr values through unparsed, but checks them as protobuf parses
    # them (TensorFlow refuses the whole file): the import fails whole, with a ParseError
    # naming the node and the place of the bad bytes, whether or not anything would
    # have looked at the node.
    output = field(1, b"out") + field(3, 1) + field(5, b"N")  # N outputs of DT_FLOAT
    one_input = field(1, b"in") + field(3, 1)  # one DT_FLOAT input
    op_def = field(1, b"Multi") + field(2, one_input) + field(3, output) + field(4, field(1, b"N") + field(2, b"int"))
    bad = (("N", field(3, 2)), ("dtype", b"\x30\xff"))  # N = 2; dtype: a cut varint
    const = (("dtype", field(6, 1)), ("value", field(8, b"")))  # (Const's attrs without a default)
    data = meta(node("a", "Const", attrs=const), node("b", "Multi", ("a",), attrs=bad), op_list=field(1, op_def))
    col = field(1, b"loss") + field(2, field(1, field(1, b"b:0")))  # collection_def{loss: node_list{b:0}}
    for source in (data, data + field(4, col)):
        g = fastmeta.Graph()
        e = raises(fastmeta.ParseError, lambda s=source, g=g: fastmeta.import_meta_graph(s, graph=g))
        assert "Node 'b': malformed NodeDef: attr 'dtype' value" in str(e) and isinstance(e, ValueError)
        assert e.offset == data.index(b"\x30\xff") + 1  # type: ignore[attr-defined]
        assert g.get_operations() == []


def _groups(levels: int) -> bytes:
    return b"\x7b" * levels + b"\x7c" * levels  # (field 15: start group, end group)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        # (the NodeDef's fields after its name, op and input; where the name is, when not
        # first: 'late' is read past the bad field when that field's extent is clear)
        (_groups(99), "'c'"),  # groups nested past protobuf's limit (NodeDef: depth 2)
        (b"\x4f", "'c'"),  # wire type 7
        (b"\x00\x01", "'c'"),  # field number 0
        (b"\xf8\xff\xff\xff\xff\x01\x01", "'c'"),  # a tag of 6 bytes
        (b"\x7b", "'c'"),  # an unterminated group
        (b"\x7c", "'c'"),  # an end-group tag outside a group
        (b"\x78" + b"\xff" * 10 + b"\x01", "'c'"),  # a varint of 11 bytes
        (b"\x22\x09ab", "'c'"),  # device: its length past the node's end
        (field(5, field(1, b"k\xff") + field(2, field(3, 1))), "'c'"),  # an attr key not UTF-8
        (field(5, field(1, b"k") + b"\x12\x07\x08"), "'c'"),  # an attr entry's value past its end
        (field(4, b"\xff"), "'c'"),  # device not UTF-8
    ],
    ids=[
        "groups",
        "wire_type_7",
        "field_0",
        "tag_6_bytes",
        "group_unterminated",
        "end_group",
        "varint_11",
        "length_past_end",
        "attr_key_utf8",
        "attr_entry_length",
        "device_utf8",
    ],
)
def test_wire_errors_inside_a_node_name_it(fields: bytes, named: str) -> None:
    good = node("a")
    body = field(2, b"NoOp") + field(3, b"^a")
    for name_first in (True, False):
        bad = field(1, b"c") + body + fields if name_first else body + fields + field(1, b"c")
        data = meta(good, field(1, bad))
        e = raises(fastmeta.ParseError, lambda d=data: rewrite(d))
        assert e.offset is not None and data.index(bad) <= e.offset <= data.index(bad) + len(bad), str(e)  # type: ignore[attr-defined]
        assert f"at byte offset {e.offset})" in str(e)  # type: ignore[attr-defined]
        if name_first:
            assert str(e).startswith(f"Node {named}: malformed NodeDef: "), str(e)
        else:
            # (after the bad field: named only when read past it, else by its index)
            assert str(e).startswith(f"Node {named}: malformed NodeDef: ") or str(e).startswith(
                "Node #1 of the GraphDef (its name not readable): malformed NodeDef: "
            ), str(e)
        g = fastmeta.Graph()
        raises(fastmeta.ParseError, lambda d=data, g=g: fastmeta.import_meta_graph(d, graph=g))
        assert g.get_operations() == []


def test_a_node_whose_name_is_past_a_bad_field_is_named_when_readable() -> None:
    body = field(2, b"NoOp")
    # Past groups nested too deeply (their extent is clear): named.
    e = raises(fastmeta.ParseError, lambda: rewrite(meta(node("a"), field(1, body + _groups(99) + field(1, b"late")))))
    assert str(e).startswith("Node 'late': malformed NodeDef: groups nested too deeply"), str(e)
    # Past a field of wire type 7 (its extent unknown): by its index, counted from 0.
    data = meta(node("a"), node("b"), field(1, body + b"\x4f" + field(1, b"x")))
    e = raises(fastmeta.ParseError, lambda: rewrite(data))
    assert str(e).startswith("Node #2 of the GraphDef (its name not readable): malformed NodeDef: invalid wire type")
    # A malformed OpDef (read by the core when a node uses its op) is not blamed on the node.
    op_def = field(1, b"MyOp") + field(3, field(1, b"out") + b"\x4f")
    data = meta(node("a", "MyOp"), op_list=field(1, op_def))
    e = raises(fastmeta.ParseError, lambda: _core.rewrite_meta_graph(data))
    assert str(e) == f"invalid wire type 7 (at byte offset {data.index(b'out') + 3})", str(e)


def _regression_files() -> list[Path]:
    return sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


@pytest.mark.parametrize("path", _regression_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_regressions(path: Path) -> None:
    data = path.read_bytes()
    if path.parent.name == "checkpoint_index_fuzzer":
        from fastmeta.checkpoint import CheckpointReader

        prefix = str(path.parent / "__replay")
        try:
            with open(prefix + ".index", "wb") as f:
                f.write(data[1:])
            try:
                CheckpointReader(prefix)
            except fastmeta.Error:
                pass
        finally:
            os.unlink(prefix + ".index")
        return
    for fn in (
        lambda: fastmeta.rewrite_meta_graph(data),
        lambda: fastmeta.rewrite_meta_graph(data, import_scope="imp/s.c-o>pe", clear_devices=True),
        lambda: fastmeta.import_meta_graph(data, graph=fastmeta.Graph()),
    ):
        try:
            fn()
        except fastmeta.Error:
            pass
