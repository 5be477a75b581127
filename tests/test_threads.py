"""The few threads a pull or a job slice keeps calls in flight with (services.threads), and the
Tencent client each process makes for itself."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.db import connections

from profiles.services import gateway
from profiles.services.threads import map_in_threads, run_in_threads


def test_results_come_back_in_the_order_of_the_items_whatever_order_the_calls_end_in():
    def slow_first(n: int) -> int:
        time.sleep(0.05 if n == 0 else 0)
        return n * n

    assert map_in_threads(slow_first, range(10), 4) == [n * n for n in range(10)]


def test_calls_run_at_once_up_to_the_thread_count():
    running, peak, lock = 0, 0, threading.Lock()

    def call(_n: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    map_in_threads(call, range(8), 3)
    assert peak == 3


def test_an_error_in_one_call_is_raised_to_the_caller_and_stops_new_calls():
    started: list[int] = []

    def call(n: int) -> int:
        started.append(n)
        if n == 1:
            raise ValueError("item 1 is bad")
        time.sleep(0.02)
        return n

    with pytest.raises(ValueError, match="item 1 is bad"):
        map_in_threads(call, range(50), 2)
    assert len(started) < 50


def test_a_single_item_runs_in_the_calling_thread():
    assert map_in_threads(lambda _n: threading.current_thread(), [1], 4) == [threading.current_thread()]


@pytest.mark.django_db(transaction=True)
def test_each_thread_closes_its_database_connections_when_it_ends():
    opened = []

    def use_the_database() -> None:
        connection = connections["default"]
        connection.ensure_connection()
        opened.append(connection)

    run_in_threads(use_the_database, 3)
    assert len(opened) == 3
    assert all(connection.connection is None for connection in opened)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a forked child (a django-q2 worker) needs fork")
def test_a_forked_child_makes_its_own_client_instead_of_sending_on_its_parents_connections():
    parent_client = gateway.im_client()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: as a django-q2 worker forked from its cluster
        try:
            child_client = gateway.im_client()
            answer = b"own" if child_client is not parent_client and gateway.im_client() is child_client else b"shared"
            os.write(write_end, answer)
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 16)
    os.waitpid(pid, 0)
    os.close(read_end)
    assert answer == b"own"
    assert gateway.im_client() is parent_client
