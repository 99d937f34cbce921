"""return_elements and input_map keys read as TensorFlow's importer reads them, on the
TF-free import, against TensorFlow (``import_scoped_meta_graph_with_return_elements``)
and beside the drop-in (which already agrees):

* the order of the checks: keys and return elements parsed before anything is imported
  (input_map keys first, a key or an element whose output index is no C ``int`` a
  ``TypeError``: fastmeta's InputMapTypeError or GraphTypeError, also from the drop-in,
  with TensorFlow's message there),
  then the return tensors found (the node, an output it has or the control slot -1), then
  the return ops;
* the messages: ``x:-2`` is "Invalid return output -2 of node 'x', ...", ``nope:-1``
  names ``^nope``;
* the elements returned by their final names, also for nodes renamed to avoid a clash
  (a second unscoped import), and a name the file lacks is missing even when a renamed
  node took it.

A refused TF-free import leaves the fastmeta.Graph exactly as it was.
"""

from __future__ import annotations

import os
import re
from typing import Any

import fastmeta
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
import fastmeta.tf as fmtf  # noqa: E402
from tensorflow.python.framework import meta_graph as tf_meta_graph  # noqa: E402

v1 = tf.compat.v1


def _meta() -> bytes:
    """x (float32 [3]) unstacked by un (3 outputs); nop (no output); y = identity(x)."""
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [3], name="x")
        tf.unstack(x, name="un")
        tf.no_op(name="nop")
        with tf.control_dependencies([x.op]):
            tf.identity(x, name="y")
        return v1.train.export_meta_graph().SerializeToString()  # type: ignore[no-any-return]


Outcome = tuple[Any, ...]


def _tf(importer: Any, key: str | None, elements: Any, scope: str | None, twice: bool) -> Outcome:
    """(error class, message) or (None, returned names)."""
    with tf.Graph().as_default():
        nx = v1.placeholder(tf.float32, [3], name="nx")
        if twice:
            importer(v1.MetaGraphDef.FromString(_meta()), import_scope=scope)
        try:
            _, got = importer(
                v1.MetaGraphDef.FromString(_meta()),
                import_scope=scope,
                input_map=None if key is None else {key: nx},
                return_elements=elements,
            )
        except Exception as e:
            return type(e), str(e)
    return None, [e.name for e in got or []]


def _state(g: Any) -> Any:
    return g.as_graph_def(), g.get_all_collection_keys(), [g.unique_name(n, False) for n in ("imp", "x", "nx")]


def _fastmeta(key: str | None, elements: Any, scope: str | None, twice: bool) -> Outcome:
    """As :func:`_tf`, on the TF-free import; a refusal must be a fastmeta.Error and leave
    the graph as it was (its nodes, collections and the names it hands out next)."""
    g = fastmeta.Graph()
    with g.as_default():
        nx = g.placeholder("float32", [3], name="nx")
        if twice:
            fastmeta.import_scoped_meta_graph_with_return_elements(_meta(), import_scope=scope)
        before = _state(g)
        try:
            _, got = fastmeta.import_scoped_meta_graph_with_return_elements(
                _meta(), import_scope=scope, input_map=None if key is None else {key: nx}, return_elements=elements
            )
        except Exception as e:
            assert isinstance(e, fastmeta.Error), repr(e)
            assert _state(g) == before
            return type(e), str(e)
    return None, [e.name for e in got or []]


def _no_addresses(message: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+>", " at 0x?>", message)


def _tf_state(g: Any) -> Any:
    return g.as_graph_def(), g.get_all_collection_keys(), [g.unique_name(n, False) for n in ("imp", "x", "nx")]


def _dropin_refusal(key: str | None, elements: Any, device: str | None = None) -> BaseException:
    """The drop-in's error for a refused import (scoped "imp"), the graph left as it was.
    (Under a device scope the drop-in hands the import to TensorFlow's importer.)"""
    with tf.Graph().as_default() as g:
        nx = v1.placeholder(tf.float32, [3], name="nx")
        before = _tf_state(g)
        with tf.device(device), pytest.raises(Exception) as info:
            fmtf.import_scoped_meta_graph_with_return_elements(
                v1.MetaGraphDef.FromString(_meta()),
                import_scope="imp",
                input_map=None if key is None else {key: nx},
                return_elements=elements,
            )
        assert _tf_state(g) == before
    return info.value


CASES = [
    # TensorFlow checks the return tensors first, then the ops
    (None, ["nope", "nope2:0"]),
    (None, ["nope", "un:3"]),
    (None, ["un:3", "nope:0"]),
    (None, ["nope", "x:-2"]),
    (None, ["un", "x:0", "un:2", "y", "un:-1"]),
    # negative output indices: -1 is the control slot (found when the node is), others
    # are outputs the node lacks
    (None, ["x:-2"]),
    (None, ["un:-3", "nope:0"]),
    (None, ["x:-2147483648"]),
    (None, ["nope:-1"]),
    (None, ["x:-1", "un:-1"]),
    # parsed before anything is imported: keys first, then the elements
    ("nope:0", ["x:a"]),
    ("x:a", ["nope:0"]),
    ("nope:0", ["nope:0"]),
    ("x", ["x:0", "x", "y:0"]),
    # a tensor key naming the control slot is refused by the importer, after the parse
    ("x:-1", ["x:a"]),
    ("x:-1", ["nope:0"]),
    # a control key replaces the control slot: the last output of the op it maps to
    ("^x", ["x:-1", "y:0", "x"]),
    ("^x", ["x:-1", "nope"]),
    # a tensor key below the control slot is never used: an error only when the file
    # lacks its node
    ("x:-2", ["x:0"]),
    ("x:-2", ["x:-2", "y"]),  # (a return element the key replaces, as any other)
    ("un:-5", None),
    ("nope:-2", None),
]
# Output indices that are no C int: TensorFlow's binding refuses them with a TypeError
# (its message shows the binding's objects: compared by class, and the element named).
NOT_C_INT = [
    (None, ["x:99999999999"]),
    (None, ["x:2147483648"]),
    (None, ["x:-2147483649"]),
    (None, ["y:0", "x:2147483648"]),
    ("nope:0", ["x:99999999999"]),
    ("x:99999999999", None),
    ("x:2147483648", ["x:a"]),
    ("x:-2147483649", None),
    ("x:99999999999999999999999", None),
    ("x:-1", ["x:99999999999"]),
]


def _ids(case: tuple[Any, Any]) -> str:
    return f"{case[0]}|{case[1]}"


@pytest.mark.parametrize("scope, twice", [("imp", False), (None, True)])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_return_elements_as_tensorflow(case: tuple[Any, Any], scope: str | None, twice: bool) -> None:
    key, elements = case
    want = _tf(tf_meta_graph.import_scoped_meta_graph_with_return_elements, key, elements, scope, twice)
    assert _tf(fmtf.import_scoped_meta_graph_with_return_elements, key, elements, scope, twice)[1] == want[1]
    got = _fastmeta(key, elements, scope, twice)
    assert got[1] == want[1]
    if want[0] is not None:
        assert got[0] is not None and issubclass(got[0], want[0]), (got, want)


@pytest.mark.parametrize("case", NOT_C_INT, ids=_ids)
def test_output_indices_that_are_no_c_int_are_type_errors(case: tuple[Any, Any]) -> None:
    key, elements = case
    want = _tf(tf_meta_graph.import_scoped_meta_graph_with_return_elements, key, elements, "imp", False)
    assert want[0] is TypeError
    got = _fastmeta(key, elements, "imp", False)
    assert got[0] is not None and issubclass(got[0], TypeError), got
    # (the keys are parsed first: a key's index refused before the elements are read)
    key_refused = key is not None and not -(2**31) <= int(key.split(":")[1]) < 2**31
    assert repr(key if key_refused else elements[-1]) in got[1], got
    expected = fastmeta.InputMapTypeError if key_refused else fastmeta.GraphTypeError
    assert got[0] is expected
    # The drop-in: the same fastmeta error (a TypeError, as TensorFlow's), with
    # TensorFlow's message (its binding's, showing its objects: compared without addresses).
    for device in (None, "/cpu:0"):
        dropin = _dropin_refusal(key, elements, device)
        assert type(dropin) is expected and isinstance(dropin, TypeError), repr(dropin)
        assert _no_addresses(str(dropin)) == _no_addresses(want[1])


def test_renamed_nodes_are_found_by_the_core_run_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second unscoped import renames the file's nodes (x -> x_1): the elements are
    found with the one core run (its list of renamed nodes), and x_1, a name the file
    lacks, is missing although a renamed node took it (as TensorFlow's)."""
    from fastmeta import importer

    runs = []
    real = importer.run_core

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "run_core", counted)
    scoped = tf_meta_graph.import_scoped_meta_graph_with_return_elements
    want = _tf(scoped, None, ["x:0", "un", "un:2", "y"], None, True)
    runs.clear()
    assert _fastmeta(None, ["x:0", "un", "un:2", "y"], None, True) == want
    assert want[1] == ["x_1:0", "un_1", "un_1:2", "y_1"] and len(runs) == 2  # (both imports)
    for missing in (["x_1"], ["x_1:0"]):
        want = _tf(scoped, None, missing, None, True)
        assert want[0] is ValueError
        got = _fastmeta(None, missing, None, True)
        assert got[1] == want[1] and got[0] is not None and issubclass(got[0], ValueError)


def test_elements_after_an_op_of_unknown_output_count() -> None:
    """An op neither TensorFlow's registry nor the file's op list has (TensorFlow's
    importer refuses the file; the TF-free import takes it): its outputs are not counted,
    and the elements after it are still refused when the file lacks their node."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
    from make_seeds import meta, node

    data = meta(node("a", "CustomOp"), node("b"))
    g = fastmeta.Graph()
    _, got = fastmeta.import_scoped_meta_graph_with_return_elements(
        data, graph=g, import_scope="imp", return_elements=["a:1", "a", "b"]
    )
    assert [e.name for e in got or []] == ["imp/a:1", "imp/a", "imp/b"]
    for elements, message in (
        (["a:1", "nope:0"], "Requested return tensor 'nope:0' not found in graph def"),
        (["a:1", "nope:+3"], "Requested return tensor 'nope:3' not found in graph def"),
        (["a:1", "nope"], "Requested return node 'nope' not found in graph def"),
    ):
        before = _state(g)
        with pytest.raises(fastmeta.GraphError) as info:
            fastmeta.import_scoped_meta_graph_with_return_elements(
                data, graph=g, import_scope="imp", return_elements=elements
            )
        assert str(info.value) == message and info.value.node == elements[1]
        assert _state(g) == before


@pytest.mark.parametrize(
    "keys",
    [
        ["zz_a_missing_node:1", "x:-2", "un:-3"],
        ["zz_a_missing_node:-2", "x:-2", "aa_a_missing_node:0", "^y"],
        ["x:-2", "aa_a_missing_node:-7", "un:1"],
    ],
    ids=lambda keys: ",".join(keys),
)
def test_keys_below_the_control_slot_among_others(keys: list[str]) -> None:
    """Listed as TensorFlow lists the keys not found (its map's order: by node name, then
    index), on the TF-free import, rewrite_meta_graph and the drop-in. (Names longer
    than 15 bytes: TensorFlow garbles shorter ones when it lists several.)"""
    outcomes = []
    for run in ("tf", "dropin"):
        importer = v1.train.import_meta_graph if run == "tf" else fmtf.import_meta_graph
        with tf.Graph().as_default():
            nx = v1.placeholder(tf.float32, [3], name="nx")
            try:
                importer(v1.MetaGraphDef.FromString(_meta()), import_scope="imp", input_map=dict.fromkeys(keys, nx))
                outcomes.append(None)
            except ValueError as e:
                outcomes.append(str(e))
    g = fastmeta.Graph()
    nx = g.placeholder("float32", [3], name="nx")
    before = _state(g)
    try:
        fastmeta.import_meta_graph(_meta(), graph=g, import_scope="imp", input_map=dict.fromkeys(keys, nx))
        outcomes.append(None)
    except fastmeta.InputMapError as e:
        outcomes.append(str(e))
        assert _state(g) == before
    try:
        fastmeta.rewrite_meta_graph(_meta(), import_scope="imp", input_map=dict.fromkeys(keys, "nx:0"))
        outcomes.append(None)
    except fastmeta.InputMapError as e:
        outcomes.append(str(e))
    assert outcomes[1:] == outcomes[:1] * 3
