"""Property tests: the C++ rewrite equals the pure-Python reference on random graphs."""

from __future__ import annotations

from typing import Any

import fastmeta
import pytest
from fastmeta import _core
from fastmeta.protos import attr_value_pb2, graph_pb2, op_def_pb2, types_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_rewrite import RefError, reference_rewrite

NAME_PARTS = ["a", "b", "c", "x_1", "A", "loop", "w.0", "d-e"]
OPS = ["Const", "Identity", "AddN", "Merge", "NextIteration", "Foo", "NoOp"]
DEVICES = [
    "",
    "/gpu:0",
    "/cpu:0",
    "/job:ps/task:0/cpu:0",
    "/job:worker/replica:0/task:1/device:GPU:0",
    "/device:GPU:*",
    "/task:1/job:ps",
    "cpu:1",
    "/device:XLA_CPU:0",
    "/job:w/device:gpu:1",
    "/device:cpu:*",
]


def op_list() -> op_def_pb2.OpList:
    """The random graphs' op list: defaults to restore, and signatures the graphs keep
    (any number of inputs: N, which each node sets to its count of data inputs; three
    outputs, the most an input names)."""
    ops = op_def_pb2.OpList()
    foo = ops.op.add(name="Foo")
    foo.attr.add(name="alpha", type="float", default_value=attr_value_pb2.AttrValue(f=0.5))
    foo.attr.add(name="mode", type="string", default_value=attr_value_pb2.AttrValue(s=b"fast"))
    ident = ops.op.add(name="Identity")
    for op in (foo, ident):
        op.attr.add(name="T", type="type")
        op.attr.add(name="N", type="int")
        op.input_arg.add(name="x", type_attr="T", number_attr="N")
        for k in range(3):
            op.output_arg.add(name=f"y{k}", type_attr="T")
    return ops


@st.composite
def graphs(draw: Any) -> graph_pb2.GraphDef:
    n = draw(st.integers(min_value=1, max_value=14))
    names: list[str] = []
    while len(names) < n:
        depth = draw(st.integers(min_value=1, max_value=3))
        name = "/".join(draw(st.sampled_from(NAME_PARTS)) for _ in range(depth))
        if name not in names:
            names.append(name)
    gd = graph_pb2.GraphDef()
    for name in names:
        node = gd.node.add(name=name, op=draw(st.sampled_from(OPS)))
        data = draw(st.lists(st.sampled_from(names), max_size=3))
        for src in data:
            form = draw(st.integers(0, 2))
            node.input.append(src if form == 0 else f"{src}:{draw(st.integers(0, 2)) if form == 1 else 0}")
        for src in draw(st.lists(st.sampled_from(names), max_size=3)):
            node.input.append("^" + src)
        node.device = draw(st.sampled_from(DEVICES))
        if draw(st.booleans()):
            targets = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2))
            node.attr["_class"].list.s.extend(f"loc:@{t}".encode() for t in targets)
        if draw(st.booleans()):
            node.attr["_output_shapes"].list.shape.add()
        if node.op in ("Foo", "Identity"):  # (their OpDefs' attrs without a default)
            node.attr["T"].type = types_pb2.DT_FLOAT
            node.attr["N"].i = len(data)
        if node.op == "Foo" and draw(st.booleans()):
            node.attr["alpha"].f = 2.0
        if node.op == "Foo" and draw(st.booleans()):
            node.attr["mode"].CopyFrom(attr_value_pb2.AttrValue())  # present but unset
    gd.versions.producer = 27
    return gd


def core_rewrite(gd: graph_pb2.GraphDef, **kwargs: Any) -> graph_pb2.GraphDef:
    existing = kwargs.pop("existing", ())
    result = _core.rewrite_graph_def(
        gd.SerializeToString(), op_list().SerializeToString(), existing_names=list(existing), **kwargs
    )
    return graph_pb2.GraphDef.FromString(result.graph_def())


def both(gd: graph_pb2.GraphDef, **kwargs: Any) -> tuple[Any, Any]:
    try:
        ref: Any = reference_rewrite(
            gd,
            op_list(),
            prefix=kwargs.get("prefix", ""),
            clear_devices=kwargs.get("clear_devices", False),
            input_map=dict(kwargs.get("input_map", [])),
            existing=frozenset(kwargs.get("existing", ())),
        )
    except RefError:
        ref = RefError
    try:
        ours: Any = core_rewrite(gd, **kwargs)
    except fastmeta.Error:
        ours = RefError
    return ours, ref


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(graphs(), st.sampled_from(["", "imp", "a/b"]), st.booleans())
def test_core_matches_reference(gd: graph_pb2.GraphDef, prefix: str, clear: bool) -> None:
    ours, ref = both(gd, prefix=prefix, clear_devices=clear)
    if ref is RefError or ours is RefError:
        assert ours is ref
        return
    assert [n.name for n in ours.node] == [n.name for n in ref.node]
    for a, b in zip(ours.node, ref.node):
        assert a == b, f"node {a.name}:\n{a}\nvs reference\n{b}"
    assert ours == ref


@SETTINGS
@given(graphs(), st.data())
def test_uniquify_against_existing_names(gd: graph_pb2.GraphDef, data: Any) -> None:
    names = [n.name for n in gd.node]
    existing = data.draw(st.lists(st.sampled_from(names + [f"{x}_1" for x in names] + ["imp/" + x for x in names])))
    prefix = data.draw(st.sampled_from(["", "imp"]))
    ours, ref = both(gd, prefix=prefix, existing=existing)
    assert (ours is RefError and ref is RefError) or ours == ref


@SETTINGS
@given(graphs(), st.data())
def test_input_map_matches_reference(gd: graph_pb2.GraphDef, data: Any) -> None:
    inputs = sorted({s for n in gd.node for s in n.input})
    if not inputs:
        return
    keys = data.draw(st.lists(st.sampled_from(inputs), min_size=1, max_size=3, unique=True))
    input_map = [(k, "^mapped_" + str(i) if k.startswith("^") else f"mapped_{i}:{i % 2}") for i, k in enumerate(keys)]
    # "x" and "x:0" are one key: keep the first spelling only.
    seen: set[tuple[str, int]] = set()
    unique = []
    for k, v in input_map:
        from reference_rewrite import parse_tensor_name

        if parse_tensor_name(k) not in seen:
            seen.add(parse_tensor_name(k))
            unique.append((k, v))
    ours, ref = both(gd, prefix="imp", input_map=unique)
    assert (ours is RefError and ref is RefError) or ours == ref


def test_unused_input_map_key_is_named() -> None:
    gd = graph_pb2.GraphDef()
    gd.node.add(name="a", op="Const")
    with pytest.raises(fastmeta.InputMapError, match=r"\[nope:0, \^other\]"):
        core_rewrite(gd, input_map=[("nope", "t:0"), ("^other", "^t")])


def test_strip_name_scope_inverts_prepend() -> None:
    from fastmeta.scoping import prepend_name_scope, strip_name_scope

    for scope in ["imp", "imp/", "a.b", "a-b/c"]:
        for name in ["x", "x:1", "^x", "loc:@x", "s/x"]:
            assert strip_name_scope(prepend_name_scope(name, scope), scope) == name


@pytest.mark.parametrize(
    "scope", ["a", "a/", "^a", "loc:@a", "a/b", "", "/", "l", "loc:", "a.b", "a.b/", "a-b", ".", "a..", "a-.b"]
)
def test_strip_name_scope_as_tensorflow(scope: str) -> None:
    # TensorFlow's strip_name_scope is a regex substitution with the scope spliced in
    # unescaped: markers anywhere in the name, '.' matching any character. fastmeta cuts
    # plain names under the scope by slicing; on every combination of the pieces the
    # rule looks at, both forms must agree with TensorFlow's own function.
    pytest.importorskip("tensorflow")
    import itertools

    from fastmeta.scoping import strip_name_scope, strip_name_scopes
    from tensorflow.python.framework import ops

    pieces = ["", "a", "/", "^", "loc:@", "b", "a/", "ab", ".", "a.b/", "axb/", "a-b/"]
    names = ["".join(combo) for combo in itertools.product(pieces, repeat=3)]
    expected = [ops.strip_name_scope(name, scope) for name in names]
    for name, want in zip(names, expected):
        assert strip_name_scope(name, scope) == want, (name, scope)
    assert strip_name_scopes(names, scope) == expected  # the many-names form


def test_collection_scope_filter_is_a_regex_match_at_the_start() -> None:
    # get_collection(key, scope) keeps the items whose name the regex `scope` matches at
    # the start (TensorFlow's rule); a scope with no regex syntax takes a startswith path.
    import itertools
    import re

    from fastmeta.graph import _filter_scope

    class Named:
        def __init__(self, name: object) -> None:
            self.name = name

    pieces = ["", "a", "/", "b", ".", "_1", "A"]
    items = [Named("".join(c)) for c in itertools.product(pieces, repeat=3)]
    items += [Named(None), Named(3), object()]
    for scope in ["", "a", "a/", "a/b", "A", "a_1", "a.", "a.b", "a|b", "(a)", "a/.*b", "[ab]/", "a+"]:
        want = [i for i in items if isinstance(getattr(i, "name", None), str) and re.match(scope, i.name)]
        assert _filter_scope(items, scope) == want, scope
    assert _filter_scope(items, None) == items
