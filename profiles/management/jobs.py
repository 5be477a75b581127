"""Following a background job on the terminal (``im_set --csv --wait``, ``im_pull --all --wait``)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from profiles.models import BulkJob, BulkJobItem
from profiles.selectors import JobProgress, job_progress

# How long a job may sit untouched before the command asks whether a worker is running.
NO_WORKER_WARNING_SECONDS = 10
SHOWN_FAILURES = 5


def follow_job(command: BaseCommand, job: BulkJob) -> None:
    """A progress bar until the job ends; a CommandError (non-zero exit) if any item failed, naming
    the first failed users and why. Ctrl-C stops following, not the job."""
    try:
        progress = _follow(command, job)
    except KeyboardInterrupt:
        raise CommandError(
            f"Stopped following job #{job.pk}; the job goes on in the workers. Its page shows its progress "
            "and can cancel it."
        ) from None
    by_state = progress.by_state
    command.stdout.write(
        f"\nJob #{job.pk} {progress.state}: {by_state['succeeded']} succeeded, {by_state['failed']} failed, "
        f"{by_state['cancelled']} cancelled."
    )
    if by_state["failed"]:
        failed = job.items.filter(state=BulkJobItem.State.FAILED).order_by("pk")
        for user_id, code, message in failed.values_list("user_id", "error_code", "message")[:SHOWN_FAILURES]:
            command.stderr.write(f"{user_id}: {f'ErrorCode {code}: ' if code else ''}{message}")
        raise CommandError(f"{by_state['failed']} item(s) failed; see the job page or its results CSV.")


def _follow(command: BaseCommand, job: BulkJob) -> JobProgress:
    started = time.monotonic()
    warned = False
    while True:
        job.refresh_from_db()
        progress = job_progress(job)
        width = 30
        filled = int(width * progress.done / progress.total) if progress.total else width
        left = "—" if progress.seconds_left is None else f"{progress.seconds_left} s"
        command.stdout.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {progress.done}/{progress.total} "
            f"{progress.rate}/s, {left} left ", ending="",
        )
        command.stdout.flush()
        if progress.finished:
            return progress
        if not warned and progress.done == 0 and time.monotonic() - started > NO_WORKER_WARNING_SECONDS:
            command.stderr.write("\nNothing has started yet: is a worker running (python manage.py qcluster)?")
            warned = True
        time.sleep(0.2)
