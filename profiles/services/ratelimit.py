"""One rate limit for every process and machine that calls Tencent (docs/tencent-im.md §1): at most
IM_RATE_LIMIT calls of an API command in any sliding second, with headroom kept for interactive edits.

A command has one ``RateSlot`` row per call it may make in a second. A caller takes a free place
with one conditional UPDATE and holds it while its call is in flight; when the answer is back it
gives the place back, free again one second later. Tencent counts a call when it arrives, which is
after the place was taken and before the answer came back, so two calls through one place arrive
more than a second apart, however long a call waited to be sent or to be answered: no sliding second
holds more calls than there are places. Times are Unix seconds from each process's clock: processes
on several machines keep their clocks in step (NTP), as any shared window needs. Background jobs
may take only the first ``job_limit`` places: the others are always there for an agent's save.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min, Subquery

from ..im.client import ACCOUNT_CHECK, MULTIACCOUNT_IMPORT
from ..models import RateSlot
from .db import AUTOCOMMIT_DB

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 1.0
# How long a place stays taken if its holder never gives it back (a process killed mid-call): far
# longer than any call may last (the client's timeouts), so a slow call's place is never reused early.
IN_FLIGHT_SECONDS = 60.0
# docs/tencent-im.md §1: account_check, multiaccount_import (and account_delete) allow half the calls.
HALF_RATE_COMMANDS = {ACCOUNT_CHECK, MULTIACCOUNT_IMPORT, "im_open_login_svc/account_delete"}


def command_limit(command: str) -> int:
    limit = settings.IM.rate_limit
    return max(1, limit // 2) if command in HALF_RATE_COMMANDS else limit


def job_limit(command: str) -> int:
    """Background jobs leave 1 % of the calls (at least one) free in every window, so an agent's save
    never waits behind a job: 198 of 200, 49 of 50."""
    limit = command_limit(command)
    return max(1, limit - max(1, limit // 100))


@contextmanager
def rate_limited(*, command: str, background: bool) -> Iterator[float]:
    """Block until a call of ``command`` may be sent, hold a place for it while the block runs (the
    call), and give the place back when it ends, however it ends. Yields the seconds waited.

    Every call takes one of the command's places; a background call only one of the first
    ``job_limit``, so an agent's call waits only when agents alone fill the window.
    """
    holder = uuid.uuid4().hex
    waited = _take_place(command=command, places=job_limit(command) if background else command_limit(command),
                         holder=holder)
    try:
        yield waited
    finally:
        # The answer is back (or the call failed): the place rests for a second from now.
        try:
            RateSlot.objects.using(AUTOCOMMIT_DB).filter(command=command, holder=holder).update(
                free_at=time.time() + WINDOW_SECONDS, holder=""
            )
        except DatabaseError as exc:
            # The call's answer matters more: it is still recorded. The place stays taken until
            # IN_FLIGHT_SECONDS have passed, which errs on the safe side of the limit.
            logger.warning("A %s rate-limit place could not be given back: %s", command, exc)


def _take_place(*, command: str, places: int, holder: str) -> float:
    slots = RateSlot.objects.using(AUTOCOMMIT_DB).filter(command=command, number__lt=places)
    started = time.monotonic()
    while True:
        now = time.time()
        free = slots.filter(free_at__lte=now)
        # A free place picked at random, so that callers at the same moment seldom pick the same one.
        # The UPDATE repeats the condition: if another caller took the place first, it changes no row
        # (the database re-checks a row another transaction just changed) and this caller tries again.
        taken = free.filter(pk=Subquery(free.order_by("?").values("pk")[:1])).update(
            free_at=now + IN_FLIGHT_SECONDS, holder=holder
        )
        if taken:
            return time.monotonic() - started
        busy = slots.aggregate(first_free=Min("free_at"), places=Count("pk"))
        if busy["places"] < places:
            # A command's first call, or a higher IM_RATE_LIMIT: its places are made (by whichever
            # process gets there first).
            RateSlot.objects.using(AUTOCOMMIT_DB).bulk_create(
                [RateSlot(command=command, number=number) for number in range(command_limit(command))],
                ignore_conflicts=True,
            )
            continue
        wait = busy["first_free"] - time.time()
        # Jitter spreads the waiters out, so that a freed place does not wake them all at once.
        time.sleep(min(max(wait, 0.0), 0.25) + random.uniform(0.0005, 0.005))
