"""The shared sliding-window rate limit (docs/tencent-im.md §1): never more than the limit in any second, and
room kept for an agent's save while a job uses the rest."""

from __future__ import annotations

import dataclasses
import threading
import time
from contextlib import ExitStack

import pytest
from django.db import OperationalError, connections
from django.db.models import QuerySet

from profiles.im.client import ACCOUNT_CHECK, PORTRAIT_SET
from profiles.models import RateSlot
from profiles.services.ratelimit import IN_FLIGHT_SECONDS, WINDOW_SECONDS, command_limit, job_limit, rate_limited

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "autocommit"])


def call(*, command: str, background: bool) -> float:
    """One call through the limiter that is answered at once; the seconds it waited for a place."""
    with rate_limited(command=command, background=background) as waited:
        return waited


@pytest.fixture
def limit_of_5(settings):
    settings.IM = dataclasses.replace(settings.IM, rate_limit=5)


def test_the_limits_follow_the_spec_groups(limit_of_5, settings):
    assert command_limit(PORTRAIT_SET) == 5 and command_limit(ACCOUNT_CHECK) == 2  # half, docs/tencent-im.md §1
    settings.IM = dataclasses.replace(settings.IM, rate_limit=200)
    assert job_limit(PORTRAIT_SET) == 198 and command_limit(PORTRAIT_SET) == 200


def test_no_window_of_one_second_holds_more_than_the_limit(limit_of_5):
    stamps = []
    for _ in range(12):
        call(command=PORTRAIT_SET, background=False)
        stamps.append(time.monotonic())
    for index in range(len(stamps) - 5):
        assert stamps[index + 5] - stamps[index] >= WINDOW_SECONDS


def test_a_job_at_its_ceiling_leaves_room_for_an_agent(limit_of_5):
    for _ in range(job_limit(PORTRAIT_SET)):  # the job takes all it may: 4 of 5
        call(command=PORTRAIT_SET, background=True)
    started = time.monotonic()
    call(command=PORTRAIT_SET, background=False)
    assert time.monotonic() - started < 0.5  # the agent is not queued behind the job (a second)
    waited = call(command=PORTRAIT_SET, background=True)
    assert waited > 0.5  # the job waits for its window to move on


def test_an_agent_never_waits_in_line_behind_job_threads_of_its_own_process(limit_of_5):
    """A process's waiting job threads ask for places one at a time; an agent's call is in a line
    of its own and goes at once while they wait."""
    for _ in range(job_limit(PORTRAIT_SET)):
        call(command=PORTRAIT_SET, background=True)
    granted: list[float] = []

    def job_call() -> None:
        try:
            call(command=PORTRAIT_SET, background=True)
            granted.append(time.monotonic())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=job_call) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # the job's window is full: its threads are waiting, one of them for a place
    assert not granted
    started = time.monotonic()
    call(command=PORTRAIT_SET, background=False)
    assert time.monotonic() - started < 0.5  # at once, not after the job threads (a second)
    for thread in threads:
        thread.join(timeout=15)
    assert len(granted) == 3


def test_a_call_holds_its_place_until_its_answer_is_back_and_a_second_after(limit_of_5):
    """Tencent counts a call when it arrives, which may be late in a slow call: a place is not used
    again while its call is in flight, however long that is, and only a second after it ended."""
    with ExitStack() as in_flight:
        for _ in range(5):
            in_flight.enter_context(rate_limited(command=PORTRAIT_SET, background=False))
        time.sleep(1.2)  # five slow calls, still unanswered after a second
        free_after = threading.Event()
        waits: list[float] = []

        def sixth_call() -> None:
            try:
                waits.append(call(command=PORTRAIT_SET, background=False))
            finally:
                free_after.set()
                connections.close_all()

        thread = threading.Thread(target=sixth_call)
        thread.start()
        assert not free_after.wait(0.3)  # every place is held by a call in flight
        answered = time.monotonic()
    thread.join(timeout=10)
    assert len(waits) == 1 and time.monotonic() - answered >= WINDOW_SECONDS * 0.98


def test_a_call_that_fails_gives_its_place_back_to_rest_a_second(limit_of_5):
    with pytest.raises(ConnectionError), rate_limited(command=PORTRAIT_SET, background=False):
        raise ConnectionError("the call failed")
    place = RateSlot.objects.using("autocommit").get(command=PORTRAIT_SET, free_at__gt=0)
    assert place.holder == "" and 0.9 < place.free_at - time.time() <= WINDOW_SECONDS


def test_a_place_that_cannot_be_given_back_stays_taken_and_the_call_goes_on(limit_of_5, monkeypatch, caplog):
    """The database refusing the give-back (locked, gone away) must not turn a call Tencent answered
    into an error: the answer is still recorded, and the place stays taken for IN_FLIGHT_SECONDS."""
    real_update = QuerySet.update

    def refusing_give_back(queryset, **values):
        if queryset.model is RateSlot and values.get("holder") == "":
            raise OperationalError("database is locked")
        return real_update(queryset, **values)

    monkeypatch.setattr(QuerySet, "update", refusing_give_back)
    call(command=PORTRAIT_SET, background=False)
    monkeypatch.undo()
    place = RateSlot.objects.using("autocommit").get(command=PORTRAIT_SET, holder__gt="")
    assert place.free_at - time.time() > IN_FLIGHT_SECONDS - 5
    assert "rate-limit place could not be given back: database is locked" in caplog.text
