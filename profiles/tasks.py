"""django-q2 tasks: thin wrappers that take ids, call a service, and re-queue unfinished work."""

from __future__ import annotations

import time

from django.conf import settings
from django.utils import translation
from django_q.tasks import async_task

from .services import jobpull, jobpush, jobs


def run_job_slice(job_id: int) -> str:
    """Work on an edit job for one slice; queue the next slice while work remains. Items and audit rows
    record English, whatever language the worker's settings name (pages translate them when shown)."""
    with translation.override(None):
        finished = jobpush.job_work(job_id=job_id, seconds=settings.IM_JOB_SLICE_SECONDS)
    if finished:
        return f"job {job_id} finished"
    due_in = jobs.job_next_due(job_id)
    if due_in and due_in > 1:
        # Only retries remain and none is due yet: wait for the earliest, a slice at most.
        time.sleep(min(due_in, settings.IM_JOB_SLICE_SECONDS))
    async_task("profiles.tasks.run_job_slice", job_id, group=f"job-{job_id}")
    return f"job {job_id}: slice done, more to do"


def run_pull_round(job_id: int) -> str:
    """Refresh one round of a refresh job's UserIDs."""
    with translation.override(None):
        taken = jobpull.job_pull_round(job_id=job_id)
    return f"job {job_id}: {taken} user(s) refreshed or reported"
