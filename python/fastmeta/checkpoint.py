"""TensorFlow checkpoints without TensorFlow.

Reads and writes TensorFlow's "tensor bundle" format (``<prefix>.index`` plus
``<prefix>.data-NNNNN-of-MMMMM``), the format of ``tf.train.Checkpoint``,
``tf.compat.v1.train.Saver`` (V2) and SavedModel ``variables/``; reads the legacy V1
format too (below). The heavy lifting —
the sorted string table, CRC32C checks, snappy, slice reassembly — is done by the C++
core with the GIL released; tensor bytes are read from the data files straight into the
arrays returned, which own them.

API mirrors ``tf.train``::

    reader = load_checkpoint(prefix_or_dir)
    reader.get_tensor(name)            # numpy array (a scalar for a 0-d tensor)
    reader.get_variable_to_shape_map() # {name: [dims]}
    reader.get_variable_to_dtype_map() # {name: dtype name}, see below
    list_variables(prefix_or_dir)      # [(name, [dims])], sorted like TF
    latest_checkpoint(directory)
    write_checkpoint(prefix, {name: array})
    update_checkpoint_state(directory, prefix, all_prefixes)

dtype mapping of :meth:`CheckpointReader.get_tensor`:

* ``half`` -> ``numpy.float16``; ``bfloat16`` (and the float8, int4/uint4, int2/uint2
  and float4_e2m1fn types) -> the ``ml_dtypes`` type when ``ml_dtypes`` is importable,
  otherwise the raw bits as ``numpy.uint16`` (``uint8`` for float8 and float4,
  ``int8``/``uint8`` for the signed/unsigned int4 and int2; one byte per element, as
  TensorFlow stores them);
* ``string`` -> an ``object`` array of ``bytes``;
* quantized types (``qint8``...) -> their plain integer storage type;
* ``resource`` / ``variant`` tensors cannot be read (CheckpointError).

:meth:`CheckpointReader.get_variable_to_dtype_map` returns TensorFlow's dtype *names*
(``"float32"``, ``"float16"``, ``"bfloat16"``, ``"string"``...), equal to
``tf.DType.name``; :meth:`CheckpointReader.get_dtype` gives the numpy dtype.

Legacy V1 checkpoints (what a ``SaverDef.V1`` Saver writes: one ``<prefix>`` file, or
``<prefix>-00000-of-00002``... when sharded; no ``.index``) are read too, as TensorFlow
reads them: every tensor reassembled from its slices, the same names, shapes, dtypes
and values (:attr:`CheckpointReader.format` tells which). :meth:`fastmeta.Saver.save`
writes the format the meta graph's save ops write: V1 files for a V1 Saver (the bytes
TensorFlow's ``SaveSlices`` writes), else V2.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Union

import numpy as np

from fastmeta import _core
from fastmeta._files import write_atomic
from fastmeta.errors import Error

__all__ = [
    "CheckpointError",
    "CheckpointReader",
    "CheckpointState",
    "CheckpointTypeError",
    "PartitionedSlice",
    "get_checkpoint_state",
    "inspect_checkpoint_main",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "update_checkpoint_state",
    "v1_checkpoint_files",
    "write_checkpoint",
]

_log = logging.getLogger(__name__)

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class CheckpointError(Error, ValueError):
    """A checkpoint cannot be read or written: missing or corrupt files, checksum
    mismatches, unknown tensors, unsupported content. The message names the file and,
    where known, the tensor and byte offset."""


class CheckpointTypeError(CheckpointError, TypeError):
    """An argument of the wrong type for a checkpoint call (a ``global_step`` that is not
    an integer), where TensorFlow raises ``TypeError``."""


# C++ fastmeta::CheckpointError now raises this class.
_core._set_checkpoint_error(CheckpointError)


def core_path(path: str) -> bytes:
    """``path`` as the core opens it: its bytes (a file name that is not UTF-8 comes
    as lone surrogates, ``os.fsdecode``'s spelling). A NUL would end the name early in
    C++, so that the core opened (or wrote!) another file: refused."""
    if "\0" in path:
        raise CheckpointError(f"{path!r}: a checkpoint path cannot contain a NUL character")
    return os.fsencode(path)


def _shown(path: str) -> str:
    """``path`` as the core's messages spell it (bytes that are not UTF-8 as ``\\xff``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _cleaned(path: str) -> str:
    """``path`` as TensorFlow's file system opens it: cleaned lexically first (its
    ``io::CleanPath``), so ``d/missing/../m`` is ``d/m`` whatever ``d/missing`` is (a
    missing directory, a symlink elsewhere), as ``os.path.normpath`` cleans it."""
    return os.path.normpath(path) if path else path


def v1_checkpoint_files(prefix: PathLike) -> list[str]:
    """The files of the V1 checkpoint ``prefix`` names, sorted: the file itself, or the
    files a pattern matches (a sharded V1 Saver's ``model.ckpt-?????-of-00002``), as
    TensorFlow's ``TensorSliceReader`` takes its file pattern. Empty when none exist."""
    path = os.fsdecode(prefix)
    if not any(c in path for c in "*?["):
        return [path] if os.path.isfile(path) else []
    try:
        matches = glob.glob(path, include_hidden=True)  # type: ignore[call-arg]
    except TypeError:  # Python < 3.11
        matches = glob.glob(path)
    return sorted(p for p in matches if os.path.isfile(p))


# ---- dtypes -----------------------------------------------------------------

DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = 1, 2, 3, 4, 5, 6, 7
DT_COMPLEX64, DT_INT64, DT_BOOL, DT_QINT8, DT_QUINT8, DT_QINT32 = 8, 9, 10, 11, 12, 13
DT_BFLOAT16, DT_QINT16, DT_QUINT16, DT_UINT16, DT_COMPLEX128, DT_HALF = 14, 15, 16, 17, 18, 19
DT_RESOURCE, DT_VARIANT, DT_UINT32, DT_UINT64 = 20, 21, 22, 23

try:  # optional: exact numpy types for bfloat16 / float8 / int4
    import ml_dtypes as _ml
except ImportError:  # pragma: no cover - depends on the environment
    _ml = None  # type: ignore[assignment]


def _numpy_dtypes() -> dict[int, np.dtype]:
    table: dict[int, Any] = {
        DT_FLOAT: np.float32,
        DT_DOUBLE: np.float64,
        DT_INT32: np.int32,
        DT_UINT8: np.uint8,
        DT_INT16: np.int16,
        DT_INT8: np.int8,
        DT_STRING: object,
        DT_COMPLEX64: np.complex64,
        DT_INT64: np.int64,
        DT_BOOL: np.bool_,
        DT_QINT8: np.int8,
        DT_QUINT8: np.uint8,
        DT_QINT32: np.int32,
        DT_BFLOAT16: np.uint16,
        DT_QINT16: np.int16,
        DT_QUINT16: np.uint16,
        DT_UINT16: np.uint16,
        DT_COMPLEX128: np.complex128,
        DT_HALF: np.float16,
        DT_UINT32: np.uint32,
        DT_UINT64: np.uint64,
        24: np.uint8,
        25: np.uint8,
        26: np.uint8,
        27: np.uint8,
        28: np.uint8,
        29: np.int8,
        30: np.uint8,
        31: np.int8,
        32: np.uint8,
        33: np.uint8,
    }
    if _ml is not None:
        for enum, attr in [
            (DT_BFLOAT16, "bfloat16"),
            (24, "float8_e5m2"),
            (25, "float8_e4m3fn"),
            (26, "float8_e4m3fnuz"),
            (27, "float8_e4m3b11fnuz"),
            (28, "float8_e5m2fnuz"),
            (29, "int4"),
            (30, "uint4"),
            (31, "int2"),
            (32, "uint2"),
            (33, "float4_e2m1fn"),
        ]:
            if hasattr(_ml, attr):
                table[enum] = getattr(_ml, attr)
    return {k: np.dtype(v) for k, v in table.items()}


_NP_DTYPES = _numpy_dtypes()

# numpy's most dimensions an array has (NPY_MAXDIMS, 64 since numpy 2.0; 32 before).
_NUMPY_MAX_DIMS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32

# numpy dtype -> DataType enum for writing.
_ENUM_OF_NUMPY: dict[np.dtype, int] = {
    np.dtype(t): e
    for t, e in [
        (np.float32, DT_FLOAT), (np.float64, DT_DOUBLE), (np.int32, DT_INT32),
        (np.uint8, DT_UINT8), (np.int16, DT_INT16), (np.int8, DT_INT8),
        (np.complex64, DT_COMPLEX64), (np.int64, DT_INT64), (np.bool_, DT_BOOL),
        (np.uint16, DT_UINT16), (np.complex128, DT_COMPLEX128), (np.float16, DT_HALF),
        (np.uint32, DT_UINT32), (np.uint64, DT_UINT64),
    ]
}  # fmt: skip
if _ml is not None:
    for _enum in (DT_BFLOAT16, *range(24, 34)):
        if _NP_DTYPES[_enum] not in _ENUM_OF_NUMPY:  # an ml_dtypes type, not raw bits
            _ENUM_OF_NUMPY.setdefault(_NP_DTYPES[_enum], _enum)


def _dtype_enum_for(value: np.ndarray, name: str) -> int:
    if value.dtype.kind in "OSU":
        return DT_STRING
    # (looked up in native byte order: a big-endian array is swapped when written)
    enum = _ENUM_OF_NUMPY.get(value.dtype.newbyteorder("=") if value.dtype.byteorder == ">" else value.dtype)
    if enum is None:
        raise CheckpointError(f"tensor {name!r}: cannot store numpy dtype {value.dtype}")
    return enum


# ---- reading ----------------------------------------------------------------


class CheckpointReader:
    """A checkpoint opened for reading (like ``tf.train.load_checkpoint``'s reader):
    V2 when ``<prefix>.index`` exists, else the V1 file(s) ``prefix`` names (a file, or
    a pattern such as ``model.ckpt-?????-of-00002``, as TensorFlow's reader takes it).

    V2: the data files are opened lazily and read (never mapped) into the arrays
    returned; every read verifies the tensor's CRC32C. V1: the files are opened and
    their tables' index and metadata read; a tensor's values are read (the blocks of
    its slices, CRC-checked) when it is. Thread-safe.
    """

    def __init__(self, prefix: PathLike):
        self._prefix = os.fsdecode(prefix)
        core_path(self._prefix)  # (refuses a NUL)
        self._reader: _core.BundleReader | _core.SliceReader
        index = _cleaned(self._prefix) + ".index"
        v1_files = [] if os.path.exists(index) else v1_checkpoint_files(_cleaned(self._prefix))
        if v1_files:
            self._format = "V1"
            self._reader = _core.SliceReader([core_path(f) for f in v1_files])
            self._files = v1_files
        else:
            if not os.path.exists(index):
                raise CheckpointError(
                    f"{_shown(index)}: checkpoint index not found (no such file), and no V1 "
                    f"checkpoint file matches '{_shown(self._prefix)}'"
                )
            self._format = "V2"
            self._reader = _core.BundleReader(core_path(_cleaned(self._prefix)))
            self._files = [index]
        self._entries: dict[str, dict] = self._reader.entries()

    @property
    def format(self) -> str:
        """``"V2"`` (``<prefix>.index`` + data files) or ``"V1"`` (the legacy
        tensor-slice files a ``SaverDef.V1`` Saver writes)."""
        return self._format

    @property
    def files(self) -> list[str]:
        """A V1 checkpoint's files (one per shard, sorted); a V2 checkpoint's index."""
        return list(self._files)

    @property
    def prefix(self) -> str:
        """The checkpoint prefix this reader opened (``dir/model.ckpt``)."""
        return self._prefix

    @property
    def num_shards(self) -> int:
        """How many data files (``.data-XXXXX-of-NNNNN``) the checkpoint has (V1: files)."""
        return int(self._reader.num_shards)

    def has_tensor(self, name: str | bytes) -> bool:
        """Whether the checkpoint holds a tensor ``name`` (a partitioned tensor's full
        name counts; its slices' keys do not)."""
        return bool(self._reader.contains(name))

    def _entry(self, name: str) -> dict:
        entry = self._entries.get(name)
        if entry is None:
            entry = self._reader.entry(name)  # raises CheckpointError naming the index
        return entry

    def entry(self, name: str) -> dict:
        """The stored BundleEntryProto of ``name`` as a dict (dtype enum, shape,
        shard_id, offset, size, crc32c, slices). V1: dtype, shape, slices (empty when
        stored whole), shard_id (the file of its first slice) and parts ((slice, file)
        per stored slice); num_slices, their count."""
        return dict(self._reader.entry(name))  # (a name it lacks: CheckpointError naming the index)

    def get_dtype(self, name: str) -> np.dtype:
        """The numpy dtype of what :meth:`get_tensor` returns for ``name``."""
        enum = self._entry(name)["dtype"]
        dt = _NP_DTYPES.get(enum)
        if dt is None:
            raise CheckpointError(
                f"{self._prefix}: tensor {name!r} has dtype {_core.dtype_name(enum)}, "
                "which cannot be read as a numpy array"
            )
        return dt

    def get_shape(self, name: str) -> list[int]:
        """The shape of tensor ``name`` (the full shape for a partitioned tensor)."""
        return list(self._entry(name)["shape"])

    def get_tensor(self, name: str, *, copy: bool = True) -> np.ndarray | np.generic | bytes:
        """The tensor ``name`` (partitioned tensors reassembled): a numpy array, or for a
        0-d tensor the scalar TensorFlow's reader returns (``numpy.float32(1.5)``,
        ``b"text"`` for a string).

        The array owns its bytes, read from the data file straight into it (as
        TensorFlow's reader returns copies): it stays valid whatever later happens to
        the file. ``copy`` is accepted for compatibility and changes nothing (there is
        no second copy to save).
        """
        arr = self.get_array(name, copy=copy)
        return arr[()] if arr.ndim == 0 else arr

    def get_array(self, name: str, *, copy: bool = True) -> np.ndarray:
        """As :meth:`get_tensor`, but always an array (0-d for a scalar); strings are an
        ``object`` array of ``bytes``.

        A data file truncated or changed since the checkpoint was written raises
        :class:`CheckpointError` naming the file, tensor and byte offset (the bytes
        run past its end, or their checksum does not match).
        """
        del copy  # (the array is always the caller's own)
        entry = self._entry(name)
        dt = self.get_dtype(name)
        shape = tuple(entry["shape"])
        self._check_numpy_shape(name, shape, dt)
        if entry["dtype"] == DT_STRING:
            data = self._reader.read(name)
            arr = np.empty(len(data), dtype=object)
            arr[:] = data
            return arr.reshape(shape)
        if isinstance(self._reader, _core.SliceReader):  # (its blocks read once, then allocated)
            return np.frombuffer(self._reader.read_array(name), dtype=dt).reshape(shape)
        self._reader.nbytes(name)  # (the files hold the bytes: nothing is allocated for more)
        arr = np.empty(shape, dtype=dt)
        self._reader.read_into(name, arr.reshape(-1).view(np.uint8).data)
        return arr

    def _check_numpy_shape(self, name: str, shape: tuple[int, ...], dt: Any) -> None:
        """Refuse, as TensorFlow's reader does (a ``ValueError`` there too), a shape no
        numpy array can have: more than 64 dimensions, or (with a zero dimension, so no
        elements) a product of the others past numpy's limit."""
        if len(shape) > _NUMPY_MAX_DIMS:
            raise CheckpointError(
                f"{self._prefix}: tensor {name!r}: Cannot convert tensor with {len(shape)} dimensions "
                f"to NumPy array. NumPy arrays can have at most {_NUMPY_MAX_DIMS} dimensions"
            )
        try:
            # (an element type of the same size that as_strided knows: ml_dtypes' are not)
            probe = np.empty(0, dtype=np.dtype((np.void, np.dtype(dt).itemsize)))
            np.lib.stride_tricks.as_strided(probe, shape=shape, strides=(0,) * len(shape))
        except ValueError as e:
            raise CheckpointError(
                f"{self._prefix}: tensor {name!r}: Failed to create numpy array from tensor of shape "
                f"{list(shape)}. Numpy error: ValueError: {e}"
            ) from None

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        """{name: shape as a list}, for every tensor (slices of partitioned tensors are
        folded into their full tensor, as TF does)."""
        return {k: list(e["shape"]) for k, e in self._entries.items()}

    def get_variable_to_dtype_map(self) -> dict[str, str]:
        """{name: TensorFlow dtype name} (``"float32"``, ``"bfloat16"``, ``"string"``...;
        equal to ``tf.DType.name``)."""
        return {k: e["dtype_name"] for k, e in self._entries.items()}

    def debug_string(self) -> bytes:
        """TensorFlow's ``CheckpointReader.debug_string()``: bytes, a line
        ``name (DT_FLOAT) [2,3]`` per entry. V2 as TensorFlow lists the index: every
        entry stored whole in key order, so a partitioned tensor appears as its slices'
        (binary) keys, not its full name. V1: each tensor once, with ``, 2 slices`` when
        stored in several, in name order (TensorFlow's is that of a hash map)."""
        from fastmeta.protos import types_pb2

        def line(key: bytes, entry: dict) -> bytes:
            try:
                dtype = types_pb2.DataType.Name(entry["dtype"])
            except ValueError:
                dtype = ""  # (TensorFlow's name for an enum it does not know)
            dims = ",".join(str(d) for d in entry["shape"])
            return key + f" ({dtype}) [{dims}]".encode()

        lines: list[bytes] = []
        if isinstance(self._reader, _core.BundleReader):
            for key in self._reader.keys():
                entry = self._reader.entry(key)
                if not entry["slices"]:
                    lines.append(line(key, entry) + b"\n")
        else:
            for name in sorted(self._entries):
                entry = self._entries[name]
                n = entry["num_slices"]
                more = f", {n} slices" if n > 1 else ""
                lines.append(line(name.encode("utf-8", "surrogateescape"), entry) + more.encode() + b"\n")
        return b"".join(lines)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, (str, bytes)) and self.has_tensor(name)

    def __repr__(self) -> str:
        return f"CheckpointReader({self._prefix!r}, {len(self._entries)} tensors)"


def _resolve_prefix(ckpt_dir_or_file: PathLike) -> str:
    path = os.fsdecode(ckpt_dir_or_file)
    if os.path.isdir(_cleaned(path)):
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"Couldn't find 'checkpoint' file or checkpoints in given directory {path}")
        return latest
    return path


def load_checkpoint(ckpt_dir_or_file: PathLike) -> CheckpointReader:
    """Like ``tf.train.load_checkpoint``: a prefix, or a directory with a ``checkpoint``
    state file (its latest checkpoint is opened)."""
    return CheckpointReader(_resolve_prefix(ckpt_dir_or_file))


def list_variables(ckpt_dir_or_file: PathLike) -> list[tuple[str, list[int]]]:
    """Like ``tf.train.list_variables``: [(name, shape)] sorted by name."""
    reader = load_checkpoint(ckpt_dir_or_file)
    shapes = reader.get_variable_to_shape_map()
    return [(name, shapes[name]) for name in sorted(shapes)]


# ---- checkpoint state file ----------------------------------------------------


class CheckpointState(NamedTuple):
    """The ``checkpoint`` state file (paths already resolved against its directory)."""

    model_checkpoint_path: str
    all_model_checkpoint_paths: list[str]
    all_model_checkpoint_timestamps: list[float]
    last_preserved_timestamp: float


def _state_filename(checkpoint_dir: str, latest_filename: str | None) -> str:
    return os.path.join(checkpoint_dir, latest_filename or "checkpoint")


def get_checkpoint_state(checkpoint_dir: PathLike, latest_filename: str | None = None) -> CheckpointState | None:
    """Like ``tf.train.get_checkpoint_state``: parses the text-format CheckpointState,
    making relative paths relative to ``checkpoint_dir``. None if the file is absent or
    unparseable; CheckpointError if it has no model_checkpoint_path."""
    from google.protobuf import text_format

    from fastmeta.protos import checkpoint_state_pb2

    checkpoint_dir = os.fsdecode(checkpoint_dir)
    filename = _cleaned(_state_filename(checkpoint_dir, latest_filename))
    if not os.path.exists(filename):
        return None
    try:
        # As TensorFlow reads it: by its size (a device such as /dev/zero is empty).
        with open(filename, "rb") as f:
            content = f.read(os.fstat(f.fileno()).st_size).decode("utf-8", "surrogateescape")
    except OSError as e:
        _log.warning("%s: %s; checkpoint ignored", filename, e)
        return None
    state = checkpoint_state_pb2.CheckpointState()
    try:
        text_format.Merge(content, state)
    except text_format.ParseError as e:
        _log.warning("%s: %s; checkpoint ignored", filename, e)
        return None
    if not state.model_checkpoint_path:
        raise CheckpointError(f"Invalid checkpoint state loaded from {checkpoint_dir}")

    def resolve(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(checkpoint_dir, p)

    return CheckpointState(
        resolve(state.model_checkpoint_path),
        [resolve(p) for p in state.all_model_checkpoint_paths],
        list(state.all_model_checkpoint_timestamps),
        state.last_preserved_timestamp,
    )


def latest_checkpoint(checkpoint_dir: PathLike, latest_filename: str | None = None) -> str | None:
    """Like ``tf.train.latest_checkpoint``: the prefix named by the state file, if its
    ``.index`` exists, or V1 files match it (``model.ckpt``, ``model.ckpt-?????-of-00002``);
    else None."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not state.model_checkpoint_path:
        return None
    prefix = state.model_checkpoint_path
    if os.path.exists(_cleaned(prefix) + ".index") or v1_checkpoint_files(_cleaned(prefix)):
        return prefix
    _log.error("Couldn't match files for checkpoint %s", prefix)
    return None


def update_checkpoint_state(
    save_dir: PathLike,
    model_checkpoint_path: PathLike,
    all_model_checkpoint_paths: Iterable[PathLike] | None = None,
    latest_filename: str | None = None,
    all_model_checkpoint_timestamps: Sequence[float] | None = None,
    last_preserved_timestamp: float | None = None,
    save_relative_paths: bool = False,
) -> None:
    """Like ``tf.compat.v1.train.update_checkpoint_state``: (re)writes the text-format
    ``checkpoint`` file so ``latest_checkpoint(save_dir)`` returns
    ``model_checkpoint_path``. ``all_model_checkpoint_paths`` gets
    ``model_checkpoint_path`` appended if it is not already last."""
    from google.protobuf import text_format

    from fastmeta.protos import checkpoint_state_pb2

    save_dir = os.fsdecode(save_dir)
    model_path = os.fsdecode(model_checkpoint_path)
    all_paths = [os.fsdecode(p) for p in (all_model_checkpoint_paths or [])]
    filename = _state_filename(save_dir, latest_filename)
    if model_path == filename:
        raise CheckpointError(
            f"Save path '{model_path}' conflicts with path used for checkpoint state. Please use a different save path."
        )
    if not all_paths or all_paths[-1] != model_path:
        all_paths.append(model_path)
    if all_model_checkpoint_timestamps and len(all_model_checkpoint_timestamps) != len(all_paths):
        raise CheckpointError(
            f"Checkpoint timestamps, if provided, must match checkpoint paths "
            f"({len(all_model_checkpoint_timestamps)} vs {len(all_paths)})"
        )

    def rel(p: str) -> str:
        return os.path.relpath(p, save_dir)

    if save_relative_paths:  # absolute paths are written relative to save_dir
        model_path = rel(model_path) if os.path.isabs(model_path) else model_path
        all_paths = [rel(p) if os.path.isabs(p) else p for p in all_paths]
    if not os.path.isabs(save_dir):
        # As TensorFlow: relative paths (which name save_dir too: "run/model-1") are
        # written relative to a relative save_dir ("model-1"), where readers look.
        model_path = model_path if os.path.isabs(model_path) else rel(model_path)
        all_paths = [p if os.path.isabs(p) else rel(p) for p in all_paths]
    state = checkpoint_state_pb2.CheckpointState(
        model_checkpoint_path=model_path,
        all_model_checkpoint_paths=all_paths,
        all_model_checkpoint_timestamps=list(all_model_checkpoint_timestamps or []),
        last_preserved_timestamp=last_preserved_timestamp or 0.0,
    )
    os.makedirs(save_dir or ".", exist_ok=True)
    write_atomic(filename, text_format.MessageToString(state).encode("utf-8", "surrogateescape"))


# ---- writing ----------------------------------------------------------------


class PartitionedSlice(NamedTuple):
    """One slice of a partitioned variable for :func:`write_checkpoint`: the value of
    the block starting at ``offsets`` of a tensor of shape ``full_shape``."""

    full_shape: Sequence[int]
    offsets: Sequence[int]
    value: Any


def _string_elements(value: np.ndarray) -> list[bytes]:
    out = []
    for x in value.ravel(order="C"):
        if isinstance(x, bytes):
            out.append(x)
        elif isinstance(x, str):
            out.append(x.encode("utf-8"))
        elif isinstance(x, np.bytes_):
            out.append(bytes(x))
        else:
            raise CheckpointError(f"string tensor element {x!r} is neither bytes nor str")
    return out


def _entry_for(name: str, value: Any) -> tuple:
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    enum = _dtype_enum_for(arr, name)
    shape = [int(d) for d in arr.shape]
    if enum == DT_STRING:
        return (name, enum, shape, _string_elements(arr))
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":  # the format is little-endian
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return (name, enum, shape, arr.reshape(-1).view(np.uint8))


def write_checkpoint(
    prefix: PathLike,
    tensors: Mapping[str, Any],
) -> str:
    """Writes ``{name: array}`` as a single-shard V2 checkpoint TensorFlow restores
    (``tf.train.load_checkpoint``, ``RestoreV2``, ``Saver.restore``) and returns the
    prefix. Values are numpy arrays (or anything ``numpy.asarray`` accepts; bytes/str
    arrays become DT_STRING, ``ml_dtypes.bfloat16`` becomes DT_BFLOAT16), or a list of
    :class:`PartitionedSlice` for a partitioned variable. The output is byte-identical to
    TensorFlow's own ``SaveV2`` of the same tensors given in name order, a partitioned
    variable's slices in the order given and with the ``shape_and_slices`` spec its
    Saver gives them (``"6 2 0,3:0,2"``: every extent's start and length)."""
    prefix = os.fsdecode(prefix)
    entries = []
    for name in tensors:
        if not isinstance(name, str) or not name:
            raise CheckpointError(f"{prefix}: tensor names must be non-empty str, got {name!r}")
    for name in sorted(tensors):
        value = tensors[name]
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, PartitionedSlice) for v in value):
            for part in value:
                base = _entry_for(name, part.value)
                full = [int(d) for d in part.full_shape]
                if len(part.offsets) != len(full) or len(base[2]) != len(full):
                    raise CheckpointError(f"{prefix}: slice of {name!r} has the wrong rank")
                # (every extent given, as a partitioned variable's save spec gives it)
                extents = [(int(off), int(length)) for off, length in zip(part.offsets, base[2])]
                entries.append((*base, full, extents, 0))
            continue
        entries.append((*_entry_for(name, value), None, None, 0))
    # (one shard given explicitly: the data in this order, as SaveV2 writes its inputs)
    _core.write_bundle(core_path(prefix), entries, num_shards=1)
    return prefix


# ---- CLI ----------------------------------------------------------------------


def _json_value(v: np.ndarray) -> Any:
    """A tensor's value as JSON can hold it: strings decoded (flat), complex numbers as
    [real, imag] pairs, other numbers (bfloat16, float8, ...) as Python floats."""
    if v.dtype == object:
        return [x.decode("utf-8", "backslashreplace") for x in v.ravel()]
    if v.dtype.kind == "c":
        return np.stack([v.real, v.imag], axis=-1).astype(np.float64).tolist()
    if v.dtype.kind in "biu":
        return v.tolist()
    return v.astype(np.float64).tolist()


def inspect_checkpoint_main(argv: Sequence[str] | None = None) -> int:
    """``fastmeta inspect-checkpoint PREFIX [--json] [--tensor NAME]``: names, dtypes,
    shapes, sizes; with ``--tensor``, one tensor's value."""
    parser = argparse.ArgumentParser(
        prog="fastmeta inspect-checkpoint",
        description="List the tensors of a TensorFlow checkpoint, V2 or V1 (no TensorFlow needed).",
    )
    parser.add_argument("prefix", help="checkpoint prefix, or a directory with a 'checkpoint' file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--tensor", action="append", default=[], metavar="NAME", help="also print the value of this tensor (repeatable)"
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        reader = load_checkpoint(args.prefix)
        rows = []
        for name in sorted(reader.get_variable_to_shape_map()):
            e = reader.entry(name)
            size = e.get("size", 0)
            if isinstance(reader._reader, _core.SliceReader):  # (V1 stores protobuf fields, not bytes)
                itemsize = _core.dtype_size(e["dtype"])
                size = math.prod(e["shape"]) * itemsize if itemsize else reader._reader.stored_bytes(name)
            elif e["slices"]:  # stored bytes of all the slices
                size = sum(reader._reader.entry(_core.encode_tensor_name_slice(name, s))["size"] for s in e["slices"])
            rows.append(
                {
                    "name": name,
                    "dtype": e["dtype_name"],
                    "shape": list(e["shape"]),
                    "size": int(size),
                    "shard": None if e["slices"] else e["shard_id"],
                    "partitions": len(e["slices"]),
                }
            )
        values = {name: reader.get_array(name) for name in args.tensor}
    except Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        doc: dict[str, Any] = {
            "prefix": reader.prefix,
            "format": reader.format,
            "num_shards": reader.num_shards,
            "tensors": rows,
        }
        if values:
            doc["values"] = {k: _json_value(v) for k, v in values.items()}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    total = 0
    width = max([len(r["name"]) for r in rows] + [4])
    print(f"{'name':<{width}}  {'dtype':<10} {'shape':<20} {'bytes':>12}")
    for r in rows:
        shape = "[" + ",".join(str(d) for d in r["shape"]) + "]"
        note = f"  ({r['partitions']} partitions)" if r["partitions"] else ""
        print(f"{r['name']:<{width}}  {r['dtype']:<10} {shape:<20} {r['size']:>12}{note}")
        total += r["size"]
    files = "file(s)" if reader.format == "V1" else "shard(s)"
    print(f"{len(rows)} tensors, {total} bytes, {reader.num_shards} {files} ({reader.format})")
    for k, v in values.items():
        print(f"\n{k} =\n{v}")
    return 0
