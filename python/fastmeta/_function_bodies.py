"""The bodies of the library functions a graph calls, checked as TensorFlow checks them
when it imports the graph.

TensorFlow's importer infers the shapes of each node it adds; for a node that calls a
function (its op is the function's name, or a ``PartitionedCall`` /
``StatefulPartitionedCall`` naming it in ``f``) that instantiates the function's body with
the call's attrs, and instantiating it refuses a body whose nodes or returns do not fit:
an op it does not know, a type or number attr it cannot find, an input that names nothing
or has another dtype, a ``ret`` that names nothing. The bodies of the calls inside a body
are instantiated in turn. Functions nothing calls, and those only ``If``/``While``
branches or other func-valued attrs name, are not instantiated, nor the functions called
only from nodes with ``_disable_call_shape_inference: true`` (every call of a v1
``Defun``), in the graph or in a body (observed with TensorFlow 2.21,
tests/TF_BEHAVIOUR.md §6c).

:func:`check_called_functions` does the same checks on the library of an import (each
function once per distinct instantiation attrs), before the import adds anything, and
raises a :class:`fastmeta.errors.FunctionBodyError` with TensorFlow's reason. It does
not run the ops' shape functions, so what only those refuse is not found here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastmeta import _core, _op_registry
from fastmeta.errors import FunctionBodyError
from fastmeta.protos import attr_value_pb2, function_pb2, node_def_pb2, op_def_pb2

__all__ = ["check_called_functions"]

# The ops whose ``f`` attr TensorFlow's shape inference instantiates.
CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
# A call node's attr that stops TensorFlow's shape inference from instantiating the
# function it calls (ShapeRefiner: "_disable_call_shape_inference", a bool, true).
DISABLE_CALL_SHAPE_INFERENCE = "_disable_call_shape_inference"

_Attrs = Mapping[str, attr_value_pb2.AttrValue]

# The largest count of a number attr instantiated (each element is a name to index).
_MAX_COUNT = 1 << 20


def _attrs_key(attrs: _Attrs) -> bytes:
    return b"".join(
        k.encode() + b"\0" + v.SerializeToString(deterministic=True) + b"\0" for k, v in sorted(attrs.items())
    )


class _Refused(Exception):
    """One instantiation failed: TensorFlow's message, and the body node it names."""

    def __init__(self, message: str, body_node: str | None = None):
        super().__init__(message)
        self.message = message
        self.body_node = body_node


def _dtype_string(dtype: int) -> str:
    return _core.data_type_string(dtype)


def _in_node(name: str) -> str:
    return "{{node " + name + "}}"


def _arg_text(arg: op_def_pb2.OpDef.ArgDef) -> str:
    # (how TensorFlow prints an ArgDef in its messages: name:[Ref(][N*]type[)])
    text = arg.name + ":"
    if arg.is_ref:
        text += "Ref("
    if arg.number_attr:
        text += arg.number_attr + "*"
    text += _dtype_string(arg.type) if arg.type else arg.type_attr
    return text + (")" if arg.is_ref else "")


def _signature_text(sig: op_def_pb2.OpDef) -> str:
    """An OpDef as TensorFlow summarises it in messages (names and types only)."""
    ins = ", ".join(_arg_text(a) for a in sig.input_arg)
    outs = ", ".join(_arg_text(a) for a in sig.output_arg)
    text = f"Op<name={sig.name}; signature={ins} -> {outs}"
    if sig.attr:
        text += "; attr=" + ", ".join(f"{a.name}:{a.type}" for a in sig.attr)
    return text + ">"


def _arg_types(attrs: _Attrs, arg: op_def_pb2.OpDef.ArgDef) -> list[int]:
    """The DataTypes of one arg by ``attrs`` (TensorFlow's ArgNumType: refs not marked)."""
    if arg.type_list_attr:
        value = attrs.get(arg.type_list_attr)
        if value is None:
            raise _Refused(f"type list attr not found: {arg.type_list_attr}")
        return [int(t) for t in value.list.type]
    count = 1
    if arg.number_attr:
        value = attrs.get(arg.number_attr)
        if value is None:
            raise _Refused(f"number attr not found: {arg.number_attr}")
        count = int(value.i)
        if not 0 <= count <= _MAX_COUNT:
            # (TensorFlow would try to make that many: a negative count, or a huge one, is
            # refused here instead)
            raise _Refused(f"number attr {arg.number_attr} of {count} is out of range [0, {_MAX_COUNT}]")
    if arg.type:
        dtype = int(arg.type)
    elif not arg.type_attr:
        dtype = 0
    else:
        value = attrs.get(arg.type_attr)
        if value is None:
            raise _Refused(f"type attr not found: {arg.type_attr}")
        dtype = int(value.type)
    return [dtype] * count


def _placeholders_bound(value: attr_value_pb2.AttrValue, attrs: _Attrs, sig: op_def_pb2.OpDef) -> bool:
    """Replace every placeholder in ``value`` (also inside func values) by the
    instantiation's attr of that name, else the signature's default; False when one
    cannot be bound."""
    which = value.WhichOneof("value")
    if which == "placeholder":
        bound = attrs.get(value.placeholder)
        if bound is None:
            bound = next(
                (a.default_value for a in sig.attr if a.name == value.placeholder and a.HasField("default_value")), None
            )
        if bound is None:
            return False
        value.CopyFrom(bound)
        return True
    funcs: Iterable[Any] = value.list.func if which == "list" else (value.func,) if which == "func" else ()
    return all(_placeholders_bound(v, attrs, sig) for f in funcs for v in f.attr.values())


def _attr_text(value: attr_value_pb2.AttrValue) -> str:
    if value.WhichOneof("value") == "placeholder":
        return "$" + value.placeholder
    return str(value).strip()


_Result = tuple[list[str], _Refused] | None


class _Pending:
    """No result yet (a callee was entered)."""


_PENDING = _Pending()

# An instantiation: its cache key (function name, attrs), name, FunctionDef, attrs.
_Entry = tuple[tuple[str, bytes], str, function_pb2.FunctionDef, _Attrs]


class _Checker:
    """The instantiations of one import's library (each checked once)."""

    def __init__(self, functions: Mapping[str, function_pb2.FunctionDef], op_list: Iterable[op_def_pb2.OpDef]):
        self.functions = functions
        self.op_list = {op.name: op for op in op_list}
        self.results: dict[tuple[str, bytes], _Result] = {}
        self.attr_readers: dict[str, bool] = {}

    def op_def(self, op: str) -> op_def_pb2.OpDef | None:
        # (TensorFlow looks a body node's op up in the library, then in its registry;
        # fastmeta also takes a custom op the file's op list defines, as it does for the
        # graph's nodes)
        f = self.functions.get(op)
        if f is not None:
            return f.signature
        return _op_registry.get(op) or self.op_list.get(op)

    def reads_attrs(self, name: str) -> bool:
        """Whether instantiating function ``name`` reads the call's attrs (its signature
        declares attrs, or a body node binds a placeholder)."""
        reads = self.attr_readers.get(name)
        if reads is None:
            fdef = self.functions[name]
            reads = self.attr_readers[name] = bool(fdef.signature.attr) or _has_placeholders(fdef)
        return reads

    def _entry(self, name: str, attrs: _Attrs) -> _Entry | None:
        """The instantiation a call of function ``name`` with ``attrs`` makes; None when
        the library lacks ``name``."""
        fdef = self.functions.get(name)
        if fdef is None:
            return None
        if not self.reads_attrs(name):
            attrs = {}  # (one instantiation whatever the call's attrs)
        return (name, _attrs_key(attrs)), name, fdef, attrs

    def check(self, name: str, attrs: _Attrs) -> _Result:
        """Instantiate function ``name`` with ``attrs`` and then the calls in its body:
        None when TensorFlow accepts them (or the library lacks ``name``), else the chain
        of functions down to the one refused and the reason. Each (function, attrs) is
        checked once; a call of one being checked (recursion, on which TensorFlow
        overflows its stack) counts as accepted. Depth first, in call order, on a stack of
        its own: a chain of calls as long as the library is no Python recursion."""
        start = self._entry(name, attrs)
        if start is None:
            return None
        if start[0] in self.results:
            return self.results[start[0]]
        stack: list[tuple[tuple[str, bytes], str, Iterator[tuple[str, _Attrs]]]] = []

        def enter(entry: _Entry) -> _Result | _Pending:
            key, fname, fdef, fattrs = entry
            self.results[key] = None  # (in progress)
            try:
                calls = self.instantiate(fdef, fattrs)
            except _Refused as e:
                self.results[key] = ([fname], e)
                return self.results[key]
            stack.append((key, fname, iter(calls)))
            return _PENDING

        returned = enter(start)  # (what the callee last left returned to its caller)
        while stack:
            key, fname, calls = stack[-1]
            if returned is not _PENDING:
                refused, returned = returned, _PENDING
                if refused is not None:
                    assert isinstance(refused, tuple)
                    stack.pop()
                    self.results[key] = returned = ([fname, *refused[0]], refused[1])
                    continue
            call = next(calls, None)
            if call is None:
                stack.pop()
                returned = None
                continue
            callee = self._entry(*call)
            if callee is None:
                continue
            returned = self.results[callee[0]] if callee[0] in self.results else enter(callee)
        return self.results[start[0]]

    def instantiate(self, fdef: function_pb2.FunctionDef, attrs: _Attrs) -> list[tuple[str, _Attrs]]:
        """TensorFlow's InstantiateFunction's checks, in its order; the calls of the body
        (function, attrs) to instantiate next."""
        sig = fdef.signature
        for a in sig.attr:
            if a.name not in attrs:
                raise _Refused(f"Attr {a.name} is not found from {_signature_text(sig)}")
        index: dict[str, list[int]] = {}  # name (x, x:0, n:out, n:out:0, n) -> dtypes
        for arg in sig.input_arg:
            try:
                types = _arg_types(attrs, arg)
            except _Refused as e:
                raise _Refused(f"{e.message}\n\tIn {_arg_text(arg)}") from None
            self._add(index, arg.name, types, "arg")
            for i, t in enumerate(types):
                self._add(index, f"{arg.name}:{i}", [t], "arg")
        # Each body node's attrs with placeholders bound and its op's defaults added.
        nodes = list(fdef.node_def)
        bound: list[dict[str, attr_value_pb2.AttrValue]] = []
        op_defs: list[op_def_pb2.OpDef] = []
        for node in nodes:
            node_attrs: dict[str, attr_value_pb2.AttrValue] = {}
            for key, given in node.attr.items():
                value = given
                if _has_placeholder(given):
                    value = attr_value_pb2.AttrValue()
                    value.CopyFrom(given)
                    if not _placeholders_bound(value, attrs, sig):
                        raise _Refused(f"Failed to bind all placeholders in {_attr_text(given)}")
                node_attrs[key] = value
            op_def = self.op_def(node.op)
            if op_def is None:
                raise _Refused(
                    f"Op type not registered '{node.op}' in TensorFlow's op registry, the file's "
                    "stripped_op_list or its function library",
                    node.name,
                )
            for a in op_def.attr:
                if a.name not in node_attrs and a.HasField("default_value"):
                    node_attrs[a.name] = a.default_value
            bound.append(node_attrs)
            op_defs.append(op_def)
        for node, node_attrs, op_def in zip(nodes, bound, op_defs):
            try:
                if not op_def.output_arg:
                    self._add(index, node.name, [], "ret")
                for arg in op_def.output_arg:
                    types = _arg_types(node_attrs, arg)
                    base = f"{node.name}:{arg.name}"
                    self._add(index, base, types, "ret")
                    for i, t in enumerate(types):
                        self._add(index, f"{base}:{i}", [t], "ret")
            except _Refused as e:
                raise _Refused(f"{e.message}\n\tIn {_in_node(node.name)}", node.name) from None
        sources = {key.partition(":")[0] for key in index}  # (what a control input may name)
        for node, node_attrs, op_def in zip(nodes, bound, op_defs):
            try:
                self._inputs(node, node_attrs, op_def, index, sources)
            except _Refused as e:
                raise _Refused(f"{e.message}\n\tIn {_in_node(node.name)}", node.name) from None
        for arg in sig.output_arg:
            try:
                self._ret(arg, attrs, fdef.ret, index)
            except _Refused as e:
                raise _Refused(f"{e.message}\n\tIn function output {_arg_text(arg)}") from None
        args = {arg.name for arg in sig.input_arg}
        for node in nodes:
            if node.name in args:
                raise _Refused(f"Node '{node.name}' is not unique", node.name)
        calls: list[tuple[str, _Attrs]] = []
        for node, node_attrs in zip(nodes, bound):
            if shape_inference_disabled(node_attrs):
                continue
            if node.op in self.functions:
                calls.append((node.op, node_attrs))
            elif node.op in CALL_OPS and "f" in node_attrs:
                f = node_attrs["f"].func
                calls.append((f.name, dict(f.attr)))
        return calls

    @staticmethod
    def _add(index: dict[str, list[int]], name: str, types: list[int], kind: str) -> None:
        if name in index:
            raise _Refused(f"Duplicated {kind} name: {name}")
        index[name] = types

    @staticmethod
    def _inputs(
        node: node_def_pb2.NodeDef,
        attrs: _Attrs,
        op_def: op_def_pb2.OpDef,
        index: Mapping[str, list[int]],
        sources: set[str],
    ) -> None:
        inputs = list(node.input)
        at = 0  # the next input string
        for arg in op_def.input_arg:
            expected = _arg_types(attrs, arg)
            j = 0
            while j < len(expected):
                if at >= len(inputs):
                    raise _Refused(f"Attempt to access beyond input size: {at} >= {len(inputs)}")
                name = inputs[at]
                types = index.get(name)
                if types is None:
                    raise _Refused(f"input {name} is not found: {_in_node(node.name)}")
                if len(types) > len(expected) - j:
                    raise _Refused(f"Input {name} too long for {arg.name}")
                for k, t in enumerate(types):
                    if t != expected[j]:
                        raise _Refused(
                            f"input {arg.name}[{j}] expected type {_dtype_string(expected[j])} != "
                            f"{_dtype_string(t)}, the type of {name}[{k}]"
                        )
                    j += 1
                at += 1
        for i in range(at, len(inputs)):
            name = inputs[i]
            if not name.startswith("^"):
                raise _Refused(f"Expected input[{i}] == '{name}' to be a control input.")
            source = name[1:]
            if source not in sources and not (":" in source and any(k.startswith(source) for k in index)):
                raise _Refused(f"input[{i}] == '{name}', is not found.")

    @staticmethod
    def _ret(
        arg: op_def_pb2.OpDef.ArgDef, attrs: _Attrs, ret: Mapping[str, str], index: Mapping[str, list[int]]
    ) -> None:
        if arg.name not in ret:
            raise _Refused(f"Return {arg.name} missing.")
        expected = _arg_types(attrs, arg)
        types = index.get(ret[arg.name])
        if types is None:
            raise _Refused(f"Return {arg.name} -> {ret[arg.name]} is not found.")
        if types != expected:
            raise _Refused(
                f"Invalid ret types {arg.name} : {', '.join(map(_dtype_string, expected))} vs. "
                f"{', '.join(map(_dtype_string, types))}"
            )


def shape_inference_disabled(attrs: _Attrs) -> bool:
    """Whether a call node with these attrs has ``_disable_call_shape_inference`` set to
    the bool true (as every call a v1 ``Defun`` makes): TensorFlow's shape inference then
    does not instantiate the function it calls (an attr of another kind does not count)."""
    value = attrs.get(DISABLE_CALL_SHAPE_INFERENCE)
    return value is not None and value.WhichOneof("value") == "b" and value.b


def _node_calls(node: node_def_pb2.NodeDef, functions: Mapping[str, Any]) -> tuple[str, _Attrs] | None:
    """The function ``node`` calls and the attrs it instantiates it with, or None (also
    for a call whose shape inference is disabled: nothing instantiated)."""
    if shape_inference_disabled(node.attr):
        return None
    if node.op in functions:
        return node.op, node.attr
    if node.op in CALL_OPS and "f" in node.attr:
        f = node.attr["f"].func
        return f.name, f.attr
    return None


def check_called_functions(
    core: Any,
    library: function_pb2.FunctionDefLibrary,
    op_list: Iterable[op_def_pb2.OpDef],
) -> None:
    """Instantiate, as TensorFlow's importer does, every function of ``library`` that a
    node of ``core`` (the core's rewritten graph) calls, and the calls in their bodies;
    raise a :class:`FunctionBodyError` naming the first node (in creation order) whose
    call TensorFlow refuses. ``op_list``: the file's stripped_op_list (custom ops). Costs
    nothing when the library is empty; else each called function is instantiated once
    per distinct attrs, and the nodes are walked in Python only when a call is refused or
    a function called directly takes attrs."""
    if not library.function:
        return
    functions = {f.signature.name: f for f in library.function}
    ops = core.op_histogram()
    direct = [op for op in ops if op in functions]
    call_ops = [op for op in CALL_OPS if op in ops]
    if not direct and not call_ops:
        return
    checker = _Checker(functions, op_list)
    # The calls that need no node read: a PartitionedCall's ``f`` (its distinct values,
    # read by the core), a direct call of a function that reads no attr of the call.
    # (Read as if every node had its shape inference on: a call refused here is looked
    # for node by node below, which skips the nodes whose shape inference is off.)
    refused = False
    for _, _, values in core.attr_values([(op, ["f"]) for op in call_ops]) if call_ops else ():
        for value in values:
            f = attr_value_pb2.AttrValue.FromString(value).func
            refused |= checker.check(f.name, f.attr) is not None
    per_node = [name for name in direct if checker.reads_attrs(name)]
    for name in direct:
        if name not in per_node:
            refused |= checker.check(name, {}) is not None
    if not refused and not per_node:
        return
    # Per node, in creation order (the order TensorFlow's importer adds them in): the
    # first node whose call is refused is named (its results are cached by now).
    wanted = set(direct) | set(call_ops)
    original: dict[int, str] | None = None
    for i in range(core.num_nodes):
        if core.op(i) not in wanted:
            continue
        node = node_def_pb2.NodeDef.FromString(core.node_def(i))
        call = _node_calls(node, functions)
        result = None if call is None else checker.check(*call)
        if result is not None:
            if original is None:
                original = dict(core.renamed())
            name = original.get(i) or _unprefixed(core.name(i), core.prefix)
            raise _error(node.op, name, *result)


def _unprefixed(name: str, prefix: str) -> str:
    return name[len(prefix) + 1 :] if prefix and name.startswith(prefix + "/") else name


def _has_placeholder(value: attr_value_pb2.AttrValue) -> bool:
    which = value.WhichOneof("value")
    if which == "placeholder":
        return True
    funcs: Iterable[Any] = value.list.func if which == "list" else (value.func,) if which == "func" else ()
    return any(_has_placeholder(v) for f in funcs for v in f.attr.values())


def _has_placeholders(fdef: function_pb2.FunctionDef) -> bool:
    """Whether a body node's attr binds a placeholder (to an attr of the call)."""
    return any(_has_placeholder(v) for n in fdef.node_def for v in n.attr.values())


def _error(op: str, node: str, chain: list[str], reason: _Refused) -> FunctionBodyError:
    via = f" (called through {' -> '.join(repr(c) for c in chain[:-1])})" if len(chain) > 1 else ""
    message = f"Node '{node}' (op '{op}'): function '{chain[-1]}'{via} cannot be instantiated: {reason.message}"
    return FunctionBodyError(message, node=node, function=chain[-1], calls=tuple(chain), body_node=reason.body_node)
