"""The rewritten graph's name questions (a name, a scope, a name ignoring case), which a
later import into the same graph asks of each earlier one, against plain Python sets."""

from __future__ import annotations

from typing import Any

from fastmeta import _core
from fastmeta.protos import graph_pb2, meta_graph_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

PARTS = ["a", "A", "b", "bb", "B_1", "x.y", "a-b", "loop"]


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
