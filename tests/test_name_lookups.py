"""The rewritten graph's name questions (a name, a scope, a name ignoring case), which a
later import into the same graph asks of each earlier one, against plain Python sets."""

from __future__ import annotations

from typing import Any

import fastmeta
import pytest
from fastmeta import _core
from fastmeta.protos import graph_pb2, meta_graph_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

PARTS = ["a", "A", "b", "bb", "B_1", "x.y", "a-b", "loop", "tower_0", "gradients", "dense_12345678"]


@st.composite
def scoped_graphs(draw: Any) -> tuple[list[str], str]:
    names: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=20))):
        depth = draw(st.integers(min_value=1, max_value=4))
        name = "/".join(draw(st.sampled_from(PARTS)) for _ in range(depth))
        if name not in names:
            names.append(name)
    if draw(st.booleans()):
        names.sort()  # (runs of names sharing their scopes, as real graphs have)
    prefix = draw(st.sampled_from(["", "a", "A", "s/t", "S/T"]))
    return names, prefix


def _rewrite(names: list[str], prefix: str) -> Any:
    meta = meta_graph_pb2.MetaGraphDef()
    gd: graph_pb2.GraphDef = meta.graph_def
    for n in names:
        gd.node.add(name=n, op="NoOp")
    return _core.rewrite_meta_graph(meta.SerializeToString(), prefix)


def _questions(final: list[str], prefix: str) -> list[str]:
    qs = {"", "a", "A", "zz", prefix, prefix + "/", prefix.lower(), prefix.upper()}
    for n in final:
        qs.update({n, n.lower(), n.upper(), n + "/x", n[:-1]})
        pos = n.find("/")
        while pos != -1:
            qs.update({n[:pos], n[: pos + 1], n[:pos].lower(), n[:pos].upper()})
            pos = n.find("/", pos + 1)
    return sorted(qs)


@settings(max_examples=150, deadline=None)
@given(scoped_graphs())
def test_name_scope_and_folded_lookups_match_sets(case: tuple[list[str], str]) -> None:
    names, prefix = case
    r = _rewrite(names, prefix)
    final = r.names()
    assert final == [f"{prefix}/{n}" if prefix else n for n in names]
    held = set(final)
    scopes = {n[:pos] for n in final for pos in range(len(n)) if n[pos] == "/"}
    folded = {n.lower() for n in final}
    for q in _questions(final, prefix):
        assert r.has_name(q) == (q in held), q
        assert r.has_prefix(q) == (q in scopes), q
        assert r.has_name_folded(q.lower()) == (q.lower() in folded), q


def test_folded_lookup_on_a_large_graph() -> None:
    # Enough names for the tables' probing to wrap and collide.
    names = [f"Tower_{t}/Layer_{k}/MatMul" for t in range(40) for k in range(200)]
    r = _rewrite(names, "Imp")
    assert r.has_name_folded("imp/tower_39/layer_199/matmul")
    assert r.has_name_folded("imp/tower_0/layer_0/matmul")
    assert not r.has_name_folded("imp/tower_40/layer_0/matmul")
    assert not r.has_name_folded("imp/tower_0/layer_0")  # a scope, not a name
    assert r.has_prefix("Imp/Tower_7/Layer_3")
    assert not r.has_prefix("imp/tower_7")  # scopes keep their case
    assert not r.has_prefix("Imp/Tower_7/Layer_3/MatMul")


def _meta_bytes(names: list[str]) -> bytes:
    meta = meta_graph_pb2.MetaGraphDef()
    for n in names:
        meta.graph_def.node.add(name=n, op="NoOp")
    return meta.SerializeToString()


def test_renames_beside_an_earlier_import_do_not_depend_on_threads() -> None:
    # Enough nodes for several parts: each part renames its clashing nodes on its own.
    first = _core.rewrite_meta_graph(_meta_bytes([f"x{i}" for i in range(0, 20000, 3)]), "")
    names = [f"x{i}" for i in range(20000)]
    results = [_core.rewrite_meta_graph(_meta_bytes(names), "", existing=[first], threads=t).names() for t in (1, 2, 4)]
    assert results[0] == results[1] == results[2]
    assert results[0] == [f"{n}_1" if i % 3 == 0 else n for i, n in enumerate(names)]


@pytest.mark.parametrize("late", [False, True])
def test_the_first_clash_in_output_order_is_reported_whatever_the_threads(late: bool) -> None:
    # "s/x<k>" is taken, so x<k> would become s/x<k>_1: the final name of the file's own
    # x<k>_1 (TensorFlow then makes two nodes of one name; fastmeta refuses). With x150
    # reading the last node, it comes after x9000 in TensorFlow's order.
    first = _core.rewrite_meta_graph(_meta_bytes(["x150", "x9000", "x19000"]), "s")
    meta = meta_graph_pb2.MetaGraphDef.FromString(
        _meta_bytes([f"x{i}" for i in range(20000)] + ["x19000_1", "x9000_1", "x150_1"])
    )
    if late:
        meta.graph_def.node[150].input.append("^x150_1")
    expected = "x9000" if late else "x150"
    for t in (1, 2, 4):
        with pytest.raises(fastmeta.GraphError, match=rf"Node '{expected}' clashes .* 's/{expected}_1'") as info:
            _core.rewrite_meta_graph(meta.SerializeToString(), "s", existing=[first], threads=t)
        assert info.value.node == expected


@settings(max_examples=150, deadline=None)
@given(scoped_graphs(), scoped_graphs(), st.booleans())
def test_clashes_found_from_a_small_target_as_from_the_file(
    file_case: tuple[list[str], str], target_case: tuple[list[str], str], as_graph: bool
) -> None:
    """A target far smaller than the file has its clashes found from the target's side:
    the same renames (or the same refusal) as when every file node is checked, which a
    target padded with unrelated names gets."""
    names, prefix = file_case
    names = names + [f"fill_{i}" for i in range(400)]  # (more than 8x the target)
    target, target_prefix = target_case
    target = target[:40]
    pad = [f"zz_pad/p{i}" for i in range(len(names))]  # (names no file node is or scopes)

    def run(extra: list[str]) -> Any:
        meta = _meta_bytes(names)
        try:
            if as_graph:
                first = _core.rewrite_meta_graph(_meta_bytes(target), target_prefix)
                padding = [_core.rewrite_meta_graph(_meta_bytes(extra), "")] if extra else []
                r = _core.rewrite_meta_graph(meta, prefix, existing=[first, *padding])
            else:
                held = [f"{target_prefix}/{n}" if target_prefix else n for n in target]
                r = _core.rewrite_meta_graph(meta, prefix, existing_names=held + extra)
        except fastmeta.GraphError as e:
            return str(e)
        return r.names()

    small, padded = run([]), run(pad)
    assert small == padded
    if isinstance(small, list):
        held = {f"{target_prefix}/{n}" if target_prefix else n for n in target}
        scopes = {n[:pos] for n in held for pos in range(len(n)) if n[pos] == "/"}
        # The renamed nodes are exactly those whose name the target holds as a name or a scope.
        scoped = [f"{prefix}/{n}" if prefix else n for n in names]
        assert [s for s, f in zip(scoped, small) if s != f] == [s for s in scoped if s in held or s in scopes]


def test_ops_created_one_by_one_are_found_without_walking_every_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each create_op commits a block of its own: lookups find a created op through the
    graph's name index, and uniquification in the name table, not by asking every block (a graph built
    op by op walked thousands: 8000 placeholders took minutes). Counted, not timed; the
    names and lookups are the same (an import in between, and a clash uniquified)."""
    from fastmeta import graph as graph_module

    asked = 0
    find = graph_module._Block.find

    def counted_find(self: Any, name: str) -> int:
        nonlocal asked
        asked += 1
        return find(self, name)

    monkeypatch.setattr(graph_module._Block, "find", counted_find)
    n = 400
    g = fastmeta.Graph()
    mg = meta_graph_pb2.MetaGraphDef(graph_def=graph_pb2.GraphDef(node=[{"name": "p_7", "op": "NoOp"}]))
    with g.as_default():
        for i in range(n):
            g.placeholder("float32", [2], name=f"p_{i}")
            if i == n // 2:
                fastmeta.import_meta_graph(mg.SerializeToString(), import_scope="imp")
        clash = g.placeholder("float32", [2], name="p_7")
    assert clash.name == "p_7_1:0"
    assert [op.name for op in g.get_operations()][:3] == ["p_0", "p_1", "p_2"]
    assert g.get_operation_by_name("p_123").name == "p_123" and g.get_operation_by_name("imp/p_7").type == "NoOp"
    assert asked <= 4 * n, asked
