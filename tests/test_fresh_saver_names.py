"""The fresh Saver (no saver_def in the file) when the import renames a variable's op
because the target graph already has one of that name: TensorFlow's Saver names and
restores the variable by the handle its read op reads (``w_1``), not by the
VariableDef's own name (``w``, now another op). The TF-free Saver does the same; a ref
variable whose name no longer leads to a variable op is refused, as TensorFlow refuses
it."""

from __future__ import annotations

import os

import fastmeta
import pytest
from tf_oracle import diff_graph_defs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
v1 = tf.compat.v1


def _meta(use_resource: bool) -> bytes:
    g = tf.Graph()
    with g.as_default():
        v1.get_variable("w", [2], use_resource=use_resource)
        v1.get_variable("b", [3], use_resource=use_resource)
        return v1.train.export_meta_graph().SerializeToString()  # type: ignore[no-any-return]


@pytest.mark.parametrize("scope", [None, "imp/", "imp"])
def test_a_renamed_resource_variable_is_saved_under_its_new_name(scope: str | None) -> None:
    data = _meta(use_resource=True)
    clash = "w" if scope is None else "imp/w"
    g = tf.Graph()
    with g.as_default():
        v1.placeholder(tf.float32, [], name=clash)
        tf_saver = v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data), import_scope=scope)
    fm = fastmeta.Graph()
    with fm.as_default():
        fm.placeholder("float32", [], name=clash)
        fm_saver = fastmeta.import_meta_graph(data, import_scope=scope)
    assert fm_saver is not None and tf_saver is not None
    assert diff_graph_defs(fm.as_graph_def(), g.as_graph_def()) == []
    names = next(n for n in fm.as_graph_def().node if n.name == "save/SaveV2/tensor_names")
    assert sorted(names.attr["value"].tensor.string_val) == sorted([f"{clash}_1".encode(), clash[:-1].encode() + b"b"])


def test_a_ref_variable_renamed_away_is_refused_as_tensorflow_refuses_it() -> None:
    data = _meta(use_resource=False)
    g = tf.Graph()
    with g.as_default(), pytest.raises(TypeError, match="not a Variable") as tf_info:
        v1.placeholder(tf.float32, [], name="w")
        v1.train.import_meta_graph(v1.MetaGraphDef.FromString(data))
    fm = fastmeta.Graph()
    with fm.as_default():
        fm.placeholder("float32", [], name="w")
        before = fm.as_graph_def()
        with pytest.raises(fastmeta.CollectionTypeError, match="not a Variable") as info:
            fastmeta.import_meta_graph(data)
        assert fm.as_graph_def() == before
    assert str(info.value) == f"collection 'variables': no Saver can be built: {tf_info.value}"
