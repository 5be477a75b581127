"""One rate limit for every process that calls Tencent (spec §1): at most IM_RATE_LIMIT calls of an
API command in any sliding second, with headroom kept for interactive edits.

Each command's recent send times live in one database row (``RateWindow``, packed binary), read
and written in a short transaction that serialises all processes (BEGIN IMMEDIATE on SQLite,
SELECT ... FOR UPDATE on PostgreSQL). The caller sleeps outside the transaction when the window is full.
"""

from __future__ import annotations

import random
import struct
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections, transaction

from ..im.client import ACCOUNT_CHECK, MULTIACCOUNT_IMPORT
from ..models import RateWindow
from .perprocess import PerProcess
from .writeturn import write_turn

RATELIMIT_DB = "ratelimit"
# The limiter stamps a call when it leaves; Tencent counts it when it arrives. A small margin on
# the window keeps arrivals under the limit when network delays vary from call to call.
WINDOW_SECONDS = 1.0
# 20 ms: at 200 calls/s the job ceiling is then 198 / 1.02 s ≈ 194/s, above the 95 % target.
ARRIVAL_MARGIN_SECONDS = 0.02
# spec §1: account_check, multiaccount_import (and account_delete) allow half the calls.
HALF_RATE_COMMANDS = {ACCOUNT_CHECK, MULTIACCOUNT_IMPORT, "im_open_login_svc/account_delete"}


def command_limit(command: str) -> int:
    limit = settings.IM.rate_limit
    return max(1, limit // 2) if command in HALF_RATE_COMMANDS else limit


def job_limit(command: str) -> int:
    """Background jobs leave 1 % of the calls (at least one) free in every window, so an agent's save
    never waits behind a job: 198 of 200, 49 of 50."""
    limit = command_limit(command)
    return max(1, limit - max(1, limit // 100))


_TABLE = RateWindow._meta.db_table
_known_windows: set[str] = set()
# A forked child has lines of its own: a thread of the parent may have been in one.
_lines: PerProcess[tuple[str, bool], threading.Lock] = PerProcess()


def _ensure_window(command: str) -> None:
    # get_or_create copes with two processes creating the row at once; done once per process.
    if command not in _known_windows:
        RateWindow.objects.using(RATELIMIT_DB).get_or_create(command=command)
        _known_windows.add(command)


def _wait_needed(stamps: list[float], limit: int, now: float, span: float) -> float:
    if len(stamps) < limit:
        return 0.0
    # The call `limit` places back must leave the window before another may go.
    return stamps[-limit] + span - now


def rate_limit_acquire(*, command: str, background: bool, on_grant: Callable[[], None] | None = None) -> float:
    """Block until a call of ``command`` may be sent, record it, and return the seconds waited.

    ``on_grant`` runs inside the transaction that records the call, on the RATELIMIT_DB
    connection, once the call may go (the gateway writes the audit row there)."""
    limit = command_limit(command)
    background_limit = job_limit(command)
    span = WINDOW_SECONDS + ARRIVAL_MARGIN_SECONDS
    started = time.monotonic()
    # One thread of this process at a time asks for a place (the others wait here, costing nothing),
    # so a freed place does not wake every waiting thread at once only for one of them to get it,
    # while the one that got it waits for the interpreter to send its call. Agents never queue
    # behind a job's threads: each kind has its own line.
    with _line(command, background):
        return _acquire(command, background, limit, background_limit, span, started, on_grant)


def _line(command: str, background: bool) -> threading.Lock:
    return _lines.get_or_make((command, background), threading.Lock)


def _acquire(
    command: str, background: bool, limit: int, background_limit: int, span: float, started: float,
    on_grant: Callable[[], None] | None,
) -> float:
    while True:
        _ensure_window(command)
        with write_turn(RATELIMIT_DB), transaction.atomic(using=RATELIMIT_DB):
            row = _read_window(command)
            if row is None:  # removed since this process saw it (a flushed test database)
                _known_windows.discard(command)
                continue
            now = time.time()
            horizon = now - span
            stamps = [stamp for stamp in row[0] if stamp > horizon]
            job_stamps = [stamp for stamp in row[1] if stamp > horizon]
            wait = _wait_needed(stamps, limit, now, span)
            if background:
                wait = max(wait, _wait_needed(job_stamps, background_limit, now, span))
            if wait <= 0:
                stamps.append(now)
                if background:
                    job_stamps.append(now)
                _write_window(command, stamps, job_stamps)
                if on_grant is not None:
                    on_grant()
                return time.monotonic() - started
        # Sleep outside the transaction; a little jitter spreads the waiters out.
        time.sleep(min(wait, 0.25) + random.uniform(0, 0.002))


def pack_stamps(stamps: list[float]) -> bytes:
    """Send times as the window row stores them: float64, little-endian, oldest first."""
    return struct.pack(f"<{len(stamps)}d", *stamps)


def unpack_stamps(value: bytes | memoryview | None) -> list[float]:
    return list(struct.unpack(f"<{len(value) // 8}d", value)) if value else []


# Plain SQL: this runs before every call to Tencent, and the ORM's per-query cost would be most of it.
def _read_window(command: str) -> tuple[list[float], list[float]] | None:
    connection = connections[RATELIMIT_DB]
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        # The table name and lock clause are constants; the command is a bound parameter.
        cursor.execute(f"SELECT stamps, job_stamps FROM {_TABLE} WHERE command = %s{lock}", [command])  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        return None
    return unpack_stamps(row[0]), unpack_stamps(row[1])


def _write_window(command: str, stamps: list[float], job_stamps: list[float]) -> None:
    connection = connections[RATELIMIT_DB]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TABLE} SET stamps = %s, job_stamps = %s WHERE command = %s",  # noqa: S608
            [pack_stamps(stamps), pack_stamps(job_stamps), command],
        )
