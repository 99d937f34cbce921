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
import json
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fastmeta  # noqa: E402
import tf_oracle  # noqa: E402
from fastmeta.protos import meta_graph_pb2  # noqa: E402
from tf_oracle import Outcome, describe_collections, describe_item, diff_graph_defs  # noqa: E402

CORPUS = HERE / "fixtures" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
FIXTURES = {f["name"]: f for f in MANIFEST["fixtures"]}
IDS = sorted(FIXTURES)
VARIANTS = ["no_scope", "scope", "scope_clear_devices", "scope_taken", "input_map"]

# Metas whose saver_def is removed (so TensorFlow builds a fresh Saver()).
SAVERLESS = ["mlp_ref", "mlp_resource_adam", "control_flow_v1", "misc_graph"]


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
                im = {
                    k: g.get_tensor_by_name(v) for k, v in (imp["input_map"] or {}).items()
                } or None
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
                im = {
                    k: g.get_tensor_by_name(v) for k, v in (imp["input_map"] or {}).items()
                } or None
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
