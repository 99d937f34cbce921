"""The core reads a variable collection's values straight from the MetaGraphDef's bytes
(``variable_rows_of``: no bytes object per value); what it reads must be exactly what
protobuf reads, whatever the wire layout: repeated map entries for one key (the last
wins), an entry's value written in several pieces (they merge), a kind set after the
bytes_list (it clears it), fields of an unexpected wire type (unknown: ignored inside a
value; an entry holding one is no map entry to protobuf at all). Where
the core would disagree it must say so (None), never return other values.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import fastmeta
from corpus_fixtures import CORPUS, MANIFEST
from fastmeta import _core
from fastmeta.graph import _Segment, _Transaction
from fastmeta.protos import meta_graph_pb2
from fastmeta.variables import BulkVariables
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import itertools

from make_seeds import field

# A value of some CollectionDef kind, as (field number, payload) pieces.
_values = st.lists(st.binary(max_size=6), max_size=4)
_bytes_list = _values.map(lambda vs: field(2, b"".join(field(1, v) for v in vs)))
_other_kind = st.sampled_from([1, 3, 4, 5]).map(lambda n: field(n, b""))
_odd_field = st.sampled_from([field(2, 7), field(1, 1), field(9, b"xy"), field(2, field(1, 3))])
_collection_def = st.lists(st.one_of(_bytes_list, _bytes_list, _other_kind, _odd_field), max_size=4).map(b"".join)
_entry_piece = st.one_of(
    st.sampled_from([b"a", b"b"]).map(lambda k: field(1, k)),
    _collection_def.map(lambda v: field(2, v)),
    st.just(field(1, 5)),  # a key of the wrong wire type: an unknown field
    st.just(field(3, b"")),  # another unknown field (protobuf then keeps no map entry)
)
_entry = st.lists(_entry_piece, max_size=4).map(lambda pieces: field(4, b"".join(pieces)))
_meta_graph = st.lists(st.one_of(_entry, _entry, st.just(field(2, b"")), st.just(field(3, b"\x0a\x00"))), max_size=6)


def _plain(value: object) -> object:
    """The rows as plain values: the core's buffers (lent without a copy) as bytes."""
    if isinstance(value, _core.OwnedBuffer):
        view = memoryview(value)
        assert view.readonly and len(view) == len(value)
        return view.tobytes()
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value


@settings(max_examples=400, deadline=None)
@given(_meta_graph)
def test_collection_values_are_what_protobuf_reads(fields: list[bytes]) -> None:
    data = b"".join(fields)
    meta = meta_graph_pb2.MetaGraphDef.FromString(data)
    core = _core.rewrite_meta_graph(data, prefix="", clear_devices=False)
    for key in ("a", "b"):
        got = core.variable_rows_of([key], "")
        if key not in meta.collection_def or meta.collection_def[key].WhichOneof("kind") != "bytes_list":
            assert got is None
            continue
        values = list(meta.collection_def[key].bytes_list.value)
        assert got is not None
        rows, counts = got
        assert counts == [len(values)]
        # The same distinct values, in the same order, as the rows of protobuf's list.
        assert _plain(rows) == _plain(core.variable_rows(values, ""))
    both = core.variable_rows_of(["a", "b"], "")
    if both is not None:
        assert both[1] == [len(meta.collection_def[k].bytes_list.value) for k in ("a", "b")]


def _corpus() -> Iterator[tuple[Path, meta_graph_pb2.MetaGraphDef]]:
    """The corpus fixtures that import without an input_map, read."""
    for fixture in MANIFEST["fixtures"]:
        if not fixture.get("required_input_map"):
            path = CORPUS / fixture["file"]
            yield path, fastmeta.read_meta_graph_file(str(path))


def test_import_reads_variable_collections_in_the_core() -> None:
    """On a real file the core reads the variable collections (the import takes that
    path) and settles exactly the variables the bytes-object path settles."""
    checked = 0
    for path, meta in _corpus():
        counts = {
            k: len(meta.collection_def[k].bytes_list.value)
            for k in ("trainable_variables", "variables", "local_variables")
            if k in meta.collection_def and meta.collection_def[k].WhichOneof("kind") == "bytes_list"
        }
        if not counts:
            continue
        graph = fastmeta.Graph()
        fastmeta.import_meta_graph(str(path), import_scope="s", graph=graph)
        segment = next(p for p in graph._parts if isinstance(p, _Segment))
        lookup = _Transaction(graph)
        from_core = BulkVariables.from_meta_graph("s", graph=lookup, segment=segment, counts=counts)
        assert from_core is not None, path.name
        # A single row's views (get_row) are the all-rows stack's (items).
        assert from_core._view_rows() == [from_core._view_row(r) for r in range(len(from_core._made))]
        values = {k: list(meta.collection_def[k].bytes_list.value) for k in counts}
        from_lists = BulkVariables("s", graph=lookup, segment=segment, collections=values)
        for key, n in counts.items():
            for j in range(n):
                a, b = from_core.settled_row(key, j), from_lists.settled_row(key, j)
                assert a == b
                if a is not None:
                    va, vb = from_core.get_row(a), from_lists.get_row(b)
                    assert (va.name, va.op.name, va.initializer.name, va.trainable) == (
                        vb.name,
                        vb.op.name,
                        vb.initializer.name,
                        vb.trainable,
                    )
        checked += 1
    assert checked >= 5


_VARIABLE_KEYS = ["trainable_variables", "variables", "local_variables", "model_variables", "no_such_collection"]


def _rows_both_ways(data: bytes, scope: str, threads: int) -> tuple[object, object, list[str] | None]:
    """variable_rows_of from a rewrite that looked the variables up on the way, and
    from one that did not, for the keys the first looked up."""
    prefix = scope + "/" if scope else ""
    ahead = _core.rewrite_meta_graph(
        data, prefix=scope, threads=threads, variable_collections=_VARIABLE_KEYS, variable_prefix=prefix
    )
    after = _core.rewrite_meta_graph(data, prefix=scope, threads=threads)
    keys = ahead.variables_looked_up()
    assert after.variables_looked_up() is None
    if keys is None:
        return None, None, None
    rows = _plain(ahead.variable_rows_of(keys, prefix))
    # Handed over once and freed: a second call looks them up on the finished graph.
    assert ahead.variables_looked_up() == keys
    assert _plain(ahead.variable_rows_of(keys, prefix)) == rows
    return rows, _plain(after.variable_rows_of(keys, prefix)), keys


def test_rewrite_looks_variables_up_on_the_way() -> None:
    """Asked for the variable collections, the rewrite looks their names up on the
    original names' table while it has it: the same rows (node positions, op types,
    names, flags) as the lookups on the finished graph, for every corpus fixture, with
    and without a scope, on one thread and two; only the keys present as bytes_list."""
    checked = 0
    for path, meta in _corpus():
        present = [
            k
            for k in _VARIABLE_KEYS
            if k in meta.collection_def and meta.collection_def[k].WhichOneof("kind") == "bytes_list"
        ]
        data = meta.SerializeToString()
        for scope in ("", "s"):
            for threads in (1, 2):
                ahead, after, keys = _rows_both_ways(data, scope, threads)
                assert keys == present, path.name
                assert ahead == after, (path.name, scope, threads)
        checked += bool(present)
    assert checked >= 5


def test_rewrite_variables_out_of_order_beside_the_order_walk(tmp_path: Path) -> None:
    """A graph out of GraphDef order (its order walk is serial: the lookups run beside
    it on two threads): the rows' nodes are output positions, as after the rewrite."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import generate

    path = tmp_path / "g.meta"
    generate.generate(path, generate.params_for_nodes(20000))
    data = path.read_bytes()
    for threads in (1, 2, 3):
        ahead, after, keys = _rows_both_ways(data, "s", threads)
        assert keys == ["trainable_variables", "variables"]
        assert ahead == after


def test_rows_outlive_the_rewrite_that_lent_them() -> None:
    """The rows' buffers are lent without a copy: arrays over them stay valid after the
    rewrite's result is gone (the buffer keeps its memory alive)."""
    import gc

    import numpy as np

    path = CORPUS / "mlp_resource_adam.meta"
    core = _core.rewrite_meta_graph(
        path.read_bytes(), prefix="s", variable_collections=["variables"], variable_prefix="s/"
    )
    got = core.variable_rows_of(["variables"], "s/")
    assert got is not None
    rows = np.frombuffer(got[0][0], dtype=np.int64)
    row_of = np.frombuffer(got[0][4], dtype=np.int32)
    expect = (rows.copy(), row_of.copy())
    assert len(rows) % 15 == 0 and len(rows) > 0 and not rows.flags.writeable
    del got, core
    gc.collect()
    churn = [bytes(len(expect[0]) * 8) for _ in range(64)]  # (reuse freed memory, if any were)
    assert (rows == expect[0]).all() and (row_of == expect[1]).all()
    del churn


def test_rewrite_skips_variables_when_it_cannot_use_the_table() -> None:
    """Another prefix than the rewrite's, or a node renamed on a clash with the target
    graph: the rewrite does not look the variables up (the import then does, on the
    finished graph), and the import's variables are the same."""
    path = CORPUS / "mlp_resource_adam.meta"
    data = path.read_bytes()
    other = _core.rewrite_meta_graph(data, prefix="s", variable_collections=["variables"], variable_prefix="t/")
    assert other.variables_looked_up() is None
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(str(path), graph=graph)
    fastmeta.import_meta_graph(str(path), graph=graph)  # every name clashes: renamed x_1
    first, second = (p for p in graph._parts if isinstance(p, _Segment))
    assert first.core.variables_looked_up() == ["trainable_variables", "variables"]
    assert second.core.variables_looked_up() is None
    # As TensorFlow's: the second file's unscoped variable names find the first's nodes.
    names = [v.name for v in graph.get_collection("variables")]
    half = len(names) // 2
    assert half > 0 and names[half:] == names[:half]


_graph_def_field = st.sampled_from([field(2, b""), field(2, field(1, field(1, b"n") + field(2, b"NoOp")))])
_rest_field = st.one_of(
    _entry,  # a collection_def entry (field 4)
    st.sampled_from([field(1, field(4, b"tag")), field(3, field(1, b"save/Const:0")), field(15, b"x")]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_graph_def_field, _rest_field), max_size=8))
def test_rest_is_read_in_place_as_protobuf_reads_it(fields: list[bytes]) -> None:
    """The MetaGraphDef's other fields are parsed range by range straight from the
    buffer (graph_def fields anywhere between them): the same message as protobuf's
    parse of the whole, without its graph_def."""
    data = b"".join(fields)
    expect = meta_graph_pb2.MetaGraphDef.FromString(data)
    expect.ClearField("graph_def")
    ranges = _core.meta_graph_rest_ranges(data)
    assert all(a < b for a, b in ranges) and all(b < c for (_, b), (c, _) in itertools.pairwise(ranges))
    assert fastmeta.reading.load_meta_graph(data).rest == expect
