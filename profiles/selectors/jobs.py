"""A background job as its page shows it: progress, failures by ErrorCode, and the failed items."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, QuerySet
from django.utils import timezone

from ..im.errors import describe
from ..models import BulkJob, BulkJobItem

# An item in one of these states is done: it is never sent again.
FINISHED_STATES = (BulkJobItem.State.SUCCEEDED, BulkJobItem.State.FAILED, BulkJobItem.State.CANCELLED)
FAILED_ITEMS_SHOWN = 100


@dataclass(frozen=True)
class CodeFailures:
    """How many of a job's items failed with one ErrorCode (None: Tencent never answered)."""

    code: int | None
    meaning: str
    count: int


@dataclass(frozen=True)
class JobProgress:
    """A job's counts by state and by ErrorCode, its rate and the time left: the job page, and the
    status the page polls (``dataclasses.asdict`` gives its JSON)."""

    total: int
    done: int
    # Every item state, in the model's order, with zero for the states no item is in.
    by_state: dict[str, int]
    # The failed items by ErrorCode, the most frequent first.
    by_code: list[CodeFailures]
    rate: float  # items finished per second (succeeded or failed), since the job started
    seconds_left: int | None  # None while nothing has finished yet
    state: str
    finished: bool


@dataclass(frozen=True)
class FailedItem:
    user_id: str
    error_code: int | None
    message: str


@dataclass(frozen=True)
class JobFailures:
    """The first failed items of a job (in the order they were listed) and how many failed in all."""

    count: int
    items: list[FailedItem]

    @property
    def more(self) -> int:
        """How many failed items are not listed."""
        return self.count - len(self.items)


def job_progress(job: BulkJob) -> JobProgress:
    """The job's progress, counted by the database (two GROUP BY queries)."""
    per_state = dict(job.items.values_list("state").annotate(n=Count("pk")).order_by())
    per_code = (
        job.items.filter(state=BulkJobItem.State.FAILED).values_list("error_code")
        .annotate(n=Count("pk")).order_by("-n")
    )
    done = sum(per_state.get(state, 0) for state in FINISHED_STATES)
    until = job.finished_at or timezone.now()
    elapsed = (until - job.started_at).total_seconds() if job.started_at else 0.0
    finished_items = per_state.get(BulkJobItem.State.SUCCEEDED, 0) + per_state.get(BulkJobItem.State.FAILED, 0)
    rate = finished_items / elapsed if elapsed > 0 else 0.0
    remaining = job.total - done
    if not remaining:
        seconds_left: int | None = 0
    else:
        seconds_left = round(remaining / rate) if rate > 0 else None
    return JobProgress(
        total=job.total,
        done=done,
        by_state={state.value: per_state.get(state.value, 0) for state in BulkJobItem.State},
        by_code=[
            CodeFailures(code=code, meaning=describe(code).meaning if code is not None else "no answer", count=n)
            for code, n in per_code
        ],
        rate=round(rate, 1),
        seconds_left=seconds_left,
        state=job.state,
        finished=job.finished_at is not None,
    )


def job_failures(job: BulkJob, *, limit: int = FAILED_ITEMS_SHOWN) -> JobFailures:
    """The job's first ``limit`` failed items (UserID, ErrorCode, reason) and the number failed."""
    failed = job.items.filter(state=BulkJobItem.State.FAILED)
    items = [
        FailedItem(user_id=user_id, error_code=code, message=message)
        for user_id, code, message in failed.order_by("pk").values_list("user_id", "error_code", "message")[:limit]
    ]
    count = len(items) if len(items) < limit else failed.count()
    return JobFailures(count=count, items=items)


def jobs_visible_to(user: AbstractBaseUser) -> QuerySet[BulkJob]:
    """The jobs ``user`` may see: every job with ``view_all_bulkjob`` (audit reviewers) or
    ``manage_all_bulkjob`` (a team lead), otherwise only the jobs they started; none without the
    view permission."""
    jobs = BulkJob.objects.all()
    if not user.has_perm("profiles.view_bulkjob"):
        return jobs.none()
    if user.has_perm("profiles.view_all_bulkjob") or user.has_perm("profiles.manage_all_bulkjob"):
        return jobs
    return jobs.filter(created_by_id=user.pk)


def may_manage_job(user: AbstractBaseUser, job: BulkJob) -> bool:
    """Whether ``user`` may cancel ``job`` or retry its failed items: one who may run jobs, on a job
    they started, or a lead with ``manage_all_bulkjob``."""
    if not user.has_perm("profiles.run_bulkjob"):
        return False
    return job.created_by_id == user.pk or user.has_perm("profiles.manage_all_bulkjob")
