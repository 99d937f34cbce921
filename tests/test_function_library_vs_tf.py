"""Function libraries TensorFlow's importer refuses, against the TensorFlow-free import
and ``rewrite_meta_graph`` (skipped where TensorFlow is not installed): a function named
like a registered op, a gradient entry naming a function the library lacks, every
function with a gradient, two different gradients for one function (in one file, or
across two imports into one graph). fastmeta raises a :class:`fastmeta.FunctionLibraryError`
(a ``ValueError``) with TensorFlow's message and leaves the graph as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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


def _defuns(names: tuple[str, ...] = ("FnA", "FnB", "FnC")) -> meta_graph_pb2.MetaGraphDef:
    """A graph calling one v1 Defun of each name."""
    tf = _tf()
    from tensorflow.python.framework import function as tf_function

    v1 = tf.compat.v1
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [], name="x")
        for fname in names:

            @tf_function.Defun(tf.float32, func_name=fname)
            def body(a: Any) -> Any:
                return a * 2.0

            tf.identity(body(x), name="y_" + fname)
        data = v1.train.export_meta_graph().SerializeToString()
    return meta_graph_pb2.MetaGraphDef.FromString(data)


def _with_gradients(*pairs: tuple[str, str], names: tuple[str, ...] = ("FnA", "FnB", "FnC")) -> bytes:
    mg = _defuns(names)
    for function_name, gradient_func in pairs:
        g = mg.graph_def.library.gradient.add()
        g.function_name = function_name
        g.gradient_func = gradient_func
    return mg.SerializeToString()


def _named_like_an_op() -> bytes:
    mg = _defuns(("MyF",))
    mg.graph_def.library.function[0].signature.name = "Identity"
    for n in mg.graph_def.node:
        if n.op == "MyF":
            n.op = "Identity"
    return mg.SerializeToString()


def _tf_import(files: list[bytes]) -> Any:
    """TensorFlow's graph after importing ``files`` in turn (the second under ``s``), or
    the error the last raised."""
    tf = _tf()
    with tf.Graph().as_default() as g:
        for i, data in enumerate(files):
            try:
                tf.compat.v1.train.import_meta_graph(
                    tf.compat.v1.MetaGraphDef.FromString(data), import_scope="s" if i else None
                )
            except ValueError as e:
                assert i == len(files) - 1
                return e
        return g.as_graph_def()


def _snapshot(g: fastmeta.Graph) -> tuple:
    gd = g.as_graph_def().SerializeToString(deterministic=True)
    return (gd, g.num_operations(), tf_oracle.describe_collections(g))


def _library(gd: Any) -> tuple[dict[str, bytes], dict[str, str]]:
    return (
        {f.signature.name: f.SerializeToString(deterministic=True) for f in gd.library.function},
        {g.function_name: g.gradient_func for g in gd.library.gradient},
    )


CASES: dict[str, Callable[[], bytes]] = {
    "function_named_like_an_op": _named_like_an_op,
    "gradient_func_missing": lambda: _with_gradients(("FnA", "NoSuchGrad")),
    "gradient_for_a_missing_function": lambda: _with_gradients(("NoSuchFn", "FnB")),
    "empty_gradient_func": lambda: _with_gradients(("FnA", "")),
    "two_gradients_for_one_function": lambda: _with_gradients(("FnA", "FnB"), ("FnA", "FnC")),
    "cyclic_gradients": lambda: _with_gradients(("FnA", "FnB"), ("FnB", "FnC"), ("FnC", "FnA")),
    "its_own_gradient": lambda: _with_gradients(("FnA", "FnA"), names=("FnA",)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_library_tensorflow_refuses(case: str) -> None:
    data = CASES[case]()
    want = _tf_import([data])
    assert isinstance(want, ValueError), "TensorFlow imported it"
    g = fastmeta.Graph()
    with g.as_default():
        g.placeholder("float32", [2], name="before")
        other = _with_gradients(("Other", "Other2"), names=("Other", "Other2"))
        fastmeta.import_meta_graph(other, import_scope="first")
    before = _snapshot(g)
    with g.as_default(), pytest.raises(fastmeta.FunctionLibraryError) as got:
        fastmeta.import_meta_graph(data)
    assert isinstance(got.value, ValueError) and isinstance(got.value, fastmeta.GraphError)
    assert str(got.value) == str(want)
    assert _snapshot(g) == before
    for rewrite in (fastmeta.rewrite_meta_graph, rewrite_meta_graph_bytes):
        with pytest.raises(fastmeta.FunctionLibraryError) as again:
            rewrite(data)
        assert str(again.value) == str(want)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((("FnA", "FnB"),), (("FnA", "FnC"),)),  # refused: another gradient for FnA
        ((("FnA", "FnB"),), (("FnA", "FnB"),)),  # the same: kept once
        ((("FnA", "FnB"),), (("FnB", "FnC"),)),
        ((), (("FnA", "FnC"),)),
        ((("FnA", "FnB"),), ()),
    ],
)
def test_gradients_across_two_imports_as_in_tensorflow(first: tuple, second: tuple) -> None:
    files = [_with_gradients(*first), _with_gradients(*second)]
    want = _tf_import(files)
    g = fastmeta.Graph()
    with g.as_default():
        fastmeta.import_meta_graph(files[0])
        before = _snapshot(g)
        if isinstance(want, ValueError):
            with pytest.raises(fastmeta.FunctionLibraryError) as got:
                fastmeta.import_meta_graph(files[1], import_scope="s")
            assert str(got.value) == str(want) and got.value.function == "FnA"
            assert _snapshot(g) == before
        else:
            fastmeta.import_meta_graph(files[1], import_scope="s")
            assert _library(g.as_graph_def()) == _library(want)


def test_a_library_of_gradients_alone_imports_as_in_tensorflow() -> None:
    # TensorFlow's Python checks (function.from_library) run for a library with functions
    # only; its graph keeps the gradient entry, but as_graph_def drops a library without
    # functions: a later import's functions bring it back.
    tf = _tf()
    with tf.Graph().as_default():
        tf.identity(tf.compat.v1.placeholder(tf.float32, [], name="x"), name="y")
        mg = meta_graph_pb2.MetaGraphDef.FromString(tf.compat.v1.train.export_meta_graph().SerializeToString())
    g = mg.graph_def.library.gradient.add()
    g.function_name, g.gradient_func = "NoSuchFn", "NoSuchGrad"
    data = mg.SerializeToString()
    want = _tf_import([data])
    graph = fastmeta.Graph()
    with graph.as_default():
        fastmeta.import_meta_graph(data)
    assert _library(graph.as_graph_def()) == _library(want) == ({}, {})
    assert not graph.as_graph_def().HasField("library")
    rewritten = fastmeta.rewrite_meta_graph(data).graph_def
    assert not rewritten.HasField("library")
    assert meta_graph_pb2.MetaGraphDef.FromString(rewrite_meta_graph_bytes(data)).graph_def == rewritten
    # then a library with functions: the gradient entry is there again, as in TensorFlow
    both = [data, _with_gradients(("FnA", "FnB"))]
    want = _tf_import(both)
    with graph.as_default():
        fastmeta.import_meta_graph(both[1], import_scope="s")
    assert _library(graph.as_graph_def()) == _library(want)
    assert _library(want)[1] == {"NoSuchFn": "NoSuchGrad", "FnA": "FnB"}
