"""Variables rebuilt from ``VariableDef`` protos, as TensorFlow's RefVariable and
ResourceVariable ``from_proto`` do (lookups by name in the graph, scope prepended), and
their ``to_proto`` (names stripped of an export scope)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastmeta.errors import CollectionError
from fastmeta.graph import Operation, Tensor, _Lookup, fixed_output_count
from fastmeta.protos import variable_pb2
from fastmeta.scoping import prepend_name_scope, strip_name_scope

__all__ = ["SaveSliceInfo", "Variable"]

_SYNCHRONIZATION = {0: "AUTO", 1: "NONE", 2: "ON_WRITE", 3: "ON_READ"}
_AGGREGATION = {0: "NONE", 1: "SUM", 2: "MEAN", 3: "ONLY_FIRST_REPLICA"}
_REF_OPS = ("Variable", "VariableV2", "AutoReloadVariable")


class SaveSliceInfo:
    """Where a partition lives in its full variable (``full_name``, ``full_shape``,
    ``var_offset``, ``var_shape``)."""

    def __init__(
        self, full_name: str, full_shape: list[int], var_offset: list[int], var_shape: list[int]
    ):
        self.full_name = full_name
        self.full_shape = full_shape
        self.var_offset = var_offset
        self.var_shape = var_shape

    @classmethod
    def from_proto(
        cls, proto: variable_pb2.SaveSliceInfoDef, import_scope: str | None = None
    ) -> SaveSliceInfo:
        """Rebuild from a SaveSliceInfoDef; ``full_name`` gets the scope prepended."""
        return cls(
            prepend_name_scope(proto.full_name, import_scope or ""),
            [int(x) for x in proto.full_shape],
            [int(x) for x in proto.var_offset],
            [int(x) for x in proto.var_shape],
        )

    @property
    def spec(self) -> str:
        """The slice spec string of save/restore ops: ``"<full shape> <off>,<len>:..."``."""
        full = " ".join(str(d) for d in self.full_shape)
        sl = ":".join(f"{o},{s}" for o, s in zip(self.var_offset, self.var_shape))
        return f"{full} {sl}"

    def to_proto(self, export_scope: str | None = None) -> variable_pb2.SaveSliceInfoDef | None:
        """The SaveSliceInfoDef (None when ``full_name`` is outside ``export_scope``)."""
        if export_scope is not None and not self.full_name.startswith(export_scope):
            return None
        out = variable_pb2.SaveSliceInfoDef(
            full_name=strip_name_scope(self.full_name, export_scope or "")
        )
        out.full_shape.extend(self.full_shape)
        out.var_offset.extend(self.var_offset)
        out.var_shape.extend(self.var_shape)
        return out


def _lookup(graph: _Lookup, key: str, name: str) -> Operation | Tensor:
    try:
        return graph.as_graph_element(name)
    except (KeyError, ValueError) as e:
        raise CollectionError(
            f"collection '{key}': variable entry refers to '{name}', "
            f"which is not in the graph ({e})",
            key=key,
            name=name,
        ) from None


def _tensor(graph: _Lookup, key: str, name: str) -> Tensor:
    fast = graph._resolve_tensor(name)
    if fast is not None:
        return fast
    x = _lookup(graph, key, name)
    if not isinstance(x, Tensor):
        raise CollectionError(
            f"collection '{key}': '{name}' must name a tensor", key=key, name=name
        )
    return x


def _op(graph: _Lookup, key: str, name: str) -> Operation:
    x = _lookup(graph, key, name)
    return x if isinstance(x, Operation) else x.op


def variables_from_protos(
    protos: Sequence[variable_pb2.VariableDef],
    import_scope: str | None,
    *,
    graph: _Lookup,
    segment: Any,
) -> list[Variable | None]:
    """``Variable.from_proto`` for many VariableDefs of one import at once: their names
    are resolved in the import's segment (``segment``, the core's result) in a single
    call into the core. An entry this cannot settle exactly as from_proto would (a name
    not in the segment or not a plain ``op``/``op:k``, an output count that depends on
    the node, a resource variable whose snapshot is not its ReadVariableOp) is None:
    the caller then uses from_proto, which also gives the errors. Field checks (and
    their ValueErrors) are from_proto's."""
    scope = import_scope or ""
    names: list[str] = []
    for p in protos:
        names += (
            prepend_name_scope(p.variable_name, scope),
            prepend_name_scope(p.initializer_name, scope),
            prepend_name_scope(p.snapshot_name, scope),
            prepend_name_scope(p.initial_value_name, scope),
        )
    nodes, outs, op_ids, op_types = segment.core.find_elements(names)
    counts = [fixed_output_count(graph._op_def(op_type)) for op_type in op_types]
    read_op = op_types.index("ReadVariableOp") if "ReadVariableOp" in op_types else -2
    g = graph._graph

    def tensor(j: int) -> Tensor | None:
        node, out = nodes[j], outs[j]
        if node < 0 or out < 0:
            return None
        count = counts[op_ids[j]]
        if count is None or out >= count:
            return None
        return Tensor(Operation(g, segment, node), out)

    result: list[Variable | None] = []
    for k, p in enumerate(protos):
        j = 4 * k
        v = Variable()
        try:
            v._set_fields(p, scope)
        except ValueError:
            result.append(None)  # from_proto raises it, in collection order
            continue
        variable = tensor(j)
        snapshot = tensor(j + 2)
        initial = tensor(j + 3) if p.initial_value_name else None
        init_node, init_out = nodes[j + 1], outs[j + 1]
        if (
            variable is None
            or snapshot is None
            or (p.initial_value_name and initial is None)
            or init_node < 0
            or (init_out >= 0 and tensor(j + 1) is None)
            or (v._is_resource and op_ids[j + 2] != read_op)
        ):
            result.append(None)
            continue
        v._variable = variable
        v._initializer = Operation(g, segment, init_node)
        v._initial_value = initial
        v._snapshot = snapshot
        v._graph_element = snapshot
        result.append(v)
    return result


class Variable:
    """A variable of an imported graph (ref or resource kind), rebuilt from its VariableDef.

    ``name`` is the variable tensor's name (``w:0``; the handle for resource variables),
    ``op`` its op, ``initializer`` the assign op, ``snapshot`` the read tensor,
    ``initial_value`` the initial-value tensor (None when the proto had none).
    """

    def __init__(self) -> None:
        self._variable: Tensor
        self._initializer: Operation
        self._snapshot: Tensor
        self._graph_element: Tensor
        self._cached_value: Tensor | None = None
        self._initial_value: Tensor | None = None
        self._is_resource = False
        self._trainable = True
        self._synchronization = 0
        self._aggregation = 0
        self._save_slice_info: SaveSliceInfo | None = None

    @classmethod
    def from_proto(
        cls,
        variable_def: variable_pb2.VariableDef,
        import_scope: str | None = None,
        *,
        graph: _Lookup,
        key: str = "variables",
    ) -> Variable:
        """Rebuild a variable from ``variable_def`` in ``graph`` (names prefixed with
        ``import_scope``). A name that does not resolve → CollectionError naming ``key``."""
        scope = import_scope or ""
        v = cls()
        v._set_fields(variable_def, scope)
        name = prepend_name_scope(variable_def.variable_name, scope)
        if v._is_resource:
            v._variable = _tensor(graph, key, name)
            v._initializer = _op(
                graph, key, prepend_name_scope(variable_def.initializer_name, scope)
            )
            if variable_def.initial_value_name:
                v._initial_value = _tensor(
                    graph, key, prepend_name_scope(variable_def.initial_value_name, scope)
                )
            if variable_def.snapshot_name:
                snapshot = _tensor(
                    graph, key, prepend_name_scope(variable_def.snapshot_name, scope)
                )
                v._cached_value = snapshot if snapshot.op.type != "ReadVariableOp" else None
                seen = 0
                while snapshot.op.type != "ReadVariableOp":
                    ins = snapshot.op.inputs
                    seen += 1
                    if not ins or seen > 10000:
                        raise CollectionError(
                            f"collection '{key}': no ReadVariableOp behind snapshot "
                            f"'{variable_def.snapshot_name}'",
                            key=key,
                            name=variable_def.snapshot_name,
                        )
                    snapshot = ins[0]
                v._graph_element = snapshot
            else:
                v._graph_element = _tensor(
                    graph, key, v._variable.op.name + "/Read/ReadVariableOp:0"
                )
            v._snapshot = v._cached_value if v._cached_value is not None else v._graph_element
        else:
            v._variable = _tensor(graph, key, name)
            v._initializer = _op(
                graph, key, prepend_name_scope(variable_def.initializer_name, scope)
            )
            if variable_def.initial_value_name:
                v._initial_value = _tensor(
                    graph, key, prepend_name_scope(variable_def.initial_value_name, scope)
                )
            v._snapshot = _tensor(graph, key, prepend_name_scope(variable_def.snapshot_name, scope))
            v._graph_element = v._snapshot
        return v

    def _set_fields(self, variable_def: variable_pb2.VariableDef, scope: str) -> None:
        """Everything of a VariableDef but its graph elements, checked as TensorFlow does."""
        self._is_resource = bool(variable_def.is_resource)
        if variable_def.synchronization not in _SYNCHRONIZATION:
            raise ValueError(
                "Invalid variable synchronization mode: "
                f"{variable_def.synchronization} for variable: {variable_def.variable_name}"
            )
        if variable_def.aggregation not in _AGGREGATION:
            raise ValueError(
                f"Invalid variable aggregation mode: {variable_def.aggregation} for variable: "
                f"{variable_def.variable_name}"
            )
        self._synchronization = int(variable_def.synchronization)
        self._aggregation = int(variable_def.aggregation)
        self._trainable = bool(variable_def.trainable)
        if self._synchronization == 3 and self._trainable:
            raise ValueError(
                "Synchronization value can be set to VariableSynchronization.ON_READ only for "
                f"non-trainable variables. You have specified trainable=True and "
                "synchronization=VariableSynchronization.ON_READ "
                f"(variable {variable_def.variable_name})."
            )
        if variable_def.HasField("save_slice_info_def"):
            self._save_slice_info = SaveSliceInfo.from_proto(variable_def.save_slice_info_def, scope)

    # -- properties -------------------------------------------------------
    @property
    def name(self) -> str:
        """The variable tensor's name (``w:0``)."""
        return self._variable.name

    @property
    def op(self) -> Operation:
        """The variable op (VariableV2 / VarHandleOp)."""
        return self._variable.op

    @property
    def graph(self) -> Any:
        """The graph holding the variable."""
        return self._variable.op.graph

    @property
    def handle(self) -> Tensor:
        """The resource handle (resource variables) or the ref tensor."""
        return self._variable

    @property
    def device(self) -> str:
        """The variable op's device."""
        return self._variable.op.device

    @property
    def initializer(self) -> Operation:
        """The op that assigns the initial value."""
        return self._initializer

    @property
    def snapshot(self) -> Tensor:
        """The tensor reading the variable's value."""
        return self._snapshot

    @property
    def initial_value(self) -> Tensor | None:
        """The initial-value tensor (None when the VariableDef did not name one)."""
        return self._initial_value

    @property
    def trainable(self) -> bool:
        """Whether the variable is trainable."""
        return self._trainable

    @property
    def synchronization(self) -> int:
        """VariableSynchronization value (0 AUTO, 1 NONE, 2 ON_WRITE, 3 ON_READ)."""
        return self._synchronization

    @property
    def aggregation(self) -> int:
        """VariableAggregation value (0 NONE, 1 SUM, 2 MEAN, 3 ONLY_FIRST_REPLICA)."""
        return self._aggregation

    @property
    def is_resource(self) -> bool:
        """True for resource variables (VarHandleOp)."""
        return self._is_resource

    @property
    def dtype(self) -> int | None:
        """The value DataType (base type, no ``_REF``)."""
        if self._is_resource:
            attr = self.op.node_def.attr.get("dtype")
            return int(attr.type) if attr is not None else None
        d = self._variable.dtype
        return d - 100 if d is not None and d > 100 else d

    @property
    def shape(self) -> Any:
        """The variable's TensorShapeProto (from the op's ``shape`` attr)."""
        attr = self.op.node_def.attr.get("shape")
        return attr.shape if attr is not None else None

    @property
    def save_slice_info(self) -> SaveSliceInfo | None:
        """Partition information (None for whole variables)."""
        return self._save_slice_info

    def _shared_name(self) -> str:
        """The name save/restore ops use (the op name)."""
        return self.op.name

    def to_proto(self, export_scope: str | None = None) -> variable_pb2.VariableDef | None:
        """The VariableDef with names stripped of ``export_scope`` (None when the variable
        is outside it), as TensorFlow's ``to_proto``."""
        if export_scope is not None and not self._variable.name.startswith(export_scope):
            return None
        scope = export_scope or ""
        out = variable_pb2.VariableDef()
        out.variable_name = strip_name_scope(self._variable.name, scope)
        if self._initial_value is not None:
            out.initial_value_name = strip_name_scope(self._initial_value.name, scope)
        out.initializer_name = strip_name_scope(self._initializer.name, scope)
        out.snapshot_name = strip_name_scope(self._snapshot.name, scope)
        if self._is_resource:
            out.is_resource = True
        out.trainable = self._trainable
        out.synchronization = self._synchronization  # type: ignore[assignment]
        out.aggregation = self._aggregation  # type: ignore[assignment]
        if self._save_slice_info is not None:
            info = self._save_slice_info.to_proto(export_scope)
            if info is not None:
                out.save_slice_info_def.MergeFrom(info)
        return out

    def __repr__(self) -> str:
        kind = "ResourceVariable" if self._is_resource else "RefVariable"
        return f"<fastmeta.Variable ({kind}) '{self.name}'>"
