"""Working an edit job: its items pushed through ``profile_push`` by a few threads of a django-q2
worker for a slice of time, retrying only what docs/tencent-im.md §6 says a retry can help."""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from ..im.client import PORTRAIT_SET
from ..im.errors import Retry, describe
from ..models import BulkJob, BulkJobItem, ImRequest, Profile
from .audit import audit_close_unanswered
from .gateway import JobCall, im_client
from .jobs import (
    Claim,
    cancel_unsent,
    claims_cancel,
    claims_release,
    items_finish,
    job_cancel_requested,
    job_claim,
    job_finish_if_done,
    job_start,
)
from .pull import PULL_BATCH_SIZE, remote_read
from .push import profile_push
from .threads import run_in_threads
from .validation import TagValidationError, custom_tag_definitions

logger = logging.getLogger(__name__)


def max_attempts() -> int:
    return settings.IM_JOB_MAX_ATTEMPTS


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: up to base·2^(attempt-1), capped."""
    ceiling = min(settings.IM_JOB_BACKOFF_CAP, settings.IM_JOB_BACKOFF_BASE * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def _already_succeeded(job_id: int, item: BulkJobItem) -> bool:
    """For an abandoned item: did its request go out and succeed before the worker died?"""
    return ImRequest.objects.filter(
        job_id=job_id, user_id=item.user_id, command=PORTRAIT_SET, state=ImRequest.State.OK
    ).exists()


def _finish(item: BulkJobItem, state: str, code: int | None, message: str, *, retryable: bool = False) -> None:
    items_finish([item.pk], state=state, code=code, message=message, retryable=retryable)


def _current_values(job: BulkJob, claims: list[Claim], definitions: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Tencent's values of the claimed items' tags, read in one audited ``portrait_get`` of up to
    100 users (about one read per hundred pushes), by UserID. A user the read could not answer for
    is left out: its push goes ahead on the local copy, and Tencent's answer to it says what is wrong."""
    tags = list(dict.fromkeys(tag for claim in claims for tag in claim.item.values))
    read = remote_read(
        user_ids=[claim.item.user_id for claim in claims], tags=tags, actor=job.created_by,
        source=ImRequest.Source.JOB, definitions=definitions,
        job=JobCall(job_id=job.pk, attempt=1, purpose=f"job #{job.pk}: current values before sending"),
    )
    return {user_id: remote.values for user_id, remote in read.profiles.items()}


def _process(
    job: BulkJob, claim: Claim, profile: Profile, *, definitions: Mapping[str, Any], current: dict[str, Any] | None,
) -> None:
    item = claim.item
    if claim.abandoned and _already_succeeded(job.pk, item):
        BulkJobItem.objects.filter(pk=item.pk).update(attempts=F("attempts") - 1)  # nothing sent now
        _finish(item, BulkJobItem.State.SUCCEEDED, 0, "Succeeded (recorded before the worker stopped).")
        return
    attempt = item.attempts  # counted by the claim
    if claim.abandoned:
        audit_close_unanswered(
            job_id=job.pk, user_id=item.user_id, command=PORTRAIT_SET,
            note=f"The worker stopped before Tencent's answer was recorded; the edit was sent again "
            f"(attempt {attempt}).",
        )
    resent = ", re-sent: the answer was never recorded (worker stopped)" if claim.abandoned else ""
    purpose = f"job #{job.pk}{resent}"
    try:
        outcome = profile_push(
            profile=profile, values=item.values, actor=job.created_by, source=ImRequest.Source.JOB,
            send_unchanged=True, job=JobCall(job_id=job.pk, attempt=attempt, purpose=purpose),
            definitions=definitions, tencent_now=current,
        )
    except TagValidationError as exc:
        _finish(item, BulkJobItem.State.FAILED, None, f"Not sent: {exc}")
        return
    if outcome.ok:
        # No request, no ErrorCode: Tencent already held the values, so the item needed no change.
        _finish(item, BulkJobItem.State.SUCCEEDED, 0 if outcome.sent else None, outcome.message)
        return
    code = outcome.error_code
    policy = describe(code).retry if code is not None else Retry.BACKOFF
    limit = max_attempts()
    if policy is Retry.LIMITED:
        limit = min(limit, 3)  # docs/tencent-im.md §6: "retry once or twice"
    if policy is Retry.NEW_USERSIG:
        # docs/tencent-im.md §6: a new UserSig, then one retry; a second 70001 in a row is final.
        im_client().usersig.invalidate()
        limit = attempt if item.error_code == 70001 else attempt + 1
    if policy is Retry.NEVER or attempt >= limit:
        reason = outcome.message if policy is Retry.NEVER else f"Gave up after {attempt} attempts: {outcome.message}"
        _finish(item, BulkJobItem.State.FAILED, code, reason, retryable=policy is not Retry.NEVER)
        return
    delay = 0.0 if policy is Retry.NEW_USERSIG else 60.0 if policy is Retry.LATER else backoff_seconds(attempt)
    BulkJobItem.objects.filter(pk=item.pk).update(
        state=BulkJobItem.State.RETRY_WAIT, error_code=code, message=outcome.message,
        next_attempt_at=timezone.now() + timedelta(seconds=delay), claimed_by="", claimed_until=None,
    )


def job_work(*, job_id: int, seconds: float) -> bool:
    """Work on an edit job for about ``seconds``, with IM_JOB_CONCURRENCY requests in flight.

    Returns True when the job is finished (every item terminal), False when work remains.
    """
    job = BulkJob.objects.select_related("created_by").get(pk=job_id)
    if job.finished_at is not None:
        return True
    job_start(job_id)
    worker = uuid.uuid4().hex
    deadline = timezone.now() + timedelta(seconds=seconds)
    concurrency = settings.IM_JOB_CONCURRENCY
    lock = threading.Lock()
    stop = threading.Event()
    definitions = custom_tag_definitions()  # once per slice, not once per item
    pending: list[Claim] = []
    copies: dict[str, Profile] = {}
    current: dict[str, dict[str, Any]] = {}

    def next_claim() -> tuple[Claim, Profile, dict[str, Any] | None] | None:
        with lock:
            if stop.is_set() or timezone.now() >= deadline:
                claims_release(pending)
                return None
            # Before every item: a cancel must also stop the items already claimed into memory.
            if job_cancel_requested(job_id):
                claims_cancel(pending)
                cancel_unsent(job_id)
                stop.set()
                return None
            if not pending:
                pending.extend(job_claim(job_id=job_id, worker=worker, count=max(PULL_BATCH_SIZE, concurrency * 2)))
                if not pending:
                    return None
                # The local copies of the whole claim in one query, and Tencent's values in one call.
                users = [claim.item.user_id for claim in pending]
                copies.clear()
                copies.update((p.user_id, p) for p in Profile.objects.filter(user_id__in=users))
                current.clear()
                current.update(_current_values(job, pending, definitions))
            claim = pending.pop(0)
            user_id = claim.item.user_id
            return claim, copies.get(user_id) or Profile(user_id=user_id), current.get(user_id)

    def next_claim_or_none() -> tuple[Claim, Profile, dict[str, Any] | None] | None:
        # A database error here (SQLite busy beyond its timeout, a dropped connection) must end
        # this thread visibly, in the log.
        try:
            return next_claim()
        except Exception:
            logger.exception("job %s: could not take the next item", job_id)
            return None

    def run() -> None:
        while (taken := next_claim_or_none()) is not None:
            claim, profile, values_now = taken
            try:
                _process(job, claim, profile, definitions=definitions, current=values_now)
            except Exception:  # one item's failure must not strand the others
                logger.exception("job %s: item %s failed unexpectedly", job_id, claim.item.pk)
                _finish(claim.item, BulkJobItem.State.FAILED, None, "Unexpected error while sending; see the logs.")

    run_in_threads(run, concurrency)
    return job_finish_if_done(job_id)
