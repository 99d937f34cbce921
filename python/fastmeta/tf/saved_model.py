"""``fastmeta.tf.saved_model.load``: a drop-in for ``tf.compat.v1.saved_model.loader.load``.

Switch one call::

    meta_graph_def = fastmeta.tf.saved_model.load(sess, ["serve"], export_dir)
    # was: tf.compat.v1.saved_model.loader.load(sess, ["serve"], export_dir)

The meta graph is read with fastmeta (memory-mapped; only the chosen meta graph is parsed
in full, the others wire-checked as protobuf would parse them) and imported with
:func:`fastmeta.tf.import_meta_graph`; the rest is what
TensorFlow's loader does in the session, with TensorFlow's own functions: the returned
Saver restores ``<export_dir>/variables/variables``, then the init op (the
``__saved_model_init_op`` signature's, else ``main_op``, else ``legacy_init_op``) runs with
the asset tensors fed their paths. The MetaGraphDef returned is the one TensorFlow's loader
returns (TensorFlow's class), including what TensorFlow's import writes into it: the
scoped ``saver_def`` of the Saver it built (with ``import_scope``), node devices cleared
(with ``clear_devices=True``) and the default attrs of TensorFlow's op registry added to
the nodes (a file written with ``strip_default_attrs``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import meta_graph_pb2 as tf_meta_graph_pb2
from tensorflow.python.framework import importer as tf_importer
from tensorflow.python.framework import op_def_registry
from tensorflow.python.ops import variables as tf_variables
from tensorflow.python.platform import tf_logging as logging
from tensorflow.python.saved_model import loader_impl
from tensorflow.python.training import saver as saver_lib

from fastmeta.errors import SavedModelParseError
from fastmeta.reading import LoadedMetaGraph
from fastmeta.saved_model import read_saved_model, reported_in_file, variables_path
from fastmeta.tf._importer import import_meta_graph

__all__ = ["load"]


def load(
    sess: Any,
    tags: Iterable[str],
    export_dir: str | os.PathLike[str],
    import_scope: str | None = None,
    **saver_kwargs: Any,
) -> tf_meta_graph_pb2.MetaGraphDef:
    """Drop-in for ``tf.compat.v1.saved_model.loader.load(sess, tags, export_dir,
    import_scope=None, **saver_kwargs)``: the same graph, variable values, init-op effects
    and returned ``MetaGraphDef``.

    The SavedModel file's errors are fastmeta's typed ones with TensorFlow's messages
    (:class:`fastmeta.SavedModelNotFoundError`, an ``OSError``;
    :class:`fastmeta.SavedModelParseError`, an ``OSError``;
    :class:`fastmeta.TagsNotFoundError`, a ``RuntimeError``); the import's are
    :func:`fastmeta.tf.import_meta_graph`'s (which leaves the graph unchanged); the
    restore and the init op fail in the session as TensorFlow's do (after the import).
    """
    # (a path-like taken as its path all the way: TensorFlow's asset lookup below takes
    # only str and bytes)
    export_dir = os.fspath(export_dir)
    saved = read_saved_model(export_dir)
    meta = saved.meta_graph_to_load(tags)
    with sess.graph.as_default():
        with reported_in_file(saved, meta):
            # (read one level deeper than a .meta file's: protobuf's nesting limit counts
            # from the SavedModel)
            loaded = LoadedMetaGraph(
                meta.data, meta.rest, "<bytes>", None, saved.text_format, 0 if saved.text_format else 1
            )
            saver = import_meta_graph(loaded, import_scope=import_scope, **saver_kwargs)
        try:
            returned = tf_meta_graph_pb2.MetaGraphDef.FromString(bytes(meta.data))
        except DecodeError as e:  # (a field the import does not read)
            raise SavedModelParseError(
                f"Cannot parse file {saved.path}: meta graph {meta.index}: {e}", path=saved.path
            ) from None
        # TensorFlow's import writes into the MetaGraphDef it then returns: the Saver it
        # builds from the saver_def scopes that very message, and clear_devices clears
        # the devices of its nodes.
        if saver is not None and returned.HasField("saver_def"):
            returned.saver_def.CopyFrom(saver.saver_def)
        clear_devices = bool(saver_kwargs.get("clear_devices"))
        for node in returned.graph_def.node:
            if clear_devices:
                node.device = ""
            # (and TensorFlow's importer adds its registry's default attrs to the nodes of
            # the GraphDef it is handed: the message's own)
            op_def = op_def_registry.get(node.op)
            if op_def is not None:
                tf_importer._SetDefaultAttrValues(node, op_def)
        # (then drops the attrs its registry lacks that hold the file's op list default:
        # a newer producer's)
        if returned.meta_info_def.HasField("stripped_op_list"):
            tf_importer._RemoveDefaultAttrs(returned.meta_info_def.stripped_op_list, returned.graph_def)
        # TensorFlow's restore_variables
        if saver is None and not tf_variables._all_saveable_objects(scope=import_scope):
            logging.info("The specified SavedModel has no variables; no checkpoints were restored.")
        elif isinstance(saver, saver_lib.Saver):
            saver.restore(sess, variables_path(export_dir))
        else:
            raise ValueError(
                "No tf.train.Saver object was passed to the function "
                "`SavedModelLoader.restore_variables`. Since there are variables in the graph, "
                "a saver is required."
            )
        # TensorFlow's run_init_ops
        assets = loader_impl.get_asset_tensors(export_dir, returned, import_scope=import_scope)
        init_op = loader_impl.get_init_op(returned, import_scope)
        if init_op is not None:
            sess.run(fetches=[init_op], feed_dict=assets)
    return returned
