"""map_in_threads: the order of results, errors raised in the caller, and the calling thread for one item."""

from __future__ import annotations

import threading
import time

import pytest

from profiles.services.concurrency import map_in_threads


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
