"""The ``fastmeta`` command line: ``import``, ``rewrite``, ``inspect`` and ``inspect-checkpoint``."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from google.protobuf import text_format

from fastmeta._files import write_atomic
from fastmeta.errors import Error, GraphError
from fastmeta.export import UNBOUND_INPUT_PREFIX
from fastmeta.reading import LoadedMetaGraph, load_meta_graph
from fastmeta.rewrite import (
    graph_tail,
    input_map_pairs,
    rewrite_meta_graph,
    rewrite_meta_graph_bytes,
    run_core,
    unbound_input_names,
    unbound_inputs,
)

__all__ = ["inspect_meta_graph", "inspect_saved_model", "main"]


def _input_map_entry(text: str) -> tuple[str, str]:
    """``--input-map KEY=VALUE``: a name in the file and a tensor name in the output graph."""
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. '$unbound_inputs_x=x:0'), got {text!r}")
    return key, value


def _cmd_rewrite(args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {
        "import_scope": args.import_scope,
        "clear_devices": args.clear_devices,
        "input_map": dict(args.input_map) or None,
    }
    if args.as_text:
        data = text_format.MessageToString(rewrite_meta_graph(args.input, **kwargs)).encode("utf-8")
    else:
        data = rewrite_meta_graph_bytes(args.input, **kwargs)
    write_atomic(args.output, data)
    return 0


def _function_name(function: Any) -> str:
    return str(function.signature.name)


def _object_graph(rest: Any) -> dict[str, Any] | None:
    """Summary of a TF2 SavedModel's object graph (``object_graph_def``): its objects, its
    concrete functions and the objects by kind; None when the meta graph has none."""
    if not rest.HasField("object_graph_def"):
        return None
    graph = rest.object_graph_def
    kinds: dict[str, int] = {}
    for node in graph.nodes:
        kind = node.WhichOneof("kind") or "(none)"
        kinds[kind] = kinds.get(kind, 0) + 1
    return {"nodes": len(graph.nodes), "concrete_functions": len(graph.concrete_functions), "kinds": kinds}


_UNBOUND_INPUT = re.compile(rf": Unknown input node '(\^?{re.escape(UNBOUND_INPUT_PREFIX)}[^']*)'$")


def _described(loaded: LoadedMetaGraph) -> tuple[Any, list[str]]:
    """The core's pass over a meta graph for a description (no scope), and the file's
    unbound inputs. The inputs a scoped export took from outside its scope
    (``$unbound_inputs_x``, listed in the file's ``unbound_inputs`` collection) name no
    node of the file, which the core refuses (TensorFlow's import needs an input_map of
    them): each is mapped onto itself, so the file is described as it is. TensorFlow
    leaves a control input from outside the scope (``^$unbound_inputs_c``) out of the
    collection: one the core then refuses is added and the pass run again (once per
    such input: no pass over the nodes in Python)."""
    names = list(dict.fromkeys(unbound_input_names(unbound_inputs(loaded.rest))))
    while True:
        try:
            return run_core(loaded, "", input_map=input_map_pairs({n: n for n in names})), names
        except GraphError as e:
            found = _UNBOUND_INPUT.search(str(e))
            if found is None or found.group(1) in names:
                raise
            names.append(found.group(1))


def inspect_meta_graph(path: str) -> dict[str, Any]:
    """Summary of a meta graph file: nodes, ops, devices, function library, collections,
    saver, versions, a TF2 SavedModel's object graph, the unbound inputs of a file exported
    with ``export_scope`` (which an import or rewrite must map). A malformed file
    (function library included) raises its ParseError."""
    loaded = load_meta_graph(path)
    graph, unbound = _described(loaded)
    library = graph_tail(graph, loaded).library
    rest = loaded.rest
    info = rest.meta_info_def
    collections = {}
    for key in sorted(rest.collection_def):
        coll = rest.collection_def[key]
        kind = coll.WhichOneof("kind")
        count = len(getattr(coll, kind).value) if kind else 0
        collections[key] = {"kind": kind, "count": count, "bytes": coll.ByteSize()}
    saver: dict[str, Any] | None = None
    if rest.HasField("saver_def"):
        sd = rest.saver_def
        saver = {
            "filename_tensor_name": sd.filename_tensor_name,
            "save_tensor_name": sd.save_tensor_name,
            "restore_op_name": sd.restore_op_name,
            "max_to_keep": sd.max_to_keep,
            "sharded": sd.sharded,
            "keep_checkpoint_every_n_hours": sd.keep_checkpoint_every_n_hours,
            "version": sd.version,
        }
    ops = graph.op_histogram()
    devices = graph.device_histogram()
    return {
        "file": path,
        "file_size": os.path.getsize(path),
        "format": "text" if loaded.text_format else "binary",
        "nodes": graph.num_nodes,
        "graph_def_size": graph.graph_def_size(),
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "devices": dict(sorted(devices.items(), key=lambda kv: (-kv[1], kv[0]))),
        "functions": {f.signature.name: len(f.node_def) for f in sorted(library.function, key=_function_name)},
        "gradients": {g.function_name: g.gradient_func for g in library.gradient},
        "collections": collections,
        "saver": saver,
        "tensorflow_version": info.tensorflow_version,
        "tensorflow_git_version": info.tensorflow_git_version,
        "meta_graph_version": info.meta_graph_version,
        "tags": list(info.tags),
        "stripped_default_attrs": info.stripped_default_attrs,
        "stripped_ops": len(info.stripped_op_list.op),
        "signatures": sorted(rest.signature_def),
        "object_graph": _object_graph(rest),
        "unbound_inputs": unbound,
    }


def inspect_saved_model(export_dir: str) -> dict[str, Any]:
    """Summary of a SavedModel directory: its file and, for each meta graph, the tags,
    node count, signatures, saver, init op, assets (what ``fastmeta.saved_model.load``
    would pick with those tags) and object graph (a TF2 SavedModel's)."""
    from fastmeta.saved_model import (
        INIT_OP_SIGNATURE_KEY,
        LEGACY_INIT_OP_KEY,
        MAIN_OP_KEY,
        asset_paths,
        read_saved_model,
        variables_path,
    )

    saved = read_saved_model(export_dir)
    metas = []
    for meta in saved.meta_graphs:
        rest = meta.rest
        loaded = load_meta_graph(meta.data)
        init_op = next(
            (k for k in (INIT_OP_SIGNATURE_KEY, MAIN_OP_KEY, LEGACY_INIT_OP_KEY)
             if k in (rest.signature_def if k == INIT_OP_SIGNATURE_KEY else rest.collection_def)),
            None,
        )  # fmt: skip
        metas.append(
            {
                "index": meta.index,
                "tags": meta.tags,
                "nodes": _described(loaded)[0].num_nodes,
                "signatures": sorted(rest.signature_def),
                "saver": rest.HasField("saver_def"),
                "init_op": init_op,
                "assets": sorted(os.path.basename(p) for p in asset_paths(export_dir, rest).values()),
                "tensorflow_version": rest.meta_info_def.tensorflow_version,
                "object_graph": _object_graph(rest),
            }
        )
    prefix = variables_path(export_dir)
    return {
        "export_dir": export_dir,
        "file": saved.path,
        "file_size": os.path.getsize(saved.path),
        "format": "text" if saved.text_format else "binary",
        "schema_version": saved.schema_version,
        "variables": prefix if os.path.exists(prefix + ".index") else None,
        "meta_graphs": metas,
    }


def _print_saved_model(summary: dict[str, Any]) -> None:
    print(f"SavedModel      {summary['export_dir']}")
    print(f"file            {summary['file']} ({summary['file_size']:,} bytes, {summary['format']})")
    print(f"variables       {summary['variables'] or '(none)'}")
    print(f"meta graphs     {len(summary['meta_graphs'])}")
    for m in summary["meta_graphs"]:
        print(f"  [{m['index']}] tags {m['tags']}: {m['nodes']:,} nodes, saver {'yes' if m['saver'] else 'no'}, "
              f"init op {m['init_op'] or '(none)'}, {len(m['assets'])} assets")  # fmt: skip
        if m["signatures"]:
            print(f"      signatures {', '.join(m['signatures'])}")
        if m["object_graph"] is not None:
            print(f"      object graph {_describe_object_graph(m['object_graph'])}")


def _describe_object_graph(summary: dict[str, Any]) -> str:
    by_count = sorted(summary["kinds"].items(), key=lambda kv: (-kv[1], kv[0]))
    kinds = ", ".join(f"{count} {kind}" for kind, count in by_count)
    return f"{summary['nodes']} objects ({kinds}), {summary['concrete_functions']} concrete functions"


def _print_inspect(summary: dict[str, Any], top: int) -> None:
    print(f"file            {summary['file']} ({summary['file_size']:,} bytes, {summary['format']})")
    print(f"written by      TensorFlow {summary['tensorflow_version'] or '?'} {summary['tensorflow_git_version']}")
    print(f"nodes           {summary['nodes']:,}")
    print(f"distinct ops    {len(summary['ops'])}")
    for op, count in list(summary["ops"].items())[:top]:
        print(f"  {count:>10,}  {op}")
    print(f"devices         {len(summary['devices'])}")
    for device, count in list(summary["devices"].items())[:top]:
        print(f"  {count:>10,}  {device or '(none)'}")
    functions = summary["functions"]
    if functions:
        nodes = sum(functions.values())
        print(f"functions       {len(functions)} ({nodes:,} nodes), {len(summary['gradients'])} gradients")
        for name, count in list(functions.items())[:top]:
            print(f"  {count:>10,}  {name}")
    print(f"collections     {len(summary['collections'])}")
    for key, c in summary["collections"].items():
        print(f"  {key:<32} {c['kind'] or '(no kind)':<11} {c['count']:>8,} items {c['bytes']:>10,} bytes")
    saver = summary["saver"]
    if saver is None:
        print("saver           (no saver_def)")
    else:
        print(
            f"saver           restore {saver['restore_op_name']!r}, save {saver['save_tensor_name']!r}, "
            f"version {saver['version']}, sharded {saver['sharded']}, max_to_keep {saver['max_to_keep']}"
        )
    if summary["signatures"]:
        print(f"signatures      {', '.join(summary['signatures'])}")
    if summary["object_graph"] is not None:
        print(f"object graph    {_describe_object_graph(summary['object_graph'])}")
    unbound = summary["unbound_inputs"]
    if unbound:
        print(f"unbound inputs  {len(unbound)} (from outside its export_scope: an import needs an input_map of them)")
        for name in unbound[:top]:
            print(f"  {name}")


def _cmd_inspect(args: argparse.Namespace) -> int:
    saved_model = os.path.isdir(args.file)
    summary = inspect_saved_model(args.file) if saved_model else inspect_meta_graph(args.file)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    elif saved_model:
        _print_saved_model(summary)
    else:
        _print_inspect(summary, args.top)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    import time

    from fastmeta.graph import Graph
    from fastmeta.importer import import_meta_graph

    graph = Graph()
    start = time.perf_counter()
    saver = import_meta_graph(args.file, clear_devices=args.clear_devices, import_scope=args.import_scope, graph=graph)
    seconds = time.perf_counter() - start
    ops = graph.get_operations()
    print(f"imported {len(ops):,} operations from {args.file} in {seconds * 1000:.1f} ms (TensorFlow-free)")
    for key in graph.get_all_collection_keys():
        items = graph.get_collection(key)
        example = repr(items[0]).splitlines()[0] if items else ""
        print(f"  collection {key:<28} {len(items):>6} items  {example}"[:140])
    if saver is None:
        print("saver: None (no variables)")
    else:
        sd = saver.saver_def
        print(f"saver: restore {sd.restore_op_name!r}, save {sd.save_tensor_name!r}, file {sd.filename_tensor_name!r}")
    return 0


def _cmd_inspect_checkpoint(args: argparse.Namespace) -> int:
    from fastmeta import checkpoint

    argv = [args.prefix] + (["--json"] if args.json else []) + [f"--tensor={t}" for t in args.tensor]
    return int(checkpoint.inspect_checkpoint_main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fastmeta`` command (also ``python -m fastmeta``)."""
    parser = argparse.ArgumentParser(prog="fastmeta", description="Fast, faithful TensorFlow meta graph loading.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("rewrite", help="write the MetaGraphDef TensorFlow's graph holds after import_meta_graph")
    p.add_argument("input", help="a .meta file (binary or text format)")
    p.add_argument("output", help="where to write the rewritten MetaGraphDef")
    p.add_argument("--import-scope", default=None, help="import scope (as import_meta_graph's import_scope)")
    p.add_argument("--clear-devices", action="store_true", help="clear node devices")
    p.add_argument("--as-text", action="store_true", help="write text format instead of binary")
    p.add_argument("--input-map", action="append", default=[], type=_input_map_entry, metavar="KEY=VALUE",
                   help="map KEY, a name in the file (x:0, ^x, $unbound_inputs_x), onto VALUE, a tensor name "
                        "in the output graph (as rewrite_meta_graph's input_map; repeatable)")  # fmt: skip
    p.set_defaults(func=_cmd_rewrite)

    p = sub.add_parser("import", help="import a meta graph into a fastmeta.Graph (TensorFlow-free) and summarise it")
    p.add_argument("file", help="a .meta file (binary or text format)")
    p.add_argument("--import-scope", default=None, help="import scope")
    p.add_argument("--clear-devices", action="store_true", help="clear node devices")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("inspect", help="summarise a meta graph file, or list a SavedModel directory's meta graphs")
    p.add_argument("file", help="a .meta file, or a SavedModel directory")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--top", type=int, default=15, help="how many ops/devices to list")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("inspect-checkpoint", help="list the tensors of a TensorFlow checkpoint")
    p.add_argument("prefix", help="checkpoint prefix (e.g. model.ckpt-100) or a directory")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--tensor", action="append", default=[], metavar="NAME", help="also print the value of this tensor (repeatable)"
    )
    p.set_defaults(func=_cmd_inspect_checkpoint)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # The reader went away (`fastmeta inspect big.meta | head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Error as e:
        print(f"fastmeta: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"fastmeta: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
