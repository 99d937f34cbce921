"""Differential tests of ``fastmeta.rewrite_meta_graph`` against TensorFlow's import.

For every fixture of the TensorFlow-made corpus and every variant (no scope, scope,
scope + clear_devices, input_map), the rewritten GraphDef must equal, node for node,
what ``tf.Graph.as_graph_def()`` holds after ``tf.compat.v1.train.import_meta_graph``,
and the rescoped collections / saver_def must name what TensorFlow's objects name.
"""

from __future__ import annotations

from typing import Any

import fastmeta
import pytest
from corpus_fixtures import CORPUS, FIXTURES
from fastmeta.protos import meta_graph_pb2
from fastmeta.scoping import REGISTERED_PROTOS

tf_oracle = pytest.importorskip("tf_oracle")

VARIANTS = {
    "plain": {},
    "scope": {"import_scope": "imp"},
    "scope_clear": {"import_scope": "imp", "clear_devices": True},
    "nested_scope": {"import_scope": "outer/inner"},
    "input_map": {"input_map": True},
}


def _tf() -> Any:
    return pytest.importorskip("tensorflow")


def _make_placeholder_pre_import(spec: dict[str, Any]) -> Any:
    def pre_import(graph: Any) -> None:
        tf = _tf()
        tf.compat.v1.placeholder(getattr(tf, spec["dtype"]), spec.get("shape"), name=spec["name"])

    return pre_import


def _input_map_for(fixture: dict[str, Any], variant: str) -> tuple[dict[str, str] | None, Any, int]:
    spec = fixture.get("required_input_map")
    if variant == "input_map" and spec is None:
        spec = fixture.get("input_map")
        if spec is None:
            pytest.skip("fixture has no input_map spec")
        spec = [spec]
    if spec is None:
        return None, None, 0
    specs = spec if isinstance(spec, list) else [spec]
    input_map = {s["key"]: s["replacement"]["name"] + ":0" for s in specs}

    def pre(graph: Any) -> None:
        for s in specs:
            _make_placeholder_pre_import(s["replacement"])(graph)

    return input_map, pre, len(specs)


def _expected_items(key: str, coll: meta_graph_pb2.CollectionDef, scope: str) -> list[tuple]:
    kind = coll.WhichOneof("kind")
    if kind == "node_list":
        return [("tensor" if ":" in v else "operation", v) for v in coll.node_list.value]
    if kind == "bytes_list":
        if key in REGISTERED_PROTOS:
            protos = [REGISTERED_PROTOS[key].FromString(v) for v in coll.bytes_list.value]
            return [tf_oracle.describe_item(_Proto(p)) for p in protos]
        if scope:
            return [("str", v.decode()) for v in coll.bytes_list.value]
        return [("bytes", v) for v in coll.bytes_list.value]
    if kind == "int64_list":
        return [tf_oracle.describe_item(int(v)) for v in coll.int64_list.value]
    if kind == "float_list":
        return [tf_oracle.describe_item(float(v)) for v in coll.float_list.value]
    if kind == "any_list":
        return [tf_oracle.describe_item(v) for v in coll.any_list.value]
    return []


class _Proto:
    """Adapter so describe_item sees a rescoped proto like an object with to_proto()."""

    def __init__(self, proto: Any) -> None:
        self._proto = proto

    def to_proto(self) -> Any:
        return self._proto


CASES = [(name, variant) for name in sorted(FIXTURES) for variant in VARIANTS]


@pytest.mark.parametrize(("name", "variant"), CASES, ids=[f"{n}-{v}" for n, v in CASES])
def test_rewrite_matches_tensorflow(name: str, variant: str) -> None:
    fixture = FIXTURES[name]
    path = CORPUS / fixture["file"]
    kwargs = dict(VARIANTS[variant])
    kwargs.pop("input_map", None)
    input_map, pre, created = _input_map_for(fixture, variant)

    outcome = tf_oracle.tf_import(path, input_map=input_map, pre_import=pre, **kwargs)
    ours = fastmeta.rewrite_meta_graph(path, input_map=input_map, **kwargs)

    tf_graph = outcome.graph_def
    # TensorFlow's graph also holds what pre_import created (in front) and the ops
    # of a fresh Saver() (behind) when the file has no saver_def: compare the import.
    skip_front = created  # one placeholder per input_map replacement
    tf_nodes = list(tf_graph.node)[skip_front : skip_front + len(ours.graph_def.node)]
    for extra in list(tf_graph.node)[skip_front + len(ours.graph_def.node) :]:
        assert extra.name.startswith("save"), f"TF has an extra node {extra.name}"
    trimmed = type(tf_graph)()
    trimmed.CopyFrom(tf_graph)
    del trimmed.node[:]
    trimmed.node.extend(tf_nodes)
    diffs = tf_oracle.diff_graph_defs(trimmed, ours.graph_def)
    assert not diffs, "\n".join(diffs[:20])

    scope = (kwargs.get("import_scope") or "").rstrip("/")
    for key, coll in ours.collection_def.items():
        if key == "unbound_inputs":
            continue
        assert outcome.collections.get(key, []) == _expected_items(key, coll, scope), key
    if ours.HasField("saver_def"):
        assert outcome.saver == tf_oracle.describe_item(_Saver(ours.saver_def))
    else:
        assert fixture["has_saver_def"] is False


class _Saver:
    def __init__(self, saver_def: Any) -> None:
        self.saver_def = saver_def


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_inputs_are_never_modified(name: str) -> None:
    """TensorFlow mutates a MetaGraphDef message it is given; fastmeta never does."""
    tf = _tf()
    path = CORPUS / FIXTURES[name]["file"]
    ours = fastmeta.read_meta_graph_file(path)
    theirs = tf.compat.v1.train.Saver  # noqa: F841 - TF loaded
    tf_message = tf.compat.v1.MetaGraphDef.FromString(ours.SerializeToString())
    before_ours = ours.SerializeToString(deterministic=True)
    before_tf = tf_message.SerializeToString(deterministic=True)
    required = FIXTURES[name]["required_input_map"]
    input_map = {required["key"]: required["replacement"]["name"] + ":0"} if required else None
    for message in (ours, tf_message):
        fastmeta.rewrite_meta_graph(message, import_scope="imp", clear_devices=True, input_map=input_map)
    assert ours.SerializeToString(deterministic=True) == before_ours
    assert tf_message.SerializeToString(deterministic=True) == before_tf


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_read_meta_graph_file_matches_tensorflow(name: str) -> None:
    _tf()
    from tensorflow.python.framework import meta_graph as tf_meta_graph

    path = CORPUS / FIXTURES[name]["file"]
    ours = fastmeta.read_meta_graph_file(path)
    theirs = tf_meta_graph.read_meta_graph_file(str(path))
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)


def test_all_input_kinds_give_the_same_result() -> None:
    tf = _tf()
    path = CORPUS / "mlp_ref.meta"
    data = path.read_bytes()
    expected = fastmeta.rewrite_meta_graph(path, import_scope="s").SerializeToString(deterministic=True)
    for source in (
        str(path),
        data,
        bytearray(data),
        memoryview(data),
        meta_graph_pb2.MetaGraphDef.FromString(data),
        tf.compat.v1.MetaGraphDef.FromString(data),
    ):
        got = fastmeta.rewrite_meta_graph(source, import_scope="s")
        assert got.SerializeToString(deterministic=True) == expected


def test_any_contiguous_buffer_is_an_input() -> None:
    """mmap, numpy arrays (C-contiguous, any shape) and array.array are read as their
    bytes, in place; the TF-free import takes them too."""
    import array
    import mmap

    import numpy as np

    path = CORPUS / "mlp_ref.meta"
    data = path.read_bytes()
    expected = fastmeta.rewrite_meta_graph(data, import_scope="s").SerializeToString(deterministic=True)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        sources = [
            mapped,
            np.frombuffer(data, dtype=np.uint8),
            array.array("B", data),
            array.array("b", data),  # signed chars: another item format, the same bytes
            np.frombuffer(data, dtype=np.uint8).reshape(1, -1),
        ]
        for source in sources:
            got = fastmeta.rewrite_meta_graph(source, import_scope="s")
            assert got.SerializeToString(deterministic=True) == expected, type(source)
        graph = fastmeta.Graph()
        fastmeta.import_meta_graph(mapped, import_scope="s", graph=graph)
        assert graph.get_operation_by_name("s/layer1/weights").type == "VariableV2"
    # Not contiguous, or no buffer at all: a TypeError naming the type.
    with pytest.raises(TypeError, match="not contiguous"):
        fastmeta.rewrite_meta_graph(np.frombuffer(data, dtype=np.uint8)[::2])
    with pytest.raises(TypeError, match="got int"):
        fastmeta.rewrite_meta_graph(3)


def test_text_format_equals_binary() -> None:
    binary = fastmeta.rewrite_meta_graph(CORPUS / "mlp_ref.meta", import_scope="imp")
    text = fastmeta.rewrite_meta_graph(CORPUS / "mlp_ref_text.pbtxt", import_scope="imp")
    assert len(text.graph_def.node) == len(binary.graph_def.node)
    assert [n.name for n in text.graph_def.node] == [n.name for n in binary.graph_def.node]
