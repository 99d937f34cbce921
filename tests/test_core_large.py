"""Large random graphs through the core, against the pure-Python reference.

The property tests use graphs of a few nodes; the core only splits work across
threads, and drops the pages of its parse records and of a mapped input behind the
writer, from 4096 nodes on. These graphs are big enough for all of that, in file
order and shuffled, from a buffer and from a mapped file, and check the node index
(names, edges, lookups) as well as the bytes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from fastmeta import _core
from fastmeta.protos import graph_pb2, meta_graph_pb2, types_pb2
from reference_rewrite import parse_tensor_name, reference_rewrite
from test_rewrite_properties import DEVICES, op_list

N = 12_000


def random_graph(seed: int, shuffled: bool) -> graph_pb2.GraphDef:
    """Towers of layers: inputs mostly from recent nodes, some far back; control
    inputs, output indices, devices, colocation, shapes, attrs left to defaults (those
    without one set)."""
    rng = random.Random(seed)
    names: list[str] = []
    gd = graph_pb2.GraphDef()
    for i in range(N):
        name = f"tower_{i % 7}/layer_{i // 50}/op_{i}"
        node = gd.node.add(name=name, op=rng.choice(["Const", "Identity", "Foo", "AddN", "NoOp"]))
        if names:
            for _ in range(rng.randint(0, 3)):
                src = names[-rng.randint(1, min(len(names), 40))] if rng.random() < 0.8 else rng.choice(names)
                form = rng.randint(0, 3)
                node.input.append(src if form == 0 else f"{src}:{rng.randint(0, 2)}" if form == 1 else f"{src}:0")
            for _ in range(rng.choice([0, 0, 0, 1, 2])):
                node.input.append("^" + rng.choice(names[-200:]))
            if rng.random() < 0.1:
                node.attr["_class"].list.s.append(f"loc:@{rng.choice(names)}".encode())
        node.device = rng.choice(DEVICES)
        if rng.random() < 0.5:
            node.attr["_output_shapes"].list.shape.add()
        if node.op == "Foo" and rng.random() < 0.5:
            node.attr["alpha"].f = 1.5
        if node.op in ("Foo", "Identity"):  # (their OpDefs' attrs without a default)
            node.attr["T"].type = types_pb2.DT_FLOAT
            node.attr["N"].i = sum(not x.startswith("^") for x in node.input)
        names.append(name)
    if shuffled:
        # Swap some nodes far apart: the import order then differs from the file's.
        nodes = list(gd.node)
        for _ in range(60):
            a, b = rng.randrange(N), rng.randrange(N)
            nodes[a], nodes[b] = nodes[b], nodes[a]
        del gd.node[:]
        gd.node.extend(nodes)
    gd.versions.producer = 27
    return gd


def as_meta(gd: graph_pb2.GraphDef) -> bytes:
    meta = meta_graph_pb2.MetaGraphDef()
    meta.meta_info_def.stripped_op_list.CopyFrom(op_list())
    meta.graph_def.CopyFrom(gd)
    return meta.SerializeToString()


@pytest.fixture(scope="module", params=[False, True], ids=["file-order", "shuffled"])
def case(request: Any, tmp_path_factory: Any) -> tuple[bytes, Path, graph_pb2.GraphDef]:
    gd = random_graph(seed=7, shuffled=request.param)
    data = as_meta(gd)
    path = tmp_path_factory.mktemp("large") / "graph.meta"
    path.write_bytes(data)
    return data, path, gd


def check_index(result: Any, expected: graph_pb2.GraphDef) -> None:
    names = [n.name for n in expected.node]
    assert result.names() == names
    position = {name: k for k, name in enumerate(names)}
    for k, node in enumerate(expected.node):
        assert result.find(node.name) == k
        assert result.op(k) == node.op
        assert result.device(k) == node.device
        edges = []
        for text in node.input:
            src, idx = parse_tensor_name(text)
            edges.append((position[src], idx))
        assert result.edges(k) == edges, node.name
        assert result.num_data_inputs(k) == sum(1 for _, idx in edges if idx >= 0)
    assert result.find("no/such/node") == -1


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("source", ["buffer", "file"])
@pytest.mark.parametrize("prefix", ["", "imp"])
def test_large_graph_matches_reference(
    case: tuple[bytes, Path, graph_pb2.GraphDef], threads: int, source: str, prefix: str
) -> None:
    data, path, gd = case
    expected = reference_rewrite(gd, op_list(), prefix=prefix)
    if source == "file":
        result = _core.rewrite_meta_graph_file(str(path), prefix=prefix, threads=threads)
    else:
        result = _core.rewrite_meta_graph(data, prefix=prefix, threads=threads)
    got = graph_pb2.GraphDef.FromString(result.graph_def())
    assert [n.name for n in got.node] == [n.name for n in expected.node]
    for a, b in zip(got.node, expected.node):
        assert a == b, f"node {a.name}:\n{a}\nvs reference\n{b}"
    assert got == expected
    check_index(result, expected)


@pytest.mark.parametrize("threads", [1, 2])
def test_large_graph_with_renames_and_input_map(case: tuple[bytes, Path, graph_pb2.GraphDef], threads: int) -> None:
    # Renamed nodes and mapped inputs take the writer's general path (no page dropping).
    _data, path, gd = case
    existing = [f"imp/{gd.node[k].name}" for k in (0, 5, N // 2, N - 1)]
    victim = gd.node[N // 3].name
    imap = {f"{victim}:0": "outside:1", f"^{victim}": "^gate"}
    uses = [n for n in gd.node if any(parse_tensor_name(i)[0] == victim for i in n.input)]
    if not any("^" + victim in n.input for n in uses):
        imap.pop(f"^{victim}")
    if not any(i in (victim, f"{victim}:0") for n in uses for i in n.input):
        imap.pop(f"{victim}:0")
    expected = reference_rewrite(gd, op_list(), prefix="imp", input_map=imap, existing=frozenset(existing))
    result = _core.rewrite_meta_graph_file(
        str(path),
        prefix="imp",
        existing_names=existing,
        input_map=list(imap.items()),
        threads=threads,
    )
    got = graph_pb2.GraphDef.FromString(result.graph_def())
    assert got == expected
    assert sum(1 for n in got.node if n.name.endswith("_1")) >= len(existing)
