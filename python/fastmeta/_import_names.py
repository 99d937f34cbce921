"""input_map keys and return elements read as TensorFlow's importer reads them, shared by
the TF-free import (:mod:`fastmeta.importer`) and the drop-in (:mod:`fastmeta.tf`).

TensorFlow's ``import_graph_def`` parses the input_map's tensor keys, then the return
elements, before it imports anything (an output index that is no C ``int`` is refused
then, with a ``TypeError``, by the binding the index is handed to); its importer then
finds the return tensors (in the order asked), then the return ops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from fastmeta.errors import GraphError, GraphTypeError, InputMapTypeError
from fastmeta.scoping import importer_prefix

__all__ = [
    "C_INT_RANGE",
    "check_return_elements_found",
    "checked_return_elements",
    "element_not_c_int",
    "file_node_lookup",
    "input_map_key_not_c_int",
    "input_map_tensor_keys",
    "is_utf8",
    "parse_names",
    "parse_return_element",
    "replaced_elements",
    "tensor_id",
]

C_INT_RANGE = range(-(2**31), 2**31)


def is_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (a lone surrogate, ``os.fsdecode``'s spelling
    of a byte that is not UTF-8, does not: no node of a GraphDef has such a name)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_return_element(name: str) -> tuple[str, int | None]:
    """``(op name, output index)`` of a return element (index None for an op name), as
    TensorFlow's importer parses it (``int()`` of what follows the one ``:``), with its
    messages as GraphErrors (ValueErrors, as TensorFlow's)."""
    if ":" not in name:
        return name, None
    parts = name.split(":")
    if len(parts) != 2:
        raise GraphError(
            f"Cannot convert '{name}' to a tensor name. Tensor names should not contain more "
            f"than 1 `:`. Obtained {len(parts) - 1}",
            node=name,
        )
    try:
        return parts[0], int(parts[1])
    except ValueError:
        raise GraphError(
            f"Cannot convert {name!r} to a tensor name. Second component of the name following "
            f"the `:` should be an int. Got {parts[1]}.",
            node=name,
        ) from None


def checked_return_elements(return_elements: Any) -> tuple[str, ...] | None:
    """The return elements as TensorFlow's ``import_graph_def`` takes them: str or bytes
    (read as UTF-8), else its TypeError."""
    if return_elements is None:
        return None
    if not all(isinstance(x, (bytes, str)) for x in return_elements):
        raise TypeError(f"Argument `return_elements` must be a list of strings. Obtained {return_elements}.")
    return tuple(x.decode("utf-8") if isinstance(x, bytes) else x for x in return_elements)


def element_not_c_int(element: str, op_name: str, index: int) -> None:
    """Raise the error for a return element whose output index is no C ``int``
    (TensorFlow's binding refuses it with a TypeError): a :class:`GraphTypeError`."""
    raise GraphTypeError(
        f"Cannot convert {element!r} to a tensor name: output index {index} does not fit in a C int", node=element
    )


def input_map_key_not_c_int(key: str, index: int) -> InputMapTypeError:
    """The error for an input_map tensor key whose output index is no C ``int``
    (TensorFlow's binding refuses it with a TypeError): an :class:`InputMapTypeError`."""
    return InputMapTypeError(
        f"Cannot convert input_map key {key!r} to a tensor name: output index {index} does not fit in a C int"
    )


def parse_names(names: Iterable[str], not_c_int: Callable[[str, str, int], None]) -> list[tuple[str, int | None]]:
    """Each name (a return element, or an input_map tensor key) parsed in turn as
    TensorFlow's importer parses it (:func:`parse_return_element`; a name that is not
    UTF-8 names no node); ``not_c_int(name, op, index)`` raises the error for an output
    index that is no C ``int``, which TensorFlow refuses as it parses that name."""
    out = []
    for name in names:
        if not is_utf8(name):
            raise GraphError(f"Requested return element {name!r} not found in graph def", node=name)
        op_name, index = parse_return_element(name)
        if index is not None and index not in C_INT_RANGE:
            not_c_int(name, op_name, index)
        out.append((op_name, index))
    return out


_V = TypeVar("_V")


def input_map_tensor_keys(items: Iterable[tuple[str, _V]]) -> dict[tuple[str, int], _V]:
    """An input_map's tensor keys as ``(op, output index) -> value`` (``"x"`` is
    ``"x:0"``; control keys ``"^x"`` left out). Of two spellings of one key the later
    wins, as in TensorFlow's importer."""
    out: dict[tuple[str, int], _V] = {}
    for key, value in items:
        if key.startswith("^"):
            continue
        op_name, sep, index = key.rpartition(":")
        out[(op_name, int(index)) if sep and index.lstrip("-").isdigit() else (key, 0)] = value
    return out


def replaced_elements(items: Iterable[tuple[str, _V]]) -> dict[tuple[str, int], _V]:
    """The return elements an input_map replaces, ``(op, output index) -> value``, as
    TensorFlow's importer finds them in its map: each tensor key's
    (:func:`input_map_tensor_keys`), and each control key's control slot (``^x`` replaces
    ``x:-1``, returned as the last output of the op the key maps to)."""
    items = list(items)
    out = input_map_tensor_keys(items)
    for key, value in items:
        if key.startswith("^"):
            out[(key[1:], -1)] = value
    return out


def tensor_id(op_name: str, index: int) -> str:
    """A tensor's name as TensorFlow's importer spells it in messages (``^x`` for the
    control slot, -1)."""
    return f"^{op_name}" if index == -1 else f"{op_name}:{index}"


def file_node_lookup(rewritten: Any, prefix: str) -> Callable[[str], int]:
    """``index_of(op)``: the index in the core's result ``rewritten`` of the file's node
    ``op``, or -1 when the file has none. Each node is named ``<prefix>/<its name>``
    unless it was renamed to avoid a clash with the graph (the result lists those);
    a renamed node may have taken ``<prefix>/<a name the file lacks>``."""
    renamed = {original: index for index, original in rewritten.renamed()}
    taken = set(renamed.values())
    prefix = importer_prefix(prefix)

    def index_of(op_name: str) -> int:
        i: int = renamed.get(op_name, -1)
        if i < 0:
            i = rewritten.find(f"{prefix}/{op_name}" if prefix else op_name)
            if i in taken:
                i = -1
        return i

    return index_of


def check_return_elements_found(
    elements: Sequence[str],
    parsed: Sequence[tuple[str, int | None]],
    replaced: Mapping[tuple[str, int], Any],
    lookup: Callable[[str], tuple[bool, int | None]],
) -> None:
    """TensorFlow's importer's checks of the return elements, in its order: the tensors
    first (those the input_map does not replace: the node named, an output it has or
    the control slot -1), then the ops, each in the order asked, with its messages
    (tensors named by their parsed index), as GraphErrors. ``lookup(op)`` tells whether
    the file has that node and its output count (None: unknown; TensorFlow's importer
    then decides, and nothing after that tensor is checked)."""
    for element, (op_name, index) in zip(elements, parsed):
        if index is None or (op_name, index) in replaced:
            continue
        found, count = lookup(op_name)
        if not found:
            raise GraphError(
                f"Requested return tensor '{tensor_id(op_name, index)}' not found in graph def", node=element
            )
        if count is None:
            return
        if index != -1 and not 0 <= index < count:
            raise GraphError(
                f"Invalid return output {index} of node '{op_name}', which has {count} output(s)", node=element
            )
    for element, (op_name, index) in zip(elements, parsed):
        if index is None and not lookup(op_name)[0]:
            raise GraphError(f"Requested return node '{op_name}' not found in graph def", node=element)
