"""Background jobs: creating them, handing their items and rounds out to workers (claims),
cancelling, retrying, and finishing every item exactly once.

A job's work runs in django-q2 tasks (profiles/tasks.py): an edit job in slices of time that
re-queue themselves (services/jobpush), a refresh job in rounds of UserIDs, one task each
(services/jobpull). Any number of ``qcluster`` workers, on any machines sharing the database,
take the tasks; the claims keep two of them from taking the same item or round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connections, transaction
from django.db.models import Count, F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from ..models import ActorRecorded, BulkJob, BulkJobItem, Profile, PullRound
from .audit import AUTOCOMMIT_DB

ITEM_BATCH = 1000  # rows per bulk_create when a job is created
# UserIDs a refresh job reads per task: 10 calls of 100 (docs/tencent-im.md §5).
PULL_ROUND = 1000
TERMINAL = (
    BulkJobItem.State.SUCCEEDED, BulkJobItem.State.FAILED, BulkJobItem.State.CANCELLED, BulkJobItem.State.REJECTED,
)
USER_ID_COLUMN = BulkJobItem._meta.get_field("user_id").max_length


@dataclass(frozen=True)
class JobRow:
    """One item of a new job. A row with ``rejected`` (the reason) is a CSV row the check refused:
    kept in the job, never sent, so the job's results list every row of the file."""

    user_id: str
    values: dict[str, Any]
    line: int | None = None
    rejected: str = ""


@dataclass(frozen=True)
class RetryOutcome:
    """What *Retry failed items* did: the new job (None when no failure could pass on a retry), how
    many items it re-queued, and the failed items left out, by ErrorCode (None: not sent at all)."""

    job: BulkJob | None
    retried: int
    not_retried: list[tuple[int | None, int]]


# What items and jobs record, in English (profiles.errortext translates it when shown).
CANCELLED_BEFORE_SENDING = gettext_noop("Cancelled before sending.")
EVERY_LOCAL_COPY = gettext_noop("every local copy")
FAILED_ITEMS_OF = gettext_noop("failed items of job #%(pk)s")
SELECTED_PROFILES = gettext_noop("%(count)s selected profile(s)")
RECORDED_MESSAGES = (CANCELLED_BEFORE_SENDING, EVERY_LOCAL_COPY, FAILED_ITEMS_OF, SELECTED_PROFILES)


def _storable(text: str, max_length: int | None = None) -> str:
    """Text from a file as every database stores it: NUL shown as ␀ (U+2400), cut to the column."""
    text = text.replace("\x00", "\u2400")
    return text[:max_length] if max_length is not None else text


def _item(job: BulkJob, row: JobRow, now: Any) -> BulkJobItem:
    if row.rejected:
        return BulkJobItem(
            job=job, user_id=_storable(row.user_id, USER_ID_COLUMN), values={}, line=row.line,
            state=BulkJobItem.State.REJECTED, message=_storable(row.rejected), finished_at=now,
        )
    return BulkJobItem(job=job, user_id=row.user_id, values=row.values, line=row.line)


def job_create(
    *,
    actor: AbstractBaseUser | None,
    source: str,
    source_name: str,
    rows: Iterable[JobRow],
    retry_of: BulkJob | None = None,
    kind: str = BulkJob.Kind.PUSH,
    enqueue: bool = True,
) -> BulkJob:
    """Create a job and its items (validated by the caller), and enqueue it once committed.

    The job's ``total`` counts the items to send; rejected rows are kept beside them, already ended. The
    rows are read here (a CSV check's reasons are written as they are read): in English, like every
    record, whoever's request started the job."""
    staff = ActorRecorded.actor_values(actor)
    now = timezone.now()
    with transaction.atomic(), translation.override(None):
        job = BulkJob.objects.create(
            created_by=staff["actor"], created_by_username=staff["actor_username"],
            source=source, source_name=source_name[:255], retry_of=retry_of, kind=kind,
        )
        # A refresh: its UserIDs in rounds (a round writes items only for users it could not refresh).
        job.total = _rounds_create(job, rows) if kind == BulkJob.Kind.PULL else _items_create(job, rows, now)
        job.save(update_fields=["total"])
        if enqueue:
            # A worker must never see a job that is not committed.
            transaction.on_commit(lambda: job_enqueue(job=job))
    return job


def _items_create(job: BulkJob, rows: Iterable[JobRow], now: Any) -> int:
    """An item per row, in batches; returns how many are to be sent (rejected rows are not)."""
    total = 0
    batch: list[BulkJobItem] = []
    for row in rows:
        batch.append(_item(job, row, now))
        if not row.rejected:
            total += 1
        if len(batch) >= ITEM_BATCH:
            BulkJobItem.objects.bulk_create(batch)
            batch = []
    if batch:
        BulkJobItem.objects.bulk_create(batch)
    return total


def _rounds_create(job: BulkJob, rows: Iterable[JobRow]) -> int:
    """A refresh job's UserIDs (each once) in rounds of PULL_ROUND; returns how many users."""
    user_ids = list(dict.fromkeys(row.user_id for row in rows if not row.rejected))
    PullRound.objects.bulk_create([
        PullRound(job=job, number=number, user_ids=user_ids[start:start + PULL_ROUND])
        for number, start in enumerate(range(0, len(user_ids), PULL_ROUND))
    ])
    return len(user_ids)


def pull_job_create(*, actor: AbstractBaseUser | None, source: str, enqueue: bool = True) -> BulkJob | None:
    """A job that refreshes every local copy from Tencent (``im_pull --all``): a round per PULL_ROUND
    copies. None when there is no local copy to refresh."""
    if not Profile.objects.exists():
        return None
    user_ids = Profile.objects.order_by("pk").values_list("user_id", flat=True)
    return job_create(
        actor=actor, source=source, source_name=EVERY_LOCAL_COPY, kind=BulkJob.Kind.PULL, enqueue=enqueue,
        rows=(JobRow(user_id=user_id, values={}) for user_id in user_ids.iterator(chunk_size=ITEM_BATCH)),
    )


def job_enqueue(*, job: BulkJob) -> None:
    """Queue the job's tasks: a round of up to PULL_ROUND UserIDs each for a refresh, and one slice
    per worker for an edit (each slice re-queues itself while work remains)."""
    from django_q.tasks import async_task

    if job.kind == BulkJob.Kind.PULL:
        for _round in range(job.rounds.count()):
            async_task("profiles.tasks.run_pull_round", job.pk, group=f"job-{job.pk}")
        return
    for _slice in range(settings.Q_CLUSTER.get("workers", 1)):
        async_task("profiles.tasks.run_job_slice", job.pk, group=f"job-{job.pk}")


def job_cancel(*, job: BulkJob) -> int:
    """Stop a job: pending items are never sent. Items already on the wire finish normally."""
    BulkJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    cancelled = cancel_unsent(job.pk)
    job_finish_if_done(job.pk)
    return cancelled


def cancel_unsent(job_id: int) -> int:
    """Cancel what has not been sent: pending items, items waiting to retry, and rounds no worker took
    (their users' items are written, cancelled). Returns how many users' work was cancelled."""
    cancelled = BulkJobItem.objects.filter(
        job_id=job_id, state__in=[BulkJobItem.State.PENDING, BulkJobItem.State.RETRY_WAIT]
    ).update(state=BulkJobItem.State.CANCELLED, finished_at=timezone.now(), message=CANCELLED_BEFORE_SENDING)
    for pull_round in PullRound.objects.filter(job_id=job_id, state=PullRound.State.PENDING):
        cancelled += round_finish(pull_round, [
            BulkJobItem(user_id=user_id, values={}, state=BulkJobItem.State.CANCELLED, message=CANCELLED_BEFORE_SENDING)
            for user_id in pull_round.user_ids
        ], claimed_from=PullRound.State.PENDING)
    return cancelled


def job_cancel_requested(job_id: int) -> bool:
    return BulkJob.objects.filter(pk=job_id, cancel_requested=True).exists()


def job_retry_failed(*, job: BulkJob, actor: AbstractBaseUser | None) -> RetryOutcome:
    """A new job, of the same kind, with the failed items of ``job`` that a retry can help
    (docs/tencent-im.md §6: a retryable ErrorCode, or no answer from Tencent). The others would fail the
    same way again; they are counted by ErrorCode, not re-queued."""
    failed = job.items.filter(state=BulkJobItem.State.FAILED)
    not_retried = [
        (code, count) for code, count in
        failed.filter(retryable=False).values_list("error_code").annotate(n=Count("pk")).order_by("-n", "error_code")
    ]
    retryable = failed.filter(retryable=True).order_by("pk")
    if not retryable.exists():
        return RetryOutcome(job=None, retried=0, not_retried=not_retried)
    rows = (JobRow(user_id=item.user_id, values=item.values, line=item.line) for item in retryable.iterator())
    retry = job_create(
        actor=actor, source=BulkJob.Source.RETRY, source_name=FAILED_ITEMS_OF % {"pk": job.pk}, rows=rows,
        retry_of=job, kind=job.kind,
    )
    return RetryOutcome(job=retry, retried=retry.total, not_retried=not_retried)


# --- handing items out ------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """An item a worker took, and the state it was taken from."""

    item: BulkJobItem
    claimed_from: str

    @property
    def abandoned(self) -> bool:
        """It was SENDING under a lapsed claim: its worker died, and its request may have gone out."""
        return self.claimed_from == BulkJobItem.State.SENDING


def job_claim(*, job_id: int, worker: str, count: int) -> list[Claim]:
    """Take up to ``count`` items that are due: pending, due for retry, or abandoned by a worker
    whose claim lapsed. The claim moves them to SENDING under ``worker``'s name (and counts an
    attempt), so no other thread, process or machine takes them."""
    now = timezone.now()
    due = (
        Q(state=BulkJobItem.State.PENDING)
        | Q(state=BulkJobItem.State.RETRY_WAIT, next_attempt_at__lte=now)
        | Q(state=BulkJobItem.State.SENDING, claimed_until__lt=now)
    )
    items_db = BulkJobItem.objects.using(AUTOCOMMIT_DB)
    with transaction.atomic(using=AUTOCOMMIT_DB):
        chosen = items_db.filter(due, job_id=job_id).order_by("pk")
        if connections[AUTOCOMMIT_DB].features.has_select_for_update_skip_locked:
            # PostgreSQL: concurrent claims pass each other's locked rows by (SQLite: the service
            # connection's transactions take the write lock when they begin: claims follow one another).
            chosen = chosen.select_for_update(skip_locked=True)
        candidates = dict(chosen.values_list("pk", "state")[:count])
        if not candidates:
            return []
        items_db.filter(pk__in=list(candidates)).update(
            state=BulkJobItem.State.SENDING, claimed_by=worker, attempts=F("attempts") + 1,
            claimed_until=now + timedelta(seconds=settings.IM_JOB_CLAIM_SECONDS),
        )
    items = BulkJobItem.objects.filter(pk__in=list(candidates), claimed_by=worker).order_by("pk")
    return [Claim(item, candidates[item.pk]) for item in items]


def claims_release(claims: list[Claim]) -> None:
    """Give back items a worker claimed but never started (its slice is over): they were not sent,
    so they return to the state they were claimed from at once, instead of lying as a SENDING
    claim that lapses only after IM_JOB_CLAIM_SECONDS and then counts as possibly sent."""
    for claim in claims:
        if claim.abandoned:
            # Abandoned before we took it: it stays so, claimable again now.
            changes: dict[str, Any] = {"claimed_by": "", "claimed_until": timezone.now()}
        else:
            changes = {"state": claim.claimed_from, "claimed_by": "", "claimed_until": None}
        changes["attempts"] = F("attempts") - 1  # the claim counted an attempt that never went out
        BulkJobItem.objects.filter(
            pk=claim.item.pk, claimed_by=claim.item.claimed_by, state=BulkJobItem.State.SENDING
        ).update(**changes)
    claims.clear()


def claims_cancel(claims: list[Claim]) -> None:
    """Items claimed into a worker's memory but not started: cancelled, never sent."""
    if claims:
        BulkJobItem.objects.filter(
            pk__in=[claim.item.pk for claim in claims], claimed_by=claims[0].item.claimed_by
        ).update(
            state=BulkJobItem.State.CANCELLED, finished_at=timezone.now(), message=CANCELLED_BEFORE_SENDING,
            claimed_by="", claimed_until=None,
        )
        claims.clear()


def items_finish(
    item_ids: list[int], *, state: str, code: int | None, message: str, retryable: bool = False
) -> None:
    """End items for good (succeeded, failed), with the ErrorCode and the words staff read;
    ``retryable``: a failure that sending again later may get through (offered by *Retry failed items*)."""
    BulkJobItem.objects.filter(pk__in=item_ids).update(
        state=state, error_code=code, message=message, finished_at=timezone.now(), claimed_by="",
        claimed_until=None, retryable=retryable,
    )


def round_claim(*, job_id: int, worker: str) -> PullRound | None:
    """Take a refresh job's next round that is due: pending, or abandoned by a worker whose claim
    lapsed (its users' items were never written, so it runs again: a read changes nothing in Tencent)."""
    now = timezone.now()
    due = Q(state=PullRound.State.PENDING) | Q(state=PullRound.State.TAKEN, claimed_until__lt=now)
    rounds = PullRound.objects.using(AUTOCOMMIT_DB)
    with transaction.atomic(using=AUTOCOMMIT_DB):
        chosen = rounds.filter(due, job_id=job_id).order_by("number")
        if connections[AUTOCOMMIT_DB].features.has_select_for_update_skip_locked:
            chosen = chosen.select_for_update(skip_locked=True)
        pull_round = chosen.first()
        if pull_round is None:
            return None
        pull_round.state, pull_round.claimed_by = PullRound.State.TAKEN, worker
        pull_round.claimed_until = now + timedelta(seconds=settings.IM_JOB_CLAIM_SECONDS)
        pull_round.attempts += 1
        pull_round.save(using=AUTOCOMMIT_DB, update_fields=["state", "claimed_by", "claimed_until", "attempts"])
    return pull_round


def round_finish(
    pull_round: PullRound, items: list[BulkJobItem], *, refreshed: int = 0, claimed_from: str = PullRound.State.TAKEN,
) -> int:
    """End a round: the users it refreshed counted, the items of the others (failed or cancelled)
    written, and the round marked done, in one transaction, if the round is still as it was taken
    (held by this worker, or still pending for a cancel). Returns how many users it ended (0: another
    worker took it over)."""
    now = timezone.now()
    worker = pull_round.claimed_by if claimed_from == PullRound.State.TAKEN else ""
    with transaction.atomic():
        held = PullRound.objects.filter(pk=pull_round.pk, state=claimed_from, claimed_by=worker).update(
            state=PullRound.State.DONE, claimed_until=None, refreshed=refreshed,
        )
        if not held:
            return 0
        for item in items:
            item.job_id, item.finished_at, item.attempts = pull_round.job_id, now, pull_round.attempts
        BulkJobItem.objects.bulk_create(items, batch_size=ITEM_BATCH)
    return refreshed + len(items)


def job_start(job_id: int) -> None:
    BulkJob.objects.filter(pk=job_id, started_at=None).update(started_at=timezone.now(), state=BulkJob.State.RUNNING)


def job_finish_if_done(job_id: int) -> bool:
    """Mark the job done (or cancelled) once every item and every round has ended; True when it has."""
    if BulkJobItem.objects.filter(job_id=job_id).exclude(state__in=TERMINAL).exists():
        return False
    if PullRound.objects.filter(job_id=job_id).exclude(state=PullRound.State.DONE).exists():
        return False
    job = BulkJob.objects.get(pk=job_id)
    if job.finished_at is None:
        state = BulkJob.State.CANCELLED if job.cancel_requested else BulkJob.State.DONE
        BulkJob.objects.filter(pk=job_id, finished_at=None).update(state=state, finished_at=timezone.now())
    return True


def job_next_due(job_id: int) -> float | None:
    """Seconds until the job's next retry is due (None when nothing waits)."""
    waiting = (
        BulkJobItem.objects.filter(job_id=job_id, state=BulkJobItem.State.RETRY_WAIT)
        .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    )
    if waiting is None:
        return None
    return max(0.0, (waiting - timezone.now()).total_seconds())
