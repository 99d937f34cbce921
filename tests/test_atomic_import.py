"""A failed import leaves the target fastmeta.Graph exactly as it was, whatever stage
fails (TensorFlow leaves a half-modified graph); concurrent imports equal sequential ones.

Failures are injected at every stage of the import by replacing the stage's function
with one that raises, then the graph is compared with a snapshot taken before.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import fastmeta
import fastmeta.importer as importer
import fastmeta.saver as saver_module
import pytest
from fastmeta.control_flow import CondContext, WhileContext
from fastmeta.protos import meta_graph_pb2
from fastmeta.queue_runner import QueueRunner
from fastmeta.variables import Variable
from threads_util import run_concurrently

CORPUS = Path(__file__).parent / "fixtures" / "corpus"


class Injected(Exception):
    """The failure this test injects."""


def _snapshot(g: fastmeta.Graph) -> tuple[Any, ...]:
    collections = {key: [repr(item) for item in g.get_collection(key)] for key in g.get_all_collection_keys()}
    return (
        g.as_graph_def().SerializeToString(deterministic=True),
        collections,
        g.unique_name("imp", mark_as_used=False),
        g.unique_name("save", mark_as_used=False),
        len(g.get_operations()),
    )


def _fail(*_args: Any, **_kwargs: Any) -> Any:
    raise Injected("injected failure")


def _without_saver_def(name: str) -> bytes:
    meta = meta_graph_pb2.MetaGraphDef.FromString((CORPUS / f"{name}.meta").read_bytes())
    meta.ClearField("saver_def")
    return meta.SerializeToString()


# (what is replaced, attribute, the meta graph to import)
STAGES = [
    (importer, "load_meta_graph", "mlp_ref"),  # reading
    (importer, "check_unbound_inputs", "mlp_ref"),  # unbound inputs check
    (importer, "run_core", "mlp_ref"),  # the C++ rewrite
    (importer, "_restore_collections", "mlp_ref"),  # collections, as a whole
    (Variable, "from_proto", "mlp_ref"),  # one variable
    (QueueRunner, "from_proto", "queues"),  # one queue runner
    (CondContext, "from_proto", "control_flow_v1"),  # one cond context
    (WhileContext, "from_proto", "control_flow_v1"),  # one while context
    (importer, "_saver", "mlp_ref"),  # the Saver from saver_def
    (importer, "build_saver", "mlp_resource_adam-no-saver-def"),  # a fresh Saver's ops
    (saver_module.Saver, "__init__", "mlp_ref"),  # the Saver object itself
]


@pytest.mark.parametrize(("owner", "attr", "fixture"), STAGES, ids=[f"{a}-{f}" for _, a, f in STAGES])
def test_failure_at_any_stage_leaves_the_graph_unchanged(
    monkeypatch: pytest.MonkeyPatch, owner: Any, attr: str, fixture: str
) -> None:
    g = fastmeta.Graph()
    with g.as_default():
        g.placeholder("float32", [None, 4], name="new_x")
        fastmeta.import_meta_graph(str(CORPUS / "mlp_ref.meta"), import_scope="imp")
        if fixture.endswith("-no-saver-def"):
            source: Any = _without_saver_def(fixture.split("-")[0])
        else:
            source = str(CORPUS / f"{fixture}.meta")
        before = _snapshot(g)
        original = getattr(owner, attr)
        monkeypatch.setattr(owner, attr, staticmethod(_fail) if isinstance(owner, type) else _fail)
        with pytest.raises(Injected):
            fastmeta.import_meta_graph(source, import_scope="imp")
        assert _snapshot(g) == before
        # The same import works once the stage is back, into the same graph.
        monkeypatch.setattr(owner, attr, original)
        fastmeta.import_meta_graph(source, import_scope="imp")
        assert len(g.get_operations()) > before[-1]


def test_a_failed_import_leaves_no_op_defs_behind() -> None:
    # The file's stripped_op_list says "MyOp" has 2 outputs, and a collection entry makes
    # the import fail. A later file whose "MyOp" has 1 output must get ops of 1 output,
    # as in a fresh graph (the failed import used to leave its OpDef in the graph).
    sys.path.insert(0, str(CORPUS.parent.parent.parent / "fuzz"))
    from make_seeds import field, meta, node

    def op_list(outputs: int) -> bytes:
        args = b"".join(field(3, field(1, f"o{i}".encode()) + field(3, 1)) for i in range(outputs))
        return field(1, field(1, b"MyOp") + args)

    loss = field(4, field(1, b"loss") + field(2, field(1, field(1, b"nowhere:0"))))
    failing = meta(node("p", "MyOp"), op_list=op_list(2)) + loss
    later = meta(node("m", "MyOp"), op_list=op_list(1))
    g = fastmeta.Graph()
    before = _snapshot(g)
    with pytest.raises(fastmeta.CollectionError):
        fastmeta.import_meta_graph(failing, graph=g)
    assert _snapshot(g) == before
    fastmeta.import_meta_graph(later, graph=g)
    assert [t.name for t in g.get_operation_by_name("m").outputs] == ["m:0"]
    with pytest.raises(KeyError):
        g.get_tensor_by_name("m:1")


def test_concurrent_imports_into_one_graph_equal_sequential() -> None:
    path = str(CORPUS / "mlp_ref.meta")
    sequential = fastmeta.Graph()
    with sequential.as_default():
        for _ in range(4):
            fastmeta.import_meta_graph(path, import_scope="tower")
    concurrent = fastmeta.Graph()
    run_concurrently(lambda: fastmeta.import_meta_graph(path, import_scope="tower", graph=concurrent))
    # Each import took one of tower, tower_1, ... under the graph's lock: the same graph
    # as sequential imports (the towers are identical, so their order does not matter).
    assert _snapshot(concurrent)[0] == _snapshot(sequential)[0]
    assert sorted(o.name for o in concurrent.get_operations()) == sorted(o.name for o in sequential.get_operations())


@pytest.mark.parametrize("enabled", [True, False])
def test_the_callers_gc_setting_survives_imports(monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    """Imports pause the cyclic garbage collector while they run and give the caller's
    setting back: after a successful import, a failed one, and imports on several
    threads at once (the last one to finish restores it)."""
    import gc

    seen: list[bool] = []
    original = importer._restore_collections

    def restore(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(importer, "_restore_collections", restore)
    path = str(CORPUS / "mlp_ref.meta")
    (gc.enable if enabled else gc.disable)()
    try:
        fastmeta.import_meta_graph(path, graph=fastmeta.Graph())
        assert gc.isenabled() is enabled
        with pytest.raises(fastmeta.Error):
            fastmeta.import_meta_graph(b"\x12\x05garbage", graph=fastmeta.Graph())
        assert gc.isenabled() is enabled
        run_concurrently(lambda: fastmeta.import_meta_graph(path, graph=fastmeta.Graph()), count=6)
        assert gc.isenabled() is enabled
        assert seen and not any(seen)  # paused while the collections were rebuilt
    finally:
        gc.enable()
