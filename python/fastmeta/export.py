"""``export_meta_graph`` without TensorFlow: a :class:`fastmeta.Graph` back to a MetaGraphDef.

Follows ``tf.compat.v1.train.export_meta_graph`` (TensorFlow 2.21) rule by rule: the
GraphDef as ``as_graph_def`` holds it with an ``_output_shapes`` attr on every node that
has outputs; with ``export_scope``, ``clear_devices`` or ``clear_extraneous_savers`` the
nodes are filtered and rewritten one by one (scope stripped from names, inputs and
``_class``, inputs from outside the scope renamed ``$unbound_inputs_...`` and listed in
the ``unbound_inputs`` collection); ``stripped_op_list`` holds the OpDef of every op the
graph and its functions use, sorted by name; collections are written by their kind
(registered protos through each item's ``to_proto(export_scope)``), a collection that
cannot be written is left out with a warning.

The export without ``export_scope`` or ``clear_extraneous_savers`` (so the default one,
and with ``clear_devices`` and / or ``strip_default_attrs``) makes that GraphDef at the
bytes level (``_graph_def_bytes``: the core's ``export_nodes`` writes an import's nodes
with their recorded shapes spliced in, devices and default-valued attrs dropped, Python
the rest), equal once parsed to the route through messages the others take.

Where fastmeta differs (README, "Faithful to TensorFlow, and deliberately better"):

* ``_output_shapes`` are the shapes the imported file recorded (fastmeta has no shape
  inference; for a file TensorFlow wrote they are TensorFlow's), for ops fastmeta
  created the shapes TensorFlow's shape functions give them, else unknown;
* the OpDefs are the importing files' own (the first file that has one), and
  TensorFlow's registry entries for the ops fastmeta creates; TensorFlow takes all of
  them from its registry;
* ``meta_info_def.tensorflow_version`` is the TensorFlow version fastmeta follows
  (:data:`TF_VERSION`), ``tensorflow_git_version`` names fastmeta
  (``fastmeta-<version>``);
* inputs are written as ``as_graph_def`` renders them also with ``export_scope`` or
  ``clear_devices`` (TensorFlow then writes each op's own NodeDef, which keeps the
  importing file's spelling: a file TensorFlow wrote spells them the same), except that
  an input remapped by an ``input_map`` is spelled ``name:index`` as TensorFlow spells it;
* the caller's messages are never modified (TensorFlow writes its version into the
  ``meta_info_def`` passed in);
* the file is written atomically (a temporary file renamed into place), and
  deterministically: the map fields serialized here (``collection_def``,
  ``signature_def``, attr maps) sorted by key, the nodes the core copies as the file
  had them, so the same graph gives the same bytes in every process (TensorFlow
  writes maps in hash order).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from google.protobuf import any_pb2, text_format
from google.protobuf.message import DecodeError, Message

from fastmeta._attr_equal import equal_though_serialized_apart
from fastmeta._builtin_ops import TF_VERSION
from fastmeta._files import write_atomic
from fastmeta._wire_schema import wire_schema
from fastmeta.control_flow import CondContext, ControlFlowContext, WhileContext
from fastmeta.errors import SizeLimitError
from fastmeta.graph import (
    Graph,
    Operation,
    Tensor,
    _recorded_shapes,
    _Segment,
    _varint,
    fixed_output_count,
    get_default_graph,
)
from fastmeta.protos import (
    attr_value_pb2,
    graph_pb2,
    meta_graph_pb2,
    node_def_pb2,
    op_def_pb2,
    saver_pb2,
    tensor_shape_pb2,
)
from fastmeta.scoping import REGISTERED_PROTOS, strip_name_scope

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["TF_VERSION", "export_meta_graph", "graph_def_with_shapes", "meta_graph_filename"]

_log = logging.getLogger(__name__)

UNBOUND_INPUT_PREFIX = "$unbound_inputs_"

# TensorFlow's SAVE_AND_RESTORE_OPS: the ops whose scopes are a saver's.
_SAVE_AND_RESTORE_OPS = frozenset(
    {
        "SaveV2",
        "Save",
        "SaveSlice",
        "LegacySave",
        "LegacySaveSlice",
        "RestoreV2",
        "Restore",
        "RestoreSlice",
        "LegacyRestore",
        "LegacyRestoreSlice",
    }
)

_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")

_SAME = object()  # (written_saver_def: the saver_def given)


def _git_version() -> str:
    from fastmeta import __version__

    return f"fastmeta-{__version__}"


def meta_graph_filename(checkpoint_filename: str, meta_graph_suffix: str = "meta") -> str:
    """The meta graph file of a checkpoint, as TensorFlow names it: ``<prefix>.<suffix>``,
    where a sharded name's ``-<shard>-of-<count>`` ending is dropped from the prefix."""
    import re

    base = re.sub(r"-[\d\?]+-of-\d+$", "", checkpoint_filename)
    return f"{base}.{meta_graph_suffix}"


# ---------------------------------------------------------------------------
# messages given by the caller: fastmeta's or TensorFlow's, never modified
# ---------------------------------------------------------------------------
def _own(message: Any, cls: type[Message], what: str, arg: str) -> Any:
    """A fastmeta copy of ``message`` (a fastmeta or TensorFlow message of the same
    type); TypeError, with TensorFlow's message, for anything else."""
    descriptor = getattr(message, "DESCRIPTOR", None)
    full = getattr(descriptor, "full_name", "")
    want = cls.DESCRIPTOR.full_name.split(".", 1)[1]
    if not isinstance(message, Message) or full.split(".", 1)[-1] != want:
        raise TypeError(f"{arg} must be of type {what}. Received type: {type(message)}.")
    out = cls()
    out.ParseFromString(message.SerializeToString())
    return out


# ---------------------------------------------------------------------------
# _output_shapes
# ---------------------------------------------------------------------------
def _unknown() -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(unknown_rank=True)


def _merge(
    a: tensor_shape_pb2.TensorShapeProto, b: tensor_shape_pb2.TensorShapeProto
) -> tensor_shape_pb2.TensorShapeProto:
    """The more specific of two compatible shapes, dimension by dimension."""
    if a.unknown_rank:
        return b
    if b.unknown_rank or len(a.dim) != len(b.dim):
        return a
    out = tensor_shape_pb2.TensorShapeProto()
    for x, y in zip(a.dim, b.dim):
        out.dim.add(size=x.size if x.size >= 0 else y.size)
    return out


def _slice_shape(spec: bytes) -> tensor_shape_pb2.TensorShapeProto:
    """The shape RestoreV2 gives an output from its ``shape_and_slices`` entry: unknown
    for a whole tensor (``""``), else the slice's extent (``"7 4 0,4:-"`` → [4, 4])."""
    text = spec.decode("utf-8", "replace").split()
    if len(text) < 2:
        return _unknown()
    try:
        full = [int(d) for d in text[:-1]]
        pieces = text[-1].split(":")
        out = tensor_shape_pb2.TensorShapeProto()
        for d, piece in enumerate(pieces):
            out.dim.add(size=full[d] if piece == "-" else int(piece.split(",")[1]))
        return out
    except (ValueError, IndexError):
        return _unknown()


# The op types whose output shape _Shapes._infer finds without a recorded one: through
# their first input, or by its own rule (for every other op type: unknown). The core's
# export rules (_segment_rules) follow the same split.
_SHAPE_FROM_INPUT = frozenset({"Identity", "Snapshot"})
_SHAPE_BY_RULE = frozenset(
    {
        "Const",
        "Placeholder",
        "PlaceholderWithDefault",
        "VariableV2",
        "Variable",
        "ReadVariableOp",
        "Assign",
        "RestoreV2",
    }
)


class _Shapes:
    """The ``_output_shapes`` of a graph's ops (memoised per tensor)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.memo: dict[tuple[Operation, int], tensor_shape_pb2.TensorShapeProto] = {}

    def recorded(self, op: Operation) -> list[tensor_shape_pb2.TensorShapeProto] | None:
        shapes = _recorded_shapes(op)
        return None if shapes is None else list(shapes)

    def of_op(self, op: Operation, count: int | None) -> list[tensor_shape_pb2.TensorShapeProto] | None:
        """The shapes to write for ``op`` (None: write no ``_output_shapes``)."""
        recorded = self.recorded(op)
        if recorded is not None and (count is None or len(recorded) >= count):
            return recorded if count is None else recorded[:count]
        if count is None:
            return None
        return [self.of(Tensor(op, i)) for i in range(count)]

    def of(self, t: Tensor) -> tensor_shape_pb2.TensorShapeProto:
        key = (t.op, t.value_index)
        hit = self.memo.get(key)
        if hit is None:
            self.memo[key] = _unknown()  # (a cycle through a loop: unknown)
            hit = self.memo[key] = self._infer(t)
        return hit

    def _infer(self, t: Tensor) -> tensor_shape_pb2.TensorShapeProto:
        """A created op's output shape, as TensorFlow's shape function for it gives it
        (the ops fastmeta creates: placeholders and a fresh Saver's ops)."""
        op = t.op
        recorded = self.recorded(op)
        if recorded is not None and t.value_index < len(recorded):
            return recorded[t.value_index]
        kind = op.type
        node = op.node_def
        if kind == "Const" and "value" in node.attr:
            return node.attr["value"].tensor.tensor_shape
        if kind in ("Placeholder", "PlaceholderWithDefault", "VariableV2", "Variable") and "shape" in node.attr:
            return node.attr["shape"].shape
        inputs = op.inputs
        if kind in _SHAPE_FROM_INPUT and inputs:
            return self.of(inputs[0])
        if kind == "ReadVariableOp" and inputs:
            handle = inputs[0].op
            if handle.type == "VarHandleOp" and "shape" in handle.node_def.attr:
                return handle.node_def.attr["shape"].shape
            return _unknown()
        if kind == "Assign" and len(inputs) == 2:
            validate = node.attr["validate_shape"].b if "validate_shape" in node.attr else True
            value = self.of(inputs[1])
            return _merge(self.of(inputs[0]), value) if validate else value
        if kind == "RestoreV2" and len(inputs) == 3:
            specs = inputs[2].op
            while specs.type == "Identity" and specs.inputs:
                specs = specs.inputs[0].op
            if specs.type == "Const":
                values = list(specs.node_def.attr["value"].tensor.string_val)
                if t.value_index < len(values):
                    return _slice_shape(values[t.value_index])
        return _unknown()


def inferred_shape(t: Tensor) -> tensor_shape_pb2.TensorShapeProto | None:
    """``t``'s shape by the rules ``_output_shapes`` are written by for an op without
    recorded shapes (TensorFlow's shape functions of the ops fastmeta creates), None
    when they leave it unknown."""
    shape = _Shapes(t.op.graph).of(t)
    return None if shape.unknown_rank else shape


def _with_shapes(graph: Graph, gd: graph_pb2.GraphDef, ops: Sequence[Operation]) -> None:
    shapes = _Shapes(graph)
    for node, op in zip(gd.node, ops):
        count = graph._num_outputs(op)
        if count == 0:
            continue
        out = shapes.of_op(op, count)
        if out:
            node.attr["_output_shapes"].list.shape.extend(out)


def graph_def_with_shapes(graph: Graph) -> graph_pb2.GraphDef:
    """``graph.as_graph_def()`` with an ``_output_shapes`` attr on every node that has
    outputs (TensorFlow's ``as_graph_def(add_shapes=True)``; the shapes: see the module
    docstring)."""
    with graph._lock:
        gd = graph.as_graph_def()
        ops = graph.get_operations()
    _with_shapes(graph, gd, ops)
    return gd


# ---------------------------------------------------------------------------
# the same GraphDef at the bytes level (the default export: Saver.save's)
# ---------------------------------------------------------------------------
_MISSING_UNKNOWN, _MISSING_FROM_INPUT, _MISSING_BY_PYTHON = 0, 1, 2
_OUTPUTS_NOT_KNOWN, _OUTPUTS_BY_PYTHON, _OUTPUTS_BY_ATTRS = -1, -2, -3

_ExportRule = tuple[str, int, int, list[tuple[str, str, str]]]


def _output_args(op_def: op_def_pb2.OpDef) -> list[tuple[str, str, str]] | None:
    """The output args as the core counts a node's outputs by its attrs (``output_types``'
    rules): (number_attr, type_list_attr, the type_attr that must be present: "" when
    the arg's type is fixed). None when no node of the op has a known count (an arg
    with no type at all: ``output_types`` gives None for every node)."""
    out = []
    for arg in op_def.output_arg:
        if not arg.type_list_attr and not arg.type and not arg.type_attr:
            return None
        out.append((arg.number_attr, arg.type_list_attr, "" if arg.type else arg.type_attr))
    return out


def _segment_rules(graph: Graph, part: _Segment, op_types: Iterable[str] | None = None) -> list[_ExportRule]:
    """For each op type of an import, how the core writes its nodes' ``_output_shapes``
    as ``_with_shapes`` would: the output count ``_num_outputs`` gives every node of
    the type (-1: no OpDef, the recorded shapes as they are; -3: it depends on the
    node's ``number_attr``/``type_list_attr`` attrs, read by the core from the output
    args given; -2: Python's), and where a shape the file did not record comes from
    (unknown, the first input's, or Python's ``_Shapes._infer``). Call ops get no rule:
    their nodes are Python's (``_ops_used`` reads their ``f``)."""
    rules = []
    for op_type in part.core.op_histogram() if op_types is None else op_types:
        if op_type in _CALL_OPS:
            continue
        op_def = graph._op_def(op_type)
        count = fixed_output_count(op_def)
        args: list[tuple[str, str, str]] = []
        if op_def is None:
            outputs = _OUTPUTS_NOT_KNOWN
        elif count is not None:
            outputs = count
        else:
            found = _output_args(op_def)
            outputs = _OUTPUTS_NOT_KNOWN if found is None else _OUTPUTS_BY_ATTRS
            args = found or []
        missing = (
            _MISSING_FROM_INPUT
            if op_type in _SHAPE_FROM_INPUT
            else _MISSING_BY_PYTHON
            if op_type in _SHAPE_BY_RULE
            else _MISSING_UNKNOWN
        )
        rules.append((op_type, outputs, missing, args))
    return rules


def _field_head(number: int, size: int) -> bytes:
    """The tag and length of a length-delimited field."""
    out = bytearray()
    _varint(out, number << 3 | 2)
    _varint(out, size)
    return bytes(out)


def _strip_rules(part: _Segment, defaults: _Defaults, op_types: Iterable[str]) -> list[tuple[str, str, list[bytes]]]:
    """For strip_default_attrs in the core: per op type of the import and attr with a
    default, the distinct values its nodes hold there that equal the default as
    ``_strip_default_attrs`` compares them (``_Defaults.is_default``), so that an entry
    holding one is dropped whatever its encoding. DecodeError: a malformed value."""
    wanted = [(op, list(table)) for op in op_types if (table := defaults.table(op))]
    out = []
    for op, attr, values in part.core.attr_values(wanted) if wanted else ():
        same = [v for v in values if defaults.is_default(op, attr, attr_value_pb2.AttrValue.FromString(v))]
        if same:
            out.append((op, attr, same))
    return out


def _graph_def_bytes(
    graph: Graph, check: bool, clear_devices: bool = False, strip: bool = False, respell: bool = False
) -> tuple[list[Buffer], graph_pb2.GraphDef, set[str]]:
    """``graph_def_with_shapes(graph)`` serialized (in pieces, to be joined: the core's
    bytes lent, not copied), its imported nodes written by the
    core from their bytes (no message per node), those it leaves (see
    ``_segment_rules``) and created ones by Python as ``_with_shapes`` writes them;
    with the GraphDef of the library and versions alone, and the op types the nodes
    use (a call op's function included). With ``check``, the core's bytes of each
    import not yet checked are checked to parse (DecodeError: malformed; the core copies
    attr values and recorded shapes through unread, and a file written from them must
    parse): by the core (``_graph_def_schema``), which leaves to protobuf bytes it is
    not sure of (then parsed here, which decides).

    ``clear_devices``, ``strip`` (strip_default_attrs) and ``respell`` (the inputs an
    input_map remapped, see ``_respell_mapped_inputs``) make each node as the message
    route does (``_scoped_node`` without a scope, ``_strip_default_attrs``): the core
    drops devices and default-valued attr entries, and leaves to Python the nodes it
    cannot make so from their bytes alone (mapped inputs, a ``_class`` or
    ``frame_name`` the rewrite would change, a repeated attr)."""
    parts, library = graph._parts_and_library()
    shapes = _Shapes(graph)
    pieces: list[Buffer] = []
    used: set[str] = set()
    defaults = _Defaults(graph, {f.signature.name for f in library.library.function}) if strip else None

    def python_node(part: Any, i: int, external: list[str]) -> None:
        op = Operation(graph, part, i)
        node = part.node_def(i)
        count = graph._num_outputs(op)
        if count != 0:
            out = shapes.of_op(op, count)
            if out:
                node.attr["_output_shapes"].list.shape.extend(out)
        used.update(_node_ops((node,)))
        if external:
            _respell_node(node, part, i, external)
        if clear_devices:
            node = _scoped_node(node, None, [], True)
        if defaults is not None:
            defaults.strip(node)
        data = node.SerializeToString(deterministic=True)
        pieces.append(_field_head(1, len(data)))
        pieces.append(data)

    for part, size in parts:
        if not isinstance(part, _Segment):
            for i in range(size):
                python_node(part, i, [])
            continue
        op_types = part.core.op_histogram()
        rules = _segment_rules(graph, part, op_types)
        strip_rules: list[tuple[str, str, list[bytes]]] = []
        if defaults is not None:
            strip_rules = _strip_rules(part, defaults, op_types)
            # (an OpDef giving _output_shapes a default: the attr the core appends is
            # not stripped, the nodes are Python's)
            rules = [
                (op, _OUTPUTS_BY_PYTHON, missing, [])
                if "_output_shapes" in defaults.table(op)
                else (op, outputs, missing, args)
                for op, outputs, missing, args in rules
            ]
        external = list(part.core.external()) if respell else []
        used.update(rule[0] for rule in rules)
        checking = check and not part.exported_well_formed
        data, left, left_at, surely = part.core.export_nodes(
            rules,
            clear_devices,
            bool(external),
            strip_rules,
            _EXPORT_THREADS,
            _graph_def_schema() if checking else None,
        )
        views = [memoryview(c) for c in data]
        if checking:
            if not surely:
                graph_pb2.GraphDef.FromString(b"".join(views))
            part.exported_well_formed = True
        # The chunks in order, each left node's field made by Python where it goes.
        start = 0  # (where the chunk views[0] starts in the chunks joined)
        pos = 0  # (how much of views[0] is in pieces)
        for i, at in zip(left, left_at):
            while at - start > len(views[0]) and len(views) > 1:
                pieces.append(views[0][pos:])
                start += len(views.pop(0))
                pos = 0
            pieces.append(views[0][pos : at - start])
            pos = at - start
            python_node(part, i, external)
        pieces.append(views[0][pos:])
        pieces.extend(views[1:])
    if defaults is not None:
        defaults.strip_library(library)
    if clear_devices and not respell:
        library.library.SetInParent()  # (as _filter_nodes copies a given GraphDef's: present, if empty)
    pieces.append(library.SerializeToString(deterministic=True))
    return pieces, library, used


# The core's worker threads for export_nodes (0: all cores, as the import's rewrite by
# default); the bytes are the same for any.
_EXPORT_THREADS = 0


def _graph_def_schema() -> Any:
    """GraphDef's WireSchema (made once)."""
    return wire_schema(graph_pb2.GraphDef.DESCRIPTOR)


def _respell_mapped_inputs(gd: graph_pb2.GraphDef, ops: Sequence[Operation]) -> None:
    """Spell the data inputs an ``input_map`` remapped as TensorFlow's ops keep them in
    their NodeDefs: ``name:index`` (``as_graph_def`` renders ``name`` for output 0)."""
    mapped: dict[int, list[str]] = {}  # id(part) -> its input_map targets
    for node, op in zip(gd.node, ops):
        part = op._part
        if not isinstance(part, _Segment):
            continue
        external = mapped.get(id(part))
        if external is None:
            external = mapped[id(part)] = list(part.core.external())
        _respell_node(node, part, op._index, external)


def _respell_node(node: node_def_pb2.NodeDef, part: _Segment, index: int, external: list[str]) -> None:
    """``_respell_mapped_inputs`` of one node of ``part`` (``external``: its targets)."""
    if not external:
        return
    k = 0
    for src, idx in part.core.edges(index):
        if idx < 0:
            continue
        if src < 0:
            node.input[k] = f"{external[-1 - src]}:{idx}"
        k += 1


# ---------------------------------------------------------------------------
# the GraphDef under export_scope / clear_devices / clear_extraneous_savers
# ---------------------------------------------------------------------------
def _get_scope(name: str) -> str:
    name = name[1:] if name.startswith("^") else name
    return name.rsplit("/", 1)[0] if "/" in name else ""


def _op_name(tensor_name: str) -> str:
    name = tensor_name[1:] if tensor_name.startswith("^") else tensor_name
    return name.split(":")[0]


def _extraneous_saver_nodes(gd: graph_pb2.GraphDef, saver_def: saver_pb2.SaverDef | None) -> set[str]:
    """The nodes in the scopes of save/restore ops other than ``saver_def``'s
    (TensorFlow's rule: a saver is the scope its save and restore ops are in)."""
    keep: set[str | None] = {None}
    if saver_def is not None:
        keep = {
            _get_scope(_op_name(saver_def.restore_op_name)) + "/",
            _get_scope(_op_name(saver_def.save_tensor_name)) + "/",
        }
    saver_nodes = {n.name for n in gd.node if n.op in _SAVE_AND_RESTORE_OPS}
    scopes = {_get_scope(x) for x in saver_nodes} - saver_nodes
    extraneous = [s for s in (x + "/" for x in scopes) if s not in keep]
    return {n.name for n in gd.node if any(n.name.startswith(s) for s in extraneous)}


def _should_include(item: Any, export_scope: str | None, exclude: set[str] | None) -> bool:
    """TensorFlow's rule for nodes and collection items: those without a name are kept;
    a name is kept when under ``export_scope`` (a plain prefix test, as TensorFlow's) or
    an unbound input's, and not excluded."""
    if isinstance(item, str):
        name = item
    else:
        try:
            name = item.name
        except AttributeError:
            return True
    if exclude and (name in exclude or (isinstance(item, str) and item in exclude)):
        return False
    return bool(name.startswith(UNBOUND_INPUT_PREFIX) or not export_scope or name.startswith(export_scope))


def _scoped_node(
    node: node_def_pb2.NodeDef, export_scope: str | None, unbound: list[str], clear_devices: bool
) -> node_def_pb2.NodeDef:
    out = node_def_pb2.NodeDef()
    out.CopyFrom(node)
    scope = export_scope or ""
    for i, s in enumerate(node.input):
        if export_scope and not s.lstrip("^").startswith(export_scope):
            renamed = "^" + UNBOUND_INPUT_PREFIX + s[1:] if s.startswith("^") else UNBOUND_INPUT_PREFIX + s
            out.input[i] = renamed
            unbound.append(renamed)
        else:
            out.input[i] = strip_name_scope(s, scope)
    out.name = strip_name_scope(node.name, scope)
    if "_class" in node.attr:
        kept = []
        for entry in node.attr["_class"].list.s:
            text = entry.decode("utf-8", "surrogateescape")
            target = text.split("@", 1)[1] if "@" in text else text
            if not export_scope or target.startswith(export_scope):
                kept.append(strip_name_scope(text, scope).encode("utf-8", "surrogateescape"))
        out.attr["_class"].CopyFrom(attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(s=kept)))
    if node.op in ("Enter", "RefEnter") and "frame_name" in node.attr:
        frame = node.attr["frame_name"].s.decode("utf-8", "surrogateescape")
        # (outside the scope TensorFlow fails with an UnboundLocalError: kept as it is)
        if not export_scope or frame.startswith(export_scope):
            stripped = strip_name_scope(frame, scope).encode("utf-8", "surrogateescape")
            out.attr["frame_name"].CopyFrom(attr_value_pb2.AttrValue(s=stripped))
    if clear_devices:
        out.device = ""
    return out


def _filter_nodes(
    gd: graph_pb2.GraphDef,
    export_scope: str | None,
    exclude: set[str] | None,
    clear_devices: bool,
    unbound: list[str],
    given: bool,
) -> graph_pb2.GraphDef:
    """The nodes of ``gd`` an export keeps, as TensorFlow filters them: from a GraphDef
    the caller ``given`` (Saver.export_meta_graph's), whose library it copies (present,
    if empty), else from the graph node by node, which adds a library only when the
    graph has functions."""
    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(gd.versions)
    if given or gd.library.function:
        out.library.CopyFrom(gd.library)
    for node in gd.node:
        if _should_include(node.name, export_scope, exclude):
            out.node.append(_scoped_node(node, export_scope, unbound, clear_devices))
    return out


# ---------------------------------------------------------------------------
# meta_info_def.stripped_op_list and strip_default_attrs
# ---------------------------------------------------------------------------
def _node_ops(nodes: Iterable[node_def_pb2.NodeDef]) -> Iterator[str]:
    """The op types ``nodes`` use: theirs, and the function a call op calls."""
    for node in nodes:
        yield node.op
        if node.op in _CALL_OPS:
            yield node.attr["f"].func.name


def _ops_used(gd: graph_pb2.GraphDef, node_ops: Iterable[str] | None = None) -> list[str]:
    """The op types the graph (its nodes', or ``node_ops`` given) and the functions it
    reaches use (function names left out), sorted."""
    functions = {f.signature.name: f for f in gd.library.function}
    used: set[str] = set()
    todo: list[Any] = []

    def mark(op: str) -> None:
        if op not in used and op in functions:
            todo.append(functions[op])
        used.add(op)

    for op in _node_ops(gd.node) if node_ops is None else node_ops:
        mark(op)
    while todo:
        for op in _node_ops(todo.pop().node_def):
            mark(op)
    return sorted(op for op in used if op not in functions)


def _stripped_op_list(graph: Graph, gd: graph_pb2.GraphDef, node_ops: Iterable[str] | None = None) -> op_def_pb2.OpList:
    out = op_def_pb2.OpList()
    for name in _ops_used(gd, node_ops):
        op_def = graph._op_def(name)
        if op_def is not None:  # (TensorFlow too leaves out ops it does not know)
            out.op.append(op_def)
    return out


class _Defaults:
    """Per op type, its OpDef's attrs with a default and that default serialized
    (deterministically): strip_default_attrs drops an attr whose value serializes the
    same, or equals it as TensorFlow compares them (``is_default``). Empty for op types
    that are the library's functions (their calls keep every attr)."""

    def __init__(self, graph: Graph, functions: set[str]):
        self.graph = graph
        self.functions = functions
        self.tables: dict[str, dict[str, bytes]] = {}
        self.parsed: dict[bytes, attr_value_pb2.AttrValue] = {}  # a default, by its bytes

    def table(self, op_type: str) -> dict[str, bytes]:
        table = self.tables.get(op_type)
        if table is None:
            op_def = None if op_type in self.functions else self.graph._op_def(op_type)
            table = self.tables[op_type] = (
                {}
                if op_def is None
                else {
                    a.name: a.default_value.SerializeToString(deterministic=True)
                    for a in op_def.attr
                    if a.HasField("default_value")
                }
            )
        return table

    def is_default(self, op_type: str, attr: str, value: attr_value_pb2.AttrValue) -> bool:
        """Whether ``value`` is the default as TensorFlow compares them (see
        ``_attr_equal``: by serialization, and a tensor by its elements)."""
        want = self.table(op_type).get(attr)
        if want is None:
            return False
        if value.SerializeToString(deterministic=True) == want:
            return True
        default = self.parsed.get(want)
        if default is None:
            default = self.parsed[want] = attr_value_pb2.AttrValue.FromString(want)
        return equal_though_serialized_apart(value, default)

    def strip(self, node: node_def_pb2.NodeDef) -> None:
        table = self.table(node.op)
        if not table:
            return
        drop = [k for k, v in node.attr.items() if k in table and self.is_default(node.op, k, v)]
        for k in drop:
            del node.attr[k]

    def strip_library(self, gd: graph_pb2.GraphDef) -> None:
        for f in gd.library.function:
            for node in f.node_def:
                self.strip(node)


def _strip_default_attrs(graph: Graph, meta: meta_graph_pb2.MetaGraphDef) -> None:
    """Remove every attr whose value is its OpDef's default, from the nodes and from the
    functions' nodes (not from calls of functions), and say so in meta_info_def."""
    defaults = _Defaults(graph, {f.signature.name for f in meta.graph_def.library.function})
    for node in meta.graph_def.node:
        defaults.strip(node)
    defaults.strip_library(meta.graph_def)
    meta.meta_info_def.stripped_default_attrs = True


# ---------------------------------------------------------------------------
# collections
# ---------------------------------------------------------------------------
def _to_proto(item: Any, export_scope: str | None) -> Any:
    """``item.to_proto(export_scope)``; for a control-flow context, its nested contexts
    under the scope have it stripped too (TensorFlow writes them whole, so that
    importing its file under a scope fails: ``imp/imp/...`` is not in the graph)."""
    proto = item.to_proto(export_scope=export_scope)
    if proto is not None and export_scope and isinstance(item, ControlFlowContext):
        _strip_nested(item, proto, export_scope)
    return proto


def _strip_nested(context: ControlFlowContext, proto: Any, export_scope: str) -> None:
    for nested, entry in zip(context.nested_contexts, proto.nested_contexts):
        if not isinstance(nested, (CondContext, WhileContext)):
            continue
        inner = nested.to_proto(export_scope=export_scope)
        if inner is None:  # (outside the scope: written whole, as TensorFlow)
            continue
        _strip_nested(nested, inner, export_scope)
        (entry.cond_ctxt if isinstance(nested, CondContext) else entry.while_ctxt).CopyFrom(inner)


def _kind(item: Any) -> str:
    if isinstance(item, (str, bytes)):
        return "bytes_list"
    if isinstance(item, int):
        return "int64_list"
    if isinstance(item, float):
        return "float_list"
    if isinstance(item, any_pb2.Any):
        return "any_list"
    return "node_list"


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    raise TypeError(f"Expected binary or unicode string, got {item!r}")


def _add_collection(
    meta: meta_graph_pb2.MetaGraphDef,
    key: Any,
    graph: Graph,
    export_scope: str | None,
    exclude: set[str] | None,
    override: list[Any] | None = None,
    protos: dict[int, tuple[Any, str | None, Any]] | None = None,
) -> None:
    """TensorFlow's add_collection_def: a collection that cannot be written (items of
    mixed kinds, objects without a name or a proto) is left out, with a warning.
    ``protos``: the items' ``to_proto`` made so far in this export, by ``id`` (the item,
    its proto's type name, the proto or its bytes): an item in several collections (a
    variable: global and trainable) is converted once."""
    if not isinstance(key, (str, bytes)):
        _log.warning("Only collections with string type keys will be serialized. This key has %s", type(key))
        return
    items = override if override else graph.get_collection(key)
    items = [x for x in items if _should_include(x, export_scope, exclude)]
    if not items:
        return
    name = key.decode("utf-8") if isinstance(key, bytes) else key
    col = meta.collection_def[name]
    try:
        proto_cls = REGISTERED_PROTOS.get(name)
        if proto_cls is not None:
            for x in items:
                made = protos.get(id(x)) if protos is not None else None
                if made is None:
                    proto = _to_proto(x, export_scope)
                    made = (x, None if proto is None else proto.DESCRIPTOR.full_name, proto)
                    if protos is not None:
                        protos[id(x)] = made
                _, kind, proto = made
                if proto is None:
                    continue
                if kind != proto_cls.DESCRIPTOR.full_name:
                    raise TypeError(f"{x!r}.to_proto() is a {kind}")
                if not isinstance(proto, bytes):
                    proto = proto.SerializeToString(deterministic=True)
                    if protos is not None:
                        protos[id(x)] = (x, kind, proto)
                col.bytes_list.value.append(proto)
            return
        kind = _kind(items[0])
        if kind == "node_list":
            for x in items:
                if not export_scope or x.name.startswith(export_scope):
                    col.node_list.value.append(strip_name_scope(x.name, export_scope or ""))
        elif kind == "bytes_list":
            col.bytes_list.value.extend([_as_bytes(x) for x in items])
        elif kind == "any_list":
            col.any_list.value.extend(items)
        else:
            getattr(col, kind).value.extend(items)
    except Exception as e:
        _log.warning(
            "Issue encountered when serializing %s.\nType is unsupported, or the types of the "
            "items don't match field type in CollectionDef. Note this is a warning and "
            "probably safe to ignore.\n%s",
            name,
            e,
        )
        if name in meta.collection_def:
            del meta.collection_def[name]


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def write_message(message: Message, filename: str | os.PathLike[str], as_text: bool) -> None:
    """Write ``message`` to ``filename`` (binary, or text format), atomically: into a
    temporary file beside it, renamed into place (its directory is created). Map
    fields are written sorted by key (binary: deterministic serialization; text format
    sorts them), so the bytes do not depend on the process."""
    data = (
        text_format.MessageToString(message).encode("utf-8")
        if as_text
        else message.SerializeToString(deterministic=True)
    )
    write_atomic(filename, data, make_dirs=True)


# ---------------------------------------------------------------------------
# export_meta_graph
# ---------------------------------------------------------------------------
# Saver.export_meta_graph's graph_def: the graph's own, with shapes, inputs as
# as_graph_def renders them (not respelled under export_scope / clear_devices).
_GRAPH_AS_IS: Any = object()

# The default export writes the GraphDef at the bytes level (_graph_def_bytes); False:
# through messages, node by node (the reference the fast route is tested against).
_FAST_GRAPH_DEF = True


def _export(
    graph: Graph,
    graph_def: Any,
    meta_info_def: Any,
    saver_def: saver_pb2.SaverDef | None,
    collection_list: Iterable[Any] | None,
    export_scope: str | None,
    clear_devices: bool,
    clear_extraneous_savers: bool,
    strip_default_attrs: bool,
    unbound_inputs_col_name: str | None,
    written_saver_def: Any = _SAME,
    want_message: bool = True,
) -> tuple[meta_graph_pb2.MetaGraphDef | None, list[Buffer] | None]:
    """The export, and its serialization when made at the bytes level (in pieces to be
    written one after the other; else None);
    without ``want_message``, the message is not made from those bytes (None).
    ``saver_def`` picks the saver whose nodes and collection entry
    ``clear_extraneous_savers`` keeps, ``written_saver_def`` (default: ``saver_def``;
    None: none) is the one written."""
    respell = graph_def is None
    if graph_def is _GRAPH_AS_IS:
        graph_def = None
    filtered = bool(export_scope or clear_extraneous_savers or clear_devices)
    pieces: list[Buffer] | None = None
    if _FAST_GRAPH_DEF and graph_def is None and not export_scope and not clear_extraneous_savers:
        try:
            pieces, library, node_ops = _graph_def_bytes(
                graph,
                check=not want_message,
                clear_devices=clear_devices,
                strip=strip_default_attrs,
                respell=respell and clear_devices,
            )
        except DecodeError:
            pieces = None
    if pieces is not None:
        size = sum(len(memoryview(p)) for p in pieces)
        if size >= 1 << 31:
            raise SizeLimitError(f"GraphDef cannot be larger than 2GB. Received size: {size}.")
        if clear_devices and unbound_inputs_col_name:
            graph.clear_collection(unbound_inputs_col_name)  # (as the message route: none unbound)
        meta = meta_graph_pb2.MetaGraphDef()
        _meta_info(meta, meta_info_def)
        if not meta.meta_info_def.stripped_op_list.op:
            meta.meta_info_def.stripped_op_list.MergeFrom(_stripped_op_list(graph, library, node_ops))
        if strip_default_attrs:
            meta.meta_info_def.stripped_default_attrs = True
        _add_saver_and_collections(meta, graph, saver_def, written_saver_def, collection_list, None, None, False)
        # The fields in their numbers' order: meta_info_def (1), graph_def (2), the rest.
        head = meta_graph_pb2.MetaGraphDef(meta_info_def=meta.meta_info_def).SerializeToString(deterministic=True)
        meta.ClearField("meta_info_def")
        out = [head, _field_head(2, size), *pieces, meta.SerializeToString(deterministic=True)]
        if not want_message:
            return None, out  # (written as they are: the core's bytes never copied)
        joined = b"".join(out)
        try:
            return meta_graph_pb2.MetaGraphDef.FromString(joined), [joined]
        except DecodeError:
            pass
    # (data None after a DecodeError: a malformed node or recorded shape, reported as
    # this route reports it)

    exclude: set[str] | None = None
    if filtered:
        unbound: list[str] = []
        if graph_def is None:
            with graph._lock:
                full = graph.as_graph_def()
                ops = graph.get_operations()
            _with_shapes(graph, full, ops)
            if respell:
                _respell_mapped_inputs(full, ops)
        else:
            full = graph_def
        if clear_extraneous_savers:
            exclude = _extraneous_saver_nodes(full, saver_def)
        graph_def = _filter_nodes(full, export_scope, exclude, clear_devices, unbound, given=not respell)
        if unbound_inputs_col_name:
            graph.clear_collection(unbound_inputs_col_name)
            for name in unbound:
                graph.add_to_collection(unbound_inputs_col_name, name)
    elif graph_def is None:
        graph_def = graph_def_with_shapes(graph)
    if graph_def.ByteSize() >= 1 << 31:
        raise SizeLimitError(f"GraphDef cannot be larger than 2GB. Received size: {graph_def.ByteSize()}.")

    meta = meta_graph_pb2.MetaGraphDef()
    _meta_info(meta, meta_info_def)
    meta.graph_def.MergeFrom(graph_def)
    if not meta.meta_info_def.stripped_op_list.op:
        meta.meta_info_def.stripped_op_list.MergeFrom(_stripped_op_list(graph, meta.graph_def))
    if strip_default_attrs:
        _strip_default_attrs(graph, meta)
    _add_saver_and_collections(
        meta, graph, saver_def, written_saver_def, collection_list, export_scope, exclude, clear_extraneous_savers
    )
    return meta, None


def _meta_info(meta: meta_graph_pb2.MetaGraphDef, meta_info_def: Any) -> None:
    info = meta_info_def if meta_info_def is not None else meta_graph_pb2.MetaGraphDef.MetaInfoDef()
    info.tensorflow_version = TF_VERSION
    info.tensorflow_git_version = _git_version()
    meta.meta_info_def.MergeFrom(info)


def _add_saver_and_collections(
    meta: meta_graph_pb2.MetaGraphDef,
    graph: Graph,
    saver_def: saver_pb2.SaverDef | None,
    written_saver_def: Any,
    collection_list: Iterable[Any] | None,
    export_scope: str | None,
    exclude: set[str] | None,
    clear_extraneous_savers: bool,
) -> None:
    if written_saver_def is _SAME:
        written_saver_def = saver_def
    if written_saver_def is not None:
        meta.saver_def.MergeFrom(written_saver_def)
    keys = list(collection_list) if collection_list is not None else graph.get_all_collection_keys()
    protos: dict[int, tuple[Any, str | None, Any]] = {}
    for key in keys:
        if clear_extraneous_savers and key == "savers":
            if saver_def is None:
                continue  # (TensorFlow builds a new Saver in the graph here)
            from fastmeta.saver import Saver

            own = Saver(saver_def=saver_def, graph=graph)
            _add_collection(meta, key, graph, export_scope, exclude, override=[own])
        else:
            _add_collection(meta, key, graph, export_scope, exclude, protos=protos)


def export_meta_graph(
    filename: str | os.PathLike[str] | None = None,
    meta_info_def: Any = None,
    graph_def: Any = None,
    saver_def: Any = None,
    collection_list: Iterable[Any] | None = None,
    as_text: bool = False,
    graph: Graph | None = None,
    export_scope: str | None = None,
    clear_devices: bool = False,
    clear_extraneous_savers: bool = False,
    strip_default_attrs: bool = False,
    save_debug_info: bool = False,
    *,
    unbound_inputs_col_name: str | None = "unbound_inputs",
) -> meta_graph_pb2.MetaGraphDef:
    """The ``MetaGraphDef`` of ``graph`` (default: the default graph), as
    ``tf.compat.v1.train.export_meta_graph``; written to ``filename`` when given (binary,
    or text format with ``as_text``; atomically, its directory created).

    ``meta_info_def``, ``graph_def``, ``saver_def``: messages (fastmeta's or
    TensorFlow's; never modified) written in place of what the graph gives (a
    ``graph_def`` is written as given, without ``_output_shapes`` added; no saver_def
    is written unless given). ``collection_list``: the collection keys to write
    (default: all). ``export_scope``: only the nodes and collection items whose names
    start with it, the scope stripped from their names; inputs from outside it are
    renamed ``$unbound_inputs_<name>`` and listed in the graph's collection
    ``unbound_inputs_col_name`` (cleared first, as TensorFlow does, also by
    ``clear_devices`` and ``clear_extraneous_savers``). ``clear_devices``: devices
    cleared. ``clear_extraneous_savers``: the nodes of savers other than ``saver_def``'s
    (by name scope) and the other savers of the ``savers`` collection left out.
    ``strip_default_attrs``: attrs equal to their OpDef's default removed (and
    ``meta_info_def.stripped_default_attrs`` set). ``save_debug_info`` is refused:
    fastmeta records no stack traces of where ops were created.

    Without ``export_scope`` and ``clear_extraneous_savers`` (``clear_devices`` and
    ``strip_default_attrs`` allowed) the imported nodes are written from their bytes
    in the core, not made into messages one by one; with either of them, node by node.

    The differences from TensorFlow's export (shapes, OpDefs, versions) are listed in
    :mod:`fastmeta.export`'s docstring and the README.
    """
    meta = _export_meta_graph(
        filename,
        meta_info_def,
        graph_def,
        saver_def,
        collection_list,
        as_text,
        graph,
        export_scope,
        clear_devices,
        clear_extraneous_savers,
        strip_default_attrs,
        save_debug_info,
        unbound_inputs_col_name,
    )
    assert meta is not None
    return meta


def _export_meta_graph(
    filename: str | os.PathLike[str] | None,
    meta_info_def: Any,
    graph_def: Any,
    saver_def: Any,
    collection_list: Iterable[Any] | None,
    as_text: bool,
    graph: Graph | None,
    export_scope: str | None,
    clear_devices: bool,
    clear_extraneous_savers: bool,
    strip_default_attrs: bool,
    save_debug_info: bool,
    unbound_inputs_col_name: str | None,
    written_saver_def: Any = _SAME,
    want_message: bool = True,
) -> meta_graph_pb2.MetaGraphDef | None:
    """export_meta_graph; without ``want_message`` (Saver.save, which writes the file
    only) the MetaGraphDef may not be made: None then."""
    if save_debug_info:
        raise NotImplementedError("save_debug_info: fastmeta records no stack traces of where ops were created")
    if graph is not None and not isinstance(graph, Graph):
        raise TypeError(f"graph must be of type Graph. Received type: {type(graph)}.")
    graph = graph if graph is not None else get_default_graph()
    info = (
        _own(meta_info_def, meta_graph_pb2.MetaGraphDef.MetaInfoDef, "MetaInfoDef", "meta_info_def")
        if meta_info_def is not None
        else None
    )
    gd = (
        _own(graph_def, graph_pb2.GraphDef, "GraphDef", "graph_def")
        if graph_def is not None and graph_def is not _GRAPH_AS_IS
        else graph_def
    )
    sd = _own(saver_def, saver_pb2.SaverDef, "SaverDef", "saver_def") if saver_def is not None else None
    if isinstance(collection_list, (str, bytes)):
        collection_list = [collection_list]
    meta, data = _export(
        graph,
        gd,
        info,
        sd,
        collection_list,
        export_scope,
        clear_devices,
        clear_extraneous_savers,
        strip_default_attrs,
        unbound_inputs_col_name,
        written_saver_def,
        want_message or (as_text and bool(filename)),
    )
    if filename:
        if data is not None and not as_text:
            write_atomic(filename, data, make_dirs=True)
        else:
            assert meta is not None
            write_message(meta, filename, as_text)
    return meta
