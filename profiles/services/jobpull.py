"""Working a refresh job (``im_pull --all``): each django-q2 task takes a round of UserIDs and pulls
them with ``profile_pull``, so any number of workers share the rounds."""

from __future__ import annotations

import uuid
from collections import defaultdict

from ..im import tags as catalogue
from ..im.errors import describe
from ..models import BulkJob, BulkJobItem, ImRequest
from . import jobs
from .gateway import JobCall
from .jobs import items_finish, job_cancel_requested, job_claim, job_finish_if_done, job_start
from .pull import profile_pull


def job_pull_round(*, job_id: int) -> int:
    """Pull the next round of the job's UserIDs (up to PULL_ROUND); returns how many were taken.

    Users Tencent answered for are stored and end succeeded; the others end failed with the
    reason (the ErrorCode and its meaning, no answer, changed locally meanwhile), which the job
    page lists and *Retry failed items* sends again.
    """
    job = BulkJob.objects.select_related("created_by").get(pk=job_id)
    if job.finished_at is not None or job_cancel_requested(job_id):
        job_finish_if_done(job_id)
        return 0
    job_start(job_id)
    claims = job_claim(job_id=job_id, worker=uuid.uuid4().hex, count=jobs.PULL_ROUND)
    if not claims:
        job_finish_if_done(job_id)
        return 0
    items = {claim.item.user_id: claim.item for claim in claims}
    outcome = profile_pull(
        user_ids=list(items), actor=job.created_by, source=ImRequest.Source.JOB,
        job=JobCall(job_id=job_id, attempt=max(claim.item.attempts for claim in claims), purpose=f"job #{job_id}"),
    )
    if outcome.pulled:
        items_finish(
            [items[user_id].pk for user_id in outcome.pulled], state=BulkJobItem.State.SUCCEEDED, code=0,
            message="Refreshed from Tencent.",
        )
    # Failures grouped by what they say: a refused call fails its 100 users with one reason.
    by_reason: dict[tuple[int | None, str, bool], list[int]] = defaultdict(list)
    for user_id, failure in outcome.failures.items():
        if user_id in items:
            code = failure.error_code
            # docs/tencent-im.md §6: a retryable ErrorCode, or no answer; an invalid UserID was never sent.
            retryable = describe(code).retryable if code is not None else _valid_user_id(user_id)
            by_reason[(code, failure.reason, retryable)].append(items[user_id].pk)
    for (code, reason, retryable), item_ids in by_reason.items():
        items_finish(item_ids, state=BulkJobItem.State.FAILED, code=code, message=reason, retryable=retryable)
    job_finish_if_done(job_id)
    return len(claims)


def _valid_user_id(user_id: str) -> bool:
    try:
        catalogue.validate_user_id(user_id)
    except ValueError:
        return False
    return True
