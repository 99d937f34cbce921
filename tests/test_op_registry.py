"""fastmeta's copy of TensorFlow's op registry (``fastmeta._op_registry``), and the TF-free
import following TensorFlow's importer with it: each node's OpDef comes from the registry
(the file's ``stripped_op_list`` only for ops the registry lacks), default attrs are added
from it after the producer op list's new-default attrs are removed, and edge dtypes are
checked by it.

Differential: every case imports the same bytes with TensorFlow 2.21 and with fastmeta
(TF-free and the drop-in) and compares the graphs. The files are corpus graphs edited to
look like another producer's: an older one (its op list and nodes lack attrs the registry
has with defaults), a newer one (nodes carry an attr the registry lacks, at its default),
none (no op list at all)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastmeta
import pytest
from fastmeta.protos import meta_graph_pb2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus_fixtures import CORPUS, FIXTURES  # noqa: E402
from tf_oracle import diff_graph_defs, tf_import  # noqa: E402

ROOT = HERE.parent

# Graph kinds whose ops carry many defaulted attrs (v1 and v2 control flow, resource
# variables and optimizers, datasets and functions, stripped defaults, every AttrValue).
GRAPHS = [
    "mlp_ref",
    "mlp_resource_adam",
    "control_flow_v1",
    "control_flow_v2",
    "tf_data",
    "stripped_defaults",
    "layers_cnn_v1",
    "attr_kinds",
]


def _tf() -> Any:
    return pytest.importorskip("tensorflow")


def _corpus_meta(name: str) -> meta_graph_pb2.MetaGraphDef:
    return meta_graph_pb2.MetaGraphDef.FromString((CORPUS / FIXTURES[name]["file"]).read_bytes())


def _defaulted_attrs(meta: meta_graph_pb2.MetaGraphDef) -> dict[str, list[str]]:
    """Per op of the file's op list that the graph's nodes use: its attrs with a default
    that no node sets to another value (what a producer that lacked them could write)."""
    nodes: dict[str, list[Any]] = {}
    for n in meta.graph_def.node:
        nodes.setdefault(n.op, []).append(n)
    out: dict[str, list[str]] = {}
    for op in meta.meta_info_def.stripped_op_list.op:
        names = [
            a.name
            for a in op.attr
            if a.HasField("default_value")
            and all(a.name not in n.attr or n.attr[a.name] == a.default_value for n in nodes.get(op.name, ()))
        ]
        if op.name in nodes and names:
            out[op.name] = names
    return out


def _as_old_producer(meta: meta_graph_pb2.MetaGraphDef, drop: dict[str, list[str]]) -> bytes:
    """The file as a producer that did not have the attrs ``drop`` names (per op) would
    have written it: neither the op list's OpDef nor any node has them."""
    for op in meta.meta_info_def.stripped_op_list.op:
        names = set(drop.get(op.name, ()))
        keep = [a for a in op.attr if a.name not in names]
        del op.attr[:]
        op.attr.extend(keep)
    for node in meta.graph_def.node:
        for name in drop.get(node.op, ()):
            if name in node.attr:
                del node.attr[name]
    return meta.SerializeToString()


def _fm_graph_def(data: bytes, **kwargs: Any) -> Any:
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(data, graph=g, **kwargs)
    return g.as_graph_def()


def _dropin_graph_def(data: bytes, **kwargs: Any) -> Any:
    tf = _tf()
    import fastmeta.tf as ftf

    g = tf.Graph()
    with g.as_default():
        ftf.import_meta_graph(data, **kwargs)
    return g.as_graph_def()


def _assert_as_tensorflow(data: bytes, **kwargs: Any) -> None:
    expected = tf_import(data, **kwargs).graph_def
    for got in (_fm_graph_def(data, **kwargs), _dropin_graph_def(data, **kwargs)):
        diffs = diff_graph_defs(expected, got)
        assert diffs == [], "\n".join(diffs[:20])


# --- an older producer ------------------------------------------------------------------------


@pytest.mark.parametrize("name", GRAPHS)
def test_an_old_producers_file_gets_the_registrys_defaults(name: str) -> None:
    """Every defaulted attr of every op gone from the op list and the nodes: TensorFlow
    adds each back from its registry, and so does fastmeta."""
    meta = _corpus_meta(name)
    drop = _defaulted_attrs(meta)
    assert drop
    _assert_as_tensorflow(_as_old_producer(meta, drop), import_scope="imp")


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("mlp_ref", "Assign"),
        ("control_flow_v1", "Enter"),
        ("tf_data", "BatchDatasetV2"),
        ("mlp_resource_adam", "VarHandleOp"),
    ],
)
def test_one_op_of_an_old_producer(name: str, op: str) -> None:
    """One op's defaulted attrs missing (the usual case: an op grew an attr since)."""
    meta = _corpus_meta(name)
    drop = _defaulted_attrs(meta)
    assert op in drop
    data = _as_old_producer(meta, {op: drop[op]})
    _assert_as_tensorflow(data)
    # The defaults are the registry's, not the file's: TensorFlow's graph has them.
    nodes = [n for n in _fm_graph_def(data).node if n.op == op]
    assert nodes and all(set(drop[op]) <= set(n.attr) for n in nodes)


def test_rewrite_meta_graph_adds_the_registrys_defaults() -> None:
    """The rewrite (and the CLI's) gives the GraphDef TensorFlow's graph holds."""
    meta = _corpus_meta("mlp_ref")
    data = _as_old_producer(meta, _defaulted_attrs(meta))
    expected = tf_import(data, import_scope="imp").graph_def
    got = fastmeta.rewrite_meta_graph(data, import_scope="imp").graph_def
    # (the rewrite writes _output_shapes as the file has them; TensorFlow's graph has none)
    assert diff_graph_defs(expected, got, ignore_attrs=("_output_shapes",)) == []


def test_the_cli_rewrite_adds_the_registrys_defaults(tmp_path: Path) -> None:
    meta = _corpus_meta("mlp_ref")
    src = tmp_path / "old.meta"
    src.write_bytes(_as_old_producer(meta, {"Assign": _defaulted_attrs(meta)["Assign"]}))
    out = tmp_path / "out.meta"
    proc = subprocess.run(
        [sys.executable, "-m", "fastmeta", "rewrite", str(src), str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    written = meta_graph_pb2.MetaGraphDef.FromString(out.read_bytes())
    assigns = [n for n in written.graph_def.node if n.op == "Assign"]
    expected = [n for n in tf_import(src.read_bytes()).graph_def.node if n.op == "Assign"]

    def attrs(nodes: list[Any]) -> dict[str, dict[str, bytes]]:
        return {
            n.name: {k: v.SerializeToString(deterministic=True) for k, v in n.attr.items() if k != "_output_shapes"}
            for n in nodes
        }

    assert assigns and attrs(assigns) == attrs(expected)


# --- a newer producer ------------------------------------------------------------------------


def _as_new_producer(meta: meta_graph_pb2.MetaGraphDef, op: str, attr: str, node_value: Any, default: Any) -> bytes:
    """A producer whose ``op`` has an attr the registry lacks, with a default: its op
    list says so, and its nodes carry ``node_value``."""
    for op_def in meta.meta_info_def.stripped_op_list.op:
        if op_def.name == op:
            a = op_def.attr.add(name=attr, type="int")
            a.default_value.i = default
    for node in meta.graph_def.node:
        if node.op == op:
            node.attr[attr].i = node_value
    return meta.SerializeToString()


@pytest.mark.parametrize("attr", ["new_knob", "_hidden_knob"])
def test_a_new_producers_attr_at_its_default_is_removed(attr: str) -> None:
    # (whatever its name: TensorFlow's Python importer drops a '_' attr at the producer's
    # default too, which fastmeta kept)
    data = _as_new_producer(_corpus_meta("mlp_ref"), "Identity", attr, 7, 7)
    _assert_as_tensorflow(data)
    assert all(attr not in n.attr for n in _fm_graph_def(data).node)


def test_a_new_producers_attr_off_its_default_is_kept() -> None:
    """Not at the producer's default: TensorFlow keeps it (and imports the node), as
    fastmeta does."""
    data = _as_new_producer(_corpus_meta("mlp_ref"), "Identity", "new_knob", 8, 7)
    _assert_as_tensorflow(data)
    assert any("new_knob" in n.attr for n in _fm_graph_def(data).node)


# --- no op list -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp_ref", "stripped_defaults", "control_flow_v1", "tf_data"])
def test_a_file_without_an_op_list(name: str) -> None:
    meta = _corpus_meta(name)
    meta.meta_info_def.ClearField("stripped_op_list")
    data = meta.SerializeToString()
    _assert_as_tensorflow(data, import_scope="imp")
    # The tensors' dtypes are known as TensorFlow knows them.
    expected = tf_import(data).graph
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(data, graph=g)
    for op in g.get_operations():
        want = [t.dtype.as_datatype_enum for t in expected.get_operation_by_name(op.name).outputs]
        assert [t.dtype for t in op.outputs] == want, op.name


def _edited(data: bytes, edit: Callable[[dict[str, Any], meta_graph_pb2.MetaGraphDef], None]) -> bytes:
    meta = meta_graph_pb2.MetaGraphDef.FromString(data)
    edit({n.name: n for n in meta.graph_def.node}, meta)
    return meta.SerializeToString()


# --- custom ops: the file's OpDef -----------------------------------------------------------------


def _with_custom_identity(nodes: dict[str, Any], meta: meta_graph_pb2.MetaGraphDef) -> None:
    """`i` (an Identity) becomes an op TensorFlow does not register, with the file's
    Identity OpDef renamed as its OpDef."""
    for op in meta.meta_info_def.stripped_op_list.op:
        if op.name == "Identity":
            custom = meta.meta_info_def.stripped_op_list.op.add()
            custom.CopyFrom(op)
            custom.name = "MyCustomIdentity"
            custom.attr.add(name="knob", type="int").default_value.i = 3
    nodes["i"].op = "MyCustomIdentity"


def _small_meta() -> bytes:
    tf = _tf()
    tf.compat.v1.disable_eager_execution()
    g = tf.Graph()
    with g.as_default():
        c = tf.constant([1.0, 2.0], name="c")
        tf.constant([1, 2], name="d")
        tf.identity(c, name="i")
    return bytes(tf.compat.v1.train.export_meta_graph(graph=g).SerializeToString())


def test_a_custom_op_takes_the_files_op_def() -> None:
    """TensorFlow refuses an op its registry lacks; fastmeta imports it by the file's
    OpDef (its defaults added, its edges checked)."""
    tf = _tf()
    data = _edited(_small_meta(), _with_custom_identity)
    not_registered = "Op type not registered 'MyCustomIdentity'"
    with tf.Graph().as_default(), pytest.raises(tf.errors.NotFoundError, match=not_registered):
        tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data))
    node = next(n for n in _fm_graph_def(data).node if n.name == "i")
    assert node.attr["knob"].i == 3
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(data, graph=g)
    assert g.get_tensor_by_name("i:0").dtype == 1  # DT_FLOAT, by the file's OpDef

    def bad_edge(nodes: dict[str, Any], meta: Any) -> None:
        nodes["i"].input[0] = "d"

    with pytest.raises(
        fastmeta.GraphError, match="Input 0 of node i was passed int32 from d:0 incompatible with expected float"
    ):
        fastmeta.import_meta_graph(_edited(data, bad_edge), graph=fastmeta.Graph())


# --- the generated registry --------------------------------------------------------------------


# tools/gen_builtin_ops.py --check's exit status when the running TensorFlow is not the one
# the committed files come from (nothing compared: its registry may differ by rights).
CHECK_SKIPPED = 77


def _check(tool: Path) -> subprocess.CompletedProcess[str]:
    """``tool --check``; skips the test when the check skips (another TensorFlow)."""
    proc = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, timeout=600)
    if proc.returncode == CHECK_SKIPPED:
        pytest.skip(proc.stderr.strip())
    return proc


def test_the_generated_registry_is_tensorflows() -> None:
    _tf()
    proc = _check(ROOT / "tools" / "gen_builtin_ops.py")
    assert proc.returncode == 0, proc.stderr


def _tool_copy(tmp_path: Path, tf_version: str | None = None) -> tuple[Path, Path]:
    """The tool and the files it checks, copied under ``tmp_path`` (the committed
    TF_VERSION replaced by ``tf_version`` if given): the tool and the package folder."""
    (tmp_path / "tools").mkdir()
    package = tmp_path / "python" / "fastmeta"
    package.mkdir(parents=True)
    tool = tmp_path / "tools" / "gen_builtin_ops.py"
    tool.write_text((ROOT / "tools" / "gen_builtin_ops.py").read_text())
    text = (ROOT / "python" / "fastmeta" / "_builtin_ops.py").read_text()
    if tf_version is not None:
        from fastmeta import _builtin_ops

        text = text.replace(f'"{_builtin_ops.TF_VERSION}"', f'"{tf_version}"')
    (package / "_builtin_ops.py").write_text(text)
    (package / "_op_registry.bin").write_bytes((ROOT / "python" / "fastmeta" / "_op_registry.bin").read_bytes())
    return tool, package


def test_the_check_skips_under_another_tensorflow(tmp_path: Path) -> None:
    """Files generated from another TensorFlow than the one running: --check says so and
    exits with its 'skipped' status, rather than calling the files stale."""
    tf = _tf()
    tool, _ = _tool_copy(tmp_path, tf_version="1.15.5")
    proc = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == CHECK_SKIPPED, proc.stderr
    assert "stale" not in proc.stderr
    assert "1.15.5" in proc.stderr and tf.__version__ in proc.stderr


def test_the_check_tells_a_stale_registry(tmp_path: Path) -> None:
    """--check fails when the committed registry differs from TensorFlow's (here: one op
    dropped), naming the file."""
    import zlib

    _tf()
    from fastmeta import _op_registry
    from fastmeta.protos import op_def_pb2

    tool, package = _tool_copy(tmp_path)
    ops = op_def_pb2.OpList.FromString(_op_registry.op_list())
    del ops.op[len(ops.op) // 2]
    (package / "_op_registry.bin").write_bytes(zlib.compress(ops.SerializeToString(deterministic=True)))
    proc = _check(tool)
    assert proc.returncode == 1
    assert "_op_registry.bin is stale" in proc.stderr and "_builtin_ops.py is stale" not in proc.stderr


def test_the_registry_reads_as_tensorflows() -> None:
    """A few ops by name, as TensorFlow's registry has them (documentation aside); an
    unknown name is None."""
    _tf()
    from fastmeta import _op_registry
    from tensorflow.python.framework import op_def_registry

    for name in ("Assign", "VarHandleOp", "While", "Const", "BatchDatasetV2", "_Retval"):
        expected = op_def_registry.get(name)
        got = _op_registry.get(name)
        assert got is not None and got.SerializeToString(deterministic=True) == expected.SerializeToString(
            deterministic=True
        ), name
    assert _op_registry.get("MyCustomIdentity") is None


# --- export: OpDefs from the registry ------------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp_ref", "control_flow_v1", "tf_data"])
def test_export_takes_op_defs_from_the_registry(name: str) -> None:
    """An import of a file without an op list, exported: TensorFlow's stripped_op_list
    and strip_default_attrs come from its registry, and so do fastmeta's."""
    tf = _tf()
    meta = _corpus_meta(name)
    meta.meta_info_def.ClearField("stripped_op_list")
    data = meta.SerializeToString()
    tf_graph = tf_import(data).graph
    with tf_graph.as_default():
        expected = tf.compat.v1.train.export_meta_graph(graph=tf_graph, strip_default_attrs=True)
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(data, graph=g)
    got = fastmeta.export_meta_graph(graph=g, strip_default_attrs=True)
    assert [op.SerializeToString(deterministic=True) for op in got.meta_info_def.stripped_op_list.op] == [
        op.SerializeToString(deterministic=True) for op in expected.meta_info_def.stripped_op_list.op
    ]
    assert {n.name: sorted(n.attr) for n in got.graph_def.node} == {
        n.name: sorted(n.attr) for n in expected.graph_def.node
    }
