"""Variables rebuilt from ``VariableDef`` protos, as TensorFlow's RefVariable and
ResourceVariable ``from_proto`` do (lookups by name in the graph, scope prepended), and
their ``to_proto`` (names stripped of an export scope)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from fastmeta.errors import CollectionIndexError, CollectionValueError
from fastmeta.graph import _REF_OFFSET, Operation, Tensor, _Lookup, collection_element, fixed_output_count
from fastmeta.protos import variable_pb2
from fastmeta.scoping import prepend_name_scope, strip_name_scope

__all__ = ["SaveSliceInfo", "Variable"]

_SYNCHRONIZATION = {0: "AUTO", 1: "NONE", 2: "ON_WRITE", 3: "ON_READ"}
_AGGREGATION = {0: "NONE", 1: "SUM", 2: "MEAN", 3: "ONLY_FIRST_REPLICA"}
_ON_READ = 3  # VariableSynchronization.ON_READ: only for non-trainable variables
_REF_OPS = ("Variable", "VariableV2", "AutoReloadVariable")
_VIEW_ATTRS = frozenset(("_variable", "_initializer", "_snapshot", "_graph_element", "_initial_value"))


class SaveSliceInfo:
    """Where a partition lives in its full variable (``full_name``, ``full_shape``,
    ``var_offset``, ``var_shape``)."""

    def __init__(self, full_name: str, full_shape: list[int], var_offset: list[int], var_shape: list[int]):
        self.full_name = full_name
        self.full_shape = full_shape
        self.var_offset = var_offset
        self.var_shape = var_shape

    @classmethod
    def from_proto(cls, proto: variable_pb2.SaveSliceInfoDef, import_scope: str | None = None) -> SaveSliceInfo:
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
        out = variable_pb2.SaveSliceInfoDef(full_name=strip_name_scope(self.full_name, export_scope or ""))
        out.full_shape.extend(self.full_shape)
        out.var_offset.extend(self.var_offset)
        out.var_shape.extend(self.var_shape)
        return out


def _tensor(graph: _Lookup, key: str, name: str) -> Tensor:
    fast = graph._resolve_tensor(name)
    if fast is not None:
        return fast
    x = collection_element(graph, key, name)
    if not isinstance(x, Tensor):  # (TensorFlow's get_tensor_by_name refuses it: a ValueError)
        raise CollectionValueError(
            f"collection '{key}': The name '{name}' refers to an Operation, not a Tensor. Tensor names must be "
            'of the form "<op_name>:<output_index>".',
            key=key,
            name=name,
        )
    return x


def _tensor_or_op(graph: _Lookup, key: str, name: str) -> Tensor | Operation:
    fast = graph._resolve_tensor(name)
    return fast if fast is not None else collection_element(graph, key, name)


def _op(graph: _Lookup, key: str, name: str) -> Operation:
    x = collection_element(graph, key, name)
    return x if isinstance(x, Operation) else x.op


def _require_attr(op: Operation, attr: str, key: str, name: str) -> None:
    # A resource variable takes its shape and dtype from its handle op's attrs:
    # TensorFlow's from_proto fails (get_attr's ValueError) when the name resolves to an
    # op without them (an unscoped import's variable names resolve to the graph's
    # existing ops of those names).
    if attr not in op.node_def.attr:
        raise CollectionValueError(
            f"collection '{key}': Operation '{op.name}' has no attr named '{attr}'.", key=key, name=name
        )


def bulk_prefix(import_scope: str | None) -> str:
    """What the bulk path prepends to a VariableDef's names: ``"scope/"``, or ``""``."""
    # Plain concatenation where prepend_name_scope would also handle '^x' / 'loc:@x':
    # such a name never resolves either way ('S/^x' is no node name), so the entry
    # goes to from_proto, which prefixes it exactly.
    scope = import_scope or ""
    return (scope[:-1] if scope.endswith("/") else scope) + "/" if scope else ""


# Columns of the core's variable rows (fastmeta::VariableDefRow): node, output and op
# type of the variable, initializer, snapshot and initial value names, then
# synchronization, aggregation and flags.
_ROW_COLUMNS = 15
_PARSED, _RESOURCE, _TRAINABLE, _SLICE_INFO, _INITIAL_VALUE, _CANONICAL = 1, 2, 4, 8, 16, 32


class BulkVariables:
    """The variables of one import's memoised collections (``variables``,
    ``trainable_variables``, ...) that the core settles in bulk: one call parses their
    VariableDefs (each distinct one once: equal bytes are one variable, as TensorFlow
    memoises them) and resolves their names in the import's segment (``segment``, the
    core's result). A VariableDef this cannot settle exactly as ``from_proto`` would
    (bytes the core does not read exactly as protobuf does, a name not in the segment or
    not a plain ``op``/``op:k``, an output count that depends on the node, a resource
    variable whose snapshot is not its ReadVariableOp, a field value from_proto rejects,
    a SaveSliceInfoDef protobuf rejects) is left unsettled: the caller uses from_proto
    for it, which also gives the errors, in collection order.

    Everything is checked here; the Variable objects are made on first use
    (:meth:`get_row`, :meth:`items`, :meth:`iterate`): a large graph has tens of
    thousands of variables, and an import returns before any of them is looked at. Each
    variable holds node indices and makes its Operation and Tensor views on first use too."""

    def __init__(
        self, import_scope: str | None, *, graph: _Lookup, segment: Any, collections: Mapping[str, list[bytes]]
    ) -> None:
        defs: list[bytes] = []
        for values in collections.values():
            defs.extend(values)
        rows = segment.core.variable_rows(defs, bulk_prefix(import_scope))
        self._setup(import_scope, graph, segment, rows, {k: len(v) for k, v in collections.items()})

    @classmethod
    def from_meta_graph(
        cls, import_scope: str | None, *, graph: _Lookup, segment: Any, counts: Mapping[str, int]
    ) -> BulkVariables | None:
        """The same, for the collections named in ``counts`` (key -> how many values
        protobuf reads there), read by the core from its copy of the MetaGraphDef: no
        bytes object per value. None when the core does not read them so (then use the
        constructor)."""
        got = segment.core.variable_rows_of(list(counts), bulk_prefix(import_scope))
        if got is None or got[1] != list(counts.values()):
            return None
        bulk = cls.__new__(cls)
        bulk._setup(import_scope, graph, segment, got[0], dict(counts))
        return bulk

    def _setup(
        self, import_scope: str | None, graph: _Lookup, segment: Any, core_rows: tuple[Any, ...], counts: dict[str, int]
    ) -> None:
        scope = import_scope or ""
        self._graph = graph._graph  # (not the lookup itself: an import's transaction)
        self._segment = segment
        raw_rows, op_types, name_blob, raw_offsets, raw_row_of, slice_defs = core_rows
        row_of = np.frombuffer(raw_row_of, dtype=np.int32)
        self._key_rows: dict[str, Any] = {}
        start = 0
        for key, n in counts.items():
            self._key_rows[key] = row_of[start : start + n]
            start += n
        rows = np.frombuffer(raw_rows, dtype=np.int64).reshape(-1, _ROW_COLUMNS)
        nodes, outs, ops = rows[:, 0:4], rows[:, 4:8], rows[:, 8:12]
        sync, agg, flags = rows[:, 12], rows[:, 13], rows[:, 14]
        # Output count per op type; -1 where it depends on the node, and for op id -1 (the
        # last entry): such outputs are never settled here.
        outputs = [fixed_output_count(graph._op_def(t)) for t in op_types]
        count = np.array([-1 if c is None else c for c in outputs] + [-1], dtype=np.int64)[ops]
        is_tensor = (nodes >= 0) & (outs >= 0) & (outs < count)
        no_initial = (flags & _INITIAL_VALUE) == 0
        trainable = (flags & _TRAINABLE) != 0
        resource = (flags & _RESOURCE) != 0
        read_op = op_types.index("ReadVariableOp") if "ReadVariableOp" in op_types else -2
        handle_op = op_types.index("VarHandleOp") if "VarHandleOp" in op_types else -2
        settled = (
            ((flags & _PARSED) != 0)
            & is_tensor[:, 0]
            & is_tensor[:, 2]
            & (nodes[:, 1] >= 0)
            & ((outs[:, 1] < 0) | is_tensor[:, 1])
            & (no_initial | is_tensor[:, 3])
            # from_proto's ValueErrors (the core hands back other values already)
            & ~((sync == _ON_READ) & trainable)
            & (~resource | ((ops[:, 2] == read_op) & (ops[:, 0] == handle_op)))
        )
        # A SaveSliceInfoDef is parsed now, so that a bad one is reported by from_proto
        # at import time (partitioned variables only: few).
        self._infos: dict[int, SaveSliceInfo] = {}
        for r in np.flatnonzero(settled & ((flags & _SLICE_INFO) != 0)).tolist():
            try:
                info = variable_pb2.VariableDef.FromString(slice_defs[r]).save_slice_info_def
            except DecodeError:
                settled[r] = False
                continue
            self._infos[r] = SaveSliceInfo.from_proto(info, scope)
        self._settled = settled
        self._rows, self._no_initial = rows, no_initial
        self._flags, self._sync, self._agg = flags, sync, agg
        # Each row's prefixed variable name, decoded when its Variable is made.
        self._name_blob: bytes = name_blob
        self._name_offsets = np.frombuffer(raw_offsets, dtype=np.int64)
        self._made: list[Variable | None] = [None] * len(rows)
        self._all_made = False
        self._import_scope = import_scope
        # Rows settled in an earlier import's segment instead (settle_elsewhere): row ->
        # (that segment's BulkVariables, its row).
        self._elsewhere: dict[int, tuple[BulkVariables, int]] = {}

    def settle_elsewhere(self, graph: _Lookup, values: Callable[[str], list[bytes]], segments: Sequence[Any]) -> None:
        """Settle the rows whose variable node this import's segment does not hold in
        the earlier segments ``segments`` (newest first) that hold all its nodes: an
        import without a scope into a graph that already holds the file's nodes renames
        its own copies, and its VariableDefs name the earlier ones, as TensorFlow's do.
        ``values(key)``: the serialized VariableDefs of collection ``key``, as given to
        the constructor."""
        if not segments:
            return
        wanted = ~self._settled & ((self._flags & _PARSED) != 0) & (self._rows[:, 0] < 0)
        if not wanted.any():
            return
        raw_of: dict[int, bytes] = {}
        for key, key_rows in self._key_rows.items():
            rows = key_rows.tolist()
            if not any(wanted[r] for r in rows):
                continue
            for r, raw in zip(rows, values(key)):
                if wanted[r] and r not in raw_of:
                    raw_of[r] = raw
        left = sorted(raw_of)
        for segment in segments:
            if not left:
                break
            defs = {"": [raw_of[r] for r in left]}
            other = BulkVariables(self._import_scope, graph=graph, segment=segment, collections=defs)
            other_rows = other._key_rows[""].tolist()
            still: list[int] = []
            for r, o in zip(left, other_rows):
                if other._settled[o]:
                    self._elsewhere[r] = (other, o)
                    self._settled[r] = True
                else:
                    still.append(r)
            left = still

    def covers(self, key: str) -> bool:
        """Whether every VariableDef of collection ``key`` was settled."""
        key_rows = self._key_rows.get(key)
        return key_rows is not None and bool(self._settled[key_rows].all())

    def count(self, key: str) -> int:
        """How many values collection ``key`` has (0 when it is not one of these)."""
        key_rows = self._key_rows.get(key)
        return 0 if key_rows is None else len(key_rows)

    def settled_row(self, key: str, j: int) -> int | None:
        """The row of value ``j`` of collection ``key``, None when it was not settled."""
        key_rows = self._key_rows.get(key)
        if key_rows is None:
            return None
        r = int(key_rows[j])
        return r if self._settled[r] else None

    # A Variable's views of row r: variable node and output, initializer, snapshot node
    # and output, initial value node and output (-1: none). Columns: see VariableDefRow.
    def _view_row(self, r: int) -> list[int]:
        c = self._rows[r].tolist()
        if self._no_initial[r]:
            return [c[0], c[4], c[1], c[2], c[6], -1, -1]
        return [c[0], c[4], c[1], c[2], c[6], c[3], c[7]]

    def _view_rows(self) -> list[list[int]]:
        rows, no_initial = self._rows, self._no_initial
        return np.stack(
            [
                rows[:, 0],
                rows[:, 4],
                rows[:, 1],
                rows[:, 2],
                rows[:, 6],
                np.where(no_initial, -1, rows[:, 3]),
                np.where(no_initial, -1, rows[:, 7]),
            ],
            axis=1,
        ).tolist()

    def get_row(self, r: int) -> Variable:
        """The Variable of settled row ``r`` (made now if not yet)."""
        v = self._made[r]
        if v is None and r in self._elsewhere:
            other, o = self._elsewhere[r]
            v = self._made[r] = other.get_row(o)
        elif v is None:
            f = int(self._flags[r])
            v = self._made[r] = self._make(
                f,
                int(self._sync[r]),
                int(self._agg[r]),
                self._view_row(r),
                self._name_blob[int(self._name_offsets[r]) : int(self._name_offsets[r + 1])].decode()
                if f & _CANONICAL
                else None,
                self._infos.get(r),
            )
        return v

    def items(self, key: str) -> list[Variable]:
        """The Variables of collection ``key`` (every value settled), in order; all the
        settled rows not made yet are made now."""
        made = self._made
        if not self._all_made:
            make, infos, blob = self._make, self._infos, self._name_blob
            offsets = self._name_offsets.tolist()
            for r, (f, s, a, row, ok) in enumerate(
                zip(
                    self._flags.tolist(),
                    self._sync.tolist(),
                    self._agg.tolist(),
                    self._view_rows(),
                    self._settled.tolist(),
                )
            ):
                if ok and made[r] is None:
                    if r in self._elsewhere:
                        self.get_row(r)
                        continue
                    name = blob[offsets[r] : offsets[r + 1]].decode() if f & _CANONICAL else None
                    made[r] = make(f, s, a, row, name, infos.get(r))
            self._all_made = True
        return [made[r] for r in self._key_rows[key].tolist()]  # type: ignore[misc]

    def iterate(self, key: str) -> Iterator[Variable]:
        """The Variables of collection ``key`` (every value settled), made one at a time."""
        rows = self._key_rows[key]
        for start in range(0, len(rows), 1024):  # (a caller may want the first few only)
            for r in rows[start : start + 1024].tolist():
                yield self.get_row(r)

    def first(self, key: str, match: Callable[[str], Any]) -> Variable | None:
        """The first Variable of collection ``key`` (every value settled) whose name
        ``match`` accepts, or None; read off the names the core wrote where it could, so
        only that Variable is made."""
        flags, offsets, blob = self._flags.tolist(), self._name_offsets.tolist(), self._name_blob
        for r in self._key_rows[key].tolist():
            if flags[r] & _CANONICAL and r not in self._elsewhere:
                if match(blob[offsets[r] : offsets[r + 1]].decode()):
                    return self.get_row(r)
            elif match((v := self.get_row(r)).name):
                return v
        return None

    def _make(self, f: int, s: int, a: int, row: list[int], name: str | None, info: SaveSliceInfo | None) -> Variable:
        v = Variable.__new__(Variable)
        if info is not None:
            v._save_slice_info = info
        if f & _RESOURCE:
            v._is_resource = True
        if not f & _TRAINABLE:
            v._trainable = False
        if s:
            v._synchronization = s
        if a:
            v._aggregation = a
        if name is not None:
            v._name = name  # the tensor's own spelling ('w:00' would name 'w:0')
        v._views = (self._graph, self._segment, *row)
        return v


class Variable:
    """A variable of an imported graph (ref or resource kind), rebuilt from its VariableDef.

    ``name`` is the variable tensor's name (``w:0``; the handle for resource variables),
    ``op`` its op, ``initializer`` the assign op, ``snapshot`` the read tensor,
    ``initial_value`` the initial-value tensor (None when the proto had none).
    """

    # Set by from_proto, or made from ``_views`` on first use (bulk import).
    # (At run time an Operation for a ref variable whose VariableDef names its op, ``r``
    # rather than ``r:0``: TensorFlow's RefVariable.from_proto keeps what
    # ``as_graph_element`` gives. Typed as the Tensor every other variable has; the
    # methods here that differ check, and a fresh Saver refuses such a variable first.
    # The same for a ref variable's snapshot, and any variable's initial value, named
    # by an op's name.)
    _variable: Tensor
    _initializer: Operation
    _snapshot: Tensor
    _graph_element: Tensor
    _initial_value: Tensor | None

    # Class-level defaults (an instance sets only what differs: the bulk path makes
    # tens of thousands at once).
    _name: str | None = None
    _views: tuple[Any, ...] | None = None
    _cached_value: Tensor | None = None
    _is_resource = False
    _trainable = True
    _synchronization = 0
    _aggregation = 0
    _save_slice_info: SaveSliceInfo | None = None

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
        v._initial_value = None
        v._set_fields(variable_def, scope, key)
        name = prepend_name_scope(variable_def.variable_name, scope)
        if v._is_resource:
            v._variable = _tensor(graph, key, name)
            _require_attr(v._variable.op, "shape", key, name)
            v._initializer = _op(graph, key, prepend_name_scope(variable_def.initializer_name, scope))
            if variable_def.initial_value_name:  # (as_graph_element's: an op's name gives the op)
                v._initial_value = _tensor_or_op(graph, key, prepend_name_scope(variable_def.initial_value_name, scope))  # type: ignore[assignment]
            if variable_def.snapshot_name:
                snapshot = _tensor(graph, key, prepend_name_scope(variable_def.snapshot_name, scope))
                v._cached_value = snapshot if snapshot.op.type != "ReadVariableOp" else None
                seen = 0
                while snapshot.op.type != "ReadVariableOp":
                    ins = snapshot.op.inputs
                    seen += 1
                    if not ins or seen > 10000:  # (TensorFlow's walk: an IndexError)
                        raise CollectionIndexError(
                            f"collection '{key}': no ReadVariableOp behind snapshot '{variable_def.snapshot_name}'",
                            key=key,
                            name=variable_def.snapshot_name,
                        )
                    snapshot = ins[0]
                v._graph_element = snapshot
            else:
                v._graph_element = _tensor(graph, key, v._variable.op.name + "/Read/ReadVariableOp:0")
            v._snapshot = v._cached_value if v._cached_value is not None else v._graph_element
            _require_attr(v._variable.op, "dtype", key, name)
        else:
            v._variable = _tensor_or_op(graph, key, name)  # type: ignore[assignment]
            v._initializer = _op(graph, key, prepend_name_scope(variable_def.initializer_name, scope))
            if variable_def.initial_value_name:  # (as_graph_element's: an op's name gives the op)
                v._initial_value = _tensor_or_op(graph, key, prepend_name_scope(variable_def.initial_value_name, scope))  # type: ignore[assignment]
            v._snapshot = _tensor_or_op(graph, key, prepend_name_scope(variable_def.snapshot_name, scope))  # type: ignore[assignment]
            v._graph_element = v._snapshot
        return v

    def _set_fields(self, variable_def: variable_pb2.VariableDef, scope: str, key: str = "variables") -> None:
        """Everything of a VariableDef but its graph elements, checked as TensorFlow does
        (its ValueErrors as :class:`CollectionValueError` naming ``key``)."""
        name = variable_def.variable_name

        def invalid(message: str) -> CollectionValueError:
            return CollectionValueError(f"collection '{key}': {message}", key=key, name=name)

        self._is_resource = bool(variable_def.is_resource)
        if variable_def.synchronization not in _SYNCHRONIZATION:
            raise invalid(f"Invalid variable synchronization mode: {variable_def.synchronization} for variable: {name}")
        if variable_def.aggregation not in _AGGREGATION:
            raise invalid(f"Invalid variable aggregation mode: {variable_def.aggregation} for variable: {name}")
        self._synchronization = int(variable_def.synchronization)
        self._aggregation = int(variable_def.aggregation)
        self._trainable = bool(variable_def.trainable)
        if self._synchronization == _ON_READ and self._trainable:
            raise invalid(
                "Synchronization value can be set to VariableSynchronization.ON_READ only for "
                "non-trainable variables. You have specified trainable=True and "
                f"synchronization=VariableSynchronization.ON_READ (variable {name})."
            )
        if variable_def.HasField("save_slice_info_def"):
            self._save_slice_info = SaveSliceInfo.from_proto(variable_def.save_slice_info_def, scope)

    def __getattr__(self, attr: str) -> Any:
        # Only reached for an attribute not set yet: the graph elements of a variable
        # from the bulk path, made here on first use.
        views = self._views
        if views is None or attr not in _VIEW_ATTRS:
            raise AttributeError(f"'Variable' object has no attribute '{attr}'")
        g, seg, var_node, var_out, init_node, snap_node, snap_out, iv_node, iv_out = views
        self._variable = Tensor(Operation(g, seg, var_node), var_out)
        self._initializer = Operation(g, seg, init_node)
        self._snapshot = self._graph_element = Tensor(Operation(g, seg, snap_node), snap_out)
        self._initial_value = None if iv_node < 0 else Tensor(Operation(g, seg, iv_node), iv_out)
        self._views = None
        return self.__dict__[attr]

    # -- properties -------------------------------------------------------
    @property
    def name(self) -> str:
        """The variable tensor's name (``w:0``); the op's name (``w``) for a ref variable
        whose VariableDef names its op, as TensorFlow's."""
        name = self._name
        if name is None:
            name = self._name = self._variable.name
        return name

    @property
    def op(self) -> Operation:
        """The variable op (VariableV2 / VarHandleOp). A ref variable whose VariableDef
        names its op (``r``, not ``r:0``) has none: an AttributeError, as TensorFlow's
        (whose ``op`` asks that Operation for its ``op``)."""
        return self._variable_tensor().op

    def _variable_tensor(self) -> Tensor:
        var: Tensor | Operation = self._variable
        if isinstance(var, Operation):
            raise AttributeError(f"variable '{var.name}' names an Operation, which has no 'op' (as in TensorFlow)")
        return var

    @property
    def graph(self) -> Any:
        """The graph holding the variable."""
        return self._variable.graph

    @property
    def handle(self) -> Tensor:
        """The resource handle (resource variables) or the ref tensor."""
        return self._variable_tensor()

    @property
    def device(self) -> str:
        """The variable op's device."""
        return self._variable.device

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
        """The DataType, as TensorFlow's ``Variable.dtype``: a ref variable's is its
        tensor's ``_REF`` type (``101``, TensorFlow's ``float32_ref``), a resource
        variable's the value type (``1``)."""
        if self._is_resource:
            attr = self.op.node_def.attr.get("dtype")
            return int(attr.type) if attr is not None else None
        return self._variable_tensor().dtype

    def _base_dtype(self) -> int | None:
        """The value DataType, without ``_REF`` (what a checkpoint stores)."""
        d = self.dtype
        return d - _REF_OFFSET if d is not None and d > _REF_OFFSET else d

    @property
    def shape(self) -> Any:
        """The variable's TensorShapeProto: its op's ``shape`` attr; for a ref variable
        whose VariableDef names a tensor of another op (no such attr), that tensor's
        shape, as TensorFlow's RefVariable takes it from its tensor."""
        attr = self.op.node_def.attr.get("shape")
        if attr is not None:
            return attr.shape
        if not self._is_resource and isinstance(self._variable, Tensor):
            return self._variable.shape
        return None

    @property
    def save_slice_info(self) -> SaveSliceInfo | None:
        """Partition information (None for whole variables)."""
        return self._save_slice_info

    def _as_graph_element(self) -> Tensor | Operation:
        """What ``Graph.as_graph_element(variable)`` resolves to, as TensorFlow's: the
        variable tensor of a ref variable (``w:0``; its op when its VariableDef names the
        op), the read tensor of a resource one."""
        return self._graph_element if self._is_resource else self._variable

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
