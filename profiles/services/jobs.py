"""Background bulk edits: creating jobs, working their items through ``profile_push``, retrying only
what spec §6 says a retry can help, and finishing every item exactly once.

Interfaces (admin, command line) call ``job_create``; django-q2 tasks (profiles/tasks.py) call
``job_work`` for a slice of time and enqueue themselves again until the job is finished.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from ..im.client import PORTRAIT_SET
from ..im.errors import Retry, describe
from ..models import ActorRecorded, BulkJob, BulkJobItem, ImRequest, Profile
from .audit import audit_close_unanswered
from .gateway import im_client
from .push import JobCall, profile_push
from .ratelimit import RATELIMIT_DB
from .validation import TagValidationError, custom_tag_definitions
from .writeturn import write_turn

logger = logging.getLogger(__name__)

ITEM_BATCH = 1000  # rows per bulk_create when a job is created
# A claim covers a few items; a worker that died lets its claim lapse and another takes the items.
def claim_seconds() -> int:
    return settings.IM_JOB_CLAIM_SECONDS
# The connection whose transactions begin IMMEDIATE on SQLite (settings.DATABASES), for claims.
CLAIM_DB = RATELIMIT_DB
# Where jobs and their items are written (every write in its turn: services/writeturn).
_DB = DEFAULT_DB_ALIAS
TERMINAL = (BulkJobItem.State.SUCCEEDED, BulkJobItem.State.FAILED, BulkJobItem.State.CANCELLED)


@dataclass(frozen=True)
class JobRow:
    user_id: str
    values: dict[str, Any]
    line: int | None = None


def job_create(
    *,
    actor: AbstractBaseUser | None,
    source: str,
    source_name: str,
    rows: Iterable[JobRow],
    retry_of: BulkJob | None = None,
    enqueue: bool = True,
) -> BulkJob:
    """Create a job and its items (validated by the caller), and enqueue it once committed."""
    staff = ActorRecorded.actor_values(actor)
    with write_turn(_DB), transaction.atomic(using=_DB):
        job = BulkJob.objects.create(
            created_by=staff["actor"], created_by_username=staff["actor_username"],
            source=source, source_name=source_name[:255], retry_of=retry_of,
        )
        total = 0
        batch: list[BulkJobItem] = []
        for row in rows:
            batch.append(BulkJobItem(job=job, user_id=row.user_id, values=row.values, line=row.line))
            if len(batch) >= ITEM_BATCH:
                BulkJobItem.objects.bulk_create(batch)
                total += len(batch)
                batch = []
        if batch:
            BulkJobItem.objects.bulk_create(batch)
            total += len(batch)
        job.total = total
        job.save(update_fields=["total"])
        if enqueue:
            # A worker must never see a job that is not committed (CONVENTIONS).
            transaction.on_commit(lambda: job_enqueue(job_id=job.pk))
    return job


def job_enqueue(*, job_id: int, copies: int | None = None) -> None:
    """Queue ``copies`` slices of work for the job (one per worker by default)."""
    from django_q.tasks import async_task

    for _ in range(copies or settings.Q_CLUSTER.get("workers", 1)):
        async_task("profiles.tasks.run_job_slice", job_id, group=f"job-{job_id}")


def job_cancel(*, job: BulkJob) -> int:
    """Stop a job: pending items are never sent. Items already on the wire finish normally."""
    with write_turn(_DB):
        BulkJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    cancelled = _cancel_unsent(job.pk)
    _finish_if_done(job.pk)
    return cancelled


def _cancel_unsent(job_id: int) -> int:
    with write_turn(_DB):
        return BulkJobItem.objects.filter(
            job_id=job_id, state__in=[BulkJobItem.State.PENDING, BulkJobItem.State.RETRY_WAIT]
        ).update(state=BulkJobItem.State.CANCELLED, finished_at=timezone.now(), message="Cancelled before sending.")


def job_retry_failed(*, job: BulkJob, actor: AbstractBaseUser | None) -> BulkJob | None:
    """A new job with the failed items of ``job``; None when nothing failed."""
    failed = job.items.filter(state=BulkJobItem.State.FAILED).order_by("pk")
    if not failed.exists():
        return None
    rows = (JobRow(user_id=item.user_id, values=item.values, line=item.line) for item in failed.iterator())
    return job_create(
        actor=actor, source=BulkJob.Source.RETRY, source_name=f"failed items of job #{job.pk}", rows=rows,
        retry_of=job,
    )


# --- working a job ------------------------------------------------------------------------------


def max_attempts() -> int:
    return settings.IM_JOB_MAX_ATTEMPTS


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: up to base·2^(attempt-1), capped."""
    ceiling = min(settings.IM_JOB_BACKOFF_CAP, settings.IM_JOB_BACKOFF_BASE * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def _claim(job_id: int, worker: str, count: int) -> list[BulkJobItem]:
    """Atomically take up to ``count`` items that are due: pending, due for retry, or abandoned
    by a worker whose claim lapsed (those may have been sent already).

    The claim itself moves them to SENDING, so no other thread or process can take them; each
    returned item carries ``abandoned`` (it was SENDING under a lapsed claim before).
    """
    now = timezone.now()
    due = (
        Q(state=BulkJobItem.State.PENDING)
        | Q(state=BulkJobItem.State.RETRY_WAIT, next_attempt_at__lte=now)
        | Q(state=BulkJobItem.State.SENDING, claimed_until__lt=now)
    )
    # The claim reads, then writes. On SQLite a deferred transaction that has read cannot take the
    # write lock once another connection has written meanwhile ("database is locked" at once, no
    # busy wait), so the claim runs on the connection whose transactions begin IMMEDIATE (write
    # lock first, waiting its turn). On PostgreSQL, SKIP LOCKED lets concurrent claims pass by.
    items_db = BulkJobItem.objects.using(CLAIM_DB)
    with write_turn(CLAIM_DB), transaction.atomic(using=CLAIM_DB):
        chosen = items_db.filter(due, job_id=job_id).order_by("pk")
        if connections[CLAIM_DB].features.has_select_for_update_skip_locked:
            chosen = chosen.select_for_update(skip_locked=True)
        candidates = dict(chosen.values_list("pk", "state")[:count])
        if not candidates:
            return []
        # `due` again in the UPDATE: a row another worker claimed meanwhile no longer matches.
        # The attempt is counted here, in the same statement, rather than in a write of its own.
        items_db.filter(due, pk__in=list(candidates)).update(
            state=BulkJobItem.State.SENDING, claimed_by=worker, attempts=F("attempts") + 1,
            claimed_until=now + timedelta(seconds=claim_seconds()),
        )
    items = list(BulkJobItem.objects.filter(pk__in=list(candidates), claimed_by=worker).order_by("pk"))
    for item in items:
        item.claimed_from = candidates[item.pk]
        item.abandoned = item.claimed_from == BulkJobItem.State.SENDING
    return items


def _already_succeeded(job_id: int, item: BulkJobItem) -> ImRequest | None:
    """For an abandoned item: did its request go out and succeed before the worker died?"""
    return (
        ImRequest.objects.filter(
            job_id=job_id, user_id=item.user_id, command=PORTRAIT_SET, state=ImRequest.State.OK
        ).order_by("-pk").first()
    )


def _cancel_claimed(items: list[BulkJobItem]) -> None:
    """Items claimed into this worker's memory but not started: cancelled, never sent."""
    if items:
        with write_turn(_DB):
            BulkJobItem.objects.filter(pk__in=[item.pk for item in items], claimed_by=items[0].claimed_by).update(
                state=BulkJobItem.State.CANCELLED, finished_at=timezone.now(), message="Cancelled before sending.",
                claimed_by="", claimed_until=None,
            )
        items.clear()


def _process(job: BulkJob, item: BulkJobItem, *, definitions: Mapping[str, Any] | None = None) -> None:
    abandoned = getattr(item, "abandoned", False)
    if abandoned and _already_succeeded(job.pk, item) is not None:
        with write_turn(_DB):
            BulkJobItem.objects.filter(pk=item.pk).update(attempts=F("attempts") - 1)  # nothing sent now
        _finish(item, BulkJobItem.State.SUCCEEDED, 0, "Succeeded (recorded before the worker stopped).")
        return
    attempt = item.attempts  # counted by the claim
    if abandoned:
        audit_close_unanswered(
            job_id=job.pk, user_id=item.user_id, command=PORTRAIT_SET,
            note=f"The worker stopped before Tencent's answer was recorded; the edit was sent again "
            f"(attempt {attempt}).",
        )
    purpose = f"job #{job.pk}" + (", re-sent: the answer was never recorded (worker stopped)" if abandoned else "")
    if hasattr(item, "profile"):  # looked up with the claim
        profile = item.profile or Profile(user_id=item.user_id)
    else:
        profile = Profile.objects.filter(user_id=item.user_id).first() or Profile(user_id=item.user_id)
    try:
        outcome = profile_push(
            profile=profile, values=item.values, actor=job.created_by, source=ImRequest.Source.JOB,
            send_unchanged=True, job=JobCall(job_id=job.pk, attempt=attempt, purpose=purpose),
            definitions=definitions,
        )
    except TagValidationError as exc:
        _finish(item, BulkJobItem.State.FAILED, None, f"Not sent: {exc}")
        return
    if outcome.ok:
        _finish(item, BulkJobItem.State.SUCCEEDED, 0, outcome.message)
        return
    code = outcome.error_code
    policy = describe(code).retry if code is not None else Retry.BACKOFF
    limit = max_attempts()
    if policy is Retry.LIMITED:
        limit = min(limit, 3)  # spec §6: "retry once or twice"
    if policy is Retry.NEW_USERSIG:
        # spec §6: a new UserSig, then one retry; a second 70001 in a row is final.
        im_client().usersig.invalidate()
        limit = attempt if item.error_code == 70001 else attempt + 1
    if policy is Retry.NEVER or attempt >= limit:
        reason = outcome.message if policy is Retry.NEVER else f"Gave up after {attempt} attempts: {outcome.message}"
        _finish(item, BulkJobItem.State.FAILED, code, reason)
        return
    delay = 0.0 if policy is Retry.NEW_USERSIG else 60.0 if policy is Retry.LATER else backoff_seconds(attempt)
    with write_turn(_DB):
        BulkJobItem.objects.filter(pk=item.pk).update(
            state=BulkJobItem.State.RETRY_WAIT, error_code=code, message=outcome.message,
            next_attempt_at=timezone.now() + timedelta(seconds=delay), claimed_by="", claimed_until=None,
        )


def _release(items: list[BulkJobItem]) -> None:
    """Give back items this worker claimed but never started (its slice is over): they were not
    sent, so they return to the state they were claimed from at once, instead of lying as a
    SENDING claim that lapses only after IM_JOB_CLAIM_SECONDS and then counts as possibly sent."""
    for item in items:
        previous = getattr(item, "claimed_from", BulkJobItem.State.PENDING)
        if previous == BulkJobItem.State.SENDING:
            # Abandoned before we took it: it stays so, claimable again now.
            changes: dict[str, Any] = {"claimed_by": "", "claimed_until": timezone.now()}
        else:
            changes = {"state": previous, "claimed_by": "", "claimed_until": None}
        changes["attempts"] = F("attempts") - 1  # the claim counted an attempt that never went out
        with write_turn(_DB):
            BulkJobItem.objects.filter(
                pk=item.pk, claimed_by=item.claimed_by, state=BulkJobItem.State.SENDING
            ).update(**changes)
    items.clear()


def _finish(item: BulkJobItem, state: str, code: int | None, message: str) -> None:
    # One plain statement: it runs once per item, and QuerySet.update's compilation would cost
    # more than the write.
    connection = connections[_DB]
    with write_turn(_DB), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_ITEM_TABLE} SET state = %s, error_code = %s, message = %s, finished_at = %s, "  # noqa: S608
            "claimed_by = '', claimed_until = NULL WHERE id = %s",
            [state, code, message, connection.ops.adapt_datetimefield_value(timezone.now()), item.pk],
        )


_ITEM_TABLE = BulkJobItem._meta.db_table
_JOB_TABLE = BulkJob._meta.db_table


def _cancel_requested(job_id: int) -> bool:
    # Asked before every item sent, so one plain statement (as _finish).
    with connections[BulkJob.objects.db].cursor() as cursor:
        cursor.execute(f"SELECT cancel_requested FROM {_JOB_TABLE} WHERE id = %s", [job_id])  # noqa: S608
        row = cursor.fetchone()
    return bool(row and row[0])


def _finish_if_done(job_id: int) -> bool:
    open_items = BulkJobItem.objects.filter(job_id=job_id).exclude(state__in=TERMINAL)
    if open_items.exists():
        return False
    job = BulkJob.objects.get(pk=job_id)
    if job.finished_at is None:
        state = BulkJob.State.CANCELLED if job.cancel_requested else BulkJob.State.DONE
        with write_turn(_DB):
            BulkJob.objects.filter(pk=job_id, finished_at=None).update(state=state, finished_at=timezone.now())
    return True


def job_work(*, job_id: int, seconds: float) -> bool:
    """Work on a job for about ``seconds``, with IM_JOB_CONCURRENCY requests in flight.

    Returns True when the job is finished (every item terminal), False when work remains.
    """
    job = BulkJob.objects.select_related("created_by").get(pk=job_id)
    if job.finished_at is not None:
        return True
    if job.started_at is None:
        with write_turn(_DB):
            BulkJob.objects.filter(pk=job_id, started_at=None).update(
                started_at=timezone.now(), state=BulkJob.State.RUNNING
            )
    worker = uuid.uuid4().hex
    deadline = timezone.now() + timedelta(seconds=seconds)
    concurrency = settings.IM_JOB_CONCURRENCY
    lock = threading.Lock()
    stop = threading.Event()

    definitions = custom_tag_definitions()  # once per slice, not once per item

    def cancelled() -> bool:
        # Before every item: a cancel must also stop the items already claimed into memory.
        return _cancel_requested(job_id)

    def next_item() -> BulkJobItem | None:
        with lock:
            if stop.is_set() or timezone.now() >= deadline:
                _release(pending)
                return None
            if cancelled():
                _cancel_claimed(pending)
                _cancel_unsent(job_id)
                stop.set()
                return None
            if not pending:
                claimed = _claim(job_id, worker, concurrency * 2)
                # The local copies of the whole claim in one query, not one per item.
                copies = {p.user_id: p for p in Profile.objects.filter(user_id__in=[i.user_id for i in claimed])}
                for item in claimed:
                    item.profile = copies.get(item.user_id)
                pending.extend(claimed)
                if not pending:
                    return None
            return pending.pop(0)

    def next_item_or_none() -> BulkJobItem | None:
        # A database error here (SQLite busy beyond its timeout, a dropped connection) must end
        # this thread visibly, not silently through its unread Future.
        try:
            return next_item()
        except Exception:
            logger.exception("job %s: could not take the next item", job_id)
            return None

    def run() -> None:
        try:
            while (item := next_item_or_none()) is not None:
                try:
                    _process(job, item, definitions=definitions)
                except Exception:  # one item's failure must not strand the others
                    logger.exception("job %s: item %s failed unexpectedly", job_id, item.pk)
                    _finish(item, BulkJobItem.State.FAILED, None, "Unexpected error while sending; see the logs.")
        finally:
            connections.close_all()

    pending: list[BulkJobItem] = []
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"job{job_id}") as pool:
        for _ in range(concurrency):
            pool.submit(run)
    close_old_connections()
    return _finish_if_done(job_id)


def job_next_due(job_id: int) -> float | None:
    """Seconds until the job's next retry is due (None when nothing waits)."""
    waiting = (
        BulkJobItem.objects.filter(job_id=job_id, state=BulkJobItem.State.RETRY_WAIT)
        .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    )
    if waiting is None:
        return None
    return max(0.0, (waiting - timezone.now()).total_seconds())


def job_counts(job: BulkJob) -> dict[str, Any]:
    """Counts by state and by ErrorCode, rate and time left, for the job page."""
    by_state = dict(job.items.values_list("state").annotate(n=Count("pk")).order_by())
    by_code = list(
        job.items.filter(state=BulkJobItem.State.FAILED).values_list("error_code")
        .annotate(n=Count("pk")).order_by("-n")
    )
    done = sum(by_state.get(state, 0) for state in TERMINAL)
    started = job.started_at
    end = job.finished_at or timezone.now()
    elapsed = (end - started).total_seconds() if started else 0.0
    finished_items = by_state.get(BulkJobItem.State.SUCCEEDED, 0) + by_state.get(BulkJobItem.State.FAILED, 0)
    rate = finished_items / elapsed if elapsed > 0 else 0.0
    remaining = job.total - done
    return {
        "total": job.total,
        "done": done,
        "by_state": {state.value: by_state.get(state.value, 0) for state in BulkJobItem.State},
        "by_code": [
            {"code": code, "meaning": describe(code).meaning if code is not None else "no answer", "count": n}
            for code, n in by_code
        ],
        "rate": round(rate, 1),
        "seconds_left": round(remaining / rate) if rate > 0 and remaining else (0 if not remaining else None),
        "state": job.state,
        "finished": job.finished_at is not None,
    }


__all__ = [
    "JobRow",
    "job_cancel",
    "job_counts",
    "job_create",
    "job_enqueue",
    "job_next_due",
    "job_retry_failed",
    "job_work",
]
