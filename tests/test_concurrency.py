"""ThreadPool: the order of results, errors raised in the caller, the calling thread for one item, and a
pool's threads kept (with their connections) from one map to the next."""

from __future__ import annotations

import threading
import time

import pytest

from profiles.services.concurrency import ThreadPool


def map_in_threads(function, items, *, threads):
    """One map in a pool of its own, as a single pull without a caller's pool does."""
    with ThreadPool(threads) as pool:
        return pool.map(function, items)


def test_results_come_back_in_the_order_of_the_items_whatever_order_the_calls_end_in():
    def slow_first(n: int) -> int:
        time.sleep(0.05 if n == 0 else 0)
        return n * n

    assert map_in_threads(slow_first, list(range(10)), threads=4) == [n * n for n in range(10)]


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

    map_in_threads(call, list(range(8)), threads=3)
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
        map_in_threads(call, list(range(50)), threads=2)
    assert len(started) < 50


def test_a_single_item_runs_in_the_calling_thread():
    assert map_in_threads(lambda _n: threading.current_thread(), [1], threads=4) == [threading.current_thread()]


@pytest.mark.django_db(transaction=True)
def test_a_pool_keeps_its_threads_and_their_connections_across_maps_and_closes_them_on_exit():
    from django.db import connections

    def connection_of_this_thread(_n: int) -> tuple[threading.Thread, int]:
        time.sleep(0.02)  # both threads take items
        connection = connections["default"]
        connection.ensure_connection()
        return threading.current_thread(), id(connection.connection)

    with ThreadPool(2) as pool:
        first = pool.map(connection_of_this_thread, [1, 2, 3, 4])
        second = pool.map(connection_of_this_thread, [1, 2, 3, 4])
        threads = {thread for thread, _connection in first + second}
        assert len(threads) == 2 and threading.current_thread() not in threads
        # The connections of the first round served the second: none was opened again.
        assert {connection for _thread, connection in second} <= {connection for _thread, connection in first}
    assert not any(thread.is_alive() for thread in threads)
