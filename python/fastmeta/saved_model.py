"""TF1 SavedModels, TensorFlow-free: ``tf.compat.v1.saved_model.loader.load`` without a session.

A SavedModel directory holds ``saved_model.pb`` (or ``saved_model.pbtxt``: a ``SavedModel``
message, one ``MetaGraphDef`` per tag set), the variables checkpoint
(``variables/variables.index`` + data shards) and ``assets/``. :func:`load` does what
TensorFlow 2.21's loader does, rule by rule: it reads the file (the binary one first), picks
the meta graph whose tag set equals ``tags``, imports it with
:func:`fastmeta.import_meta_graph` (``import_scope`` and ``saver_kwargs``), restores the
variables from ``variables/variables`` with the Saver the import returns (when there is one)
and finds the init op and the asset tensors TensorFlow would feed it. What needs a
TensorFlow session is not done: the init op (``main_op``/``legacy_init_op``) is returned,
not run (``fastmeta.tf.saved_model.load`` runs it).

The binary file is memory-mapped and only its top level is walked: the chosen meta graph's
bytes go to the C++ core in place, and the other meta graphs' are only checked as protobuf
would parse them (TensorFlow's loader parses them: what it refuses there fails the load),
by a wire check in the core that builds nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from fastmeta import _core
from fastmeta._wire_schema import wire_schema
from fastmeta.errors import (
    Error,
    ParseError,
    SavedModelError,
    SavedModelIndexError,
    SavedModelNotFoundError,
    SavedModelParseError,
    SavedModelTypeError,
    SavedModelValueError,
    TagsNotFoundError,
)
from fastmeta.graph import Graph, Operation, Tensor, get_default_graph
from fastmeta.importer import _check_kwargs, import_with_kwargs
from fastmeta.protos import meta_graph_pb2, saved_model_pb2
from fastmeta.reading import (
    LoadedMetaGraph,
    _read_rest,
    _varint,
    check_unchanged,
    tensorflow_alias_pool,
    text_error,
    text_to_binary,
)
from fastmeta.scoping import prepend_name_scope

if TYPE_CHECKING:
    from fastmeta.saver import RestoredVariables, Saver

__all__ = [
    "ASSETS_DIRECTORY",
    "ASSETS_KEY",
    "INIT_OP_SIGNATURE_KEY",
    "LEGACY_INIT_OP_KEY",
    "MAIN_OP_KEY",
    "SAVED_MODEL_FILENAME_PB",
    "SAVED_MODEL_FILENAME_PBTXT",
    "VARIABLES_DIRECTORY",
    "VARIABLES_FILENAME",
    "LoadedSavedModel",
    "SavedModelFile",
    "SavedModelMetaGraph",
    "asset_paths",
    "contains_saved_model",
    "load",
    "read_saved_model",
    "variables_path",
]

# TensorFlow's names (tensorflow/cc/saved_model/constants.h).
SAVED_MODEL_FILENAME_PB = "saved_model.pb"
SAVED_MODEL_FILENAME_PBTXT = "saved_model.pbtxt"
VARIABLES_DIRECTORY = "variables"
VARIABLES_FILENAME = "variables"
ASSETS_DIRECTORY = "assets"
ASSETS_KEY = "saved_model_assets"
MAIN_OP_KEY = "saved_model_main_op"
LEGACY_INIT_OP_KEY = "legacy_init_op"
INIT_OP_SIGNATURE_KEY = "__saved_model_init_op"

_ASSET_FILE_DEF_URL = "tensorflow.AssetFileDef"
_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
_log = logging.getLogger(__name__)


@dataclass
class SavedModelMetaGraph:
    """One meta graph of a SavedModel: ``index`` (its place in the file), ``rest`` (the
    MetaGraphDef without its graph_def, parsed), ``data`` (its serialized bytes: a view
    into the memory-mapped file, or bytes for text format) and ``offset`` (where those
    bytes start in a binary file, else 0)."""

    index: int
    rest: meta_graph_pb2.MetaGraphDef
    data: Any
    offset: int = 0

    @property
    def tags(self) -> list[str]:
        """The meta graph's tags (``meta_info_def.tags``), in file order."""
        return list(self.rest.meta_info_def.tags)

    def meta_graph_def(self) -> meta_graph_pb2.MetaGraphDef:
        """The whole MetaGraphDef (graph_def included), parsed from the file's bytes."""
        data = bytes(self.data)
        check_unchanged(self.data)
        return meta_graph_pb2.MetaGraphDef.FromString(data)


@dataclass
class SavedModelFile:
    """A SavedModel's ``saved_model.pb``/``.pbtxt`` as read by :func:`read_saved_model`."""

    export_dir: str
    path: str
    text_format: bool
    schema_version: int
    meta_graphs: list[SavedModelMetaGraph] = field(default_factory=list)

    def check_meta_graphs(self, skip: SavedModelMetaGraph | None = None) -> None:
        """Check that every meta graph but ``skip`` parses as protobuf would parse it (a
        wire check of its bytes in the core, nothing built), as TensorFlow's loader parses
        the whole file; :class:`fastmeta.SavedModelParseError` naming the file and byte
        offset if one does not. (A text-format file was parsed whole when read.)"""
        if self.text_format:
            return
        schema = wire_schema(meta_graph_pb2.MetaGraphDef.DESCRIPTOR)
        for meta in self.meta_graphs:
            if meta is skip:
                continue
            try:
                schema.check(0, meta.data, depth=1)  # (a meta graph lies at depth 1)
            except ParseError as e:
                check_unchanged(meta.data)  # (the zeros of a file truncated meanwhile)
                begin, end = meta.offset, meta.offset + len(meta.data)
                what = f"meta graph {meta.index} (bytes {begin}-{end}): {e.reason}"
                raise _parse_error(self.path, what, begin + (e.offset or 0)) from None
        if self.meta_graphs:
            check_unchanged(self.meta_graphs[0].data)

    def meta_graph_to_load(self, tags: Iterable[str]) -> SavedModelMetaGraph:
        """:meth:`meta_graph_for_tags`, once the other meta graphs are checked
        (:meth:`check_meta_graphs`): TensorFlow's loader parses the whole file before it
        looks for the tags, so bytes protobuf refuses in any meta graph fail the load,
        before a :class:`fastmeta.TagsNotFoundError`. (The chosen one is checked by its
        import.)"""
        try:
            chosen = self.meta_graph_for_tags(tags)
        except TagsNotFoundError:
            self.check_meta_graphs()
            raise
        self.check_meta_graphs(skip=chosen)
        return chosen

    def meta_graph_for_tags(self, tags: Iterable[str]) -> SavedModelMetaGraph:
        """The first meta graph whose tag set equals ``set(tags)`` (TensorFlow's
        ``get_meta_graph_def_from_tags``); :class:`fastmeta.TagsNotFoundError` (a
        ``RuntimeError``) listing the available tag sets when none does."""
        wanted = set(tags)
        available: list[set[str]] = []
        for meta in self.meta_graphs:
            have = set(meta.rest.meta_info_def.tags)
            available.append(have)
            if have == wanted:
                return meta
        raise TagsNotFoundError(
            f"MetaGraphDef associated with tags {str(tags).strip('[]')} could not be found in "
            f"SavedModel, with available tags '{available}'. To inspect available tag-sets in "
            "the SavedModel, please use the SavedModel CLI: `saved_model_cli`.",
            frozenset(wanted),
            available,
        )


def _dir_name(export_dir: Any) -> str:
    if isinstance(export_dir, bytes):
        return os.fsdecode(export_dir)
    if isinstance(export_dir, (str, os.PathLike)):
        return os.fspath(export_dir)  # type: ignore[return-value]
    raise TypeError(f"export_dir must be a path, got {type(export_dir).__name__}")


def contains_saved_model(export_dir: str | os.PathLike[str]) -> bool:
    """Whether ``export_dir`` holds a SavedModel file (TensorFlow's ``contains_saved_model``:
    ``saved_model.pb``, ``.pbtxt`` or ``.cpb``; nothing is read)."""
    d = _dir_name(export_dir)
    return any(os.path.exists(os.path.join(d, f"saved_model.{ext}")) for ext in ("pbtxt", "pb", "cpb"))


def _parse_error(path: str, what: str, offset: int | None) -> SavedModelParseError:
    where = f" (at byte offset {offset})" if offset is not None else ""
    return SavedModelParseError(f"Cannot parse file {path}: {what}{where}.", offset=offset, path=path)


def _scan_binary(view: memoryview, path: str) -> tuple[int, list[tuple[int, int]]]:
    """The top level of a binary SavedModel: its schema version and the byte ranges of its
    meta graphs (field 2), read as protobuf reads them: the core's wire reader walks the
    top level (unknown fields and groups skipped, a field of another wire type unknown,
    tags, lengths and groups within protobuf's limits); the fields other than the meta
    graphs are parsed by protobuf for the version."""
    try:
        # (a SavedModel's meta_graphs is field 2, as a MetaGraphDef's graph_def: the
        # "rest" is every other field)
        others = _core.meta_graph_rest_ranges(view)
    except ParseError as e:
        raise _parse_error(path, e.reason, e.offset) from None
    ranges: list[tuple[int, int]] = []
    pos = 0
    for begin, end in [*others, (len(view), len(view))]:
        while pos < begin:  # meta graphs, one after the other (checked by the reader above)
            _, pos = _varint(view, pos)
            length, pos = _varint(view, pos)
            ranges.append((pos, pos + length))
            pos += length
        pos = end
    rest = saved_model_pb2.SavedModel.FromString(b"".join(view[begin:end] for begin, end in others))
    return rest.saved_model_schema_version, ranges


def _read_binary(export_dir: str, path: str) -> SavedModelFile:
    try:
        mapped = _core.MappedFile(os.fsencode(path))
    except Error:
        raise
    except OSError as e:
        raise SavedModelParseError(f"Cannot read file {path}: {e}", path=path) from None
    view = memoryview(mapped)
    try:
        version, ranges = _scan_binary(view, path)
        out = SavedModelFile(export_dir, path, False, version)
        for i, (begin, end) in enumerate(ranges):
            data = view[begin:end]
            try:
                rest = _read_rest(data, depth=1)  # (a meta graph lies at depth 1: see LoadedMetaGraph)
            except (ParseError, DecodeError) as e:
                what = str(e)
                offset = begin
                if isinstance(e, ParseError) and e.offset is not None:  # (in the meta graph: made the file's)
                    what = e.reason
                    offset += e.offset
                raise _parse_error(path, f"meta graph {i} (bytes {begin}-{end}): {what}", offset) from None
            out.meta_graphs.append(SavedModelMetaGraph(i, rest, data, begin))
    except Exception:
        mapped.check()  # (the error may be the zeros' of a file truncated meanwhile)
        raise
    mapped.check()
    return out


def _parse_text(raw: bytes, path: str) -> saved_model_pb2.SavedModel:
    """protobuf's reading of a text SavedModel, its refusals as SavedModelParseErrors:
    ``text_format.Parse``, as TensorFlow's loader reads it (a singular field given twice
    is refused; a text meta graph file is read with ``Merge``, where the last wins)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _parse_error(path, "not valid UTF-8", e.start) from None
    message = saved_model_pb2.SavedModel()
    try:
        text_format.Parse(text, message, descriptor_pool=tensorflow_alias_pool())
    except (text_format.ParseError, RecursionError) as e:
        raise _parse_error(path, text_error(e), None) from None
    return message


def _read_text(export_dir: str, path: str) -> SavedModelFile:
    # (read as the binary file is: a directory is a FileError, a pipe stops at 2 GiB)
    mapped = _core.MappedFile(os.fsencode(path))
    raw = bytes(memoryview(mapped))
    mapped.check()
    converted = text_to_binary(raw, saved_model_pb2.SavedModel, strict=True)  # (None: protobuf's reader decides)
    if converted is not None:
        message = saved_model_pb2.SavedModel.FromString(bytes(converted))
    else:
        message = _parse_text(raw, path)
    out = SavedModelFile(export_dir, path, True, message.saved_model_schema_version)
    for i, meta in enumerate(message.meta_graphs):
        rest = meta_graph_pb2.MetaGraphDef()
        rest.CopyFrom(meta)
        rest.ClearField("graph_def")
        out.meta_graphs.append(SavedModelMetaGraph(i, rest, meta.SerializeToString()))
    return out


def read_saved_model(export_dir: str | os.PathLike[str]) -> SavedModelFile:
    """Read ``export_dir``'s SavedModel file as TensorFlow's ``parse_saved_model`` does:
    ``saved_model.pb`` when it exists, else ``saved_model.pbtxt``.

    Raises :class:`fastmeta.SavedModelNotFoundError` (a ``FileNotFoundError``) with
    TensorFlow's message when neither exists, :class:`fastmeta.SavedModelParseError` (a
    ``ParseError`` that is also an ``OSError``, as TensorFlow's ``IOError``) naming the
    file and byte offset when it cannot be parsed. Of a binary file only the top level and
    each meta graph's fields other than its graph_def are parsed here.
    """
    d = _dir_name(export_dir)
    pb = os.path.join(d, SAVED_MODEL_FILENAME_PB)
    pbtxt = os.path.join(d, SAVED_MODEL_FILENAME_PBTXT)
    if os.path.exists(pb):
        return _read_binary(d, pb)
    if os.path.exists(pbtxt):
        return _read_text(d, pbtxt)
    raise SavedModelNotFoundError(
        f"SavedModel file does not exist at: {d}{os.path.sep}"
        f"{{{SAVED_MODEL_FILENAME_PBTXT}|{SAVED_MODEL_FILENAME_PB}}}",
        d,
    )


def variables_path(export_dir: str | os.PathLike[str]) -> str:
    """The checkpoint prefix of the SavedModel's variables: ``<export_dir>/variables/variables``."""
    return os.path.join(_dir_name(export_dir), VARIABLES_DIRECTORY, VARIABLES_FILENAME)


def asset_paths(
    export_dir: str | os.PathLike[str], meta_graph_def: meta_graph_pb2.MetaGraphDef, import_scope: str | None = None
) -> dict[str, str]:
    """``{asset tensor name: asset file path}``, as TensorFlow's ``get_asset_tensors``: from
    the meta graph's ``asset_file_def`` when it has any, else from the legacy
    ``saved_model_assets`` collection (``AssetFileDef``s in an ``any_list``); each path is
    ``<export_dir>/assets/<filename>`` and, with ``import_scope``, each name is
    ``<import_scope>/<name>``. (TensorFlow's paths are ``bytes``; these are ``str``.)"""
    d = _dir_name(export_dir)
    protos: list[meta_graph_pb2.AssetFileDef] = []
    if meta_graph_def.asset_file_def:
        protos = list(meta_graph_def.asset_file_def)
    elif ASSETS_KEY in meta_graph_def.collection_def:
        for value in meta_graph_def.collection_def[ASSETS_KEY].any_list.value:
            asset = meta_graph_pb2.AssetFileDef()
            # (an Any of another type unpacks to nothing in TensorFlow: an empty entry)
            if value.type_url.split("/")[-1] == _ASSET_FILE_DEF_URL:
                try:
                    asset.ParseFromString(value.value)
                except DecodeError as e:
                    raise ParseError(f"collection '{ASSETS_KEY}': an AssetFileDef cannot be parsed ({e})") from None
            protos.append(asset)
    assets = os.path.join(d, ASSETS_DIRECTORY)
    out: dict[str, str] = {}
    for asset in protos:
        name = asset.tensor_info.name
        if import_scope:
            name = f"{import_scope}/{name}"
        out[name] = os.path.join(assets, asset.filename)
    return out


def _init_op(lookup: Any, rest: meta_graph_pb2.MetaGraphDef, import_scope: str | None) -> Operation | Tensor | None:
    """TensorFlow's ``get_init_op``: the element the ``__saved_model_init_op`` signature
    names, else the first of the graph's ``saved_model_main_op`` collection, else of its
    ``legacy_init_op`` collection (each checked to hold one node in the meta graph). The
    first two go through a Python ``or`` there: a tensor (not an operation) is refused."""

    def operation(element: Any, where: str) -> Any:
        if isinstance(element, Tensor):
            raise SavedModelTypeError(
                f"the SavedModel's init op ({where}) names tensor '{element.name}', not an operation: "
                "TensorFlow's loader refuses it (Using a symbolic `tf.Tensor` as a Python `bool` is not "
                "allowed)"
            )
        return element

    if INIT_OP_SIGNATURE_KEY in rest.signature_def:
        outputs = rest.signature_def[INIT_OP_SIGNATURE_KEY].outputs
        name = outputs[INIT_OP_SIGNATURE_KEY].name if INIT_OP_SIGNATURE_KEY in outputs else ""
        try:
            element: Operation | Tensor = lookup.as_graph_element(prepend_name_scope(name, import_scope or ""))
        except (KeyError, ValueError) as e:
            # (TensorFlow: NotFoundError for a name not in the graph, its lookup's
            # ValueError for one that is no valid name)
            raise (SavedModelValueError if isinstance(e, ValueError) else SavedModelError)(
                f'The key "{INIT_OP_SIGNATURE_KEY}" could not be found in the graph ({e}). Please '
                "make sure the SavedModel was created by the internal _SavedModelBuilder. If you are "
                "using the public API, please make sure the SignatureDef in the SavedModel does not "
                f'contain the key "{INIT_OP_SIGNATURE_KEY}".'
            ) from None
        return operation(element, f"signature '{INIT_OP_SIGNATURE_KEY}'")
    for key in (MAIN_OP_KEY, LEGACY_INIT_OP_KEY):
        if key in rest.collection_def:
            names = list(rest.collection_def[key].node_list.value)
            if len(names) != 1:
                raise SavedModelError(f"Expected exactly one SavedModel init op. Found {len(names)}: {names}.")
            items = lookup.get_collection(key)
            if not items:  # (TensorFlow takes its first item: an IndexError)
                raise SavedModelIndexError(f"the graph's collection '{key}' is empty (not restored by the import)")
            # (the legacy key is the last of TensorFlow's `or` chain: returned as it is)
            return operation(items[0], f"collection '{key}'") if key == MAIN_OP_KEY else items[0]
    return None


@contextlib.contextmanager
def reported_in_file(saved: SavedModelFile, meta: SavedModelMetaGraph) -> Iterator[None]:
    """Inside: a ParseError of the meta graph's bytes (found by the import) becomes a
    :class:`fastmeta.SavedModelParseError` naming the SavedModel file and the offset in it."""
    try:
        yield
    except ParseError as e:
        if e.path is not None:
            raise
        offset = None if e.offset is None or saved.text_format else meta.offset + e.offset
        where = "" if offset is None else f" (at byte offset {offset} of the file)"
        raise SavedModelParseError(
            f"Cannot parse file {saved.path}: meta graph {meta.index}: {e}{where}", offset=offset, path=saved.path
        ) from None


class LoadedSavedModel:
    """What :func:`load` returns.

    ``graph`` (where the meta graph was imported), ``saver`` (the import's
    :class:`fastmeta.Saver`, or None), ``variables`` (the values the restore put in the
    variables: :meth:`fastmeta.Saver.restore`'s dict, None when there was no Saver and so
    nothing restored), ``asset_paths`` ({asset tensor name: file path}: the feed of the
    init op), ``init_op`` (the Operation TensorFlow's loader runs after the restore:
    ``main_op`` or ``legacy_init_op``; None when there is none; not run),
    ``signature_def`` (the meta graph's SignatureDefs, names as in the file), ``tags``,
    ``export_dir``, ``variables_path``; :attr:`meta_graph_def` is the file's MetaGraphDef,
    parsed on first use and never modified.
    """

    def __init__(
        self,
        export_dir: str,
        meta: SavedModelMetaGraph,
        graph: Graph,
        saver: Saver | None,
        variables: RestoredVariables | None,
        asset_paths: dict[str, str],
        init_op: Operation | Tensor | None,
    ):
        self.export_dir = export_dir
        self.variables_path = variables_path(export_dir)
        self.graph = graph
        self.saver = saver
        self.variables = variables
        self.asset_paths = asset_paths
        self.init_op = init_op
        self.tags = meta.tags
        self.signature_def = dict(meta.rest.signature_def)
        self._meta = meta
        self._meta_graph_def: meta_graph_pb2.MetaGraphDef | None = None

    @property
    def meta_graph_def(self) -> meta_graph_pb2.MetaGraphDef:
        """The loaded MetaGraphDef as the file holds it (fastmeta's message class)."""
        if self._meta_graph_def is None:
            self._meta_graph_def = self._meta.meta_graph_def()
        return self._meta_graph_def

    def __repr__(self) -> str:
        restored = "nothing restored" if self.variables is None else f"{len(self.variables)} variables restored"
        return f"<fastmeta.LoadedSavedModel {self.export_dir!r} tags={self.tags}: {restored}>"


def load(
    export_dir: str | os.PathLike[str],
    tags: Iterable[str],
    import_scope: str | None = None,
    graph: Graph | None = None,
    **saver_kwargs: Any,
) -> LoadedSavedModel:
    """Load a TF1 SavedModel TensorFlow-free, as ``tf.compat.v1.saved_model.loader.load``.

    Reads ``saved_model.pb`` (else ``saved_model.pbtxt``), picks the meta graph whose tag
    set equals ``set(tags)``, imports it into ``graph`` (default: the default graph) with
    :func:`fastmeta.import_meta_graph` (``import_scope``; ``saver_kwargs`` are that
    function's keyword arguments: ``clear_devices``, ``input_map``, ...), restores the
    variables from ``<export_dir>/variables/variables`` with the returned Saver when there
    is one, and finds the init op and its asset feed. Returns a :class:`LoadedSavedModel`.

    Not done without TensorFlow: running the init op (``main_op``/``legacy_init_op``; it
    is returned with the asset paths TensorFlow feeds it) and placing the values in a
    session (they are returned).

    Errors, all typed: :class:`fastmeta.SavedModelNotFoundError`,
    :class:`fastmeta.SavedModelParseError`, :class:`fastmeta.TagsNotFoundError` (listing
    the available tag sets), the import's errors, :class:`fastmeta.CheckpointError`
    (variables missing or corrupt), :class:`fastmeta.SavedModelError` (init op). Atomic:
    whatever fails, the graph is left as it was.
    """
    d = _dir_name(export_dir)
    saved = read_saved_model(d)
    meta = saved.meta_graph_to_load(tags)
    kwargs = dict(saver_kwargs)
    clear_devices = bool(kwargs.pop("clear_devices", False))
    _check_kwargs(kwargs)
    target = graph if graph is not None else get_default_graph()
    prefix = variables_path(d)
    outcome: dict[str, Any] = {"variables": None, "assets": {}, "init_op": None}

    def restore(lookup: Any, saver: Saver | None) -> None:
        # Inside the import, before it commits: a missing or corrupt checkpoint fails the
        # whole load. (TensorFlow refuses a missing Saver when the graph has variables
        # under the scope; the import builds a Saver whenever it has, so it never does.)
        if saver is not None:
            outcome["variables"] = saver.restore(prefix, graph=lookup)
            restore_op = lookup.get_operation_by_name(saver.saver_def.restore_op_name)
            if not outcome["variables"] and restore_op.type in _CALL_OPS:
                _log.warning(
                    "%s: the Saver's restore op '%s' restores inside a function (%s: a TF2 "
                    "SavedModel): fastmeta restores nothing without TensorFlow",
                    saved.path, restore_op.name, restore_op.type,
                )  # fmt: skip
        # (in TensorFlow's order: the restore, the assets, the init op; a legacy asset
        # collection that does not parse fails the load here, the graph untouched)
        outcome["assets"] = asset_paths(d, meta.rest, import_scope)
        outcome["init_op"] = _init_op(lookup, meta.rest, import_scope)

    # The meta graph as read, at its depth in the file (protobuf's nesting limit counts
    # from the SavedModel); errors name no path: reported_in_file names the file.
    loaded = LoadedMetaGraph(meta.data, meta.rest, "<bytes>", None, saved.text_format, 0 if saved.text_format else 1)
    with target.as_default(), reported_in_file(saved, meta):
        saver = import_with_kwargs(loaded, clear_devices, import_scope, target, kwargs, before_commit=restore)
    return LoadedSavedModel(d, meta, target, saver, outcome["variables"], outcome["assets"], outcome["init_op"])
