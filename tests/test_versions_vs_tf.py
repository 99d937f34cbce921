"""GraphDef ``versions`` after the TensorFlow-free import and ``rewrite_meta_graph``,
against TensorFlow's ``import_meta_graph`` (skipped where TensorFlow is not installed):
the merge with the graph's versions, ``min_consumer`` raised to 12 when a function
library is added (TensorFlow's ``Graph::AddFunctionLibrary``), and the versions
TensorFlow's importer refuses (``CheckVersions``), a :class:`fastmeta.GraphVersionError`
(a ``ValueError``) with TensorFlow's message, the graph left as it was.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fastmeta
import tf_oracle
from fastmeta.protos import meta_graph_pb2
from fastmeta.rewrite import rewrite_meta_graph_bytes


def _tf() -> Any:
    tf = tf_oracle._tf()
    tf.compat.v1.disable_eager_execution()
    return tf


def _meta(library: bool) -> meta_graph_pb2.MetaGraphDef:
    tf = _tf()
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [], name="x")
        if library:
            tf.identity(tf.function(lambda a: a * 2.0)(x), name="y")
        else:
            tf.identity(x * 2.0, name="y")
        data = v1.train.export_meta_graph().SerializeToString()
    return meta_graph_pb2.MetaGraphDef.FromString(data)


def _with_versions(library: bool, producer: int, min_consumer: int, bad: tuple[int, ...] | list[int] = ()) -> bytes:
    mg = _meta(library)
    assert bool(mg.graph_def.library.function) == library
    v = mg.graph_def.versions
    v.producer = producer
    v.min_consumer = min_consumer
    del v.bad_consumers[:]
    v.bad_consumers.extend(bad)
    return mg.SerializeToString()


def _tf_versions(files: list[bytes]) -> bytes:
    tf = _tf()
    with tf.Graph().as_default() as g:
        for i, data in enumerate(files):
            tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data), import_scope=f"i{i}")
        return g.as_graph_def().versions.SerializeToString(deterministic=True)


def _free_versions(files: list[bytes]) -> bytes:
    g = fastmeta.Graph()
    with g.as_default():
        for i, data in enumerate(files):
            fastmeta.import_meta_graph(data, import_scope=f"i{i}")
    return g.as_graph_def().versions.SerializeToString(deterministic=True)


def _rewrite_versions(data: bytes) -> bytes:
    out = fastmeta.rewrite_meta_graph(data, import_scope="i0")
    from_bytes = meta_graph_pb2.MetaGraphDef.FromString(rewrite_meta_graph_bytes(data, import_scope="i0"))
    assert from_bytes.graph_def.versions == out.graph_def.versions
    return out.graph_def.versions.SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    ("library", "producer", "min_consumer", "bad"),
    [
        (True, 5, 0, []),  # a library: min_consumer raised to 12
        (True, 5, 3, [9, 2, 9]),
        (True, 2474, 20, []),  # already above 12: kept
        (True, 2500, 0, []),  # a producer above TensorFlow's: the fresh graph's is kept
        (False, 5, 0, []),  # no library: not raised
        (False, 0, 0, []),
    ],
)
def test_versions_after_one_import_as_in_tensorflow(
    library: bool, producer: int, min_consumer: int, bad: list[int]
) -> None:
    data = _with_versions(library, producer, min_consumer, bad)
    want = _tf_versions([data])
    assert _free_versions([data]) == want
    assert _rewrite_versions(data) == want


@pytest.mark.parametrize("order", ["library_first", "library_second"])
def test_versions_after_two_imports_as_in_tensorflow(order: str) -> None:
    files = [_with_versions(True, 7, 0), _with_versions(False, 5, 1, [3])]
    if order == "library_second":
        files.reverse()
    want = _tf_versions(files)
    assert _free_versions(files) == want


@pytest.mark.parametrize(
    ("producer", "min_consumer", "bad"),
    [(-1, 0, []), (2474, 2475, []), (2474, 0, [2474]), (-3, 9999, [2474])],
)
@pytest.mark.parametrize("library", [False, True])
def test_versions_tensorflow_refuses(library: bool, producer: int, min_consumer: int, bad: list[int]) -> None:
    data = _with_versions(library, producer, min_consumer, bad)
    tf = _tf()
    with tf.Graph().as_default(), pytest.raises(ValueError) as want:
        tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data))
    g = fastmeta.Graph()
    with g.as_default():
        g.placeholder("float32", [2], name="before")
        fastmeta.import_meta_graph(_with_versions(True, 3, 0), import_scope="first")
    before = (g.as_graph_def().SerializeToString(deterministic=True), g.num_operations())
    with g.as_default(), pytest.raises(fastmeta.GraphVersionError) as got:
        fastmeta.import_meta_graph(data)
    assert isinstance(got.value, ValueError) and isinstance(got.value, fastmeta.GraphError)
    assert str(got.value) == str(want.value)
    assert got.value.versions.producer == producer  # type: ignore[attr-defined]
    assert (g.as_graph_def().SerializeToString(deterministic=True), g.num_operations()) == before
    for rewrite in (fastmeta.rewrite_meta_graph, rewrite_meta_graph_bytes):
        with pytest.raises(fastmeta.GraphVersionError) as again:
            rewrite(data)
        assert str(again.value) == str(want.value)


def test_the_deprecated_graph_def_version_is_not_kept() -> None:
    # GraphDef.version (field 3, deprecated): TensorFlow's graph keeps none, so its
    # as_graph_def() has 0; rewrite_meta_graph copied the file's through.
    tf = _tf()
    meta = _meta(False)
    meta.graph_def.version = 7
    data = meta.SerializeToString()
    with tf.Graph().as_default() as g:
        tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data))
        assert g.as_graph_def().version == 0
    assert fastmeta.rewrite_meta_graph(data).graph_def.version == 0
    out = meta_graph_pb2.MetaGraphDef.FromString(rewrite_meta_graph_bytes(data))
    assert out.graph_def.version == 0 and out.graph_def.versions == meta.graph_def.versions
    fg = fastmeta.Graph()
    fastmeta.import_meta_graph(data, graph=fg)
    assert fg.as_graph_def().version == 0
