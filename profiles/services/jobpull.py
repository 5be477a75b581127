"""Working a refresh job (``im_pull --all``): each django-q2 task takes a round of UserIDs and pulls
them with ``profile_pull``, so any number of workers share the rounds."""

from __future__ import annotations

import uuid

from django.utils.translation import gettext_noop

from ..im import tags as catalogue
from ..im.errors import describe
from ..models import BulkJob, BulkJobItem, ImRequest
from .gateway import JobCall
from .jobpush import JOB_PURPOSE
from .jobs import (
    CANCELLED_BEFORE_SENDING,
    job_cancel_requested,
    job_finish_if_done,
    job_start,
    round_claim,
    round_finish,
)
from .pull import ReadFailure, profile_pull

# What an item records, in English (profiles.errortext translates it when shown).
# Written on every refreshed user's item by earlier versions (now a round counts them); still shown.
REFRESHED = gettext_noop("Refreshed from Tencent.")
RECORDED_MESSAGES = (REFRESHED,)


def job_pull_round(*, job_id: int) -> int:
    """Pull the next round of the job's UserIDs (up to PULL_ROUND); returns how many users it ended.

    Users Tencent answered for are stored and counted by the round as refreshed; each of the others
    gets an item, failed with the reason (the ErrorCode and its meaning, no answer, changed locally
    meanwhile), which the job page lists and *Retry failed items* sends again. Both are written as
    the round ends, with the round marked done: a round whose worker died runs again, and no user
    ends twice.
    """
    job = BulkJob.objects.select_related("created_by").get(pk=job_id)
    if job.finished_at is not None:
        return 0
    pull_round = round_claim(job_id=job_id, worker=uuid.uuid4().hex)
    if pull_round is None:
        job_finish_if_done(job_id)
        return 0
    if job_cancel_requested(job_id):
        ended = round_finish(pull_round, [
            BulkJobItem(user_id=user_id, values={}, state=BulkJobItem.State.CANCELLED, message=CANCELLED_BEFORE_SENDING)
            for user_id in pull_round.user_ids
        ])
    else:
        job_start(job_id)
        outcome = profile_pull(
            user_ids=pull_round.user_ids, actor=job.created_by, source=ImRequest.Source.JOB,
            job=JobCall(job_id=job_id, attempt=pull_round.attempts, purpose=JOB_PURPOSE % {"pk": job_id}),
        )
        failed = [_failed_item(user_id, failure) for user_id, failure in outcome.failures.items()]
        ended = round_finish(pull_round, failed, refreshed=len(pull_round.user_ids) - len(failed))
    job_finish_if_done(job_id)
    return ended


def _failed_item(user_id: str, failure: ReadFailure) -> BulkJobItem:
    """A user the round could not refresh: why, and whether a retry can help."""
    code = failure.error_code
    # docs/tencent-im.md §6: a retryable ErrorCode, or no answer; an invalid UserID was never sent.
    retryable = describe(code).retryable if code is not None else _valid_user_id(user_id)
    return BulkJobItem(user_id=user_id, values={}, state=BulkJobItem.State.FAILED, error_code=code,
                       message=failure.reason, retryable=retryable)


def _valid_user_id(user_id: str) -> bool:
    try:
        catalogue.validate_user_id(user_id)
    except ValueError:
        return False
    return True
