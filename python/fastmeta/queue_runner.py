"""``QueueRunner`` rebuilt from a QueueRunnerDef (names prefixed and looked up, as
TensorFlow's ``QueueRunner(queue_runner_def=..., import_scope=...)``)."""

from __future__ import annotations

from fastmeta.errors import CollectionError
from fastmeta.graph import Operation, Tensor, _Lookup, collection_element
from fastmeta.protos import queue_runner_pb2
from fastmeta.scoping import prepend_name_scope, strip_name_scope

__all__ = ["QueueRunner"]

OUT_OF_RANGE = 11


def _op(x: Operation | Tensor) -> Operation:
    return x if isinstance(x, Operation) else x.op


class QueueRunner:
    """A queue runner of an imported graph: ``queue`` (the queue op), ``enqueue_ops``,
    ``close_op``, ``cancel_op``, ``queue_closed_exception_types`` (error code ints)."""

    def __init__(
        self,
        queue: Operation,
        enqueue_ops: list[Operation],
        close_op: Operation,
        cancel_op: Operation,
        queue_closed_exception_types: tuple[int, ...] = (OUT_OF_RANGE,),
    ):
        self.queue = queue
        self.enqueue_ops = enqueue_ops
        self.close_op = close_op
        self.cancel_op = cancel_op
        self.queue_closed_exception_types = queue_closed_exception_types

    @property
    def name(self) -> str:
        """The queue's name."""
        return self.queue.name

    @classmethod
    def from_proto(
        cls,
        queue_runner_def: queue_runner_pb2.QueueRunnerDef,
        import_scope: str | None = None,
        *,
        graph: _Lookup,
        key: str = "queue_runners",
    ) -> QueueRunner:
        """Rebuild from a QueueRunnerDef, names prefixed with ``import_scope`` and looked
        up in ``graph`` (CollectionError naming the key and name when missing)."""
        scope = import_scope or ""
        queue = _op(collection_element(graph, key, prepend_name_scope(queue_runner_def.queue_name, scope)))
        enqueue = [
            _op(collection_element(graph, key, prepend_name_scope(n, scope))) for n in queue_runner_def.enqueue_op_name
        ]
        close = _op(collection_element(graph, key, prepend_name_scope(queue_runner_def.close_op_name, scope)))
        cancel = _op(collection_element(graph, key, prepend_name_scope(queue_runner_def.cancel_op_name, scope)))
        codes = tuple(int(c) for c in queue_runner_def.queue_closed_exception_types) or (OUT_OF_RANGE,)
        for code in codes:
            if not 1 <= code <= 16:  # (CANCELLED ... UNAUTHENTICATED: TensorFlow's KeyError otherwise)
                raise CollectionError(
                    f"collection '{key}': queue_closed_exception_types holds {code}, a code no TensorFlow error "
                    "class has",
                    key=key,
                    name=queue_runner_def.queue_name,
                )
        return cls(queue, enqueue, close, cancel, codes)

    def to_proto(self, export_scope: str | None = None) -> queue_runner_pb2.QueueRunnerDef | None:
        """The QueueRunnerDef (names stripped of ``export_scope``; None when outside it)."""
        if export_scope is not None and not self.queue.name.startswith(export_scope):
            return None
        s = export_scope or ""
        out = queue_runner_pb2.QueueRunnerDef(queue_name=strip_name_scope(self.queue.name, s))
        out.enqueue_op_name.extend(strip_name_scope(op.name, s) for op in self.enqueue_ops)
        out.close_op_name = strip_name_scope(self.close_op.name, s)
        out.cancel_op_name = strip_name_scope(self.cancel_op.name, s)
        out.queue_closed_exception_types.extend(self.queue_closed_exception_types)  # type: ignore[arg-type]
        return out
