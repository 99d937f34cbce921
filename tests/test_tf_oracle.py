"""Sanity tests of the TF oracle (tests/tf_oracle.py) and of the fixture corpus."""

from __future__ import annotations

import glob
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tf_oracle  # noqa: E402
from corpus_fixtures import CORPUS, FIXTURES, IDS, MANIFEST  # noqa: E402
from tf_oracle import describe_item, diff_graph_defs, tf_import  # noqa: E402

REGISTERED_KINDS = {
    "variables": "VariableDef",
    "trainable_variables": "VariableDef",
    "local_variables": "VariableDef",
    "model_variables": "VariableDef",
    "moving_average_variables": "VariableDef",
    "global_step": "VariableDef",
    "metric_variables": "VariableDef",
    "savers": "SaverDef",
    "queue_runners": "QueueRunnerDef",
    "cond_context": "CondContextDef",
    "while_context": "WhileContextDef",
}


def _tf():
    return pytest.importorskip("tensorflow")


def _placeholder(tf, spec):
    r = spec["replacement"]
    assert r["kind"] == "placeholder"
    return tf.compat.v1.placeholder(tf.as_dtype(r["dtype"]), r["shape"], name=r["name"])


def _required(fx):
    """(pre_import creating the required unbound-input replacement, input_map) or (None, None)."""
    req = fx["required_input_map"]
    if not req:
        return None, {}
    tf = _tf()
    return (lambda g: _placeholder(tf, req)), {req["key"]: req["replacement"]["name"] + ":0"}


def _path(fx):
    return CORPUS / fx["file"]


def _chain(*fns):
    def run(g):
        for f in fns:
            if f is not None:
                f(g)

    return run


def _variant_kwargs(fx, variant):
    tf = _tf()
    pre_req, imap = _required(fx)
    kw = {}
    if variant == "no_scope":
        pass
    elif variant == "scope":
        kw["import_scope"] = "imp"
    elif variant == "scope_clear_devices":
        kw.update(import_scope="imp", clear_devices=True)
    elif variant == "scope_taken":

        def first(g, fx=fx, imap=dict(imap)):  # noqa: B006 - binds this variant's map
            im = {k: g.get_tensor_by_name(v) for k, v in imap.items()} or None
            tf.compat.v1.train.import_meta_graph(str(_path(fx)), import_scope="imp", input_map=im)

        kw["import_scope"] = "imp"
        pre_req = _chain(pre_req, first)
    elif variant == "input_map":
        spec = fx["input_map"]
        if spec is None:
            pytest.skip("fixture has no input_map spec")
        kw["import_scope"] = "imp"
        pre_req = _chain(pre_req, lambda g: _placeholder(tf, spec))
        imap = dict(imap, **{spec["key"]: spec["replacement"]["name"] + ":0"})
    else:
        raise AssertionError(variant)
    return dict(kw, pre_import=pre_req, input_map=imap or None)


VARIANTS = ["no_scope", "scope", "scope_clear_devices", "scope_taken", "input_map"]


# ----------------------------------------------------------------------------
# corpus / manifest
# ----------------------------------------------------------------------------
def test_manifest_files_exist_and_small():
    total = 0
    for fx in MANIFEST["fixtures"]:
        assert _path(fx).is_file(), fx["file"]
        if fx["checkpoint"]:
            prefix = CORPUS / fx["checkpoint"]
            if fx["saver_version"] == "V1":  # the file itself, or a sharded pattern's files
                assert len(glob.glob(str(prefix))) == (2 if "-of-00002" in str(prefix) else 1)
            else:
                assert Path(str(prefix) + ".index").is_file()
            assert (prefix.parent / "checkpoint").is_file()
    for p in CORPUS.rglob("*"):
        if p.is_file():
            total += p.stat().st_size
    assert total < 3 * 1024 * 1024
    assert (HERE.parent / "examples" / "mlp.meta").is_file()


def test_manifest_covers_features():
    feats = set()
    for fx in MANIFEST["fixtures"]:
        feats.update(fx["features"])
    for f in [
        "ref_variables",
        "resource_variables",
        "adam",
        "momentum",
        "devices",
        "colocation",
        "control_flow_v1",
        "control_flow_v2",
        "queue_runners",
        "partitioned_variables",
        "hash_tables",
        "summaries",
        "saver_v1",
        "no_saver_def",
        "no_variables",
        "strip_default_attrs",
        "text_format",
        "multi_output",
        "control_dependencies",
        "nested_scopes",
        "global_step",
        "local_variables",
        "model_variables",
        "moving_average_variables",
        "metric_variables",
        "unbound_inputs",
        "custom_collections",
        "checkpoint",
        "keras",
        "rnn",
        "tf_data",
        "replica_device_setter",
        "savers_collection",
        "sparse",
        "defun",
        "function_gradients",
        "saved_model",
        "signature_def",
        "asset_file_def",
        "tf2_saved_model",
    ]:
        assert f in feats, f


# ----------------------------------------------------------------------------
# tf_import on every fixture, every variant
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", IDS)
def test_tf_import_variants(name, variant):
    _tf()
    fx = FIXTURES[name]
    out = tf_import(_path(fx), **_variant_kwargs(fx, variant))
    assert len(out.graph_def.node) >= fx["num_nodes"]
    if fx["has_saver_def"] or fx["has_variables"]:
        assert out.saver is not None and out.saver[0] == "SaverDef"
    else:
        assert out.saver is None
    expected = set(fx["collections"]) - {"unbound_inputs"}
    assert expected <= set(out.collections)
    for key, items in out.collections.items():
        if key in REGISTERED_KINDS:
            assert {k[0] for k in items} == {REGISTERED_KINDS[key]}, key
    scope = "imp_1" if variant == "scope_taken" else ("imp" if variant != "no_scope" else None)
    names = {n.name for n in out.graph_def.node}
    if scope:
        assert any(n.startswith(scope + "/") for n in names)
    if variant == "scope_clear_devices":
        # (a fresh Saver() built for metas without saver_def puts its restore ops on CPU)
        assert all(n.device == "" for n in out.graph_def.node if n.name.startswith("imp/"))
    if variant == "input_map":
        key = fx["input_map"]["key"]
        repl = fx["input_map"]["replacement"]["name"]
        consumers = [n for n in out.graph_def.node if repl in [i.split(":")[0] for i in n.input]]
        assert consumers, f"nothing consumes {repl} (mapped from {key})"
    if variant == "scope_taken" and fx["has_saver_def"]:
        # The Saver's scope is read off the first imported variable; a meta graph without
        # variable collections (a TF2 SavedModel's) falls back to the raw import_scope: the
        # Saver points at the first copy's ops.
        want = "imp_1/" if fx["has_variables"] else "imp/"
        assert f'filename_tensor_name: "{want}' in out.saver[1]


def test_tf_import_bytes_and_message_equivalent_to_path():
    tf = _tf()
    fx = FIXTURES["mlp_ref"]
    data = _path(fx).read_bytes()
    a = tf_import(_path(fx), import_scope="imp")
    b = tf_import(data, import_scope="imp")
    msg = tf.compat.v1.MetaGraphDef.FromString(data)
    c = tf_import(msg, import_scope="imp")
    d = tf_import(msg, import_scope="imp")  # the message must not have been mutated
    for o in (b, c, d):
        assert diff_graph_defs(a.graph_def, o.graph_def) == []
        assert o.collections == a.collections
        assert o.saver == a.saver
    assert msg == tf.compat.v1.MetaGraphDef.FromString(data)


def test_text_fixture_equivalent_to_binary():
    _tf()
    a = tf_import(_path(FIXTURES["mlp_ref"]), import_scope="s")
    b = tf_import(_path(FIXTURES["mlp_ref_text"]), import_scope="s")
    assert diff_graph_defs(a.graph_def, b.graph_def) == []
    assert a.collections == b.collections and a.saver == b.saver


def test_checkpoints_restore():
    tf = _tf()
    import numpy as np

    for fx in MANIFEST["fixtures"]:
        if not fx["checkpoint"]:
            continue
        g = tf.Graph()
        with g.as_default():
            saver = tf.compat.v1.train.import_meta_graph(str(_path(fx)), clear_devices=True)
            with tf.compat.v1.Session(graph=g) as sess:
                saver.restore(sess, str(CORPUS / fx["checkpoint"]))
                vals = sess.run([v for v in tf.compat.v1.global_variables()])
                assert any(np.any(np.asarray(v) != 0) for v in vals)
        latest = tf.train.latest_checkpoint(str((CORPUS / fx["checkpoint"]).parent))
        assert latest is not None and latest.endswith(Path(fx["checkpoint"]).name)


# ----------------------------------------------------------------------------
# describe_item
# ----------------------------------------------------------------------------
def test_describe_item_kinds_tf():
    _tf()
    out = tf_import(_path(FIXTURES["mlp_ref"]))
    c = out.collections
    assert {k for k, *_ in c["variables"]} == {"VariableDef"}
    assert c["my_tensors"][0] == ("tensor", "logits:0")
    assert {k for k, *_ in c["my_ops"]} == {"operation"}
    assert ("bytes", b"hello") in c["my_bytes"]
    assert ("int", 2**40) in c["my_int64"]
    assert ("float", 0.5) in c["my_float"]
    assert c["my_any"][0][0] == "any" and c["my_any"][0][1] == "type.googleapis.com/tensorflow.TensorShapeProto"
    assert out.saver[0] == "SaverDef" and 'restore_op_name: "save/restore_all"' in out.saver[1]

    scoped = tf_import(_path(FIXTURES["mlp_ref"]), import_scope="imp")
    assert ("str", "imp/hello") in scoped.collections["my_bytes"]
    assert scoped.collections["my_tensors"][0] == ("tensor", "imp/logits:0")
    assert 'variable_name: "imp/layer1/weights:0"' in scoped.collections["trainable_variables"][0][1]
    assert '"imp/save/restore_all"' in scoped.saver[1]

    cf = tf_import(_path(FIXTURES["control_flow_v1"]), import_scope="imp").collections
    assert {k for k, *_ in cf["cond_context"]} == {"CondContextDef"}
    assert {k for k, *_ in cf["while_context"]} == {"WhileContextDef"}
    q = tf_import(_path(FIXTURES["queues"])).collections
    assert {k for k, *_ in q["queue_runners"]} == {"QueueRunnerDef"}


def test_describe_item_duck_typed():
    from google.protobuf import any_pb2

    class FakeSaverDef:  # stands in for a proto with a descriptor
        pass

    class Tensor:
        name, value_index = "a:0", 0

    class Op:
        name, type, node_def = "a", "Const", object()

    assert describe_item(Tensor()) == ("tensor", "a:0")
    assert describe_item(Op()) == ("operation", "a")
    assert describe_item("x") == ("str", "x")
    assert describe_item(b"x") == ("bytes", b"x")
    assert describe_item(3) == ("int", 3)
    assert describe_item(True) == ("int", 1)
    assert describe_item(2.5) == ("float", 2.5)
    a = any_pb2.Any(type_url="t/u", value=b"\x01")
    assert describe_item(a) == ("any", "t/u", b"\x01")

    tf = pytest.importorskip("tensorflow")
    sd = tf.compat.v1.train.SaverDef(restore_op_name="r", save_tensor_name="s")

    class SaverLike:
        saver_def = sd

    class ProtoLike:
        def to_proto(self):
            return tf.compat.v1.train.SaverDef(restore_op_name="x")

    assert describe_item(SaverLike())[0] == "SaverDef"
    assert describe_item(SaverLike()) == describe_item(sd)
    assert describe_item(ProtoLike()) == ("SaverDef", 'restore_op_name: "x"\n')
    del FakeSaverDef


# ----------------------------------------------------------------------------
# diff_graph_defs
# ----------------------------------------------------------------------------
def _gd():
    _tf()
    return tf_import(_path(FIXTURES["mlp_ref"]), import_scope="imp").graph_def


def _copy(gd):
    c = type(gd)()
    c.CopyFrom(gd)
    return c


def test_diff_equal():
    gd = _gd()
    assert diff_graph_defs(gd, _copy(gd)) == []


def test_diff_detects_device_attr_inputs_order():
    gd = _gd()
    idx = next(i for i, n in enumerate(gd.node) if len(n.input) >= 2)
    b = _copy(gd)
    b.node[idx].device = "/device:GPU:7"
    d = diff_graph_defs(gd, b)
    assert len(d) == 1 and "device" in d[0]

    b = _copy(gd)
    ins = list(b.node[idx].input)
    del b.node[idx].input[:]
    b.node[idx].input.extend(reversed(ins))
    d = diff_graph_defs(gd, b)
    assert len(d) == 1 and "inputs" in d[0]

    b = _copy(gd)
    t = next(i for i, n in enumerate(b.node) if "T" in n.attr)
    b.node[t].attr["T"].type = 2  # DT_DOUBLE
    d = diff_graph_defs(gd, b)
    assert len(d) == 1 and "attr 'T'" in d[0]

    b = _copy(gd)
    b.node[t].attr["_extra"].s = b"x"
    assert any("only in b" in x for x in diff_graph_defs(gd, b))
    assert diff_graph_defs(gd, b, ignore_attrs={"_extra"}) == []

    b = _copy(gd)
    n0, n1 = _copy_node(b.node[0]), _copy_node(b.node[1])
    b.node[0].CopyFrom(n1)
    b.node[1].CopyFrom(n0)
    d = diff_graph_defs(gd, b)
    assert any("order" in x for x in d)
    assert diff_graph_defs(gd, b, check_order=False) == []

    b = _copy(gd)
    b.versions.producer = 1
    assert any("versions" in x for x in diff_graph_defs(gd, b))

    b = _copy(gd)
    del b.node[-1]
    d = diff_graph_defs(gd, b)
    assert any("node count" in x for x in d) and any("only in a" in x for x in d)


def _copy_node(n):
    c = type(n)()
    c.CopyFrom(n)
    return c


def test_diff_library_order_insensitive():
    _tf()
    gd = tf_import(_path(FIXTURES["control_flow_v2"])).graph_def
    assert len(gd.library.function) > 1
    b = _copy(gd)
    fs = [type(f)() for f in b.library.function]
    for c, f in zip(fs, b.library.function):
        c.CopyFrom(f)
    del b.library.function[:]
    b.library.function.extend(reversed(fs))
    assert diff_graph_defs(gd, b) == []
    b.library.function[0].node_def[0].device = "/cpu:0"
    assert any("function" in x for x in diff_graph_defs(gd, b))


def test_diff_cross_class():
    """b of a different generated class (own descriptor pool) is converted."""
    _tf()
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    gd = _gd()
    pool = descriptor_pool.DescriptorPool()
    seen = set()

    def add(fd):
        if fd.name in seen:
            return
        for dep in fd.dependencies:
            add(dep)
        p = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(p)
        pool.Add(p)
        seen.add(fd.name)

    add(gd.DESCRIPTOR.file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.GraphDef"))
    other = cls.FromString(gd.SerializeToString())
    assert type(other) is not type(gd)
    assert diff_graph_defs(gd, other) == []
    assert diff_graph_defs(other, gd) == []
    other.node[0].device = "/device:CPU:9"
    assert len(diff_graph_defs(gd, other)) == 1


# ----------------------------------------------------------------------------
# A few of the TF behaviours documented in TF_BEHAVIOUR.md (guards against a
# TF upgrade silently changing them).
# ----------------------------------------------------------------------------
def _imp_txt(txt, **kw):
    tf = _tf()
    from google.protobuf import text_format

    mg = tf.compat.v1.MetaGraphDef()
    text_format.Parse(txt, mg.graph_def)
    return tf_import(mg, **kw).graph_def


_F = 'attr { key: "T" value { type: DT_FLOAT } }'


def _C(name, extra=""):
    return (
        f'node {{ name: "{name}" op: "Const" {extra} attr {{ key: "dtype" value {{ type: DT_FLOAT }} }} '
        f'attr {{ key: "value" value {{ tensor {{ dtype: DT_FLOAT tensor_shape {{}} float_val: 1 }} }} }} }}\n'
    )


def _I(name, *inp, extra=""):
    ins = " ".join(f'input: "{i}"' for i in inp)
    return f'node {{ name: "{name}" op: "Identity" {ins} {extra} {_F} }}\n'


def test_behaviour_order_smallest_index_first():
    gd = _imp_txt(_C("p") + _I("q", "p") + _C("s"))
    assert [n.name for n in gd.node] == ["p", "q", "s"]
    gd = _imp_txt(_I("x", "m") + _C("m") + _C("y") + _I("w", "x"))
    assert [n.name for n in gd.node] == ["m", "x", "y", "w"]


def test_behaviour_inputs_canonical_controls_sorted():
    gd = _imp_txt(_C("zz") + _C("aa") + _C("mm") + _I("out", "zz:0", "^mm", "^aa", "^zz", "^mm"))
    assert list(gd.node[-1].input) == ["zz", "^aa", "^mm", "^zz"]


def test_behaviour_devices():
    gd = _imp_txt(
        _C("a", 'device: "/job:ps/task:0/cpu:0"')
        + _C("b", 'device: "/gpu:0"')
        + _C("c", 'device: "/task:1/job:w"')
        + _I("d", "a", extra='device: "/cpu:3" attr { key: "_class" value { list { s: "loc:@b" } } }')
    )
    assert [n.device for n in gd.node] == [
        "/job:ps/task:0/device:CPU:0",
        "/device:GPU:0",
        "/job:w/task:1",
        "/device:GPU:0",
    ]


def test_behaviour_output_shapes_removed_defaults_added():
    _tf()
    out = tf_import(_path(FIXTURES["stripped_defaults"]))
    conv = next(n for n in out.graph_def.node if n.name == "conv")
    assert "_output_shapes" not in conv.attr
    assert {"data_format", "dilations", "use_cudnn_on_gpu"} <= set(conv.attr)


def test_oracle_module_has_no_tf_import_at_module_level():
    src = Path(tf_oracle.__file__).read_text()
    assert "\nimport tensorflow" not in src
