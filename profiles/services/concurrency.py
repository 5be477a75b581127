"""Running one service function over many items in a few threads, or in a few forked processes, the
database handled as Django needs it: every thread and process opens its own connections, and
closes them when it ends."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

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


def fork_supported() -> bool:
    """Whether this platform forks safely: POSIX, but not macOS, where a forked child that uses the
    system's frameworks (as proxy lookups do) may crash; Python itself spawns processes there."""
    return hasattr(os, "fork") and sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()


def can_fork() -> bool:
    """Whether work may go to forked processes from here: the platform forks (``fork_supported``),
    and no connection of this thread has a transaction open (the children could not see what it
    has not committed) or holds a database that lives in this process's memory (a child would get
    a copy of it)."""
    if not fork_supported():
        return False
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            return False
    return not any(
        connections[alias].vendor == "sqlite" and connections[alias].is_in_memory_db() for alias in connections
    )


# Items handed to a worker process before it answers the first: it starts the next as soon as it has
# sent a result, without waiting for the parent to send one.
_QUEUED_PER_PROCESS = 2
_END = object()


@dataclass
class _Worker:
    process: Any
    connection: Connection
    queued: deque = field(default_factory=deque)


@dataclass(frozen=True)
class _Failed:
    """What a worker process sends instead of a result when its work raised."""

    reason: str


def map_in_processes(
    work: Callable[[Iterator[Item]], Iterator[Result]],
    items: Iterable[Item],
    processes: int,
    *,
    lost: Callable[[Item, str], Result],
) -> Iterator[Result]:
    """Yield ``work``'s result for every item, computed in up to ``processes`` forked processes, in
    the order they are ready.

    ``work`` gets an iterator of items and yields one result per item, in order. It runs once in
    each process, so whatever it sets up (threads, connections) serves all of that process's items.
    Items are handed out as processes become free. Results must pickle. An item whose process
    failed (``work`` raised: its message is given) or ended (killed) before answering yields
    ``lost(item, reason)`` instead: no item is dropped.

    A process starts only for two items or more: a fork, and a child touching (so copying) its
    parent's memory and opening its own connections, cost more than one item gains. With fewer
    items than that for two processes, or where ``can_fork()`` is false, ``work`` runs here, and
    its exceptions are raised here.
    """
    source = iter(items)
    first = list(itertools.islice(source, 2 * max(1, processes)))
    count = min(processes, len(first) // 2)
    if count <= 1 or not can_fork():
        yield from work(itertools.chain(first, source))
        return
    # The children must not share this thread's open connections (a SQLite handle or a PostgreSQL
    # socket used by two processes corrupts both): they are closed here, and reopened on next use.
    connections.close_all()
    context = multiprocessing.get_context("fork")
    workers: dict[Connection, _Worker] = {}
    for _n in range(count):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_serve, args=(work, child_end), daemon=True)
        process.start()
        child_end.close()
        workers[parent_end] = _Worker(process, parent_end)
    # The items read to decide, then the rest as they are needed.
    remaining = itertools.chain(first, source)

    def hand_out(worker: _Worker) -> None:
        while len(worker.queued) < _QUEUED_PER_PROCESS:
            item = next(remaining, _END)
            if item is _END:
                return
            worker.queued.append(item)
            try:
                worker.connection.send(item)
            except OSError:
                # The process has just ended: its answer (its failure, or the end of its pipe)
                # is read next, and its queued items, this one too, are reported lost then.
                return

    try:
        for worker in list(workers.values()):
            hand_out(worker)
        while workers:
            busy = [connection for connection, worker in workers.items() if worker.queued]
            if not busy:
                break
            for connection in wait(busy):
                worker = workers[connection]
                try:
                    message = connection.recv()
                except (EOFError, OSError):
                    worker.process.join()
                    message = _Failed(f"its worker process ended (exit code {worker.process.exitcode})")
                if isinstance(message, _Failed):
                    del workers[connection]
                    connection.close()
                    worker.process.join(timeout=30)  # it ends once it has said why
                    while worker.queued:
                        yield lost(worker.queued.popleft(), message.reason)
                    continue
                worker.queued.popleft()
                yield message
                hand_out(worker)
        # Every worker process failed: what nobody took is reported, not dropped.
        for item in remaining:
            yield lost(item, "no worker process was left to take it")
    finally:
        _stop(list(workers.values()))


def _serve(work: Callable[[Iterator[Any]], Iterator[Any]], connection: Connection) -> None:
    """A forked worker process: items from the pipe, ``work``'s results back, until told to stop."""
    # Ctrl-C reaches the whole process group: the parent stops handing out items and tells its
    # workers to stop, and each ends after the items it has, rather than in the middle of one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def items() -> Iterator[Any]:
        while True:
            try:
                item = connection.recv()
            except EOFError:  # the parent went away
                return
            if item is None:
                return
            yield item

    try:
        for result in work(items()):
            connection.send(result)
    except Exception as exc:  # reported to the parent, whose items of this process are then lost
        connection.send(_Failed(f"its worker process failed: {type(exc).__name__}: {exc}"))
    finally:
        connections.close_all()
        connection.close()


def _stop(workers: list[_Worker]) -> None:
    for worker in workers:
        with contextlib.suppress(OSError):  # ended already
            worker.connection.send(None)
    for worker in workers:
        worker.process.join(timeout=30)
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join()
        worker.connection.close()
