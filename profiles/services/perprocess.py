"""What a process makes for itself and must not share with a child it forks."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class PerProcess(dict[Key, Value], Generic[Key, Value]):
    """Things this process made for itself (Tencent clients with their keep-alive sockets, rate-limit
    lines, open lock files), by key, with the lock that guards adding to them.

    A forked child (a pull's worker process, a django-q2 worker) starts with none and a new lock:
    two processes sending on one socket garble both exchanges, an ``flock`` belongs to the open file
    that a fork shares, and another thread of the parent may have held a lock at the fork.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def get_or_make(self, key: Key, make: Callable[[], Value]) -> Value:
        """The value for ``key``, made once per process (looked up without the lock once made)."""
        value = self.get(key)
        if value is None:
            with self.lock:
                value = self.get(key)
                if value is None:
                    value = self[key] = make()
        return value
