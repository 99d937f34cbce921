"""Deterministic generator of realistic multi-tower training meta graphs (no TensorFlow).

The graph is what a TF1-style data-parallel trainer exports: an input queue, towers of
conv and dense layers on ``/job:worker/.../GPU:i`` sharing variables on ``/job:ps`` tasks,
per-tower gradients (``tower_3/gradients/...``, ``tuple/control_dependency`` with
``loc:@`` colocation), tower averaging, Adam with its slots, an ``init`` op, summaries, a
sharded V2 saver and collections of every kind. Devices mix canonical and legacy
spellings, some towers have their default attrs stripped (the file's stripped_op_list
carries the defaults), node order is creation order with a few reversed windows.

Every op is a real TensorFlow op with consistent shapes, so TensorFlow's own
``import_meta_graph`` accepts the file (the smoke test checks it). Nodes are written
straight to the wire format (attr values built once with fastmeta.protos and reused),
which keeps a 1M-node graph to well under a minute.

    python benchmarks/generate.py --nodes 1000000 --out benchmarks/data/train_1m.meta
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from fastmeta.protos import (
    attr_value_pb2,
    meta_graph_pb2,
    op_def_pb2,
    queue_runner_pb2,
    saver_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
    variable_pb2,
)

GENERATOR_VERSION = 2
DATA_DIR = Path(__file__).resolve().parent / "data"
GRAPH_DEF_PRODUCER = 2474  # TensorFlow 2.21's GraphDef version (the op defs below are its)

F32, I32, STR, I64, RES = (
    types_pb2.DT_FLOAT,
    types_pb2.DT_INT32,
    types_pb2.DT_STRING,
    types_pb2.DT_INT64,
    types_pb2.DT_RESOURCE,
)
Shape = tuple[int, ...] | None  # None: unknown rank; -1: unknown dim

# TensorFlow's registered interfaces of the ops used (inputs, outputs, attrs[=default][>=min],
# stateful), in a compact REGISTER_OP-like syntax. Checked against TF's registry by the tests.
OP_SPECS: dict[str, tuple[str, str, str, bool]] = {
    "Const": ("", "output:dtype", "value:tensor; dtype:type", False),
    "Identity": ("input:T", "output:T", "T:type", False),
    "NoOp": ("", "", "", False),
    "VariableV2": ("", "ref:Ref(dtype)", "shape:shape; dtype:type; container:string=''; shared_name:string=''", True),
    "Assign": (
        "ref:Ref(T), value:T",
        "output_ref:Ref(T)",
        "T:type; validate_shape:bool=true; use_locking:bool=true",
        False,
    ),
    "AssignAdd": ("ref:Ref(T), value:T", "output_ref:Ref(T)", "T:type; use_locking:bool=false", False),
    "TruncatedNormal": ("shape:T", "output:dtype", "seed:int=0; seed2:int=0; dtype:type; T:type", True),
    "RandomUniform": ("shape:T", "output:dtype", "seed:int=0; seed2:int=0; dtype:type; T:type", True),
    "RandomUniformInt": (
        "shape:T, minval:Tout, maxval:Tout",
        "output:Tout",
        "seed:int=0; seed2:int=0; Tout:type; T:type",
        True,
    ),
    "Mul": ("x:T, y:T", "z:T", "T:type", False),
    "AddV2": ("x:T, y:T", "z:T", "T:type", False),
    "RealDiv": ("x:T, y:T", "z:T", "T:type", False),
    "Conv2D": (
        "input:T, filter:T",
        "output:T",
        "T:type; strides:list(int); use_cudnn_on_gpu:bool=true; padding:string; "
        "explicit_paddings:list(int)=[]; data_format:string='NHWC'; "
        "dilations:list(int)=[1,1,1,1]",
        False,
    ),
    "Conv2DBackpropInput": (
        "input_sizes:DT_INT32, filter:T, out_backprop:T",
        "output:T",
        "T:type; strides:list(int); use_cudnn_on_gpu:bool=true; "
        "padding:string; explicit_paddings:list(int)=[]; "
        "data_format:string='NHWC'; dilations:list(int)=[1,1,1,1]",
        False,
    ),
    "Conv2DBackpropFilter": (
        "input:T, filter_sizes:DT_INT32, out_backprop:T",
        "output:T",
        "T:type; strides:list(int); use_cudnn_on_gpu:bool=true; "
        "padding:string; explicit_paddings:list(int)=[]; "
        "data_format:string='NHWC'; dilations:list(int)=[1,1,1,1]",
        False,
    ),
    "BiasAdd": ("value:T, bias:T", "output:T", "T:type; data_format:string='NHWC'", False),
    "BiasAddGrad": ("out_backprop:T", "output:T", "T:type; data_format:string='NHWC'", False),
    "Relu": ("features:T", "activations:T", "T:type", False),
    "ReluGrad": ("gradients:T, features:T", "backprops:T", "T:type", False),
    "MatMul": (
        "a:T, b:T",
        "product:T",
        "transpose_a:bool=false; transpose_b:bool=false; T:type; grad_a:bool=false; grad_b:bool=false",
        False,
    ),
    "Reshape": ("tensor:T, shape:Tshape", "output:T", "T:type; Tshape:type=DT_INT32", False),
    "Shape": ("input:T", "output:out_type", "T:type; out_type:type=DT_INT32", False),
    "ShapeN": ("input:N*T", "output:N*out_type", "N:int>=1; T:type; out_type:type=DT_INT32", False),
    "Fill": ("dims:index_type, value:T", "output:T", "T:type; index_type:type=DT_INT32", False),
    "Tile": ("input:T, multiples:Tmultiples", "output:T", "T:type; Tmultiples:type=DT_INT32", False),
    "ExpandDims": ("input:T, dim:Tdim", "output:T", "T:type; Tdim:type=DT_INT32", False),
    "ConcatV2": ("values:N*T, axis:Tidx", "output:T", "N:int>=2; T:type; Tidx:type=DT_INT32", False),
    "Mean": ("input:T, reduction_indices:Tidx", "output:T", "keep_dims:bool=false; T:type; Tidx:type=DT_INT32", False),
    "SparseSoftmaxCrossEntropyWithLogits": (
        "features:T, labels:Tlabels",
        "loss:T, backprop:T",
        "T:type; Tlabels:type=DT_INT64",
        False,
    ),
    "PreventGradient": ("input:T", "output:T", "T:type; message:string=''", False),
    "ApplyAdam": (
        "var:Ref(T), m:Ref(T), v:Ref(T), beta1_power:T, beta2_power:T, lr:T, beta1:T, beta2:T, epsilon:T, grad:T",
        "out:Ref(T)",
        "T:type; use_locking:bool=false; use_nesterov:bool=false",
        False,
    ),
    "FIFOQueueV2": (
        "",
        "handle:DT_RESOURCE",
        "component_types:list(type)>=1; shapes:list(shape)=[]>=0; capacity:int=-1; "
        "container:string=''; shared_name:string=''",
        True,
    ),
    "QueueEnqueueManyV2": (
        "handle:DT_RESOURCE, components:Tcomponents",
        "",
        "Tcomponents:list(type)>=1; timeout_ms:int=-1",
        True,
    ),
    "QueueDequeueManyV2": (
        "handle:DT_RESOURCE, n:DT_INT32",
        "components:component_types",
        "component_types:list(type)>=1; timeout_ms:int=-1",
        True,
    ),
    "QueueCloseV2": ("handle:DT_RESOURCE", "", "cancel_pending_enqueues:bool=false", True),
    "ScalarSummary": ("tags:DT_STRING, values:T", "summary:DT_STRING", "T:type", False),
    "MergeSummary": ("inputs:N*DT_STRING", "summary:DT_STRING", "N:int>=1", False),
    "SaveV2": (
        "prefix:DT_STRING, tensor_names:DT_STRING, shape_and_slices:DT_STRING, tensors:dtypes",
        "",
        "dtypes:list(type)>=1",
        True,
    ),
    "RestoreV2": (
        "prefix:DT_STRING, tensor_names:DT_STRING, shape_and_slices:DT_STRING",
        "tensors:dtypes",
        "dtypes:list(type)>=1",
        True,
    ),
    "MergeV2Checkpoints": (
        "checkpoint_prefixes:DT_STRING, destination_prefix:DT_STRING",
        "",
        "delete_old_dirs:bool=true; allow_missing_files:bool=false",
        True,
    ),
    "ShardedFilename": ("basename:DT_STRING, shard:DT_INT32, num_shards:DT_INT32", "filename:DT_STRING", "", False),
    "StringJoin": ("inputs:N*DT_STRING", "output:DT_STRING", "N:int>=0; separator:string=''", False),
    "Pack": ("values:N*T", "output:T", "N:int>=1; T:type; axis:int=0", False),
    "PlaceholderWithDefault": ("input:dtype", "output:dtype", "dtype:type; shape:shape", False),
}


# ---------------------------------------------------------------- wire format helpers


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


# ---------------------------------------------------------------- attr values (cached bytes)

_ATTR_CACHE: dict[tuple[object, ...], bytes] = {}


def _shape_proto(shape: Shape) -> tensor_shape_pb2.TensorShapeProto:
    proto = tensor_shape_pb2.TensorShapeProto()
    if shape is None:
        proto.unknown_rank = True
    else:
        for d in shape:
            proto.dim.add(size=d)
    return proto


def _cached(key: tuple[object, ...], make: Callable[[], bytes]) -> bytes:
    value = _ATTR_CACHE.get(key)
    if value is None:
        value = _ATTR_CACHE[key] = make()
    return value


def a_type(dt: int) -> bytes:
    return _cached(("type", dt), lambda: attr_value_pb2.AttrValue(type=dt).SerializeToString())


def a_bool(b: bool) -> bytes:
    return _cached(("b", b), lambda: attr_value_pb2.AttrValue(b=b).SerializeToString())


def a_int(i: int) -> bytes:
    return _cached(("i", i), lambda: attr_value_pb2.AttrValue(i=i).SerializeToString())


def a_str(s: str) -> bytes:
    return _cached(("s", s), lambda: attr_value_pb2.AttrValue(s=s.encode()).SerializeToString())


def a_shape(shape: Shape) -> bytes:
    return _cached(
        ("shape", shape),
        lambda: attr_value_pb2.AttrValue(shape=_shape_proto(shape)).SerializeToString(),
    )


def a_ints(values: Sequence[int]) -> bytes:
    key = ("ints", tuple(values))

    def make() -> bytes:
        v = attr_value_pb2.AttrValue()
        v.list.SetInParent()
        v.list.i.extend(values)
        return v.SerializeToString()

    return _cached(key, make)


def a_types(values: Sequence[int]) -> bytes:
    key = ("types", tuple(values))

    def make() -> bytes:
        v = attr_value_pb2.AttrValue()
        v.list.SetInParent()
        v.list.type.extend(values)
        return v.SerializeToString()

    return _cached(key, make)


def a_shapes(shapes: Sequence[Shape]) -> bytes:
    key = ("shapes", tuple(shapes))

    def make() -> bytes:
        v = attr_value_pb2.AttrValue()
        v.list.SetInParent()
        for s in shapes:
            v.list.shape.add().CopyFrom(_shape_proto(s))
        return v.SerializeToString()

    return _cached(key, make)


def a_loc(*targets: str) -> bytes:
    v = attr_value_pb2.AttrValue()
    v.list.s.extend(f"loc:@{t}".encode() for t in targets)
    return v.SerializeToString()


Scalar = float | int | str | bytes


def a_tensor(dtype: int, shape: tuple[int, ...], values: Sequence[Scalar]) -> bytes:
    key = ("tensor", dtype, shape, tuple(values))

    def make() -> bytes:
        t = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=_shape_proto(shape))
        if dtype == F32:
            t.float_val.extend(float(x) for x in values)  # type: ignore[arg-type]
        elif dtype == I32:
            t.int_val.extend(int(x) for x in values)  # type: ignore[arg-type]
        elif dtype == I64:
            t.int64_val.extend(int(x) for x in values)  # type: ignore[arg-type]
        elif dtype == STR:
            t.string_val.extend(x if isinstance(x, bytes) else str(x).encode() for x in values)
        else:
            raise ValueError(f"unsupported const dtype {dtype}")
        return attr_value_pb2.AttrValue(tensor=t).SerializeToString()

    return _cached(key, make) if len(values) <= 16 else make()


# ---------------------------------------------------------------- op defs


def _attr_default(kind: str, text: str) -> attr_value_pb2.AttrValue:
    v = attr_value_pb2.AttrValue()
    if kind == "string":
        v.s = text.strip("'").encode()
    elif kind == "bool":
        v.b = text == "true"
    elif kind == "int":
        v.i = int(text)
    elif kind == "type":
        v.type = types_pb2.DataType.Value(text)
    elif kind.startswith("list("):
        v.list.SetInParent()
        items = [x for x in text.strip("[]").split(",") if x]
        if kind == "list(int)":
            v.list.i.extend(int(x) for x in items)
        elif items:
            raise ValueError(f"unsupported default {kind}={text}")
    else:
        raise ValueError(f"unsupported default {kind}={text}")
    return v


def _arg(spec: str, arg: op_def_pb2.OpDef.ArgDef) -> None:
    name, _, kind = spec.partition(":")
    arg.name = name.strip()
    kind = kind.strip()
    if kind.startswith("Ref("):
        arg.is_ref = True
        kind = kind[4:-1]
    if "*" in kind:
        arg.number_attr, _, kind = kind.partition("*")
    if kind.startswith("DT_"):
        arg.type = types_pb2.DataType.Value(kind)
    else:
        arg.type_attr = kind


def op_def(name: str) -> op_def_pb2.OpDef:
    """The OpDef of one op of :data:`OP_SPECS` (with its default attr values)."""
    inputs, outputs, attrs, stateful = OP_SPECS[name]
    d = op_def_pb2.OpDef(name=name, is_stateful=stateful)
    for spec in filter(None, (s.strip() for s in inputs.split(","))):
        _arg(spec, d.input_arg.add())
    for spec in filter(None, (s.strip() for s in outputs.split(","))):
        _arg(spec, d.output_arg.add())
    for spec in filter(None, (s.strip() for s in attrs.split(";"))):
        head, _, minimum = spec.partition(">=")
        attr_name, _, rest = head.partition(":")
        kind, eq, default = rest.partition("=")
        a = d.attr.add(name=attr_name, type=kind)
        if eq:
            a.default_value.CopyFrom(_attr_default(kind, default))
        if minimum:
            a.has_minimum = True
            a.minimum = int(minimum)
    # Type-list args are declared as list(type) attrs: fix the arg kind.
    list_attrs = {a.name for a in d.attr if a.type == "list(type)"}
    for arg in list(d.input_arg) + list(d.output_arg):
        if arg.type_attr in list_attrs:
            arg.type_list_attr = arg.type_attr
            arg.type_attr = ""
    return d


def _defaults() -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for name in OP_SPECS:
        out[name] = {
            a.name: a.default_value.SerializeToString() for a in op_def(name).attr if a.HasField("default_value")
        }
    return out


# ---------------------------------------------------------------- the graph builder


@dataclass(frozen=True)
class Params:
    """Everything the generated graph depends on (the cache key)."""

    layers: int  # conv + dense layers per tower (the size knob)
    towers: int = 4
    ps_tasks: int = 4
    batch: int = 32
    hw: int = 8
    channels: int = 16
    units: int = 64
    classes: int = 10
    seed: int = 1234
    version: int = GENERATOR_VERSION

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


@dataclass
class Var:
    name: str
    shape: tuple[int, ...]
    dtype: int
    device: str
    ps_task: int
    initial_value: str
    trainable: bool


class Builder:
    """Collects serialized NodeDefs in creation order."""

    def __init__(self, params: Params) -> None:
        self.p = params
        self.rng = random.Random(params.seed)
        self.nodes: list[bytes] = []
        self.names: set[str] = set()
        self.ops_used: set[str] = set()
        self.defaults = _defaults()
        self.strip_defaults = False
        self.shapes = True

    def node(
        self,
        name: str,
        op: str,
        inputs: Iterable[str] = (),
        *,
        device: str = "",
        attrs: dict[str, bytes] | None = None,
        ctrl: Iterable[str] = (),
        loc: Sequence[str] = (),
        out: Sequence[Shape] = (),
    ) -> str:
        if name in self.names:
            raise ValueError(f"duplicate node {name}")
        self.names.add(name)
        self.ops_used.add(op)
        parts = [_ld(1, name.encode()), _ld(2, op.encode())]
        parts.extend(_ld(3, i.encode()) for i in inputs)
        # TensorFlow writes a node's control inputs sorted by name, without repeats
        # (Graph::ToGraphDef): every .meta it writes has them so.
        parts.extend(_ld(3, b"^" + c) for c in sorted({c.encode() for c in ctrl}))
        if device:
            parts.append(_ld(4, device.encode()))
        all_attrs = dict(attrs or {})
        defaults = self.defaults[op]
        for key, value in defaults.items():
            all_attrs.setdefault(key, value)
        if self.strip_defaults:
            for key, value in defaults.items():
                if all_attrs.get(key) == value:
                    del all_attrs[key]
        if loc:
            all_attrs["_class"] = a_loc(*loc)
        if out and self.shapes:
            all_attrs["_output_shapes"] = a_shapes(out)
        for key in sorted(all_attrs):
            parts.append(_ld(5, _ld(1, key.encode()) + _ld(2, all_attrs[key])))
        self.nodes.append(b"".join(parts))
        return name

    # -- helpers for common nodes

    def const(self, name: str, dtype: int, shape: tuple[int, ...], values: Sequence[Scalar], **kw: object) -> str:
        return self.node(
            name,
            "Const",
            attrs={"dtype": a_type(dtype), "value": a_tensor(dtype, shape, values)},
            out=[shape],
            **kw,  # type: ignore[arg-type]
        )

    def identity(self, name: str, x: str, dtype: int, shape: Shape, **kw: object) -> str:
        return self.node(
            name,
            "Identity",
            [x],
            attrs={"T": a_type(dtype)},
            out=[shape],
            **kw,  # type: ignore[arg-type]
        )


def ps_device(task: int, k: int) -> str:
    spellings = (
        f"/job:ps/replica:0/task:{task}/device:CPU:0",
        f"/job:ps/task:{task}",
        f"/job:ps/replica:0/task:{task}/cpu:0",
        f"/job:ps/replica:0/task:{task}/device:CPU:0",
    )
    return spellings[k % len(spellings)]


def gpu_device(i: int) -> str:
    spellings = (
        f"/job:worker/replica:0/task:0/device:GPU:{i}",
        f"/job:worker/task:0/gpu:{i}",
        f"/job:worker/replica:0/task:0/device:GPU:{i}",
        f"/job:worker/replica:0/task:0/gpu:{i}",
    )
    return spellings[i % len(spellings)]


WORKER_CPU = "/job:worker/replica:0/task:0/device:CPU:0"
LEGACY_WORKER_CPU = "/job:worker/task:0/cpu:0"


class TrainingGraph:
    """Builds the MetaGraphDef of one multi-tower training setup."""

    def __init__(self, params: Params) -> None:
        if params.towers < 2:
            raise ValueError("towers must be >= 2 (tower averaging concatenates)")
        self.p = params
        self.b = Builder(params)
        self.vars: list[Var] = []
        self.model_vars: list[Var] = []
        self.n_conv = max(1, params.layers // 2)
        self.n_dense = max(1, params.layers - self.n_conv)
        self.var_count = 0

    # -- variables

    def variable(
        self,
        name: str,
        shape: tuple[int, ...],
        init: str,
        *,
        dtype: int = F32,
        trainable: bool = True,
        colocate: Var | None = None,
        init_value: Scalar = 0.0,
    ) -> Var:
        b = self.b
        if colocate is None:
            task = self.var_count % self.p.ps_tasks
            device = ps_device(task, self.var_count)
            self.var_count += 1
        else:
            task = colocate.ps_task
            device = ps_device(task, len(self.vars))
        loc = colocate.name if colocate is not None else name
        prefix = f"{name}/Initializer" if colocate is None or init == "zeros" else name
        if init == "truncated_normal":
            s = f"{prefix}/truncated_normal"
            b.const(f"{s}/shape", I32, (len(shape),), list(shape), loc=[loc], device=device)
            b.const(f"{s}/mean", F32, (), [0.0], loc=[loc], device=device)
            b.const(f"{s}/stddev", F32, (), [0.05], loc=[loc], device=device)
            b.node(
                f"{s}/TruncatedNormal",
                "TruncatedNormal",
                [f"{s}/shape"],
                attrs={"dtype": a_type(F32), "T": a_type(I32), "seed": a_int(0), "seed2": a_int(0)},
                loc=[loc],
                device=device,
                out=[shape],
            )
            b.node(
                f"{s}/mul",
                "Mul",
                [f"{s}/TruncatedNormal", f"{s}/stddev"],
                attrs={"T": a_type(F32)},
                loc=[loc],
                device=device,
                out=[shape],
            )
            initial = b.node(
                s, "AddV2", [f"{s}/mul", f"{s}/mean"], attrs={"T": a_type(F32)}, loc=[loc], device=device, out=[shape]
            )
        elif init == "zeros":
            initial = b.const(f"{prefix}/zeros", dtype, shape, [0], loc=[loc], device=device)
        else:  # a scalar initial value
            initial = b.const(f"{name}/initial_value", dtype, shape, [init_value], loc=[loc], device=device)
        vattrs = {"shape": a_shape(shape), "dtype": a_type(dtype)}
        b.node(
            name,
            "VariableV2",
            attrs=vattrs,
            device=device,
            out=[shape],
            loc=[colocate.name] if colocate is not None else (),
        )
        b.node(
            f"{name}/Assign",
            "Assign",
            [name, initial],
            attrs={"T": a_type(dtype), "use_locking": a_bool(True), "validate_shape": a_bool(True)},
            loc=[loc],
            device=device,
            out=[shape],
        )
        b.identity(f"{name}/read", name, dtype, shape, loc=[loc], device=device)
        var = Var(name, shape, dtype, device, task, initial, trainable)
        self.vars.append(var)
        if trainable:
            self.model_vars.append(var)
        return var

    # -- the model

    def build(self) -> meta_graph_pb2.MetaGraphDef:
        p, b = self.p, self.b
        self.global_step = self.variable("global_step", (), "zeros", dtype=I64, trainable=False)
        self.input_pipeline()
        tower_losses: list[str] = []
        summaries: list[str] = []
        grads: list[list[str]] = []
        for i in range(p.towers):
            b.strip_defaults = i % 2 == 1
            b.shapes = i % 4 != 3
            loss, summary, tower_grads = self.tower(i)
            tower_losses.append(loss)
            summaries.append(summary)
            grads.append(tower_grads)
        b.strip_defaults = False
        b.shapes = True
        averaged = self.average(grads)
        self.adam(averaged)
        b.node("init", "NoOp", ctrl=[f"{v.name}/Assign" for v in self.vars])
        merged = b.node(
            "Merge/MergeSummary",
            "MergeSummary",
            [f"{s}" for s in summaries],
            attrs={"N": a_int(len(summaries))},
            device=WORKER_CPU,
            out=[()],
        )
        saver_def = self.saver()
        return self.meta_graph(saver_def, tower_losses, [*summaries, merged])

    def input_pipeline(self) -> None:
        p, b = self.p, self.b
        img = (p.batch, p.hw, p.hw, 3)
        d = WORKER_CPU
        q = b.node(
            "input_producer/fifo_queue",
            "FIFOQueueV2",
            attrs={
                "component_types": a_types([F32, I32]),
                "shapes": a_shapes([img[1:], ()]),
                "capacity": a_int(64 * p.batch),
            },
            device=d,
            out=[()],
        )
        b.const("input_producer/random_images/shape", I32, (4,), list(img), device=d)
        b.node(
            "input_producer/random_images",
            "RandomUniform",
            ["input_producer/random_images/shape"],
            attrs={"dtype": a_type(F32), "T": a_type(I32), "seed": a_int(7), "seed2": a_int(1)},
            device=d,
            out=[img],
        )
        b.const("input_producer/random_labels/shape", I32, (1,), [p.batch], device=d)
        b.const("input_producer/random_labels/min", I32, (), [0], device=d)
        b.const("input_producer/random_labels/max", I32, (), [p.classes], device=d)
        b.node(
            "input_producer/random_labels",
            "RandomUniformInt",
            [
                "input_producer/random_labels/shape",
                "input_producer/random_labels/min",
                "input_producer/random_labels/max",
            ],
            attrs={"Tout": a_type(I32), "T": a_type(I32), "seed": a_int(7), "seed2": a_int(2)},
            device=d,
            out=[(p.batch,)],
        )
        b.node(
            "input_producer/fifo_queue_EnqueueMany",
            "QueueEnqueueManyV2",
            [q, "input_producer/random_images", "input_producer/random_labels"],
            attrs={"Tcomponents": a_types([F32, I32])},
            device=d,
        )
        b.node(
            "input_producer/fifo_queue_Close",
            "QueueCloseV2",
            [q],
            attrs={"cancel_pending_enqueues": a_bool(False)},
            device=d,
        )
        b.node(
            "input_producer/fifo_queue_Close_1",
            "QueueCloseV2",
            [q],
            attrs={"cancel_pending_enqueues": a_bool(True)},
            device=LEGACY_WORKER_CPU,
        )

    def conv_attrs(self) -> dict[str, bytes]:
        return {
            "T": a_type(F32),
            "strides": a_ints([1, 1, 1, 1]),
            "padding": a_str("SAME"),
            "data_format": a_str("NHWC"),
            "use_cudnn_on_gpu": a_bool(True),
            "dilations": a_ints([1, 1, 1, 1]),
            "explicit_paddings": a_ints([]),
        }

    def tower(self, i: int) -> tuple[str, str, list[str]]:
        """Forward pass, loss and gradients of one tower; returns (loss, summary, weight grads
        in self.model_vars order)."""
        p, b = self.p, self.b
        t = f"tower_{i}"
        dev = gpu_device(i)
        B, H, C = p.batch, p.hw, p.channels
        create = i == 0
        T = {"T": a_type(F32)}
        n = b.const(f"{t}/fifo_queue_DequeueMany/n", I32, (), [B], device=dev)
        deq = b.node(
            f"{t}/fifo_queue_DequeueMany",
            "QueueDequeueManyV2",
            ["input_producer/fifo_queue", n],
            attrs={"component_types": a_types([F32, I32])},
            device=WORKER_CPU,
            out=[(B, H, H, 3), (B,)],
        )
        x, x_shape = deq, (B, H, H, 3)
        layer_io: list[tuple[str, str, str, str, Var, Var, tuple[int, ...], tuple[int, ...]]] = []
        var_index = 0

        def layer_vars(
            scope: str, wshape: tuple[int, ...], bshape: tuple[int, ...], wname: str, bname: str
        ) -> tuple[Var, Var]:
            nonlocal var_index
            if create:
                w = self.variable(f"{scope}/{wname}", wshape, "truncated_normal")
                bias = self.variable(f"{scope}/{bname}", bshape, "zeros")
            else:
                w, bias = self.model_vars[var_index], self.model_vars[var_index + 1]
            var_index += 2
            return w, bias

        for j in range(self.n_conv):
            scope = f"conv_{j}"
            cin = 3 if j == 0 else C
            w, bias = layer_vars(scope, (3, 3, cin, C), (C,), "weights", "biases")
            out_shape = (B, H, H, C)
            conv = b.node(
                f"{t}/{scope}/Conv2D",
                "Conv2D",
                [x, f"{w.name}/read"],
                attrs=self.conv_attrs(),
                device=dev,
                out=[out_shape],
            )
            add = b.node(
                f"{t}/{scope}/BiasAdd",
                "BiasAdd",
                [conv, f"{bias.name}/read"],
                attrs={**T, "data_format": a_str("NHWC")},
                device=dev,
                out=[out_shape],
            )
            relu = b.node(f"{t}/{scope}/Relu", "Relu", [add], attrs=T, device=dev, out=[out_shape])
            layer_io.append(("conv", scope, x, relu, w, bias, x_shape, out_shape))
            x, x_shape = relu, out_shape
        conv_out, conv_shape = x, x_shape
        flat = (B, H * H * C)
        shp = b.const(f"{t}/flatten/Reshape/shape", I32, (2,), [-1, flat[1]], device=dev)
        x = b.node(
            f"{t}/flatten/Reshape", "Reshape", [x, shp], attrs={**T, "Tshape": a_type(I32)}, device=dev, out=[flat]
        )
        x_shape = flat
        for k in range(self.n_dense + 1):
            last = k == self.n_dense
            scope = "logits" if last else f"dense_{k}"
            units = p.classes if last else p.units
            w, bias = layer_vars(scope, (x_shape[1], units), (units,), "kernel", "bias")
            out_shape = (B, units)
            mm = b.node(
                f"{t}/{scope}/MatMul",
                "MatMul",
                [x, f"{w.name}/read"],
                attrs={**T, "transpose_a": a_bool(False), "transpose_b": a_bool(False)},
                device=dev,
                out=[out_shape],
            )
            y = b.node(
                f"{t}/{scope}/BiasAdd",
                "BiasAdd",
                [mm, f"{bias.name}/read"],
                attrs={**T, "data_format": a_str("NHWC")},
                device=dev,
                out=[out_shape],
            )
            if not last:
                y = b.node(f"{t}/{scope}/Relu", "Relu", [y], attrs=T, device=dev, out=[out_shape])
            layer_io.append(("dense" if not last else "logits", scope, x, y, w, bias, x_shape, out_shape))
            x, x_shape = y, out_shape
        logits = x
        xent = f"{t}/SparseSoftmaxCrossEntropyWithLogits/SparseSoftmaxCrossEntropyWithLogits"
        b.node(
            xent,
            "SparseSoftmaxCrossEntropyWithLogits",
            [logits, f"{deq}:1"],
            attrs={**T, "Tlabels": a_type(I32)},
            device=dev,
            out=[(B,), (B, p.classes)],
        )
        b.const(f"{t}/Const", I32, (1,), [0], device=dev)
        loss = b.node(
            f"{t}/Mean",
            "Mean",
            [xent, f"{t}/Const"],
            attrs={**T, "Tidx": a_type(I32), "keep_dims": a_bool(False)},
            device=dev,
            out=[()],
        )
        b.const(f"{t}/loss/tags", STR, (), [f"{t}/loss"], device=WORKER_CPU)
        summary = b.node(f"{t}/loss", "ScalarSummary", [f"{t}/loss/tags", loss], attrs=T, device=WORKER_CPU, out=[()])

        # -- gradients (reverse order)
        g = f"{t}/gradients"
        b.node(f"{g}/Shape", "Shape", [loss], attrs={**T, "out_type": a_type(I32)}, device=dev, out=[(0,)])
        b.const(f"{g}/grad_ys_0", F32, (), [1.0], device=dev)
        b.node(
            f"{g}/Fill",
            "Fill",
            [f"{g}/Shape", f"{g}/grad_ys_0"],
            attrs={**T, "index_type": a_type(I32)},
            device=dev,
            out=[()],
        )
        mg = f"{g}/{t}/Mean_grad"
        b.const(f"{mg}/Reshape/shape", I32, (1,), [1], device=dev)
        b.node(
            f"{mg}/Reshape",
            "Reshape",
            [f"{g}/Fill", f"{mg}/Reshape/shape"],
            attrs={**T, "Tshape": a_type(I32)},
            device=dev,
            out=[(1,)],
        )
        b.node(f"{mg}/Shape", "Shape", [xent], attrs={**T, "out_type": a_type(I32)}, device=dev, out=[(1,)])
        b.node(
            f"{mg}/Tile",
            "Tile",
            [f"{mg}/Reshape", f"{mg}/Shape"],
            attrs={**T, "Tmultiples": a_type(I32)},
            device=dev,
            out=[(-1,)],
        )
        b.const(f"{mg}/Const", F32, (), [float(B)], device=dev)
        b.node(f"{mg}/truediv", "RealDiv", [f"{mg}/Tile", f"{mg}/Const"], attrs=T, device=dev, out=[(-1,)])
        xg = f"{g}/{xent}_grad"
        b.const(f"{xg}/ExpandDims/dim", I32, (), [-1], device=dev)
        b.node(
            f"{xg}/ExpandDims",
            "ExpandDims",
            [f"{mg}/truediv", f"{xg}/ExpandDims/dim"],
            attrs={**T, "Tdim": a_type(I32)},
            device=dev,
            out=[(-1, 1)],
        )
        b.node(
            f"{xg}/PreventGradient",
            "PreventGradient",
            [f"{xent}:1"],
            attrs={
                **T,
                "message": a_str(
                    "Currently there is no way to take the second derivative of "
                    "sparse_softmax_cross_entropy_with_logits due to the fused implementation's "
                    "interaction with tf.gradients()"
                ),
            },
            device=dev,
            out=[(B, p.classes)],
        )
        dy = b.node(
            f"{xg}/mul", "Mul", [f"{xg}/ExpandDims", f"{xg}/PreventGradient"], attrs=T, device=dev, out=[(B, p.classes)]
        )
        grads_by_var: dict[str, str] = {}

        def tuple_deps(scope: str, *deps: tuple[str, Shape]) -> tuple[str, str]:
            """TF's ``tuple``: a group_deps NoOp and one control_dependency identity per
            tensor, colocated with it; returns the first and the last identity."""
            gd = b.node(f"{scope}/tuple/group_deps", "NoOp", ctrl=[d for d, _ in deps], device=dev)
            outs = [
                b.node(
                    f"{scope}/tuple/control_dependency{suffix}",
                    "Identity",
                    [src],
                    attrs=T,
                    ctrl=[gd],
                    loc=[src],
                    device=dev,
                    out=[shape],
                )
                for (src, shape), suffix in zip(deps, ("", "_1"))
            ]
            return outs[0], outs[-1]

        for kind, scope, x_in, y_out, w, bias, in_shape, out_shape in reversed(layer_io):
            s = f"{g}/{t}/{scope}"
            if kind != "logits":
                dy = b.node(f"{s}/Relu_grad/ReluGrad", "ReluGrad", [dy, y_out], attrs=T, device=dev, out=[out_shape])
            bg = b.node(
                f"{s}/BiasAdd_grad/BiasAddGrad",
                "BiasAddGrad",
                [dy],
                attrs={**T, "data_format": a_str("NHWC")},
                device=dev,
                out=[(out_shape[-1],)],
            )
            dy, bias_grad = tuple_deps(f"{s}/BiasAdd_grad", (dy, out_shape), (bg, bias.shape))
            if kind == "conv":
                c = f"{s}/Conv2D_grad"
                b.node(
                    f"{c}/ShapeN",
                    "ShapeN",
                    [x_in, f"{w.name}/read"],
                    attrs={**T, "N": a_int(2), "out_type": a_type(I32)},
                    device=dev,
                    out=[(4,), (4,)],
                )
                first_layer = scope == "conv_0"
                dx = None
                if not first_layer:
                    dx = b.node(
                        f"{c}/Conv2DBackpropInput",
                        "Conv2DBackpropInput",
                        [f"{c}/ShapeN", f"{w.name}/read", dy],
                        attrs=self.conv_attrs(),
                        device=dev,
                        out=[in_shape],
                    )
                dw = b.node(
                    f"{c}/Conv2DBackpropFilter",
                    "Conv2DBackpropFilter",
                    [x_in, f"{c}/ShapeN:1", dy],
                    attrs=self.conv_attrs(),
                    device=dev,
                    out=[w.shape],
                )
                if dx is None:
                    _, w_grad = tuple_deps(c, (dw, w.shape))
                else:
                    dy, w_grad = tuple_deps(c, (dx, in_shape), (dw, w.shape))
            else:
                c = f"{s}/MatMul_grad"
                dx = b.node(
                    f"{c}/MatMul",
                    "MatMul",
                    [dy, f"{w.name}/read"],
                    attrs={**T, "transpose_a": a_bool(False), "transpose_b": a_bool(True)},
                    device=dev,
                    out=[in_shape],
                )
                dw = b.node(
                    f"{c}/MatMul_1",
                    "MatMul",
                    [x_in, dy],
                    attrs={**T, "transpose_a": a_bool(True), "transpose_b": a_bool(False)},
                    device=dev,
                    out=[w.shape],
                )
                dy, w_grad = tuple_deps(c, (dx, in_shape), (dw, w.shape))
                if scope == "dense_0":
                    # Back through the flatten.
                    fr = f"{g}/{t}/flatten/Reshape_grad"
                    b.node(
                        f"{fr}/Shape", "Shape", [conv_out], attrs={**T, "out_type": a_type(I32)}, device=dev, out=[(4,)]
                    )
                    dy = b.node(
                        f"{fr}/Reshape",
                        "Reshape",
                        [dy, f"{fr}/Shape"],
                        attrs={**T, "Tshape": a_type(I32)},
                        device=dev,
                        out=[conv_shape],
                    )
            grads_by_var[w.name] = w_grad
            grads_by_var[bias.name] = bias_grad
        return loss, summary, [grads_by_var[v.name] for v in self.model_vars]

    def average(self, grads: list[list[str]]) -> list[str]:
        """Average each variable's gradient over the towers (on the worker's CPU)."""
        b = self.b
        T = {"T": a_type(F32)}
        dim = b.const("average_gradients/ExpandDims/dim", I32, (), [0], device=WORKER_CPU)
        axis = b.const("average_gradients/concat/axis", I32, (), [0], device=WORKER_CPU)
        out: list[str] = []
        for k, var in enumerate(self.model_vars):
            s = f"average_gradients/{var.name}"
            dev = WORKER_CPU if k % 3 else LEGACY_WORKER_CPU
            expanded = []
            for i, tower_grads in enumerate(grads):
                suffix = "" if i == 0 else f"_{i}"
                expanded.append(
                    b.node(
                        f"{s}/ExpandDims{suffix}",
                        "ExpandDims",
                        [tower_grads[k], dim],
                        attrs={**T, "Tdim": a_type(I32)},
                        device=dev,
                        out=[(1, *var.shape)],
                    )
                )
            cat = b.node(
                f"{s}/concat",
                "ConcatV2",
                [*expanded, axis],
                attrs={**T, "N": a_int(len(expanded)), "Tidx": a_type(I32)},
                device=dev,
                out=[(len(expanded), *var.shape)],
            )
            out.append(
                b.node(
                    f"{s}/Mean",
                    "Mean",
                    [cat, axis],
                    attrs={**T, "Tidx": a_type(I32), "keep_dims": a_bool(False)},
                    device=dev,
                    out=[var.shape],
                )
            )
        return out

    def adam(self, grads: list[str]) -> None:
        b = self.b
        T = {"T": a_type(F32)}
        first = self.model_vars[0]
        beta1 = self.variable("beta1_power", (), "scalar", trainable=False, colocate=first, init_value=0.9)
        beta2 = self.variable("beta2_power", (), "scalar", trainable=False, colocate=first, init_value=0.999)
        slots: list[tuple[Var, Var]] = []
        for var in list(self.model_vars):
            m = self.variable(f"{var.name}/Adam", var.shape, "zeros", trainable=False, colocate=var)
            v = self.variable(f"{var.name}/Adam_1", var.shape, "zeros", trainable=False, colocate=var)
            slots.append((m, v))
        hp = {}
        for name, value in (("learning_rate", 0.001), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-08)):
            hp[name] = b.const(f"Adam/{name}", F32, (), [value])
        updates = []
        for k, (var, grad, (m, v)) in enumerate(zip(self.model_vars, grads, slots)):
            updates.append(
                b.node(
                    f"Adam/update_{var.name}/ApplyAdam",
                    "ApplyAdam",
                    [
                        var.name,
                        m.name,
                        v.name,
                        f"{beta1.name}/read",
                        f"{beta2.name}/read",
                        hp["learning_rate"],
                        hp["beta1"],
                        hp["beta2"],
                        hp["epsilon"],
                        grad,
                    ],
                    attrs={**T, "use_locking": a_bool(False), "use_nesterov": a_bool(False)},
                    loc=[var.name],
                    device=ps_device(var.ps_task, k + 1),  # TF overrides: colocated with var
                    out=[var.shape],
                )
            )
        mul = b.node(
            "Adam/mul",
            "Mul",
            [f"{beta1.name}/read", hp["beta1"]],
            attrs=T,
            ctrl=updates,
            loc=[first.name],
            device=first.device,
            out=[()],
        )
        a1 = b.node(
            "Adam/Assign",
            "Assign",
            [beta1.name, mul],
            attrs={**T, "use_locking": a_bool(False), "validate_shape": a_bool(True)},
            loc=[first.name],
            device=first.device,
            out=[()],
        )
        mul2 = b.node(
            "Adam/mul_1",
            "Mul",
            [f"{beta2.name}/read", hp["beta2"]],
            attrs=T,
            ctrl=updates,
            loc=[first.name],
            device=first.device,
            out=[()],
        )
        a2 = b.node(
            "Adam/Assign_1",
            "Assign",
            [beta2.name, mul2],
            attrs={**T, "use_locking": a_bool(False), "validate_shape": a_bool(True)},
            loc=[first.name],
            device=first.device,
            out=[()],
        )
        upd = b.node("Adam/update", "NoOp", ctrl=[*updates, a1, a2])
        gs = self.global_step
        b.const("Adam/value", I64, (), [1], loc=[gs.name], device=gs.device)
        b.node(
            "Adam",
            "AssignAdd",
            [gs.name, "Adam/value"],
            ctrl=[upd],
            attrs={"T": a_type(I64), "use_locking": a_bool(False)},
            loc=[gs.name],
            device=gs.device,
            out=[()],
        )

    def saver(self) -> saver_pb2.SaverDef:
        b, p = self.b, self.p
        S = {"T": a_type(STR)}
        cpu = WORKER_CPU
        b.const("save/filename/input", STR, (), ["model"], device=cpu)
        b.node(
            "save/filename",
            "PlaceholderWithDefault",
            ["save/filename/input"],
            attrs={"dtype": a_type(STR), "shape": a_shape(())},
            device=cpu,
            out=[()],
        )
        b.node(
            "save/Const",
            "PlaceholderWithDefault",
            ["save/filename"],
            attrs={"dtype": a_type(STR), "shape": a_shape(())},
            device=cpu,
            out=[()],
        )
        b.const("save/StringJoin/inputs_1", STR, (), ["_temp_6f1f4a/part"], device=cpu)
        b.node(
            "save/StringJoin",
            "StringJoin",
            ["save/Const", "save/StringJoin/inputs_1"],
            attrs={"N": a_int(2), "separator": a_str("")},
            device=cpu,
            out=[()],
        )
        b.const("save/num_shards", I32, (), [p.ps_tasks], device=cpu)
        shards: list[list[Var]] = [[] for _ in range(p.ps_tasks)]
        for var in self.vars:
            shards[var.ps_task].append(var)
        done: list[str] = []
        for k, shard in enumerate(shards):
            sfx = "" if k == 0 else f"_{k}"
            dev = f"/job:ps/replica:0/task:{k}/device:CPU:0"
            b.const(f"save/ShardedFilename{sfx}/shard", I32, (), [k], device=dev)
            fn = b.node(
                f"save/ShardedFilename{sfx}",
                "ShardedFilename",
                ["save/StringJoin", f"save/ShardedFilename{sfx}/shard", "save/num_shards"],
                device=dev,
                out=[()],
            )
            names = sorted(shard, key=lambda v: v.name)
            b.const(f"save/SaveV2{sfx}/tensor_names", STR, (len(names),), [v.name for v in names], device=dev)
            b.const(f"save/SaveV2{sfx}/shape_and_slices", STR, (len(names),), [""] * len(names), device=dev)
            save = b.node(
                f"save/SaveV2{sfx}",
                "SaveV2",
                [fn, f"save/SaveV2{sfx}/tensor_names", f"save/SaveV2{sfx}/shape_and_slices", *(v.name for v in names)],
                attrs={"dtypes": a_types([v.dtype for v in names])},
                device=dev,
            )
            done.append(
                b.node(
                    f"save/control_dependency{sfx}",
                    "Identity",
                    [fn],
                    attrs=S,
                    ctrl=[save],
                    loc=[fn],
                    device=dev,
                    out=[()],
                )
            )
        b.node(
            "save/MergeV2Checkpoints/checkpoint_prefixes",
            "Pack",
            done,
            attrs={"N": a_int(len(done)), "T": a_type(STR), "axis": a_int(0)},
            device=cpu,
            out=[(len(done),)],
        )
        merge = b.node(
            "save/MergeV2Checkpoints",
            "MergeV2Checkpoints",
            ["save/MergeV2Checkpoints/checkpoint_prefixes", "save/Const"],
            ctrl=done,
            attrs={"delete_old_dirs": a_bool(True)},
            device=cpu,
        )
        b.node("save/Identity", "Identity", ["save/Const"], attrs=S, ctrl=[merge, *done], device=cpu, out=[()])
        restores: list[str] = []
        n_assign = 0
        for k, shard in enumerate(shards):
            sfx = "" if k == 0 else f"_{k}"
            dev = f"/job:ps/replica:0/task:{k}/device:CPU:0"
            names = sorted(shard, key=lambda v: v.name)
            r = f"save/RestoreV2{sfx}"
            b.const(f"{r}/tensor_names", STR, (len(names),), [v.name for v in names], device=dev)
            b.const(f"{r}/shape_and_slices", STR, (len(names),), [""] * len(names), device=dev)
            b.node(
                r,
                "RestoreV2",
                ["save/Const", f"{r}/tensor_names", f"{r}/shape_and_slices"],
                attrs={"dtypes": a_types([v.dtype for v in names])},
                device=dev,
                out=[None] * len(names),
            )
            assigns = []
            for m, var in enumerate(names):
                out = r if m == 0 else f"{r}:{m}"
                sfx_a = "" if n_assign == 0 else f"_{n_assign}"
                n_assign += 1
                assigns.append(
                    b.node(
                        f"save/Assign{sfx_a}",
                        "Assign",
                        [var.name, out],
                        attrs={"T": a_type(var.dtype), "use_locking": a_bool(True), "validate_shape": a_bool(True)},
                        loc=[var.name],
                        device=var.device,
                        out=[var.shape],
                    )
                )
            restores.append(b.node(f"save/restore_shard{sfx}", "NoOp", ctrl=assigns, device=dev))
        b.node("save/restore_all", "NoOp", ctrl=restores, device=cpu)
        return saver_pb2.SaverDef(
            filename_tensor_name="save/Const:0",
            save_tensor_name="save/Identity:0",
            restore_op_name="save/restore_all",
            max_to_keep=5,
            sharded=True,
            keep_checkpoint_every_n_hours=10000.0,
            version=saver_pb2.SaverDef.V2,
        )

    def graph_bytes(self) -> bytes:
        """The GraphDef: nodes in creation order with a few reversed windows (as graphs
        edited after export have), then versions."""
        nodes = list(self.b.nodes)
        rng = self.b.rng
        windows = max(1, len(nodes) // 2000)
        for _ in range(windows):
            start = rng.randrange(0, max(1, len(nodes) - 40))
            length = rng.randrange(5, 40)
            nodes[start : start + length] = nodes[start : start + length][::-1]
        versions = b"\x08" + _varint(GRAPH_DEF_PRODUCER)  # VersionDef.producer
        body = bytearray()
        for n in nodes:
            body += _ld(1, n)
        body += _ld(4, versions)
        return bytes(body)

    def meta_graph(
        self, saver_def: saver_pb2.SaverDef, losses: list[str], summaries: list[str]
    ) -> meta_graph_pb2.MetaGraphDef:
        """Everything but the GraphDef (appended as raw bytes by :func:`serialize`)."""
        meta = meta_graph_pb2.MetaGraphDef()
        info = meta.meta_info_def
        info.tensorflow_version = "2.21.0"
        info.tensorflow_git_version = "v2.21.0-rc0-0-g0000000000"
        for name in sorted(self.b.ops_used):
            info.stripped_op_list.op.add().CopyFrom(op_def(name))
        meta.saver_def.CopyFrom(saver_def)
        col = meta.collection_def

        def vdef(v: Var) -> bytes:
            return variable_pb2.VariableDef(
                variable_name=f"{v.name}:0",
                initial_value_name=f"{v.initial_value}:0",
                initializer_name=f"{v.name}/Assign",
                snapshot_name=f"{v.name}/read:0",
                trainable=v.trainable,
            ).SerializeToString()

        col["variables"].bytes_list.value.extend(vdef(v) for v in self.vars)
        col["trainable_variables"].bytes_list.value.extend(vdef(v) for v in self.model_vars)
        col["global_step"].bytes_list.value.append(vdef(self.global_step))
        col["train_op"].node_list.value.append("Adam")
        col["losses"].node_list.value.extend(f"{x}:0" for x in losses)
        col["summaries"].node_list.value.extend(f"{x}:0" for x in summaries)
        col["queue_runners"].bytes_list.value.append(
            queue_runner_pb2.QueueRunnerDef(
                queue_name="input_producer/fifo_queue",
                enqueue_op_name=["input_producer/fifo_queue_EnqueueMany"],
                close_op_name="input_producer/fifo_queue_Close",
                cancel_op_name="input_producer/fifo_queue_Close_1",
                queue_closed_exception_types=[11],  # OUT_OF_RANGE
            ).SerializeToString()
        )
        col["savers"].bytes_list.value.append(saver_def.SerializeToString())
        col["hparams_int64"].int64_list.value.extend([self.p.batch, self.p.towers, 1000])
        col["learning_rate_schedule"].float_list.value.extend([0.1, 0.01, 0.001])
        col["model_name"].bytes_list.value.append(b"multi_tower_cnn")
        return meta


# ---------------------------------------------------------------- entry points


def serialize(params: Params) -> tuple[bytes, int]:
    """The serialized MetaGraphDef and its node count."""
    tg = TrainingGraph(params)
    meta = tg.build()
    graph = tg.graph_bytes()
    return meta.SerializeToString(deterministic=True) + _ld(2, graph), len(tg.b.nodes)


def count_nodes(params: Params) -> int:
    tg = TrainingGraph(params)
    tg.build()
    return len(tg.b.nodes)


def params_for_nodes(nodes: int, **overrides: int) -> Params:
    """The Params whose graph has about ``nodes`` nodes (node count is affine in layers)."""
    base = {k: v for k, v in overrides.items() if v is not None}
    n2 = count_nodes(Params(layers=2, **base))
    n4 = count_nodes(Params(layers=4, **base))
    per_layer = (n4 - n2) / 2
    layers = max(2, round(2 + (nodes - n2) / per_layer))
    return Params(layers=layers, **base)


def generate(path: str | os.PathLike[str], params: Params) -> dict[str, object]:
    """Write the graph of ``params`` to ``path`` unless a matching one is there (a
    ``.json`` sidecar records the parameters); returns the sidecar's content."""
    path = Path(path)
    sidecar = path.with_suffix(path.suffix + ".json")
    if path.exists() and sidecar.exists():
        info = json.loads(sidecar.read_text())
        if info.get("params") == asdict(params) and info.get("size") == path.stat().st_size:
            return dict(info)
    data, nodes = serialize(params)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    info = {"params": asdict(params), "nodes": nodes, "size": len(data), "sha1": hashlib.sha1(data).hexdigest()}
    sidecar.write_text(json.dumps(info, indent=1) + "\n")
    return info


def ensure(
    nodes: int,
    out: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    **overrides: int,
) -> tuple[Path, dict[str, object]]:
    """A cached graph of about ``nodes`` nodes (in ``data_dir``, default benchmarks/data/)."""
    params = params_for_nodes(nodes, **overrides)
    folder = Path(data_dir) if data_dir else DATA_DIR
    path = Path(out) if out else folder / f"train_{nodes}_{params.digest()}.meta"
    return path, generate(path, params)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, required=True, help="approximate node count")
    ap.add_argument("--out", help="output .meta path (default: benchmarks/data/, cached)")
    ap.add_argument("--towers", type=int, default=None)
    ap.add_argument("--ps-tasks", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    path, info = ensure(args.nodes, args.out, towers=args.towers, ps_tasks=args.ps_tasks, seed=args.seed)
    print(f"{path}: {info['nodes']} nodes, {info['size']} bytes ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
