"""Odd but accepted arguments of ``import_meta_graph``, against TensorFlow's own import,
on the drop-in, the TF-free import and ``rewrite_meta_graph``:

* an ``import_scope`` ending in "//" (TensorFlow's name scope keeps "a//" and strips one
  '/', and its C++ importer adds no '/' to a prefix that ends in one: the nodes are
  ``a/x``; fastmeta named them ``a//x``);
* an ``import_scope`` that is ``bytes`` (the drop-in: TensorFlow's own import);
* an ``unbound_inputs_col_name`` that is no ``str`` (TensorFlow compares it with ``==``:
  it names no collection);
* a collection that fails part way (the drop-in, as TensorFlow: the items before the
  failing one stay in it);
* ``restore_collections_predicate`` asked once per key, in TensorFlow's order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import fastmeta
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
import fastmeta.tf as fmtf  # noqa: E402
from corpus_fixtures import CORPUS  # noqa: E402
from tf_oracle import unbound_inputs_meta  # noqa: E402

v1 = tf.compat.v1


def _no_variables() -> Any:
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [], name="x")
        tf.identity(x * 2.0, name="y")
        return v1.train.export_meta_graph()


def _one_variable() -> Any:
    with tf.Graph().as_default():
        v1.get_variable("v", shape=[], initializer=v1.zeros_initializer())
        return v1.train.Saver().export_meta_graph()


def _tf_ops(importer: Callable[..., Any], meta: Any, **kwargs: Any) -> tuple[str, Any]:
    """(outcome, op names or the exception's class and message) of an import into a
    fresh graph; a copy of ``meta`` is passed (TensorFlow modifies it)."""
    copy = v1.MetaGraphDef()
    copy.CopyFrom(meta)
    with tf.Graph().as_default() as g:
        try:
            importer(copy, **kwargs)
        except Exception as e:
            return "error", (type(e).__name__ if not isinstance(e, ValueError) else "ValueError", str(e))
        return "ok", [op.name for op in g.get_operations()]


@pytest.mark.parametrize("scope", ["a//", "imp//", "a///", "a/"])
def test_a_scope_ending_in_slashes_names_the_nodes_as_tensorflow(scope: str) -> None:
    meta = _no_variables()
    want = _tf_ops(v1.train.import_meta_graph, meta, import_scope=scope)
    assert want[0] == "ok"
    assert want[1][0] == (scope[:-1] if scope.endswith("//") else scope) + "x"  # ("a//" -> a/x)
    assert _tf_ops(fmtf.import_meta_graph, meta, import_scope=scope) == want
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(meta.SerializeToString(), import_scope=scope, graph=g)
    assert [op.name for op in g.get_operations()] == want[1]
    rewritten = fastmeta.rewrite_meta_graph(meta.SerializeToString(), import_scope=scope)
    assert [n.name for n in rewritten.graph_def.node] == want[1]


@pytest.mark.parametrize("scope", ["a//", "a///"])
def test_a_scope_ending_in_slashes_over_variables_fails_as_tensorflow(scope: str) -> None:
    # TensorFlow's collection restore looks the variables up under the scope with one
    # '/' stripped ("a//v:0") while its nodes are "a/v": a KeyError, after the nodes are
    # in. The drop-in does the same; the TF-free import refuses it, graph untouched.
    meta = _one_variable()
    want = _tf_ops(v1.train.import_meta_graph, meta, import_scope=scope)
    assert want[0] == "error" and want[1][0] == "KeyError"
    assert _tf_ops(fmtf.import_meta_graph, meta, import_scope=scope) == want
    g = fastmeta.Graph()
    with pytest.raises(fastmeta.CollectionError, match=re.escape(f"'{scope}v:0' is not in the graph")):
        fastmeta.import_meta_graph(meta.SerializeToString(), import_scope=scope, graph=g)
    assert g.get_operations() == []


@pytest.mark.parametrize("make", [_no_variables, _one_variable], ids=["no_variables", "variables"])
def test_a_bytes_scope_in_the_drop_in_is_tensorflows_import(make: Callable[[], Any]) -> None:
    # TensorFlow's name scope decodes b"imp"; its collection restore then fails on the
    # bytes scope (a graph with variables). The drop-in raised its own TypeError.
    meta = make()
    want = _tf_ops(v1.train.import_meta_graph, meta, import_scope=b"imp")
    assert _tf_ops(fmtf.import_meta_graph, meta, import_scope=b"imp") == want
    if make is _no_variables:
        assert want == ("ok", ["imp/x", "imp/mul/y", "imp/mul", "imp/y"])
    with pytest.raises(TypeError, match="import_scope must be a string"):
        fastmeta.import_meta_graph(meta.SerializeToString(), import_scope=b"imp", graph=fastmeta.Graph())


@pytest.mark.parametrize("col", [5, 1.5, ("unbound_inputs",), b"unbound_inputs"], ids=repr)
def test_an_unbound_inputs_col_name_that_is_no_str_names_no_collection(col: Any) -> None:
    with tf.Graph().as_default():
        tf.constant(1.0, name="c")
        v1.add_to_collection("things", 1)
        plain = v1.train.export_meta_graph()
    unbound = v1.MetaGraphDef.FromString(unbound_inputs_meta())
    for meta, outcome in ((plain, "ok"), (unbound, "error")):
        want = _tf_ops(v1.train.import_meta_graph, meta, unbound_inputs_col_name=col)
        assert want[0] == outcome, want
        got = _tf_ops(fmtf.import_meta_graph, meta, unbound_inputs_col_name=col)
        g = fastmeta.Graph()
        try:
            fastmeta.import_meta_graph(meta.SerializeToString(), graph=g, unbound_inputs_col_name=col)
            free: tuple[str, Any] = ("ok", [op.name for op in g.get_operations()])
        except fastmeta.GraphError as e:
            free = ("error", ("ValueError", str(e)))
        for result in (got, free):
            # (the unbound input is then an input no node has: TensorFlow's message)
            assert result == want


def test_a_collection_failing_part_way_keeps_its_first_items_in_the_drop_in() -> None:
    with tf.Graph().as_default():
        tf.constant(1.0, name="x")
        tf.constant(2.0, name="y")
        meta = v1.train.export_meta_graph()
    meta.collection_def["my_ops"].node_list.value.extend(["x:0", "y:0", "nope:0"])
    results = []
    for importer in (v1.train.import_meta_graph, fmtf.import_meta_graph):
        with tf.Graph().as_default() as g:
            with pytest.raises(KeyError, match="nope"):
                importer(meta)
            results.append([t.name for t in g.get_collection("my_ops")])
    assert results[0] == ["x:0", "y:0"]
    assert results[1] == results[0]


def _once_per_key() -> tuple[Callable[[str], bool], list[str]]:
    seen: list[str] = []

    def predicate(key: str) -> bool:
        first = key not in seen
        seen.append(key)
        return first  # ("restore each collection once")

    return predicate, seen


@pytest.mark.parametrize("fixture", ["control_flow_v1", "mlp_resource_adam"])
def test_the_predicate_is_asked_once_per_key_in_tensorflows_order(fixture: str) -> None:
    # (The TF-free import asks about the contexts and the variable collections before
    # the nodes go in: it asked about them twice, so "restore each key once" lost them.)
    meta = v1.MetaGraphDef.FromString((CORPUS / f"{fixture}.meta").read_bytes())
    outcomes = []
    for importer in (v1.train.import_meta_graph, fmtf.import_meta_graph):
        predicate, seen = _once_per_key()
        with tf.Graph().as_default() as g:
            importer(meta, restore_collections_predicate=predicate)
            outcomes.append((seen, sorted(g.get_all_collection_keys())))
    predicate, seen = _once_per_key()
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(meta.SerializeToString(), graph=g, restore_collections_predicate=predicate)
    outcomes.append((seen, sorted(g.get_all_collection_keys())))
    assert "variables" in outcomes[0][1]
    assert fixture != "control_flow_v1" or "while_context" in outcomes[0][1]
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]
