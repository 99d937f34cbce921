"""The drop-in importer: fastmeta's core rewrite, then TensorFlow's C++ importer.

Fast path (what TensorFlow 2.x does, minus the work the core already did):

1. read the meta graph with fastmeta (memory-mapped file, typed errors);
2. check unbound inputs, choose the import scope exactly as TensorFlow does
   (``graph.unique_name(import_scope or "", mark_as_used=False)``, then the name scope
   ``importer.import_graph_def`` would enter) and run the core with that prefix and the
   graph's current op names: the result is the GraphDef TensorFlow's graph holds after
   import (order, names, inputs, devices, default attrs);
3. hand those bytes to ``TF_GraphImportGraphDefWithResults`` with no prefix and no
   uniquification (the names are final), every input_map target mapped to itself, and
   create the Python ``Operation`` wrappers; TensorFlow's Python default-attr and device
   passes are skipped (nothing is left for them to do).
   The core keeps the nodes' ``_output_shapes`` (``keep_output_shapes``): TensorFlow's
   C++ importer refines the inferred tensor shapes with them, then drops them; and each
   input as the file spells it (``keep_input_spelling``: ``x:0``, control inputs in the
   file's order), which TensorFlow keeps in each op's ``node_def``;
4. rebuild the collections with TensorFlow's registered ``from_proto`` functions (same
   order and rules as ``meta_graph.import_scoped_meta_graph_with_return_elements``) and
   the Saver as ``saver._create_saver_from_imported_meta_graph`` does.

input_map values that are not tensors (numbers, lists, numpy arrays, strings) become the
``Const`` ops TensorFlow's importer makes of them (``<scope>/_inputs/Const``, ...: same
TensorProto, names and name-table marks), handed to TensorFlow's importer with the nodes,
so that a failed import leaves none behind (TensorFlow's own leaves them).

input_map values TensorFlow converts otherwise (a variable, a list holding tensors, a
``range``) go to TensorFlow's own import below, after the core has checked the file, the
keys and the dtypes of the edges they feed (the converted values' dtypes predicted),
with the TF-free import's typed errors, graph untouched. Before that, the conversion
itself is followed (``_check_values_converted_first``: a list's packing, its elements'
constants, its shapes merged, its tensors' dtypes and graphs), and a failure of it is
raised first, as TensorFlow raises it, graph untouched. Not atomic: a conversion not
followed (a nested list holding a tensor of another graph, a ``range`` TensorFlow may
refuse, another conversion function) that fails is TensorFlow's error, raised after the
ops converted before it (they stay, as in TensorFlow).

Whatever the fast path cannot reproduce exactly (an enclosing ``tf.device`` or
``colocate_with`` block, input_map values that are tensors of another graph or that
TensorFlow converts otherwise than to one Const, such as variables, or constants made
inside a ``control_dependencies`` block,
OpDefs whose defaults differ between the file's producer and this TensorFlow, renamed
return elements) goes to TensorFlow's own importer instead: the result is never
different from TensorFlow's.

Failures: everything the core validates (file, wire data, names, inputs, input_map,
return elements, scope) is checked before the graph is touched. TensorFlow's C++ import
is atomic; if it fails, the drop-in also rolls back the name-scope bookkeeping its name
scope entered, so the graph is unchanged (deliberately: TensorFlow keeps the scope marked
as used, and a retry with the same ``import_scope`` lands in ``imp_1``). As in
TensorFlow, an error while restoring collections (e.g. a ``node_list`` naming a missing
op) happens after the nodes are in the graph.

Known differences, all outside what a graph computes: a ``MetaGraphDef`` message passed
in is never modified (TensorFlow adds default attrs, clears devices and scopes its
``saver_def`` in place); errors fastmeta detects up front are fastmeta's typed errors
(subclasses of the builtins TensorFlow raises, e.g. ``ValueError``) with fastmeta's
messages; ``Operation._device_assignments`` (debug metadata recording which Python
``tf.device`` call set a device) stays empty for imported ops, and the Consts made of
input_map values, imported, have no ``Operation.traceback``; on a loop's back edge
from a node renamed to avoid a clash (an unscoped second import), the ``node_def`` input
names the real source where TensorFlow's keeps the stale name (of the first copy's node).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from google.protobuf.message import DecodeError
from packaging import version as packaging_version
from tensorflow.core.framework import graph_pb2 as tf_graph_pb2
from tensorflow.core.framework import node_def_pb2 as tf_node_def_pb2
from tensorflow.core.framework import types_pb2 as tf_types_pb2
from tensorflow.core.protobuf import meta_graph_pb2 as tf_meta_graph_pb2
from tensorflow.python import pywrap_tfe
from tensorflow.python.client import pywrap_tf_session as c_api
from tensorflow.python.eager import context
from tensorflow.python.framework import (
    c_api_util,
    dtypes,
    function,
    meta_graph,
    op_callbacks,
    op_def_registry,
    ops,
    tensor_conversion_registry,
    tensor_shape,
    tensor_util,
)
from tensorflow.python.framework import errors as tf_errors
from tensorflow.python.framework import tensor as tensor_lib
from tensorflow.python.framework import versions as tf_versions
from tensorflow.python.ops import ref_variable, variables
from tensorflow.python.platform import tf_logging as logging
from tensorflow.python.training import saver as saver_lib
from tensorflow.python.types import core as tf_core
from tensorflow.python.util import compat

from fastmeta import _core, _op_registry
from fastmeta._import_names import (
    C_INT_RANGE,
    check_return_elements_found,
    checked_return_elements,
    element_not_c_int,
    file_node_lookup,
    input_map_key_not_c_int,
    parse_names,
    parse_return_element,
    replaced_elements,
    tensor_id,
)
from fastmeta.constants import is_constant_value
from fastmeta.errors import (
    GraphError,
    GraphTypeError,
    InputMapError,
    InputMapOverflowError,
    InputMapTypeError,
    ParseError,
)
from fastmeta.graph import fixed_output_count, output_types
from fastmeta.importer import _gc_paused, pack_shape
from fastmeta.reading import LoadedMetaGraph, MetaGraphSource, decode_error, load_meta_graph
from fastmeta.rewrite import check_unbound_inputs, class_attr_error, graph_tail, input_map_pairs, run_core
from fastmeta.scoping import importer_prefix

__all__ = [
    "import_meta_graph",
    "import_meta_graph_with_return_elements",
    "import_scoped_meta_graph_with_return_elements",
    "last_path",
    "profile",
]

_GLOBAL_VARIABLES = ops.GraphKeys.GLOBAL_VARIABLES
_TRAINABLE_VARIABLES = ops.GraphKeys.TRAINABLE_VARIABLES
_METRIC_VARIABLES = ops.GraphKeys.METRIC_VARIABLES
_SAVEABLE_OBJECTS = ops.GraphKeys.SAVEABLE_OBJECTS
_VARIABLE_COLLECTIONS = frozenset(ops.GraphKeys._VARIABLE_COLLECTIONS)
_COMPAT_COLLECTIONS = frozenset(getattr(meta_graph, "_COMPAT_COLLECTION_LIST", ()))


def _restore_all(key: str) -> bool:
    return True


# ---------------------------------------------------------------------------
# Profiling (used by benchmarks/bench_tf_dropin.py)
# ---------------------------------------------------------------------------
_phases: dict[str, float] | None = None
_last_path: list[str] = [""]


@contextlib.contextmanager
def profile() -> Iterator[dict[str, float]]:
    """Collect wall-clock seconds per import phase of the imports run inside the block.

    Yields a dict filled as the imports run (phase name -> seconds, summed)."""
    global _phases
    previous = _phases
    _phases = {}
    try:
        yield _phases
    finally:
        _phases = previous


class _Timer:
    __slots__ = ("start",)

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        if _phases is not None:
            _phases[phase] = _phases.get(phase, 0.0) + (now - self.start)
        self.start = now


def last_path() -> str:
    """``"fast"`` or ``"fallback: <reason>"`` for the most recent import (diagnostics)."""
    return _last_path[0]


class _Fallback(Exception):
    """Internal: the fast path cannot reproduce TensorFlow exactly for this import."""


# ---------------------------------------------------------------------------
# Argument checks (TensorFlow's rules and messages)
# ---------------------------------------------------------------------------
def _check_input_map(input_map: Any) -> dict[Any, Any]:
    if input_map is None:
        return {}
    if not isinstance(input_map, dict):
        raise TypeError(f"Argument `input_map` must be a dictionary. Obtained {type(input_map).__name__}")
    if not all(isinstance(k, (bytes, str)) for k in input_map):
        raise TypeError(f"All keys for argument `input_map` must be strings. Obtained keys: {list(input_map)}")
    for k in input_map:
        if isinstance(k, bytes):
            try:
                k.decode("utf-8")
            except UnicodeDecodeError:
                raise InputMapError(f"input_map key {k!r} is not a valid name: it is not UTF-8") from None
    return input_map


# ---------------------------------------------------------------------------
# Fast-path preconditions
# ---------------------------------------------------------------------------
def _fallback_reason_for_graph(graph: ops.Graph, input_map: dict[Any, Any]) -> str | None:
    if len(graph._device_function_stack):
        return "an enclosing device scope applies to the imported ops"
    if len(graph._colocation_stack):
        return "an enclosing colocate_with block applies to the imported ops"
    constants = False
    for value in input_map.values():
        if isinstance(value, tensor_lib.Tensor):
            if getattr(value, "graph", None) is not graph:
                return "an input_map value is a tensor of another graph"
        elif value is None or is_constant_value(value):  # (None: TensorFlow's conversion error)
            constants = True
        else:
            return _CONVERTED_BY_TENSORFLOW
    if constants and (
        graph._control_dependencies_stack
        or graph._get_control_flow_context() is not None
        or graph._default_original_op is not None
        or op_callbacks.should_invoke_op_callbacks()
    ):
        return "the constants made of input_map values would take an enclosing block's control inputs"
    return None


_CONVERTED_BY_TENSORFLOW = "an input_map value is neither a tensor nor a constant value"


def _converted_dtype(value: Any) -> int:
    """The DataType TensorFlow's conversion gives an input_map value that is not a
    tensor (a variable's value, a packed list's, a ``range``'s, a constant's), or 0 when
    not predicted (the conversion then decides, and the edge is not checked up front)."""
    if isinstance(value, variables.Variable):
        return int(value.dtype.base_dtype.as_datatype_enum)
    if isinstance(value, (list, tuple)):
        stack = [iter(value)]
        while stack:
            for elem in stack[-1]:
                if isinstance(elem, (tensor_lib.Tensor, variables.Variable)):
                    return int(elem.dtype.base_dtype.as_datatype_enum)
                if isinstance(elem, (list, tuple)):
                    stack.append(iter(elem))
                    break
            else:
                stack.pop()
    if isinstance(value, range):
        try:
            return max(int(tensor_util.make_tensor_proto(v).dtype) for v in (value.start, value.stop, value.step))
        except (TypeError, ValueError, OverflowError):
            return 0
    if is_constant_value(value):
        try:
            return int(tensor_util.make_tensor_proto(value, allow_broadcast=True).dtype)
        except (TypeError, ValueError, OverflowError):
            return 0
    return 0


def _check_file_before_conversion(
    loaded: LoadedMetaGraph,
    graph: ops.Graph,
    import_scope: str | None,
    clear_devices: bool,
    input_map: dict[Any, Any],
    return_elements: tuple[str, ...] | None,
) -> None:
    """What TensorFlow's importer refuses after it has converted the input_map values
    (adding their ops to the graph): the file's nodes, the input_map's keys and the
    dtypes of the edges they feed (the converted values' as :func:`_converted_dtype`
    predicts them), checked by the core as the TF-free import checks them (its typed
    errors), then the return elements as TensorFlow's importer checks them
    (:func:`check_return_elements_found`, the nodes looked up in the core's one run),
    before TensorFlow converts anything. A value's own conversion errors are raised
    before this (:func:`_check_values_converted_first`)."""
    scope_to_prepend = graph.unique_name(import_scope or "", mark_as_used=False)
    name = import_scope or scope_to_prepend
    if not name:
        return  # (TensorFlow refuses the values first, touching nothing)
    pairs: list[tuple[str, str]] = []
    dtypes_: list[int] = []
    for key, value in input_map.items():
        text = compat.as_str(key)
        if text.startswith("^"):
            if not isinstance(value, tensor_lib.Tensor):
                return  # (a control input converted: left to TensorFlow)
            pairs.append((text, "^" + value.op.name))
            dtypes_.append(0)
            continue
        op_name, index = _parse_input_map_key(text)
        if (index or 0) < 0:
            return
        text = f"{op_name}:{index or 0}"
        if isinstance(value, tensor_lib.Tensor):
            pairs.append((text, value.name))
            dtypes_.append(int(value.dtype.as_datatype_enum))
        else:
            pairs.append((text, ""))  # (named below)
            dtypes_.append(_converted_dtype(value))
    prefix = _predict_prefix(graph, name)
    # The converted tensors' names (in TensorFlow's messages): made in the input_map's
    # order under <prefix>/_inputs, each named as its conversion names it.
    converted = [v for v in input_map.values() if not isinstance(v, tensor_lib.Tensor)]
    overlay: dict[str, int] = {}
    scope = _unique_names(graph._names_in_use, overlay, [prefix + "/_inputs"])[0]
    names: list[str | None] = []
    for value in converted:
        if isinstance(value, ref_variable.RefVariable):
            names.append(value._snapshot.name)
            continue
        if isinstance(value, variables.Variable):
            cached = getattr(value, "_cached_value", None)
            if cached is not None:
                names.append(cached.name)
                continue
            base = "ReadVariableOp"
        elif isinstance(value, range):
            base = "Range"
        elif isinstance(value, (list, tuple)) and _converted_dtype(value) and not is_constant_value(value):
            base = "packed"
        else:
            base = "Const"
        names.append(_unique_names(graph._names_in_use, overlay, [f"{scope}/{base}"])[0] + ":0")
    it = iter(names)
    pairs = [(k, t) if t else (k, next(it) or "") for k, t in pairs]
    parsed_elements = _parse_return_elements(return_elements)
    existing = list(graph._nodes_by_name) if graph.num_operations() else []
    rewritten = run_core(
        loaded, prefix, clear_devices=clear_devices, input_map=pairs, input_map_dtypes=dtypes_, existing_names=existing
    )
    if not parsed_elements:
        return
    # Each node of the file is named "<prefix>/<its name>", except those renamed to avoid a
    # clash with the graph (the core lists them); the name of a renamed one may be
    # "<prefix>/<a name the file lacks>".
    index_of = file_node_lookup(rewritten, prefix)

    def lookup(op_name: str) -> tuple[bool, int | None]:
        i = index_of(op_name)
        if i < 0:
            return False, None
        # (unknown when TensorFlow's registry lacks the op or the node omits an attr the
        # count depends on: then TensorFlow's importer decides)
        op_def = _op_registry.get(rewritten.op(i))
        count = fixed_output_count(op_def)
        if op_def is not None and count is None:
            types = output_types(op_def, tf_node_def_pb2.NodeDef.FromString(rewritten.node_def(i)))
            count = None if types is None else len(types)
        return True, count

    check_return_elements_found(return_elements or (), parsed_elements, replaced_elements(pairs), lookup)


def _check_values_converted_first(graph: ops.Graph, import_scope: str | None, input_map: dict[Any, Any]) -> None:
    """TensorFlow's errors for input_map values whose conversion fails, raised before
    the graph is touched: TensorFlow's importer raises them while converting the values
    in order, after making the ops of those before (and of the failing one's elements
    before), which it leaves in the graph. Each value is followed as TensorFlow converts
    it (:func:`_simulated_pack` for a list holding tensors): an Operation; a value only
    the default conversion takes (an object, a dict, a set), or a constant no TensorProto
    is made of; a list whose packing fails (an element no constant of the tensors' dtype
    is made of, a nested tensor of another dtype, a shape clash in a ``Pack``). The
    values after one whose conversion is not followed here (a ``range`` that may fail,
    a value of another graph, another conversion function) are left to TensorFlow.
    (Without a name for the import TensorFlow refuses the values first; its own import
    raises that, touching nothing.)"""
    if all(isinstance(v, tensor_lib.Tensor) or is_constant_value(v) for v in input_map.values()):
        return
    name = import_scope or graph.unique_name("", mark_as_used=False)
    if not name:
        return
    names = _NameOverlay(graph)
    inputs = names.unique(_predict_prefix(graph, name) + "/_inputs")
    for value in input_map.values():
        if isinstance(value, ops.Operation):
            raise InputMapTypeError(f"can't convert Operation '{value.name}' to Tensor")
        if isinstance(value, tensor_lib.Tensor):
            continue
        if (
            value is None
            or is_constant_value(value)
            or (isinstance(value, (list, tuple)) and _packed_dtype(value) is None)  # (none to pack)
            or (
                getattr(value, "__tf_tensor__", None) is None
                and all(base is object for base, _ in tensor_conversion_registry.get(type(value)))
            )
        ):
            _constant_proto(value)  # (its error first, as TensorFlow's)
            names.unique(f"{inputs}/Const")
            continue
        try:
            if isinstance(value, (list, tuple)) and _packed_dtype(value) is not None:
                _simulated_pack(graph, names, value, _packed_dtype(value), "packed", inputs)
            elif isinstance(value, variables.Variable) and value.graph is graph:
                _read_name(value, names, inputs)
            elif isinstance(value, range) and _range_converts(value):
                names.unique(f"{inputs}/Range")
            else:
                return  # (converted by TensorFlow's own import, which raises what it raises)
        except _Unpredicted:
            return


class _Unpredicted(Exception):
    """Internal: a conversion :func:`_simulated_pack` does not follow (TensorFlow's decides)."""


class _NameOverlay:
    """The names TensorFlow's conversion would mark used, kept beside the graph's table."""

    __slots__ = ("graph", "overlay")

    def __init__(self, graph: ops.Graph):
        self.graph = graph
        self.overlay: dict[str, int] = {}

    def unique(self, name: str) -> str:
        return _unique_names(self.graph._names_in_use, self.overlay, [name])[0]


def _constant_proto(value: Any, dtype: Any = None) -> Any:
    """``make_tensor_proto`` as ``constant`` calls it; its errors (numpy's let through by
    TensorFlow among them), typed."""
    try:
        return tensor_util.make_tensor_proto(value, dtype=dtype, allow_broadcast=True)
    except TypeError as e:
        raise InputMapTypeError(str(e)) from None
    except OverflowError as e:
        raise InputMapOverflowError(str(e)) from None
    except ValueError as e:
        raise InputMapError(str(e)) from None


def _packed_dtype(value: Sequence[Any]) -> Any:
    """The base dtype of the first tensor or variable in nested lists and tuples (what
    TensorFlow packs them to), or None."""
    for elem in value:
        if isinstance(elem, tf_core.Tensor):
            return elem.dtype.base_dtype
        if isinstance(elem, (list, tuple)):
            inner = _packed_dtype(elem)
            if inner is not None:
                return inner
    return None


def _range_converts(value: range) -> bool:
    """Whether TensorFlow's ``Range`` of a ``range`` is made without an error (its shape
    function refuses bounds the wrong way round; huge ones are left to TensorFlow)."""
    bound = 2**62
    if not all(-bound < v < bound for v in (value.start, value.stop, value.step)):
        return False
    return value.start <= value.stop if value.step > 0 else value.start >= value.stop


def _read_name(value: Any, names: _NameOverlay, scope: str) -> str:
    """The name of the tensor a variable converts to in ``scope``: a ref variable's
    snapshot, a resource variable's cached value, else a new ``ReadVariableOp``."""
    if isinstance(value, ref_variable.RefVariable):
        tensor = value._snapshot
    else:
        tensor = getattr(value, "_cached_value", None)
        if tensor is None:
            return names.unique(f"{scope}/ReadVariableOp")
    return str(tensor.op.name if tensor.value_index == 0 else tensor.name)


def _dims_of(shape: Any) -> list[int | None] | None:
    return None if shape.rank is None else list(shape.as_list())


class _Packed:
    """A ``Pack`` :func:`_simulated_pack` followed: its name and shape."""

    __slots__ = ("dims", "name")

    def __init__(self, name: str, dims: list[int | None] | None):
        self.name = name
        self.dims = dims


def _simulated_pack(
    graph: ops.Graph, names: _NameOverlay, items: Sequence[Any], dtype: Any, name: str, stack: str
) -> _Packed | None:
    """TensorFlow's auto-packing of nested lists holding tensors (its
    ``_autopacking_helper``), followed without making anything: in a name scope
    ``name``, each nested list packed in turn, then a ``Const`` of each other element
    and a ``Pack`` whose shape function merges its inputs' shapes. Raises TensorFlow's
    error (typed) where its packing fails (also a Pack of tensors of two graphs:
    :func:`_refuse_foreign_inputs`), _Unpredicted where it is not followed (a tensor in
    a control flow context, a variable of another graph, another kind of tensor);
    returns the Pack, or None when nothing is packed (no tensor)."""
    scope = names.unique(f"{stack}/{name}")
    converted: list[Any] = []
    must_pack = foreign = False
    for i, elem in enumerate(items):
        if isinstance(elem, tf_core.Tensor):
            if not isinstance(elem, (tensor_lib.Tensor, variables.Variable)):
                raise _Unpredicted
            if elem.graph is not graph:
                if not isinstance(elem, tensor_lib.Tensor):
                    raise _Unpredicted
                foreign = True
            if isinstance(elem, tensor_lib.Tensor) and elem.op._get_control_flow_context() is not None:
                raise _Unpredicted
            if elem.dtype.base_dtype != dtype:
                raise InputMapTypeError(
                    f"Cannot convert a list containing a tensor of dtype {elem.dtype} to {dtype} (Tensor is: {elem!r})"
                )
            must_pack = True
        elif isinstance(elem, (list, tuple)):
            packed = _simulated_pack(graph, names, elem, dtype, str(i), scope)
            if packed is not None:
                must_pack = True
                elem = packed
        converted.append(elem)
    if not must_pack:
        return None
    inputs: list[tuple[str, list[int | None] | None]] = []
    pending: list[tuple[int, Any]] = []  # (variables: read when the Pack converts its inputs)
    for i, elem in enumerate(converted):
        if isinstance(elem, _Packed):
            inputs.append((elem.name, elem.dims))
        elif isinstance(elem, tensor_lib.Tensor):
            inputs.append((elem.op.name if elem.value_index == 0 else elem.name, _dims_of(elem.shape)))
        elif isinstance(elem, variables.Variable):
            pending.append((len(inputs), elem))
            inputs.append(("", _dims_of(elem.shape)))
        else:
            proto = _constant_proto(elem, dtype)
            inputs.append((names.unique(f"{scope}/{i}"), [d.size for d in proto.tensor_shape.dim]))
    if foreign:
        _refuse_foreign_inputs(graph, converted, inputs, dtype)
    for position, variable in pending:
        inputs[position] = (_read_name(variable, names, scope), inputs[position][1])
    dims = pack_shape(
        scope, tf_types_pb2.DataType.Name(dtype.as_datatype_enum), [n for n, _ in inputs], [d for _, d in inputs]
    )
    return _Packed(scope, dims)


def _refuse_foreign_inputs(
    graph: ops.Graph, converted: Sequence[Any], inputs: Sequence[tuple[str, list[int | None] | None]], dtype: Any
) -> None:
    """TensorFlow's error for a ``Pack`` of tensors of two graphs (the first input's
    graph against each other's, in order, a variable's as its graph element), its
    inputs the list's tensors and variables, and the Consts and nested Packs made in
    ``graph``; _Unpredicted otherwise (an enclosing device scope, no clash: TensorFlow
    decides)."""
    if len(graph._device_function_stack) or graph.building_function:
        raise _Unpredicted
    first: tuple[str, Any] | None = None
    for elem, (name, dims) in zip(converted, inputs):
        if isinstance(elem, tensor_lib.Tensor):
            shown, owner = str(elem), elem.graph
        elif isinstance(elem, variables.Variable):
            element = ops._as_graph_element(elem)  # (what TensorFlow's check compares)
            if element is None:
                continue
            shown, owner = str(element), element.graph
        else:  # (a Const, or a nested list's Pack, made in ``graph``)
            shown = f'Tensor("{name}:0", shape={tensor_shape.TensorShape(dims)}, dtype={dtype.name})'
            owner = graph
        if first is None:
            first = (shown, owner)
        elif owner is not first[1]:
            raise InputMapError(
                f"{shown} must be from the same graph as {first[0]} (graphs are {owner} and {first[1]})."
            )
    raise _Unpredicted


class _ConstInput:
    """An input_map value that is not a tensor, as the ``Const`` TensorFlow's importer
    makes of it (``name``: its tensor's), which the drop-in imports with the nodes."""

    __slots__ = ("name", "proto")

    def __init__(self, name: str, proto: Any):
        self.name = name + ":0"
        self.proto = proto


def _unique_names(names_in_use: dict[str, int], overlay: dict[str, int], names: Sequence[str]) -> list[str]:
    """``graph.unique_name`` of each of ``names`` (full names) in turn, marking them in
    ``overlay`` instead of the graph's table (TensorFlow's rule)."""
    out = []
    for name in names:
        key = name.lower()
        i = overlay.get(key, names_in_use.get(key, 0))
        overlay[key] = i + 1
        if i > 0:
            base = key
            while key in overlay or key in names_in_use:
                key = f"{base}_{i}"
                i += 1
            overlay[key] = 1
            name = f"{name}_{i - 1}"
        out.append(name)
    return out


def _constant_inputs(
    graph: ops.Graph, name: str, prefix: str, input_map: dict[Any, Any]
) -> tuple[dict[Any, Any], list[_ConstInput], dict[str, int]]:
    """TensorFlow's importer makes a ``Const`` of each input_map value that is not a
    tensor, in the input_map's order, under ``<import scope>/_inputs`` (refused when
    the import has no name). Here their TensorProtos are made (TensorFlow's errors, before
    anything is touched) and their names predicted: (the input_map with the values
    replaced by :class:`_ConstInput`, those in order, the name table entries TensorFlow
    marks for them)."""
    values = [v for v in input_map.values() if not isinstance(v, tensor_lib.Tensor)]
    if not values:
        return input_map, [], {}
    if not name:
        raise ValueError(
            "tf.import_graph_def() requires a non-empty `name` if `input_map` contains non-Tensor "
            "values. Try calling tf.convert_to_tensor() on `input_map` values before calling "
            "tf.import_graph_def()."
        )
    protos = [tensor_util.make_tensor_proto(v, allow_broadcast=True) for v in values]
    overlay: dict[str, int] = {}
    scope = _unique_names(graph._names_in_use, overlay, [prefix + "/_inputs"])[0]
    names = _unique_names(graph._names_in_use, overlay, [scope + "/Const"] * len(values))
    made = [_ConstInput(n, p) for n, p in zip(names, protos)]
    it = iter(made)
    out = {k: v if isinstance(v, tensor_lib.Tensor) else next(it) for k, v in input_map.items()}
    return out, made, overlay


def _constants_graph_def(made: Sequence[_ConstInput]) -> bytes:
    """The Consts as a GraphDef's nodes (bytes to put before the imported nodes'), as
    ``constant_op.constant`` builds them."""
    out = tf_graph_pb2.GraphDef()
    for const in made:
        node = out.node.add(name=const.name[:-2], op="Const")
        node.attr["dtype"].type = const.proto.dtype
        node.attr["value"].tensor.CopyFrom(const.proto)
    return out.SerializeToString()


_op_defs_ok: dict[bytes, bool] = {}


def _producer_defaults_agree(meta: tf_meta_graph_pb2.MetaGraphDef) -> bool:
    """True when every default attr the file's producer OpDefs declare (which the core
    adds) is declared with the same default by this TensorFlow (which TensorFlow adds),
    so that the core's defaults and TensorFlow's coincide."""
    if not meta.meta_info_def.HasField("stripped_op_list"):
        return True
    op_list = meta.meta_info_def.stripped_op_list
    key = op_list.SerializeToString(deterministic=True)
    cached = _op_defs_ok.get(key)
    if cached is not None:
        return cached
    ok = True
    for producer in op_list.op:
        consumer = op_def_registry.get(producer.name)
        if consumer is None:
            continue  # a function or an unregistered op (the C++ importer reports the latter)
        consumer_attrs = {a.name: a for a in consumer.attr}
        for attr in producer.attr:
            mine = consumer_attrs.get(attr.name)
            if mine is None:
                ok = False  # TensorFlow would strip a producer-only default attr
                break
            if attr.HasField("default_value") and (
                not mine.HasField("default_value") or mine.default_value != attr.default_value
            ):
                ok = False
                break
        if not ok:
            break
    if len(_op_defs_ok) > 64:
        _op_defs_ok.clear()
    _op_defs_ok[key] = ok
    return ok


def _predict_prefix(graph: ops.Graph, name: str) -> str:
    """The prefix ``ops.name_scope(name)`` will produce, without marking anything used.

    Raises TensorFlow's ValueError for invalid scope names."""
    if not name:
        return ""
    # Validation as Graph.name_scope does (it raises before changing anything); a
    # trailing "/" makes the probe leave names_in_use alone.
    try:
        with graph.name_scope(name if name.endswith("/") else name + "/"):
            pass
    except ValueError:
        # Python's `$` matches before a final "\n": TensorFlow's scope regex takes
        # "a\n" (not "a\n/"), and its C++ importer refuses the prefix ("Imported node name
        # prefix 'a\n/' would lead to invalid node names"), as the core does with it.
        regex = ops._VALID_SCOPE_NAME_REGEX if graph._name_stack else ops._VALID_OP_NAME_REGEX
        if name.endswith("/") or not regex.match(name):
            with graph.name_scope(name):  # raises TensorFlow's own error for `name`
                pass
            raise
    if name.endswith("/"):
        return name[:-1]
    return graph.unique_name(name, mark_as_used=False)


def _rewrite(
    loaded: LoadedMetaGraph,
    prefix: str,
    clear_devices: bool,
    core_map: list[tuple[str, str]],
    existing: list[str],
) -> Any:
    """The core rewrite, keeping ``_output_shapes`` for TensorFlow's importer to consume
    (it refines the inferred shapes with them, then drops them), and each input as the
    file spells it (TensorFlow's importer keeps that spelling in the NodeDefs it holds:
    ``Operation.node_def``, ``export_meta_graph(clear_devices=True)``). The nodes' input
    counts, output indices and edge dtypes are left to TensorFlow's importer, which
    checks them against its own op registry (atomically), as TensorFlow's own import does."""
    try:
        return _core.rewrite_meta_graph(
            loaded.buffer,
            prefix=importer_prefix(prefix),
            clear_devices=bool(clear_devices),
            input_map=core_map,
            existing_names=existing,
            keep_output_shapes=True,
            check_signatures=False,
            check_types=False,
            keep_input_spelling=True,
            depth=loaded.depth,
        )
    except ParseError as e:
        e.path = loaded.path
        raise


# ---------------------------------------------------------------------------
# Fast path
# ---------------------------------------------------------------------------
def _final_name(original: str, prefix: str, existing: set[str], existing_prefixes: set[str]) -> str:
    """The imported node's final name when it was not renamed, else raise _Fallback (a
    name the file lacks: the name it would have, for TensorFlow's importer to refuse in
    its order, atomically)."""
    prefix = importer_prefix(prefix)
    candidate = f"{prefix}/{original}" if prefix else original
    if candidate in existing or candidate in existing_prefixes:
        raise _Fallback("a return element was renamed to avoid a clash")
    return candidate


def _parse_input_map_key(key: str) -> tuple[str, int | None]:
    """An input_map tensor key parsed as TensorFlow parses it (its ValueErrors); an
    output index that is no C ``int`` is fastmeta's :class:`InputMapTypeError` (a
    TypeError, as from the TF-free import) with TensorFlow's message: that of the binding
    it hands the key to, here on options of its own."""
    op_name, index = parse_return_element(key)
    if index is not None and index not in C_INT_RANGE:
        scratch = c_api_util.ScopedTFImportGraphDefOptions()
        try:
            c_api.TF_ImportGraphDefOptionsAddInputMapping(scratch.options, op_name, index, c_api.TF_Output())
        except TypeError as e:
            raise InputMapTypeError(str(e)) from None
        raise input_map_key_not_c_int(key, index)  # (should the binding ever take it)
    return op_name, index


def _element_not_c_int(element: str, op_name: str, index: int) -> None:
    """For a return element whose output index is no C ``int``: fastmeta's
    :class:`GraphTypeError` (a TypeError, as from the TF-free import) with TensorFlow's
    message: that of the binding it hands the element to, here on options of its own."""
    scratch = c_api_util.ScopedTFImportGraphDefOptions()
    try:
        c_api.TF_ImportGraphDefOptionsAddReturnOutput(scratch.options, op_name, index)
    except TypeError as e:
        raise GraphTypeError(str(e), node=element) from None
    element_not_c_int(element, op_name, index)  # (should the binding ever take it)


def _parse_return_elements(elements: Sequence[str] | None) -> list[tuple[str, int | None]]:
    """The return elements parsed in order as TensorFlow hands them to its importer's
    options, before it imports anything (:func:`parse_names`)."""
    return parse_names(elements or (), _element_not_c_int)


def _existing_prefixes(names: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for n in names:
        pos = n.find("/")
        while pos >= 0:
            out.add(n[:pos])
            pos = n.find("/", pos + 1)
    return out


def _import_fast(
    loaded: LoadedMetaGraph,
    meta: tf_meta_graph_pb2.MetaGraphDef,
    graph: ops.Graph,
    import_scope: str | None,
    clear_devices: bool,
    input_map: dict[Any, Any],
    return_elements: tuple[str, ...] | None,
    timer: _Timer,
) -> tuple[str, list[Any] | None]:
    """Import the nodes; returns (scope for collections, return elements)."""
    scope_to_prepend = graph.unique_name(import_scope or "", mark_as_used=False)
    name = import_scope or scope_to_prepend
    prefix = _predict_prefix(graph, name)
    given_values = list(input_map.values())
    input_map, made, overlay = _constant_inputs(graph, name, prefix, input_map)
    # As TensorFlow's importer, before it imports anything: the input_map's tensor keys,
    # then the return elements, are parsed as tensor names (Python's int(): "x:+0" is x:0).
    input_map, control_slot_key = _parse_input_map_keys(input_map)
    parsed_elements = _parse_return_elements(return_elements)
    if control_slot_key is not None:  # (refused by TensorFlow's importer, after the parse)
        raise control_slot_key

    core_map = input_map_pairs(input_map)
    existing: list[str] = list(graph._nodes_by_name) if graph.num_operations() else []
    existing += [c.name[:-2] for c in made]
    rewritten = _rewrite(loaded, prefix, clear_devices, core_map, existing)
    timer.lap("core rewrite")
    tail = graph_tail(rewritten, loaded)  # (checked before the graph is touched)
    if (class_error := class_attr_error(rewritten)) is not None:
        raise class_error  # (TensorFlow raises it after adding the nodes; here before)
    # (after the core: what it rejects is rejected before the graph is touched, also
    # when TensorFlow's importer takes over)
    if not _producer_defaults_agree(meta):
        raise _Fallback("the file's OpDefs declare defaults this TensorFlow does not")
    # A tensor the input_map replaces is returned as its replacement (TensorFlow's
    # importer does so); the others are asked of TensorFlow's importer by final name.
    finals: list[tuple[str, int | None, str]] = []  # (final op name, index, op name as asked)
    mapped_elements: dict[int, Any] = {}
    if return_elements:
        existing_set = set(existing)
        existing_pre = _existing_prefixes(existing)
        replaced = replaced_elements(input_map.items())
        for position, (op_name, index) in enumerate(parsed_elements):
            if index is not None and (op_name, index) in replaced:
                mapped_elements[position] = replaced[(op_name, index)]
                continue
            final = _final_name(op_name, prefix, existing_set, existing_pre)
            finals.append((final, index, op_name))

    # Enter the name scope import_graph_def enters (same names_in_use side effects);
    # remember the two keys it may touch to undo them if TensorFlow's import fails.
    # The constants' names are marked inside it, as TensorFlow makes them there.
    names_in_use = graph._names_in_use
    touched = {k: names_in_use.get(k) for k in (prefix.lower(), _scoped(graph, name).lower(), *overlay)}
    with ops.name_scope(name, "import", given_values) as scope:
        actual = scope[:-1] if scope else ""
        if made:
            with ops.name_scope("_inputs"):
                const_names = [graph.unique_name("Const") for _ in made]
    if actual != prefix or (made and const_names != [c.name[:-2] for c in made]):  # not expected; stay exact
        for const, const_name in zip(made, const_names if made else ()):
            const.name = const_name + ":0"
        core_map = input_map_pairs(input_map)
        existing[len(existing) - len(made) :] = [c.name[:-2] for c in made]
        rewritten = _rewrite(loaded, actual, clear_devices, core_map, existing)
        prefix = actual
    timer.lap("name scope")

    scoped_options = c_api_util.ScopedTFImportGraphDefOptions()
    options = scoped_options.options
    c_api.TF_ImportGraphDefOptionsSetPrefix(options, "")
    c_api.TF_ImportGraphDefOptionsSetUniquifyNames(options, False)
    c_api.TF_ImportGraphDefOptionsSetPropagateDeviceSpec(options, False)
    mapped: set[tuple[str, int]] = set()
    for key, value in input_map.items():
        if isinstance(value, _ConstInput):
            continue  # (imported with the nodes)
        if compat.as_str(key).startswith("^"):
            target_op = value.op
            if (target_op.name, -1) not in mapped:
                mapped.add((target_op.name, -1))
                c_api.TF_ImportGraphDefOptionsRemapControlDependency(
                    options, target_op.name, value._as_tf_output().oper
                )
        else:
            if (value.op.name, value.value_index) not in mapped:
                mapped.add((value.op.name, value.value_index))
                c_api.TF_ImportGraphDefOptionsAddInputMapping(
                    options, value.op.name, value.value_index, value._as_tf_output()
                )
    for final, index, _ in finals:
        if index is None:
            c_api.TF_ImportGraphDefOptionsAddReturnOperation(options, final)
        else:
            c_api.TF_ImportGraphDefOptionsAddReturnOutput(options, final, index)
    c_api.TF_ImportGraphDefOptionsSetValidateColocationConstraints(options, True)

    with graph._mutation_lock():
        data = rewritten.graph_def()
        if made:
            data = _constants_graph_def(made) + data  # (a GraphDef's nodes concatenate)
        buffer = c_api.TF_NewBufferFromString(data)
        del data
        try:
            with graph._c_graph.get() as c_graph:
                raw_results = c_api.TF_GraphImportGraphDefWithResults(c_graph, buffer, options)
            results = c_api_util.ScopedTFImportGraphDefResults(raw_results)
        except Exception as e:
            for k, v in touched.items():
                if v is None:
                    names_in_use.pop(k, None)
                else:
                    names_in_use[k] = v
            if isinstance(e, tf_errors.InvalidArgumentError):
                refused = _return_element_refused(str(e), finals)
                if refused is not None:
                    raise refused from None
                raise ValueError(str(e)) from None
            raise
        finally:
            c_api.TF_DeleteBuffer(buffer)
        timer.lap("TF C++ import")
        _add_operations(graph, input_map)
        timer.lap("TF Operation wrappers")

    if tail.library.function:  # (TensorFlow's message of it, only when there are functions)
        for f in function.from_library(tf_graph_pb2.GraphDef.FromString(rewritten.graph_tail()).library):
            f.add_to_graph(graph)
    timer.lap("functions")

    elements: list[Any] | None = None
    if return_elements is not None:
        outputs = c_api.TF_ImportGraphDefResultsReturnOutputs(results.results)
        opers = c_api.TF_ImportGraphDefResultsReturnOperations(results.results)
        elements = []
        oi = pi = 0
        for position, (_, index) in enumerate(parsed_elements):
            if position in mapped_elements:
                element = mapped_elements[position]
                if isinstance(element, _ConstInput):
                    element = graph.get_tensor_by_name(element.name)
                elif index == -1:  # (a control key's slot: the last output of its op, as TensorFlow's)
                    element = element.op.outputs[-1]
                elements.append(element)
            elif index is not None:
                elements.append(graph._get_tensor_by_tf_output(outputs[oi]))
                oi += 1
            else:
                elements.append(graph._get_operation_by_tf_operation(opers[pi]))
                pi += 1
    return scope_to_prepend, elements


def _tested_tensorflow() -> bool:
    """Whether the running TensorFlow is the release whose ``_create_op_helper`` and
    ``as_graph_element`` the direct paths below were checked against
    (tests/test_tf_dropin.py compares every op's state and every node_list entry with
    TensorFlow's import); other releases take TensorFlow's own path."""
    from fastmeta._builtin_ops import TF_VERSION

    running = packaging_version.parse(tf_versions.__version__).release[:2]
    return running == packaging_version.parse(TF_VERSION).release[:2] and all(
        hasattr(x, a)
        for x, a in (
            (ops.Operation, "_from_c_op"),
            (ops.Graph, "_create_op_from_tf_operation"),
            (ops.Graph, "new_operations"),
            (ops.Graph, "_nodes_by_name"),
            (ops.Operation, "_init"),
            (c_api, "PyTensor"),
            (pywrap_tfe, "TFE_Py_UID"),
            (dtypes, "_INTERN_TABLE"),
        )
    )


_DIRECT_OPERATIONS = _tested_tensorflow()


_INTERNED_DTYPES: dict[int, dtypes.DType] = {int(k): v for k, v in getattr(dtypes, "_INTERN_TABLE", {}).items()}
_new_tensor: Callable[..., Any] = getattr(c_api, "PyTensor", object).__new__


def _symbolic_tensor(op: Any, value_index: int, dtype: Any, unique_id: int | None = None) -> Any:
    """``SymbolicTensor(op, value_index, dtype)``, the tensor factory an ``Operation``
    makes its outputs with (it passes each output's DataType enum): the interned DType
    of that enum and the next unique id (``ops.uid()``, as ``SymbolicTensor`` takes it),
    without ``SymbolicTensor.__new__``'s general dtype conversion (a third of the cost
    of the outputs). Anything else (a DType, as ``_add_outputs`` may pass, an id given)
    goes to ``SymbolicTensor`` itself."""
    interned = _INTERNED_DTYPES.get(dtype) if type(dtype) is int and unique_id is None else None
    if interned is None:
        return ops.SymbolicTensor(op, value_index, dtype, unique_id)
    return _new_tensor(ops.SymbolicTensor, op, value_index, interned, pywrap_tfe.TFE_Py_UID())


def _add_operations(graph: ops.Graph, input_map: Mapping[Any, Any]) -> None:
    """The Python ``Operation`` of each op TensorFlow's importer just made, as
    ``graph._add_new_tf_operations(compute_devices=False)`` makes them.

    That function then reads every new op's data inputs, for two purposes that have
    nothing to do when the graph has no ``control_dependencies`` block open and no
    control flow context, and no input_map value is an output of an op in a control
    flow context: the imported ops get no control inputs from enclosing blocks and
    none is in a context (they all take the graph's, None), and each input is from an
    imported op or an input_map value, none in a context, so every input is valid. In
    that case only the ``Operation`` objects are made (about half the cost); each op
    reads its inputs when asked (``Operation.inputs``), to the same tensors."""
    plain = (
        not graph._control_dependencies_stack
        and graph._get_control_flow_context() is None
        and all(
            not isinstance(v, tensor_lib.Tensor) or v.op._get_control_flow_context() is None for v in input_map.values()
        )
    )
    if not plain:
        graph._add_new_tf_operations(compute_devices=False)
        return
    if (
        not _DIRECT_OPERATIONS
        or graph._attr_scope_map
        or graph._op_to_kernel_label_map
        or graph._gradient_override_map
        or graph._container
        or len(graph._colocation_stack)
    ):
        create = graph._create_op_from_tf_operation
        for c_op in graph.new_operations():
            create(c_op, compute_device=False)
        return
    # Nothing for ``Graph._create_op_helper`` to apply either (no attr scope, kernel
    # label, gradient override, container or colocation block; no control_dependencies
    # block to record the op in): per op, what it leaves is the gradient function the
    # graph maps the op's type to (``_gradient_function_map``) and an empty snapshot of
    # the colocation stack; the name is marked used as ``_create_op_from_tf_operation``
    # marks it. (tests/test_tf_dropin.py compares every op's state with TensorFlow's.)
    # The op is made as ``Operation._from_c_op`` makes it, its output tensors by
    # _symbolic_tensor (see there).
    operation = ops.Operation
    names_in_use = graph._names_in_use
    gradient_functions = graph._gradient_function_map
    for c_op in graph.new_operations():
        op = operation(c_op, _symbolic_tensor)
        op._init(graph)
        key = op.name.lower()
        if key not in names_in_use:
            names_in_use[key] = 1
        op._gradient_function = gradient_functions.get(op.type)
        op._colocation_code_locations = {}


def _parse_input_map_keys(input_map: dict[Any, Any]) -> tuple[dict[str, Any], ValueError | None]:
    """The input_map with its tensor keys parsed as TensorFlow's ``_ParseTensorName``
    parses them (same ValueErrors) and spelled ``op:index``; of two spellings of one key
    the later wins, as in TensorFlow's importer. Also the error of TensorFlow's importer
    for the first tensor key naming the control slot (``x:-1``), for the caller to raise
    after parsing the return elements, as TensorFlow does (None when there is none)."""
    out: dict[str, Any] = {}
    refused: ValueError | None = None
    for key, value in input_map.items():
        text = compat.as_str(key)
        if not text.startswith("^"):
            op_name, index = _parse_input_map_key(text)
            index = index or 0
            if index == -1 and refused is None:
                refused = ValueError(
                    f"input_map entry ^{op_name}->{value.name} between control edge and non-control edge"
                )
            text = f"{op_name}:{index}"
        out.pop(text, None)
        out[text] = value
    return out, refused


def _return_element_refused(message: str, finals: Sequence[tuple[str, int | None, str]]) -> GraphError | None:
    """TensorFlow's importer's refusal of a return element (a name the file lacks, an
    output its node lacks) as a GraphError naming the element as the caller asked for it
    (``x``), not by the final name the fast path asked for (``imp/x``); None for another
    error."""
    for final, index, asked in finals:
        if index is None:
            if message == f"Requested return node '{final}' not found in graph def":
                return GraphError(f"Requested return node '{asked}' not found in graph def", node=asked)
        elif message == f"Requested return tensor '{tensor_id(final, index)}' not found in graph def":
            return GraphError(
                f"Requested return tensor '{tensor_id(asked, index)}' not found in graph def",
                node=tensor_id(asked, index),
            )
        elif message.startswith(f"Invalid return output {index} of node '{final}', which has "):
            return GraphError(
                message.replace(f"of node '{final}',", f"of node '{asked}',", 1), node=tensor_id(asked, index)
            )
    return None


def _scoped(graph: ops.Graph, name: str) -> str:
    stack = graph._name_stack
    return f"{stack}/{name}" if stack and name else name


# ---------------------------------------------------------------------------
# Collections and Saver
# ---------------------------------------------------------------------------
def _restore_collections(
    graph: ops.Graph,
    meta: tf_meta_graph_pb2.MetaGraphDef,
    scope: str,
    unbound_inputs_col_name: str | None,
    predicate: Callable[[str], bool],
) -> None:
    tf_version = meta.meta_info_def.tensorflow_version
    have_trainable = (not tf_version) or (packaging_version.parse(tf_version) >= packaging_version.parse("1.9"))
    collection_def = meta.collection_def
    keys = sorted(collection_def)
    if _TRAINABLE_VARIABLES in collection_def:
        keys.remove(_TRAINABLE_VARIABLES)
        keys.insert(0, _TRAINABLE_VARIABLES)
    variable_objects: dict[bytes, Any] = {}
    by_name: Any = None  # (an op added later is missing from it: as_graph_element finds it)
    for key in keys:
        if key == unbound_inputs_col_name or not predicate(key):
            continue
        col_def = collection_def[key]
        kind = col_def.WhichOneof("kind")
        if kind is None:
            logging.error("Cannot identify data type for collection %s. Skipping.", key)
            continue
        from_proto = ops.get_from_proto_function(key)
        if key == _METRIC_VARIABLES:
            from_proto = ops.get_from_proto_function(_GLOBAL_VARIABLES)
        # As TensorFlow adds the items one by one: those made before one that fails
        # are in the collection when the error propagates.
        items: list[Any] = []
        try:
            if from_proto and kind == "bytes_list":
                proto_type = ops.get_collection_proto_type(key)
                if key in _VARIABLE_COLLECTIONS:
                    for value in col_def.bytes_list.value:
                        variable = variable_objects.get(value)
                        if variable is None:
                            proto = proto_type.FromString(value)
                            if not have_trainable:
                                proto.trainable = key == _TRAINABLE_VARIABLES
                            variable = from_proto(proto, import_scope=scope)
                            variable_objects[value] = variable
                        items.append(variable)
                else:
                    for value in col_def.bytes_list.value:
                        items.append(from_proto(proto_type.FromString(value), import_scope=scope))
            else:
                field = getattr(col_def, kind)
                if key in _COMPAT_COLLECTIONS:
                    logging.warning(
                        "The saved meta_graph is possibly from an older release:\n'%s' collection "
                        "should be of type 'byte_list', but instead is of type '%s'.",
                        key,
                        kind,
                    )
                if kind == "node_list":
                    if by_name is None and _DIRECT_OPERATIONS:
                        by_name = graph._nodes_by_name  # (a new mapping of every op per access: once)
                    _graph_elements(graph, [ops.prepend_name_scope(v, scope) for v in field.value], by_name, items)
                elif kind == "int64_list":
                    items.extend(int(v) for v in field.value)
                else:
                    items.extend(ops.prepend_name_scope(v, scope) for v in field.value)
        finally:
            if items:
                graph.get_collection_ref(key).extend(items)


def _graph_elements(
    graph: ops.Graph, names: Sequence[str], by_name: Any = None, out: list[Any] | None = None
) -> list[Any]:
    """``graph.as_graph_element(name)`` of each name (a node_list collection's entries),
    appended to ``out`` (a new list by default), which holds those found before a name
    that raises.

    On the TensorFlow release the direct path was checked against, an op's name
    (``x``) or a tensor's in canonical form (``x:0``, ASCII digits, in range) naming
    what the graph holds is looked up in the graph's name table directly (what
    ``as_graph_element`` returns for it, without its per-call checks, ~5x faster); any
    other name goes to ``as_graph_element``, which returns or raises as in TensorFlow."""
    element = graph.as_graph_element
    if out is None:
        out = []
    if not _DIRECT_OPERATIONS:
        out.extend(element(name) for name in names)
        return out
    if by_name is None:
        by_name = graph._nodes_by_name
    for name in names:
        op_name, colon, index = name.partition(":")
        if op_name in by_name:
            if not colon:
                out.append(by_name[op_name])
                continue
            if index.isascii() and index.isdigit():
                outputs = by_name[op_name].outputs
                i = int(index)
                if i < len(outputs):
                    out.append(outputs[i])
                    continue
        out.append(element(name))
    return out


def _imported_variables(graph: ops.Graph, scope: str) -> dict[str, Any]:
    return {ops.strip_name_scope(v.name, scope): v for v in graph.get_collection(_GLOBAL_VARIABLES, scope=scope)}


def _create_saver(
    meta: tf_meta_graph_pb2.MetaGraphDef, import_scope: str | None, imported: dict[str, Any]
) -> saver_lib.Saver | None:
    if meta.HasField("saver_def"):
        scope = import_scope
        if imported:
            key, var = next(iter(imported.items()))
            scope = var.name[: -len(key)]
        return saver_lib.Saver(saver_def=meta.saver_def, name=scope)
    if ops.get_collection(_GLOBAL_VARIABLES, import_scope) + ops.get_collection(_SAVEABLE_OBJECTS, import_scope):
        return saver_lib.Saver()
    logging.info("Saver not created because there are no variables in the graph to restore")
    return None


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def _import_scoped(
    meta_graph_or_file: MetaGraphSource,
    clear_devices: bool,
    graph: ops.Graph | None,
    import_scope: str | None,
    input_map: Any,
    unbound_inputs_col_name: str | None,
    restore_collections_predicate: Callable[[str], bool],
    return_elements: Any,
) -> tuple[dict[str, Any], list[Any] | None, tf_meta_graph_pb2.MetaGraphDef]:
    if context.executing_eagerly():
        raise ValueError("Exporting/importing meta graphs is not supported when eager execution is enabled.")
    timer = _Timer()
    loaded = load_meta_graph(meta_graph_or_file)
    meta = tf_meta_graph_pb2.MetaGraphDef.FromString(loaded.rest.SerializeToString())
    timer.lap("read")
    check_unbound_inputs(meta, unbound_inputs_col_name, input_map)
    graph = graph or ops.get_default_graph()
    with graph.as_default():
        checked_map = _check_input_map(input_map)
        checked_elements = checked_return_elements(return_elements)
        if graph.finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        # An import_scope that is no str (b"imp", which TensorFlow's name scope decodes
        # and its collection restore then fails on): TensorFlow's own import, as is.
        reason = None if import_scope is None or isinstance(import_scope, str) else "import_scope is not a str"
        if reason is None:
            _check_values_converted_first(graph, import_scope, checked_map)
            reason = _fallback_reason_for_graph(graph, checked_map)
        if reason == _CONVERTED_BY_TENSORFLOW:
            _check_file_before_conversion(loaded, graph, import_scope, clear_devices, checked_map, checked_elements)
        scope: str | None = None
        elements: list[Any] | None = None
        if reason is None:
            try:
                scope, elements = _import_fast(
                    loaded, meta, graph, import_scope, clear_devices, checked_map, checked_elements, timer
                )
            except _Fallback as e:
                reason = str(e)
        if reason is not None:
            _last_path[0] = "fallback: " + reason
            try:
                full = tf_meta_graph_pb2.MetaGraphDef.FromString(bytes(loaded.buffer))
            except DecodeError as e:
                # What the core copies through unread (a function library's bad UTF-8):
                # the ParseError naming the byte offset, as on the fast path.
                raise decode_error(e, loaded.buffer, loaded.label, loaded.path) from None
            # (TensorFlow's importer parses the keys, then the elements, before it imports
            # anything: an output index that is no C int is refused here, as on the fast
            # path, with fastmeta's TypeErrors)
            for key in checked_map:
                if not compat.as_str(key).startswith("^"):
                    _parse_input_map_key(compat.as_str(key))
            _parse_return_elements(checked_elements)
            imported, elements = meta_graph.import_scoped_meta_graph_with_return_elements(
                full,
                clear_devices=clear_devices,
                graph=graph,
                import_scope=import_scope,
                input_map=input_map,
                unbound_inputs_col_name=unbound_inputs_col_name,
                restore_collections_predicate=restore_collections_predicate,
                return_elements=return_elements,
            )
            timer.lap("TF fallback import")
            return imported, elements, full
        _last_path[0] = "fast"
        assert scope is not None
        _restore_collections(graph, meta, scope, unbound_inputs_col_name, restore_collections_predicate)
        imported = _imported_variables(graph, scope)
        timer.lap("collections")
    return imported, elements, meta


def import_scoped_meta_graph_with_return_elements(
    meta_graph_or_file: MetaGraphSource,
    clear_devices: bool = False,
    graph: ops.Graph | None = None,
    import_scope: str | None = None,
    input_map: Mapping[str, Any] | None = None,
    unbound_inputs_col_name: str | None = "unbound_inputs",
    restore_collections_predicate: Callable[[str], bool] = _restore_all,
    return_elements: Sequence[str] | None = None,
) -> tuple[dict[str, Any], list[Any] | None]:
    """Twin of TensorFlow's ``meta_graph.import_scoped_meta_graph_with_return_elements``.

    Imports the meta graph (a path, bytes, or a TensorFlow or fastmeta ``MetaGraphDef``)
    into ``graph`` (default: the default graph) under ``import_scope`` and restores its
    collections. Returns ``(variables imported into the scope by unscoped name, the
    requested return elements or None)``.
    """
    with _gc_paused():  # (see import_meta_graph_with_return_elements)
        imported, elements, _ = _import_scoped(
            meta_graph_or_file,
            clear_devices,
            graph,
            import_scope,
            input_map,
            unbound_inputs_col_name,
            restore_collections_predicate,
            return_elements,
        )
    return imported, elements


def import_meta_graph_with_return_elements(
    meta_graph_or_file: MetaGraphSource,
    clear_devices: bool = False,
    import_scope: str | None = None,
    return_elements: Sequence[str] | None = None,
    **kwargs: Any,
) -> tuple[saver_lib.Saver | None, list[Any] | None]:
    """Like :func:`import_meta_graph`, also returning the requested ``return_elements``
    (op or tensor names of the file) as TensorFlow objects: ``(saver, elements)``."""
    if context.executing_eagerly():
        raise RuntimeError(
            "Exporting/importing meta graphs is not supported when eager execution is "
            "enabled. No graph exists when eager execution is enabled."
        )
    unknown = [k for k in kwargs if k not in _SCOPED_KWARGS]
    if unknown:  # TensorFlow reads the file, then hands them to a function of its own
        load_meta_graph(meta_graph_or_file)
        raise TypeError(
            f"import_scoped_meta_graph_with_return_elements() got an unexpected keyword argument '{unknown[0]}'"
        )
    # The cyclic garbage collector is paused while the import runs (as fastmeta's own
    # import pauses it): it makes hundreds of thousands of Python objects (an Operation
    # and its output tensors per node, variables, collection entries), all kept alive
    # by the graph, and the collector's repeated passes over them cost about as much
    # as making them. The graph is the same either way.
    with _gc_paused():
        imported, elements, meta = _import_scoped_kwargs(
            meta_graph_or_file, clear_devices, import_scope, return_elements, **kwargs
        )
        timer = _Timer()
        saver = _create_saver(meta, import_scope, imported)
        timer.lap("saver")
    return saver, elements


_SCOPED_KWARGS = frozenset({"graph", "input_map", "unbound_inputs_col_name", "restore_collections_predicate"})


def _import_scoped_kwargs(
    meta_graph_or_file: MetaGraphSource,
    clear_devices: bool,
    import_scope: str | None,
    return_elements: Sequence[str] | None,
    graph: ops.Graph | None = None,
    input_map: Mapping[str, Any] | None = None,
    unbound_inputs_col_name: str | None = "unbound_inputs",
    restore_collections_predicate: Callable[[str], bool] = _restore_all,
) -> tuple[dict[str, Any], list[Any] | None, tf_meta_graph_pb2.MetaGraphDef]:
    return _import_scoped(
        meta_graph_or_file,
        clear_devices,
        graph,
        import_scope,
        input_map,
        unbound_inputs_col_name,
        restore_collections_predicate,
        return_elements,
    )


def import_meta_graph(
    meta_graph_or_file: MetaGraphSource,
    clear_devices: bool = False,
    import_scope: str | None = None,
    **kwargs: Any,
) -> saver_lib.Saver | None:
    """Drop-in for ``tf.compat.v1.train.import_meta_graph``.

    Same arguments (``graph``, ``input_map``, ``unbound_inputs_col_name``,
    ``restore_collections_predicate``; unknown keyword arguments raise TypeError), same
    result: the graph holds exactly the nodes and collections TensorFlow's own import
    would create, and the return value is a ``tf.compat.v1.train.Saver`` built from the
    file's ``saver_def`` (a new ``Saver()`` when the file has none but the default graph
    has variables) or None.
    """
    return import_meta_graph_with_return_elements(meta_graph_or_file, clear_devices, import_scope, **kwargs)[0]
