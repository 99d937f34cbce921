"""atheris harnesses for fastmeta's Python entry points.

    python fuzz/fuzz_python.py TARGET [CORPUS_DIR...] [-runs=N] [-max_total_time=S] ...

TARGET is one of ``read`` (``fastmeta.read_meta_graph_file`` on a file holding the
input), ``rewrite`` (``fastmeta.rewrite_meta_graph`` on the bytes, with a scope,
clear_devices and an input_map chosen by a checksum of the input, and the core's
thread-count and target-size oracles), ``import`` (``fastmeta.import_meta_graph`` of the
bytes, twice into one ``fastmeta.Graph``, scope and clear_devices chosen by a checksum of
the input; these two mutate graphs, not bytes: see ``_graph_mutator``), ``text`` (the core's
text-format reader against protobuf's ``text_format.Merge``: whatever the core converts,
protobuf must read as the same message) or ``checkpoint``
(``fastmeta.checkpoint.CheckpointReader`` on an index and a data shard both taken from
the input, every tensor read; the shard's bytes also read as a V1 checkpoint file). Any
exception that is not a ``fastmeta.Error`` is a finding. Seeds:
``python fuzz/make_seeds.py DIR`` (``DIR/meta``, ``DIR/ckpt``: mode byte, 2-byte index
length, index, data shard).
"""

from __future__ import annotations

import atexit
import functools
import os
import random
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["fastmeta"]):
    import fastmeta
    from fastmeta import checkpoint as fm_checkpoint
    from fastmeta import reading, rewrite
    from fastmeta.protos import meta_graph_pb2
    from fastmeta.scoping import validate_import_scope

from google.protobuf import text_format
from google.protobuf.message import DecodeError

# Where the harness writes the files it reads back: tools/fuzz_python.sh gives a folder
# of its work directory; run directly, a temporary one (removed if Python exits normally).
_TMP = os.environ.get("FASTMETA_FUZZ_SCRATCH") or tempfile.mkdtemp(prefix="fastmeta-atheris-")
if "FASTMETA_FUZZ_SCRATCH" not in os.environ:
    atexit.register(shutil.rmtree, _TMP, True)
_PATH = os.path.join(_TMP, "input.meta")
# Mostly scopes TensorFlow accepts (the import goes deep), some it refuses.
_SCOPES = ["", "imp", "imp", "a.b", "a>b/", "x/y//", "imp/", "", "a\\b", "_bad", "a$", "\u00e9"]


def _expect_typed(fn: Callable[[], object]) -> None:
    try:
        fn()
    except fastmeta.Error:
        pass
    except RecursionError:
        raise
    except Exception as e:
        # Not a fastmeta error: a finding (atheris reports the traceback and the input).
        raise AssertionError(f"untyped {type(e).__name__}: {e}") from e


def _write(data: bytes) -> str:
    with open(_PATH, "wb") as f:
        f.write(data)
    return _PATH


def target_read(data: bytes) -> None:
    _expect_typed(lambda: fastmeta.read_meta_graph_file(_write(data)))


def _options(data: bytes) -> tuple[str, bool, int]:
    # The options come from a checksum of the input, not from bytes taken off its front:
    # the whole input is the meta graph, so the seeds (real meta graphs) import as they
    # are and mutations start from valid graphs (the session-3 runs took the options from
    # the first bytes, which broke every seed). Each distinct input gets its own options,
    # the same on every run (findings reproduce).
    h = zlib.crc32(data)
    return _SCOPES[h % len(_SCOPES)], (h >> 8) & 1 == 1, (h >> 9) % 4


def _file_names(data: bytes) -> tuple[list[str], list[str]]:
    """The node names and the distinct inputs (``x``, ``x:1``, ``^x``) of the input read as a
    binary MetaGraphDef by protobuf (none when it is not one): the harnesses pick input_map
    keys and clashing target names from them, so that they hit the file's nodes."""
    try:
        graph = meta_graph_pb2.MetaGraphDef.FromString(data).graph_def
    except (DecodeError, RecursionError):
        return [], []
    names = [n.name for n in graph.node]
    inputs = list(dict.fromkeys(i for n in graph.node for i in n.input))
    return names, inputs


def _pick(items: list[str], h: int, count: int) -> list[str]:
    """``count`` items of ``items`` (repeats allowed), chosen by the checksum ``h``."""
    if not items:
        return []
    return [items[(h >> (5 * k)) % len(items)] for k in range(count)]


def _input_map_keys(data: bytes, h: int) -> list[str]:
    """One to four input_map keys: the file's own inputs (tensor and ``^control``
    spellings, as written and as the other kind), node names, and keys no node has."""
    names, inputs = _file_names(data)
    pool = inputs + [f"{n}:0" for n in names[:4]] + [f"^{n}" for n in names[:2]]
    pool += ["no_such_node_in_any_graph:0", "^no_such_node_in_any_graph"]
    return _pick(pool, h, 1 + (h >> 20) % 4)


def _core_outcome(loaded: reading.LoadedMetaGraph, scope: str, pairs: list[tuple[str, str]],
                  names: list[str], threads: int) -> tuple[object, ...]:  # fmt: skip
    """The core's rewrite as comparable values: its output bytes and lists, or its error."""
    try:
        r = rewrite.run_core(loaded, scope, input_map=pairs, existing_names=names, threads=threads)
    except fastmeta.Error as e:
        return ("error", type(e).__name__, str(e))
    return ("ok", r.graph_def(), r.graph_tail(), tuple(r.external()), tuple(r.renamed()))


def _amplified(data: bytes, h: int) -> tuple[bytes, int] | None:
    """The input with its nodes copied under ``rep<k>/`` until it has 4096 nodes (the core
    splits a graph into parallel ranges from 4096 nodes on, never for a fuzz-sized input):
    the copies keep their inputs, so they read the file's nodes and its input_map keys."""
    try:
        m = meta_graph_pb2.MetaGraphDef.FromString(data)
    except (DecodeError, RecursionError):
        return None
    nodes = list(m.graph_def.node)
    if not nodes or len(nodes) > 4096:
        return None
    copies = -(-4096 // len(nodes))
    for k in range(copies):
        for n in nodes:
            c = m.graph_def.node.add()
            c.CopyFrom(n)
            c.name = f"rep{k}/{n.name}"
    if h & 1:  # (a copy first: the file's nodes then come after their consumers)
        first = m.graph_def.node[-1]
        last = m.graph_def.node[0]
        tmp = type(first)()
        tmp.CopyFrom(first)
        first.CopyFrom(last)
        last.CopyFrom(tmp)
    return m.SerializeToString(), len(m.graph_def.node)


def _check_core_oracles(data: bytes, scope: str, input_map: dict[str, str], h: int) -> None:
    """Oracles on the core's rewrite: (1) one thread and 2-4 threads give the same bytes,
    external tensors and renames, or the same error, on the input grown past the size the
    core splits; (2) clashes with a target far smaller than the file (the inverted look-up
    from the target's names) are those with a target padded past it (the look-up per node)."""
    try:
        validated = validate_import_scope(scope)
        pairs = rewrite.input_map_pairs(input_map)
    except fastmeta.Error:
        return
    names, _ = _file_names(data)
    prefix = validated + "/" if validated else ""
    clashes = [prefix + n for n in _pick(names, h >> 3, 1 + (h >> 12) % 2)]
    # (a clash can be with a node of the file or with a scope holding one)
    clashes += [prefix + n.rsplit("/", 1)[0] + "/x" for n in _pick(names, h >> 7, 1) if "/" in n]
    count = len(names)
    if (h >> 14) % 4 == 0:
        big = _amplified(data, h)
        if big is not None:
            data, count = big
    try:
        loaded = reading.load_meta_graph(data)
    except fastmeta.Error:
        return
    threads = 2 + (h >> 16) % 3
    padded = clashes + [f"_pad/{k}" for k in range(count // 8 + 1)]
    one = _core_outcome(loaded, validated, pairs, clashes, 1)
    many = _core_outcome(loaded, validated, pairs, clashes, threads)
    if one != many:
        raise AssertionError(f"threads=1 and threads={threads} differ:\n{one!r:.2000}\n{many!r:.2000}")
    if clashes:
        old = _core_outcome(loaded, validated, pairs, padded, 1)
        if old[0] != one[0] or (one[0] == "error" and old != one) or (one[0] == "ok" and old[1:] != one[1:]):
            raise AssertionError(f"a small target and a padded one differ:\n{one!r:.2000}\n{old!r:.2000}")


def target_rewrite(data: bytes) -> None:
    scope, clear, variant = _options(data)
    h = zlib.crc32(data, 0x5EED)
    # An input_map key that is not in the graph is always an error; one the graph may
    # have ("x:0" of many test graphs) exercises the mapping; mostly keys taken from the
    # file's own inputs and nodes.
    input_map: dict[str, str] | None
    if variant == 1:
        input_map = {"no_such_node_in_any_graph:0": "ext:0"}
    elif variant == 2:
        input_map = {"x:0": "ext:0"}
    else:
        keys = _input_map_keys(data, h)
        input_map = {k: (f"^ext{i}" if k.startswith("^") else f"ext{i}:{i % 2}") for i, k in enumerate(keys)}
    _expect_typed(lambda: fastmeta.rewrite_meta_graph(data, scope, clear, input_map))
    _expect_typed(lambda: _check_core_oracles(data, scope, input_map or {}, h))


def _op_names(graph: fastmeta.Graph) -> tuple[list[str], list[str]]:
    return [op.name for op in graph.get_operations()], graph.get_all_collection_keys()


def target_import(data: bytes) -> None:
    scope, clear, variant = _options(data)
    h = zlib.crc32(data, 0x5EED)
    graph = fastmeta.Graph()
    input_map: dict[str, fastmeta.Tensor] = {}
    if variant >= 2:
        # A target holding a few Python-made nodes whose names clash with the file's (under
        # the scope), and an input_map of the file's own inputs onto some of them.
        names, _ = _file_names(data)
        made: list[fastmeta.Tensor] = []
        for k, name in enumerate(_pick(names, h >> 3, 1 + (h >> 12) % 3)):
            full = f"{scope.rstrip('/')}/{name}" if scope and (h >> 15) & 1 else name
            try:
                made.append(graph.placeholder("float32" if k % 2 else "int32", None, name=full))
            except fastmeta.Error:
                continue
        if not made:
            made.append(graph.placeholder("float32", [2], name="ph"))
        if variant == 3:
            for i, key in enumerate(_input_map_keys(data, h)):
                input_map[key] = made[i % len(made)]
    before = _op_names(graph)

    def run() -> None:
        try:
            fastmeta.import_meta_graph(data, clear_devices=clear, import_scope=scope, graph=graph,
                                       input_map=input_map or None)  # fmt: skip
        except fastmeta.Error:
            # Atomic: a failed import leaves the graph as it was.
            if _op_names(graph) != before:
                raise AssertionError("a failed import changed the graph") from None
            raise
        fastmeta.import_meta_graph(data, clear_devices=clear, import_scope=scope, graph=graph)

    _expect_typed(run)


# The rewrite and import harnesses get their coverage from Python only: libFuzzer's byte
# mutations, kept or dropped by it, leave mostly bytes that are no meta graph at all (and
# it truncates the seeds past -max_len). Their mutator works on the graph instead: a seed
# (or the input) parsed, a few edits of its nodes and collections (renames that clash or
# keep the graph whole, inputs and control inputs added or dropped, devices, `loc:@`
# colocation, nodes copied, moved or deleted, ops swapped, collection entries), fitted
# under the size limit; libFuzzer's own byte mutations now and then.
_META_SEEDS: list[meta_graph_pb2.MetaGraphDef] = []
_GRAPH_MAX_LEN = 32768  # (tools/fuzz_python.sh's -max_len for these harnesses)
_DEVICES = ["", "/job:ps/task:0/device:CPU:0", "/device:GPU:1", "/job:worker/replica:0/task:1", "CPU:0", "/job:x/bad@"]
_NEW_NAMES = ["x", "imp", "imp/x", "a.b/c", "c_1", "a/b/c", "_bad", "bad name", "a:1", "^a", "\u00e9", ""]


def _load_meta_seeds(dirs: list[str]) -> None:
    for d in dirs:
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else ():
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            try:
                m = meta_graph_pb2.MetaGraphDef.FromString(data)
            except (DecodeError, RecursionError):
                continue
            if not m.graph_def.node:
                continue
            if m.ByteSize() > _GRAPH_MAX_LEN:
                _strip_op_definitions(m)
            if m.ByteSize() <= _GRAPH_MAX_LEN:
                _META_SEEDS.append(m)


def _strip_op_definitions(m: meta_graph_pb2.MetaGraphDef) -> None:
    """The op list and function library dropped (TensorFlow's registry, which the core
    holds, has the defaults of its ops): most of a small graph's bytes."""
    m.meta_info_def.ClearField("stripped_op_list")
    m.graph_def.ClearField("library")


def _referenced(m: meta_graph_pb2.MetaGraphDef, name: str) -> bool:
    """Whether ``name`` appears in the MetaGraphDef's other fields (serialized collection
    entries such as VariableDefs, the SaverDef, signatures): a rename there breaks them."""
    rest = meta_graph_pb2.MetaGraphDef()
    rest.CopyFrom(m)
    rest.ClearField("graph_def")
    for coll in rest.collection_def.values():
        coll.ClearField("node_list")
    return name.encode() in rest.SerializeToString()


def _rename_everywhere(m: meta_graph_pb2.MetaGraphDef, old: str, new: str) -> None:
    """Node ``old`` renamed ``new`` with every input, `loc:@` entry and node_list entry
    naming it (the graph stays whole: only the names change)."""

    def renamed(ref: str) -> str:
        base = ref.lstrip("^").split(":")[0]
        return ref.replace(old, new, 1) if base == old else ref

    for n in m.graph_def.node:
        if n.name == old:
            n.name = new
        n.input[:] = [renamed(i) for i in n.input]
        if "_class" in n.attr:
            n.attr["_class"].list.s[:] = [b"loc:@" + new.encode() if v == b"loc:@" + old.encode() else v
                                          for v in n.attr["_class"].list.s]  # fmt: skip
    for coll in m.collection_def.values():
        if coll.HasField("node_list"):
            coll.node_list.value[:] = [renamed(v) for v in coll.node_list.value]


# (edit, weight): most edits keep the graph importable, so that the inputs reach past the
# checks; the others break it in one place.
_EDITS = [
    ("rename_clash", 1),
    ("rename", 3),
    ("add_input", 2),
    ("drop_input", 1),
    ("device", 3),
    ("colocate", 2),
    ("copy", 2),
    ("delete", 1),
    ("move", 2),
    ("op", 1),
    ("drop_attr", 1),
    ("collection", 2),
]


def _edit_graph(m: meta_graph_pb2.MetaGraphDef, rng: random.Random) -> None:
    nodes = m.graph_def.node
    if not nodes:
        return
    node = rng.choice(nodes)
    other = rng.choice(nodes).name
    kind = rng.choices([e for e, _ in _EDITS], [w for _, w in _EDITS])[0]
    if kind == "rename_clash":  # a rename that clashes, or a scope-like or invalid name
        node.name = rng.choice([other, node.name + "_1", "imp/" + node.name, rng.choice(_NEW_NAMES)])
    elif kind == "rename" and not _referenced(m, node.name):  # a rename that keeps the graph whole
        _rename_everywhere(m, node.name, rng.choice([other + "_1", "s/" + node.name, node.name + "/x", "u_1"]))
    elif kind == "add_input":  # a control input, mostly; a data input, output k, or one missing
        new = rng.choice([f"^{other}", f"^{other}", other, f"{other}:{rng.randrange(3)}", "missing:0", "^missing"])
        at = len(node.input) if new.startswith("^") else rng.randrange(len(node.input) + 1)
        node.input.insert(at, new)
    elif kind == "drop_input" and node.input:
        del node.input[rng.randrange(len(node.input))]
    elif kind == "device":
        node.device = rng.choice(_DEVICES)
    elif kind == "colocate":  # with another node, mostly; a missing one or itself
        target = rng.choice([other, other, other, "missing", node.name])
        node.attr["_class"].list.s[:] = [b"loc:@" + target.encode()]
    elif kind == "copy":  # a copy, mostly under a new name
        copy = nodes.add()
        copy.CopyFrom(node)
        copy.name = rng.choice([node.name + "_copy", "imp/" + node.name, node.name + "/c", node.name])
    elif kind == "delete" and len(nodes) > 1:
        nodes.remove(node)
    elif kind == "move":  # (after its consumers, or before its inputs)
        saved = type(node)()
        saved.CopyFrom(node)
        nodes.remove(node)
        nodes.insert(rng.randrange(len(nodes) + 1), saved)
    elif kind == "op":
        node.op = rng.choice([rng.choice(nodes).op, "NoSuchOp", "Identity", "NoOp", "Const"])
    elif kind == "drop_attr" and node.attr:
        del node.attr[rng.choice(sorted(node.attr))]
    elif kind == "collection":  # an entry naming a node or tensor (or nothing there)
        key, value = rng.choice(["my_nodes", "train_op", "summaries"]), rng.choice([other, f"{other}:0", "missing:0"])
        coll = m.collection_def[key]
        if coll.HasField("bytes_list") or (not coll.HasField("node_list") and rng.random() < 0.2):
            coll.bytes_list.value.append(value.encode())
        else:
            coll.node_list.value.append(value)


def _graph_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.15 or not _META_SEEDS:
        return atheris.Mutate(data, max_size)
    m: meta_graph_pb2.MetaGraphDef | None = None
    if rng.random() < 0.6:
        try:
            m = meta_graph_pb2.MetaGraphDef.FromString(data)
        except (DecodeError, RecursionError):
            m = None
    if m is None or not m.graph_def.node:
        m = meta_graph_pb2.MetaGraphDef()
        m.CopyFrom(rng.choice(_META_SEEDS))
    for _ in range(rng.randint(1, 3)):
        _edit_graph(m, rng)
    if m.ByteSize() > max_size:
        _strip_op_definitions(m)
    return m.SerializeToString()[:max_size]  # (rarely cut: then a truncated graph)


# The text harness gets no coverage from the C++ reader (only Python is instrumented), so
# libFuzzer alone would keep one seed and shrink it to a byte. Its mutator works on text
# instead: a seed (or the input) changed a few tokens or characters at a time, lines
# spliced in from another seed, and libFuzzer's own byte mutations now and then.
_TEXT_SEEDS: list[bytes] = []
_TEXT_TOKENS = [
    *"{}<>[]:;,'\"\\#\n -+.0123456789xefnt_aAZ",
    "\xa0",
    "\xff",
    "\\303\\251",
    "\\x41",
    "DT_FLOAT",
    "DT_INT32",
    "0x1f",
    "1e5",
    "-inf",
    "nan",
    "true",
    "node ",
    "attr ",
    "key: ",
    "value ",
    "list ",
    "s: ",
    "i: ",
    "f: ",
    "b: ",
    "type: ",
    "shape ",
    "dim ",
    "size: ",
    "name: ",
    "op: ",
    "input: ",
    "device: ",
    "tensor ",
    "func ",
    "library ",
    "function ",
    "collection_def ",
    "saver_def ",
    "meta_info_def ",
    "object_graph_def ",
    "debug_info ",
    "[type.googleapis.com/tensorflow.SaverDef] ",
    "[type.googleapis.com/tensorflow.AttrValue] ",
    "type_url: ",
    "  ",
    "\n  ",
    "# c\n",
]


def _load_text_seeds(dirs: list[str]) -> None:
    for d in dirs:
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else ():
            with open(os.path.join(d, name), "rb") as f:
                _TEXT_SEEDS.append(f.read())


def _text_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.15:
        return atheris.Mutate(data, max_size)
    base = data if data and (rng.random() < 0.5 or not _TEXT_SEEDS) else rng.choice(_TEXT_SEEDS or [b""])
    text = base.decode("utf-8", "surrogateescape")
    if _TEXT_SEEDS and rng.random() < 0.2:
        # Lines of another seed spliced in (nesting and fields move around).
        lines, other = text.split("\n"), rng.choice(_TEXT_SEEDS).decode("utf-8", "surrogateescape").split("\n")
        at, a = rng.randrange(len(lines) + 1), rng.randrange(len(other))
        lines[at:at] = other[a : a + rng.randint(1, 4)]
        text = "\n".join(lines)
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(chars) + 1)
        kind = rng.random()
        if kind < 0.35 and at < len(chars):
            del chars[at : at + rng.randint(1, 3)]
        elif kind < 0.75:
            chars.insert(at, rng.choice(_TEXT_TOKENS))
        elif at < len(chars):
            chars[at] = rng.choice(_TEXT_TOKENS)
    return "".join(chars).encode("utf-8", "surrogateescape")[:max_size]


@atheris.instrument_func
def target_text(data: bytes) -> None:
    converted = reading.text_to_binary(data, meta_graph_pb2.MetaGraphDef)
    if converted is None:
        return  # (declined: protobuf's reader decides, as without the core)
    ours = meta_graph_pb2.MetaGraphDef.FromString(bytes(converted))
    theirs = meta_graph_pb2.MetaGraphDef()
    # (raising here is a finding too: the core converted a text protobuf refuses)
    text_format.Merge(data.decode("utf-8"), theirs, descriptor_pool=reading.tensorflow_alias_pool())
    if ours.SerializeToString(deterministic=True) != theirs.SerializeToString(deterministic=True):
        raise AssertionError("the core's conversion is not protobuf's message")


def target_checkpoint(data: bytes) -> None:
    # data[0]: the C++ harness's mode byte (skipped); data[1:3]: the length n of the
    # .index (little endian); then n bytes of .index and the rest is the data shard, so
    # mutations reach the tensor decoding behind intact entries, not only the table.
    n = int.from_bytes(data[1:3], "little")
    prefix = os.path.join(_TMP, "ckpt")
    with open(prefix + ".index", "wb") as f:
        f.write(data[3 : 3 + n])
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(data[3 + n :])

    reader: list[fm_checkpoint.CheckpointReader] = []

    def load() -> None:
        reader.append(fm_checkpoint.CheckpointReader(prefix))
        reader[0].debug_string()

    _expect_typed(load)
    if reader:
        for name in list(reader[0].get_variable_to_dtype_map()):
            _expect_typed(functools.partial(reader[0].get_tensor, name))
        _expect_typed(lambda: fm_checkpoint.list_variables(prefix))
    # The shard's bytes also as a V1 checkpoint file (no .index beside it).
    v1 = os.path.join(_TMP, "v1.ckpt")
    with open(v1, "wb") as f:
        f.write(data[3 + n :])
    v1_reader: list[fm_checkpoint.CheckpointReader] = []
    _expect_typed(lambda: v1_reader.append(fm_checkpoint.load_checkpoint(v1)))
    for name in list(v1_reader[0].get_variable_to_dtype_map()) if v1_reader else []:
        _expect_typed(functools.partial(v1_reader[0].get_tensor, name))


TARGETS = {
    "read": target_read,
    "rewrite": target_rewrite,
    "import": target_import,
    "text": target_text,
    "checkpoint": target_checkpoint,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    target = TARGETS[sys.argv[1]]
    dirs = [a for a in sys.argv[2:] if not a.startswith("-")]
    # (no reduction: with so few features it would shrink the inputs to a few bytes)
    args = [sys.argv[0], *sys.argv[2:], "-reduce_inputs=0"]
    if target is target_text:
        _load_text_seeds(dirs)
        atheris.Setup(args, target, custom_mutator=_text_mutator)
    elif target in (target_rewrite, target_import):
        _load_meta_seeds(dirs)
        atheris.Setup(args, target, custom_mutator=_graph_mutator)
    else:
        atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
