"""The pure-Python baseline: the rewrite done with protobuf message classes.

Parse the MetaGraphDef with fastmeta's generated classes (python protobuf, upb), put
node names, inputs and ``loc:@`` colocation entries under the scope, clear devices when
asked, drop ``_output_shapes``, add default attrs from the file's stripped_op_list,
rescope the saver_def and collections, serialize. It is what a careful Python tool would
write; it does not reorder nodes or canonicalise devices like the core does, which is
fine for a baseline (the benchmark compares node counts and names).

    python benchmarks/pyrewrite.py IN.meta OUT.meta --import-scope imported
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fastmeta.protos import attr_value_pb2, meta_graph_pb2
from fastmeta.scoping import rescope_collection, rescope_proto

__all__ = ["rewrite", "rewrite_message"]

_LOC = b"loc:@"


def rewrite_message(
    meta: meta_graph_pb2.MetaGraphDef, prefix: str = "", clear_devices: bool = False
) -> meta_graph_pb2.MetaGraphDef:
    """Rewrite ``meta`` in place; returns it."""
    scope = prefix.rstrip("/")
    p = f"{scope}/" if scope else ""
    defaults: dict[str, list[tuple[str, attr_value_pb2.AttrValue]]] = {
        op.name: [(a.name, a.default_value) for a in op.attr if a.HasField("default_value")]
        for op in meta.meta_info_def.stripped_op_list.op
    }
    for node in meta.graph_def.node:
        if p:
            node.name = p + node.name
            inputs = [f"^{p}{i[1:]}" if i.startswith("^") else p + i for i in node.input]
            del node.input[:]
            node.input.extend(inputs)
        if clear_devices:
            node.device = ""
        attrs = node.attr
        if p and "_class" in attrs:
            values = attrs["_class"].list.s
            scoped = [_LOC + p.encode() + v[5:] if v.startswith(_LOC) else v for v in values]
            del values[:]
            values.extend(scoped)
        if "_output_shapes" in attrs:
            del attrs["_output_shapes"]
        for name, default in defaults.get(node.op, ()):
            if name not in attrs:
                attrs[name].CopyFrom(default)
    if scope:
        if meta.HasField("saver_def"):
            rescope_proto(meta.saver_def, scope)
        for key in list(meta.collection_def):
            meta.collection_def[key].CopyFrom(rescope_collection(key, meta.collection_def[key], scope))
    return meta


def rewrite(data: bytes, prefix: str = "", clear_devices: bool = False) -> bytes:
    """Parse, rewrite and serialize a MetaGraphDef."""
    meta = meta_graph_pb2.MetaGraphDef.FromString(data)
    return rewrite_message(meta, prefix, clear_devices).SerializeToString()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--import-scope", default="")
    ap.add_argument("--clear-devices", action="store_true")
    args = ap.parse_args(argv)
    with open(args.input, "rb") as f:
        data = f.read()
    out = rewrite(data, args.import_scope, args.clear_devices)
    with open(args.output, "wb") as f:
        f.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
