"""fastmeta's own protobuf schemas: freshness, descriptor parity with TF, round trips.

Runs without the C++ extension: the generated modules are imported straight
from ``python/`` when fastmeta is not installed (see ``_fm``).
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY_DIR = ROOT / "python"
PROTO_DIR = ROOT / "protos" / "fastmeta" / "protos"

# fastmeta proto file stem -> TensorFlow module holding the counterpart.
TF_MODULES = {
    "attr_value": "tensorflow.core.framework.attr_value_pb2",
    "checkpoint_state": "tensorflow.python.training.checkpoint_state_pb2",
    "control_flow": "tensorflow.core.protobuf.control_flow_pb2",
    "error_codes": "tensorflow.core.protobuf.error_codes_pb2",
    "full_type": "tensorflow.core.framework.full_type_pb2",
    "function": "tensorflow.core.framework.function_pb2",
    "graph": "tensorflow.core.framework.graph_pb2",
    "graph_debug_info": "tensorflow.core.framework.graph_debug_info_pb2",
    "meta_graph": "tensorflow.core.protobuf.meta_graph_pb2",
    "node_def": "tensorflow.core.framework.node_def_pb2",
    "op_def": "tensorflow.core.framework.op_def_pb2",
    "queue_runner": "tensorflow.core.protobuf.queue_runner_pb2",
    "resource_handle": "tensorflow.core.framework.resource_handle_pb2",
    "saved_model": "tensorflow.core.protobuf.saved_model_pb2",
    "saved_object_graph": "tensorflow.core.protobuf.saved_object_graph_pb2",
    "saved_tensor_slice": "tensorflow.core.util.saved_tensor_slice_pb2",
    "saver": "tensorflow.core.protobuf.saver_pb2",
    "struct": "tensorflow.core.protobuf.struct_pb2",
    "tensor": "tensorflow.core.framework.tensor_pb2",
    "tensor_bundle": "tensorflow.core.protobuf.tensor_bundle_pb2",
    "tensor_shape": "tensorflow.core.framework.tensor_shape_pb2",
    "tensor_slice": "tensorflow.core.framework.tensor_slice_pb2",
    "trackable_object_graph": "tensorflow.core.protobuf.trackable_object_graph_pb2",
    "types": "tensorflow.core.framework.types_pb2",
    "variable": "tensorflow.core.framework.variable_pb2",
    "versions": "tensorflow.core.framework.versions_pb2",
}


def _fm(stem: str) -> types.ModuleType:
    """Import fastmeta.protos.<stem>_pb2 without needing the built extension."""
    name = f"fastmeta.protos.{stem}_pb2"
    if name in sys.modules:
        return sys.modules[name]
    if importlib.util.find_spec("fastmeta") is None and str(PY_DIR) not in sys.path:
        sys.path.insert(0, str(PY_DIR))
    try:
        return importlib.import_module(name)
    except ImportError:
        # fastmeta/__init__.py may import the C++ extension, which need not be
        # built for these tests: load the protos subpackage under a bare parent
        # and drop the stand-in again so later `import fastmeta` is unaffected.
        if "fastmeta" in sys.modules and getattr(sys.modules["fastmeta"], "_fm_stub", False):
            raise
        pkg_dir = PY_DIR / "fastmeta"
        if not (pkg_dir / "protos").is_dir():
            raise
        saved = sys.modules.pop("fastmeta", None)
        stub = types.ModuleType("fastmeta")
        stub.__path__ = [str(pkg_dir)]
        stub._fm_stub = True
        sys.modules["fastmeta"] = stub
        try:
            return importlib.import_module(name)
        finally:
            sys.modules.pop("fastmeta", None)
            if saved is not None:
                sys.modules["fastmeta"] = saved


def _all_fm_modules() -> dict[str, types.ModuleType]:
    return {p.stem: _fm(p.stem) for p in sorted(PROTO_DIR.glob("*.proto"))}


# --------------------------------------------------------------------------- (a)


def test_generated_code_is_fresh():
    pytest.importorskip("grpc_tools")
    res = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_proto_has_a_tf_counterpart_listed():
    stems = {p.stem for p in PROTO_DIR.glob("*.proto")}
    assert stems == set(TF_MODULES)


# --------------------------------------------------------------------------- (b)


@pytest.fixture(scope="module")
def tf_pool():
    pytest.importorskip("tensorflow")
    from google.protobuf import descriptor_pool

    for mod in TF_MODULES.values():
        importlib.import_module(mod)
    return descriptor_pool.Default()


def _tf_name(fm_full_name: str) -> str:
    assert fm_full_name.startswith("fastmeta.")
    rest = fm_full_name[len("fastmeta.") :]
    if rest == "Code":  # TF keeps the error codes in a sub-package
        return "tensorflow.error.Code"
    return "tensorflow." + rest


def _walk_messages(desc):
    yield desc
    for nested in desc.nested_types:
        if not nested.GetOptions().map_entry:
            yield from _walk_messages(nested)


def _walk_enums(file_desc):
    yield from file_desc.enum_types_by_name.values()
    for msg in file_desc.message_types_by_name.values():
        for m in _walk_messages(msg):
            yield from m.enum_types


def _is_map(f) -> bool:
    return f.message_type is not None and f.message_type.GetOptions().map_entry


def _field_facts(f) -> dict:
    facts = {
        "number": f.number,
        "type": f.type,
        "repeated": f.is_repeated,
        "required": f.is_required,
        "packed": f.is_packed,
        "presence": f.has_presence,
        "oneof": f.containing_oneof.name if f.containing_oneof else None,
        "map": _is_map(f),
        "type_name": (f.message_type.name if f.message_type else f.enum_type.name if f.enum_type else None),
    }
    if facts["map"]:
        k = f.message_type.fields_by_name["key"]
        v = f.message_type.fields_by_name["value"]
        facts["map_key"] = k.type
        facts["map_value"] = (
            v.type,
            v.message_type.name if v.message_type else v.enum_type.name if v.enum_type else None,
        )
    return facts


def _fm_messages():
    out = []
    for mod in _all_fm_modules().values():
        for msg in mod.DESCRIPTOR.message_types_by_name.values():
            out.extend(_walk_messages(msg))
    return out


def test_descriptors_match_tensorflow(tf_pool):
    checked = 0
    problems = []
    for fm_msg in _fm_messages():
        tf_msg = tf_pool.FindMessageTypeByName(_tf_name(fm_msg.full_name))
        fm_fields = {f.name: f for f in fm_msg.fields}
        tf_fields = {f.name: f for f in tf_msg.fields}
        if set(fm_fields) != set(tf_fields):
            problems.append(f"{fm_msg.full_name}: fields {sorted(set(fm_fields) ^ set(tf_fields))} differ")
            continue
        for name, f in fm_fields.items():
            a, b = _field_facts(f), _field_facts(tf_fields[name])
            if a != b:
                problems.append(f"{fm_msg.full_name}.{name}: fastmeta {a} != tf {b}")
        fm_oneofs = sorted(o.name for o in fm_msg.oneofs)
        tf_oneofs = sorted(o.name for o in tf_msg.oneofs)
        if fm_oneofs != tf_oneofs:
            problems.append(f"{fm_msg.full_name}: oneofs {fm_oneofs} != {tf_oneofs}")
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 60


def test_enums_match_tensorflow(tf_pool):
    checked = 0
    problems = []
    for mod in _all_fm_modules().values():
        for fm_enum in _walk_enums(mod.DESCRIPTOR):
            tf_enum = tf_pool.FindEnumTypeByName(_tf_name(fm_enum.full_name))
            a = {v.name: v.number for v in fm_enum.values}
            b = {v.name: v.number for v in tf_enum.values}
            if a != b:
                problems.append(f"{fm_enum.full_name}: {sorted(set(a.items()) ^ set(b.items()))}")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 8


def test_everything_meta_graph_reaches_is_covered(tf_pool):
    """Every TF message/enum reachable from MetaGraphDef exists here."""
    from tensorflow.core.protobuf import meta_graph_pb2 as tf_mg

    fm_names = {_tf_name(m.full_name) for m in _fm_messages()}
    for mod in _all_fm_modules().values():
        fm_names.update(_tf_name(e.full_name) for e in _walk_enums(mod.DESCRIPTOR))

    missing, seen = set(), set()
    stack = [tf_mg.MetaGraphDef.DESCRIPTOR]
    while stack:
        d = stack.pop()
        if d.full_name in seen:
            continue
        seen.add(d.full_name)
        for f in d.fields:
            if f.enum_type is not None and f.enum_type.full_name not in fm_names:
                missing.add(f.enum_type.full_name)
            mt = f.message_type
            if mt is None or mt.full_name.startswith("google.protobuf."):
                continue
            if mt.GetOptions().map_entry:
                stack.append(mt)  # look through to the value type
                continue
            if mt.full_name not in fm_names:
                missing.add(mt.full_name)
            stack.append(mt)
    assert not missing, sorted(missing)


# --------------------------------------------------------------------------- (c)


def _build_tf_meta_graph():
    """A small TF1-style graph touching most of the schema."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.ops import control_flow_util

    v1 = tf.compat.v1
    saved_flag = control_flow_util.ENABLE_CONTROL_FLOW_V2
    g = tf.Graph()
    try:
        with g.as_default():
            x = v1.placeholder(tf.float32, [None, 3], name="x")
            w = v1.get_variable("w", [3, 2], use_resource=False)  # ref variable
            b = v1.get_variable("b", [2], use_resource=True)  # resource variable
            step = v1.train.get_or_create_global_step()
            y = tf.matmul(x, w) + b
            loss = tf.reduce_sum(y * y)

            control_flow_util.ENABLE_CONTROL_FLOW_V2 = False  # v1 contexts -> collections
            i0 = tf.constant(0)
            _, loss_w = v1.while_loop(lambda i, acc: i < 3, lambda i, acc: (i + 1, acc * 0.5), [i0, loss])
            loss_c = v1.cond(loss > 1.0, lambda: loss_w * 2.0, lambda: loss_w)

            control_flow_util.ENABLE_CONTROL_FLOW_V2 = True  # functional ops + library
            loss_v2 = v1.cond(loss_c > 0.0, lambda: loss_c + 1.0, lambda: loss_c - 1.0)

            v1.train.GradientDescentOptimizer(0.1).minimize(loss_v2, global_step=step)
            v1.train.AdamOptimizer(0.01).minimize(loss, var_list=[b])

            q = v1.FIFOQueue(4, [tf.float32], name="q")
            v1.train.add_queue_runner(v1.train.QueueRunner(q, [q.enqueue([1.0])]))
            v1.add_to_collection("my_ints", 7)
            v1.add_to_collection("my_floats", 2.5)
            v1.add_to_collection("my_strings", "hello")

            sp = v1.sparse_placeholder(tf.int64, name="sp")
            rt = tf.RaggedTensor.from_row_splits(tf.constant([1.0, 2.0, 3.0]), [0, 1, 3])
            v1.train.Saver()
            mg = v1.train.export_meta_graph()
            build = v1.saved_model.utils.build_tensor_info
            sig = mg.signature_def["serving_default"]
            sig.method_name = "tensorflow/serving/predict"
            sig.inputs["x"].CopyFrom(build(x))
            sig.inputs["sp"].CopyFrom(build(sp))
            sig.outputs["y"].CopyFrom(build(y))
            sig.outputs["rt"].CopyFrom(build(rt))
            sig.defaults["x"].CopyFrom(tf.make_tensor_proto([[1.0, 2.0, 3.0]], tf.float32))
    finally:
        control_flow_util.ENABLE_CONTROL_FLOW_V2 = saved_flag
    return mg


@pytest.fixture(scope="module")
def tf_meta_graph():
    mg = _build_tf_meta_graph()
    # Sanity: the graph really exercises the interesting parts of the schema.
    keys = set(mg.collection_def)
    assert {
        "variables",
        "trainable_variables",
        "train_op",
        "cond_context",
        "while_context",
        "queue_runners",
        "my_ints",
        "my_floats",
    } <= keys
    assert mg.graph_def.library.function, "expected functional cond bodies"
    assert mg.signature_def["serving_default"].outputs["rt"].HasField("composite_tensor")
    assert mg.signature_def["serving_default"].inputs["sp"].HasField("coo_sparse")
    return mg


def test_binary_round_trip(tf_meta_graph):
    from google.protobuf import unknown_fields

    fm = _fm("meta_graph")
    tf_bytes = tf_meta_graph.SerializeToString(deterministic=True)
    ours = fm.MetaGraphDef.FromString(tf_bytes)
    assert len(unknown_fields.UnknownFieldSet(ours)) == 0
    assert ours.SerializeToString(deterministic=True) == tf_bytes
    # And back into TensorFlow's class.
    back = type(tf_meta_graph).FromString(ours.SerializeToString(deterministic=True))
    assert back == tf_meta_graph
    assert ours.ByteSize() == tf_meta_graph.ByteSize()


def test_text_round_trip(tf_meta_graph):
    from google.protobuf import text_format

    fm = _fm("meta_graph")
    ours = fm.MetaGraphDef.FromString(tf_meta_graph.SerializeToString(deterministic=True))

    ours_text = text_format.MessageToString(ours)
    tf_text = text_format.MessageToString(tf_meta_graph)
    assert ours_text == tf_text

    # fastmeta text -> TF parse
    tf_parsed = text_format.Parse(ours_text, type(tf_meta_graph)())
    assert tf_parsed == tf_meta_graph
    # TF text -> fastmeta parse
    ours_parsed = text_format.Parse(tf_text, fm.MetaGraphDef())
    assert ours_parsed == ours
    assert ours_parsed.SerializeToString(deterministic=True) == tf_meta_graph.SerializeToString(deterministic=True)


def test_collection_payloads_round_trip(tf_meta_graph):
    """bytes_list collections hold serialized protos; parse them with our classes."""
    from tensorflow.core.framework import variable_pb2 as tf_var
    from tensorflow.core.protobuf import control_flow_pb2 as tf_cf
    from tensorflow.core.protobuf import queue_runner_pb2 as tf_qr

    kinds = {
        "variables": (_fm("variable").VariableDef, tf_var.VariableDef),
        "trainable_variables": (_fm("variable").VariableDef, tf_var.VariableDef),
        "cond_context": (_fm("control_flow").CondContextDef, tf_cf.CondContextDef),
        "while_context": (_fm("control_flow").WhileContextDef, tf_cf.WhileContextDef),
        "queue_runners": (_fm("queue_runner").QueueRunnerDef, tf_qr.QueueRunnerDef),
    }
    for key, (cls, tf_cls) in kinds.items():
        values = tf_meta_graph.collection_def[key].bytes_list.value
        assert values, key
        for raw in values:
            # TF wrote these non-deterministically (map order), so compare
            # deterministic re-serializations of both parses.
            ours = cls.FromString(raw).SerializeToString(deterministic=True)
            assert ours == tf_cls.FromString(raw).SerializeToString(deterministic=True), key
            assert tf_cls.FromString(ours) == tf_cls.FromString(raw), key
    qr = _fm("queue_runner").QueueRunnerDef.FromString(
        tf_meta_graph.collection_def["queue_runners"].bytes_list.value[0]
    )
    assert list(qr.queue_closed_exception_types) == [_fm("error_codes").OUT_OF_RANGE]


def test_checkpoint_messages_round_trip(tf_pool):
    from google.protobuf import text_format
    from tensorflow.core.protobuf import tensor_bundle_pb2 as tf_tb
    from tensorflow.core.util import saved_tensor_slice_pb2 as tf_sts
    from tensorflow.python.training import checkpoint_state_pb2 as tf_cs

    header = tf_tb.BundleHeaderProto(num_shards=2, endianness=tf_tb.BundleHeaderProto.BIG)
    header.version.producer = 1
    header.version.bad_consumers.extend([3, 4])
    entry = tf_tb.BundleEntryProto(dtype=1, shard_id=1, offset=10, size=20, crc32c=0xDEADBEEF)
    entry.shape.dim.add(size=4)
    ext = entry.slices.add().extent
    ext.add(start=0, length=2)
    ext.add()  # full extent: no length
    slices = tf_sts.SavedTensorSlices()
    slices.meta.tensor.add(name="w", type=1).slice.add().extent.add(start=1)
    slices.data.name = "w"
    slices.data.data.float_val.extend([1.0, 2.0])
    state = tf_cs.CheckpointState(
        model_checkpoint_path="model.ckpt-2",
        all_model_checkpoint_paths=["model.ckpt-1", "model.ckpt-2"],
        all_model_checkpoint_timestamps=[1.5, 2.5],
        last_preserved_timestamp=0.25,
    )
    pairs = [
        (header, _fm("tensor_bundle").BundleHeaderProto),
        (entry, _fm("tensor_bundle").BundleEntryProto),
        (slices, _fm("saved_tensor_slice").SavedTensorSlices),
        (state, _fm("checkpoint_state").CheckpointState),
    ]
    for tf_msg, cls in pairs:
        raw = tf_msg.SerializeToString(deterministic=True)
        ours = cls.FromString(raw)
        assert ours.SerializeToString(deterministic=True) == raw
        text = text_format.MessageToString(tf_msg)
        assert text_format.MessageToString(ours) == text
        assert text_format.Parse(text, cls()) == ours
    # presence of the one-member oneof survives
    fm_entry = _fm("tensor_bundle").BundleEntryProto.FromString(entry.SerializeToString())
    assert fm_entry.slices[0].extent[0].HasField("length")
    assert not fm_entry.slices[0].extent[1].HasField("length")
