"""Differential tests of node order and colocated devices on small hand-made graphs.

The corpus fixtures come from TensorFlow's own Python API, which writes nodes in
creation order with one colocation target each; these graphs exercise what it never
writes: nodes that need inputs defined later in the file (TensorFlow's importer creates
the ready node with the smallest GraphDef index first), several ``loc:@`` targets (the
first one with a device wins), colocation chains in and against creation order, and
self references. Each graph goes through ``fastmeta.rewrite_meta_graph`` and through
``tf.compat.v1.train.import_meta_graph``; the GraphDefs must be equal node for node
(see tests/TF_BEHAVIOUR.md, sections 1 and 3, for the rules observed).
"""

from __future__ import annotations

import random

import fastmeta
import pytest
from fastmeta.protos import meta_graph_pb2
from google.protobuf import text_format

tf_oracle = pytest.importorskip("tf_oracle")

_F = 'attr { key: "T" value { type: DT_FLOAT } }'


def _const(name: str, device: str = "", colocate: tuple[str, ...] = ()) -> str:
    extra = f'device: "{device}" ' if device else ""
    return (
        f'node {{ name: "{name}" op: "Const" {extra}{_class(colocate)}'
        'attr { key: "dtype" value { type: DT_FLOAT } } '
        'attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1 } } } }\n'
    )


def _op(name: str, *inputs: str, op: str = "Identity", device: str = "", colocate: tuple[str, ...] = ()) -> str:
    ins = " ".join(f'input: "{i}"' for i in inputs)
    extra = f'device: "{device}" ' if device else ""
    return f'node {{ name: "{name}" op: "{op}" {ins} {extra}{_class(colocate)}{_F} }}\n'


def _class(targets: tuple[str, ...]) -> str:
    if not targets:
        return ""
    entries = " ".join(f's: "loc:@{t}"' for t in targets)
    return f'attr {{ key: "_class" value {{ list {{ {entries} }} }} }} '


GRAPHS = {
    # inputs defined later in the file: a waits for c, b for a
    "backward": _op("b", "a") + _op("a", "c") + _const("c"),
    # a node passed over while waiting, created once ready, before later ready ones
    "skipped_then_ready": _op("x", "z") + _const("y") + _const("z") + _op("w", "y") + _op("v", "x", "w", op="AddV2"),
    "first_target_with_device_wins": _const("a")
    + _const("c", device="/gpu:3")
    + _const("b", device="/cpu:1", colocate=("a", "c")),
    "first_of_two_devices": _const("c", device="/gpu:2")
    + _const("d", device="/cpu:0")
    + _const("b", colocate=("d", "c")),
    "self_entry_skipped": _const("c", device="/gpu:2") + _op("a", "c", device="/gpu:1", colocate=("a", "c")),
    "chain_in_creation_order": _op("b", "a", device="/job:x/cpu:0", colocate=("a",))
    + _op("a", "c", device="/gpu:1", colocate=("c",))
    + _const("c", device="/job:ps/task:3/cpu:0"),
    "colocated_before_its_target": _const("b", device="/cpu:1", colocate=("a",))
    + _op("a", "c", device="/gpu:1", colocate=("c",))
    + _const("c", device="/job:ps/task:3/cpu:0"),
    "target_without_device": _const("a") + _const("b", device="/gpu:0", colocate=("a",)),
    "control_inputs_later": _op("n", "k", "^m") + _const("k") + _const("m", device="/cpu:0"),
    # DeviceSpec upper-cases "cpu" and "gpu" after "device:" too, and only those spellings.
    "lowercase_device_types": _const("a", device="/device:cpu:0")
    + _const("b", device="/job:w/task:1/device:gpu:*")
    + _const("c", device="/device:Cpu:0")
    + _const("d", device="/device:tpu:1")
    + _const("e", device="/device:xla_gpu:0")
    + _op("f", "a", device="/cpu:1", colocate=("b",)),
}


def _random_graph(seed: int, prefix: str = "n") -> str:
    """A DAG written in shuffled order, some nodes colocated with one or two others;
    node names ``<prefix>0``, ``<prefix>1``, ..."""
    rng = random.Random(seed)
    n = 40
    nodes: list[str] = []
    devices = ["", "/cpu:0", "/gpu:1", "/job:ps/task:0/cpu:0"]
    for i in range(n):
        name = f"{prefix}{i}"
        device = rng.choice(devices)
        targets = tuple(f"{prefix}{j}" for j in rng.sample(range(n), rng.choice([0, 0, 1, 2])))
        if i == 0 or rng.random() < 0.3:
            nodes.append(_const(name, device=device, colocate=targets))
        else:
            src = f"{prefix}{rng.randrange(i)}"
            extra = [f"^{prefix}{rng.randrange(i)}"] if rng.random() < 0.3 else []
            nodes.append(_op(name, src, *extra, device=device, colocate=targets))
    rng.shuffle(nodes)
    return "".join(nodes)


for _seed in range(6):
    GRAPHS[f"random_{_seed}"] = _random_graph(_seed)


def _meta(text: str) -> bytes:
    meta = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(text, meta.graph_def)
    return meta.SerializeToString()


@pytest.mark.parametrize("clear_devices", [False, True], ids=["devices", "clear_devices"])
@pytest.mark.parametrize("scope", [None, "imp"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_order_and_devices_match_tensorflow(name: str, scope: str | None, clear_devices: bool) -> None:
    data = _meta(GRAPHS[name])
    ours = fastmeta.rewrite_meta_graph(data, import_scope=scope, clear_devices=clear_devices)
    theirs = tf_oracle.tf_import(data, import_scope=scope, clear_devices=clear_devices).graph_def
    assert [n.name for n in ours.graph_def.node] == [n.name for n in theirs.node]
    assert [n.device for n in ours.graph_def.node] == [n.device for n in theirs.node]
    diffs = tf_oracle.diff_graph_defs(theirs, ours.graph_def)
    assert not diffs, "\n".join(diffs[:20])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_shuffled_graph_is_thread_independent(threads: int) -> None:
    # Above the core's 4096-node threshold the parse and the colocation pass run in
    # parts; order and devices must not depend on it.
    text = "".join(_random_graph(100 + k, prefix=f"g{k}_n") for k in range(120))
    data = _meta(text)
    one = fastmeta.rewrite_meta_graph(data, import_scope="imp", threads=1)
    many = fastmeta.rewrite_meta_graph(data, import_scope="imp", threads=threads)
    assert one.SerializeToString(deterministic=True) == many.SerializeToString(deterministic=True)
    if threads == 1:
        theirs = tf_oracle.tf_import(data, import_scope="imp").graph_def
        assert [(n.name, n.device) for n in one.graph_def.node] == [(n.name, n.device) for n in theirs.node]
