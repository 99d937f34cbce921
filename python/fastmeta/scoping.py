"""Name-scope helpers with TensorFlow's semantics, and the rescoping of collection protos.

TensorFlow splices the scope into a regular expression unescaped; fastmeta does the
same string operation literally, so scopes with regex metacharacters behave.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from google.protobuf.message import DecodeError, Message

from fastmeta.errors import CollectionError, CollectionValueError, ScopeError
from fastmeta.protos import (
    control_flow_pb2,
    meta_graph_pb2,
    queue_runner_pb2,
    saver_pb2,
    variable_pb2,
)

__all__ = [
    "REGISTERED_PROTOS",
    "VARIABLE_COLLECTIONS",
    "importer_prefix",
    "prepend_name_scope",
    "rescope_collection",
    "rescope_proto",
    "strip_name_scope",
    "strip_name_scopes",
    "validate_import_scope",
]

_ROOT_SCOPE = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")
_NODE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_./-]*(>[A-Za-z0-9.][A-Za-z0-9_./-]*)*$")
_CONTROL = "^"
_LOC = "loc:@"

# Collection keys TensorFlow registers a proto for (GraphKeys -> proto class).
REGISTERED_PROTOS: dict[str, type[Message]] = {
    "variables": variable_pb2.VariableDef,
    "trainable_variables": variable_pb2.VariableDef,
    "local_variables": variable_pb2.VariableDef,
    "model_variables": variable_pb2.VariableDef,
    "moving_average_variables": variable_pb2.VariableDef,
    "global_step": variable_pb2.VariableDef,
    "metric_variables": variable_pb2.VariableDef,
    "savers": saver_pb2.SaverDef,
    "queue_runners": queue_runner_pb2.QueueRunnerDef,
    "cond_context": control_flow_pb2.CondContextDef,
    "while_context": control_flow_pb2.WhileContextDef,
}

# Keys whose Variable objects TensorFlow memoises by serialized VariableDef.
VARIABLE_COLLECTIONS = frozenset(
    {
        "variables",
        "local_variables",
        "metric_variables",
        "model_variables",
        "trainable_variables",
        "moving_average_variables",
        "concatenated_variables",
        "trainable_resource_variables",
    }
)


def validate_import_scope(import_scope: str | None) -> str:
    """Check an import scope by TensorFlow's name_scope rules; return it without a trailing '/'."""
    if not import_scope:
        return ""
    if not isinstance(import_scope, str):
        raise ScopeError(f"import_scope must be a string, got {type(import_scope).__name__}")
    if not _ROOT_SCOPE.match(import_scope):
        raise ScopeError(f"'{import_scope}' is not a valid scope name")
    scope = import_scope[:-1] if import_scope.endswith("/") else import_scope
    if not _NODE_NAME.match(scope):
        # TensorFlow's importer checks the prefix against its node name rules.
        raise ScopeError(f"Imported node name prefix '{scope}/' would lead to invalid node names")
    return scope


def importer_prefix(stack: str) -> str:
    """The prefix the nodes of an import under name stack ``stack`` get (the core's
    ``prefix``: names become ``<prefix>/<name>``). TensorFlow's C++ importer adds a '/'
    to the prefix it is given unless it ends in one: an ``import_scope`` of ``"a//"``
    enters the name stack ``"a/"`` and names the nodes ``a/x``, not ``a//x``."""
    return stack[:-1] if stack.endswith("/") else stack


def prepend_name_scope(name: str, scope: str) -> str:
    """``x`` -> ``S/x``, ``^x`` -> ``^S/x``, ``loc:@x`` -> ``loc:@S/x`` (no-op without a scope)."""
    if not scope:
        return name
    if scope.endswith("/"):
        scope = scope[:-1]
    if name.startswith(_CONTROL):
        return f"^{scope}/{name[1:]}"
    if name.startswith(_LOC):
        return f"{_LOC}{scope}/{name[len(_LOC) :]}"
    return f"{scope}/{name}"


def strip_name_scope(name: str, scope: str) -> str:
    """The inverse of :func:`prepend_name_scope` (names outside the scope are unchanged)."""
    return strip_name_scopes((name,), scope)[0]


def strip_name_scopes(names: Sequence[str], scope: str) -> list[str]:
    r""":func:`strip_name_scope` of many names. TensorFlow's rule: drop one trailing '/'
    of the scope, then replace the first match of ``([\^]|loc:@|^)<scope>[/]+(.*)`` by
    its marker and rest, the scope spliced into the pattern unescaped (so a '.' in it
    matches any character, and a marker later in the name is found too). A name that
    starts with "scope/" and no further '/' is cut by slicing (the match at its start)."""
    if not scope:
        return list(names)
    base = scope[:-1] if scope.endswith("/") else scope
    pattern = re.compile(r"([\^]|loc:@|^)" + base + r"[\/]+(.*)")
    strip = functools.partial(pattern.sub, r"\1\2", count=1)
    if not _literal(base):
        return [strip(n) for n in names]
    head = base + "/"
    cut = len(head)
    return [n[cut:] if n.startswith(head) and not n.startswith("/", cut) else strip(n) for n in names]


def _literal(s: str) -> bool:
    """Whether ``s`` as a regex matches itself at a name's start (its only characters a
    regex reads specially are '.' and '-', which also match themselves there)."""
    rest = s.replace(".", "").replace("-", "")
    return re.escape(rest) == rest


def _values_def(values_def: control_flow_pb2.ValuesDef, scope: str) -> None:
    values = [prepend_name_scope(v, scope) for v in values_def.values]
    del values_def.values[:]
    values_def.values.extend(values)
    external = {
        prepend_name_scope(k, scope): prepend_name_scope(v, scope) for k, v in values_def.external_values.items()
    }
    values_def.external_values.clear()
    for k, v in external.items():
        values_def.external_values[k] = v


def _repeated(field, scope: str) -> None:  # type: ignore[no-untyped-def]
    values = [prepend_name_scope(v, scope) for v in field]
    del field[:]
    field.extend(values)


def _context(ctxt: control_flow_pb2.ControlFlowContextDef, scope: str) -> None:
    which = ctxt.WhichOneof("ctxt")
    if which == "cond_ctxt":
        rescope_proto(ctxt.cond_ctxt, scope)
    elif which == "while_ctxt":
        rescope_proto(ctxt.while_ctxt, scope)


def rescope_proto(proto: Message, scope: str) -> Message:
    """Put the names inside a registered collection proto under ``scope``, in place
    (the fields TensorFlow's from_proto functions prepend); returns ``proto``."""
    if not scope:
        return proto
    if isinstance(proto, variable_pb2.VariableDef):
        proto.variable_name = prepend_name_scope(proto.variable_name, scope)
        proto.initializer_name = prepend_name_scope(proto.initializer_name, scope)
        proto.snapshot_name = prepend_name_scope(proto.snapshot_name, scope)
        if proto.initial_value_name:
            proto.initial_value_name = prepend_name_scope(proto.initial_value_name, scope)
        if proto.HasField("save_slice_info_def"):
            info = proto.save_slice_info_def
            info.full_name = prepend_name_scope(info.full_name, scope)
    elif isinstance(proto, saver_pb2.SaverDef):
        proto.filename_tensor_name = prepend_name_scope(proto.filename_tensor_name, scope)
        proto.save_tensor_name = prepend_name_scope(proto.save_tensor_name, scope)
        proto.restore_op_name = prepend_name_scope(proto.restore_op_name, scope)
    elif isinstance(proto, queue_runner_pb2.QueueRunnerDef):
        proto.queue_name = prepend_name_scope(proto.queue_name, scope)
        _repeated(proto.enqueue_op_name, scope)
        proto.close_op_name = prepend_name_scope(proto.close_op_name, scope)
        proto.cancel_op_name = prepend_name_scope(proto.cancel_op_name, scope)
    elif isinstance(proto, control_flow_pb2.CondContextDef):
        proto.context_name = prepend_name_scope(proto.context_name, scope)
        proto.pred_name = prepend_name_scope(proto.pred_name, scope)
        proto.pivot_name = prepend_name_scope(proto.pivot_name, scope)
        _values_def(proto.values_def, scope)
        for nested in proto.nested_contexts:
            _context(nested, scope)
    elif isinstance(proto, control_flow_pb2.WhileContextDef):
        proto.context_name = prepend_name_scope(proto.context_name, scope)
        if proto.maximum_iterations_name:
            proto.maximum_iterations_name = prepend_name_scope(proto.maximum_iterations_name, scope)
        proto.pivot_for_pred_name = prepend_name_scope(proto.pivot_for_pred_name, scope)
        proto.pivot_for_body_name = prepend_name_scope(proto.pivot_for_body_name, scope)
        proto.pivot_name = prepend_name_scope(proto.pivot_name, scope)
        _repeated(proto.loop_exit_names, scope)
        _repeated(proto.loop_enter_names, scope)
        _values_def(proto.values_def, scope)
        for nested in proto.nested_contexts:
            _context(nested, scope)
    return proto


def parse_registered(key: str, value: bytes) -> Message:
    """Parse one bytes_list entry of a registered collection key."""
    proto = REGISTERED_PROTOS[key]()
    try:
        proto.ParseFromString(value)
    except DecodeError as e:
        raise CollectionError(
            f"collection '{key}': an entry is not a valid {proto.DESCRIPTOR.name}: {e}", key=key
        ) from e
    return proto


def _scoped_text(key: str, value: bytes, scope: str) -> bytes:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as e:  # (TensorFlow's: a ValueError)
        raise CollectionValueError(
            f"collection '{key}': entry {value[:40]!r} is not UTF-8 text and cannot be put under scope '{scope}'",
            key=key,
        ) from e
    return prepend_name_scope(text, scope).encode("utf-8")


def rescope_collection(key: str, collection: meta_graph_pb2.CollectionDef, scope: str) -> meta_graph_pb2.CollectionDef:
    """A copy of ``collection`` with its names under ``scope``, as a re-export of the
    imported graph would carry them (int64, float and Any values are unchanged)."""
    out = meta_graph_pb2.CollectionDef()
    out.CopyFrom(collection)
    if not scope:
        return out
    kind = out.WhichOneof("kind")
    if kind == "node_list":
        _repeated(out.node_list.value, scope)
    elif kind == "bytes_list":
        if key in REGISTERED_PROTOS:
            values = [
                rescope_proto(parse_registered(key, v), scope).SerializeToString(deterministic=True)
                for v in out.bytes_list.value
            ]
        else:
            values = [_scoped_text(key, v, scope) for v in out.bytes_list.value]
        del out.bytes_list.value[:]
        out.bytes_list.value.extend(values)
    return out


def while_frame_names(collection_def: dict[str, meta_graph_pb2.CollectionDef], scope: str) -> list[tuple[str, str]]:
    """(final node name, frame name) for every value of every while context, nested
    ones included: TensorFlow sets frame_name on those that are Enter ops when the
    import is scoped."""
    if not scope:
        return []
    out: list[tuple[str, str]] = []

    def visit_while(ctxt: control_flow_pb2.WhileContextDef) -> None:
        frame = prepend_name_scope(ctxt.context_name, scope)
        for value in ctxt.values_def.values:
            node = prepend_name_scope(value, scope).split(":")[0]
            out.append((node, frame))
        for nested in ctxt.nested_contexts:
            visit(nested)

    def visit_cond(ctxt: control_flow_pb2.CondContextDef) -> None:
        for nested in ctxt.nested_contexts:
            visit(nested)

    def visit(ctxt: control_flow_pb2.ControlFlowContextDef) -> None:
        which = ctxt.WhichOneof("ctxt")
        if which == "while_ctxt":
            visit_while(ctxt.while_ctxt)
        elif which == "cond_ctxt":
            visit_cond(ctxt.cond_ctxt)

    for key, visitor in (("while_context", visit_while), ("cond_context", visit_cond)):
        coll = collection_def.get(key)
        if coll is None or coll.WhichOneof("kind") != "bytes_list":
            continue
        for value in coll.bytes_list.value:
            visitor(parse_registered(key, value))  # type: ignore[arg-type]
    return out
