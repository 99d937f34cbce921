"""The core's text-format reader against protobuf's (``text_format.Merge``).

Text-format meta graphs go through the core's reader (``fastmeta.reading.text_to_binary``):
whatever it converts must be, for protobuf, the message protobuf's own text reader makes
of the same text; what it declines is read by protobuf as before. Checked here on every
meta graph of the corpus printed as text, on hand-written texts using each construct, and
on mutated texts (where protobuf refuses a text, the core must decline it).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import fastmeta
import pytest
from corpus_fixtures import CORPUS, FIXTURES, IDS
from fastmeta import reading
from fastmeta.protos import meta_graph_pb2, saved_model_pb2
from google.protobuf import text_format

MetaGraphDef = meta_graph_pb2.MetaGraphDef


def protobuf_reads(text: bytes, message: type = MetaGraphDef) -> bytes | None:
    """protobuf's reading of ``text`` (as fastmeta's fallback reads it), as deterministic
    bytes; None when it refuses the text."""
    out = message()
    try:
        text_format.Merge(text.decode("utf-8"), out, descriptor_pool=reading.tensorflow_alias_pool())
    except Exception:  # ParseError, UnicodeDecodeError, RecursionError, ...
        return None
    return out.SerializeToString(deterministic=True)


def core_reads(text: bytes, message: type = MetaGraphDef) -> bytes | None:
    """The core's conversion of ``text``, as protobuf reads those bytes back (deterministic
    bytes); None when the core declines."""
    binary = reading.text_to_binary(text, message)
    if binary is None:
        return None
    return message.FromString(bytes(binary)).SerializeToString(deterministic=True)


def corpus_text(name: str) -> bytes:
    """The corpus meta graph as text: TensorFlow's own text file, or a binary one printed
    by protobuf."""
    fixture = FIXTURES[name]
    data = (CORPUS / fixture["file"]).read_bytes()
    if fixture["format"] == "text":
        return data
    return text_format.MessageToString(MetaGraphDef.FromString(data)).encode()


@pytest.mark.parametrize("name", IDS)
def test_every_corpus_meta_graph_as_text_is_converted_to_protobuf_s_message(name: str) -> None:
    text = corpus_text(name)
    converted = core_reads(text)
    assert converted is not None, "the core declined a text protobuf printed"
    assert converted == protobuf_reads(text)


# Hand-written texts, each using constructs protobuf's printer does not: every one is
# converted, to protobuf's message.
CONVERTED = [
    # separators, comments, both message brackets, the list forms
    'meta_info_def { meta_graph_version: "v1", tags: "a"; tags: "b" } # trailing comment',
    'meta_info_def < tags: ["x", "y"] >\n# a comment\ngraph_def: { node [{name: "a"}, {name: "b" op: "C"}] }',
    "graph_def { node {} node: {} versions { producer: 3 bad_consumers: [1, 2, 3] } }",
    # adjacent strings and every escape; single quotes
    r"""graph_def { node { name: 'a' "b" 'c' device: "\n\t\r\\\'\"\a\b\f\v" } }""",
    r"""collection_def { key: "k" value { bytes_list { value: "\x41\x4\101\0\377\1" value: "" } } }""",
    'graph_def { node { name: "\xc3\xa9\xe4\xb8\xad" } }',
    # numbers: signs, hex, float forms, bools
    "graph_def { node { attr { key: 'i' value { i: -9223372036854775808 } } } }",
    "graph_def { node { attr { key: 'i' value { i: 0x7fffffffffffffff } } } }",
    "graph_def { node { attr { key: 'f' value { f: -1.5e-3f } } attr { key: 'g' value { f: .25 } } } }",
    "graph_def { node { attr { key: 'f' value { f: inf } } attr { key: 'g' value { f: -infinity } } } }",
    "graph_def { node { attr { key: 'f' value { f: nan } } attr { key: 'h' value { f: -0.0 } } } }",
    "graph_def { node { attr { key: 'b' value { b: t } } attr { key: 'c' value { b: False } } } }",
    "graph_def { node { attr { key: 'b' value { b: 1 } } attr { key: 'c' value { b: 0 } } } }",
    "graph_def { node { attr { key: 't' value { type: DT_INT32 } } attr { key: 'u' value { type: 9 } } } }",
    "graph_def { node { attr { key: 'l' value { list { i: [1, -2] i: 3 f: 1.5 i: 4 type: [DT_FLOAT] } } } } }",
    "graph_def { node { attr { key: 's' value { shape { dim { size: -1 } dim { size: 5 name: 'n' } } } } } }",
    # a later value replaces, a repeated singular message merges, oneof members switch,
    # a later map entry with the same key replaces the earlier one
    "graph_def { versions { producer: 1 } versions { min_consumer: 2 } versions { producer: 4 } }",
    "graph_def { node { name: 'a' name: 'b' } }",
    "graph_def { node { attr { key: 'x' value { i: 1 s: 'x' list { i: 1 } list { f: 2 } } } } }",
    "graph_def { node { attr { key: 'x' value { i: 1 } } attr { key: 'x' value { s: 'y' } } } }",
    "graph_def { node { attr { key: 'x' value { list { i: 1 } i: 2 list { i: 3 } } } } }",
    "graph_def { node { attr { value { i: 1 } } attr { key: 'k' } } }",
    # explicit default values, which the binary form carries as set
    "graph_def { node { name: '' device: '' attr { key: 'z' value { i: 0 } } } versions { producer: 0 } }",
    # Any, expanded (the body written as protobuf prints it) and plain
    "meta_info_def { any_info { [type.googleapis.com/tensorflow.TensorShapeProto] { unknown_rank: true } } }",
    "collection_def { key: 'a' value { any_list { value { [type.googleapis.com/tensorflow.SaverDef]: < version: V2 > }"
    " value { [type.googleapis.com/tensorflow.TensorShapeProto] {} } } } }",
    "meta_info_def { any_info { [a.b/tensorflow.AttrValue] { list { s: 'x' i: [1, 2] i: 3 } } } }",
    r"""meta_info_def { any_info { type_url: "type.googleapis.com/x" value: "\001\002" } }""",
    "saver_def { version: V2 sharded: true max_to_keep: 5 keep_checkpoint_every_n_hours: 10000.0 }",
    "",
    "  \n\t# nothing but a comment",
]


@pytest.mark.parametrize("text", CONVERTED)
def test_hand_written_texts_are_converted_to_protobuf_s_message(text: str) -> None:
    data = text.encode("utf-8")
    expected = protobuf_reads(data)
    assert expected is not None, "protobuf refuses this case: fix the case"
    converted = core_reads(data)
    assert converted is not None, "the core declined"
    assert converted == expected


# Texts the core leaves to protobuf: some protobuf reads (the core declines what it does
# not read exactly as protobuf does), some it refuses (and says why).
DECLINED = [
    # protobuf reads these
    "meta_info_def { any_info { [type.googleapis.com/ tensorflow.TensorShapeProto] { unknown_rank: true } } }",
    "meta_info_def { any_info { [type.googleapis.com/tensorflow.TensorShapeProto] { unknown_rank: false } } }",
    "meta_info_def { any_info { [type.googleapis.com/tensorflow.SaverDef] { version: V2 version: V1 } } }",
    "meta_info_def { any_info { [type.googleapis.com/tensorflow.NameAttrList] { attr { key: 'a' } } } }",
    "meta_info_def { any_info { [type.googleapis.com/fastmeta.TensorShapeProto] { } } }",
    r"""graph_def { node { name: "\u0041" } }""",
    r"""graph_def { node { name: "\\u0041" } }""",
    "graph_def { node { attr { key: 'i' value { i: 017 } } } }",
    "graph_def { node { attr { key: 'i' value { i: +5 } } } }",
    "graph_def { node { attr { key: 'i' value { i: 1_000 } } } }",
    "graph_def { node { attr { key: 'f' value { f: 1e39 } } } }",
    "graph_def { node { attr { key: 'f' value { f: NaN } } } }",
    "graph_def { node { attr { key: 'f' value { f: 2ff } } } }",
    "graph_def { node { attr { key: 'f' value { f: -050 } } } }",
    "graph_def { node { attr { key: 't' value { type: 12345 } } } }",
    "graph_def\xa0{ }",
    # (nested past the core's text limit, 64: an attr's func holds attrs)
    "graph_def { node { " + "attr { key: 'a' value { func { " * 22 + "} } } " * 22 + "} }",
    # protobuf refuses these
    "graph_def { nope: 1 }",
    "graph_def { 1: 2 }",
    "graph_def { node { name: 3 } }",
    "graph_def { node { name 'a' } }",
    "graph_def { node { name: 'a } }",
    "graph_def { node { name: '\\q' } }",
    r"""graph_def { node { name: "\377" } }""",
    "graph_def { node { attr { key: 'i' value { i: 9223372036854775808 } } } }",
    "graph_def { versions { producer: 2147483648 } }",
    "graph_def { node { attr { key: 't' value { type: DT_NOPE } } } }",
    "graph_def { node { attr { key: 'b' value { b: yes } } } }",
    "graph_def { node { } ",
    "graph_def { node { > }",
    "graph_def: 1",
    "}",
]


@pytest.mark.parametrize("text", DECLINED)
def test_the_core_declines_what_it_does_not_read_as_protobuf_does(text: str) -> None:
    assert reading.text_to_binary(text.encode("utf-8"), MetaGraphDef) is None


def test_invalid_utf8_anywhere_is_declined() -> None:
    for text in (b"# \xff\ngraph_def {}", b"graph_def { node { name: 'a\xed\xa0\x80' } }"):
        assert protobuf_reads(text) is None
        assert reading.text_to_binary(text, MetaGraphDef) is None


SEEDS = [
    'meta_info_def { tags: "serve" stripped_op_list { op { name: "Const" output_arg { name: "output" '
    'type_attr: "dtype" } attr { name: "value" type: "tensor" } } } }',
    "graph_def { node { name: 'a' op: 'Const' device: '/cpu:0' attr { key: 'dtype' value { type: DT_FLOAT } } "
    "attr { key: 'value' value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 2 } } float_val: [1.5, -2] "
    "} } } } node { name: 'b' input: ['a', '^a'] attr { key: 'l' value { list { i: [1, 2] s: 'x\\n' } } } } "
    "versions { producer: 27 } }",
    "collection_def { key: 'variables' value { bytes_list { value: '\\n\\x05w:0' } } } "
    "collection_def { key: 'n' value { node_list { value: ['a:0', 'b'] } } } "
    "saver_def { filename_tensor_name: 'save/Const:0' version: V2 keep_checkpoint_every_n_hours: 1e4 }",
    "collection_def { key: 'a' value { any_list { value { [type.googleapis.com/tensorflow.SaverDef] { "
    "filename_tensor_name: 'f:0' max_to_keep: 3 version: V2 } } value { [x.y/tensorflow.AttrValue] { list { "
    "s: 'x' i: [1, 2] type: DT_INT32 } } } } } }",
]
ALPHABET = [*"{}<>[]:;,'\"\\#\n -+.0123456789xefnt_aAZ", "\xa0", "\xff", "DT_FLOAT", "node", "0x", "inf"]


def mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(chars) + 1)
        kind = rng.random()
        if kind < 0.35 and at < len(chars):
            del chars[at]
        elif kind < 0.7:
            chars.insert(at, rng.choice(ALPHABET))
        elif at < len(chars):
            chars[at] = rng.choice(ALPHABET)
    return "".join(chars)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (protobuf's on unknown escapes)
def test_mutated_texts_are_converted_only_to_protobuf_s_message() -> None:
    rng = random.Random(20261204)
    converted = refused = 0
    for i in range(4000):
        text = mutate(rng, SEEDS[i % len(SEEDS)]).encode("utf-8", "surrogateescape")
        ours = core_reads(text)
        theirs = protobuf_reads(text)
        if ours is not None:
            assert ours == theirs, text
            converted += 1
        if theirs is None:
            refused += 1
    # (both kinds occur: the test sees conversions and refusals)
    assert converted > 200 and refused > 200, (converted, refused)


# Whitespace units for the runs below: each of ASCII's, comments ending in \n (a \r does
# not end one); then some the core leaves to protobuf's reader: a comment that swallows
# the rest of the line, whitespace protobuf takes but the core does not read.
WHITESPACE_UNITS = [" ", " ", "  ", "\t", "\n", "\r", "\f", "\v", "\n    ", "# c\n", "#\r\n", "# x", "\x1c", "\xa0"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_whitespace_runs_of_every_length_read_as_protobuf_reads() -> None:
    rng = random.Random(20261205)
    converted = 0
    for i in range(800):
        seed = SEEDS[i % len(SEEDS)]
        units = WHITESPACE_UNITS[: 11 if i % 4 else None]  # (mostly runs the core reads)

        def run(_: re.Match[str], units: list[str] = units) -> str:
            return "".join(rng.choice(units) for _ in range(rng.randint(1, 14)))

        text = re.sub(" ", run, seed).encode("utf-8")
        ours = core_reads(text)
        if ours is not None:
            assert ours == protobuf_reads(text), text
            converted += 1
    assert converted > 400, converted


# Pieces of string values: plain bytes (the other quote, a tab, a \r, non-ASCII text) and
# escapes (ASCII's, bytes that are or are not UTF-8); then stops (the quote, a newline,
# a lone backslash).
STRING_PIECES = [
    *["a", "b", "/", "_", "\u00e9", "\t", "\r", "#", " ", "\\n", "\\\\", "\\'", '\\"'],
    *["\\x41", "\\303\\251", "\\377", "\\xe9", "\\101"],
    *['"', "'", "\n", "\\"],
]
# (a string field, which must hold UTF-8, and a bytes field)
STRING_FIELDS = ["graph_def { node { name: %s } }", "collection_def { key: 'k' value { bytes_list { value: %s } } }"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_strings_of_every_length_read_as_protobuf_reads() -> None:
    rng = random.Random(20261206)
    converted = declined = 0
    for i in range(1500):
        pieces = STRING_PIECES if i % 4 == 0 else STRING_PIECES[:-4]  # (mostly strings the core reads)
        body = "".join(rng.choice(pieces) for _ in range(i % 41))
        quote = rng.choice("'\"")
        value = quote + body + quote
        if i % 5 == 0:
            value += rng.choice(["", " ", "\n  ", "# c\n"]) + value  # (adjacent strings, joined)
        text = (rng.choice(STRING_FIELDS) % value).encode("utf-8")
        ours = core_reads(text)
        if ours is not None:
            assert ours == protobuf_reads(text), text
            converted += 1
        else:
            declined += 1
    assert converted > 600 and declined > 200, (converted, declined)


def saved_model_text() -> bytes:
    saved = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    for name in ("mlp_ref", "saved_model_v1"):
        saved.meta_graphs.add().MergeFromString((CORPUS / FIXTURES[name]["file"]).read_bytes())
    saved.meta_graphs[0].meta_info_def.tags.append("train")
    return text_format.MessageToString(saved).encode()


def test_a_saved_model_text_is_converted_too() -> None:
    text = saved_model_text()
    converted = core_reads(text, saved_model_pb2.SavedModel)
    assert converted is not None
    assert converted == protobuf_reads(text, saved_model_pb2.SavedModel)


def test_a_text_saved_model_reads_without_protobuf_s_text_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastmeta import saved_model

    (tmp_path / "saved_model.pbtxt").write_bytes(saved_model_text())
    with monkeypatch.context() as patch:
        patch.setattr(saved_model, "text_to_binary", lambda *a, **k: None)
        expected = saved_model.read_saved_model(tmp_path)  # (protobuf's reader)
    monkeypatch.setattr(saved_model.text_format, "Parse", lambda *a, **k: pytest.fail("protobuf's reader used"))
    got = saved_model.read_saved_model(tmp_path)
    assert got.schema_version == expected.schema_version == 1
    assert [m.rest for m in got.meta_graphs] == [m.rest for m in expected.meta_graphs]
    graphs = [[MetaGraphDef.FromString(bytes(m.data)) for m in f.meta_graphs] for f in (got, expected)]
    assert graphs[0] == graphs[1] and len(graphs[0]) == 2


def test_a_text_meta_graph_imports_without_protobuf_s_text_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = corpus_text("mlp_ref")
    path = tmp_path / "g.pbtxt"
    path.write_bytes(text)
    expected = fastmeta.Graph()
    fastmeta.import_meta_graph(CORPUS / "mlp_ref.meta", graph=expected, import_scope="s")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("protobuf's text reader was used")

    monkeypatch.setattr(reading.text_format, "Merge", refuse)
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(path, graph=graph, import_scope="s")
    ours = graph.as_graph_def().SerializeToString(deterministic=True)
    assert ours == expected.as_graph_def().SerializeToString(deterministic=True)
    assert sorted(graph.get_all_collection_keys()) == sorted(expected.get_all_collection_keys())


def test_a_declined_text_meta_graph_is_read_by_protobuf(tmp_path: Path) -> None:
    message = MetaGraphDef.FromString((CORPUS / "mlp_ref.meta").read_bytes())
    text = text_format.MessageToString(message) + '\nmeta_info_def { meta_graph_version: "\\u0041" }\n'
    assert reading.text_to_binary(text.encode(), MetaGraphDef) is None
    path = tmp_path / "g.pbtxt"
    path.write_text(text)
    loaded = reading.load_meta_graph(path)
    assert loaded.text_format and loaded.rest.meta_info_def.meta_graph_version == "A"
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(path, graph=graph)
    assert len(graph.get_operations()) == len(message.graph_def.node)
