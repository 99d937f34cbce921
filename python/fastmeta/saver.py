"""``Saver``: a SaverDef (from the meta graph, scoped) or freshly built save/restore ops.

``Saver(saver_def=sd, name=scope)`` creates no ops: the three names of ``sd`` are put
under ``scope`` (TensorFlow does this in place on the caller's message; fastmeta works on
a copy). :func:`build_saver` adds to a graph the same nodes TensorFlow's ``Saver()`` adds
(``save/Const``, ``save/SaveV2``, ``save/RestoreV2``, ``save/Assign*``,
``save/restore_all``...) with TensorFlow's names, attrs and input order.

``save()`` / ``restore()`` are delegated to ``fastmeta.checkpoint`` (when available).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from fastmeta.errors import GraphError
from fastmeta.graph import Operation, Tensor, _Transaction
from fastmeta.protos import attr_value_pb2, saver_pb2, tensor_pb2, types_pb2
from fastmeta.scoping import prepend_name_scope
from fastmeta.variables import Variable

__all__ = ["Saver", "build_saver"]


class Saver:
    """A saver over a :class:`fastmeta.Graph`.

    ``saver_def``: the SaverDef (a fastmeta message; never the caller's message). With
    ``name`` (a scope), its ``filename_tensor_name``, ``save_tensor_name`` and
    ``restore_op_name`` are prefixed with it, as TensorFlow's ``Saver(saver_def=...,
    name=...)``; ``save_tensor_name`` and ``restore_op_name`` must be non-empty.
    """

    def __init__(
        self,
        saver_def: saver_pb2.SaverDef | None = None,
        name: str | None = None,
        var_list: Sequence[Variable] | None = None,
    ):
        if saver_def is None:
            raise ValueError(
                "fastmeta.Saver needs a saver_def (use build_saver to create save/restore ops)"
            )
        if not hasattr(saver_def, "DESCRIPTOR") or not saver_def.DESCRIPTOR.full_name.endswith(
            "SaverDef"
        ):
            raise ValueError(f"saver_def must be a saver_pb2.SaverDef: {saver_def!r}")
        own = saver_pb2.SaverDef()
        own.ParseFromString(saver_def.SerializeToString())
        if name:
            own.filename_tensor_name = prepend_name_scope(own.filename_tensor_name, name)
            own.save_tensor_name = prepend_name_scope(own.save_tensor_name, name)
            own.restore_op_name = prepend_name_scope(own.restore_op_name, name)
        if not own.save_tensor_name:
            raise GraphError(f"saver_def must specify the save_tensor_name: {own}")
        if not own.restore_op_name:
            raise GraphError(f"saver_def must specify the restore_op_name: {own}")
        self.saver_def = own
        self._name = name
        self._var_list = list(var_list) if var_list is not None else None
        self._last_checkpoints: list[tuple[str, float]] = []

    @property
    def last_checkpoints(self) -> list[str]:
        """Checkpoint prefixes written by this saver, oldest first."""
        return [p for p, _ in self._last_checkpoints]

    def set_last_checkpoints_with_time(
        self, last_checkpoints_with_time: list[tuple[str, float]]
    ) -> None:
        """Replace the (path, timestamp) list of kept checkpoints."""
        self._last_checkpoints = list(last_checkpoints_with_time)

    def as_saver_def(self) -> saver_pb2.SaverDef:
        """The SaverDef (the saver's own message)."""
        return self.saver_def

    def to_proto(self, export_scope: str | None = None) -> saver_pb2.SaverDef | None:
        """The SaverDef; with ``export_scope``, a copy with the scope stripped (None when
        the saver's names are outside it)."""
        if export_scope is None:
            return self.saver_def
        from fastmeta.scoping import strip_name_scope

        if not (
            self.saver_def.filename_tensor_name.startswith(export_scope)
            and self.saver_def.save_tensor_name.startswith(export_scope)
            and self.saver_def.restore_op_name.startswith(export_scope)
        ):
            return None
        out = saver_pb2.SaverDef()
        out.CopyFrom(self.saver_def)
        out.filename_tensor_name = strip_name_scope(out.filename_tensor_name, export_scope)
        out.save_tensor_name = strip_name_scope(out.save_tensor_name, export_scope)
        out.restore_op_name = strip_name_scope(out.restore_op_name, export_scope)
        return out

    # -- checkpoint hooks ---------------------------------------------------
    def restore(self, save_path: str) -> Any:
        """Open the checkpoint ``save_path`` for reading (a
        ``fastmeta.checkpoint.CheckpointReader``: values by variable name). There is no
        session to assign into; the reader is what a runtime would feed."""
        from fastmeta import checkpoint

        return checkpoint.load_checkpoint(save_path)

    def save(self, values: dict[str, Any], save_path: str) -> str:
        """Write ``values`` (name → array) as a checkpoint via
        ``fastmeta.checkpoint.write_checkpoint``; records it in ``last_checkpoints``."""
        import time

        from fastmeta import checkpoint  # type: ignore[attr-defined]

        writer = checkpoint.write_checkpoint
        writer(save_path, values)
        self._last_checkpoints = [(p, t) for p, t in self._last_checkpoints if p != save_path]
        self._last_checkpoints.append((save_path, time.time()))
        keep = self.saver_def.max_to_keep
        if keep > 0:
            del self._last_checkpoints[: max(0, len(self._last_checkpoints) - keep)]
        return os.fspath(save_path)

    def __repr__(self) -> str:
        return f"<fastmeta.Saver restore_op={self.saver_def.restore_op_name!r}>"


# ---------------------------------------------------------------------------
# building a fresh Saver's ops
# ---------------------------------------------------------------------------
def _attr_type(t: int) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue(type=t)  # type: ignore[arg-type]


def _attr_types(ts: Sequence[int]) -> attr_value_pb2.AttrValue:
    a = attr_value_pb2.AttrValue()
    a.list.type.extend(ts)  # type: ignore[arg-type]
    return a


def _string_const(
    values: Sequence[str], scalar: bool = False
) -> dict[str, attr_value_pb2.AttrValue]:
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    if scalar:
        tensor.tensor_shape.SetInParent()
    else:
        tensor.tensor_shape.dim.add(size=len(values))
    tensor.string_val.extend(v.encode("utf-8") for v in values)
    return {
        "value": attr_value_pb2.AttrValue(tensor=tensor),
        "dtype": _attr_type(types_pb2.DT_STRING),
    }


def _scalar_string_shape() -> dict[str, attr_value_pb2.AttrValue]:
    shape = attr_value_pb2.AttrValue()
    shape.shape.SetInParent()
    return {"shape": shape, "dtype": _attr_type(types_pb2.DT_STRING)}


_MANUAL = "_has_manual_control_dependencies"


def _mark_manual(op: Operation) -> None:
    op.node_def  # noqa: B018 - make sure the block's own node is what we edit
    block = op._part
    block.nodes[op._index].attr[_MANUAL].b = True  # type: ignore[union-attr]


class _Saveable:
    def __init__(self, name: str, var: Variable, slice_spec: str):
        self.name = name
        self.var = var
        self.slice_spec = slice_spec
        # A partitioned resource variable is read by new ops when the save op is built.
        self.read_on_save = var.is_resource and var.save_slice_info is not None
        if self.read_on_save:
            self.tensor: Tensor = var.handle
            self.device = var.device
        elif var.is_resource:
            self.tensor = var._graph_element
            self.device = self.tensor.op.device
        elif var.save_slice_info is not None:
            self.tensor = var.snapshot  # a partition is saved through its read value
            self.device = var.device
        else:
            self.tensor = var._variable
            self.device = var.device
        dtype = var.dtype
        self.dtype = int(dtype if dtype is not None else 0)


def _saveables(variables: Sequence[Variable]) -> list[_Saveable]:
    by_name: dict[str, Any] = {}
    for var in sorted(variables, key=lambda v: v.name):
        if var.save_slice_info is not None:
            full = var.save_slice_info.full_name
            if full in by_name:
                if not isinstance(by_name[full], list):
                    raise ValueError(f"Mixing slices and non-slices with the same name: {full}")
                by_name[full].append(var)
            else:
                by_name[full] = [var]
            continue
        name = var.op.name
        if name in by_name:
            raise ValueError(f"At least two variables have the same name: {name}")
        by_name[name] = var
    out: list[_Saveable] = []
    for name, item in sorted(by_name.items(), key=lambda x: x[0]):
        if isinstance(item, list):
            for var in item:
                assert var.save_slice_info is not None
                out.append(_Saveable(name, var, var.save_slice_info.spec))
        else:
            out.append(_Saveable(name, item, ""))
    return out


def _merge_device(outer: str, inner: str) -> str:
    """``inner`` (a canonical device spec) merged over ``outer``: inner fields win."""
    fields: dict[str, str] = {}
    for spec in (outer, inner):
        for piece in spec.split("/"):
            if not piece:
                continue
            key = piece.split(":")[0]
            if key not in ("job", "replica", "task"):
                key = "device"
            fields[key] = piece
    return "".join("/" + fields[k] for k in ("job", "replica", "task", "device") if k in fields)


def _save_tensor(txn: _Transaction, s: _Saveable) -> Tensor:
    """The tensor SaveV2 reads for ``s``; for a partitioned resource variable, the
    DisableCopyOnRead / ReadVariableOp / Identity / CPU Identity ops TensorFlow adds."""
    if not s.read_on_save:
        return s.tensor
    dtype = _attr_type(s.dtype)
    with txn.name_scope("Read"):
        txn.create_op(
            "DisableCopyOnRead", [s.var.handle], None, "DisableCopyOnRead", device=s.device
        )
        read = txn.create_op(
            "ReadVariableOp", [s.var.handle], {"dtype": dtype}, "ReadVariableOp", device=s.device
        )
    ident = txn.create_op("Identity", [Tensor(read, 0)], {"T": dtype}, "Identity", device=s.device)
    cpu = _merge_device(s.device, "/device:CPU:0")
    out = txn.create_op("Identity", [Tensor(ident, 0)], {"T": dtype}, "Identity", device=cpu)
    return Tensor(out, 0)


def build_saver(txn: _Transaction, variables: Sequence[Variable]) -> Saver:
    """Add TensorFlow ``Saver()``'s save/restore ops for ``variables`` (V2 format,
    unsharded) under a new ``save`` name scope; return the Saver."""
    saveables = _saveables(variables)
    if not saveables:
        raise ValueError("No variables to save")
    with txn.name_scope("save"):
        with txn.name_scope("filename") as filename_scope:
            default = txn.create_op("Const", (), _string_const(["model"], scalar=True), "input")
        filename = txn.create_op(
            "PlaceholderWithDefault", [Tensor(default, 0)], _scalar_string_shape(), filename_scope
        )
        const = txn.create_op(
            "PlaceholderWithDefault", [Tensor(filename, 0)], _scalar_string_shape(), "Const"
        )
        tensors = [_save_tensor(txn, s) for s in saveables]
        names = [s.name for s in saveables]
        slices = [s.slice_spec for s in saveables]
        dtypes = [s.dtype for s in saveables]
        with txn.name_scope("SaveV2") as save_scope:
            tn = txn.create_op("Const", (), _string_const(names), "tensor_names")
            ss = txn.create_op("Const", (), _string_const(slices), "shape_and_slices")
        save = txn.create_op(
            "SaveV2",
            [Tensor(const, 0), Tensor(tn, 0), Tensor(ss, 0), *tensors],
            {"dtypes": _attr_types(dtypes)},
            save_scope,
        )
        _mark_manual(save)
        with txn.name_scope("control_dependency") as dep_scope:
            pass
        control = txn.create_op(
            "Identity",
            [Tensor(const, 0)],
            {"T": _attr_type(types_pb2.DT_STRING)},
            dep_scope,
            control_inputs=[save],
            colocate_with=const,
        )
        cpu = "/device:CPU:0"
        with txn.name_scope("RestoreV2") as restore_scope:
            rtn = txn.create_op("Const", (), _string_const(names), "tensor_names", device=cpu)
            rss = txn.create_op("Const", (), _string_const(slices), "shape_and_slices", device=cpu)
        restore = txn.create_op(
            "RestoreV2",
            [Tensor(const, 0), Tensor(rtn, 0), Tensor(rss, 0)],
            {"dtypes": _attr_types(dtypes)},
            restore_scope,
            device=cpu,
        )
        assigns: list[Operation] = []
        for i, s in enumerate(saveables):
            value = Tensor(restore, i)
            if s.var.is_resource:
                ident = txn.create_op(
                    "Identity", [value], {"T": _attr_type(s.dtype)}, "Identity", device=s.device
                )
                assign = txn.create_op(
                    "AssignVariableOp",
                    [s.var.handle, Tensor(ident, 0)],
                    {
                        "validate_shape": attr_value_pb2.AttrValue(b=False),
                        "dtype": _attr_type(s.dtype),
                    },
                    "AssignVariableOp",
                    device=s.device,
                )
            else:
                shape = s.var.shape
                full = (
                    shape is not None
                    and not shape.unknown_rank
                    and all(d.size >= 0 for d in shape.dim)
                )
                assign = txn.create_op(
                    "Assign",
                    [s.var._variable, value],
                    {
                        "T": _attr_type(s.dtype),
                        "validate_shape": attr_value_pb2.AttrValue(b=bool(full)),
                        "use_locking": attr_value_pb2.AttrValue(b=True),
                    },
                    "Assign",
                    colocate_with=s.var.op,
                )
            _mark_manual(assign)
            assigns.append(assign)
        by_device: dict[str, list[Operation]] = {}
        for a in assigns:
            by_device.setdefault(a.device, []).append(a)
        with txn.name_scope("restore_all") as group_scope:
            if len(by_device) == 1:
                ((device, deps),) = by_device.items()
                restore_all = txn.create_op(
                    "NoOp", (), None, group_scope, device=device, control_inputs=deps
                )
            else:
                firsts = []
                for device in sorted(by_device):
                    noop = txn.create_op(
                        "NoOp", (), None, "NoOp", device=device, control_inputs=by_device[device]
                    )
                    _mark_manual(noop)
                    firsts.append(noop)
                restore_all = txn.create_op("NoOp", (), None, group_scope, control_inputs=firsts)
    sd = saver_pb2.SaverDef(
        filename_tensor_name=Tensor(const, 0).name,
        save_tensor_name=Tensor(control, 0).name,
        restore_op_name=restore_all.name,
        max_to_keep=5,
        sharded=False,
        keep_checkpoint_every_n_hours=10000.0,
        version=saver_pb2.SaverDef.V2,
    )
    return Saver(saver_def=sd, var_list=variables)
