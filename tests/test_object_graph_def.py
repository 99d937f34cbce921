"""``MetaGraphDef.object_graph_def`` (field 7: a TF2 SavedModel's ``SavedObjectGraph``) and
``GraphDef.debug_info`` (field 5), differential against TensorFlow.

A TF2 SavedModel (``tf.saved_model.save`` of a ``tf.Module`` with a variable and a
``tf.function``), its meta graph as a binary and as a text file, and the SavedModel as
``saved_model.pb`` and ``saved_model.pbtxt``: fastmeta reads the object graph as TensorFlow
does (the same message, byte for byte in deterministic serialization), through both front
doors, and its core's text reader reads TensorFlow's text of it. Malformed bytes in either
field are refused where TensorFlow refuses them, with a typed fastmeta error naming the
file and byte offset, the graph unchanged; what TensorFlow accepts is accepted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "fuzz"))

tf = pytest.importorskip("tensorflow")

import fastmeta  # noqa: E402
import fastmeta.tf as ftf  # noqa: E402
from fastmeta import reading  # noqa: E402
from fastmeta import saved_model as fm_saved_model  # noqa: E402
from fastmeta.protos import meta_graph_pb2  # noqa: E402
from google.protobuf import text_format, unknown_fields  # noqa: E402
from make_seeds import field, meta, node  # noqa: E402
from tensorflow.core.protobuf import meta_graph_pb2 as tf_meta_graph_pb2  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2 as tf_saved_model_pb2  # noqa: E402
from tf_oracle import diff_graph_defs  # noqa: E402

pytestmark = pytest.mark.tf

v1 = tf.compat.v1

TF2_MODULE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf

class M(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable([[1.0, 2.0], [3.0, 4.0]], name="w")

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def __call__(self, x):
        return {"y": tf.matmul(x, self.w)}

tf.saved_model.save(M(), sys.argv[1])
"""


@pytest.fixture(scope="module")
def tf2(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The TF2 SavedModel in its two formats, its meta graph in two files, and
    TensorFlow's reading of that meta graph."""
    root = tmp_path_factory.mktemp("object_graph")
    binary_dir = root / "binary"
    proc = subprocess.run([sys.executable, "-c", TF2_MODULE, str(binary_dir)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    saved = tf_saved_model_pb2.SavedModel.FromString((binary_dir / "saved_model.pb").read_bytes())
    assert len(saved.meta_graphs) == 1
    tf_meta = saved.meta_graphs[0]
    assert tf_meta.object_graph_def.nodes and tf_meta.object_graph_def.concrete_functions
    kinds = {n.WhichOneof("kind") for n in tf_meta.object_graph_def.nodes}
    assert {"user_object", "variable", "function"} <= kinds, kinds
    text_dir = root / "text"
    shutil.copytree(binary_dir, text_dir)
    (text_dir / "saved_model.pb").unlink()
    (text_dir / "saved_model.pbtxt").write_text(text_format.MessageToString(saved))
    (root / "g.meta").write_bytes(tf_meta.SerializeToString())
    (root / "g.pbtxt").write_text(text_format.MessageToString(tf_meta))
    return {
        "root": root, "meta": tf_meta, "saved": saved,
        "dirs": {"binary": binary_dir, "text": text_dir},
        "files": {"binary": root / "g.meta", "text": root / "g.pbtxt"},
    }  # fmt: skip


def det(message: Any) -> bytes:
    return message.SerializeToString(deterministic=True)


def no_unknown_fields(message: Any) -> None:
    assert len(unknown_fields.UnknownFieldSet(message)) == 0
    for node_ in message.object_graph_def.nodes:
        assert len(unknown_fields.UnknownFieldSet(node_)) == 0


FORMATS = ["binary", "text"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_meta_graph_file_object_graph_def_is_tensorflows(tf2: dict[str, Any], fmt: str) -> None:
    path = tf2["files"][fmt]
    tf_meta = tf2["meta"]
    want = det(tf_meta.object_graph_def)
    read = fastmeta.read_meta_graph_file(path)
    assert det(read.object_graph_def) == want
    no_unknown_fields(read)
    assert tf_meta_graph_pb2.MetaGraphDef.FromString(read.SerializeToString()) == tf_meta
    assert det(reading.load_meta_graph(path).rest.object_graph_def) == want
    # (copied through by the rewrite, as every field but the graph)
    for scope in (None, "imp"):
        rewritten = fastmeta.rewrite_meta_graph(path, import_scope=scope)
        assert det(rewritten.object_graph_def) == want


def assert_imports_as_tensorflow(path: Path) -> None:
    """The meta graph file imported under scope "s" by fastmeta, through both front doors,
    gives the graph TensorFlow's own import gives."""
    with tf.Graph().as_default() as g:
        v1.train.import_meta_graph(str(path), import_scope="s")
    expected = g.as_graph_def()
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(path, graph=graph, import_scope="s")
    assert diff_graph_defs(expected, graph.as_graph_def()) == []
    with tf.Graph().as_default() as dropin:
        ftf.import_meta_graph(path, import_scope="s")
    assert diff_graph_defs(expected, dropin.as_graph_def()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_meta_graph_file_imports_as_tensorflow_imports_it(tf2: dict[str, Any], fmt: str) -> None:
    assert_imports_as_tensorflow(tf2["files"][fmt])


@pytest.mark.parametrize("fmt", FORMATS)
def test_saved_model_object_graph_def_is_tensorflows(tf2: dict[str, Any], fmt: str) -> None:
    export_dir = tf2["dirs"][fmt]
    want = det(tf2["meta"].object_graph_def)
    read = fm_saved_model.read_saved_model(export_dir)
    assert read.text_format == (fmt == "text")
    assert det(read.meta_graphs[0].rest.object_graph_def) == want
    graph = fastmeta.Graph()
    loaded = fm_saved_model.load(export_dir, ["serve"], graph=graph)
    assert det(loaded.meta_graph_def.object_graph_def) == want
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        expected = v1.saved_model.loader.load(sess, ["serve"], str(export_dir))
        expected_graph = g.as_graph_def()
    assert diff_graph_defs(expected_graph, graph.as_graph_def()) == []
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        returned = ftf.saved_model.load(sess, ["serve"], str(export_dir))
        assert diff_graph_defs(expected_graph, g.as_graph_def()) == []
    assert returned == expected
    assert det(returned.object_graph_def) == want


def test_tensorflow_s_text_is_read_by_the_core_s_text_reader(
    tf2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    want = det(tf2["meta"].object_graph_def)
    text = tf2["files"]["text"].read_bytes()
    converted = reading.text_to_binary(text, meta_graph_pb2.MetaGraphDef)
    assert converted is not None, "the core declined TensorFlow's text"
    assert det(meta_graph_pb2.MetaGraphDef.FromString(bytes(converted)).object_graph_def) == want
    saved_text = (tf2["dirs"]["text"] / "saved_model.pbtxt").read_bytes()
    assert reading.text_to_binary(saved_text, fm_saved_model.saved_model_pb2.SavedModel) is not None

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("protobuf's text reader was used")

    monkeypatch.setattr(reading.text_format, "Merge", refuse)
    monkeypatch.setattr(fm_saved_model.text_format, "Merge", refuse)
    assert det(fastmeta.read_meta_graph_file(tf2["files"]["text"]).object_graph_def) == want
    graph = fastmeta.Graph()
    loaded = fm_saved_model.load(tf2["dirs"]["text"], ["serve"], graph=graph)
    assert det(loaded.meta_graph_def.object_graph_def) == want
    assert len(graph.get_operations()) == len(tf2["meta"].graph_def.node)


# --------------------------------------------------------------------------- malformed

# (id, bytes of a SavedObjectGraph): appended to the TF2 meta graph as a second field 7,
# which protobuf merges into the first. (A truncated varint is followed by more bytes:
# protobuf's reader reports it where its value starts, which must lie inside the file.)
OBJECT_GRAPH_CASES: list[tuple[str, bytes]] = [
    ("valid", field(1, field(13, b"registered") + field(9, field(1, b"op")))),
    ("length_past_end", b"\x0a\x05ab"),
    ("wire_type_7", field(1, b"") + b"\x0f"),
    ("field_number_0", b"\x00\x01"),
    ("registered_name_not_utf8", field(1, field(13, b"\xff"))),
    ("concrete_function_key_not_utf8", field(2, field(1, b"\xff"))),
    ("variable_shape_dim_truncated", field(1, field(7, field(2, field(2, b"\x08"))) + field(13, b"r"))),
    ("child_name_not_utf8", field(1, field(1, field(1, 3) + field(2, b"a\xff")))),
    ("bound_inputs_packed_truncated", field(2, field(1, b"f") + field(2, field(2, b"\x80")))),
    ("user_object_version_length_past_end", field(1, field(4, field(2, b"\x1a\x09")))),
    ("function_spec_deep_string_not_utf8", field(1, field(6, field(2, field(1, field(13, b"\xfe")))))),
    ("a_field_of_another_wire_type", field(1, field(4, 5))),  # (an unknown field: accepted)
]

# (id, bytes of a GraphDebugInfo): the GraphDef's field 5, in a small meta graph.
DEBUG_INFO_CASES: list[tuple[str, bytes]] = [
    ("valid", field(1, b"a.py") + field(2, field(1, b"a") + field(2, field(1, field(1, 0) + field(2, 3))))),
    ("length_past_end", b"\x0a\x05ab"),
    ("wire_type_7", field(1, b"a.py") + b"\x0f"),
    ("field_number_0", b"\x00\x01"),
    ("file_not_utf8", field(1, b"\xff")),  # (proto2: not checked, as TensorFlow's)
    ("frame_truncated_varint", field(2, field(2, field(1, b"\x08")) + field(1, b"a"))),
    ("frame_ids_packed_truncated", field(2, field(1, b"a") + field(2, field(2, b"\x00")))),
    ("frames_by_id_key_truncated", field(4, b"\x09\x00\x00")),
    ("trace_id_length_past_end", field(5, field(1, b"a") + b"\x12\x07")),
]


def tf_refuses(data: bytes) -> bool:
    try:
        tf_meta_graph_pb2.MetaGraphDef.FromString(data)
    except Exception:
        return True
    return False


def tf_import_error(path: Path) -> BaseException | None:
    with tf.Graph().as_default():
        try:
            v1.train.import_meta_graph(str(path))
        except Exception as e:
            return e
    return None


def check_refused(fn: Callable[[], Any], path: Path, begin: int, size: int) -> fastmeta.ParseError:
    with pytest.raises(fastmeta.ParseError) as info:
        fn()
    e = info.value
    assert isinstance(e, ValueError)
    assert e.offset is not None and begin <= e.offset < size, str(e)
    assert f"byte offset {e.offset}" in str(e), str(e)
    assert str(path) in str(e), str(e)
    return e


def check_meta_graph(data: bytes, begin: int, path: Path) -> None:
    """``data`` (bad from byte ``begin`` on, if at all) as a meta graph file: fastmeta
    accepts it exactly when TensorFlow does, else refuses it with a ParseError naming the
    file and an offset past ``begin``, the graph unchanged; through both front doors."""
    path.write_bytes(data)
    refused = tf_refuses(data)
    assert (tf_import_error(path) is not None) == refused
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(meta(node("x")), graph=graph)
    before = det(graph.as_graph_def())
    with tf.Graph().as_default() as g:
        tf.constant(1.0, name="x")
        tf_before = det(g.as_graph_def())
        if not refused:
            assert_imports_as_tensorflow(path)
            want = tf_meta_graph_pb2.MetaGraphDef.FromString(data)
            read = fastmeta.read_meta_graph_file(path)
            assert tf_meta_graph_pb2.MetaGraphDef.FromString(read.SerializeToString()) == want
            return
        for fn in (
            lambda: fastmeta.read_meta_graph_file(path),
            lambda: fastmeta.rewrite_meta_graph(path),
            lambda: fastmeta.rewrite_meta_graph(path, import_scope="s"),
            lambda: fastmeta.import_meta_graph(path, graph=graph),
            lambda: fastmeta.import_meta_graph(path, graph=graph, import_scope="s"),
            lambda: ftf.import_meta_graph(path),
        ):
            check_refused(fn, path, begin, len(data))
        assert det(g.as_graph_def()) == tf_before
    assert det(graph.as_graph_def()) == before


@pytest.mark.parametrize("bad", [c[1] for c in OBJECT_GRAPH_CASES], ids=[c[0] for c in OBJECT_GRAPH_CASES])
def test_malformed_object_graph_def_in_a_meta_graph_file(tf2: dict[str, Any], bad: bytes, tmp_path: Path) -> None:
    good = tf2["meta"].SerializeToString()
    check_meta_graph(good + field(7, bad), len(good), tmp_path / "g.meta")


# (case, the string field holding its invalid UTF-8, as the error names it)
NAMED_UTF8_CASES = [
    ("registered_name_not_utf8", "SavedObject.registered_name"),
    ("concrete_function_key_not_utf8", "SavedObjectGraph.concrete_functions.key"),
    ("child_name_not_utf8", "ObjectReference.local_name"),
]


@pytest.mark.parametrize(("case", "name"), NAMED_UTF8_CASES, ids=[c[0] for c in NAMED_UTF8_CASES])
def test_invalid_utf8_error_names_the_field(tf2: dict[str, Any], case: str, name: str, tmp_path: Path) -> None:
    """A string field's invalid UTF-8 outside graph_def: the error names the field
    (message and field, as protobuf's descriptors name them) besides the byte offset, in
    a meta graph file and in an unchosen SavedModel meta graph."""
    bad = dict(OBJECT_GRAPH_CASES)[case]
    good = tf2["meta"].SerializeToString()
    path = tmp_path / "g.meta"
    path.write_bytes(good + field(7, bad))
    e = check_refused(lambda: fastmeta.import_meta_graph(path, graph=fastmeta.Graph()), path, len(good), len(good) + 99)
    assert f"{name} is not valid UTF-8" in str(e)
    assert "string field" not in str(e)
    # The unchosen meta graph of a SavedModel: checked, not parsed, by the same schema.
    export_dir = tmp_path / "model"
    shutil.copytree(tf2["dirs"]["binary"], export_dir)
    other = tf2["meta"].SerializeToString() + field(7, bad)
    other_tags = field(1, field(4, b"other"))  # (meta_info_def.tags: another tag set)
    data = field(1, tf2["saved"].saved_model_schema_version) + field(2, good) + field(2, other + other_tags)
    (export_dir / "saved_model.pb").write_bytes(data)
    with pytest.raises(fastmeta.SavedModelParseError, match=re.escape(f"{name} is not valid UTF-8")):
        fm_saved_model.load(export_dir, ["serve"], graph=fastmeta.Graph())


# (case, the fields its problem lies in, outermost first, as the error names them)
_OBJECT_GRAPH = "MetaGraphDef.object_graph_def > SavedObjectGraph"
TRAIL_CASES = [
    ("variable_shape_dim_truncated",
     f"{_OBJECT_GRAPH}.nodes > SavedObject.variable > SavedVariable.shape > TensorShapeProto.dim"),
    ("bound_inputs_packed_truncated",
     f"{_OBJECT_GRAPH}.concrete_functions > SavedObjectGraph.concrete_functions.value > "
     "SavedConcreteFunction.bound_inputs"),
    ("function_spec_deep_string_not_utf8",
     f"{_OBJECT_GRAPH}.nodes > SavedObject.function > SavedFunction.function_spec > FunctionSpec.fullargspec"),
    ("user_object_version_length_past_end",
     f"{_OBJECT_GRAPH}.nodes > SavedObject.user_object > SavedUserObject.version"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "trail"), TRAIL_CASES, ids=[c[0] for c in TRAIL_CASES])
def test_the_error_names_the_fields_a_problem_lies_in(case: str, trail: str, tmp_path: Path) -> None:
    """Outside graph_def, the core's wire check says where in the message a problem
    lies (the fields from the MetaGraphDef down), besides the byte offset."""
    path = tmp_path / "g.meta"
    path.write_bytes(meta_graph_pb2.MetaGraphDef().SerializeToString() + field(7, dict(OBJECT_GRAPH_CASES)[case]))
    with pytest.raises(fastmeta.ParseError, match=re.escape(f"(in {trail}) (at byte offset")):
        fastmeta.import_meta_graph(path, graph=fastmeta.Graph())


@pytest.mark.parametrize("bad", [c[1] for c in DEBUG_INFO_CASES], ids=[c[0] for c in DEBUG_INFO_CASES])
def test_malformed_debug_info_in_a_meta_graph_file(bad: bytes, tmp_path: Path) -> None:
    good = meta(node("a"), node("b", inputs=("^a",)))
    check_meta_graph(good + field(2, field(5, bad)), len(good), tmp_path / "g.meta")


def tf_loader_error(export_dir: Path) -> BaseException | None:
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        try:
            v1.saved_model.loader.load(sess, ["serve"], str(export_dir))
        except Exception as e:
            return e
    return None


def check_saved_model(tf2: dict[str, Any], extra: bytes, tmp_path: Path) -> None:
    """The TF2 SavedModel with ``extra`` (MetaGraphDef fields) after its meta graph's:
    loaded by fastmeta (both front doors) exactly when TensorFlow's loader loads it, else
    a SavedModelParseError naming the file and an offset inside ``extra``."""
    export_dir = tmp_path / "model"
    shutil.copytree(tf2["dirs"]["binary"], export_dir)
    meta_bytes = tf2["meta"].SerializeToString() + extra
    data = field(1, tf2["saved"].saved_model_schema_version) + field(2, meta_bytes)
    (export_dir / "saved_model.pb").write_bytes(data)
    expected = tf_loader_error(export_dir)
    graph = fastmeta.Graph()
    if expected is None:
        loaded = fm_saved_model.load(export_dir, ["serve"], graph=graph)
        assert loaded.meta_graph_def == meta_graph_pb2.MetaGraphDef.FromString(meta_bytes)
        return
    assert isinstance(expected, OSError)
    begin = len(data) - len(extra)
    with pytest.raises(fastmeta.SavedModelParseError) as info:
        fm_saved_model.load(export_dir, ["serve"], graph=graph)
    assert graph.get_operations() == []
    e = info.value
    assert isinstance(e, OSError) and e.path == str(export_dir / "saved_model.pb")
    assert e.offset is not None and begin <= e.offset < len(data), str(e)
    assert f"byte offset {e.offset}" in str(e)
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        with pytest.raises(fastmeta.SavedModelParseError):
            ftf.saved_model.load(sess, ["serve"], export_dir)
        assert g.as_graph_def().node == []


@pytest.mark.parametrize("bad", [c[1] for c in OBJECT_GRAPH_CASES], ids=[c[0] for c in OBJECT_GRAPH_CASES])
def test_malformed_object_graph_def_in_a_saved_model(tf2: dict[str, Any], bad: bytes, tmp_path: Path) -> None:
    check_saved_model(tf2, field(7, bad), tmp_path)


@pytest.mark.parametrize("bad", [c[1] for c in DEBUG_INFO_CASES], ids=[c[0] for c in DEBUG_INFO_CASES])
def test_malformed_debug_info_in_a_saved_model(tf2: dict[str, Any], bad: bytes, tmp_path: Path) -> None:
    check_saved_model(tf2, field(2, field(5, bad)), tmp_path)


def test_cli_inspect_summarises_the_object_graph(tf2: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from collections import Counter

    from fastmeta import cli

    graph = tf2["meta"].object_graph_def
    kinds = Counter(n.WhichOneof("kind") or "(none)" for n in graph.nodes)
    want = {"nodes": len(graph.nodes), "concrete_functions": len(graph.concrete_functions), "kinds": dict(kinds)}
    for fmt in FORMATS:
        assert cli.inspect_meta_graph(str(tf2["files"][fmt]))["object_graph"] == want
        summary = cli.inspect_saved_model(str(tf2["dirs"][fmt]))
        assert [m["object_graph"] for m in summary["meta_graphs"]] == [want]
    capsys.readouterr()
    assert cli.main(["inspect", str(tf2["files"]["binary"])]) == 0
    assert f"object graph    {len(graph.nodes)} objects" in capsys.readouterr().out
    tf1 = tf2["root"] / "tf1.meta"
    tf1.write_bytes(meta(node("a")))
    assert cli.inspect_meta_graph(str(tf1))["object_graph"] is None
