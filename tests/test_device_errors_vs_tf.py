"""Device strings TensorFlow's ``DeviceSpec`` refuses (and a few it takes), imported by
TensorFlow, the drop-in and the TF-free import (skipped where TensorFlow is not
installed): the same message (``GraphError``, a ``ValueError``, naming the node in
``e.node``), or the same canonical device.

TensorFlow parses the parts in order (a device index converted by ``int()`` there), then
converts the last replica and task given: the first refusal met in that order is the one
reported.
"""

from __future__ import annotations

from typing import Any

import fastmeta
import pytest
import tf_oracle
from fastmeta.protos import meta_graph_pb2

DEVICES = [
    "/gpu:",
    "/job:a/replica:x",
    "/job:a/task:",
    "/cpu:0/gpu:0",
    "/device:CPU",
    " /cpu:0",
    "/JOB:ps",
    "/job::1",
    "/gpu:a'b",
    '/gpu:a"b',
    "/gpu:a'b\"c",
    "/gpu:\t",
    "/gpu:\\x",
    "/gpu:\u00e9",
    "/device:GPU:x",
    "/replica:x/cpu:0/gpu:0",  # two types, met while parsing: before the replica
    "/replica:x/task:y",  # the replica first
    "/task:y/replica:x",  # (also)
    "/replica:1/replica:x",  # the last replica given counts
    # taken
    "/replica:x/replica:1",
    "/cpu: 3",
    "/cpu:1_0",
    "/job:a/replica:+2/task:-0/device:gpu:*",
    # Python's int() takes any script's decimal digits and Unicode whitespace (the core
    # took ASCII only): Arabic-Indic, fullwidth, mathematical bold digits, an em space.
    "/task:\u0661",
    "/task:\uff11\uff10",
    "/cpu:\u0661",
    "/job:ps/replica:\u0663/task:\U0001d7d9",
    "/task:\u20031",
    "/gpu:\xa02\u3000",
    "/task:\u0661_\u0662",
    "/task:\u00b2",  # (a superscript two: a digit, but no decimal one)
]


def _meta(device: str) -> bytes:
    mg = meta_graph_pb2.MetaGraphDef()
    node = mg.graph_def.node.add(name="a", op="NoOp", device=device)
    assert node.device == device
    return mg.SerializeToString()


def _outcome(importer: Any, graph: Any, data: bytes) -> Any:
    with graph.as_default():
        try:
            importer(data)
        except ValueError as e:
            return e
        return next(n for n in graph.as_graph_def().node if n.name == "a").device


@pytest.mark.parametrize("device", DEVICES)
def test_device_strings_as_in_tensorflow(device: str) -> None:
    tf = tf_oracle._tf()
    tf.compat.v1.disable_eager_execution()
    import fastmeta.tf as dropin

    data = _meta(device)
    want = _outcome(
        lambda d: tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(d)), tf.Graph(), data
    )
    got_dropin = _outcome(dropin.import_meta_graph, tf.Graph(), data)
    got_free = _outcome(fastmeta.import_meta_graph, fastmeta.Graph(), data)
    if isinstance(want, Exception):
        for got in (got_dropin, got_free):
            assert isinstance(got, fastmeta.GraphError), got
            assert str(got) == str(want) and got.node == "a"
    else:
        assert got_dropin == got_free == want
