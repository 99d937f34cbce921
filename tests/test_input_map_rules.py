"""input_map and return_elements rules, against TensorFlow's own import, on all four
paths (TensorFlow, the drop-in, the TF-free import, rewrite_meta_graph):

* a key no input uses is an error only when its node is not in the GraphDef or it names
  an output the node lacks (mapping an unused placeholder is fine);
* of two spellings of one key ("x", "x:0") the later wins;
* a return element the input_map replaces comes back as its replacement.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import fastmeta
import pytest
from fastmeta.protos import meta_graph_pb2
from fastmeta.rewrite import rewrite_meta_graph_bytes

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
import fastmeta.tf as fmtf  # noqa: E402
from tensorflow.python.framework import meta_graph as tf_meta_graph  # noqa: E402
from tensorflow.python.training import saver as tf_saver  # noqa: E402

v1 = tf.compat.v1


def _meta() -> bytes:
    """x, p -> y = x + p; u has no consumer."""
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [], name="x")
        p = v1.placeholder(tf.float32, [], name="p")
        v1.placeholder(tf.float32, [], name="u")
        tf.add(x, p, name="y")
        return v1.train.export_meta_graph().SerializeToString()  # type: ignore[no-any-return]


def _tf_import(importer: Callable[..., Any], data: bytes, keys: list[str]) -> tuple[str, Any]:
    g = tf.Graph()
    with g.as_default():
        new = v1.placeholder(tf.float32, [], name="new")
        other = v1.placeholder(tf.float32, [], name="other")
        values = [new, other]
        try:
            importer(
                v1.MetaGraphDef.FromString(data),
                import_scope="imp",
                input_map={k: values[i % 2] for i, k in enumerate(keys)},
            )
        except ValueError as e:
            return "error", str(e)
        return "ok", [list(n.input) for n in g.as_graph_def().node if n.name == "imp/y"]


def _fm_import(data: bytes, keys: list[str]) -> tuple[str, Any]:
    g = fastmeta.Graph()
    with g.as_default():
        values = [g.placeholder("float32", [], name="new"), g.placeholder("float32", [], name="other")]
        try:
            fastmeta.import_meta_graph(
                data, import_scope="imp", input_map={k: values[i % 2] for i, k in enumerate(keys)}
            )
        except fastmeta.InputMapError as e:
            assert isinstance(e, ValueError)
            return "error", str(e)
        return "ok", [list(g.get_operation_by_name("imp/y").node_def.input)]


def _fm_rewrite(data: bytes, keys: list[str]) -> tuple[str, Any]:
    values = ["new:0", "other:0"]
    try:
        meta = fastmeta.rewrite_meta_graph(
            data, import_scope="imp", input_map={k: values[i % 2] for i, k in enumerate(keys)}
        )
    except fastmeta.InputMapError as e:
        return "error", str(e)
    return "ok", [list(n.input) for n in meta.graph_def.node if n.name == "imp/y"]


@pytest.mark.parametrize(
    "keys",
    [
        ["^p"],  # no node has a control input on p
        ["u:0"],  # u has no consumer
        ["u"],
        ["^y"],
        ["x:1"],  # x has one output: an error
        ["nothere:0"],  # an error
        ["x:0", "x"],  # two spellings: the later (other:0) wins
        ["x", "x:0"],
        ["x", "p:0", "^u"],
    ],
    ids=lambda keys: ",".join(keys),
)
def test_input_map_keys_as_tensorflow(keys: list[str]) -> None:
    data = _meta()
    want = _tf_import(v1.train.import_meta_graph, data, keys)
    assert _tf_import(fmtf.import_meta_graph, data, keys) == want
    for got in (_fm_import(data, keys), _fm_rewrite(data, keys)):
        assert got[0] == want[0], (got, want)
        if want[0] == "error":
            assert "Attempted to map inputs that were not found in graph_def" in got[1]
            assert "Attempted to map inputs that were not found in graph_def" in want[1]
        else:
            assert got[1] == want[1]


def test_a_mapped_return_element_is_its_replacement() -> None:
    data = _meta()
    importers = [
        tf_saver._import_meta_graph_with_return_elements,
        fmtf.import_meta_graph_with_return_elements,
        tf_meta_graph.import_scoped_meta_graph_with_return_elements,
        fmtf.import_scoped_meta_graph_with_return_elements,
    ]
    results = []
    for importer in importers:
        with tf.Graph().as_default():
            nx = v1.placeholder(tf.float32, [], name="nx")
            _, elements = importer(
                v1.MetaGraphDef.FromString(data),
                import_scope="imp",
                input_map={"x": nx},
                return_elements=["x:0", "y:0", "x", "u:0"],
            )
            assert elements[0] is nx
            results.append([e.name for e in elements])
            with pytest.raises(ValueError) as e:
                importer(v1.MetaGraphDef.FromString(data), import_scope="imp2", return_elements=["nope:0"])
            results.append(str(e.value))
    assert results[0] == ["nx:0", "imp/y:0", "imp/x", "imp/u:0"]
    assert results[1] == "Requested return tensor 'nope:0' not found in graph def"
    assert results == results[:2] * 4
    g = fastmeta.Graph()
    with g.as_default():
        nx = g.placeholder("float32", [], name="nx")
        _, elements = fastmeta.import_scoped_meta_graph_with_return_elements(
            data, import_scope="imp", input_map={"x:0": nx}, return_elements=["x:0", "y:0", "x", "u:0"]
        )
    assert [e.name for e in elements] == results[0]


def test_import_meta_graph_checks_return_elements_as_tensorflow() -> None:
    data = _meta()
    with tf.Graph().as_default():
        v1.Variable(1.0, name="v")  # (so that a Saver is returned)
        assert v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), return_elements=["y:0"]) is not None
        with pytest.raises(ValueError):
            v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), return_elements=["nope:0"])
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(data, import_scope="a", return_elements=["y:0"], graph=g)
    before = len(g.get_operations())
    with pytest.raises(ValueError):
        fastmeta.import_meta_graph(data, import_scope="b", return_elements=["nope:0"], graph=g)
    assert len(g.get_operations()) == before


def test_unknown_keyword_named_as_tensorflow_names_it() -> None:
    data = _meta()
    messages = []
    for importer in (v1.train.import_meta_graph, fmtf.import_meta_graph):
        with tf.Graph().as_default(), pytest.raises(TypeError) as e:
            importer(v1.MetaGraphDef.FromString(data), foo=1)
        messages.append(str(e.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("element", ["y:x", "y:", "y:0:0", "y:7", "nope", "y\udcff:0"])
def test_a_bad_return_element_is_a_graph_error_and_changes_nothing(element: str) -> None:
    # TensorFlow refuses each with a ValueError; the drop-in's was an untyped ValueError
    # from int() raised after the import's name scope was entered ("imp" then taken: a
    # retry landed in "imp_1"), the TF-free import's a bare KeyError/ValueError.
    data = _meta()
    with tf.Graph().as_default() as g:
        v1.placeholder(tf.float32, [], name="new")
        before = dict(g._names_in_use), [op.name for op in g.get_operations()]
        with pytest.raises((ValueError, TypeError)):  # (TypeError: the lone surrogate)
            v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), return_elements=[element])
    with tf.Graph().as_default() as g:
        v1.placeholder(tf.float32, [], name="new")
        # (an output the op lacks is refused by TensorFlow's importer itself, atomically)
        with pytest.raises(ValueError if element == "y:7" else fastmeta.GraphError):
            fmtf.import_meta_graph(data, import_scope="imp", return_elements=[element])
        assert (dict(g._names_in_use), [op.name for op in g.get_operations()]) == before
        fmtf.import_meta_graph(data, import_scope="imp")
        assert g.get_operation_by_name("imp/y").type == "AddV2"
    fg = fastmeta.Graph()
    fg.placeholder("float32", [], name="new")
    with pytest.raises(fastmeta.GraphError) as info:
        fastmeta.import_scoped_meta_graph_with_return_elements(
            data, graph=fg, import_scope="imp", return_elements=[element]
        )
    assert isinstance(info.value, ValueError) and info.value.node == element
    assert [op.name for op in fg.get_operations()] == ["new"]
    assert fg.unique_name("imp", mark_as_used=False) == "imp"


def test_names_that_are_not_utf8_are_input_map_errors() -> None:
    # TensorFlow's compat.as_str raises UnicodeDecodeError on these, pybind11 a TypeError
    # on a lone surrogate: the drop-in raises InputMapError (a ValueError, as
    # UnicodeDecodeError is) before touching the graph.
    data = _meta()
    unbound = v1.MetaGraphDef.FromString(data)
    unbound.collection_def["unbound_inputs"].bytes_list.value.append(b"x\xff")
    with tf.Graph().as_default() as g:
        new = v1.placeholder(tf.float32, [], name="new")
        for input_map, source in (
            ({b"x\xff:0": new}, data),
            ({"x\udcff:0": new}, data),
            ({"x:0": new}, unbound.SerializeToString()),
        ):
            with pytest.raises(fastmeta.InputMapError):
                fmtf.import_meta_graph(source, import_scope="imp", input_map=input_map)
        assert [op.name for op in g.get_operations()] == ["new"] and "imp" not in g._names_in_use


_LONG = "a_node_name_longer_than_sso"  # (TensorFlow's message garbles names of 15 bytes or fewer)


@pytest.mark.parametrize(
    "keys",
    [
        [f"z{_LONG}:1", f"b{_LONG}:2", f"m{_LONG}"],
        [f"n{_LONG}", f"^n{_LONG}", f"^a{_LONG}", f"n{_LONG}:1", "x:0"],
        [f"q{_LONG}:10", f"q{_LONG}:9", f"q{_LONG}:+2"],
    ],
    ids=["names", "control_and_tensor", "indices"],
)
def test_unused_keys_are_named_in_tensorflows_order(keys: list[str]) -> None:
    # TensorFlow's importer keeps the input_map in a map ordered by (node name, output
    # index; a control key's is -1) and names the keys it did not find in that order.
    data = _meta()
    want = _tf_import(v1.train.import_meta_graph, data, keys)
    assert want[0] == "error" and want[1].startswith("Attempted to map inputs")
    assert _tf_import(fmtf.import_meta_graph, data, keys) == want
    assert _fm_import(data, keys) == want
    assert _fm_rewrite(data, keys) == want


def test_keys_naming_no_node_are_unused_keys_named_as_tensorflow_names_them() -> None:
    # TensorFlow's Python importer splits a key itself ("^" and all after it; else the op
    # name before the one ":") and hands the importer (op name, index): "" is (""; 0),
    # ":1" ("", 1), "^" a control key on "", "^x:0" a control key on a node "x:0". None
    # names a node, so each is an unused key, listed as (op name, index) in the map's
    # order. fastmeta's core parsed the normalised "op:index" again as an input ("" was
    # named ":0:0", "^" refused as naming no node, "^x:0" as a control key mapped to a
    # tensor).
    data = _meta()
    # TensorFlow is asked only with names too long to garble (its message lists views of
    # freed strings: short names come out garbled, or the process reads freed memory, which
    # kills it under the sanitizers); the empty names' spelling is its format's, "^" and
    # ":0", as the long ones show.
    long_keys = [f"^{_LONG}:1", f"^{_LONG}:0"]
    long_want = f"Attempted to map inputs that were not found in graph_def: [^{_LONG}:0, ^{_LONG}:1]"
    assert _tf_import(v1.train.import_meta_graph, data, long_keys) == ("error", long_want)
    keys = ["^x:1", "", ":1", "^x:0", "^"]
    want = "Attempted to map inputs that were not found in graph_def: [^, :0, :1, ^x:0, ^x:1]"
    for key_set, expected in ((long_keys, long_want), (keys, want)):
        for got in (_tf_import(fmtf.import_meta_graph, data, key_set), _fm_import(data, key_set)):
            assert got == ("error", expected)
        assert _fm_rewrite(data, key_set) == ("error", expected)


@pytest.mark.parametrize("key", ["x: 0", "x:+0", "x:0_0", "x:a", "x:", "x:0:1", "x:-1"])
def test_tensor_keys_are_parsed_as_tensorflow_parses_them(key: str) -> None:
    # int() of what follows the one ":" ("x: 0" is x:0), with TensorFlow's messages for
    # what it refuses; the TF-free import and rewrite_meta_graph did not parse them
    # ("x: 0" was a key no node has).
    data = _meta()
    want = _tf_import(v1.train.import_meta_graph, data, [key])
    assert _tf_import(fmtf.import_meta_graph, data, [key]) == want
    got = _fm_import(data, [key])
    assert got == want
    assert _fm_rewrite(data, [key])[0] == want[0]


def test_control_inputs_after_renaming_a_second_unscoped_import() -> None:
    # Renaming to "a_1", "a_0_1" turns the order of "a" < "a_0" around: control inputs
    # are sorted by their final names (the NodeDefs keep the file's order); the
    # colocation entries and the collections (TensorFlow prefixes no scope there: they
    # name the first copy's nodes) as TensorFlow.
    g = tf.Graph()
    with g.as_default():
        a = tf.constant(1.0, name="a")
        a0 = tf.constant(1.0, name="a_0")
        b = tf.constant(1.0, name="b_1")
        with tf.control_dependencies([a0, a, b]), v1.colocate_with(a0):
            z = tf.identity(b, name="z")
        v1.add_to_collection("c", z)
        v1.add_to_collection("c", a0)
        data = v1.train.export_meta_graph().SerializeToString()

    def tf_run(importer: Callable[..., Any]) -> Any:
        with tf.Graph().as_default() as tg:
            for _ in range(2):
                importer(v1.MetaGraphDef.FromString(data))
            ops = tg.get_operations()
            return tg.as_graph_def(), [list(op.node_def.input) for op in ops], [x.name for x in tg.get_collection("c")]

    want = tf_run(v1.train.import_meta_graph)
    assert [list(n.input) for n in want[0].node if n.name == "z_1"] == [["b_1_1", "^a_0_1", "^a_1"]]
    got = tf_run(fmtf.import_meta_graph)
    assert got[1:] == want[1:] and got[0] == want[0]
    fg = fastmeta.Graph()
    for _ in range(2):
        fastmeta.import_meta_graph(data, graph=fg)
    assert fg.as_graph_def().SerializeToString(deterministic=True) == want[0].SerializeToString(deterministic=True)
    assert [x.name for x in fg.get_collection("c")] == want[2]


def _unbound_meta(kind: str) -> bytes:
    """_meta() with an unbound_inputs collection naming x twice and p (as an export_scope
    writes it when an outside tensor feeds two ops): a bytes_list (what TensorFlow writes)
    or a node_list."""
    mg = v1.MetaGraphDef.FromString(_meta())
    names = ["x", "x", "p"]
    col = mg.collection_def["unbound_inputs"]
    if kind == "bytes_list":
        col.bytes_list.value.extend(n.encode() for n in names)
    else:
        col.node_list.value.extend(names)
    return mg.SerializeToString()  # type: ignore[no-any-return]


@pytest.mark.parametrize("keys", [(), ("x",), ("x", "p"), ("x", "p", "u"), ("u",)], ids=repr)
@pytest.mark.parametrize("kind", ["bytes_list", "node_list"])
def test_unbound_inputs_refused_with_tensorflows_message(kind: str, keys: tuple[str, ...]) -> None:
    # TensorFlow refuses unless the input_map's keys are the collection's values exactly
    # (never, when a value repeats), listing the values "not in input_map": compared as
    # stored, so for a bytes_list (what TensorFlow writes) every value, mapped or not.
    data = _unbound_meta(kind)
    messages = []
    for importer in (v1.train.import_meta_graph, fmtf.import_meta_graph):
        with tf.Graph().as_default(), pytest.raises(ValueError) as e:
            new = v1.placeholder(tf.float32, [], name="new")
            importer(v1.MetaGraphDef.FromString(data), input_map={k: new for k in keys} or None)
        messages.append(str(e.value))
    fg = fastmeta.Graph()
    with pytest.raises(fastmeta.InputMapError) as got:
        new = fg.placeholder("float32", [], name="new")
        fastmeta.import_meta_graph(data, input_map={k: new for k in keys} or None, graph=fg)
    messages.append(str(got.value))
    for rewrite in (fastmeta.rewrite_meta_graph, rewrite_meta_graph_bytes):
        with pytest.raises(fastmeta.InputMapError) as got:
            rewrite(data, input_map={k: "new:0" for k in keys} or None)
        messages.append(str(got.value))
    assert messages[1:] == [messages[0]] * 4
    assert [op.name for op in fg.get_operations()] == ["new"]


@pytest.mark.parametrize("scope", [None, "imp"])
def test_rewrite_of_a_file_exported_with_export_scope_is_tensorflows_import(scope: str | None) -> None:
    # A file TensorFlow exported with export_scope (inputs from outside the scope renamed
    # $unbound_inputs_*): rewrite_meta_graph refuses it as TensorFlow's import does, with
    # its message (it failed later, in the core, naming the first unbound input as an
    # unknown node), unless the input_map maps exactly those; then it is TensorFlow's.
    tf_oracle = pytest.importorskip("tf_oracle")
    data = tf_oracle.unbound_inputs_meta()
    imap = tf_oracle.UNBOUND_INPUT_MAP
    for input_map in (None, {"$unbound_inputs_x": "nx:0"}, {**imap, "x": "nx:0"}):
        with tf.Graph().as_default() as g, pytest.raises(ValueError) as want:
            tf_oracle.add_unbound_replacements(g)
            tensors = {k: g.get_tensor_by_name(v) for k, v in (input_map or {}).items()}
            v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), import_scope=scope, input_map=tensors or None)
        assert str(want.value).startswith("Graph contains unbound inputs")
        for rewrite in (fastmeta.rewrite_meta_graph, rewrite_meta_graph_bytes):
            with pytest.raises(fastmeta.InputMapError) as got:
                rewrite(data, import_scope=scope, input_map=input_map)
            assert str(got.value) == str(want.value)
    want_graph = tf_oracle.tf_import_unbound(data, import_scope=scope)
    got = fastmeta.rewrite_meta_graph(data, import_scope=scope, input_map=imap)
    assert not tf_oracle.diff_graph_defs(want_graph, got.graph_def)
    assert meta_graph_pb2.MetaGraphDef.FromString(rewrite_meta_graph_bytes(data, scope, input_map=imap)) == got
