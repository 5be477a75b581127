"""Running service work in a few threads of one process (calls to Tencent kept in flight while
answers are stored), each thread closing its database connections when it ends."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections

Item = TypeVar("Item")
Result = TypeVar("Result")


def run_in_threads(target: Callable[[], None], copies: int) -> None:
    """Run ``target`` in ``copies`` threads at once and wait for all of them. Django opens a
    connection per thread: each thread closes its own when its ``target`` returns. The first
    exception a thread raised is raised here."""

    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=copies) as pool:
        futures = [pool.submit(run) for _ in range(copies)]
    for future in futures:
        future.result()


def map_in_threads(function: Callable[[Item], Result], items: Iterable[Item], threads: int) -> list[Result]:
    """``[function(item) for item in items]`` with up to ``threads`` calls at once, results in the
    order of ``items``. One item, or one thread, runs in the calling thread. After an exception no
    new item is started, and the exception is raised here."""
    listed = list(items)
    if threads <= 1 or len(listed) <= 1:
        return [function(item) for item in listed]
    pending: queue.SimpleQueue[tuple[int, Item]] = queue.SimpleQueue()
    for pair in enumerate(listed):
        pending.put(pair)
    results: list[Result | None] = [None] * len(listed)
    failed: list[BaseException] = []

    def drain() -> None:
        while not failed:
            try:
                index, item = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = function(item)
            except BaseException as exc:
                failed.append(exc)
                raise

    run_in_threads(drain, min(threads, len(listed)))
    return results  # type: ignore[return-value]
