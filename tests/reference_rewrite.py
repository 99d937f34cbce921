"""A deliberately simple, pure-Python reference of the rewrite the C++ core does.

Written straight from the rules (semantics.md §3-5, TF_BEHAVIOUR.md) for clarity,
not speed; the property tests check the core against it on random graphs.
"""

from __future__ import annotations

import heapq

from fastmeta.protos import attr_value_pb2, graph_pb2, op_def_pb2

DEVICE_TYPES = {"CPU", "GPU", "TPU", "CUSTOM", "EPU"}


class RefError(Exception):
    """The reference refuses the graph (the core must refuse it too)."""


def parse_tensor_name(s: str) -> tuple[str, int]:
    """(node, index); index -1 for a control input."""
    head, sep, tail = s.rpartition(":")
    if sep and tail.isdigit() and tail.isascii() and head:
        return head, int(tail)
    if s.startswith("^"):
        return s[1:], -1
    return s, 0


def canonical_device(spec: str) -> str:
    job = replica = task = dtype = index = None
    for part in spec.split("/"):
        y = part.split(":")
        if len(y) == 2 and y[0] == "job":
            job = y[1]
        elif len(y) == 2 and y[0] == "replica":
            replica = int(y[1])
        elif len(y) == 2 and y[0] == "task":
            task = int(y[1])
        elif len(y) in (1, 2) and y[0].upper() in DEVICE_TYPES:
            if dtype is not None:
                raise RefError("multiple device types")
            dtype = y[0].upper()
            if len(y) == 2 and y[1] != "*":
                index = int(y[1])
        elif len(y) == 3 and y[0] == "device":
            if dtype is not None:
                raise RefError("multiple device types")
            dtype = y[1].upper() if y[1] in ("cpu", "gpu") else y[1]
            if y[2] != "*":
                index = int(y[2])
        elif y[0] != "":
            raise RefError(f"unknown device attribute {y[0]}")
    out = ""
    if job is not None:
        out += "/job:" + job
    if replica is not None:
        out += f"/replica:{replica}"
    if task is not None:
        out += f"/task:{task}"
    if dtype is not None:
        out += f"/device:{dtype}:{'*' if index is None else index}"
    return out


def reference_rewrite(
    graph: graph_pb2.GraphDef,
    op_list: op_def_pb2.OpList | None = None,
    prefix: str = "",
    clear_devices: bool = False,
    input_map: dict[str, str] | None = None,
    existing: frozenset[str] = frozenset(),
) -> graph_pb2.GraphDef:
    nodes = list(graph.node)
    by_name: dict[str, int] = {}
    for i, n in enumerate(nodes):
        if n.name in by_name:
            raise RefError("duplicate name")
        by_name[n.name] = i
    # input_map keys, normalised
    imap: dict[tuple[str, int], tuple[str, int]] = {}
    for k, v in (input_map or {}).items():
        imap[parse_tensor_name(k)] = parse_tensor_name(v)
    used: set[tuple[str, int]] = set()
    resolved: list[list[tuple[int | None, str, int]]] = []  # (src idx or None, external name, index)
    for n in nodes:
        seen_control = False
        ins = []
        for s in n.input:
            name, idx = parse_tensor_name(s)
            if idx < 0:
                seen_control = True
            elif seen_control:
                raise RefError("control before data")
            if (name, idx) in imap:
                used.add((name, idx))
                tname, tidx = imap[(name, idx)]
                ins.append((None, tname, tidx))
                continue
            if name not in by_name:
                raise RefError("unknown input")
            ins.append((by_name[name], "", idx))
        resolved.append(ins)
    if set(imap) - used:
        raise RefError("unused input_map keys")
    # order: ready node with the smallest index first; loop Merges wait for one data input
    nextit = {i for i, n in enumerate(nodes) if n.op in ("NextIteration", "RefNextIteration")}
    pending = []
    consumers: list[list[int]] = [[] for _ in nodes]
    for i, n in enumerate(nodes):
        count = len(n.input)
        if n.op in ("Merge", "RefMerge") and any(src in nextit and idx >= 0 for src, _, idx in resolved[i]):
            count = sum(1 for _, _, idx in resolved[i] if idx < 0) + 1
        for src, _, _ in resolved[i]:
            if src is None:
                count -= 1
            else:
                consumers[src].append(i)
        pending.append(count)
    ready = [i for i, p in enumerate(pending) if p <= 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for c in consumers[i]:
            pending[c] -= 1
            if pending[c] == 0:
                heapq.heappush(ready, c)
    if len(order) != len(nodes):
        raise RefError("cycle")
    # names
    pre = prefix + "/" if prefix else ""
    originals = set(by_name)
    orig_prefixes = {n.name[:k] for n in nodes for k in range(len(n.name)) if n.name[k] == "/"}
    existing_prefixes = {e[:k] for e in existing for k in range(len(e)) if e[k] == "/"}
    final: dict[int, str] = {}
    for i in order:
        name = pre + nodes[i].name
        if name in existing or name in existing_prefixes:
            k = 1
            while True:
                cand = f"{name}_{k}"
                if not (cand in existing or cand in existing_prefixes or cand in originals or cand in orig_prefixes):
                    break
                k += 1
            name = cand
        final[i] = name

    # devices
    def groups(i: int) -> list[int]:
        out = []
        if "_class" in nodes[i].attr:
            for s in nodes[i].attr["_class"].list.s:
                text = s.decode()
                if text.startswith("loc:@"):
                    if text[5:] not in by_name:
                        raise RefError("colocation with unknown node")
                    out.append(by_name[text[5:]])
        return out

    device: dict[int, str] = {}
    colocated = []
    for i in order:
        targets = [t for t in groups(i) if t != i]
        if targets:
            colocated.append((i, targets))
            device[i] = ""
        else:
            device[i] = "" if clear_devices or not nodes[i].device else canonical_device(nodes[i].device)
    for i, targets in colocated:
        for t in targets:
            if device[t]:
                device[i] = device[t]
                break
    # defaults
    defaults: dict[str, list[op_def_pb2.OpDef.AttrDef]] = {}
    for op in op_list.op if op_list else []:
        defaults[op.name] = [a for a in op.attr if a.HasField("default_value")]
    functions = {f.signature.name for f in graph.library.function}

    out = graph_pb2.GraphDef()
    for i in order:
        n = nodes[i]
        new = out.node.add()
        new.CopyFrom(n)
        new.name = final[i]
        del new.input[:]
        controls = set()
        for src, ext, idx in resolved[i]:
            name = ext if src is None else final[src]
            if idx < 0:
                controls.add(name)
            else:
                new.input.append(name if idx == 0 else f"{name}:{idx}")
        new.input.extend("^" + c for c in sorted(controls))
        new.device = device[i]
        new.attr.pop("_output_shapes", None)
        if "_class" in new.attr:
            entries = []
            for s in n.attr["_class"].list.s:
                text = s.decode()
                if text.startswith("loc:@"):
                    text = "loc:@" + final[by_name[text[5:]]]
                entries.append(text.encode())
            del new.attr["_class"].list.s[:]
            new.attr["_class"].list.s.extend(entries)
        if n.op not in functions:
            for attr_def in defaults.get(n.op, []):
                if attr_def.name not in new.attr or new.attr[attr_def.name].WhichOneof("value") is None:
                    new.attr[attr_def.name].CopyFrom(attr_def.default_value)
    if graph.HasField("library"):
        out.library.CopyFrom(graph.library)
    if graph.HasField("versions"):
        out.versions.CopyFrom(graph.versions)
    return out


def attr_s(value: str) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue(s=value.encode())
