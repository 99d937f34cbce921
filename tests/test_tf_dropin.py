"""Differential tests of ``fastmeta.tf.import_meta_graph`` against TensorFlow's own.

Every corpus fixture x every variant is imported twice, once by TensorFlow and once
by fastmeta.tf, each into a fresh graph set up the same way; the graphs must be equal
node for node (``tf_oracle.diff_graph_defs``), the collections item for item
(``tf_oracle.describe_item``), the savers' ``saver_def`` equal, the return types the
same, and so must the tensors' static shapes and the graph's name bookkeeping
(``names_in_use``: the next ops created get the same names). End to end, the imported
mlp graphs restore their TensorFlow-written checkpoints and train to the same values.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

tf = pytest.importorskip("tensorflow")
np = pytest.importorskip("numpy")

import fastmeta.tf as ftf  # noqa: E402
from fastmeta.tf import _importer  # noqa: E402
from tf_oracle import describe_collections, describe_item, diff_graph_defs  # noqa: E402

pytestmark = pytest.mark.tf

from corpus_fixtures import CORPUS, FIXTURES, IDS  # noqa: E402

VARIANTS = ["no_scope", "scope", "scope_clear_devices", "scope_taken", "input_map"]


@pytest.fixture(scope="module", autouse=True)
def _graph_mode() -> Any:
    """Graph mode for this module only (as training code using import_meta_graph runs);
    eager execution is switched back on afterwards for other modules."""
    tf.compat.v1.disable_eager_execution()
    yield
    try:
        tf.compat.v1.enable_eager_execution()
    except ValueError:  # TF refuses once the global default graph was used
        pass


Importer = Callable[..., Any]
TF_IMPORT: Importer = tf.compat.v1.train.import_meta_graph
FM_IMPORT: Importer = ftf.import_meta_graph


# ---------------------------------------------------------------------------
# Running one import the same way with either importer
# ---------------------------------------------------------------------------
def _path(fx: dict[str, Any]) -> str:
    return str(CORPUS / fx["file"])


_STRIPPED_DIR = Path(tempfile.mkdtemp(prefix="fastmeta-dropin-"))
atexit.register(shutil.rmtree, _STRIPPED_DIR, True)


def _stripped_path(fx: dict[str, Any]) -> str:
    """The fixture without ``_output_shapes`` attrs (TensorFlow refines shapes with them
    on import; without them the import must still match TensorFlow's)."""
    out = _STRIPPED_DIR / fx["file"]
    if not out.is_file():
        from google.protobuf import text_format

        mg = tf.compat.v1.MetaGraphDef()
        raw = (CORPUS / fx["file"]).read_bytes()
        if fx["format"] == "text":
            text_format.Merge(raw.decode("utf-8"), mg)
        else:
            mg.ParseFromString(raw)
        for node in mg.graph_def.node:
            if "_output_shapes" in node.attr:
                del node.attr["_output_shapes"]
        if fx["format"] == "text":
            out.write_text(text_format.MessageToString(mg))
        else:
            out.write_bytes(mg.SerializeToString())
    return str(out)


def _expect_fast(path: str) -> bool:
    """Whether fastmeta.tf must take its fast path for this file (always, for the corpus:
    with or without _output_shapes)."""
    del path
    return True


def _placeholder(spec: dict[str, Any]) -> Any:
    r = spec["replacement"]
    assert r["kind"] == "placeholder"
    return tf.compat.v1.placeholder(tf.as_dtype(r["dtype"]), r["shape"], name=r["name"])


def _plan(fx: dict[str, Any], variant: str, path: str) -> tuple[Callable[[Importer], dict[str, Any]], dict[str, Any]]:
    """(setup(importer) -> input_map, import kwargs) for a variant."""
    specs = [s for s in (fx["required_input_map"],) if s]
    kwargs: dict[str, Any] = {}
    twice = False
    if variant == "scope":
        kwargs["import_scope"] = "imp"
    elif variant == "scope_clear_devices":
        kwargs.update(import_scope="imp", clear_devices=True)
    elif variant == "scope_taken":
        kwargs["import_scope"] = "imp"
        twice = True
    elif variant == "twice_no_scope":
        twice = True
    elif variant == "input_map":
        if fx["input_map"] is None:
            pytest.skip("fixture has no input_map spec")
        kwargs["import_scope"] = "imp"
        specs.append(fx["input_map"])
    elif variant != "no_scope":
        raise AssertionError(variant)

    def setup(importer: Importer) -> dict[str, Any]:
        imap = {s["key"]: _placeholder(s) for s in specs}
        if twice:
            required = (fx["required_input_map"] or {}).get("key")
            first = {k: v for k, v in imap.items() if k == required}
            importer(path, input_map=first or None, **kwargs)
        return imap

    return setup, kwargs


class Result:
    """Everything compared about one import."""

    def __init__(self, graph: Any, returned: Any = None, error: BaseException | None = None):
        self.graph = graph
        self.returned = returned
        self.error = error
        self.graph_def = graph.as_graph_def()
        # Each op's own NodeDef, as TensorFlow keeps it: inputs spelled as the file spells
        # them (as_graph_def renders them from the edges instead), what
        # export_meta_graph(clear_devices=True) and export scopes write.
        self.node_defs = {op.name: op.node_def for op in graph.get_operations()}
        # what each op's inputs really are (data inputs in order, control inputs)
        self.sources = {
            op.name: ([t.name for t in op.inputs], {c.name for c in op.control_inputs}) for op in graph.get_operations()
        }
        self.collections = describe_collections(graph)
        self.saver = describe_item(returned) if returned is not None else None
        self.shapes = [(op.name, [str(t.shape) for t in op.outputs]) for op in graph.get_operations()]
        self.names_in_use = dict(graph._names_in_use)
        self.variables = [
            _variable_state(v)
            for key in sorted(graph.get_all_collection_keys())
            for v in graph.get_collection(key)
            if isinstance(v, tf.Variable)
        ]
        self.path = _importer.last_path()


def _state_value(value: Any) -> Any:
    """An attribute value in a form two graphs' objects compare by: graph objects
    (ops, tensors) by class and name, protos by their bytes, the rest by repr."""
    if isinstance(value, (tf.Operation, tf.Tensor)):
        return (type(value).__name__, value.name)
    if hasattr(value, "SerializeToString"):
        return (type(value).__name__, value.SerializeToString(deterministic=True))
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return (type(value).__name__, sorted((k, _state_value(v)) for k, v in vars(value).items()))
    return (type(value).__name__, repr(value))


def _variable_state(variable: Any) -> tuple[str, list[tuple[str, Any]]]:
    """A variable's class and every attribute (``vars``), as :func:`_state_value`."""
    return (type(variable).__qualname__, sorted((k, _state_value(v)) for k, v in vars(variable).items()))


def _run(
    importer: Importer,
    setup: Callable[[Importer], dict[str, Any]],
    path: str,
    wrap: Callable[[], Any] | None = None,
    **kwargs: Any,
) -> Result:
    graph = tf.Graph()
    with graph.as_default():
        imap = setup(importer)
        ctx = wrap() if wrap is not None else _null()
        try:
            with ctx:
                returned = importer(path, input_map=imap or None, **kwargs)
        except Exception as e:
            return Result(graph, error=e)
    return Result(graph, returned)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _names_source(text: str, sources: tuple[list[str], set[str]], position: int) -> bool:
    """Whether NodeDef input ``text`` (at ``position``) names the op's real source."""
    data, controls = sources
    if text.startswith("^"):
        return text[1:] in controls
    return position < len(data) and (text if ":" in text else text + ":0") == data[position]


def _stale_inputs_only(tf_node: Any, fm_node: Any, sources: tuple[list[str], set[str]]) -> bool:
    """TensorFlow's one known wrong spelling: its importer renames an input only after it
    has renamed the source, so on a back edge (a loop's NextIteration into its Merge) from
    a node renamed to avoid a clash, the NodeDef keeps the stale name, which names another
    node. fastmeta.tf names the real source there (TensorFlow's importer needs it): the
    NodeDefs may differ in those inputs only."""
    if len(tf_node.input) != len(fm_node.input):
        return False
    for i, (t, f) in enumerate(zip(tf_node.input, fm_node.input)):
        if t != f and (_names_source(t, sources, i) or not _names_source(f, sources, i)):
            return False
    rest_tf, rest_fm = type(tf_node)(), type(fm_node)()
    rest_tf.CopyFrom(tf_node)
    rest_fm.CopyFrom(fm_node)
    del rest_tf.input[:]
    del rest_fm.input[:]
    return rest_tf == rest_fm


def _assert_same(a: Result, b: Result, *, fast: bool = True) -> None:
    if a.error is not None or b.error is not None:
        assert isinstance(b.error, type(a.error)), (a.error, b.error)
        assert str(a.error) == str(b.error)
    diffs = diff_graph_defs(a.graph_def, b.graph_def)
    assert diffs == [], "\n".join(diffs[:20])
    assert list(b.node_defs) == list(a.node_defs)
    differing = [
        f"{k}: TF {list(v.input)} fastmeta {list(b.node_defs[k].input)}"
        for k, v in a.node_defs.items()
        if b.node_defs[k] != v and not _stale_inputs_only(v, b.node_defs[k], a.sources[k])
    ]
    assert differing == [], "\n".join(differing[:10])
    assert b.collections == a.collections
    assert b.saver == a.saver
    assert type(b.returned) is type(a.returned)
    assert b.shapes == a.shapes
    assert b.names_in_use == a.names_in_use
    assert b.variables == a.variables
    if fast:
        assert b.path == "fast", b.path


# ---------------------------------------------------------------------------
# The whole corpus, every variant
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shapes", ["file", "stripped"])
@pytest.mark.parametrize("variant", [*VARIANTS, "twice_no_scope"])
@pytest.mark.parametrize("name", IDS)
def test_corpus_variant(name: str, variant: str, shapes: str) -> None:
    fx = FIXTURES[name]
    path = _path(fx) if shapes == "file" else _stripped_path(fx)
    setup, kwargs = _plan(fx, variant, path)
    a = _run(TF_IMPORT, setup, path, **kwargs)
    b = _run(FM_IMPORT, setup, path, **kwargs)
    _assert_same(a, b, fast=_expect_fast(path))


def _unusually_spelled_meta() -> Any:
    """Inputs as TensorFlow never writes them but reads them: "x:0" for "x", control
    inputs out of order and repeated."""
    mg = tf.compat.v1.MetaGraphDef()
    f32 = tf.compat.v1.AttrValue(type=tf.float32.as_datatype_enum)
    i32 = tf.compat.v1.AttrValue(type=tf.int32.as_datatype_enum)

    def add(name: str, op: str, inputs: tuple[str, ...] = (), **attrs: Any) -> None:
        node = mg.graph_def.node.add(name=name, op=op, input=inputs)
        for key, value in attrs.items():
            node.attr[key].CopyFrom(value)

    add("x", "Placeholder", dtype=f32, shape=tf.compat.v1.AttrValue(shape=tf.TensorShape([2]).as_proto()))
    add("b", "NoOp")
    add("a", "NoOp")
    add("u", "Unique", ("x:0",), T=f32)
    add("y", "Identity", ("u:1", "^b", "^a", "^b"), T=i32)
    add("z", "AddV2", ("x:0", "u", "^y"), T=f32)
    add("w", "Identity", ("u:0",), T=f32)
    return mg


@pytest.mark.parametrize("variant", ["no_scope", "scope", "twice_no_scope", "input_map", "control_map"])
def test_nodedefs_keep_the_files_spelling(variant: str, tmp_path: Path) -> None:
    """Each op's NodeDef keeps its inputs as the file spells them (prefixed; renamed and
    mapped ones respelled), as TensorFlow's importer keeps them: export_meta_graph with
    clear_devices or an export scope writes those NodeDefs."""
    path = tmp_path / "spelled.meta"
    path.write_bytes(_unusually_spelled_meta().SerializeToString())
    kwargs = {} if variant in ("no_scope", "twice_no_scope") else {"import_scope": "imp"}

    def setup(importer: Importer) -> dict[str, Any]:
        if variant == "twice_no_scope":
            importer(str(path))
        if variant == "input_map":
            p = tf.compat.v1.placeholder(tf.float32, [2], name="new_x")
            return {"x:0": p, "u": p}
        if variant == "control_map":
            c = tf.constant(1.0, name="c")
            return {"^b": c, "^a": c}
        return {}

    a = _run(TF_IMPORT, setup, str(path), **kwargs)
    b = _run(FM_IMPORT, setup, str(path), **kwargs)
    assert a.error is None
    _assert_same(a, b)
    if variant == "no_scope":  # (what is compared: TensorFlow keeps the file's spelling)
        assert list(a.node_defs["u"].input) == ["x:0"]
        assert list(a.node_defs["y"].input) == ["u:1", "^b", "^a", "^b"]
    exported = [tf.compat.v1.train.export_meta_graph(graph=r.graph, clear_devices=True).graph_def for r in (a, b)]
    assert exported[0] == exported[1]


@pytest.mark.parametrize("name", ["mlp_ref", "control_flow_v1", "misc_graph"])
@pytest.mark.parametrize("scope", [None, "in", "in/", "IMP", "outer"], ids=["none", "in", "in_slash", "upper", "outer"])
def test_inside_name_scope(name: str, scope: str | None) -> None:
    """Import inside an enclosing name scope (scope chosen relative to it, or re-entered)."""
    fx = FIXTURES[name]

    def setup(importer: Importer) -> dict[str, Any]:
        with tf.name_scope("outer"):
            tf.constant(1.0, name="c")
        tf.constant(1.0, name="imp")
        return {}

    def wrap() -> Any:
        return tf.compat.v1.name_scope("outer")

    path = _stripped_path(fx)
    a = _run(TF_IMPORT, setup, path, wrap=wrap, import_scope=scope)
    b = _run(FM_IMPORT, setup, path, wrap=wrap, import_scope=scope)
    _assert_same(a, b, fast=_expect_fast(path))


@pytest.mark.parametrize("name", ["mlp_ref", "control_flow_v1", "queues"])
def test_restore_collections_predicate(name: str) -> None:
    fx = FIXTURES[name]
    keep = ("trainable_variables", "my_tensors", "queue_runners", "cond_context")
    kwargs = {"import_scope": "imp", "restore_collections_predicate": lambda k: k in keep}
    path = _stripped_path(fx)
    a = _run(TF_IMPORT, lambda imp: {}, path, **kwargs)
    b = _run(FM_IMPORT, lambda imp: {}, path, **kwargs)
    _assert_same(a, b, fast=_expect_fast(path))


def test_graph_kwarg_imports_into_that_graph() -> None:
    fx = FIXTURES["mlp_ref"]
    results = []
    for importer in (TF_IMPORT, FM_IMPORT):
        target = tf.Graph()
        other = tf.Graph()
        with other.as_default():
            saver = importer(_stripped_path(fx), import_scope="imp", graph=target)
        assert other.get_operations() == []
        results.append((target.as_graph_def(), describe_collections(target), describe_item(saver)))
    assert diff_graph_defs(results[0][0], results[1][0]) == []
    assert results[0][1:] == results[1][1:]


def test_ambient_control_dependencies_and_attr_scope() -> None:
    """Enclosing control_dependencies apply to the imported ops, as in TensorFlow."""
    fx = FIXTURES["mlp_ref"]
    holder: dict[str, Any] = {}

    def setup(importer: Importer) -> dict[str, Any]:
        holder["c"] = tf.constant(0.0, name="dep")
        return {}

    def wrap() -> Any:
        return tf.control_dependencies([holder["c"]])

    path = _stripped_path(fx)
    a = _run(TF_IMPORT, setup, path, wrap=wrap, import_scope="imp")
    b = _run(FM_IMPORT, setup, path, wrap=wrap, import_scope="imp")
    _assert_same(a, b, fast=_expect_fast(path))


@pytest.mark.parametrize("how", ["device", "colocate", "non_tensor_input_map"])
def test_fallbacks_are_exact(how: str) -> None:
    fx = FIXTURES["mlp_ref"]
    holder: dict[str, Any] = {}

    def setup(importer: Importer) -> dict[str, Any]:
        holder["c"] = tf.constant(0.0, name="anchor")
        return {}

    kwargs: dict[str, Any] = {"import_scope": "imp"}
    wrap: Callable[[], Any] | None = None
    if how == "device":

        def wrap() -> Any:
            return tf.device("/job:worker/task:3")
    elif how == "colocate":

        def wrap() -> Any:
            return tf.compat.v1.colocate_with(holder["c"].op)
    else:
        # (a value's Const would take the block's control inputs: imported, it would not)
        def setup(importer: Importer) -> dict[str, Any]:
            holder["c"] = tf.constant(0.0, name="anchor")
            return {"x:0": np.zeros([2, 4], np.float32)}

        def wrap() -> Any:
            return tf.control_dependencies([holder["c"]])

    path = _stripped_path(fx)
    a = _run(TF_IMPORT, setup, path, wrap=wrap, **kwargs)
    b = _run(FM_IMPORT, setup, path, wrap=wrap, **kwargs)
    _assert_same(a, b, fast=False)
    assert b.path.startswith("fallback"), b.path


def test_non_tensor_input_map_values_on_the_fast_path() -> None:
    # The Consts TensorFlow makes of them are imported with the nodes (atomically).
    def setup(importer: Importer) -> dict[str, Any]:
        return {"x:0": np.zeros([2, 4], np.float32)}

    path = _stripped_path(FIXTURES["mlp_ref"])
    a = _run(TF_IMPORT, setup, path, import_scope="imp")
    b = _run(FM_IMPORT, setup, path, import_scope="imp")
    _assert_same(a, b, fast=True)
    assert b.path == "fast"


def test_a_malformed_function_library_on_the_fallback_path_is_a_parse_error() -> None:
    # The core copies a function library through unread; the fast path reports what is
    # malformed there as a ParseError, the fallback (an enclosing device scope) gave
    # TensorFlow's protobuf DecodeError.
    sys.path.insert(0, str(HERE.parent / "fuzz"))
    import fastmeta
    from make_seeds import field, meta, node

    bad_name = field(3, field(1, b"n\xff") + field(2, b"NoOp"))  # FunctionDef.node_def
    data = meta(node("a") + field(2, field(1, field(1, field(1, b"f")) + bad_name)))
    graph = tf.Graph()
    with graph.as_default():
        for device in (None, "/cpu:0"):
            with tf.device(device), pytest.raises(fastmeta.ParseError) as info:
                ftf.import_meta_graph(data)
            assert info.value.offset == data.index(b"n\xff")  # type: ignore[attr-defined]
    assert graph.get_operations() == []


# ---------------------------------------------------------------------------
# return_elements twins
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("scope, twice", [("imp", False), ("imp", True), (None, True)])
def test_return_elements(scope: str | None, twice: bool) -> None:
    from tensorflow.python.training import saver as saver_lib

    fx = FIXTURES["mlp_ref"]
    wanted = ["logits:0", "train_gd", "x"]
    got = []
    for importer in (saver_lib._import_meta_graph_with_return_elements, ftf.import_meta_graph_with_return_elements):
        graph = tf.Graph()
        with graph.as_default():
            if twice:
                TF_IMPORT(_stripped_path(fx), import_scope=scope)
            saver, elements = importer(_stripped_path(fx), import_scope=scope, return_elements=wanted)
            got.append(
                (
                    [type(e).__name__ for e in elements],
                    [e.name for e in elements],
                    describe_item(saver),
                    graph.as_graph_def(),
                )
            )
    assert got[0][:3] == got[1][:3]
    assert diff_graph_defs(got[0][3], got[1][3]) == []


def test_scoped_twin_returns_variables_and_elements() -> None:
    from tensorflow.python.framework import meta_graph

    fx = FIXTURES["mlp_resource_adam"]
    out = []
    for importer in (
        meta_graph.import_scoped_meta_graph_with_return_elements,
        ftf.import_scoped_meta_graph_with_return_elements,
    ):
        with tf.Graph().as_default():
            var_list, elements = importer(_stripped_path(fx), import_scope="s", return_elements=["x:0"])
            described = {k: describe_item(v) for k, v in var_list.items()}
            out.append((described, [e.name for e in elements]))
    assert out[0] == out[1]
    assert out[0][0]


def test_missing_return_element_raises_value_error_graph_unchanged() -> None:
    graph = tf.Graph()
    with graph.as_default(), pytest.raises(ValueError, match="nope"):
        ftf.import_meta_graph_with_return_elements(_path(FIXTURES["mlp_ref"]), return_elements=["nope"])
    assert graph.get_operations() == []


# ---------------------------------------------------------------------------
# Errors, arguments, side effects
# ---------------------------------------------------------------------------
def _state(graph: Any) -> tuple[Any, ...]:
    return (len(graph.get_operations()), dict(graph._names_in_use), graph.get_all_collection_keys())


def test_unused_input_map_key_leaves_graph_unchanged() -> None:
    graph = tf.Graph()
    with graph.as_default():
        t = tf.constant(1.0, name="t")
        before = _state(graph)
        with pytest.raises(ValueError, match="not found in graph_def"):
            ftf.import_meta_graph(_path(FIXTURES["mlp_ref"]), import_scope="imp", input_map={"nope:0": t})
        assert _state(graph) == before


def test_unknown_op_leaves_graph_unchanged() -> None:
    """TensorFlow's C++ import fails: the drop-in rolls its name-scope bookkeeping back
    too (deliberately: TensorFlow keeps "imp" marked as used, a retry lands in imp_1)."""
    mg = tf.compat.v1.MetaGraphDef()
    node = mg.graph_def.node.add()
    node.name, node.op = "a", "NoSuchOpAnywhere"
    graph = tf.Graph()
    with graph.as_default():
        before = _state(graph)
        with pytest.raises(Exception) as fm_err:
            ftf.import_meta_graph(mg, import_scope="imp")
        assert _state(graph) == before
    with tf.Graph().as_default() as tf_graph, pytest.raises(Exception) as tf_err:
        TF_IMPORT(mg, import_scope="imp")
    assert type(fm_err.value) is type(tf_err.value)
    assert "NoSuchOpAnywhere" in str(fm_err.value)
    assert graph.unique_name("imp", mark_as_used=False) == "imp"
    assert tf_graph.unique_name("imp", mark_as_used=False) == "imp_1"  # (what TensorFlow leaves)


def test_malformed_library_is_a_parse_error_graph_unchanged() -> None:
    """A GradientDef running past its end: TensorFlow raises protobuf's bare
    DecodeError; the drop-in a fastmeta.ParseError with the offset, graph untouched."""
    import fastmeta

    node = b"\x0a\x01a\x12\x04NoOp"  # name "a", op "NoOp"
    data = b"\x12\x11\x0a\x09" + node + b"\x12\x04\x12\x02\x0a\x04"  # graph_def: node, library
    graph = tf.Graph()
    with graph.as_default():
        tf.constant(1.0, name="t")
        before = _state(graph)
        with pytest.raises(fastmeta.ParseError, match="byte offset 17"):
            ftf.import_meta_graph(data, import_scope="imp")
        assert _state(graph) == before


@pytest.mark.parametrize(
    "entry",
    [
        "c",
        "c:0",
        "c:00",
        "c:+0",
        "c: 0",
        "c:1",
        "c:-1",
        "c:",
        "c:0:0",
        "c:x",
        "nope",
        "nope:0",
        "C",
        "^c",
        ":0",
        "",
        "c:\u0660",
    ],
)
@pytest.mark.parametrize("scope", [None, "imp"])
def test_node_list_entries_resolved_as_tensorflow(entry: str, scope: str | None) -> None:
    """A node_list collection's entries become the ops and tensors (or the errors)
    TensorFlow's ``as_graph_element`` makes of them, whatever their spelling."""
    with tf.Graph().as_default():
        tf.constant(1.0, name="c")
        mg = tf.compat.v1.train.export_meta_graph()
    mg.collection_def["mine"].node_list.value.extend([entry])

    def run(importer: Importer) -> Any:
        graph = tf.Graph()
        with graph.as_default():
            try:
                importer(mg, import_scope=scope)
            except Exception as e:  # (compared with TensorFlow's)
                return type(e), str(e)
            return [(type(x).__name__, x.name, x.graph is graph) for x in graph.get_collection("mine")]

    assert run(FM_IMPORT) == run(TF_IMPORT)
    assert _importer.last_path() == "fast"


@pytest.mark.parametrize("enabled", [True, False], ids=["gc_on", "gc_off"])
@pytest.mark.parametrize("api", ["import_meta_graph", "scoped_twin", "failing"])
def test_cyclic_gc_paused_during_import_and_restored(enabled: bool, api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cyclic garbage collector makes no pass while the drop-in makes the graph's
    Python objects (the Operation wrappers, tensors, variables and collection entries,
    all live), and the caller's setting is back afterwards, also when the import fails."""
    import gc

    passes: list[int] = []
    seen: list[tuple[bool, int]] = []  # (collector enabled, passes so far) when the collections start

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    restore = _importer._restore_collections

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append((gc.isenabled(), len(passes)))
        return restore(*args, **kwargs)

    monkeypatch.setattr(_importer, "_restore_collections", watched)
    path = _path(FIXTURES["mlp_resource_adam"])
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    gc.callbacks.append(count)
    try:
        with tf.Graph().as_default():
            stray = tf.constant(1.0)
            gc.collect()  # (a clean start: what the test made so far is not counted)
            passes.clear()
            if api == "import_meta_graph":
                ftf.import_meta_graph(path, import_scope="imp")
            elif api == "scoped_twin":
                ftf.import_scoped_meta_graph_with_return_elements(path, import_scope="imp")
            else:
                with pytest.raises(ValueError):
                    ftf.import_meta_graph(path, input_map={"nope:0": stray})
        assert gc.isenabled() is enabled
    finally:
        gc.callbacks.remove(count)
        (gc.enable if was else gc.disable)()
    assert seen == ([] if api == "failing" else [(False, 0)])


@pytest.mark.parametrize(
    "names",
    [
        ("outer_x", "y", "z"),
        ("outer_x", "w"),
        ("outer_x", "W"),
        ("outer_x", "w/read"),
        ("outer_x", "w_1", "y_1"),
        ("outer_x", "sub", "y"),
    ],
    ids="-".join,
)
@pytest.mark.parametrize("kwargs", [{}, {"import_scope": "sub"}, {"clear_devices": True}], ids=["none", "sub", "clear"])
def test_export_scope_beside_colliding_names(names: tuple[str, ...], kwargs: dict[str, Any]) -> None:
    """A meta exported with export_scope (scoped_export) imported into a graph that already
    has ops of its names: renamed nodes, collections looked up by the file's names (TensorFlow
    then finds the graph's own ``w``: a Saver error, or a missing ``w:0``), as TensorFlow."""
    path = _path(FIXTURES["scoped_export"])

    def setup(importer: Importer) -> dict[str, Any]:
        phs = [tf.compat.v1.placeholder(tf.float32, [None, 4], name=n) for n in names]
        return {"$unbound_inputs_x": phs[0]}

    a = _run(TF_IMPORT, setup, path, **kwargs)
    b = _run(FM_IMPORT, setup, path, **kwargs)
    _assert_same(a, b)


def test_unbound_inputs_message_matches() -> None:
    fx = FIXTURES["scoped_export"]
    errors = []
    for importer in (TF_IMPORT, FM_IMPORT):
        with tf.Graph().as_default(), pytest.raises(ValueError) as e:
            importer(_path(fx))
        errors.append(str(e.value))
    assert errors[0] == errors[1]


def test_finalized_graph_raises_and_is_unchanged() -> None:
    graph = tf.Graph()
    graph.finalize()
    with graph.as_default(), pytest.raises(RuntimeError, match="finalized"):
        ftf.import_meta_graph(_path(FIXTURES["mlp_ref"]))
    assert graph.get_operations() == []


def test_unknown_kwarg_is_type_error() -> None:
    with tf.Graph().as_default(), pytest.raises(TypeError):
        ftf.import_meta_graph(_path(FIXTURES["mlp_ref"]), no_such_kwarg=1)


def test_input_map_must_be_a_dict() -> None:
    with tf.Graph().as_default(), pytest.raises(TypeError, match="dictionary"):
        ftf.import_meta_graph(_path(FIXTURES["mlp_ref"]), input_map=[("x:0", 1)])


def test_eager_mode_is_runtime_error() -> None:
    code = (
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\n"
        "import fastmeta.tf as f\n"
        f"try:\n    f.import_meta_graph({_path(FIXTURES['mlp_ref'])!r})\n"
        "except RuntimeError as e:\n    print('RuntimeError', 'eager' in str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("RuntimeError True")


def test_message_input_is_not_mutated_and_equals_path_import() -> None:
    path = _stripped_path(FIXTURES["mlp_ref"])
    data = Path(path).read_bytes()
    msg = tf.compat.v1.MetaGraphDef.FromString(data)
    kwargs: dict[str, Any] = {"import_scope": "imp", "clear_devices": True}
    a = _run(FM_IMPORT, lambda imp: {}, path, **kwargs)
    for source in (msg, data):
        b = _run(FM_IMPORT, lambda imp: {}, source, **kwargs)  # type: ignore[arg-type]
        _assert_same(a, b, fast=_expect_fast(path))
    assert msg == tf.compat.v1.MetaGraphDef.FromString(data)


def test_import_fastmeta_does_not_import_tensorflow() -> None:
    code = "import sys, fastmeta; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_clear_error_without_tensorflow() -> None:
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "import fastmeta\n"
        "try:\n    import fastmeta.tf\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, isinstance(e, fastmeta.Error), 'fastmeta[tf]' in str(e))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.stdout.strip() == "TensorFlowNotInstalledError True True"


# ---------------------------------------------------------------------------
# End to end: restore TensorFlow-written checkpoints, train two steps
# ---------------------------------------------------------------------------
def _train(importer: Importer, fx: dict[str, Any], path: str) -> list[list[Any]]:
    rng = np.random.default_rng(7)
    feeds_spec = [(i["name"], i["feed_shape"], i["dtype"]) for i in fx["inputs"]]
    feeds = []
    for _ in range(2):
        feed = {}
        for name, shape, dtype in feeds_spec:
            if dtype.startswith("int"):
                feed[name] = rng.integers(0, 3, size=shape).astype(dtype)
            else:
                feed[name] = rng.standard_normal(shape).astype(dtype)
        feeds.append(feed)
    graph = tf.Graph()
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    with graph.as_default():
        saver = importer(path, clear_devices=True)
        assert isinstance(saver, tf.compat.v1.train.Saver)
        variables = tf.compat.v1.global_variables()
        train_op = graph.get_operation_by_name(fx["train_op"])
        with tf.compat.v1.Session(graph=graph, config=config) as sess:
            saver.restore(sess, str(CORPUS / fx["checkpoint"]))
            values = [sess.run(variables)]
            for feed in feeds:
                fed = {graph.get_tensor_by_name(k): v for k, v in feed.items()}
                sess.run(train_op, feed_dict=fed)
                values.append(sess.run(variables))
    return values


@pytest.mark.parametrize("shapes", ["file", "stripped"])
@pytest.mark.parametrize("name", [n for n in IDS if FIXTURES[n]["checkpoint"] and FIXTURES[n]["train_op"]])
def test_restore_and_train_like_tensorflow(name: str, shapes: str) -> None:
    fx = FIXTURES[name]
    path = _path(fx) if shapes == "file" else _stripped_path(fx)
    expected = _train(TF_IMPORT, fx, path)
    got = _train(FM_IMPORT, fx, path)
    assert _importer.last_path() == "fast" or not _expect_fast(path)
    assert len(got) == len(expected) == 3
    for step, (want, have) in enumerate(zip(expected, got)):
        for w, h in zip(want, have):
            np.testing.assert_array_equal(np.asarray(h), np.asarray(w), err_msg=f"step {step}")
    # The restored values are the checkpoint's (not the initializers'), and training moved them.
    assert any(np.any(np.asarray(a) != np.asarray(b)) for a, b in zip(got[0], got[2]))


def test_invalid_scope_raises_tensorflows_error_graph_unchanged() -> None:
    errors = []
    for importer in (TF_IMPORT, FM_IMPORT):
        graph = tf.Graph()
        with graph.as_default(), pytest.raises(ValueError) as e:
            importer(_stripped_path(FIXTURES["mlp_ref"]), import_scope="_bad scope")
        errors.append(str(e.value))
        if importer is FM_IMPORT:
            assert graph.get_operations() == [] and not graph._names_in_use
    assert errors[0] == errors[1]


# ---------------------------------------------------------------------------
# Arguments spelled as TensorFlow reads them (found by a differential hunt)
# ---------------------------------------------------------------------------
def _with_elements(importer: Importer, key: str | None, elements: Any, **kwargs: Any) -> tuple[Any, ...]:
    """One import with an input_map of ``{key: nx}`` (a placeholder) and return_elements,
    in a fresh graph: (error type and message, returned element names, graph, collections)."""
    from tensorflow.python.training import saver as saver_lib

    run = (
        saver_lib._import_meta_graph_with_return_elements
        if importer is TF_IMPORT
        else ftf.import_meta_graph_with_return_elements
    )
    graph = tf.Graph()
    with graph.as_default():
        nx = tf.compat.v1.placeholder(tf.float32, [None, 4], name="nx")
        imap = None if key is None else {key: nx}
        try:
            _, got = run(_stripped_path(FIXTURES["mlp_ref"]), input_map=imap, return_elements=elements, **kwargs)
        except Exception as e:
            return (type(e), str(e)), None, None, None
    return None, [e.name for e in got or []], graph.as_graph_def(), describe_collections(graph)


@pytest.mark.parametrize(
    "key, elements",
    [
        ("x:+0", ["x:+0", "logits:0"]),  # TensorFlow's int(): signs, spaces, "_" accepted
        ("x: 0", ["x:-0", "x"]),
        ("x:0", ["x:1_0"]),  # Invalid return output 10 of node 'x' (as asked, not imp/x)
        ("x:0", ["x:1"]),
        ("x:a", ["x:0"]),  # input_map keys parsed first, with TensorFlow's messages
        ("x:", None),
        ("x:0:1", None),
        ("x:-1", None),  # a tensor key naming the control slot
        ("x:0", ["x:a"]),
        ("x:0", ["x:"]),
        ("x:0", ["x:0:1", "nope:0"]),
        ("x:0", "x:0"),  # a string: its characters are the elements
        ("nope:0", ["x:a"]),  # elements are parsed before TensorFlow's importer checks keys
    ],
    ids=lambda v: repr(v),
)
def test_input_map_keys_and_return_elements_parsed_as_tensorflow(key: str, elements: Any) -> None:
    want = _with_elements(TF_IMPORT, key, elements, import_scope="imp")
    got = _with_elements(FM_IMPORT, key, elements, import_scope="imp")
    assert got[0] is None or issubclass(got[0][0], want[0][0]), (want[0], got[0])
    assert (got[0] and got[0][1]) == (want[0] and want[0][1])
    assert got[1] == want[1]
    if want[2] is not None:
        assert diff_graph_defs(want[2], got[2]) == []
        assert got[3] == want[3]


@pytest.mark.parametrize("clear_devices", [1, "yes", [0], 0, "", None])
def test_clear_devices_is_read_for_its_truth_as_in_tensorflow(clear_devices: Any) -> None:
    path = _stripped_path(FIXTURES["ema_replicas"])
    a = _run(TF_IMPORT, lambda imp: {}, path, clear_devices=clear_devices)
    b = _run(FM_IMPORT, lambda imp: {}, path, clear_devices=clear_devices)
    assert a.error is None
    _assert_same(a, b)


@pytest.mark.parametrize("source", ["corpus", "missing"])
def test_unknown_kwargs_fail_as_in_tensorflow(source: str) -> None:
    """TensorFlow reads the file, then hands the keyword arguments on: a missing file is
    reported first, and of several unknown arguments the first one passed."""
    path = _path(FIXTURES["mlp_ref"]) if source == "corpus" else "/nonexistent/model.meta"
    errors = []
    for importer in (TF_IMPORT, FM_IMPORT):
        with tf.Graph().as_default(), pytest.raises(Exception) as e:
            importer(path, zz_unknown=1, aa_unknown=2)
        errors.append((e.value, str(e.value)))
    assert isinstance(errors[1][0], type(errors[0][0]))
    assert errors[1][1] == errors[0][1]


@pytest.mark.parametrize("scope", [None, "imp"])
def test_device_types_of_device_fields_spelled_in_lower_case(scope: str | None, tmp_path: Path) -> None:
    """DeviceSpec upper-cases ``cpu``/``gpu`` after ``device:`` as it does in ``/cpu:0``
    (``/device:cpu:0`` -> ``/device:CPU:0``), and no other spelling (``Cpu``, ``tpu``)."""
    mg = tf.compat.v1.MetaGraphDef()
    devices = ["/device:cpu:0", "/job:w/task:1/device:gpu:*", "/device:Cpu:0", "/device:tpu:1", ""]
    for k, device in enumerate(devices):
        node = mg.graph_def.node.add(name=f"n{k}", op="NoOp", device=device)
        if not device:
            node.attr["_class"].list.s.append(b"loc:@n1")
    path = tmp_path / "devices.meta"
    path.write_bytes(mg.SerializeToString())
    a = _run(TF_IMPORT, lambda imp: {}, str(path), import_scope=scope)
    b = _run(FM_IMPORT, lambda imp: {}, str(path), import_scope=scope)
    assert a.error is None
    assert [n.device for n in a.graph_def.node][:2] == ["/device:CPU:0", "/job:w/task:1/device:GPU:*"]
    _assert_same(a, b)


# ---------------------------------------------------------------------------
# Control flow contexts: what the Operation wrappers check and record
# ---------------------------------------------------------------------------
def _contexts(graph: Any) -> dict[str, str | None]:
    """Each op's control flow context, by the name of its pivot (None outside any)."""
    out: dict[str, str | None] = {}
    for op in graph.get_operations():
        ctxt = op._get_control_flow_context()
        out[op.name] = None if ctxt is None else ctxt.name
    return out


@pytest.mark.parametrize("where", ["inside_loop_body", "input_map_from_loop_body", "inside_cond"])
def test_import_and_control_flow_contexts_as_tensorflow(where: str) -> None:
    """Imported inside a v1 while loop's body or cond branch, the ops join its context
    (TensorFlow's Operation post-processing); an input_map value from inside a loop body
    makes TensorFlow refuse the import (an input from an invalid context). The drop-in
    does the same, also on the graph's other ops, inputs, control inputs and contexts."""
    from tensorflow.python.ops import control_flow_util

    fx = FIXTURES["no_variables"] if where != "input_map_from_loop_body" else FIXTURES["mlp_ref"]
    path = _stripped_path(fx)
    was_v2 = control_flow_util.ENABLE_CONTROL_FLOW_V2
    tf.compat.v1.disable_control_flow_v2()

    def run(importer: Importer) -> tuple[Result, dict[str, str | None]]:
        graph = tf.Graph()
        error: BaseException | None = None
        with graph.as_default():
            try:
                if where == "inside_loop_body":

                    def body(i: Any) -> Any:
                        importer(path, import_scope="imp")
                        return i + 1

                    tf.compat.v1.while_loop(lambda i: i < 3, body, [tf.constant(0)])
                elif where == "inside_cond":

                    def branch() -> Any:
                        importer(path, import_scope="imp")
                        return tf.constant(1)

                    tf.compat.v1.cond(tf.compat.v1.placeholder(tf.bool, [], name="p"), branch, lambda: tf.constant(2))
                else:
                    inner: dict[str, Any] = {}

                    def body2(i: Any) -> Any:
                        inner["x"] = tf.zeros([5, 4], name="x_in_body") + tf.cast(i, tf.float32)
                        return i + 1

                    tf.compat.v1.while_loop(lambda i: i < 3, body2, [tf.constant(0)])
                    importer(path, import_scope="imp", input_map={"x:0": inner["x"]})
            except Exception as e:
                error = e
        return Result(graph, error=error), _contexts(graph)

    try:
        (a, ca), (b, cb) = run(TF_IMPORT), run(FM_IMPORT)
    finally:
        if was_v2:
            tf.compat.v1.enable_control_flow_v2()
    if where == "input_map_from_loop_body":
        assert a.error is not None  # (TensorFlow refuses it)
    else:
        assert a.error is None, a.error
    assert type(b.error) is type(a.error) and str(b.error) == str(a.error)
    if a.error is None:
        diffs = diff_graph_defs(a.graph_def, b.graph_def)
        assert diffs == [], "\n".join(diffs[:20])
    else:  # (the failed imports' ops differ in devices: see tests/TF_BEHAVIOUR.md)
        assert [n.name for n in b.graph_def.node] == [n.name for n in a.graph_def.node]
    assert b.sources == a.sources
    assert b.collections == a.collections
    assert cb == ca


# What TensorFlow's Operation wrappers hold for an imported op (the attributes
# ``Operation._init`` and ``Graph._create_op_helper`` set, and what reads them). The
# cache of ``Operation.inputs`` (``_inputs_val``) is compared through ``inputs``; the
# record of the ``tf.device`` calls that set an op's device (``_device_code_locations``,
# read by ``_device_assignments``) is the known difference the module docstring of
# fastmeta.tf._importer names, left out.
_OPERATION_STATE = (
    "graph",
    "_original_op",
    "_colocation_code_locations",
    "_control_flow_context",
    "_gradient_function",
    "_id_value",
    "outputs",
    "inputs",
    "control_inputs",
    "device",
    "_colocation_dict",
    "traceback",
    "node_def",
)


def _operation_state(graph: Any) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Every op's Python state, objects by name, in graph order."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, tf.Graph):
            return "graph" if value is graph else "another graph"
        if hasattr(value, "name") and not isinstance(value, (str, bytes)):
            return (type(value).__name__, value.name)
        if callable(value):
            return getattr(value, "__qualname__", repr(value))
        return value

    # (control inputs as a set: their order is the C++ graph's edge set's, which need
    # not be the same in two graphs of the same nodes)
    return [
        (
            op.name,
            [
                (k, sorted(plain(getattr(op, k))) if k == "control_inputs" else plain(getattr(op, k)))
                for k in _OPERATION_STATE
            ],
        )
        for op in graph.get_operations()
    ]


@pytest.mark.parametrize("name", ["mlp_ref", "control_flow_v1", "defun_library", "mlp_resource_adam"])
def test_operations_state_as_tensorflow(name: str) -> None:
    """The imported ops' Python ``Operation`` objects hold what TensorFlow's import gives
    them (graph, outputs, contexts, gradient functions, colocation snapshots, ...)."""
    path = _stripped_path(FIXTURES[name])
    states = []
    for importer in (TF_IMPORT, FM_IMPORT):
        graph = tf.Graph()
        with graph.as_default():
            importer(path, import_scope="imp")
        states.append(_operation_state(graph))
    assert states[1] == states[0]


def _tensor_state(graph: Any) -> list[tuple[Any, ...]]:
    """Every op output's Python state in graph order, ids as their rank (their values
    come from a process-wide counter)."""
    tensors = [t for op in graph.get_operations() for t in op.outputs]
    rank = {t._id: i for i, t in enumerate(sorted(tensors, key=lambda t: t._id))}
    return [
        (
            type(t).__name__,
            t.name,
            t.op.name,
            t.value_index,
            t.dtype,
            t.dtype is tf.as_dtype(t.dtype.as_datatype_enum),
            str(t.shape),
            rank[t._id],
        )
        for t in tensors
    ]


def _v2_control_flow_meta() -> Any:
    """A graph with a v2 cond and while loop (If / While ops), exported."""
    from tensorflow.python.ops import cond_v2, while_v2

    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [2], name="x")
        y = cond_v2.cond_v2(tf.reduce_sum(x) > 0, lambda: x * 2.0, lambda: x - 1.0, name="cond")
        _, z = while_v2.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * y), [0, x], name="loop")
        tf.identity(z, name="out")
        return tf.compat.v1.train.export_meta_graph()


@pytest.mark.parametrize(
    "name", ["mlp_ref", "control_flow_v1", "defun_library", "mlp_resource_adam", "v2_control_flow"]
)
def test_tensors_state_and_gradients_as_tensorflow(name: str) -> None:
    """The imported ops' output tensors are what TensorFlow's import makes (type,
    interned dtype, shape, order of ids); gradients through imported v2 cond and while
    ops, which add outputs to those ops (``_add_outputs``), build the same graph."""
    source = _v2_control_flow_meta() if name == "v2_control_flow" else _stripped_path(FIXTURES[name])
    states = []
    for importer in (TF_IMPORT, FM_IMPORT):
        graph = tf.Graph()
        with graph.as_default():
            importer(source, import_scope="imp")
            if name == "v2_control_flow":
                tf.gradients(graph.get_tensor_by_name("imp/out:0"), graph.get_tensor_by_name("imp/x:0"))
        # (nodes without attrs: the gradient functions' names hold process-wide ids)
        nodes = [(n.name, n.op, list(n.input), sorted(n.attr)) for n in graph.as_graph_def().node]
        states.append((_tensor_state(graph), nodes))
    assert _importer.last_path() == "fast"
    assert states[1] == states[0]


@pytest.mark.parametrize("how", ["attr_scope", "kernel_label", "gradient_override", "container"])
def test_graph_scopes_apply_to_the_imported_ops_as_in_tensorflow(how: str) -> None:
    """What ``Graph._create_op_helper`` applies to each new op (attr scopes, kernel
    labels, gradient overrides, containers) applies to the imported ops as in TensorFlow."""
    path = _stripped_path(FIXTURES["mlp_ref"])

    def wrap() -> Any:
        graph = tf.compat.v1.get_default_graph()
        if how == "attr_scope":
            return graph._attr_scope({"_my_attr": tf.compat.v1.AttrValue(b=True)})
        if how == "kernel_label":
            return graph._kernel_label_map({"MatMul": "my_label"})
        if how == "gradient_override":
            return graph.gradient_override_map({"MatMul": "Identity"})
        return graph.container("my_container")

    def setup(importer: Importer) -> dict[str, Any]:
        return {}

    a = _run(TF_IMPORT, setup, path, wrap=wrap, import_scope="imp")
    b = _run(FM_IMPORT, setup, path, wrap=wrap, import_scope="imp")
    _assert_same(a, b)
    assert _operation_state(b.graph) == _operation_state(a.graph)


@pytest.mark.parametrize("outer", [None, "outer"])
@pytest.mark.parametrize("scope", ["a\n", "a/b\n", "a\n/", "a\nb"])
def test_a_scope_ending_in_a_newline_gets_tensorflows_error(scope: str, outer: str | None) -> None:
    # Python's `$` matches before a final "\n": TensorFlow's scope regex takes "a\n" and
    # its C++ importer then refuses the prefix. The drop-in's probe of "a\n/" must not
    # answer with the regex's message instead; it leaves names_in_use alone.
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        tf.constant(1.0, name="c")
        data = v1.train.export_meta_graph().SerializeToString()

    def outcome(importer: Any) -> tuple[str, dict[str, int]]:
        with tf.Graph().as_default() as g:
            try:
                if outer:
                    with tf.name_scope(outer):
                        importer(v1.MetaGraphDef.FromString(data), import_scope=scope)
                else:
                    importer(v1.MetaGraphDef.FromString(data), import_scope=scope)
            except ValueError as e:
                return str(e), dict(g._names_in_use)
        raise AssertionError("imported")

    want, _ = outcome(v1.train.import_meta_graph)
    got, names = outcome(ftf.import_meta_graph)
    assert got == want
    assert not any("\n" in n for n in names)


@pytest.mark.parametrize("content", [b'graph_def { node { name: "a" ', b"graph_def { nod: 3 }", b"\x12\x05\x0a\x03"])
def test_a_file_that_does_not_parse_is_an_os_error_as_tensorflow_s(content: bytes, tmp_path: Path) -> None:
    """TensorFlow's reader raises OSError ("Cannot parse file ...") for a meta graph file
    that parses neither as binary nor as text: both doors raise FileParseError, a
    ParseError (ValueError) that is also an OSError; the same bytes given as bytes stay a
    plain ParseError."""
    import fastmeta

    path = tmp_path / "bad.meta"
    path.write_bytes(content)
    with tf.Graph().as_default(), pytest.raises(OSError, match="Cannot parse file"):
        tf.compat.v1.train.import_meta_graph(str(path))
    with tf.Graph().as_default(), pytest.raises(fastmeta.FileParseError) as dropin:
        ftf.import_meta_graph(str(path))
    with pytest.raises(fastmeta.FileParseError) as free:
        fastmeta.import_meta_graph(path, graph=fastmeta.Graph())
    for e in (dropin.value, free.value):
        assert isinstance(e, OSError) and isinstance(e, ValueError) and str(path) in str(e)
    with pytest.raises(fastmeta.ParseError) as from_bytes:
        fastmeta.import_meta_graph(content, graph=fastmeta.Graph())
    assert not isinstance(from_bytes.value, OSError)
