"""fastmeta's own protobuf classes, wire- and text-compatible with TensorFlow's.

The ``*_pb2`` modules here are generated from ``protos/fastmeta/protos/*.proto``
by ``tools/gen_protos.py`` (do not edit them by hand). Import them directly,
e.g. ``from fastmeta.protos import meta_graph_pb2``; this package deliberately
imports nothing eagerly.
"""
