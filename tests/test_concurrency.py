"""ThreadPool: the order of results, errors raised in the caller, the calling thread for one item, and a
pool's threads kept (with their connections) from one map to the next. map_in_processes: every item's
result from forked worker processes, a failed or killed worker's items reported, never dropped, and
no fork where the children could not see the caller's data."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.db import connections, transaction

from profiles.models import Profile
from profiles.services import gateway
from profiles.services.concurrency import ThreadPool, can_fork, fork_supported, map_in_processes
from profiles.services.perprocess import PerProcess

from .conftest import needs_fork


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


def squares_with_pid(items):
    """A worker's work: set up once per process (here: its pid), then one result per item."""
    pid = os.getpid()
    for n in items:
        time.sleep(0.01)  # every worker gets items
        yield n, n * n, pid


def lost(n, reason):
    return n, None, reason



@needs_fork
def test_every_item_gets_its_result_from_the_worker_processes():
    results = list(map_in_processes(squares_with_pid, iter(range(20)), 3, lost=lost))
    assert sorted((n, square) for n, square, _pid in results) == [(n, n * n) for n in range(20)]
    pids = {pid for _n, _square, pid in results}
    assert len(pids) == 3 and os.getpid() not in pids


def test_one_process_or_too_few_items_for_two_run_here():
    assert [pid for *_rest, pid in map_in_processes(squares_with_pid, range(3), 1, lost=lost)] == [os.getpid()] * 3
    assert [pid for *_rest, pid in map_in_processes(squares_with_pid, [7], 4, lost=lost)] == [os.getpid()]
    # Two processes would have one item each: not worth a fork.
    assert {pid for *_rest, pid in map_in_processes(squares_with_pid, range(3), 4, lost=lost)} == {os.getpid()}


@needs_fork
def test_each_process_started_has_two_items_at_least():
    results = list(map_in_processes(squares_with_pid, range(5), 4, lost=lost))
    assert sorted(n for n, _square, _pid in results) == list(range(5))
    assert len({pid for *_rest, pid in results}) == 2 and os.getpid() not in {pid for *_rest, pid in results}


@needs_fork
def test_items_of_a_worker_whose_work_raised_come_back_lost_with_the_error_and_the_rest_go_on():
    def work(items):
        for n in items:
            if n == 5:
                raise RuntimeError("round 5 broke")
            yield n, n * n, os.getpid()

    results = {n: (square, extra) for n, square, extra in map_in_processes(work, range(30), 2, lost=lost)}
    assert sorted(results) == list(range(30))  # nothing dropped
    assert results[5] == (None, "its worker process failed: RuntimeError: round 5 broke")
    failed = {n for n, (square, _extra) in results.items() if square is None}
    # The failed worker's other queued item (if it had one) is lost with it; the other worker did the rest.
    assert 5 in failed and len(failed) <= 2
    assert all(results[n] == (n * n, results[n][1]) for n in set(results) - failed)


@needs_fork
def test_items_of_a_killed_worker_come_back_lost_with_its_exit_code():
    def work(items):
        for n in items:
            if n == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            yield n, n * n, os.getpid()

    results = {n: (square, extra) for n, square, extra in map_in_processes(work, range(12), 2, lost=lost)}
    assert sorted(results) == list(range(12))
    assert results[3] == (None, "its worker process ended (exit code -9)")
    assert sum(square is not None for square, _extra in results.values()) >= 10


@needs_fork
def test_when_every_worker_has_failed_the_items_nobody_took_are_lost_too():
    def work(items):
        for _n in items:
            raise ValueError("database is down")
        yield  # a generator

    results = list(map_in_processes(work, range(10), 2, lost=lost))
    assert sorted(n for n, _square, _reason in results) == list(range(10))
    reasons = {reason for _n, _square, reason in results}
    assert reasons <= {"its worker process failed: ValueError: database is down",
                       "no worker process was left to take it"}


@needs_fork
@pytest.mark.django_db(transaction=True)
def test_worker_processes_use_connections_of_their_own_and_see_committed_rows():
    Profile.objects.create(user_id="u_seen")

    def work(items):
        for user_id in items:
            # Each child opens its own connection; writes of one are seen by the parent once done.
            seen = Profile.objects.filter(user_id="u_seen").exists()
            Profile.objects.create(user_id=user_id)
            yield user_id, seen, os.getpid()

    results = list(map_in_processes(work, ["u_a", "u_b", "u_c", "u_d"], 2, lost=lost))
    assert all(seen for _user_id, seen, _pid in results)
    assert set(Profile.objects.values_list("user_id", flat=True)) == {"u_seen", "u_a", "u_b", "u_c", "u_d"}


@pytest.mark.django_db(transaction=True)
def test_no_fork_while_a_transaction_is_open_its_rows_would_be_invisible_to_the_children():
    assert can_fork() == fork_supported()
    with transaction.atomic():
        Profile.objects.create(user_id="u_uncommitted")
        assert not can_fork()
        results = list(map_in_processes(squares_with_pid, range(4), 2, lost=lost))
    assert {pid for *_rest, pid in results} == {os.getpid()}


@needs_fork
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_makes_its_own_client_instead_of_sending_on_its_parents_connections():
    parent_client = gateway.im_client()
    parent_lock = gateway._clients.lock

    def work(items):
        for n in items:
            client = gateway.im_client()
            yield n, client is parent_client, gateway._clients.lock is parent_lock

    results = list(map_in_processes(work, range(4), 2, lost=lost))
    assert [(shared, lock) for _n, shared, lock in results] == [(False, False)] * 4
    assert gateway.im_client() is parent_client and connections["default"].vendor


@needs_fork
def test_what_a_process_made_for_itself_is_made_again_in_a_forked_child():
    made = PerProcess()
    parent_value = made.get_or_make("key", object)
    assert made.get_or_make("key", object) is parent_value  # made once
    parent_lock = made.lock

    def work(items):
        for n in items:
            value = made.get_or_make("key", object)
            yield n, value is parent_value, made.lock is parent_lock, made.get_or_make("key", object) is value

    results = list(map_in_processes(work, range(4), 2, lost=lost))
    # Each child made its own value (once) and has a lock of its own; the parent keeps its own.
    assert [result[1:] for result in results] == [(False, False, True)] * 4
    assert made.get_or_make("key", object) is parent_value and made.lock is parent_lock
