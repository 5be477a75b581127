"""write_turn: threads and processes writing one SQLite file take turns, a thread may nest its turns,
and a forked child (a django-q2 worker) waits for its parent's turn instead of sharing it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from profiles.services.writeturn import _lock_path, write_turn

from .conftest import audited_db

# Every alias on the test database, as the services use them.
pytestmark = audited_db
# The behaviour of turns, which exist on SQLite only (on PostgreSQL a turn is nothing, tested below).
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="turns exist on SQLite only")


def test_the_aliases_of_one_sqlite_file_share_one_lock_file_beside_it_and_other_databases_have_none():
    path = _lock_path("default")
    if connection.vendor == "sqlite":
        assert path is not None and path.endswith(".sqlite3.writeturn")
        assert _lock_path("autocommit") == _lock_path("ratelimit") == path
    else:
        assert path is None and _lock_path("autocommit") is None and _lock_path("ratelimit") is None
        with write_turn("default"):  # nothing to take, nothing to wait for
            pass


@sqlite_only
def test_a_thread_may_take_its_turn_again_inside_its_turn():
    with write_turn("default"), write_turn("ratelimit"), write_turn("autocommit"):
        pass
    # And the turn was given back: another thread gets it at once.
    got = threading.Event()

    def other() -> None:
        with write_turn("default"):
            got.set()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=5)
    assert got.is_set()


@sqlite_only
def test_threads_never_hold_the_turn_at_once():
    holding, overlaps, lock = 0, 0, threading.Lock()

    def writer() -> None:
        nonlocal holding, overlaps
        for _ in range(20):
            with write_turn("default"):
                with lock:
                    holding += 1
                    overlaps += holding > 1
                time.sleep(0.001)
                with lock:
                    holding -= 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert overlaps == 0


@sqlite_only
def test_another_process_holding_the_turn_makes_this_one_wait():
    path = _lock_path("default")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({path!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True)\n"
         "time.sleep(0.4)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with write_turn("default"):
            waited = time.monotonic() - started
    finally:
        holder.wait(timeout=10)
    assert waited >= 0.2, waited


@sqlite_only
@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")
def test_a_forked_child_waits_for_its_parents_turn():
    read_end, write_end = os.pipe()
    with write_turn("default"):  # the parent's lock file is open before the fork
        pid = os.fork()
        if pid == 0:  # the child: take the turn, report how long that took
            try:
                started = time.monotonic()
                with write_turn("default"):
                    os.write(write_end, f"{time.monotonic() - started:.3f}".encode())
            finally:
                os._exit(0)
        time.sleep(0.4)
    os.close(write_end)
    waited = float(os.read(read_end, 64).decode())
    os.waitpid(pid, 0)
    os.close(read_end)
    assert waited >= 0.2, waited


@sqlite_only
def test_a_thread_inside_a_transaction_on_the_file_writes_without_waiting_for_a_turn():
    """Waiting for a turn while holding SQLite's lock could wait for a turn's holder who waits for
    that very lock; such a writer goes on as it would without turns."""
    from django.db import transaction

    from profiles.models import Profile

    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with write_turn("default"):
            holding.set()
            release.wait(timeout=5)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert holding.wait(timeout=5)
        with transaction.atomic():
            Profile.objects.create(user_id="in_a_transaction")  # this thread now holds SQLite's lock
            started = time.monotonic()
            with write_turn("ratelimit"):
                waited = time.monotonic() - started
    finally:
        release.set()
        thread.join(timeout=5)
    assert waited < 0.5, waited
