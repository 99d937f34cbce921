"""The core's output does not depend on its thread count, and it runs concurrently."""

from __future__ import annotations

from pathlib import Path

import fastmeta
import pytest
from fastmeta import _core
from fastmeta.protos import meta_graph_pb2
from threads_util import run_concurrently

CORPUS = Path(__file__).parent / "fixtures" / "corpus"


def replicated_meta_graph(copies: int) -> bytes:
    """The mlp fixture's graph, copied under tower_i/ scopes (big enough to be split)."""
    src = meta_graph_pb2.MetaGraphDef.FromString((CORPUS / "mlp_ref.meta").read_bytes())
    out = meta_graph_pb2.MetaGraphDef()
    out.meta_info_def.CopyFrom(src.meta_info_def)
    for c in range(copies):
        p = f"tower_{c}/"
        for n in src.graph_def.node:
            m = out.graph_def.node.add()
            m.CopyFrom(n)
            m.name = p + n.name
            del m.input[:]
            m.input.extend(("^" + p + i[1:]) if i.startswith("^") else p + i for i in n.input)
            if "_class" in m.attr:
                values = [b"loc:@" + p.encode() + s[5:] for s in m.attr["_class"].list.s]
                del m.attr["_class"].list.s[:]
                m.attr["_class"].list.s.extend(values)
    # Put a few nodes out of order so the general ordering path runs too.
    nodes = list(out.graph_def.node)
    nodes[10], nodes[-10] = nodes[-10], nodes[10]
    del out.graph_def.node[:]
    out.graph_def.node.extend(nodes)
    return out.SerializeToString()


@pytest.fixture(scope="module")
def big() -> bytes:
    return replicated_meta_graph(60)  # ~16k nodes


@pytest.mark.parametrize("scope", ["", "imp"])
def test_output_is_identical_for_any_thread_count(big: bytes, scope: str) -> None:
    reference = _core.rewrite_meta_graph(big, prefix=scope, threads=1)
    assert reference.num_nodes > 10000
    for threads in (2, 3, 4, 7):
        got = _core.rewrite_meta_graph(big, prefix=scope, clear_devices=False, threads=threads)
        assert got.graph_def() == reference.graph_def()
        assert got.num_nodes == reference.num_nodes
        for i in (0, 1, reference.num_nodes // 2, reference.num_nodes - 1):
            assert got.name(i) == reference.name(i)
            assert got.edges(i) == reference.edges(i)
            assert got.node_def(i) == reference.node_def(i)


def test_errors_are_the_same_for_any_thread_count(big: bytes) -> None:
    # Break two nodes: the error reported must be the first one in file order.
    meta = meta_graph_pb2.MetaGraphDef.FromString(big)
    # (Control inputs: a data input more would break the nodes' signatures first.)
    meta.graph_def.node[3000].input.append("^missing_a")
    meta.graph_def.node[12000].input.append("^missing_b")
    assert "missing_a" in _same_error_for_any_thread_count(meta.SerializeToString())
    # A data input more than the op's OpDef allows: found while parsing.
    meta = meta_graph_pb2.MetaGraphDef.FromString(big)
    ops = {op.name: op for op in meta.meta_info_def.stripped_op_list.op}
    fixed = [
        i
        for i, n in enumerate(meta.graph_def.node)
        if n.op in ops and not any(a.number_attr or a.type_list_attr for a in ops[n.op].input_arg)
    ]
    first, second = fixed[len(fixed) // 5], fixed[-len(fixed) // 5]
    for i in (first, second):
        meta.graph_def.node[i].input.insert(0, meta.graph_def.node[0].name)
    message = _same_error_for_any_thread_count(meta.SerializeToString())
    assert f"Node '{meta.graph_def.node[first].name}'" in message and "data input" in message


def _same_error_for_any_thread_count(data: bytes) -> str:
    messages = set()
    for threads in (1, 2, 4):
        with pytest.raises(fastmeta.GraphError) as info:
            _core.rewrite_meta_graph(data, threads=threads)
        messages.add(str(info.value))
    assert len(messages) == 1
    return messages.pop()


def test_more_parts_than_threads_out_of_order() -> None:
    """A graph large enough for several parts per thread (taken as threads come free),
    with nodes out of file order, written through the recycled scratch pages: the
    same bytes and node index as one thread's."""
    data = replicated_meta_graph(500)  # ~135k nodes: four parts for two threads
    for clear in (False, True):
        reference = _core.rewrite_meta_graph(data, prefix="imp", clear_devices=clear, threads=1)
        assert reference.num_nodes > 100_000
        for threads in (2, 3):
            got = _core.rewrite_meta_graph(data, prefix="imp", clear_devices=clear, threads=threads)
            assert got.graph_def() == reference.graph_def()
            for i in range(0, reference.num_nodes, 997):
                assert got.name(i) == reference.name(i)
                assert got.edges(i) == reference.edges(i)
                assert got.device(i) == reference.device(i)


def test_concurrent_rewrites_from_python_threads(big: bytes) -> None:
    expected = _core.rewrite_meta_graph(big, prefix="s").graph_def()
    results = run_concurrently(lambda: _core.rewrite_meta_graph(big, prefix="s").graph_def())
    assert results == [expected] * 4


def test_input_map_is_the_same_for_any_thread_count() -> None:
    """Inputs an input_map replaces, resolved in parallel ranges: the same bytes, edges and
    external tensors (numbered in the order the inputs first use them) as one thread's."""
    data = replicated_meta_graph(500)  # ~135k nodes: several ranges per thread
    nodes = meta_graph_pb2.MetaGraphDef.FromString(data).graph_def.node
    sources = [n.name for n in nodes if n.name.endswith("/weights")]
    assert len(sources) >= 100
    # Keys from the first, middle and last towers, listed back to front, so the map's
    # order differs from the order of first use; some keys map to one value.
    picked = sources[:3] + sources[len(sources) // 2 : len(sources) // 2 + 3] + sources[-3:]
    input_map = [(f"{k}:0", f"new_{i % 5}:0") for i, k in enumerate(reversed(picked))]
    value_of = {k[: -len(":0")]: v[: -len(":0")] for k, v in input_map}
    # One external tensor per key, in the order of the keys' first use.
    used: list[str] = []
    for n in nodes:
        for i in n.input:
            key = i[: -len(":0")] if i.endswith(":0") else i
            if key in value_of and key not in used:
                used.append(key)
    first_use = [value_of[k] for k in used]
    assert len(first_use) == len(picked) and first_use != [v[: -len(":0")] for _, v in input_map]
    reference = _core.rewrite_meta_graph(data, prefix="imp", input_map=input_map, threads=1)
    externals = reference.external()
    assert externals == first_use
    for threads in (2, 3, 4):
        got = _core.rewrite_meta_graph(data, prefix="imp", input_map=input_map, threads=threads)
        assert got.graph_def() == reference.graph_def()
        assert got.external() == externals
        for i in range(0, reference.num_nodes, 499):
            assert got.edges(i) == reference.edges(i)
