"""One rate limit for every process and machine that calls Tencent (docs/tencent-im.md §1): at most
IM_RATE_LIMIT calls of an API command in any sliding second, with headroom kept for interactive edits.

A command has one ``RateSlot`` row per call it may make in a second, each holding when its last call
was sent. A caller takes a free place (its last call left more than a second ago) with one
conditional UPDATE, then sends; when every place is busy it sleeps until the oldest frees. A place
carries at most one call per second, so no second holds more calls than there are places, however
many processes and machines share the database. Background jobs may take only the first
``job_limit`` places: the others are always there for an agent's save.
"""

from __future__ import annotations

import random
import time

from django.conf import settings
from django.db.models import Count, Min, Subquery

from ..im.client import ACCOUNT_CHECK, MULTIACCOUNT_IMPORT
from ..models import RateSlot
from .db import AUTOCOMMIT_DB

# The limiter stamps a call when it leaves; Tencent counts it when it arrives. A small margin on
# the window keeps arrivals under the limit when network delays vary from call to call.
WINDOW_SECONDS = 1.0
# 30 ms covers a sending thread that waits for the interpreter while its process's other threads
# run; at 200 calls/s the job ceiling is then 198 / 1.03 s ≈ 192/s, above the 95 % target.
ARRIVAL_MARGIN_SECONDS = 0.03
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


def rate_limit_acquire(*, command: str, background: bool) -> float:
    """Block until a call of ``command`` may be sent, record it, and return the seconds waited.

    Every call takes one of the command's places; a background call only one of the first
    ``job_limit``, so an agent's call waits only when agents alone fill the window.
    """
    places = job_limit(command) if background else command_limit(command)
    slots = RateSlot.objects.using(AUTOCOMMIT_DB).filter(command=command, number__lt=places)
    started = time.monotonic()
    while True:
        now = time.time()
        horizon = now - WINDOW_SECONDS - ARRIVAL_MARGIN_SECONDS
        free = slots.filter(sent_at__lte=horizon)
        # A free place picked at random, so that callers at the same moment seldom pick the same one.
        # The UPDATE repeats the condition: if another caller took the place first, it changes no row
        # (the database re-checks a row another transaction just changed) and this caller tries again.
        if free.filter(pk=Subquery(free.order_by("?").values("pk")[:1])).update(sent_at=now):
            return time.monotonic() - started
        busy = slots.aggregate(oldest=Min("sent_at"), places=Count("pk"))
        if busy["places"] < places:
            # A command's first call, or a higher IM_RATE_LIMIT: its places are made (by whichever
            # process gets there first).
            RateSlot.objects.using(AUTOCOMMIT_DB).bulk_create(
                [RateSlot(command=command, number=number) for number in range(command_limit(command))],
                ignore_conflicts=True,
            )
            continue
        wait = busy["oldest"] - horizon
        if wait > 0:
            # Jitter spreads the waiters out, so that a freed place does not wake them all at once.
            time.sleep(min(wait, 0.25) + random.uniform(0, 0.005))
