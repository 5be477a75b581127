"""Running one service function over many items in a few threads, the database handled as Django
needs it: every thread opens its own connections, and closes them when it is done."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.db import connections

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_threads(function: Callable[[Item], Result], items: Sequence[Item], *, threads: int) -> list[Result]:
    """``[function(item) for item in items]``, with up to ``threads`` calls running at once.

    Results come back in the order of ``items``. A single item runs in the calling thread (no
    thread, and the caller's own connections). If a call raises, no new item is started and the
    first exception is raised here once the running calls have ended.
    """
    if len(items) <= 1 or threads <= 1:
        return [function(item) for item in items]
    results: list[Result | None] = [None] * len(items)
    errors: list[BaseException] = []
    lock = threading.Lock()
    remaining = iter(range(len(items)))

    def work() -> None:
        try:
            while True:
                with lock:
                    index = None if errors else next(remaining, None)
                if index is None:
                    return
                try:
                    results[index] = function(items[index])
                except BaseException as exc:  # re-raised in the caller's thread
                    with lock:
                        errors.append(exc)
        finally:
            # This thread's connections (Django opens one per thread and alias) end with it.
            connections.close_all()

    workers = [threading.Thread(target=work, daemon=True) for _ in range(min(threads, len(items)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
