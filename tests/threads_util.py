"""Running one piece of work on several threads at once, for the concurrency tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_concurrently(work: Callable[[], Any], count: int = 4) -> list[Any]:
    """Run ``work`` on ``count`` threads started together; return the results, in no
    particular order. An exception in any thread is re-raised here (the first one)."""
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(work())
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
