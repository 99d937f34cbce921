"""Differential-testing oracle: TensorFlow's ``import_meta_graph`` in a normal form.

Used by the differential tests of BOTH TensorFlow and fastmeta:

* :func:`tf_import` runs ``tf.compat.v1.train.import_meta_graph`` in a fresh
  graph and returns an :class:`Outcome` (GraphDef, collections, saver) in a
  loader-neutral normal form.
* :func:`describe_item` turns a collection item (TF object *or* a fastmeta
  object, duck-typed) into a comparable tuple.
* :func:`diff_graph_defs` compares two GraphDef messages (possibly of
  different generated classes) node by node and returns readable differences.

Only :func:`tf_import` needs TensorFlow; ``describe_item`` and
``diff_graph_defs`` need only ``protobuf`` (imported lazily).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = [
    "UNBOUND_INPUT_MAP",
    "Outcome",
    "add_unbound_replacements",
    "describe_collections",
    "describe_item",
    "diff_graph_defs",
    "graph_def_summary",
    "tf_import",
    "tf_import_unbound",
    "unbound_inputs_meta",
]


# ----------------------------------------------------------------------------
# Outcome
# ----------------------------------------------------------------------------
@dataclass
class Outcome:
    """Result of one import in normal form.

    graph_def:   the importing graph's ``as_graph_def()`` (a GraphDef message).
    collections: {key: [describe_item(x) for x in graph.get_collection(key)]}
                 for every collection key of the graph (sorted keys).
    saver:       None or describe_item(returned saver) -> ("SaverDef", text).
    graph / returned: the live objects (not compared).
    """

    graph_def: Any
    collections: dict[str, list[tuple]]
    saver: tuple | None
    graph: Any = field(default=None, compare=False, repr=False)
    returned: Any = field(default=None, compare=False, repr=False)


# ----------------------------------------------------------------------------
# describe_item
# ----------------------------------------------------------------------------
def _proto_text(msg) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(msg)


def describe_item(x) -> tuple:
    """Loader-neutral normal form of a collection item / saver.

    * object with ``saver_def`` (a Saver) or ``as_saver_def()`` -> ("SaverDef", text)
    * object with ``to_proto()`` (Variable, QueueRunner, Cond/WhileContext) ->
      (descriptor name, text_format of the proto)
    * protobuf message: ``google.protobuf.Any`` -> ("any", type_url, value);
      other messages -> (descriptor name, text)
    * object with ``value_index`` (Tensor) -> ("tensor", name)
    * object with ``node_def`` and ``type`` (Operation) -> ("operation", name)
    * str -> ("str", s); bytes -> ("bytes", b); bool/int -> ("int", int(v));
      float -> ("float", v)
    * anything else -> ("other", type name, repr)
    """
    # primitives first (cheap, and str has no proto-ish attributes anyway)
    if isinstance(x, str):
        return ("str", x)
    if isinstance(x, (bytes, bytearray)):
        return ("bytes", bytes(x))
    if isinstance(x, bool):
        return ("int", int(x))
    if isinstance(x, int):
        return ("int", x)
    if isinstance(x, float):
        return ("float", x)
    # protobuf messages (Any in any_list collections, or bare protos)
    desc = getattr(x, "DESCRIPTOR", None)
    if desc is not None and hasattr(desc, "full_name") and hasattr(x, "SerializeToString"):
        if desc.full_name == "google.protobuf.Any":
            return ("any", x.type_url, bytes(x.value))
        return (desc.name, _proto_text(x))
    # Saver: prefer the (in-place scoped) saver_def attribute
    sd = getattr(x, "saver_def", None)
    if sd is None and callable(getattr(x, "as_saver_def", None)):
        sd = x.as_saver_def()
    if sd is not None and hasattr(sd, "DESCRIPTOR"):
        return (sd.DESCRIPTOR.name, _proto_text(sd))
    to_proto = getattr(x, "to_proto", None)
    if callable(to_proto):
        proto = to_proto()
        if proto is None:
            return ("None-proto", type(x).__name__, getattr(x, "name", None))
        return (proto.DESCRIPTOR.name, _proto_text(proto))
    if hasattr(x, "value_index") and hasattr(x, "name"):
        return ("tensor", x.name)
    if hasattr(x, "node_def") and hasattr(x, "type") and hasattr(x, "name"):
        return ("operation", x.name)
    return ("other", type(x).__name__, repr(x))


def describe_collections(graph, keys: Iterable[str] | None = None) -> dict[str, list[tuple]]:
    """{key: [describe_item(x) ...]} for the given / all collection keys (sorted)."""
    if keys is None:
        keys = graph.get_all_collection_keys()
    return {k: [describe_item(x) for x in graph.get_collection(k)] for k in sorted(keys)}


# ----------------------------------------------------------------------------
# tf_import
# ----------------------------------------------------------------------------
def _tf():
    """TensorFlow, or a skip of the calling test where it is not installed (conftest.py
    turns that into a failure under FASTMETA_REQUIRE_TF=1, as CI runs)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


def _fresh_meta(tf, meta):
    """Path-like -> str path (TF reads it); bytes/message -> a NEW MetaGraphDef."""
    if isinstance(meta, (str, os.PathLike)):
        return os.fspath(meta)
    MetaGraphDef = tf.compat.v1.MetaGraphDef
    if isinstance(meta, (bytes, bytearray, memoryview)):
        data = bytes(meta)
    elif hasattr(meta, "SerializeToString"):
        data = meta.SerializeToString()
    else:
        raise TypeError(f"meta must be a path, bytes or a MetaGraphDef message, got {type(meta)!r}")
    mg = MetaGraphDef()
    try:
        mg.ParseFromString(data)
    except Exception:  # text format bytes
        from google.protobuf import text_format

        mg = MetaGraphDef()
        text_format.Merge(data.decode("utf-8"), mg)
    return mg


def tf_import(
    meta,
    *,
    import_scope=None,
    clear_devices=False,
    input_map=None,
    pre_import: Callable[[Any], None] | None = None,
    graph_kwarg: bool = False,
    **kwargs,
) -> Outcome:
    """Run ``tf.compat.v1.train.import_meta_graph`` in a fresh default graph.

    meta:        a path (read by TF itself) or bytes / a MetaGraphDef message
                 (a fresh copy is parsed each call: TF mutates the message).
    pre_import:  ``pre_import(graph)`` is called inside the graph context
                 before importing (e.g. a first import into the same scope).
    input_map:   {key: value}; str values are tensor names resolved in the
                 graph after ``pre_import`` (``graph.get_tensor_by_name``).
    graph_kwarg: also pass ``graph=g`` explicitly (normally not needed).
    kwargs:      forwarded (restore_collections_predicate, unbound_inputs_col_name, ...).
    """
    tf = _tf()
    g = tf.Graph()
    with g.as_default():
        if pre_import is not None:
            pre_import(g)
        imap = None
        if input_map is not None:
            imap = {k: (g.get_tensor_by_name(v) if isinstance(v, str) else v) for k, v in input_map.items()}
        if graph_kwarg:
            kwargs["graph"] = g
        returned = tf.compat.v1.train.import_meta_graph(
            _fresh_meta(tf, meta), clear_devices=clear_devices, import_scope=import_scope, input_map=imap, **kwargs
        )
        gd = g.as_graph_def()
        cols = describe_collections(g)
        saver = describe_item(returned) if returned is not None else None
    return Outcome(graph_def=gd, collections=cols, saver=saver, graph=g, returned=returned)


# ----------------------------------------------------------------------------
# a meta graph TensorFlow exported with export_scope
# ----------------------------------------------------------------------------
# The input_map its unbound inputs need (tensor names in the importing graph, made there
# by add_unbound_replacements).
UNBOUND_INPUT_MAP = {"$unbound_inputs_x": "nx:0", "$unbound_inputs_halves:1": "nh:0"}


def unbound_inputs_meta(control: bool = False) -> bytes:
    """A meta graph ``tf.compat.v1.train.export_meta_graph(export_scope="tower")`` writes
    for a graph whose ops under ``tower`` read a tensor (``x``) and an op's second output
    (``halves:1``) from outside it: their inputs become ``$unbound_inputs_x`` and
    ``$unbound_inputs_halves:1``, listed in its ``unbound_inputs`` collection. With
    ``control``, an op there also has a control input from outside (``c``): it becomes
    ``^$unbound_inputs_c``, which TensorFlow leaves out of the collection."""
    tf = _tf()
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        halves = tf.split(v1.placeholder(tf.float32, [4], name="s"), 2, name="halves")
        c = tf.no_op(name="c")
        with tf.name_scope("tower"):
            doubled = tf.multiply(x, 2.0, name="mul")
            with tf.control_dependencies([c] if control else []):
                tf.identity(doubled, name="y")
            tf.identity(halves[1], name="z")
        return v1.train.export_meta_graph(export_scope="tower").SerializeToString()


def add_unbound_replacements(graph) -> None:
    """``pre_import`` of :func:`tf_import` for :data:`UNBOUND_INPUT_MAP`: its targets."""
    tf = _tf()
    tf.compat.v1.placeholder(tf.float32, [None, 3], name="nx")
    tf.compat.v1.placeholder(tf.float32, [2], name="nh")


def tf_import_unbound(meta, import_scope=None):
    """The GraphDef of TensorFlow's import of :func:`unbound_inputs_meta`'s file with
    :data:`UNBOUND_INPUT_MAP`, without the two placeholders it maps onto."""
    outcome = tf_import(
        meta, import_scope=import_scope, input_map=UNBOUND_INPUT_MAP, pre_import=add_unbound_replacements
    )
    graph_def = type(outcome.graph_def)()
    graph_def.CopyFrom(outcome.graph_def)
    assert [n.name for n in graph_def.node[:2]] == ["nx", "nh"]
    del graph_def.node[:2]
    return graph_def


# ----------------------------------------------------------------------------
# diff_graph_defs
# ----------------------------------------------------------------------------
def _as_class(msg, cls):
    if type(msg) is cls:
        return msg
    out = cls()
    out.ParseFromString(msg.SerializeToString())
    return out


def _ser(msg) -> bytes:
    return msg.SerializeToString(deterministic=True)


def _short(msg, limit=300) -> str:
    s = _proto_text(msg).strip().replace("\n", " ")
    return s if len(s) <= limit else s[:limit] + "..."


def _field_present(msg, name) -> bool:
    try:
        return msg.HasField(name)
    except ValueError:
        return False


def _diff_node(na, nb, where: str, ignore_attrs, ignore_experimental_type) -> list[str]:
    out = []
    if na.op != nb.op:
        out.append(f"{where}: op {na.op!r} != {nb.op!r}")
    if list(na.input) != list(nb.input):
        out.append(f"{where}: inputs {list(na.input)} != {list(nb.input)}")
    if na.device != nb.device:
        out.append(f"{where}: device {na.device!r} != {nb.device!r}")
    aa = {k: v for k, v in na.attr.items() if k not in ignore_attrs}
    ab = {k: v for k, v in nb.attr.items() if k not in ignore_attrs}
    for k in sorted(set(aa) - set(ab)):
        out.append(f"{where}: attr {k!r} only in a: {_short(aa[k])}")
    for k in sorted(set(ab) - set(aa)):
        out.append(f"{where}: attr {k!r} only in b: {_short(ab[k])}")
    for k in sorted(set(aa) & set(ab)):
        if _ser(aa[k]) != _ser(ab[k]):
            out.append(f"{where}: attr {k!r} differs: {_short(aa[k])} != {_short(ab[k])}")
    for fname in ("experimental_debug_info", "experimental_type"):
        if fname == "experimental_type" and ignore_experimental_type:
            continue
        pa, pb = _field_present(na, fname), _field_present(nb, fname)
        if pa != pb or (pa and _ser(getattr(na, fname)) != _ser(getattr(nb, fname))):
            ta = _short(getattr(na, fname)) if pa else "<absent>"
            tb = _short(getattr(nb, fname)) if pb else "<absent>"
            out.append(f"{where}: {fname} differs: {ta} != {tb}")
    return out


def _diff_keyed(la, lb, key, what: str) -> list[str]:
    out = []
    da = {}
    for m in la:
        da.setdefault(key(m), []).append(m)
    db = {}
    for m in lb:
        db.setdefault(key(m), []).append(m)
    for k in sorted(set(da) - set(db)):
        out.append(f"library: {what} {k!r} only in a")
    for k in sorted(set(db) - set(da)):
        out.append(f"library: {what} {k!r} only in b")
    for k in sorted(set(da) & set(db)):
        sa = sorted(_ser(m) for m in da[k])
        sb = sorted(_ser(m) for m in db[k])
        if sa != sb:
            out.append(f"library: {what} {k!r} differs")
    return out


def diff_graph_defs(
    a,
    b,
    *,
    ignore_attrs: Iterable[str] = (),
    ignore_experimental_type: bool = False,
    check_order: bool = True,
    max_diffs: int = 200,
) -> list[str]:
    """Human-readable differences between GraphDefs ``a`` and ``b`` ([] = equal).

    ``b`` may be of a different generated class (e.g. fastmeta's own protos):
    it is serialized and parsed into ``a``'s class.

    Compared: node count, node order (position by position), per node (matched
    by name) op / inputs (order-sensitive) / device / attr map (each AttrValue
    serialized deterministically) / experimental_debug_info /
    experimental_type; library functions keyed by signature name (order
    ignored: TF's order is a hash-map order), gradients and
    registered_gradients as sets; versions; deprecated ``version``.
    """
    ignore_attrs = frozenset(ignore_attrs)
    b = _as_class(b, type(a))
    out: list[str] = []
    names_a = [n.name for n in a.node]
    names_b = [n.name for n in b.node]
    if len(names_a) != len(names_b):
        out.append(f"node count {len(names_a)} != {len(names_b)}")
    sa, sb = set(names_a), set(names_b)
    if len(sa) != len(names_a):
        out.append("duplicate node names in a")
    if len(sb) != len(names_b):
        out.append("duplicate node names in b")
    only_a = [n for n in names_a if n not in sb]
    only_b = [n for n in names_b if n not in sa]
    if only_a:
        out.append(f"nodes only in a ({len(only_a)}): {only_a[:20]}")
    if only_b:
        out.append(f"nodes only in b ({len(only_b)}): {only_b[:20]}")
    if check_order:
        common_a = [n for n in names_a if n in sb]
        common_b = [n for n in names_b if n in sa]
        for i, (x, y) in enumerate(zip(names_a, names_b)):
            if x != y:
                out.append(f"node order differs first at position {i}: {x!r} != {y!r}")
                break
        if common_a != common_b:
            for i, (x, y) in enumerate(zip(common_a, common_b)):
                if x != y:
                    out.append(f"relative order of common nodes differs at #{i}: {x!r} vs {y!r}")
                    break
    by_b = {n.name: n for n in b.node}
    for na in a.node:
        nb = by_b.get(na.name)
        if nb is None:
            continue
        out.extend(_diff_node(na, nb, f"node {na.name!r}", ignore_attrs, ignore_experimental_type))
        if len(out) >= max_diffs:
            out.append("... (truncated)")
            return out
    # library
    la, lb = a.library, b.library
    out.extend(_diff_keyed(la.function, lb.function, lambda f: f.signature.name, "function"))
    out.extend(_diff_keyed(la.gradient, lb.gradient, lambda g: g.function_name, "gradient"))
    if hasattr(la, "registered_gradients"):
        out.extend(
            _diff_keyed(
                la.registered_gradients, lb.registered_gradients, lambda g: g.registered_op_type, "registered_gradient"
            )
        )
    # versions
    if _ser(a.versions) != _ser(b.versions):
        out.append(f"versions differ: {_short(a.versions)!r} != {_short(b.versions)!r}")
    if a.version != b.version:
        out.append(f"deprecated version differs: {a.version} != {b.version}")
    return out[: max_diffs + 1]


def graph_def_summary(gd) -> str:
    """One line per node: name op inputs device (debug helper)."""
    return "\n".join(f"{n.name} {n.op} {list(n.input)} {n.device!r}" for n in gd.node)
