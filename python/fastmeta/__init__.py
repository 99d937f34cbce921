"""fastmeta: the fastest and most faithful way to load TensorFlow meta graphs.

A C++ core parses the GraphDef wire format, puts names under the import scope and
strips devices in one pass; this package rebuilds collections and the Saver.
TensorFlow is not needed (``fastmeta.tf`` is the drop-in that imports into a real
``tf.Graph``).
"""

from __future__ import annotations

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
from fastmeta.reading import read_meta_graph_file
from fastmeta.rewrite import rewrite_meta_graph

__version__ = "0.1.0"

__all__ = [
    "CollectionError",
    "Error",
    "FileError",
    "GraphError",
    "InputMapError",
    "MetaGraphNotFoundError",
    "ParseError",
    "SizeLimitError",
    "__version__",
    "read_meta_graph_file",
    "rewrite_meta_graph",
]
