"""v1 control-flow contexts (``CondContext``, ``WhileContext``) rebuilt from the
``cond_context`` / ``while_context`` collections, with nested contexts, as TensorFlow's
``from_proto`` (names prefixed, tensors looked up) and ``to_proto`` (values sorted)."""

from __future__ import annotations

from collections.abc import Callable

from fastmeta.graph import Operation, Tensor, _Lookup, collection_element
from fastmeta.protos import control_flow_pb2
from fastmeta.scoping import prepend_name_scope, strip_name_scope

__all__ = ["CondContext", "ControlFlowContext", "WhileContext"]


class ControlFlowContext:
    """Base: ``values`` (names of tensors in the context), ``external_values``
    (name → Tensor from outside), ``nested_contexts``, ``outer_context``."""

    def __init__(self) -> None:
        self.name = ""
        self.values: set[str] = set()
        self.external_values: dict[str, Operation | Tensor] = {}
        self.nested_contexts: list[ControlFlowContext] = []
        self.outer_context: ControlFlowContext | None = None

    @property
    def grad_state(self) -> None:
        """The gradient loop state: None for an imported context (as TensorFlow's)."""
        return None

    def _init_values(self, values_def: control_flow_pb2.ValuesDef, scope: str, graph: _Lookup, key: str) -> None:
        self.values = {prepend_name_scope(v, scope) for v in values_def.values}
        self.external_values = {}
        for k, v in values_def.external_values.items():
            self.external_values[prepend_name_scope(k, scope)] = collection_element(
                graph, key, prepend_name_scope(v, scope)
            )
        for op_name in sorted({v.split(":")[0] for v in self.values - set(self.external_values)}):
            collection_element(graph, key, op_name)

    def _values_def(self, export_scope: str | None) -> control_flow_pb2.ValuesDef:
        s = export_scope or ""
        out = control_flow_pb2.ValuesDef()
        out.values.extend(strip_name_scope(v, s) for v in sorted(self.values))
        for k, v in self.external_values.items():
            out.external_values[strip_name_scope(k, s)] = strip_name_scope(v.name, s)
        return out

    def _nested(self, proto: control_flow_pb2.CondContextDef | control_flow_pb2.WhileContextDef) -> None:
        # (TensorFlow writes nested contexts without the export scope: their names whole)
        for nested in self.nested_contexts:
            item = proto.nested_contexts.add()
            if isinstance(nested, CondContext):
                item.cond_ctxt.CopyFrom(nested.to_proto() or control_flow_pb2.CondContextDef())
            elif isinstance(nested, WhileContext):
                item.while_ctxt.CopyFrom(nested.to_proto() or control_flow_pb2.WhileContextDef())

    def _add_nested(
        self,
        ctxt: control_flow_pb2.ControlFlowContextDef,
        scope: str,
        graph: _Lookup,
        key: str,
        mark_cond: Callable[[], None],
    ) -> None:
        which = ctxt.WhichOneof("ctxt")
        child: ControlFlowContext | None = None
        if which == "cond_ctxt":
            child = CondContext.from_proto(ctxt.cond_ctxt, scope, graph=graph, key=key, mark_name=mark_cond, outer=self)
        elif which == "while_ctxt":
            child = WhileContext.from_proto(
                ctxt.while_ctxt, scope, graph=graph, key=key, mark_name=mark_cond, outer=self
            )
        del child


def _no_mark() -> None:
    """Default marker: nothing (the importer passes one marking ``cond_text`` used)."""


class CondContext(ControlFlowContext):
    """A ``tf.cond`` (v1) context: ``pred``, ``pivot``, ``branch``."""

    def __init__(self) -> None:
        super().__init__()
        self.pred: Operation | Tensor
        self.pivot: Operation | Tensor
        self.branch = 0

    @property
    def back_prop(self) -> bool:
        """The ``back_prop`` of the innermost while loop around this cond; False when
        there is none (as TensorFlow's)."""
        outer = self.outer_context
        while outer is not None and not isinstance(outer, WhileContext):
            outer = outer.outer_context
        return outer.back_prop if outer is not None else False

    @classmethod
    def from_proto(
        cls,
        context_def: control_flow_pb2.CondContextDef,
        import_scope: str | None = None,
        *,
        graph: _Lookup,
        key: str = "cond_context",
        mark_name: Callable[[], None] | None = None,
        outer: ControlFlowContext | None = None,
    ) -> CondContext:
        """Rebuild from a CondContextDef (nested contexts too)."""
        scope = import_scope or ""
        marker = mark_name or _no_mark
        marker()
        c = cls()
        c.outer_context = outer
        if outer is not None:
            outer.nested_contexts.append(c)
        c.name = prepend_name_scope(context_def.context_name, scope)
        c.pred = collection_element(graph, key, prepend_name_scope(context_def.pred_name, scope))
        c.pivot = collection_element(graph, key, prepend_name_scope(context_def.pivot_name, scope))
        c.branch = int(context_def.branch)
        c._init_values(context_def.values_def, scope, graph, key)
        for nested in context_def.nested_contexts:
            c._add_nested(nested, scope, graph, key, marker)
        return c

    def to_proto(self, export_scope: str | None = None) -> control_flow_pb2.CondContextDef | None:
        """The CondContextDef (names stripped of ``export_scope``, not those of the nested
        contexts, as TensorFlow; values sorted)."""
        if export_scope is not None and not self.name.startswith(export_scope):
            return None
        s = export_scope or ""
        out = control_flow_pb2.CondContextDef(
            context_name=strip_name_scope(self.name, s),
            pred_name=strip_name_scope(self.pred.name, s),
            pivot_name=strip_name_scope(self.pivot.name, s),
            branch=self.branch,
        )
        out.values_def.MergeFrom(self._values_def(export_scope))
        self._nested(out)
        return out


class WhileContext(ControlFlowContext):
    """A ``tf.while_loop`` (v1) context."""

    def __init__(self) -> None:
        super().__init__()
        self.maximum_iterations: Operation | Tensor | None = None
        self.parallel_iterations = 10
        self.back_prop = True
        self.swap_memory = False
        self.pivot_for_pred: Operation | Tensor
        self.pivot_for_body: Operation | Tensor
        self.pivot: Operation | Tensor
        self.loop_exits: list[Operation | Tensor] = []
        self.loop_enters: list[Operation | Tensor] = []

    @classmethod
    def from_proto(
        cls,
        context_def: control_flow_pb2.WhileContextDef,
        import_scope: str | None = None,
        *,
        graph: _Lookup,
        key: str = "while_context",
        mark_name: Callable[[], None] | None = None,
        outer: ControlFlowContext | None = None,
    ) -> WhileContext:
        """Rebuild from a WhileContextDef (nested contexts too). The ``frame_name`` of
        its Enter ops is rescoped by the importer (in the core rewrite)."""
        scope = import_scope or ""
        c = cls()
        c.name = prepend_name_scope(context_def.context_name, scope)

        def look(n: str) -> Operation | Tensor:
            return collection_element(graph, key, prepend_name_scope(n, scope))

        if context_def.maximum_iterations_name:
            c.maximum_iterations = look(context_def.maximum_iterations_name)
        c.parallel_iterations = int(context_def.parallel_iterations)
        c.back_prop = bool(context_def.back_prop)
        c.swap_memory = bool(context_def.swap_memory)
        c.pivot_for_pred = look(context_def.pivot_for_pred_name)
        c.pivot_for_body = look(context_def.pivot_for_body_name)
        c.pivot = look(context_def.pivot_name)
        c.loop_exits = [look(n) for n in context_def.loop_exit_names]
        c.loop_enters = [look(n) for n in context_def.loop_enter_names]
        c.outer_context = outer
        if outer is not None:
            outer.nested_contexts.append(c)
        c._init_values(context_def.values_def, scope, graph, key)
        marker = mark_name or _no_mark
        for nested in context_def.nested_contexts:
            c._add_nested(nested, scope, graph, key, marker)
        return c

    def to_proto(self, export_scope: str | None = None) -> control_flow_pb2.WhileContextDef | None:
        """The WhileContextDef (names stripped of ``export_scope``, not those of the nested
        contexts, as TensorFlow; values sorted)."""
        if export_scope is not None and not self.name.startswith(export_scope):
            return None
        s = export_scope or ""
        out = control_flow_pb2.WhileContextDef(
            context_name=strip_name_scope(self.name, s),
            parallel_iterations=self.parallel_iterations,
            back_prop=self.back_prop,
            swap_memory=self.swap_memory,
            pivot_for_pred_name=strip_name_scope(self.pivot_for_pred.name, s),
            pivot_for_body_name=strip_name_scope(self.pivot_for_body.name, s),
            pivot_name=strip_name_scope(self.pivot.name, s),
        )
        if self.maximum_iterations is not None:
            out.maximum_iterations_name = strip_name_scope(self.maximum_iterations.name, s)
        out.loop_exit_names.extend(strip_name_scope(x.name, s) for x in self.loop_exits)
        out.loop_enter_names.extend(strip_name_scope(x.name, s) for x in self.loop_enters)
        out.values_def.MergeFrom(self._values_def(export_scope))
        self._nested(out)
        return out
