"""Running one service function over many items in a few threads, the database handled as Django
needs it: every thread opens its own connections, and closes them when it ends."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.db import connections

Item = TypeVar("Item")
Result = TypeVar("Result")


class ThreadPool:
    """A few threads that keep their database connections from one ``map`` to the next.

    A command that works in rounds (``im_pull --all``) opens each thread's connections once, not
    once a round: opening a SQLite connection costs about a millisecond of CPU. Use it as a
    context manager; on leaving it every thread closes its connections and ends.
    """

    def __init__(self, threads: int) -> None:
        self.size = max(1, threads)
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> ThreadPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for _thread in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _serve(self) -> None:
        try:
            while (task := self._tasks.get()) is not None:
                task()
        finally:
            # This thread's connections (Django opens one per thread and alias) end with it.
            connections.close_all()

    def map(self, function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        """``[function(item) for item in items]``, with up to ``size`` calls running at once.

        Results come back in the order of ``items``. A single item runs in the calling thread (no
        thread, and the caller's own connections). If a call raises, no new item is started and the
        first exception is raised here once the running calls have ended.
        """
        if len(items) <= 1 or self.size <= 1:
            return [function(item) for item in items]
        results: list[Result | None] = [None] * len(items)
        errors: list[BaseException] = []
        lock = threading.Lock()
        remaining = iter(range(len(items)))
        workers = min(self.size, len(items))
        finished = threading.Semaphore(0)

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
                finished.release()

        while len(self._threads) < workers:
            thread = threading.Thread(target=self._serve, daemon=True)
            thread.start()
            self._threads.append(thread)
        for _worker in range(workers):
            self._tasks.put(work)
        for _worker in range(workers):
            finished.acquire()
        if errors:
            raise errors[0]
        return results  # type: ignore[return-value]

