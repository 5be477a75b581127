"""One rate limit for every process and machine that calls Tencent (docs/tencent-im.md §1): at most
IM_RATE_LIMIT calls of an API command in any sliding second, with headroom kept for interactive edits.

Each command has one ``RateWindow`` row holding the send times of its last second's calls. A caller
locks the row (``select_for_update``; on SQLite every transaction takes the write lock when it begins),
drops the times older than the window, and either records its own call or learns how long to wait,
then sleeps outside the transaction.
"""

from __future__ import annotations

import random
import time

from django.conf import settings
from django.db import transaction

from ..im.client import ACCOUNT_CHECK, MULTIACCOUNT_IMPORT
from ..models import RateWindow
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


def _wait_needed(stamps: list[float], limit: int, now: float) -> float:
    if len(stamps) < limit:
        return 0.0
    # The call `limit` places back must leave the window before another may go.
    return stamps[-limit] + WINDOW_SECONDS + ARRIVAL_MARGIN_SECONDS - now


def rate_limit_acquire(*, command: str, background: bool) -> float:
    """Block until a call of ``command`` may be sent, record it, and return the seconds waited.

    Every call counts against the command's limit; a background call also against the job limit,
    which leaves room for agents, so an agent's call waits only when agents alone fill the window.
    """
    limit, background_limit = command_limit(command), job_limit(command)
    windows = RateWindow.objects.using(AUTOCOMMIT_DB)
    started = time.monotonic()
    while True:
        with transaction.atomic(using=AUTOCOMMIT_DB):
            window = windows.select_for_update().filter(command=command).first()
            if window is None:
                # get_or_create copes with two processes creating the row at once.
                windows.get_or_create(command=command)
                continue
            now = time.time()
            horizon = now - WINDOW_SECONDS - ARRIVAL_MARGIN_SECONDS
            stamps = [stamp for stamp in window.stamps if stamp > horizon]
            job_stamps = [stamp for stamp in window.job_stamps if stamp > horizon]
            wait = _wait_needed(stamps, limit, now)
            if background:
                wait = max(wait, _wait_needed(job_stamps, background_limit, now))
            if wait <= 0:
                window.stamps = [*stamps, now]
                window.job_stamps = [*job_stamps, now] if background else job_stamps
                window.save(update_fields=["stamps", "job_stamps"])
                return time.monotonic() - started
        # Sleep outside the transaction. Jitter spreads the waiters out, so that a freed place does
        # not wake them all at once to find one of them took it.
        time.sleep(min(wait, 0.25) + random.uniform(0, 0.005))
