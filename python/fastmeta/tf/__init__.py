"""``fastmeta.tf``: a drop-in for ``tf.compat.v1.train.import_meta_graph``.

Switch one import line::

    from fastmeta.tf import import_meta_graph   # was: tf.compat.v1.train.import_meta_graph

and get the same graph (node for node), the same collections (TensorFlow's own
``Variable``/``QueueRunner``/``CondContext``/... objects) and a real
``tf.compat.v1.train.Saver``, faster: fastmeta's C++ core does the parsing, scoping,
device canonicalisation and default attrs, and TensorFlow's C++ importer receives a
GraphDef with nothing left for its Python passes to do.

``fastmeta.tf.saved_model.load(sess, tags, export_dir)`` is the drop-in for
``tf.compat.v1.saved_model.loader.load`` (also ``fastmeta.tf.saved_model_load``).

TensorFlow is an optional dependency (``pip install fastmeta[tf]``); ``import fastmeta``
never imports it, importing ``fastmeta.tf`` without it raises
:class:`TensorFlowNotInstalledError`.
"""

from __future__ import annotations

from fastmeta.errors import Error

__all__ = [
    "TensorFlowNotInstalledError",
    "import_meta_graph",
    "import_meta_graph_with_return_elements",
    "import_scoped_meta_graph_with_return_elements",
    "saved_model",
    "saved_model_load",
]


class TensorFlowNotInstalledError(Error, ImportError):
    """``fastmeta.tf`` was imported but TensorFlow is not installed."""


try:
    import tensorflow as _tensorflow  # noqa: F401  (initialises TensorFlow's Python runtime)
except ImportError as _e:  # pragma: no cover - exercised in a TF-free environment
    raise TensorFlowNotInstalledError(
        "fastmeta.tf imports meta graphs into a real tf.Graph and needs TensorFlow, "
        f"which could not be imported ({_e}). Install it with: pip install 'fastmeta[tf]' "
        "(or use fastmeta.rewrite_meta_graph, which does not need TensorFlow)."
    ) from _e

from fastmeta.tf import saved_model  # noqa: E402
from fastmeta.tf._importer import (  # noqa: E402
    import_meta_graph,
    import_meta_graph_with_return_elements,
    import_scoped_meta_graph_with_return_elements,
)
from fastmeta.tf.saved_model import load as saved_model_load  # noqa: E402
