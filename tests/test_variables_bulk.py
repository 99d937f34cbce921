"""The bulk variable path (the core parses the VariableDefs and resolves their names)
equals Variable.from_proto.

The import settles the variables of the memoised collections with ``BulkVariables``
and falls back to ``Variable.from_proto`` for whatever the bulk path cannot settle; the
differential tests compare the result with TensorFlow. Here the two paths are compared
with each other, entry by entry, on every fixture of the corpus and on hand-made
VariableDefs (as messages and as raw bytes) the bulk path must hand back (None). The
bulk path's Variable objects are made on first use of a collection: the last tests
check that no reader of a collection ever sees that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastmeta
import pytest
from corpus_fixtures import CORPUS, FIXTURES
from fastmeta.graph import _Segment, _Transaction
from fastmeta.protos import variable_pb2
from fastmeta.scoping import VARIABLE_COLLECTIONS
from fastmeta.variables import BulkVariables, Variable


def _describe(v: Variable) -> tuple[Any, ...]:
    def name(x: Any) -> Any:
        return None if x is None else x.name

    return (
        v.name,
        v.op.name,
        name(v.initializer),
        name(v.snapshot),
        name(v.initial_value),
        name(v._graph_element),
        name(v._cached_value),
        v.trainable,
        v.is_resource,
        v.synchronization,
        v.aggregation,
        None if v.save_slice_info is None else v.save_slice_info.spec,
        str(v.to_proto()),
    )


def variables_from_defs(raws: list[bytes], scope: str, *, graph: _Transaction, segment: _Segment) -> list[Any]:
    """The bulk path's Variable for each of ``raws``, None for those it hands back."""
    bulk = BulkVariables(scope, graph=graph, segment=segment, collections={"variables": raws})
    rows = [bulk.settled_row("variables", j) for j in range(len(raws))]
    return [None if r is None else bulk.get_row(r) for r in rows]


def _imported(fixture: str, scope: str) -> tuple[_Transaction, _Segment, list[variable_pb2.VariableDef]]:
    fx = FIXTURES[fixture]
    if fx.get("required_input_map"):
        pytest.skip("fixture needs an input_map")
    path = str(CORPUS / fx["file"])
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(path, import_scope=scope or None, graph=graph)
    meta = fastmeta.read_meta_graph_file(path)
    protos = []
    for key in sorted(meta.collection_def):
        if key in VARIABLE_COLLECTIONS and meta.collection_def[key].WhichOneof("kind") == "bytes_list":
            for raw in meta.collection_def[key].bytes_list.value:
                protos.append(variable_pb2.VariableDef.FromString(raw))
    txn = _Transaction(graph)
    seg = next(p for p in graph._parts if isinstance(p, _Segment))
    return txn, seg, protos


@pytest.mark.parametrize("scope", ["", "imp"])
@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_bulk_equals_from_proto(fixture: str, scope: str) -> None:
    txn, seg, protos = _imported(fixture, scope)
    if not protos:
        pytest.skip("no variables")
    bulk = variables_from_defs([p.SerializeToString() for p in protos], scope, graph=txn, segment=seg)
    assert len(bulk) == len(protos)
    settled = 0
    handed_back = []
    for proto, fast in zip(protos, bulk):
        slow = Variable.from_proto(proto, scope, graph=txn)
        if fast is not None:
            settled += 1
            assert _describe(fast) == _describe(slow)
        else:
            handed_back.append(slow)
    # The bulk path settled something, unless every variable is one it documents it hands
    # back: a resource variable whose snapshot is not its ReadVariableOp (dynamic_rnn's
    # cells read theirs through an Identity).
    assert settled > 0 or all(v.is_resource and v.snapshot.op.type != "ReadVariableOp" for v in handed_back)


def test_bulk_hands_back_what_it_cannot_settle() -> None:
    txn, seg, protos = _imported("mlp_resource_adam", "imp")
    good = next(p for p in protos if p.is_resource and p.snapshot_name)
    cases = []
    for field, value in [
        ("variable_name", "no_such_op:0"),
        ("variable_name", good.variable_name.split(":")[0]),  # an op name, not a tensor
        ("variable_name", good.variable_name.split(":")[0] + ":7"),  # past the outputs
        ("initializer_name", "missing_init"),
        ("snapshot_name", ""),  # resource without snapshot: the /Read/ lookup
        ("snapshot_name", good.variable_name),  # resource snapshot that is not a ReadVariableOp
        ("initial_value_name", "nope:0"),
        ("synchronization", 3),  # ON_READ and trainable: from_proto raises
        ("synchronization", 9),  # not a VariableSynchronization
        ("aggregation", 7),  # not a VariableAggregation
        ("variable_name", "^" + good.variable_name),  # prefixed by from_proto's own rules
        ("variable_name", "loc:@" + good.variable_name),
    ]:
        bad = variable_pb2.VariableDef()
        bad.CopyFrom(good)
        setattr(bad, field, value)
        cases.append(bad)
    raws = [c.SerializeToString() for c in cases]
    assert variables_from_defs(raws, "imp", graph=txn, segment=seg) == [None] * len(cases)
    assert variables_from_defs([good.SerializeToString()], "imp", graph=txn, segment=seg)[0] is not None


def test_bulk_names_are_canonical_and_views_lazy() -> None:
    txn, seg, protos = _imported("mlp_ref", "imp")
    good = next(p for p in protos if p.variable_name.endswith(":0"))
    odd = variable_pb2.VariableDef()
    odd.CopyFrom(good)
    odd.variable_name = good.variable_name[:-1] + "00"  # 'w:00' names the tensor 'w:0'
    fast, fast_odd = variables_from_defs(
        [good.SerializeToString(), odd.SerializeToString()], "imp", graph=txn, segment=seg
    )
    assert fast is not None and fast_odd is not None
    # Nothing is looked up until asked for; then the views equal from_proto's.
    assert "_variable" not in vars(fast) and "_variable" not in vars(fast_odd)
    assert fast.name == fast_odd.name == "imp/" + good.variable_name
    assert "_variable" not in vars(fast)
    slow = Variable.from_proto(odd, "imp", graph=txn)
    assert _describe(fast_odd) == _describe(slow)
    assert "_variable" in vars(fast_odd)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    def varint(v: int) -> bytes:
        out = b""
        while True:
            b, v = v & 0x7F, v >> 7
            out += bytes([b | (0x80 if v else 0)])
            if not v:
                return out

    tag = varint(number << 3 | wire_type)
    return tag + (varint(len(payload)) + payload if wire_type == 2 else payload)


def test_bulk_hands_back_bytes_it_does_not_read_as_protobuf_does() -> None:
    """Bytes the core cannot read exactly as protobuf would go to from_proto (which parses
    them with protobuf and raises what TensorFlow would); bytes it can read settle to the
    same variable as from_proto, unknown fields, repeated scalars and slice info included."""
    txn, seg, protos = _imported("mlp_resource_adam", "imp")
    good = next(p for p in protos if p.is_resource and p.snapshot_name)
    base = good.SerializeToString()
    back = [
        base[:-1],  # truncated
        base + _field(1, 0, b"\x01"),  # variable_name as a varint
        base + _field(7, 2, b"x"),  # trainable as bytes
        base + _field(7, 0, b"\x02"),  # a bool of 2
        base + _field(8, 0, b"\x84\x80\x80\x80\x10"),  # 2^32 + 4: an enum past int32
        base + _field(9, 0, b"\x05"),  # not a VariableAggregation
        base + _field(3, 2, b"\xff\xfe:0"),  # a name that is not UTF-8
        base + _field(4, 2, b"\x0a\x05ab"),  # save_slice_info_def whose own bytes are cut
        base + b"\x0c",  # a stray end-group tag
        # Encodings no serializer writes (protobuf readers differ on some): left to protobuf.
        base + b"\x0a\x83\x00w:0",  # a length in two bytes
        base + b"\x38\x81\x00",  # trainable = 1 in two bytes
        base + b"\xb8\x00\x01",  # a tag in two bytes
        base + b"\x9b\x06\x9c\x06",  # an (empty) group of an unknown field
    ]
    assert variables_from_defs(back, "imp", graph=txn, segment=seg) == [None] * len(back)
    settle = [
        base + _field(99, 2, b"unknown"),  # an unknown field
        base + _field(99, 0, b"\x07"),
        _field(1, 2, b"elsewhere:0") + base,  # repeated scalar: the last one wins
        base + _field(7, 0, b"\x00") + _field(7, 0, b"\x01"),
        base + _field(4, 2, b"\x0a\x01w\x10\x04\x10\x02\x18\x00\x18\x00\x20\x02\x20\x02"),
    ]
    fast = variables_from_defs(settle, "imp", graph=txn, segment=seg)
    for raw, v in zip(settle, fast):
        assert v is not None, raw
        slow = Variable.from_proto(variable_pb2.VariableDef.FromString(raw), "imp", graph=txn)
        assert _describe(v) == _describe(slow)
    assert fast[4].save_slice_info is not None and fast[4].save_slice_info.full_name == "imp/w"


def _variable_keys(graph: fastmeta.Graph) -> list[str]:
    return [k for k in graph.get_all_collection_keys() if k in VARIABLE_COLLECTIONS]


def test_import_defers_variable_objects_until_a_collection_is_read() -> None:
    path = str(CORPUS / FIXTURES["mlp_resource_adam"]["file"])
    graph = fastmeta.Graph()
    saver = fastmeta.import_meta_graph(path, import_scope="imp", graph=graph)
    assert saver is not None
    keys = _variable_keys(graph)
    assert {"variables", "trainable_variables"} <= set(keys)
    # Staged as runs made on first use (the Saver's scope needed one variable at most).
    assert set(keys) <= graph._deferred
    ref = graph.get_collection_ref("variables")
    assert "variables" not in graph._deferred
    assert ref and all(isinstance(v, Variable) for v in ref)
    trainable = graph.get_collection("trainable_variables")
    assert all(isinstance(v, Variable) for v in trainable)
    # One object per VariableDef across the collections, as TensorFlow memoises them.
    by_name = {v.name: v for v in ref}
    assert all(by_name[v.name] is v for v in trainable)
    # The same variables as a graph whose collections were read right away.
    other = fastmeta.Graph()
    fastmeta.import_meta_graph(path, import_scope="imp", graph=other)
    for key in keys:
        assert [_describe(v) for v in graph.get_collection(key)] == [_describe(v) for v in other.get_collection(key)]


@pytest.mark.parametrize("fixture", ["mlp_ref", "mlp_resource_adam", "partitioned", "control_flow_v1"])
def test_an_unscoped_second_import_settles_its_variables_among_the_first_imports_nodes(
    fixture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a scope, a second import's nodes are renamed (w -> w_1) and its
    VariableDefs name the first import's nodes (as TensorFlow's do): the bulk path
    settles them in the first import's segment, deferred as usual (a collection not
    read yet), never through from_proto; the Variables equal those from_proto makes."""
    path = str(CORPUS / FIXTURES[fixture]["file"])
    slow_calls: list[str] = []
    original = Variable.from_proto.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, proto: Any, *args: Any, **kwargs: Any) -> Any:
        slow_calls.append(proto.variable_name)
        return original(cls, proto, *args, **kwargs)

    monkeypatch.setattr(Variable, "from_proto", classmethod(counting))
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(path, graph=graph)
    first = graph.get_collection("variables")
    first_calls, slow_calls[:] = list(slow_calls), []
    fastmeta.import_meta_graph(path, graph=graph)
    assert "trainable_variables" in graph._deferred
    # (only what the first import also made so: collections the bulk path does not
    # memoise, such as global_step's)
    assert slow_calls == first_calls and len(first_calls) <= 1
    both = graph.get_collection("variables")
    assert len(both) == 2 * len(first) and both[: len(first)] == first
    segments = [p for p in graph._parts if isinstance(p, _Segment)]
    assert len(segments) == 2
    txn = _Transaction(graph)
    meta = fastmeta.read_meta_graph_file(path)
    protos = [variable_pb2.VariableDef.FromString(raw) for raw in meta.collection_def["variables"].bytes_list.value]
    for v, proto in zip(both[len(first) :], protos):
        assert v.op._part is segments[0]  # (the first import's node)
        assert _describe(v) == _describe(original(Variable, proto, "", graph=txn))


def test_deferred_collection_keeps_order_with_later_changes() -> None:
    path = str(CORPUS / FIXTURES["mlp_ref"]["file"])
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(path, import_scope="a", graph=graph)
    graph.add_to_collection("variables", "marker")
    fastmeta.import_meta_graph(path, import_scope="b", graph=graph)
    items = graph.get_collection("variables")
    at = items.index("marker")
    assert at > 0 and all(v.name.startswith("a/") for v in items[:at])
    assert items[at + 1 :] and all(v.name.startswith("b/") for v in items[at + 1 :])
    assert graph.get_collection("variables", scope="b/") == items[at + 1 :]
    graph.clear_collection("trainable_variables")
    assert "trainable_variables" not in graph._deferred
    assert graph.get_collection("trainable_variables") == []


def test_deferred_collection_in_a_later_import_and_return_elements() -> None:
    path = str(CORPUS / FIXTURES["mlp_ref"]["file"])
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(path, import_scope="a", graph=graph)
    var_dict, _ = fastmeta.import_scoped_meta_graph_with_return_elements(path, import_scope="b", graph=graph)
    variables = graph.get_collection("variables")
    second = variables[len(variables) // 2 :]
    assert var_dict and sorted(var_dict) == sorted(v.name[2:] for v in second)
    assert all(v.name.startswith("b/") and var_dict[v.name[2:]] is v for v in second)


def test_identity_follows_bytes_when_a_collection_is_not_all_settled(tmp_path: Path) -> None:
    """One Variable per distinct VariableDef (by bytes) across the collections, as
    TensorFlow memoises them, also when one collection holds an entry the bulk path
    leaves to protobuf (that collection is then built entry by entry, the others are
    deferred)."""
    meta = fastmeta.read_meta_graph_file(str(CORPUS / FIXTURES["mlp_ref"]["file"]))
    trainable = list(meta.collection_def["trainable_variables"].bytes_list.value)
    everything = meta.collection_def["variables"].bytes_list.value
    # The first variable's name field with its length in two bytes: the same
    # VariableDef to protobuf, bytes the core does not read.
    first = trainable[0]
    assert first[0] == 0x0A and first[1] < 0x80
    odd = first[:1] + bytes([first[1] | 0x80, 0x00]) + first[2:]
    assert variable_pb2.VariableDef.FromString(odd) == variable_pb2.VariableDef.FromString(first)
    values = list(everything)
    values[values.index(first)] = odd
    del everything[:]
    everything.extend(values)
    path = tmp_path / "odd.meta"
    path.write_bytes(meta.SerializeToString())
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(str(path), import_scope="imp", graph=graph)
    assert "trainable_variables" in graph._deferred and "variables" not in graph._deferred
    by_bytes = dict(zip(values, graph.get_collection("variables")))
    for raw, v in zip(trainable, graph.get_collection("trainable_variables")):
        if raw == first:
            assert by_bytes[odd] is not v and by_bytes[odd].name == v.name
        else:
            assert by_bytes[raw] is v


def test_a_held_collection_list_never_sees_deferred_items() -> None:
    """get_collection_ref hands out the live list: a later import into the graph appends
    real Variables to it, as TensorFlow's list would get them."""
    path = str(CORPUS / FIXTURES["mlp_ref"]["file"])
    graph = fastmeta.Graph()
    fastmeta.import_meta_graph(path, import_scope="a", graph=graph)
    ref = graph.get_collection_ref("variables")
    first = len(ref)
    fastmeta.import_meta_graph(path, import_scope="b", graph=graph)
    assert len(ref) == 2 * first and all(isinstance(v, Variable) for v in ref)
    assert [v.name for v in ref[first:]] == ["b/" + v.name[2:] for v in ref[:first]]
    # A key nobody holds stays deferred across imports.
    assert "trainable_variables" in graph._deferred
