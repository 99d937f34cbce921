"""fastmeta: the fastest and most faithful way to load TensorFlow meta graphs.

A C++ core parses the GraphDef wire format, puts names under the import scope and
strips devices in one pass; this package rebuilds collections and the Saver.
TensorFlow is not needed (``fastmeta.tf`` is the drop-in that imports into a real
``tf.Graph``).
"""

from __future__ import annotations

from fastmeta.control_flow import CondContext, WhileContext
from fastmeta.errors import (
    CollectionError,
    Error,
    FileError,
    GraphError,
    InputMapError,
    MetaGraphNotFoundError,
    ParseError,
    SizeLimitError,
)
from fastmeta.graph import Graph, Operation, Tensor, get_default_graph, reset_default_graph
from fastmeta.importer import import_meta_graph, import_scoped_meta_graph_with_return_elements
from fastmeta.queue_runner import QueueRunner
from fastmeta.reading import read_meta_graph_file
from fastmeta.rewrite import rewrite_meta_graph
from fastmeta.saver import Saver
from fastmeta.variables import Variable

__version__ = "0.1.0"

__all__ = [
    "CollectionError",
    "CondContext",
    "Error",
    "FileError",
    "Graph",
    "GraphError",
    "InputMapError",
    "MetaGraphNotFoundError",
    "Operation",
    "ParseError",
    "QueueRunner",
    "Saver",
    "SizeLimitError",
    "Tensor",
    "Variable",
    "WhileContext",
    "__version__",
    "get_default_graph",
    "import_meta_graph",
    "import_scoped_meta_graph_with_return_elements",
    "read_meta_graph_file",
    "reset_default_graph",
    "rewrite_meta_graph",
]
