"""Differential tests of ``fastmeta.import_meta_graph`` against TensorFlow's.

One test class (:class:`ImportCases`) runs against two loaders: TensorFlow's
``tf.compat.v1.train.import_meta_graph`` into a fresh ``tf.Graph`` and fastmeta's into a
fresh ``fastmeta.Graph``. Each case compares the loader's outcome (``as_graph_def()``,
every collection item in the loader-neutral form of ``tf_oracle.describe_item``, the
returned Saver's saver_def) with TensorFlow's reference outcome, for every fixture of the
corpus and every variant.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fastmeta  # noqa: E402
import tf_oracle  # noqa: E402
from corpus_fixtures import CORPUS, FIXTURES, IDS  # noqa: E402
from fastmeta.protos import attr_value_pb2, meta_graph_pb2  # noqa: E402
from tf_oracle import Outcome, describe_collections, describe_item, diff_graph_defs  # noqa: E402
from threads_util import run_concurrently  # noqa: E402

VARIANTS = ["no_scope", "scope", "scope_clear_devices", "scope_taken", "no_scope_twice", "input_map"]

# Metas whose saver_def is removed (so TensorFlow builds a fresh Saver()).
SAVERLESS = [
    "mlp_ref",
    "mlp_resource_adam",
    "control_flow_v1",
    "misc_graph",
    "partitioned",
    "saver_v1",
    "stripped_defaults",
    "control_flow_v2",
    "layers_cnn_v2",
    "sync_replicas",
    "variable_scopes",
]


def _path(fx: dict) -> Path:
    return CORPUS / fx["file"]


@functools.cache
def _saverless_bytes(name: str) -> bytes:
    mg = meta_graph_pb2.MetaGraphDef.FromString(_path(FIXTURES[name]).read_bytes())
    mg.ClearField("saver_def")
    return mg.SerializeToString()


# ---------------------------------------------------------------------------
# A variant = a plan of steps any loader can follow.
# ---------------------------------------------------------------------------
class Plan:
    """placeholders to create first, imports to run (the last one is the one returned)."""

    def __init__(self) -> None:
        self.placeholders: list[dict] = []
        self.imports: list[dict] = []


def _plan(fx: dict, variant: str, source: Any = None) -> Plan:
    plan = Plan()
    source = source if source is not None else str(_path(fx))
    req = fx["required_input_map"]
    imap: dict[str, str] = {}
    if req:
        plan.placeholders.append(req["replacement"])
        imap[req["key"]] = req["replacement"]["name"] + ":0"
    base = dict(meta=source, input_map=dict(imap) or None)
    if variant == "no_scope":
        plan.imports.append(base)
    elif variant == "scope":
        plan.imports.append(dict(base, import_scope="imp"))
    elif variant == "scope_clear_devices":
        plan.imports.append(dict(base, import_scope="imp", clear_devices=True))
    elif variant == "scope_taken":
        plan.imports.append(dict(base, import_scope="imp"))
        plan.imports.append(dict(base, import_scope="imp"))
    elif variant == "no_scope_twice":
        # Every node of the second import renamed (x -> x_1); its collections name the
        # first import's nodes, as TensorFlow's do.
        if fx["has_variables"] and not fx["has_saver_def"]:
            pytest.skip("a fresh Saver over both imports' variables is refused (two of one name)")
        plan.imports.append(base)
        plan.imports.append(base)
    elif variant == "input_map":
        spec = fx["input_map"]
        if spec is None:
            pytest.skip("fixture has no input_map spec")
        plan.placeholders.append(spec["replacement"])
        imap[spec["key"]] = spec["replacement"]["name"] + ":0"
        plan.imports.append(dict(base, import_scope="imp", input_map=imap))
    else:
        raise AssertionError(variant)
    return plan


class TFLoader:
    """TensorFlow's import_meta_graph in a fresh tf.Graph."""

    name = "tensorflow"

    def run(self, plan: Plan, **extra: Any) -> Outcome:
        tf = pytest.importorskip("tensorflow")

        def pre(g: Any) -> None:
            for ph in plan.placeholders:
                tf.compat.v1.placeholder(tf.as_dtype(ph["dtype"]), ph["shape"], name=ph["name"])
            for imp in plan.imports[:-1]:
                im = {k: g.get_tensor_by_name(v) for k, v in (imp["input_map"] or {}).items()} or None
                tf.compat.v1.train.import_meta_graph(
                    tf_oracle._fresh_meta(tf, imp["meta"]),
                    import_scope=imp.get("import_scope"),
                    clear_devices=imp.get("clear_devices", False),
                    input_map=im,
                )

        last = plan.imports[-1]
        return tf_oracle.tf_import(
            last["meta"],
            import_scope=last.get("import_scope"),
            clear_devices=last.get("clear_devices", False),
            input_map=last["input_map"],
            pre_import=pre,
            **extra,
        )


class FastmetaLoader:
    """fastmeta.import_meta_graph in a fresh fastmeta.Graph."""

    name = "fastmeta"

    def run(self, plan: Plan, **extra: Any) -> Outcome:
        g = fastmeta.Graph()
        with g.as_default():
            for ph in plan.placeholders:
                g.placeholder(ph["dtype"], ph["shape"], name=ph["name"])
            returned = None
            for imp in plan.imports:
                im = {k: g.get_tensor_by_name(v) for k, v in (imp["input_map"] or {}).items()} or None
                returned = fastmeta.import_meta_graph(
                    imp["meta"],
                    import_scope=imp.get("import_scope"),
                    clear_devices=imp.get("clear_devices", False),
                    input_map=im,
                    **extra,
                )
            gd = g.as_graph_def()
            cols = describe_collections(g)
            saver = describe_item(returned) if returned is not None else None
        return Outcome(graph_def=gd, collections=cols, saver=saver, graph=g, returned=returned)


@functools.cache
def _reference(name: str, variant: str, saverless: bool = False) -> Outcome:
    fx = FIXTURES[name]
    return TFLoader().run(_plan(fx, variant, _saverless_bytes(name) if saverless else None))


def _assert_same(expected: Outcome, got: Outcome) -> None:
    diffs = diff_graph_defs(expected.graph_def, got.graph_def)
    assert diffs == [], "\n".join(diffs[:40])
    assert sorted(got.collections) == sorted(expected.collections)
    for key in expected.collections:
        exp, act = expected.collections[key], got.collections[key]
        assert len(act) == len(exp), f"collection {key!r}: {len(act)} items != {len(exp)}"
        for i, (e, a) in enumerate(zip(exp, act)):
            assert a == e, f"collection {key!r} item {i}"
    assert got.saver == expected.saver


class ImportCases:
    """The differential cases; subclasses set LOADER."""

    LOADER: Any = None

    @pytest.mark.parametrize("variant", VARIANTS)
    @pytest.mark.parametrize("name", IDS)
    def test_corpus(self, name: str, variant: str) -> None:
        pytest.importorskip("tensorflow")
        fx = FIXTURES[name]
        got = self.LOADER.run(_plan(fx, variant))
        _assert_same(_reference(name, variant), got)
        if fx["has_saver_def"] or fx["has_variables"]:
            assert got.saver is not None
        else:
            assert got.saver is None

    @pytest.mark.parametrize("variant", ["no_scope", "scope", "scope_taken"])
    @pytest.mark.parametrize("name", SAVERLESS)
    def test_fresh_saver(self, name: str, variant: str) -> None:
        pytest.importorskip("tensorflow")
        got = self.LOADER.run(_plan(FIXTURES[name], variant, _saverless_bytes(name)))
        _assert_same(_reference(name, variant, True), got)
        assert got.saver is not None

    @pytest.mark.parametrize("predicate", ["no_variables", "no_trainable"])
    def test_restore_collections_predicate(self, predicate: str) -> None:
        pytest.importorskip("tensorflow")
        preds: dict[str, Callable[[str], bool]] = {
            "no_variables": lambda k: k != "variables",
            "no_trainable": lambda k: k != "trainable_variables",
        }
        fx = FIXTURES["mlp_ref"]
        plan = _plan(fx, "scope")
        exp = TFLoader().run(plan, restore_collections_predicate=preds[predicate])
        got = self.LOADER.run(plan, restore_collections_predicate=preds[predicate])
        _assert_same(exp, got)


class TestImportTensorFlow(ImportCases):
    LOADER = TFLoader()


class TestImportFastmeta(ImportCases):
    LOADER = FastmetaLoader()


# ---------------------------------------------------------------------------
# Scenarios: sequences of graph operations, run by both loaders' APIs.
# ---------------------------------------------------------------------------
class _TFApi:
    def __init__(self) -> None:
        self.tf = pytest.importorskip("tensorflow")
        self.graph = self.tf.Graph()

    def import_(self, meta: Any, **kw: Any) -> Any:
        return self.tf.compat.v1.train.import_meta_graph(tf_oracle._fresh_meta(self.tf, meta), **kw)

    def placeholder(self, dtype: str, shape: Any, name: str) -> Any:
        return self.tf.compat.v1.placeholder(self.tf.as_dtype(dtype), shape, name=name)


class _FastmetaApi:
    def __init__(self) -> None:
        self.graph = fastmeta.Graph()

    def import_(self, meta: Any, **kw: Any) -> Any:
        return fastmeta.import_meta_graph(meta, **kw)

    def placeholder(self, dtype: str, shape: Any, name: str) -> Any:
        return self.graph.placeholder(dtype, shape, name=name)


def _run_scenario(api: Any, steps: Callable[[Any], Any]) -> tuple[Outcome, list[Any]]:
    with api.graph.as_default():
        returned, notes = steps(api)
        out = Outcome(
            graph_def=api.graph.as_graph_def(),
            collections=describe_collections(api.graph),
            saver=describe_item(returned) if returned is not None else None,
        )
    return out, notes


def _mlp(api: Any) -> str:
    return str(_path(FIXTURES["mlp_ref"]))


def _sc_unscoped_twice(api: Any) -> Any:
    api.import_(_mlp(api))
    return api.import_(_mlp(api)), []


def _sc_trailing_slash_twice(api: Any) -> Any:
    api.import_(_mlp(api), import_scope="imp/")
    return api.import_(_mlp(api), import_scope="imp/"), []


def _sc_case_insensitive(api: Any) -> Any:
    api.import_(_mlp(api), import_scope="imp")
    api.import_(str(_path(FIXTURES["no_variables"])), import_scope="IMP")
    return api.import_(_mlp(api), import_scope="Imp"), []


def _sc_outer_scope(api: Any) -> Any:
    with api.graph.name_scope("outer"):
        api.import_(str(_path(FIXTURES["no_variables"])), import_scope="in")
        r = api.import_(_mlp(api))
    return r, [api.graph.unique_name("outer", mark_as_used=False)]


def _sc_unique_names(api: Any) -> Any:
    g = api.graph
    names = [g.unique_name(n) for n in ["foo", "Foo", "foo_1", "foo", "bar_1", "bar", "bar"]]
    api.placeholder("float32", [None, 4], "imp")
    r = api.import_(_mlp(api), import_scope="imp")
    names += [g.unique_name(n, mark_as_used=False) for n in ["imp", "imp_1", "IMP_1", "imp_1/layer1", "layer1"]]
    with g.name_scope("a") as s1:
        names.append(s1)
        with g.name_scope("b") as s2:
            names.append(s2)
            names.append(g.unique_name("c"))
        with g.name_scope("a/") as s3:
            names.append(s3)
        with g.name_scope(None) as s4:
            names.append(s4)
            names.append(g.unique_name("c"))
    with g.name_scope("a") as s5:
        names.append(s5)
    return r, names


def _sc_cond_text(api: Any) -> Any:
    api.import_(str(_path(FIXTURES["control_flow_v1"])), import_scope="imp")
    r = api.import_(str(_path(FIXTURES["no_variables"])), import_scope="cond_text")
    return r, [api.graph.unique_name("cond_text", mark_as_used=False)]


def _sc_saverless_scoped_twice(api: Any) -> Any:
    data = _saverless_bytes("mlp_resource_adam")
    api.import_(data, import_scope="a")
    with api.graph.name_scope("outer"):
        return api.import_(data, import_scope="b"), []


def _sc_scoped_after_unscoped(api: Any) -> Any:
    # The Saver's scope comes from the first variable under the import scope: the
    # earlier import's variables come first in the collection and are passed over.
    api.import_(_mlp(api))
    return api.import_(_mlp(api), import_scope="s"), []


def _sc_regex_scope_matches_earlier(api: Any) -> Any:
    # The scope is a regex to get_collection: "a.b" matches the earlier "axb/" variables,
    # the first of which then gives the Saver its scope.
    api.import_(_mlp(api), import_scope="axb")
    return api.import_(_mlp(api), import_scope="a.b"), []


def _sc_prefix_scope_matches_earlier(api: Any) -> Any:
    # "foo" matches the earlier "foo_1/" variables as a prefix, without stripping them.
    api.import_(_mlp(api), import_scope="foo_1")
    return api.import_(_mlp(api), import_scope="foo"), []


def _sc_scopes_inside_earlier_ones(api: Any) -> Any:
    # Scopes under an earlier import's scope: its names are consulted (as names, as
    # scopes, case-folded) for the later imports' names.
    api.import_(_mlp(api), import_scope="imp")
    api.import_(_mlp(api), import_scope="imp/layer1/")
    r = api.import_(_mlp(api), import_scope="IMP/Inner")
    return r, [api.graph.unique_name(n, mark_as_used=False) for n in ("imp/inner", "imp/layer1", "Imp/Layer1/x")]


def _sc_predicate_while(api: Any) -> Any:
    r = api.import_(
        str(_path(FIXTURES["control_flow_v1"])),
        import_scope="imp",
        restore_collections_predicate=lambda k: k != "while_context",
    )
    return r, []


def _sc_unbound_col_disabled(api: Any) -> Any:
    api.placeholder("float32", [None, 4], "outer_x")
    fx = FIXTURES["scoped_export"]
    imap = {"$unbound_inputs_x": api.graph.get_tensor_by_name("outer_x:0")}
    r = api.import_(str(_path(fx)), import_scope="s", input_map=imap, unbound_inputs_col_name=None)
    return r, []


def _sc_export_scope_beside(names: tuple[str, ...], scope: str | None) -> Callable[[Any], Any]:
    """The scoped_export meta (exported with export_scope "sub") imported into a graph that
    already has ops of those names (the first one feeds its unbound input)."""

    def steps(api: Any) -> Any:
        for name in names:
            api.placeholder("float32", [None, 4], name)
        imap = {"$unbound_inputs_x": api.graph.get_tensor_by_name(names[0] + ":0")}
        r = api.import_(str(_path(FIXTURES["scoped_export"])), import_scope=scope, input_map=imap)
        return r, [api.graph.unique_name(n, mark_as_used=False) for n in ("w", "y", "z", "w_1", "sub")]

    return steps


def _sc_repeated_scope(api: Any) -> Any:
    # One scope asked for again and again, with names made in between (some differing
    # only in case, some just past where the scan stopped): TensorFlow keeps a count per
    # lowercased name and scans name_<count>, name_<count+1>, ... for a free one.
    g = api.graph
    small = str(_path(FIXTURES["no_variables"]))
    for name in ("a", "A_1", "a_3"):
        api.placeholder("float32", [], name)
    notes = []
    for _ in range(3):
        api.import_(small, import_scope="a")
        notes.append(g.unique_name("a", mark_as_used=False))
    api.placeholder("float32", [], "A_7")
    notes += [g.unique_name("a"), g.unique_name("A_6", mark_as_used=False)]
    api.import_(small, import_scope="A")
    api.placeholder("float32", [], "a_10")
    with g.name_scope("a") as scope:
        notes.append(scope)
    r = api.import_(small, import_scope="a")
    notes += [g.unique_name(n, mark_as_used=False) for n in ("a", "A", "a_1", "a_9", "A_12")]
    return r, notes


SCENARIOS = {
    "unscoped_twice": _sc_unscoped_twice,
    "repeated_scope": _sc_repeated_scope,
    "trailing_slash_twice": _sc_trailing_slash_twice,
    "case_insensitive": _sc_case_insensitive,
    "outer_scope": _sc_outer_scope,
    "unique_names": _sc_unique_names,
    "cond_text": _sc_cond_text,
    "saverless_scoped_twice": _sc_saverless_scoped_twice,
    "scoped_after_unscoped": _sc_scoped_after_unscoped,
    "regex_scope_matches_earlier": _sc_regex_scope_matches_earlier,
    "prefix_scope_matches_earlier": _sc_prefix_scope_matches_earlier,
    "scopes_inside_earlier_ones": _sc_scopes_inside_earlier_ones,
    "predicate_while": _sc_predicate_while,
    "unbound_col_disabled": _sc_unbound_col_disabled,
    "export_scope_beside_y_z": _sc_export_scope_beside(("outer_x", "y", "z"), None),
    "export_scope_beside_upper_w": _sc_export_scope_beside(("outer_x", "W"), None),
    "export_scope_beside_w_1_y_1": _sc_export_scope_beside(("outer_x", "w_1", "y_1"), None),
    "export_scope_beside_w_scoped": _sc_export_scope_beside(("outer_x", "w", "w/read"), "sub"),
    "export_scope_beside_sub_y_scoped": _sc_export_scope_beside(("outer_x", "sub", "y"), "sub"),
}


@functools.cache
def _scenario_reference(name: str) -> tuple[Outcome, list[Any]]:
    return _run_scenario(_TFApi(), SCENARIOS[name])


class ScenarioCases:
    """Scenario cases; subclasses set API (a factory)."""

    API: Any = None

    @pytest.mark.parametrize("name", sorted(SCENARIOS))
    def test_scenario(self, name: str) -> None:
        pytest.importorskip("tensorflow")
        exp, exp_notes = _scenario_reference(name)
        got, notes = _run_scenario(self.API(), SCENARIOS[name])
        _assert_same(exp, got)
        assert notes == exp_notes


class TestScenarioTensorFlow(ScenarioCases):
    API = _TFApi


class TestScenarioFastmeta(ScenarioCases):
    API = _FastmetaApi


# ---------------------------------------------------------------------------
# Atomicity, errors, caller's message (fastmeta only: TensorFlow is not atomic)
# ---------------------------------------------------------------------------
def _snapshot(g: fastmeta.Graph) -> tuple:
    return (
        g.as_graph_def().SerializeToString(deterministic=True),
        describe_collections(g),
        g.unique_name("imp", mark_as_used=False),
        g.unique_name("save", mark_as_used=False),
        g.num_operations(),
    )


def _populated_graph() -> fastmeta.Graph:
    g = fastmeta.Graph()
    with g.as_default():
        g.placeholder("float32", [None, 4], name="new_x")
        fastmeta.import_meta_graph(str(_path(FIXTURES["mlp_ref"])), import_scope="imp")
    return g


def _with_collection(key: str, values: list[str]) -> meta_graph_pb2.MetaGraphDef:
    mg = meta_graph_pb2.MetaGraphDef.FromString(_path(FIXTURES["mlp_ref"]).read_bytes())
    mg.collection_def[key].node_list.value.extend(values)
    return mg


def test_unresolved_collection_name_names_key_and_entry_and_leaves_graph_unchanged() -> None:
    g = _populated_graph()
    before = _snapshot(g)
    mg = _with_collection("zz_bad", ["logits:0", "no_such_op:0"])
    with pytest.raises(fastmeta.CollectionError) as info:
        fastmeta.import_meta_graph(mg, import_scope="imp", graph=g)
    assert info.value.key == "zz_bad"
    assert info.value.name == "imp_1/no_such_op:0"
    assert "zz_bad" in str(info.value) and "imp_1/no_such_op:0" in str(info.value)
    assert isinstance(info.value, KeyError)
    assert _snapshot(g) == before


def test_unresolved_variable_entry() -> None:
    from fastmeta.protos import variable_pb2

    g = _populated_graph()
    before = _snapshot(g)
    mg = meta_graph_pb2.MetaGraphDef.FromString(_path(FIXTURES["mlp_ref"]).read_bytes())
    bad = variable_pb2.VariableDef(
        variable_name="ghost:0", initializer_name="ghost/Assign", snapshot_name="ghost/read:0"
    )
    mg.collection_def["variables"].bytes_list.value.append(bad.SerializeToString())
    with pytest.raises(fastmeta.CollectionError) as info:
        fastmeta.import_meta_graph(mg, import_scope="s", graph=g)
    assert info.value.key == "variables" and info.value.name == "s/ghost:0"
    assert _snapshot(g) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"synchronization": 64}, "Invalid variable synchronization mode: 64"),
        ({"aggregation": 9}, "Invalid variable aggregation mode: 9"),
        ({"synchronization": 3, "trainable": True}, "ON_READ only for non-trainable variables"),
    ],
)
def test_variable_def_tensorflow_refuses_is_a_typed_value_error(fields: dict[str, Any], message: str) -> None:
    # TensorFlow raises a plain ValueError; fastmeta a CollectionValueError (a fastmeta.Error,
    # a CollectionError and a ValueError) naming the collection and the variable, and the
    # target graph is left as it was.
    from fastmeta.protos import variable_pb2

    g = _populated_graph()
    before = _snapshot(g)
    mg = meta_graph_pb2.MetaGraphDef.FromString(_path(FIXTURES["mlp_ref"]).read_bytes())
    raw = mg.collection_def["variables"].bytes_list.value[0]
    bad = variable_pb2.VariableDef.FromString(raw)
    for name, value in fields.items():
        setattr(bad, name, value)
    mg.collection_def["variables"].bytes_list.value[0] = bad.SerializeToString()
    with pytest.raises(fastmeta.CollectionValueError) as info:
        fastmeta.import_meta_graph(mg, import_scope="s", graph=g)
    assert isinstance(info.value, ValueError) and isinstance(info.value, fastmeta.CollectionError)
    assert message in str(info.value) and "collection 'variables'" in str(info.value)
    assert info.value.key == "variables" and info.value.name == bad.variable_name
    assert _snapshot(g) == before


def _resource_variable_named(data: bytes, old: str, new: str) -> bytes:
    from fastmeta.protos import variable_pb2

    mg = meta_graph_pb2.MetaGraphDef.FromString(data)
    for key in ("variables", "trainable_variables"):
        values = mg.collection_def[key].bytes_list.value
        for i, raw in enumerate(values):
            vd = variable_pb2.VariableDef.FromString(raw)
            if vd.variable_name == old:
                vd.variable_name = new
                values[i] = vd.SerializeToString()
    return mg.SerializeToString()


@pytest.mark.parametrize("case", ["existing_op_of_that_name", "op_without_shape_attr"])
def test_a_resource_variable_whose_handle_op_has_no_shape_is_refused_as_in_tensorflow(case: str) -> None:
    # TensorFlow's ResourceVariable.from_proto reads the handle op's shape and dtype attrs:
    # a variable name resolving to an op without them (the graph's own op of that name,
    # in an unscoped import; or a file naming another op) is a ValueError. fastmeta
    # refused it neither on the bulk path nor in from_proto.
    from fastmeta.protos import attr_value_pb2

    tf = pytest.importorskip("tensorflow")
    data = _path(FIXTURES["mlp_resource_adam"]).read_bytes()
    if case == "op_without_shape_attr":
        data = _resource_variable_named(data, "layer1/weights:0", "layer1/MatMul:0")
    existing = ["layer1/weights"] if case == "existing_op_of_that_name" else []
    with tf.Graph().as_default():
        for name in existing:
            tf.constant(1.0, name=name)
        with pytest.raises(ValueError) as want:
            tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data))
    g = fastmeta.Graph()
    for name in existing:
        value = attr_value_pb2.AttrValue()
        value.tensor.dtype = 1  # DT_FLOAT
        value.tensor.float_val.append(1.0)
        g.create_op("Const", attrs={"dtype": attr_value_pb2.AttrValue(type=1), "value": value}, name=name)
    before = _snapshot(g)
    with g.as_default(), pytest.raises(fastmeta.CollectionValueError) as got:
        fastmeta.import_meta_graph(data)
    assert str(want.value) in str(got.value) and got.value.key in ("variables", "trainable_variables")
    assert _snapshot(g) == before


def test_a_fresh_saver_over_variables_of_one_name_is_a_typed_error() -> None:
    # No saver_def: the import builds a Saver over the variables, which refuses two of one
    # name (TensorFlow: ValueError "At least two variables have the same name").
    from fastmeta.protos import variable_pb2

    mg = meta_graph_pb2.MetaGraphDef.FromString(_path(FIXTURES["mlp_ref"]).read_bytes())
    mg.ClearField("saver_def")
    values = mg.collection_def["variables"].bytes_list.value
    twin = variable_pb2.VariableDef.FromString(values[0])
    twin.trainable = not twin.trainable  # other bytes, so another Variable object of that name
    values.append(twin.SerializeToString())
    g = fastmeta.Graph()
    with g.as_default(), pytest.raises(fastmeta.CollectionValueError) as info:
        fastmeta.import_meta_graph(mg)
    assert "At least two variables have the same name" in str(info.value) and info.value.key == "variables"
    assert g.get_operations() == []


def test_return_element_not_in_the_graph_is_a_graph_error() -> None:
    with pytest.raises(fastmeta.GraphError) as info:
        fastmeta.import_scoped_meta_graph_with_return_elements(
            _path(FIXTURES["mlp_ref"]), graph=fastmeta.Graph(), return_elements=["no_such_op:0"]
        )
    assert isinstance(info.value, ValueError) and "no_such_op" in str(info.value)


def test_bad_input_map_leaves_graph_unchanged() -> None:
    g = _populated_graph()
    before = _snapshot(g)
    path = str(_path(FIXTURES["mlp_ref"]))
    with g.as_default():
        with pytest.raises(fastmeta.InputMapError):  # key not in the graph_def
            fastmeta.import_meta_graph(path, import_scope="imp", input_map={"nope:0": g.get_tensor_by_name("new_x:0")})
        with pytest.raises(fastmeta.GraphError):  # a str: a string constant onto a float input
            fastmeta.import_meta_graph(path, import_scope="imp", input_map={"x:0": "new_x:0"})
        with pytest.raises(fastmeta.InputMapTypeError):  # an operation after a constant
            fastmeta.import_meta_graph(
                path, import_scope="imp", input_map={"y:0": 1.0, "x:0": g.get_operation_by_name("new_x")}
            )
        other = fastmeta.Graph().placeholder("float32", [None, 4], name="t")
        with pytest.raises(fastmeta.InputMapError):  # tensor of another graph
            fastmeta.import_meta_graph(path, import_scope="imp", input_map={"x:0": other})
    assert _snapshot(g) == before


def _noops(names: list[str]) -> bytes:
    meta = meta_graph_pb2.MetaGraphDef()
    for name in names:
        meta.graph_def.node.add(name=name, op="NoOp")
    return meta.SerializeToString()


def test_finding_a_free_scope_does_not_rescan(monkeypatch: pytest.MonkeyPatch) -> None:
    # A graph holding a, a_1 ... a_<k-1>: each import into scope "a" lands in the next
    # a_<j>. TensorFlow scans a_<count> ... up to a free name each time (every import
    # did, twice: k*imports name lookups); the run found in use is skipped, so the scans
    # look at each name about once, however many imports (counted, not timed).
    k, imports = 400, 25
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(_noops(["a"] + [f"a_{i}" for i in range(1, k)]), graph=g)
    calls: list[str] = []
    in_use = fastmeta.Graph._in_use

    def counted(names: dict[str, int], parts: Any, key: str) -> bool:
        calls.append(key)
        return in_use(names, parts, key)

    monkeypatch.setattr(fastmeta.Graph, "_in_use", staticmethod(counted))
    small = _noops(["x"])
    for _ in range(imports):
        fastmeta.import_meta_graph(small, import_scope="a", graph=g)
    assert [op.name for op in g.get_operations()][k:] == [f"a_{k + i}/x" for i in range(imports)]
    assert len(calls) < k + 5 * imports
    assert len(calls) - len(set(calls)) < 5 * imports  # (each name looked at about once)


def test_a_failed_import_leaves_no_trace_in_the_scope_count() -> None:
    # The run of names a scoped import's scan finds in use is staged with its names: a
    # failed import (here the input_map names no tensor of the file) adds none, and the
    # next import gets the scope the failed one would have had.
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(_noops(["a", "a_1", "a_2"]), graph=g)
    x = g.placeholder("float32", [], name="x")
    before = _snapshot(g), g.unique_name("a", mark_as_used=False)
    with pytest.raises(fastmeta.InputMapError):
        fastmeta.import_meta_graph(_noops(["y"]), import_scope="a", input_map={"nothere:0": x}, graph=g)
    assert (_snapshot(g), g.unique_name("a", mark_as_used=False)) == before == (before[0], "a_3")
    fastmeta.import_meta_graph(_noops(["y"]), import_scope="a", graph=g)
    assert g.get_operations()[-1].name == "a_3/y"


def test_unbound_inputs_must_be_mapped() -> None:
    g = fastmeta.Graph()
    before = _snapshot(g)
    with pytest.raises(ValueError, match="unbound inputs"):
        fastmeta.import_meta_graph(str(_path(FIXTURES["scoped_export"])), graph=g)
    assert _snapshot(g) == before


def test_failed_fresh_saver_leaves_graph_unchanged() -> None:
    g = fastmeta.Graph()
    data = _saverless_bytes("mlp_resource_adam")
    with g.as_default():
        fastmeta.import_meta_graph(data)
        before = _snapshot(g)
        with pytest.raises(ValueError, match="At least two variables have the same name"):
            fastmeta.import_meta_graph(data)
    assert _snapshot(g) == before


def test_callers_message_is_not_modified() -> None:
    data = _path(FIXTURES["mlp_ref"]).read_bytes()
    mg = meta_graph_pb2.MetaGraphDef.FromString(data)
    for _ in range(2):
        g = fastmeta.Graph()
        saver = fastmeta.import_meta_graph(mg, import_scope="imp", clear_devices=True, graph=g)
        assert saver is not None and saver.saver_def.restore_op_name == "imp/save/restore_all"
    fresh = meta_graph_pb2.MetaGraphDef.FromString(data)
    assert mg.SerializeToString(deterministic=True) == fresh.SerializeToString(deterministic=True)
    assert mg.saver_def.restore_op_name == "save/restore_all"
    tf = pytest.importorskip("tensorflow")
    tf_mg = tf.compat.v1.MetaGraphDef.FromString(data)
    fastmeta.import_meta_graph(tf_mg, import_scope="imp", clear_devices=True, graph=fastmeta.Graph())
    fresh_tf = tf.compat.v1.MetaGraphDef.FromString(data)
    assert tf_mg.SerializeToString(deterministic=True) == fresh_tf.SerializeToString(deterministic=True)


def test_bad_scope_and_kwargs() -> None:
    g = fastmeta.Graph()
    path = str(_path(FIXTURES["no_variables"]))
    with pytest.raises(ValueError):
        fastmeta.import_meta_graph(path, import_scope="-bad", graph=g)
    with pytest.raises(TypeError):
        fastmeta.import_meta_graph(path, graph=g, no_such_kwarg=1)
    assert g.num_operations() == 0


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------
def _fingerprint(name: str, scope: str | None) -> tuple:
    g = fastmeta.Graph()
    with g.as_default():
        saver = fastmeta.import_meta_graph(str(_path(FIXTURES[name])), import_scope=scope)
        return (
            g.as_graph_def().SerializeToString(deterministic=True),
            describe_collections(g),
            describe_item(saver) if saver is not None else None,
        )


def test_threads_equal_sequential() -> None:
    # (text-format fixtures need TensorFlow's Any types in the descriptor pool: see
    # test_text_format_without_tensorflow_descriptors)
    jobs = [
        (n, s)
        for n in IDS
        if not FIXTURES[n]["required_input_map"] and FIXTURES[n]["format"] == "binary"
        for s in (None, "imp")
    ]
    expected = {job: _fingerprint(*job) for job in jobs}
    results: dict[tuple, tuple] = {}
    errors: list[BaseException] = []

    def work(chunk: list[tuple]) -> None:
        try:
            for job in chunk:
                results[job] = _fingerprint(*job)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(jobs[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == expected


def test_concurrent_imports_into_one_graph_are_serialised() -> None:
    g = fastmeta.Graph()
    path = str(_path(FIXTURES["mlp_ref"]))
    run_concurrently(lambda: fastmeta.import_meta_graph(path, import_scope="tower", graph=g))
    names = [op.name for op in g.get_operations()]
    assert len(names) == len(set(names)) == 4 * FIXTURES["mlp_ref"]["num_nodes"]
    scopes = {n.split("/")[0] for n in names}
    assert scopes == {"tower", "tower_1", "tower_2", "tower_3"}
    assert len(g.get_collection("variables")) == 4 * len(g.get_collection("variables", scope="tower/"))


# ---------------------------------------------------------------------------
# Graph API
# ---------------------------------------------------------------------------
def test_graph_lookups() -> None:
    g = _populated_graph()
    x = g.get_operation_by_name("imp/x")
    assert x.type == "Placeholder" and x.name == "imp/x" and x.inputs == []
    t = g.get_tensor_by_name("imp/logits:0")
    assert t.op.name == "imp/logits" and t.value_index == 0 and t.name == "imp/logits:0"
    assert t.dtype == 1  # DT_FLOAT
    assert g.as_graph_element("imp/logits") == t.op
    assert g.as_graph_element("imp/logits:0") == t
    assert t.op.outputs == [t]
    assert all(isinstance(i, fastmeta.Tensor) for i in t.op.inputs)
    with pytest.raises(KeyError):
        g.get_operation_by_name("nope")
    with pytest.raises(KeyError):
        g.get_tensor_by_name("imp/logits:7")
    with pytest.raises(ValueError):
        g.get_tensor_by_name("imp/logits")
    with pytest.raises(ValueError):
        g.get_operation_by_name("imp/logits:0")
    with pytest.raises(ValueError):
        g.as_graph_element("a:b:c")
    ops = g.get_operations()
    assert ops[0].name == "new_x" and len(ops) == g.num_operations()
    assert g.get_operation_by_name("new_x").get_attr("dtype") == 1
    init = [op for op in ops if op.control_inputs]
    assert init and all(isinstance(c, fastmeta.Operation) for c in init[0].control_inputs)
    colocated = [op for op in ops if "_class" in op.node_def.attr]
    assert colocated and colocated[0].colocation_groups()[0].startswith(b"loc:@imp/")


def test_graph_lookups_agree_with_tensorflow() -> None:
    tf = pytest.importorskip("tensorflow")
    path = str(_path(FIXTURES["control_flow_v1"]))
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.train.import_meta_graph(path, import_scope="imp")
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(path, import_scope="imp", graph=g)
    tops = tg.get_operations()
    fops = g.get_operations()
    assert [o.name for o in tops] == [o.name for o in fops]
    for to, fo in zip(tops, fops):
        assert [t.name for t in to.inputs] == [t.name for t in fo.inputs], to.name
        assert sorted(c.name for c in to.control_inputs) == sorted(c.name for c in fo.control_inputs)
        assert to.device == fo.device
        if len(fo.outputs) or len(to.outputs):
            assert [t.name for t in to.outputs] == [t.name for t in fo.outputs], to.name
            assert [t.dtype.as_datatype_enum for t in to.outputs] == [t.dtype for t in fo.outputs]
    for scope in (None, "imp/", "imp/w", "nothing"):
        assert [v.name for v in tg.get_collection("variables", scope=scope)] == [
            v.name for v in g.get_collection("variables", scope=scope)
        ]


def _walk(graph: Any) -> list[tuple]:
    """Each op's inputs, control inputs, and its outputs' consumers and control outputs
    (the last three as sorted names: TensorFlow orders them by its internal edge sets)."""
    return [
        (
            op.name,
            [t.name for t in op.inputs],
            sorted(c.name for c in op.control_inputs),
            [sorted(c.name for c in t.consumers()) for t in op.outputs],
            sorted(c.name for c in op._control_outputs),
        )
        for op in graph.get_operations()
    ]


@pytest.mark.parametrize(
    ("name", "x", "target"),
    [
        ("mlp_ref", "x", "a/save/RestoreV2:3"),
        ("misc_graph", "x", "a/save/RestoreV2:2"),
        ("keras_rnn_v1", "head_target", "a/save/RestoreV2:3"),
    ],
)
def test_graph_walk_agrees_with_tensorflow(name: str, x: str, target: str) -> None:
    """Inputs, consumers and control outputs across two imports (the second with an
    input_map onto a later output of a node of the first) and an op created after them."""
    tf = pytest.importorskip("tensorflow")
    path = str(_path(FIXTURES[name]))
    mapped = {f"{x}:0": target}
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.train.import_meta_graph(path, import_scope="a")
        restored = tg.get_tensor_by_name(target)
        tf.compat.v1.train.import_meta_graph(
            path, import_scope="b", input_map={k: tg.get_tensor_by_name(v) for k, v in mapped.items()}
        )
        with tf.control_dependencies([tg.get_operation_by_name("b/save/Const")]):
            tf.identity(restored, name="probe")
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(path, import_scope="a", graph=g)
    fastmeta.import_meta_graph(
        path, import_scope="b", graph=g, input_map={k: g.get_tensor_by_name(v) for k, v in mapped.items()}
    )
    g.create_op(
        "Identity",
        [g.get_tensor_by_name(target)],
        attrs={"T": attr_value_pb2.AttrValue(type=1)},
        name="probe",
        control_inputs=[g.get_operation_by_name("b/save/Const")],
    )
    want, got = _walk(tg), _walk(g)
    assert [w[0] for w in want] == [o[0] for o in got]
    for w, o in zip(want, got):
        assert w == o, w[0]
    # one entry per edge, in creation order
    restored_consumers = [c.name for c in g.get_tensor_by_name(target).consumers()]
    assert restored_consumers[0].startswith("a/") and restored_consumers[-1] == "probe"
    assert len(restored_consumers) == len(restored.consumers())


def test_a_tensor_read_twice_lists_its_consumer_twice() -> None:
    g = fastmeta.Graph()
    x = g.placeholder("float32", [2], name="x")
    add = g.create_op("AddV2", [x, x], attrs={}, name="add")
    g.create_op("NoOp", control_inputs=[add], name="after")
    assert [c.name for c in x.consumers()] == ["add", "add"]
    assert [c.name for c in add._control_outputs] == ["after"]
    assert add.outputs == [] or add.outputs[0].consumers() == []
    assert x.op._control_outputs == []


def test_empty_collections_make_no_keys_as_in_tensorflow() -> None:
    # A collection_def whose list is set but empty adds nothing, so no key either; the
    # variable collections take a bulk path of their own.
    tf = pytest.importorskip("tensorflow")
    src = meta_graph_pb2.MetaGraphDef.FromString(_path(FIXTURES["mlp_ref"]).read_bytes())
    src.collection_def["local_variables"].bytes_list.SetInParent()
    src.collection_def["my_list"].bytes_list.SetInParent()
    src.collection_def["my_nodes"].node_list.SetInParent()
    data = src.SerializeToString()
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data), import_scope="imp")
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(data, import_scope="imp", graph=g)
    assert "variables" in g.get_all_collection_keys()
    assert sorted(g.get_all_collection_keys()) == sorted(tg.get_all_collection_keys())


def test_collections_api() -> None:
    g = fastmeta.Graph()
    g.add_to_collection("k", 1)
    g.add_to_collections(["k", "j"], 2)
    ref = g.get_collection_ref("k")
    ref.append(3)
    assert g.get_collection("k") == [1, 2, 3] and g.get_collection("j") == [2]
    assert sorted(g.get_all_collection_keys()) == ["j", "k"]
    fastmeta.import_meta_graph(str(_path(FIXTURES["mlp_ref"])), graph=g, import_scope="a")
    ref_vars = g.get_collection_ref("variables")
    fastmeta.import_meta_graph(str(_path(FIXTURES["mlp_ref"])), graph=g, import_scope="b")
    assert ref_vars is g.get_collection_ref("variables")  # live list extended in place
    assert {v.name.split("/")[0] for v in ref_vars} == {"a", "b"}
    assert all(v.name.startswith("b/") for v in g.get_collection("variables", scope="b"))


def test_variables_memoised_and_properties() -> None:
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(str(_path(FIXTURES["mlp_ref"])), graph=g, import_scope="imp")
    trainable = g.get_collection("trainable_variables")
    everything = g.get_collection("variables")
    assert all(any(t is v for v in everything) for t in trainable)
    w = next(v for v in everything if v.name == "imp/layer1/weights:0")
    assert not w.is_resource and w.op.type == "VariableV2" and w.dtype == 101
    assert w.initializer.type == "Assign" and w.snapshot.op.type == "Identity"
    assert w.initial_value is not None and w.trainable
    assert w.to_proto(export_scope="imp").variable_name == "layer1/weights:0"
    g2 = fastmeta.Graph()
    fastmeta.import_meta_graph(str(_path(FIXTURES["mlp_resource_adam"])), graph=g2)
    rv = g2.get_collection("trainable_variables")[0]
    assert rv.is_resource and rv.op.type == "VarHandleOp" and rv.snapshot.op.type == "ReadVariableOp"


def test_graph_kwarg_pitfall_saver_in_default_graph() -> None:
    """With graph=g and no saver_def, TensorFlow checks (and would build the Saver in)
    the default graph: None here although g holds variables."""
    data = _saverless_bytes("mlp_resource_adam")
    g = fastmeta.Graph()
    default = fastmeta.Graph()
    with default.as_default():
        assert fastmeta.import_meta_graph(data, graph=g) is None
        assert default.num_operations() == 0 and g.get_collection("variables")
        # the default graph has variables now: the fresh Saver's ops go there
        fastmeta.import_meta_graph(data, import_scope="d")
        n = default.num_operations()
        saver = fastmeta.import_meta_graph(data, graph=g)
        assert saver is not None and saver.saver_def.restore_op_name == "save_1/restore_all"
        assert default.num_operations() > n
        assert not any(op.name.startswith("save_1/") for op in g.get_operations())


def test_return_elements() -> None:
    g = _populated_graph()
    var_list, elements = fastmeta.import_scoped_meta_graph_with_return_elements(
        str(_path(FIXTURES["mlp_ref"])), graph=g, return_elements=["logits:0", "x", "train_gd"]
    )
    assert elements is not None
    assert [e.name for e in elements] == ["logits:0", "x", "train_gd"]
    assert isinstance(elements[0], fastmeta.Tensor) and isinstance(elements[1], fastmeta.Operation)
    assert "layer1/weights:0" in var_list
    # a renamed node (unscoped re-import): the element is the new copy
    _, again = fastmeta.import_scoped_meta_graph_with_return_elements(
        str(_path(FIXTURES["mlp_ref"])), graph=g, return_elements=["logits:0"]
    )
    assert again is not None and again[0].name == "logits_1:0"
    with pytest.raises(ValueError):
        fastmeta.import_scoped_meta_graph_with_return_elements(
            str(_path(FIXTURES["mlp_ref"])), graph=g, return_elements=["missing"]
        )


def test_default_graph_stack() -> None:
    fastmeta.reset_default_graph()
    d = fastmeta.get_default_graph()
    assert fastmeta.get_default_graph() is d
    g = fastmeta.Graph()
    with g.as_default():
        assert fastmeta.get_default_graph() is g
        with pytest.raises(AssertionError):
            fastmeta.reset_default_graph()
        seen: list[fastmeta.Graph] = []
        t = threading.Thread(target=lambda: seen.append(fastmeta.get_default_graph()))
        t.start()
        t.join()
        assert seen == [d]  # the stack is per thread
    fastmeta.reset_default_graph()
    assert fastmeta.get_default_graph() is not d


def test_text_format_without_tensorflow_descriptors() -> None:
    """Text-format Any expansions ([type.googleapis.com/tensorflow.X]) parse TF-free."""
    import subprocess

    path = str(_path(FIXTURES["text_small"]))
    code = (
        "import sys, fastmeta\n"
        f"fastmeta.import_meta_graph({path!r}, graph=fastmeta.Graph())\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("shape", [None, [], [3], [None, 4]])
def test_placeholder_attrs_as_tensorflow_writes_them(shape: list[int | None] | None) -> None:
    tf = pytest.importorskip("tensorflow")
    with tf.Graph().as_default() as g:
        tf.compat.v1.placeholder(tf.float32, shape, name="p")
    fm = fastmeta.Graph()
    fm.placeholder("float32", shape, name="p")
    assert diff_graph_defs(fm.as_graph_def(), g.as_graph_def()) == []


@pytest.mark.parametrize("flag", ["yes", 1, [], ""])
def test_clear_devices_is_read_for_its_truth_as_in_tensorflow(flag: Any) -> None:
    tf = pytest.importorskip("tensorflow")
    path = str(_path(FIXTURES["ema_replicas"]))
    with tf.Graph().as_default() as tg:
        tf.compat.v1.train.import_meta_graph(path, clear_devices=flag)
    g = fastmeta.Graph()
    fastmeta.import_meta_graph(path, clear_devices=flag, graph=g)
    assert [op.device for op in g.get_operations()] == [op.device for op in tg.get_operations()]
    assert any(op.device for op in g.get_operations()) == (not flag)
