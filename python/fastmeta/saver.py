"""``Saver``: a SaverDef (from the meta graph, scoped) or freshly built save/restore ops.

``Saver(saver_def=sd, name=scope)`` creates no ops: the three names of ``sd`` are put
under ``scope`` (TensorFlow does this in place on the caller's message; fastmeta works on
a copy). :func:`build_saver` adds to a graph the same nodes TensorFlow's ``Saver()`` adds
(``save/Const``, ``save/SaveV2``, ``save/RestoreV2``, ``save/Assign*``,
``save/restore_all``...) with TensorFlow's names, attrs and input order.

``Saver.restore(path)`` / ``Saver.save(path, values)`` read and write TensorFlow V2
checkpoints without TensorFlow (``fastmeta.checkpoint``): what is read and written, under
which checkpoint keys and slice specs, is derived from the graph's own restore ops
(``RestoreV2`` and the ``Assign`` / ``AssignVariableOp`` ops behind
``saver_def.restore_op_name``), which is what TensorFlow runs.
"""

from __future__ import annotations

import glob
import logging
import math
import operator
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

from fastmeta.errors import GraphError
from fastmeta.graph import _REF_OFFSET, Operation, Tensor, _Transaction
from fastmeta.protos import attr_value_pb2, meta_graph_pb2, saver_pb2, tensor_pb2, types_pb2
from fastmeta.scoping import prepend_name_scope
from fastmeta.variables import _REF_OPS, Variable

if TYPE_CHECKING:  # numpy and fastmeta.checkpoint are imported on first use
    import numpy as np

    from fastmeta.checkpoint import CheckpointReader, PathLike
    from fastmeta.graph import Graph

__all__ = ["RestoreTarget", "RestoredVariables", "Saver", "build_saver", "remove_checkpoint"]

_log = logging.getLogger(__name__)


class Saver:
    """A saver over a :class:`fastmeta.Graph`.

    ``saver_def``: the SaverDef (a fastmeta message; never the caller's message). With
    ``name`` (a scope), its ``filename_tensor_name``, ``save_tensor_name`` and
    ``restore_op_name`` are prefixed with it, as TensorFlow's ``Saver(saver_def=...,
    name=...)``; ``save_tensor_name`` and ``restore_op_name`` must be non-empty.
    ``graph``: the graph holding the save/restore ops (default: the default graph when
    the Saver is created).
    """

    def __init__(
        self,
        saver_def: saver_pb2.SaverDef | None = None,
        name: str | None = None,
        graph: Graph | None = None,
    ):
        if saver_def is None:
            raise ValueError("fastmeta.Saver needs a saver_def (use build_saver to create save/restore ops)")
        if not hasattr(saver_def, "DESCRIPTOR") or not saver_def.DESCRIPTOR.full_name.endswith("SaverDef"):
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
        self._last_checkpoints: list[tuple[str, float]] = []
        self._checkpoints_to_be_deleted: list[tuple[str, float]] = []
        self._next_checkpoint_time = time.time() + own.keep_checkpoint_every_n_hours * 3600
        if graph is None:
            from fastmeta.graph import get_default_graph

            graph = get_default_graph()
        self._graph: Graph | None = graph

    @property
    def last_checkpoints(self) -> list[str]:
        """Checkpoint prefixes written by this saver, oldest first."""
        return [p for p, _ in self._last_checkpoints]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time: list[tuple[str, float]]) -> None:
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

    # -- checkpoints -------------------------------------------------------
    def _resolve_graph(self, graph: Graph | None) -> Graph:
        g = graph if graph is not None else self._graph
        if g is None:
            from fastmeta.graph import get_default_graph

            g = get_default_graph()
        return g

    def restore_targets(self, graph: Graph | None = None) -> list[RestoreTarget]:
        """What the graph's restore op reads and where it goes, one
        :class:`RestoreTarget` per ``Assign``/``AssignVariableOp`` reachable from
        ``saver_def.restore_op_name`` (sorted by variable name).

        Derived from the graph's own ops, as TensorFlow runs them: the assign's target
        variable, the ``RestoreV2`` output it takes (through ``Identity`` ops, and the
        ``Reshape`` of a ``Saver(reshape=True)``), and that output's entries of the
        ``tensor_names`` / ``shape_and_slices`` Consts and of the ``dtypes`` attr. A scoped
        import therefore maps ``imp/w`` to the key ``w``. What else the restore op restores
        from a restore op's output (a lookup table's ``LookupTableImportV2``) is not a
        variable: it is logged as not restored, and :meth:`save` refuses such a Saver.
        ``graph``: where the ops live (default: the graph the Saver was built or
        imported in, else the default graph at construction).
        """
        return _restore_targets(self._resolve_graph(graph), self.saver_def.restore_op_name)[0]

    def restore(self, save_path: PathLike, graph: Graph | None = None, *, copy: bool = True) -> RestoredVariables:
        """Read the values the graph's restore op would assign, from the checkpoint
        ``save_path`` (a prefix, or a directory with a ``checkpoint`` state file): V2,
        or the V1 file(s) a ``SaverDef.V1`` Saver wrote (see :mod:`fastmeta.checkpoint`).

        Returns a :class:`RestoredVariables`: a dict ``{variable name: numpy array}``
        (graph names, scope included: ``imp/w`` after ``import_scope="imp"``, read from
        the key ``w``), where a partitioned variable appears once, under its full name
        (``save_slice_info.full_name``), reassembled; ``.slices`` maps each partition
        variable (``imp/emb/part_0``) to its block (a view into the full array);
        ``.checkpoint_keys`` maps every name of both to its checkpoint key.

        Every key is checked (present, dtype the restore op expects, full shape of
        slices, static shape of ``validate_shape`` Assigns) before any tensor is read;
        any problem, or a corrupt file (CRC mismatch, truncation, missing shard), raises
        :class:`fastmeta.checkpoint.CheckpointError` naming the file and tensor, and
        nothing is returned. Every array owns its bytes (read from the files straight
        into it), so it stays valid whatever later happens to the files; ``copy=False``
        only lets one key restored into two variables share one array.
        """
        from fastmeta import checkpoint

        if save_path is None:  # (TensorFlow's error)
            raise ValueError("Can't load save_path when it is None.")
        targets = self.restore_targets(graph)
        reader = checkpoint.load_checkpoint(save_path)
        targets = _object_based_keys(reader, targets)
        _check_targets(reader, targets)
        needed: dict[str, None] = {}
        for t in targets:
            needed.setdefault(t.key, None)
        arrays = _read_all(reader, list(needed), copy=copy)
        out = RestoredVariables()
        out.prefix = reader.prefix
        handed: set[str] = set()
        for t in sorted(targets, key=lambda t: t.variable):
            full = arrays[t.key]
            if not t.slice_spec:
                value = full
                if t.key in handed and copy:  # one key restored into two variables
                    value = full.copy()
                if t.reshape and t.shape is not None:
                    value = value.reshape(t.shape)
                handed.add(t.key)
                out[t.variable] = value
                out.checkpoint_keys[t.variable] = t.key
                continue
            _, index = _parse_slice_spec(t.slice_spec)
            out.slices[t.variable] = full[index]
            out.checkpoint_keys[t.variable] = t.key
            if t.full_name not in out:
                out[t.full_name] = full
                out.checkpoint_keys[t.full_name] = t.key
        return out

    def save(
        self,
        save_path: PathLike,
        values: Mapping[str, Any],
        global_step: int | None = None,
        latest_filename: str | None = None,
        meta_graph_suffix: str = "meta",
        write_state: bool = True,
        graph: Graph | None = None,
        *,
        write_meta_graph: bool = True,
        strip_default_attrs: bool = False,
        save_debug_info: bool = False,
    ) -> str:
        """Write ``values`` as the checkpoint TensorFlow's save ops would write, and
        return its path as TensorFlow's ``Saver.save`` does: the prefix (``save_path``,
        or ``save_path-<global_step>``), or for a sharded V1 Saver the pattern of its
        files (``<prefix>-?????-of-00002``).

        ``values``: ``{variable name: array}`` with the names :meth:`restore` returns
        (a :class:`RestoredVariables` round-trips); a partitioned variable is given
        whole under its full name (split into its slices here) or as one array per
        partition variable name. Keys, slice specs and dtypes come from the graph's
        restore op (:meth:`restore_targets`), so TensorFlow's ``Saver.restore`` of the
        same meta graph reads the file back. Values are cast to the variable's dtype
        when numpy's ``same_kind`` casting allows; shapes must match the variable's
        static shape. Every variable needs a value; unknown names are an error.

        As TensorFlow's ``Saver.save``: with ``write_state``, the checkpoint is recorded
        in :attr:`last_checkpoints` and the ``checkpoint`` state file (``latest_filename``)
        in ``save_path``'s directory; beyond ``saver_def.max_to_keep`` the oldest
        checkpoint's files (``.index``, ``.data-*``, ``.<meta_graph_suffix>``) are
        deleted, unless ``keep_checkpoint_every_n_hours`` says to keep it. Then, with
        ``write_meta_graph`` (the default), the graph's meta graph is written beside it
        as :meth:`export_meta_graph` writes it (this saver's saver_def, every
        collection; ``strip_default_attrs`` as there), to
        ``<prefix>.<meta_graph_suffix>`` (a sharded name's ``-<k>-of-<n>`` ending left
        out of the prefix, as TensorFlow names it).
        The files are those the graph's save ops write, so the bytes are TensorFlow's:
        for ``SaveV2`` ops (a V2 Saver) an index and one data file per shard of a
        sharded saver (``.data-00000-of-00002``...), each tensor in its ``SaveV2``'s
        order; for ``SaveSlices`` ops (a ``SaverDef.V1`` Saver) the V1 file at the
        prefix itself, or one file per shard (``<prefix>-00000-of-00002``...). Save ops
        of neither form (a graph edited by hand) get a V2 checkpoint with one data file.
        """
        from fastmeta import _core, checkpoint

        if save_debug_info and write_meta_graph:
            raise NotImplementedError("save_debug_info: fastmeta records no stack traces of where ops were created")
        if latest_filename is None:
            latest_filename = "checkpoint"
        if os.path.split(latest_filename)[0]:
            raise ValueError("'latest_filename' must not contain path components")
        save_path = os.fsdecode(save_path)  # (bytes too, as TensorFlow takes them)
        if global_step is not None:
            checkpoint_file = f"{save_path}-{_step_number(global_step)}"
        else:
            checkpoint_file = save_path
            if os.path.basename(save_path) == latest_filename:
                raise ValueError(f"'latest_filename' collides with 'save_path': '{latest_filename}' and '{save_path}'")
        targets, others = _restore_targets(self._resolve_graph(graph), self.saver_def.restore_op_name)
        if others:
            # (TensorFlow's restore of a file without them fails: it must not be written.)
            raise checkpoint.CheckpointError(
                f"{checkpoint_file}: this Saver also saves what "
                + ", ".join(f"'{name}' ({kind})" for name, kind in others)
                + " restores, which is not a variable: fastmeta cannot write it"
            )
        layout = _save_layout(self._resolve_graph(graph), self.saver_def.save_tensor_name)
        parent = os.path.dirname(save_path)
        # TensorFlow's unsharded SaveV2 creates the directory its prefix lies in (one
        # level); a sharded save (its temporary directory beside the prefix) or a V1 save
        # fails there, and TensorFlow's Saver then blames the missing directory.
        creates_parent = layout is None or not (layout.v1 or layout.sharded)
        if (
            parent
            and not os.path.isdir(parent)
            and not (creates_parent and os.path.isdir(os.path.dirname(parent) or "."))
        ):
            raise checkpoint.CheckpointError(f"Parent directory of {save_path} doesn't exist, can't save.")
        tensors, num_shards = _tensors_to_write(targets, values, checkpoint_file, layout)
        if layout is not None and layout.v1 and num_shards:
            model_checkpoint_path = _write_v1(checkpoint_file, tensors, layout)
        else:
            _core.write_bundle(checkpoint.core_path(checkpoint_file), tensors, num_shards=num_shards)
            model_checkpoint_path = checkpoint_file
        if write_state:
            self._record_last_checkpoint(model_checkpoint_path)
            checkpoint.update_checkpoint_state(
                parent,
                model_checkpoint_path,
                self.last_checkpoints,
                latest_filename=latest_filename,
            )
            self._maybe_delete_old_checkpoints(meta_graph_suffix)
        if write_meta_graph:
            from fastmeta.export import _GRAPH_AS_IS, _export_meta_graph, meta_graph_filename

            _export_meta_graph(  # (the file alone: its bytes are not parsed back)
                meta_graph_filename(checkpoint_file, meta_graph_suffix),
                None,
                _GRAPH_AS_IS,
                self.saver_def,
                None,
                False,
                self._resolve_graph(graph),
                None,
                False,
                False,
                strip_default_attrs,
                False,
                "unbound_inputs",
                want_message=False,
            )
        return model_checkpoint_path

    def export_meta_graph(
        self,
        filename: str | os.PathLike[str] | None = None,
        collection_list: Sequence[str] | None = None,
        as_text: bool = False,
        export_scope: str | None = None,
        clear_devices: bool = False,
        clear_extraneous_savers: bool = False,
        strip_default_attrs: bool = False,
        save_debug_info: bool = False,
        graph: Graph | None = None,
    ) -> meta_graph_pb2.MetaGraphDef:
        """The meta graph of ``graph`` (default: the graph the Saver was built or
        imported in; TensorFlow's takes the default graph) with this saver's saver_def,
        as TensorFlow's ``Saver.export_meta_graph``: :func:`fastmeta.export_meta_graph`
        of the graph's ``as_graph_def`` with ``_output_shapes`` (so with
        ``export_scope``, inputs are spelled as ``as_graph_def`` renders them, as in
        TensorFlow's). With ``export_scope``, the saver_def written has the scope
        stripped (:meth:`to_proto`; none when the saver's names are outside it), so
        the file's Saver finds its ops: TensorFlow writes it unstripped, naming ops the
        file does not have."""
        from fastmeta.export import _GRAPH_AS_IS, _export_meta_graph

        meta = _export_meta_graph(
            filename,
            None,
            _GRAPH_AS_IS,
            self.saver_def,
            collection_list,
            as_text,
            self._resolve_graph(graph),
            export_scope,
            clear_devices,
            clear_extraneous_savers,
            strip_default_attrs,
            save_debug_info,
            "unbound_inputs",
            written_saver_def=self.saver_def if export_scope is None else self.to_proto(export_scope),
        )
        assert meta is not None
        return meta

    def _record_last_checkpoint(self, path: str) -> None:
        """TensorFlow's ``_RecordLastCheckpoint``."""
        if not self.saver_def.max_to_keep:
            return
        self._last_checkpoints = [p for p in self._last_checkpoints if p[0] != path]
        self._last_checkpoints.append((path, time.time()))
        if len(self._last_checkpoints) > self.saver_def.max_to_keep:
            self._checkpoints_to_be_deleted.append(self._last_checkpoints.pop(0))

    def _maybe_delete_old_checkpoints(self, meta_graph_suffix: str) -> None:
        """TensorFlow's ``_MaybeDeleteOldCheckpoints``: delete the oldest checkpoint past
        ``max_to_keep`` unless it is due to be kept by ``keep_checkpoint_every_n_hours``."""
        if not self._checkpoints_to_be_deleted:
            return
        path, stamp = self._checkpoints_to_be_deleted.pop(0)
        if stamp > self._next_checkpoint_time:
            self._next_checkpoint_time += self.saver_def.keep_checkpoint_every_n_hours * 3600
            return
        remove_checkpoint(path, meta_graph_suffix)

    def recover_last_checkpoints(self, checkpoint_paths: Sequence[str]) -> None:
        """TensorFlow's ``recover_last_checkpoints``: adopt the existing checkpoints
        among ``checkpoint_paths`` (oldest first), with the mtimes of their ``.index``
        files (else of a V1 checkpoint's first file) in whole seconds, as TensorFlow's
        file system reports them."""
        from fastmeta.checkpoint import v1_checkpoint_files

        stamps = []
        for p in checkpoint_paths:
            # V2's index first; else V1's files (the first a sharded pattern matches).
            found = [p + ".index"] if os.path.exists(p + ".index") else v1_checkpoint_files(p)
            if not found:
                continue
            try:
                stamps.append((p, float(os.stat(found[0]).st_mtime_ns // 1_000_000_000)))
            except OSError:  # (gone meanwhile)
                continue
        self.set_last_checkpoints_with_time(stamps)

    def __repr__(self) -> str:
        return f"<fastmeta.Saver restore_op={self.saver_def.restore_op_name!r}>"


# ---------------------------------------------------------------------------
# checkpoints: what the restore op reads
# ---------------------------------------------------------------------------
_ASSIGN_TYPES = ("Assign", "AssignVariableOp")
_RESTORE_TYPES = ("RestoreV2", "RestoreSlice", "Restore")


class RestoreTarget(NamedTuple):
    """One tensor a Saver's restore op reads (see :meth:`Saver.restore_targets`)."""

    variable: str
    """Graph name of the variable op assigned (the partition variable for a slice)."""
    key: str
    """The checkpoint key read."""
    slice_spec: str
    """``""`` for the whole tensor, else ``"<full shape> <start>,<length>:..."``."""
    dtype: int
    """DataType enum the restore op reads."""
    full_name: str
    """The variable's full name: ``variable``, or for a slice the partitioned variable's
    ``save_slice_info.full_name`` (scope included)."""
    shape: tuple[int, ...] | None
    """The variable's static shape when fully known and checked by TensorFlow's assign
    (``validate_shape``) or reshaped to (``reshape``), else None."""
    reshape: bool = False
    """The value is reshaped to the variable's shape before the assign (a Saver built
    with ``reshape=True``): the stored tensor may have another shape with as many
    elements."""


class RestoredVariables(dict):  # type: ignore[type-arg]
    """What :meth:`Saver.restore` returns: ``{variable name: numpy array}``.

    Partitioned variables appear once, reassembled, under their full name. Extra
    attributes: ``slices`` (``{partition variable name: array}``, each a view into its
    full array), ``checkpoint_keys`` (``{name: checkpoint key}`` for every name of both
    mappings) and ``prefix`` (the checkpoint read).
    """

    def __init__(self) -> None:
        super().__init__()
        self.slices: dict[str, np.ndarray] = {}
        self.checkpoint_keys: dict[str, str] = {}
        self.prefix: str = ""


def _step_number(global_step: Any) -> int:
    """``global_step`` as an int (numpy integers and bools too, as TensorFlow takes them).
    A tensor or its name TensorFlow evaluates in its session; fastmeta runs none."""
    from fastmeta.checkpoint import CheckpointTypeError

    try:
        return operator.index(global_step)
    except TypeError:
        raise CheckpointTypeError(
            f"global_step must be an integer, got {global_step!r} (fastmeta evaluates no tensor: pass the step's value)"
        ) from None


def _behind_identities(op: Operation) -> Operation:
    """The op an Identity chain (as savers wire their Consts and filenames) starts from."""
    while op.type == "Identity" and op.inputs:
        op = op.inputs[0].op
    return op


def _string_list(op: Operation, what: str, needed: int) -> list[str]:
    """The strings of a Const feeding a restore op (through Identity ops): its first
    ``needed`` at most (the restore op's outputs; a shape the values repeat to fill is
    not expanded past them, whatever size it declares)."""
    from fastmeta.checkpoint import CheckpointError

    op = _behind_identities(op)
    if op.type != "Const":
        raise CheckpointError(
            f"restore op's {what} comes from '{op.name}' ({op.type}), not a Const: "
            "fastmeta cannot tell which checkpoint tensors it reads"
        )
    tensor = op.node_def.attr["value"].tensor
    vals = [v.decode("utf-8", "surrogateescape") for v in tensor.string_val]
    dims = [d.size for d in tensor.tensor_shape.dim]
    n = 1
    for d in dims:
        n *= d
    if vals and len(vals) < min(n, needed):  # TensorProto: the last value repeats
        vals += [vals[-1]] * (min(n, needed) - len(vals))
    return vals


def _static_shape(var_op: Operation) -> tuple[int, ...] | None:
    try:
        shape = var_op.get_attr("shape")
    except ValueError:
        return None
    if shape is None or shape.unknown_rank or any(d.size < 0 for d in shape.dim):
        return None
    return tuple(int(d.size) for d in shape.dim)


def _full_names(graph: Graph) -> dict[str, str]:
    """{partition variable op name: full name} from the graph's variable collections."""
    out: dict[str, str] = {}
    for key in graph.get_all_collection_keys():
        for v in graph.get_collection(key):
            if isinstance(v, Variable) and v.save_slice_info is not None:
                try:
                    out.setdefault(v.op.name, v.save_slice_info.full_name)
                except Exception:  # a broken entry is just not used
                    continue
    return out


def _source(t: Tensor, cache: dict[tuple[str, int], tuple[Tensor, bool]]) -> tuple[Tensor, bool]:
    """The tensor ``t`` passes on through a chain of ``Identity`` / ``Reshape`` ops, and
    whether a ``Reshape`` is on the way. ``cache`` holds the answer for every tensor
    walked, so that chains shared by many readers are walked once (a cycle of such ops
    ends where it closes)."""
    path: list[tuple[tuple[str, int], bool]] = []
    on_path: set[tuple[str, int]] = set()
    while True:
        key = (t.op.name, t.value_index)
        hit = cache.get(key)
        if hit is not None:
            end, reshape = hit
            break
        if t.op.type not in ("Identity", "Reshape") or not t.op.inputs or key in on_path:
            end, reshape = t, False
            cache[key] = (end, reshape)
            break
        path.append((key, t.op.type == "Reshape"))
        on_path.add(key)
        t = t.op.inputs[0]
    for key, is_reshape in reversed(path):
        reshape |= is_reshape
        cache[key] = (end, reshape)
    return end, reshape


def _restore_targets(graph: Graph, restore_op_name: str) -> tuple[list[RestoreTarget], list[tuple[str, str]]]:
    """The restore op's targets, and (name, type) of the other ops it runs that take a
    restore op's output (a lookup table's LookupTableImportV2, ...): those restore
    something other than a variable, which fastmeta does not (a warning says so)."""
    from fastmeta.checkpoint import CheckpointError

    try:
        root = graph.get_operation_by_name(restore_op_name)
    except (KeyError, ValueError) as e:
        raise CheckpointError(
            f"the Saver's restore op '{restore_op_name}' is not in the graph ({e}); pass "
            "the graph the meta graph was imported into (graph=...)"
        ) from None
    seen: set[str] = set()
    sources: dict[tuple[str, int], tuple[Tensor, bool]] = {}
    stack = [root]
    assigns: list[Operation] = []
    others: list[tuple[str, str]] = []
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.type in _ASSIGN_TYPES:
            assigns.append(op)
            continue
        for t in op.inputs:
            t, _ = _source(t, sources)
            if t.op.type in _RESTORE_TYPES:
                others.append((op.name, op.type))
                break
        stack.extend(op.control_inputs)
    if others:
        _log.warning(
            "%s also restores %s: not variables, not restored by fastmeta",
            restore_op_name, ", ".join(f"'{name}' ({kind})" for name, kind in sorted(others)),
        )  # fmt: skip
    restores: dict[str, tuple[list[str], list[str], list[int]]] = {}
    full_names: dict[str, str] | None = None
    out: list[RestoreTarget] = []
    for assign in assigns:
        ins = assign.inputs
        if len(ins) < 2:
            continue
        var_op = ins[0].op
        value, reshape = _source(ins[1], sources)
        rop = value.op
        if rop.type not in _RESTORE_TYPES:
            _log.warning(
                "%s: '%s' assigns '%s' from '%s' (%s), not from a restore op; not restored",
                restore_op_name, assign.name, var_op.name, value.name, rop.type,
            )  # fmt: skip
            continue
        if rop.name not in restores:
            restores[rop.name] = _restore_op_entries(rop)
        names, specs, dtypes = restores[rop.name]
        i = value.value_index
        if i >= len(names) or i >= len(specs) or i >= len(dtypes):
            raise CheckpointError(f"'{rop.name}' output {i} has no tensor_names/shape_and_slices entry")
        spec = specs[i]
        full_name = var_op.name
        if spec:
            if full_names is None:
                full_names = _full_names(graph)
            full_name = full_names.get(var_op.name) or _full_name_guess(var_op.name, names[i])
        validate = assign.type == "Assign" and bool(
            assign.node_def.attr["validate_shape"].b if "validate_shape" in assign.node_def.attr else True
        )
        out.append(
            RestoreTarget(
                variable=var_op.name,
                key=names[i],
                slice_spec=spec,
                dtype=dtypes[i] % _REF_OFFSET or _var_dtype(var_op),
                full_name=full_name,
                shape=_static_shape(var_op) if validate or reshape else None,
                reshape=reshape,
            )
        )
    out.sort(key=lambda t: t.variable)
    return out, sorted(others)


def _restore_op_entries(rop: Operation) -> tuple[list[str], list[str], list[int]]:
    """A restore op's (tensor_names, shape_and_slices, dtypes); a malformed one (inputs
    missing, no or a wrong dtypes attr: a file whose op list does not say how many
    inputs it takes) is a CheckpointError naming it."""
    from fastmeta.checkpoint import CheckpointError
    from fastmeta.errors import Error

    try:
        rins = rop.inputs
        if rop.type == "RestoreV2":
            dtypes = [int(t) for t in rop.get_attr("dtypes")]
        else:
            dtypes = [int(rop.get_attr("dt"))]
        names = _string_list(rins[1].op, "tensor_names", len(dtypes))
        if rop.type == "Restore":
            specs = [""] * len(names)
        else:
            specs = _string_list(rins[2].op, "shape_and_slices", len(dtypes))
    except Error:
        raise
    except (IndexError, ValueError, TypeError) as e:
        what = f"{len(rop.inputs)} inputs" if isinstance(e, IndexError) else str(e)
        raise CheckpointError(
            f"restore op '{rop.name}' ({rop.type}) is malformed ({what}): fastmeta cannot tell "
            "which checkpoint tensors it reads"
        ) from None
    return names, specs, dtypes


def _var_dtype(var_op: Operation) -> int:
    """The variable op's ``dtype`` attr (for restore ops whose ``dtypes`` are unset, as
    when the graph had no op definition for the variable)."""
    try:
        return int(var_op.get_attr("dtype") or 0) % _REF_OFFSET
    except ValueError:
        return 0


def _full_name_guess(var_name: str, key: str) -> str:
    """A partition's full name without collections: the prefix of ``var_name`` that
    ends with the checkpoint key (``imp/emb/part_0`` + ``emb`` → ``imp/emb``)."""
    i = var_name.rfind(key + "/")
    if i >= 0 and (i == 0 or var_name[i - 1] == "/"):
        return var_name[: i + len(key)]
    return key


def _parse_slice_spec(spec: str) -> tuple[tuple[int, ...], tuple[slice, ...]]:
    """``"10 4 0,5:-"`` → ((10, 4), (slice(0, 5), slice(None)))."""
    from fastmeta.checkpoint import CheckpointError

    parts = spec.split()
    if len(parts) < 2:
        raise CheckpointError(f"bad shape_and_slices entry {spec!r}")
    try:
        full = tuple(int(d) for d in parts[:-1])
        index: list[slice] = []
        for piece in parts[-1].split(":"):
            if piece == "-":
                index.append(slice(None))
            else:
                start, length = (int(x) for x in piece.split(","))
                index.append(slice(start, start + length))
    except ValueError:
        raise CheckpointError(f"bad shape_and_slices entry {spec!r}") from None
    if len(index) != len(full):
        raise CheckpointError(f"bad shape_and_slices entry {spec!r}: rank mismatch")
    return full, tuple(index)


_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def _object_based_keys(reader: CheckpointReader, targets: list[RestoreTarget]) -> list[RestoreTarget]:
    """As TensorFlow's name-based ``Saver.restore`` of an object-based checkpoint
    (``tf.train.Checkpoint``): when keys are missing and the checkpoint holds an object
    graph, each variable's key is looked up there (its ``full_name``, the graph name with
    any import scope, -> the object path it was saved under,
    ".../.ATTRIBUTES/VARIABLE_VALUE"), with a warning."""
    from fastmeta.checkpoint import CheckpointError
    from fastmeta.protos import trackable_object_graph_pb2

    if all(reader.has_tensor(t.key) for t in targets) or not reader.has_tensor(_OBJECT_GRAPH_KEY):
        return targets
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    try:
        graph.ParseFromString(bytes(reader.get_array(_OBJECT_GRAPH_KEY).item()))
    except Exception as e:  # a DecodeError, or not a string scalar
        raise CheckpointError(f"{reader.prefix}: unreadable {_OBJECT_GRAPH_KEY} ({e})") from None
    names_to_keys = {a.full_name: a.checkpoint_key for node in graph.nodes for a in node.attributes}
    # (TensorFlow looks up the saveables' names: graph names, an import scope included)
    missing = sorted({t.full_name for t in targets} - set(names_to_keys))
    if missing:
        raise CheckpointError(
            f"{reader.prefix}: an object-based checkpoint without the variables {missing} "
            f"(it has {sorted(set(names_to_keys))[:20]})"
        )
    _log.warning(
        "%s: restoring an object-based checkpoint with a name-based Saver (keys looked up "
        "in its object graph, as TensorFlow does)", reader.prefix,
    )  # fmt: skip
    return [t._replace(key=names_to_keys[t.full_name]) for t in targets]


def _check_targets(reader: CheckpointReader, targets: Sequence[RestoreTarget]) -> None:
    """Every key present with the expected dtype and shape, before anything is read."""
    from fastmeta.checkpoint import CheckpointError

    problems = []
    for t in targets:
        if not reader.has_tensor(t.key):
            problems.append(f"tensor {t.key!r} (restoring '{t.variable}') not found")
            continue
        entry = reader.entry(t.key)
        if int(entry["dtype"]) != t.dtype:
            problems.append(
                f"tensor {t.key!r} has dtype {entry['dtype_name']} but '{t.variable}' expects {_dtype_name(t.dtype)}"
            )
            continue
        shape = tuple(int(d) for d in entry["shape"])
        if t.slice_spec:
            full, _ = _parse_slice_spec(t.slice_spec)
            if full != shape:
                problems.append(
                    f"tensor {t.key!r} has shape {list(shape)} but '{t.variable}' is a slice of a {list(full)} tensor"
                )
        elif t.reshape:
            if t.shape is not None and math.prod(t.shape) != math.prod(shape):
                problems.append(
                    f"tensor {t.key!r} has shape {list(shape)}, which cannot be reshaped to "
                    f"'{t.variable}''s shape {list(t.shape)}"
                )
        elif t.shape is not None and t.shape != shape:
            problems.append(f"tensor {t.key!r} has shape {list(shape)} but '{t.variable}' has shape {list(t.shape)}")
    if problems:
        raise CheckpointError(f"{reader.prefix}: " + "; ".join(problems))


def _read_all(reader: CheckpointReader, keys: list[str], copy: bool) -> dict[str, np.ndarray]:
    """Read ``keys`` (CRC-checked) on up to two threads: the C++ read and numpy's copy
    both release the GIL."""
    if len(keys) <= 1:
        return {k: reader.get_array(k, copy=copy) for k in keys}
    workers = min(len(keys), max(1, min(4, os.cpu_count() or 1)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        arrays = list(pool.map(lambda k: reader.get_array(k, copy=copy), keys))
    return dict(zip(keys, arrays))


def _dtype_name(enum: int) -> str:
    from fastmeta import _core

    return str(_core.dtype_name(enum))


def _slice_extents(spec: str) -> list[tuple[int, int]]:
    """The slice of a spec as TensorFlow's ``TensorSlice::Parse`` keeps it (``-`` is
    ``(0, -1)``; explicit extents stay explicit even when whole), for the slice key."""
    return [
        (0, -1) if piece == "-" else (int(piece.split(",")[0]), int(piece.split(",")[1]))
        for piece in spec.split()[-1].split(":")
    ]


_SAVE_PLUMBING = frozenset({"Identity", "NoOp", "MergeV2Checkpoints", "Pack", "ShardedFilespec"})


def _int_const(op: Operation) -> int:
    op = _behind_identities(op)
    if op.type != "Const":
        raise ValueError(f"'{op.name}' is not a Const")
    tensor = op.node_def.attr["value"].tensor
    vals = list(tensor.int_val) or list(tensor.int64_val)
    if len(vals) != 1:
        raise ValueError(f"'{op.name}' is not an integer scalar")
    return int(vals[0])


class _SaveLayout(NamedTuple):
    """Where a graph's save ops store each tensor (see :func:`_save_layout`)."""

    where: dict[tuple[str, str], tuple[int, int]]  # (key, slice spec) -> (shard, position)
    num_shards: int
    v1: bool  # SaveSlices ops (a SaverDef.V1 Saver's), else SaveV2
    sharded: bool  # each op writes a ShardedFilename (V1: one file per shard)


def _save_layout(graph: Graph, save_tensor_name: str) -> _SaveLayout | None:
    """Where the graph's save ops behind ``save_tensor_name`` store each tensor: the
    ``SaveV2`` ops of a V2 Saver (or the ``SaveSlices`` ops of a V1 one), the
    ``ShardedFilename`` each writes to (shard i is data file i, as TensorFlow's sharded
    saver merges them; a V1 file of its own), each tensor's position in its op. None
    when the save ops are not of that form: the tensors then go to one V2 data file
    in key order."""
    try:
        root = graph.get_operation_by_name(save_tensor_name.split(":")[0])
        seen: set[str] = set()
        stack = [root]
        saves: list[Operation] = []
        while stack:
            op = stack.pop()
            if op.name in seen:
                continue
            seen.add(op.name)
            if op.type in ("SaveV2", "SaveSlices"):
                saves.append(op)
            elif op.type in _SAVE_PLUMBING:
                stack.extend(t.op for t in op.inputs)
                stack.extend(op.control_inputs)
        if not saves or len({op.type for op in saves}) != 1:
            return None
        where: dict[tuple[str, str], tuple[int, int]] = {}
        shards: dict[int, int] = {}  # shard -> num_shards
        sharded = False
        for save in saves:
            filename = _behind_identities(save.inputs[0].op)
            if filename.type == "ShardedFilename":
                shard, num = _int_const(filename.inputs[1].op), _int_const(filename.inputs[2].op)
                sharded = True
            elif len(saves) == 1:
                shard, num = 0, 1
            else:
                return None
            if shard in shards or not 0 <= shard < num:
                return None
            shards[shard] = num
            inputs = save.inputs
            saved = len(inputs) - 3  # (prefix, tensor_names, shape_and_slices, then the tensors)
            names = _string_list(inputs[1].op, "tensor_names", saved)
            specs = _string_list(inputs[2].op, "shape_and_slices", saved)
            if len(names) != len(specs):
                return None
            for i, ident in enumerate(zip(names, specs)):
                if ident in where:
                    return None
                where[ident] = (shard, i)
    except (ValueError, KeyError, IndexError):  # (CheckpointError is a ValueError)
        return None
    num_shards = set(shards.values())
    if len(num_shards) != 1:
        return None
    return _SaveLayout(where, num_shards.pop(), saves[0].type == "SaveSlices", sharded)


def _tensors_to_write(
    targets: Sequence[RestoreTarget],
    values: Mapping[str, Any],
    prefix: str,
    layout: _SaveLayout | None = None,
) -> tuple[list[tuple[Any, ...]], int]:
    """``_core.write_bundle`` entries and ``num_shards``: keys and slice keys exactly as
    TensorFlow's ``SaveV2`` writes them for the graph's ``tensor_names`` /
    ``shape_and_slices``; with the ``layout`` of the graph's save ops (when it names
    exactly these tensors), in its shards and order."""
    from fastmeta.checkpoint import CheckpointError, _entry_for

    given = {(k[:-2] if isinstance(k, str) and k.endswith(":0") else k): v for k, v in values.items()}
    both: dict[str, list[str]] = {}
    for t in targets:
        if t.slice_spec and t.variable != t.full_name and t.variable in given and t.full_name in given:
            both.setdefault(t.full_name, []).append(t.variable)
    if both:
        raise CheckpointError(
            f"{prefix}: "
            + "; ".join(f"'{full}' is given whole and as its partitions {parts}" for full, parts in both.items())
            + ": give one or the other"
        )
    used: set[str] = set()
    missing: list[str] = []
    out: list[tuple[Any, ...]] = []
    idents: list[tuple[str, str]] = []
    for t in targets:
        if t.slice_spec:
            full_shape, index = _parse_slice_spec(t.slice_spec)
            if t.variable in given:
                value = _as_dtype(given[t.variable], t, prefix)
                used.add(t.variable)
            elif t.full_name in given:
                whole = _as_dtype(given[t.full_name], t, prefix)
                if tuple(whole.shape) != full_shape:
                    raise CheckpointError(
                        f"{prefix}: value of '{t.full_name}' has shape {list(whole.shape)}, expected {list(full_shape)}"
                    )
                value = whole[index]
                used.add(t.full_name)
            else:
                missing.append(t.variable)
                continue
            expect = tuple((s.stop - s.start) if s.start is not None else full_shape[d] for d, s in enumerate(index))
            if tuple(value.shape) != expect:
                raise CheckpointError(
                    f"{prefix}: value of '{t.variable}' has shape {list(value.shape)}, expected {list(expect)}"
                )
            entry = _entry_for(t.key, value)
            out.append((*entry, list(full_shape), _slice_extents(t.slice_spec)))
            idents.append((t.key, t.slice_spec))
            continue
        if t.variable not in given:
            missing.append(t.variable)
            continue
        used.add(t.variable)
        value = _as_dtype(given[t.variable], t, prefix)
        if t.shape is not None and tuple(value.shape) != t.shape:
            raise CheckpointError(
                f"{prefix}: value of '{t.variable}' has shape {list(value.shape)}, expected {list(t.shape)}"
            )
        out.append((*_entry_for(t.key, value), None, None))  # duplicates: write_bundle refuses
        idents.append((t.key, t.slice_spec))
    if missing:
        raise CheckpointError(f"{prefix}: no value given for {sorted(set(missing))}")
    unknown = sorted(set(given) - used)
    if unknown:
        raise CheckpointError(
            f"{prefix}: {unknown} are not variables this Saver saves "
            f"(it saves {sorted({t.full_name for t in targets})})"
        )
    if layout is None or len(idents) != len(layout.where) or set(idents) != set(layout.where):
        return out, 0
    where = layout.where
    ordered = sorted(zip(idents, out), key=lambda p: where[p[0]])
    return [(*entry, where[ident][0]) for ident, entry in ordered], layout.num_shards


def _write_v1(checkpoint_file: str, tensors: list[tuple[Any, ...]], layout: _SaveLayout) -> str:
    """Write ``tensors`` (``_tensors_to_write``'s, in the save ops' order) as the graph's
    ``SaveSlices`` ops write them: one V1 file, or one per shard (TensorFlow's
    ``ShardedFilename``); the path TensorFlow's ``Saver.save`` returns (a sharded
    checkpoint's ``ShardedFilespec`` pattern)."""
    from fastmeta import _core, checkpoint

    if not layout.sharded:
        _core.write_slices(checkpoint.core_path(checkpoint_file), tensors)
        return checkpoint_file
    by_shard: dict[int, list[tuple[Any, ...]]] = {shard: [] for shard, _ in layout.where.values()}
    for entry in tensors:
        by_shard[entry[6]].append(entry)
    n = layout.num_shards
    for shard, entries in sorted(by_shard.items()):
        _core.write_slices(checkpoint.core_path(f"{checkpoint_file}-{shard:05d}-of-{n:05d}"), entries)
    return f"{checkpoint_file}-?????-of-{n:05d}"


def _as_dtype(value: Any, t: RestoreTarget, prefix: str) -> np.ndarray:
    import numpy as np

    from fastmeta import checkpoint
    from fastmeta.checkpoint import CheckpointError

    if t.dtype == checkpoint.DT_STRING:
        arr = np.asarray(value, dtype=object)
        return arr
    dt = checkpoint._NP_DTYPES.get(t.dtype)
    if dt is None or checkpoint._ENUM_OF_NUMPY.get(dt) != t.dtype:
        raise CheckpointError(f"{prefix}: '{t.variable}' has DataType {t.dtype}, which fastmeta cannot write")
    arr = np.asarray(value)
    if arr.dtype != dt:
        try:
            arr = arr.astype(dt, casting="same_kind")
        except TypeError as e:
            raise CheckpointError(
                f"{prefix}: value of '{t.variable}' has dtype {arr.dtype}, expected {dt} ({e})"
            ) from None
    return arr


def remove_checkpoint(checkpoint_prefix: str, meta_graph_suffix: str = "meta") -> None:
    """TensorFlow's ``remove_checkpoint``: delete the checkpoint's meta graph file
    (``<prefix>.meta``, the suffix given, named as :func:`fastmeta.export.meta_graph_filename`
    names it), ``<prefix>.index`` and ``<prefix>.data-?????-of-?????``; without an index,
    also the V1 file(s) the prefix matches. (TensorFlow picks the format by
    ``saver_def.version``; fastmeta looks at what is on disk: a Saver whose save ops
    were edited by hand may have written V2 for a V1 saver_def.)"""
    from fastmeta.checkpoint import v1_checkpoint_files
    from fastmeta.export import meta_graph_filename

    v1 = [] if os.path.exists(f"{checkpoint_prefix}.index") else v1_checkpoint_files(checkpoint_prefix)
    paths = [meta_graph_filename(checkpoint_prefix, meta_graph_suffix), f"{checkpoint_prefix}.index"]
    paths += glob.glob(f"{glob.escape(checkpoint_prefix)}.data-?????-of-?????") + v1
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            continue
        except OSError as e:
            _log.warning("Ignoring: %s", e)


# ---------------------------------------------------------------------------
# building a fresh Saver's ops
# ---------------------------------------------------------------------------
def _attr_type(t: int) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue(type=t)  # type: ignore[arg-type]


def _attr_types(ts: Sequence[int]) -> attr_value_pb2.AttrValue:
    a = attr_value_pb2.AttrValue()
    a.list.type.extend(ts)  # type: ignore[arg-type]
    return a


def _string_const(values: Sequence[str], scalar: bool = False) -> dict[str, attr_value_pb2.AttrValue]:
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


# The ops whose outputs TensorFlow's Saver accepts as a variable's.
_VARIABLE_OPS = frozenset({*_REF_OPS, "VarHandleOp", "_VarHandlesOp", "ReadVariableOp"})


class SaverItemRefused(Exception):
    """An item TensorFlow's ``Saver()`` refuses: ``builtin`` is the class of
    TensorFlow's error (``TypeError``, ``ValueError``, ``RuntimeError``, ``IndexError``),
    ``item`` the refused collection item. :func:`build_saver` raises it; the importer
    turns it into the matching collection error."""

    def __init__(self, builtin: type[Exception], message: str, item: Any):
        super().__init__(message)
        self.builtin = builtin
        self.item = item


class _Saveable:
    """One saved entry of a fresh Saver: a Variable (or one partition of one), or a tensor
    a variable op makes listed as is (a ``node_list`` item), as TensorFlow's
    ``saveable_objects_for_op`` makes a ``ReferenceVariableSaveable`` or a
    ``ResourceVariableSaveable`` of it."""

    def __init__(self, name: str, var: Variable | Tensor, slice_spec: str):
        self.name = name
        self.slice_spec = slice_spec
        self.read_on_save = False
        if isinstance(var, Tensor):
            op = var.op
            self.is_resource = op.type not in _REF_OPS
            self.tensor: Tensor = var
            self.device = op.device
            if self.is_resource:
                # (TensorFlow takes the handle from the first input of the tensor's op:
                # a ReadVariableOp's; a handle op has none)
                if not op.inputs:
                    raise SaverItemRefused(
                        IndexError,
                        f"tuple index out of range (TensorFlow's Saver reads the handle of a "
                        f"resource variable tensor from the first input of its op; "
                        f"'{var.name}' is the output of {op.type} '{op.name}', which has none)",
                        var,
                    )
                self.handle = op.inputs[0]
            else:
                self.handle = var
                self.ref_shape = var.shape
                self.colocate = op
            dtype = var.dtype
            if dtype is not None and dtype > _REF_OFFSET:
                dtype -= _REF_OFFSET
            self.dtype = int(dtype if dtype is not None else 0)
            return
        self.is_resource = var.is_resource
        # A partitioned resource variable is read by new ops when the save op is built.
        self.read_on_save = var.is_resource and var.save_slice_info is not None
        self.handle = var.handle  # what a resource variable's restore assigns to
        if self.read_on_save:
            self.tensor = var.handle
            self.device = var.device
        elif var.is_resource:
            self.tensor = var._graph_element
            self.device = self.tensor.op.device
            if self.tensor.op.type == "ReadVariableOp":  # (as TensorFlow: the read op's handle)
                self.handle = self.tensor.op.inputs[0]
        elif var.save_slice_info is not None:
            self.tensor = var.snapshot  # a partition is saved through its read value
            self.device = var.device
        else:
            self.tensor = var._variable
            self.device = var.device
        if not var.is_resource:
            self.ref_shape = var.shape
            self.colocate = var.op
            self.handle = var._variable
        dtype = var._base_dtype()
        self.dtype = int(dtype if dtype is not None else 0)


def _saveables(items: Sequence[Any], shown: Callable[[Any], str]) -> list[_Saveable]:
    """The saved entries of TensorFlow's fresh ``Saver()`` over ``items`` (Variables,
    tensors, operations): its ``op_list_to_dict`` (items by name, each refused or named
    by the variable op it saves), then a saveable per name in name order. What
    TensorFlow refuses is a :class:`SaverItemRefused` with its message (``shown``:
    how TensorFlow prints a tensor), raised at the item TensorFlow raises at."""
    by_name: dict[str, Any] = {}
    for item in sorted(items, key=lambda v: v.name):
        if isinstance(item, Operation):
            raise SaverItemRefused(TypeError, f"can't convert Operation '{item.name}' to Tensor", item)
        if isinstance(item, Variable):
            if isinstance(item._variable, Operation):
                # (a ref VariableDef naming its op: TensorFlow's conversion to a tensor
                # gives that Operation, which it refuses)
                op = item._variable
                raise SaverItemRefused(
                    RuntimeError,
                    f"the conversion of ref variable '{item.name}' to a tensor returned "
                    f"non-Tensor: <tf.Operation '{op.name}' type={op.type}>",
                    item,
                )
            if item.save_slice_info is not None:
                full = item.save_slice_info.full_name
                if full in by_name:
                    if not isinstance(by_name[full], list):
                        raise SaverItemRefused(
                            ValueError, f"Mixing slices and non-slices with the same name: {full}", item
                        )
                    by_name[full].append(item)
                else:
                    by_name[full] = [item]
                continue
            # Named as TensorFlow's Saver names it: by the op of the tensor it saves (for a
            # resource variable, the handle its read op reads), which must be a variable's.
            tensor = item._graph_element if item.is_resource else item._variable
        else:
            tensor = item
        if tensor is None or tensor.op.type not in _VARIABLE_OPS:
            what = shown(tensor) if tensor is not None else repr(item.name)
            raise SaverItemRefused(TypeError, f"Variable to save is not a Variable: {what}", item)
        name = tensor.op.inputs[0].op.name if tensor.op.type == "ReadVariableOp" else tensor.op.name
        if name in by_name:
            raise SaverItemRefused(ValueError, f"At least two variables have the same name: {name}", item)
        by_name[name] = item
    out: list[_Saveable] = []
    for name, entry in sorted(by_name.items(), key=lambda x: x[0]):
        if isinstance(entry, list):
            for var in entry:
                assert var.save_slice_info is not None
                out.append(_Saveable(name, var, var.save_slice_info.spec))
        else:
            out.append(_Saveable(name, entry, ""))
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
        txn.create_op("DisableCopyOnRead", [s.handle], None, "DisableCopyOnRead", device=s.device)
        read = txn.create_op("ReadVariableOp", [s.handle], {"dtype": dtype}, "ReadVariableOp", device=s.device)
    ident = txn.create_op("Identity", [Tensor(read, 0)], {"T": dtype}, "Identity", device=s.device)
    cpu = _merge_device(s.device, "/device:CPU:0")
    out = txn.create_op("Identity", [Tensor(ident, 0)], {"T": dtype}, "Identity", device=cpu)
    return Tensor(out, 0)


def build_saver(txn: _Transaction, items: Sequence[Any], shown: Callable[[Any], str] = str) -> Saver:
    """Add TensorFlow ``Saver()``'s save/restore ops for ``items`` (Variables, and
    tensors variable ops make, as a file's collections list them) in V2 format,
    unsharded, under a new ``save`` name scope; return the Saver. An item TensorFlow
    refuses (an operation, a tensor no variable op makes, two of one name...) is a
    :class:`SaverItemRefused` (``shown``: how TensorFlow prints a tensor, for its
    message)."""
    saveables = _saveables(items, shown)
    if not saveables:
        raise SaverItemRefused(ValueError, "No variables to save", None)
    with txn.name_scope("save"):
        with txn.name_scope("filename") as filename_scope:
            default = txn.create_op("Const", (), _string_const(["model"], scalar=True), "input")
        filename = txn.create_op("PlaceholderWithDefault", [Tensor(default, 0)], _scalar_string_shape(), filename_scope)
        const = txn.create_op("PlaceholderWithDefault", [Tensor(filename, 0)], _scalar_string_shape(), "Const")
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
            if s.is_resource:
                ident = txn.create_op("Identity", [value], {"T": _attr_type(s.dtype)}, "Identity", device=s.device)
                assign = txn.create_op(
                    "AssignVariableOp",
                    [s.handle, Tensor(ident, 0)],
                    {
                        "validate_shape": attr_value_pb2.AttrValue(b=False),
                        "dtype": _attr_type(s.dtype),
                    },
                    "AssignVariableOp",
                    device=s.device,
                )
            else:
                shape = s.ref_shape
                full = shape is not None and not shape.unknown_rank and all(d.size >= 0 for d in shape.dim)
                assign = txn.create_op(
                    "Assign",
                    [s.handle, value],
                    {
                        "T": _attr_type(s.dtype),
                        "validate_shape": attr_value_pb2.AttrValue(b=bool(full)),
                        "use_locking": attr_value_pb2.AttrValue(b=True),
                    },
                    "Assign",
                    colocate_with=s.colocate,
                )
            _mark_manual(assign)
            assigns.append(assign)
        by_device: dict[str, list[Operation]] = {}
        for a in assigns:
            by_device.setdefault(a.device, []).append(a)
        with txn.name_scope("restore_all") as group_scope:
            if len(by_device) == 1:
                ((device, deps),) = by_device.items()
                restore_all = txn.create_op("NoOp", (), None, group_scope, device=device, control_inputs=deps)
            else:
                firsts = []
                for device in sorted(by_device):
                    noop = txn.create_op("NoOp", (), None, "NoOp", device=device, control_inputs=by_device[device])
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
    return Saver(saver_def=sd, graph=txn._graph)
