"""Taking turns at SQLite's single write lock, across every thread and process of the application.

SQLite lets one connection write at a time. A connection that finds the lock taken sleeps in SQLite's
busy handler for 1, 2, 5, 10 ms and longer, whether or not the lock was freed meanwhile; with a job's
threads in two worker processes writing several short transactions per edit, the lock then stands
idle while its waiters sleep, and most of a thread's time went to that sleep. ``write_turn`` puts
those writers in a queue instead: a lock in the process for its threads, and an ``flock`` on a file
beside the database for the processes, each handed on the moment it is released. The database's own
lock is then free whenever a turn begins, so its busy handler rarely runs.

Nothing depends on it for correctness: SQLite's lock still decides, and a writer that takes no turn
(an admin save, django-q2's broker) waits in the busy handler as before. A thread that already has a
transaction open on the file writes without a turn, so it never waits for a turn while holding the
lock a turn's holder waits for. On other databases, and where ``fcntl`` does not exist, a turn is
nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

from .perprocess import PerProcess

try:
    import fcntl
except ImportError:  # not on Windows: the threads of one process still take turns
    fcntl = None  # type: ignore[assignment]


class _Turns:
    """The turn of one database file in one process: a re-entrant thread lock, and the open lock
    file whose flock the process holds while one of its threads has the turn."""

    def __init__(self, path: str) -> None:
        self.lock = threading.RLock()
        self.depth = threading.local()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if fcntl is not None else None

    def held_here(self) -> bool:
        return getattr(self.depth, "n", 0) > 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self.lock:
            depth = getattr(self.depth, "n", 0)
            self.depth.n = depth + 1
            try:
                if depth == 0 and self.fd is not None:
                    fcntl.flock(self.fd, fcntl.LOCK_EX)  # releases the GIL while it waits
                try:
                    yield
                finally:
                    if depth == 0 and self.fd is not None:
                        fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                self.depth.n = depth


# The child of a fork (a django-q2 worker, a pull's worker) starts without turns: another thread of
# the parent may have held one, and an flock belongs to the open file, which a fork shares, so the
# child opens lock files of its own.
_turns: PerProcess[str, _Turns] = PerProcess()


_paths: dict[str, str | None] = {}


def _lock_path(using: str) -> str | None:
    """The lock file of the database ``using`` names (None: no turns there). The aliases of one
    SQLite file (default, audit, rate limit) share it."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict["NAME"])
    if name not in _paths:
        absolute = os.path.abspath(name)
        in_file = not connection.is_in_memory_db() and os.path.isdir(os.path.dirname(absolute))
        _paths[name] = f"{absolute}.writeturn" if in_file else None
    return _paths[name]


def _turns_for(path: str) -> _Turns:
    # The first write of this process to the file opens its lock file, once.
    return _turns.get_or_make(path, lambda: _Turns(path))


@contextmanager
def write_turn(using: str) -> Iterator[None]:
    """Run a short write transaction (or statement) on ``using`` in its turn. Re-entrant within a
    thread. Never hold a turn across a call to Tencent or anything else slow."""
    path = _lock_path(using)
    if path is None:
        yield
        return
    turns = _turns_for(path)
    if not turns.held_here() and _in_transaction_on(path):
        # This thread has a transaction open on the file already (a caller's atomic block, which
        # may hold SQLite's lock): waiting for a turn could mean waiting for a writer who waits
        # for that lock. It writes as it would without turns.
        yield
        return
    with turns.turn():
        yield


def _in_transaction_on(path: str) -> bool:
    return any(
        connection.in_atomic_block and _lock_path(connection.alias) == path
        for connection in connections.all(initialized_only=True)
    )
