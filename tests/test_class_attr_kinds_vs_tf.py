"""A ``_class`` attr that holds no list (``s: "loc:@a"`` instead of ``list { s: ... }``,
another kind of value, or none), against TensorFlow (skipped where it is not installed):

* under an import scope TensorFlow's C++ importer, prefixing the node, takes the value as
  a list: it becomes an empty list; the core does the same (both front doors);
* without a scope its Python importer iterates the value as a list of strings and fails
  for the first such node: ``TypeError: Expected binary or unicode string, got 108``
  (a string's first byte), ``'int' object is not iterable``... The TF-free import,
  ``rewrite_meta_graph`` and the drop-in raise a :class:`fastmeta.GraphTypeError` with
  TensorFlow's message (a placeholder value, TensorFlow's ``AssertionError``: a
  :class:`fastmeta.GraphError`), before the graph is touched;
* a list holding no string but values of another kind fails the same way, with or
  without a scope, on its first value ("got 1", "got tf.float16").
"""

from __future__ import annotations

from typing import Any

import fastmeta
import pytest
import tf_oracle
from fastmeta.protos import attr_value_pb2, meta_graph_pb2
from google.protobuf import text_format

KINDS = [
    's: "loc:@a"',
    's: ""',
    "i: 5",
    "f: 1.5",
    "b: false",
    "type: DT_FLOAT",
    "shape { dim { size: 2 } }",
    "tensor { dtype: DT_FLOAT }",
    'func { name: "x" }',
    'placeholder: "T"',
    "",
    'list { s: "loc:@a" }',
    'list { }|s: "loc:@a"',  # (the last member of the oneof on the wire wins: a string)
    's: "loc:@a"|list { s: "loc:@a" }',  # (a list)
    'i: 3|s: ""',
    # A list of no strings: TensorFlow's Python importer fails on its first value (the
    # first kind get_attr finds), under a scope too (fastmeta imported these).
    "list { i: 1 }",
    "list { f: 2.5 b: true }",
    "list { b: true }",
    "list { type: DT_HALF }",
    "list { shape { dim { size: 2 } } }",
    'list { i: 1 s: "loc:@a" }',  # (a string first: as a list of strings)
]


def _bytes(field: int, payload: bytes) -> bytes:
    n, size = len(payload), bytearray()
    while n >= 0x80:
        size.append(n & 0x7F | 0x80)
        n >>= 7
    size.append(n)
    return bytes([field << 3 | 2]) + bytes(size) + payload


def _meta(kind: str) -> bytes:
    """Nodes a, c and b, b's ``_class`` value being ``kind`` (text; pieces joined by
    ``|`` are serialized one after the other, two members of the oneof on the wire)."""
    mg = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(
        'node { name: "a" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } } '
        'attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1 } } } }\n'
        'node { name: "c" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } } '
        'attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 2 } } } }\n'
        'node { name: "b" op: "Identity" input: "a" attr { key: "T" value { type: DT_FLOAT } } }',
        mg.graph_def,
    )
    pieces = (text_format.Parse(piece, attr_value_pb2.AttrValue()) for piece in kind.split("|"))
    value = b"".join(piece.SerializeToString() for piece in pieces)
    node = mg.graph_def.node[2].SerializeToString() + _bytes(5, _bytes(1, b"_class") + _bytes(2, value))
    del mg.graph_def.node[2]
    # (the node's bytes as they are: a second graph_def field merges into the first)
    return mg.SerializeToString() + _bytes(2, _bytes(1, node))


def _class_of(graph_def: Any, name: str) -> bytes:
    node = next(n for n in graph_def.node if n.name == name)
    return bytes(node.attr["_class"].SerializeToString(deterministic=True))


def _tf_outcome(data: bytes, scope: str | None, importer: Any) -> Any:
    """The ``_class`` value of ``b`` after the import, or the error raised."""
    tf = tf_oracle._tf()
    tf.compat.v1.disable_eager_execution()
    with tf.Graph().as_default() as g:
        try:
            importer(tf.compat.v1.MetaGraphDef.FromString(data), import_scope=scope)
        except Exception as e:
            return e
        return _class_of(g.as_graph_def(), f"{scope}/b" if scope else "b")


@pytest.mark.parametrize("scope", [None, "s"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_class_attr_holding_no_list_as_in_tensorflow(kind: str, scope: str | None) -> None:
    tf = tf_oracle._tf()
    import fastmeta.tf as dropin

    data = _meta(kind)
    want = _tf_outcome(data, scope, tf.compat.v1.train.import_meta_graph)
    dropin_got = _tf_outcome(data, scope, dropin.import_meta_graph)
    g = fastmeta.Graph()
    with g.as_default():
        g.placeholder("float32", [2], name="before")
    before = g.as_graph_def().SerializeToString(deterministic=True)
    free_got: Any
    try:
        fastmeta.import_meta_graph(data, import_scope=scope, graph=g)
        free_got = _class_of(g.as_graph_def(), f"{scope}/b" if scope else "b")
    except fastmeta.Error as e:
        free_got = e
        assert g.as_graph_def().SerializeToString(deterministic=True) == before
    try:
        rewritten: Any = _class_of(
            fastmeta.rewrite_meta_graph(data, import_scope=scope).graph_def, f"{scope}/b" if scope else "b"
        )
    except fastmeta.Error as e:
        rewritten = e
    if isinstance(want, Exception):
        for got in (dropin_got, free_got, rewritten):
            assert isinstance(got, fastmeta.GraphError), got
            assert str(got) == str(want) and got.node == (f"{scope}/b" if scope else "b")
            assert isinstance(got, TypeError) == isinstance(want, TypeError)
        assert isinstance(want, (TypeError, AssertionError))
    else:
        assert dropin_got == free_got == rewritten == want
