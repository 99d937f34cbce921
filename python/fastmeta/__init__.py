"""fastmeta: the fastest and most faithful way to load TensorFlow meta graphs.

A C++ core parses the GraphDef wire format, puts names under the import scope and
strips devices in one pass; this package rebuilds collections and the Saver.
TensorFlow is not needed (``fastmeta.tf`` is the drop-in that imports into a real
``tf.Graph``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastmeta import saved_model
from fastmeta.control_flow import CondContext, WhileContext
from fastmeta.errors import (
    CollectionError,
    CollectionIndexError,
    CollectionRuntimeError,
    CollectionTypeError,
    CollectionValueError,
    Error,
    FileChangedError,
    FileError,
    FileParseError,
    FunctionBodyError,
    FunctionLibraryError,
    GraphError,
    GraphTypeError,
    GraphVersionError,
    InputMapError,
    InputMapOverflowError,
    InputMapTypeError,
    MetaGraphNotFoundError,
    ParseError,
    SavedModelError,
    SavedModelIndexError,
    SavedModelNotFoundError,
    SavedModelParseError,
    SavedModelTypeError,
    SavedModelValueError,
    ScopeError,
    SizeLimitError,
    TagsNotFoundError,
)
from fastmeta.export import export_meta_graph
from fastmeta.graph import Graph, Operation, Tensor, get_default_graph, reset_default_graph
from fastmeta.importer import import_meta_graph, import_scoped_meta_graph_with_return_elements
from fastmeta.queue_runner import QueueRunner
from fastmeta.reading import read_meta_graph_file
from fastmeta.rewrite import rewrite_meta_graph
from fastmeta.saver import RestoredVariables, Saver
from fastmeta.variables import Variable

if TYPE_CHECKING:
    from fastmeta.checkpoint import (
        CheckpointError,
        latest_checkpoint,
        list_variables,
        load_checkpoint,
    )

_LAZY = {"CheckpointError", "latest_checkpoint", "list_variables", "load_checkpoint"}


def __getattr__(name: str) -> Any:
    """``fastmeta.latest_checkpoint`` & co. import ``fastmeta.checkpoint`` (and numpy)
    on first use, keeping ``import fastmeta`` light."""
    if name in _LAZY:
        from fastmeta import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'fastmeta' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "CollectionError",
    "CollectionIndexError",
    "CollectionRuntimeError",
    "CollectionTypeError",
    "CollectionValueError",
    "CondContext",
    "Error",
    "FileChangedError",
    "FileError",
    "FileParseError",
    "FunctionBodyError",
    "FunctionLibraryError",
    "Graph",
    "GraphError",
    "GraphTypeError",
    "GraphVersionError",
    "InputMapError",
    "InputMapOverflowError",
    "InputMapTypeError",
    "MetaGraphNotFoundError",
    "Operation",
    "ParseError",
    "QueueRunner",
    "RestoredVariables",
    "SavedModelError",
    "SavedModelIndexError",
    "SavedModelNotFoundError",
    "SavedModelParseError",
    "SavedModelTypeError",
    "SavedModelValueError",
    "Saver",
    "ScopeError",
    "SizeLimitError",
    "TagsNotFoundError",
    "Tensor",
    "Variable",
    "WhileContext",
    "__version__",
    "export_meta_graph",
    "get_default_graph",
    "import_meta_graph",
    "import_scoped_meta_graph_with_return_elements",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "read_meta_graph_file",
    "reset_default_graph",
    "rewrite_meta_graph",
    "saved_model",
]
