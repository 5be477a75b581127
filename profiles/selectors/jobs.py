"""A background job as its page shows it: progress, failures by ErrorCode, and the failed items."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext

from ..errortext import error_meaning, recorded_text
from ..im import tags as catalogue
from ..im.errors import describe
from ..labels import custom_labels, describe_tags
from ..models import BulkJob, BulkJobItem, PullRound

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
    # The job's state in the reader's language (the page shows it; ``state`` is the value).
    state_label: str
    finished: bool
    # Failed items that *Retry failed items* would send again (docs/tencent-im.md §6).
    retryable: int = 0
    # Succeeded items that needed no request: Tencent already held their values.
    unchanged: int = 0

    @property
    def state_rows(self) -> list[tuple[str, str, int]]:
        """(state, its label, items) for every item state, in the model's order."""
        return [(state, BulkJobItem.State(state).label, count) for state, count in self.by_state.items()]


@dataclass(frozen=True)
class FailedItem:
    """One failed item in plain words: which tag(s) the failure concerns, why, and whether a retry helps."""

    user_id: str
    error_code: int | None
    message: str
    attempts: int = 0
    line: int | None = None
    # The labels of the tag(s) the ErrorCode concerns ("Gender"), "" when it concerns no tag.
    tags: str = ""
    retryable: bool = False

    @property
    def reason(self) -> str:
        """The ErrorCode's meaning (with the tag), or what happened when Tencent gave no ErrorCode,
        in the reader's language."""
        if self.error_code is None:
            return recorded_text(self.message)
        meaning = error_meaning(self.error_code)
        return gettext("%(tags)s: %(meaning)s") % {"tags": self.tags, "meaning": meaning} if self.tags else meaning

    @property
    def details(self) -> str:
        """What the item recorded (Tencent's own words included), in the reader's language where the app wrote it."""
        return recorded_text(self.message)

    @property
    def next_step(self) -> str:
        return gettext("Retry sends it again.") if self.retryable else retry_hint(self.error_code)


@dataclass(frozen=True)
class NotRetried:
    """Failed items left out of a retry, by ErrorCode, with why."""

    code: int | None
    count: int

    @property
    def hint(self) -> str:
        return retry_hint(self.code)


def retry_hint(code: int | None) -> str:
    """Why a failure with ``code`` is not sent again, and what to do instead (docs/tencent-im.md §6)."""
    if code is None:
        return gettext("not sent: its values or UserID were refused before sending; fix them first")
    info = describe(code)
    if info.retryable:
        return gettext("a retry can help")
    if info.concerns_tag:
        return gettext("fix the value first")
    if not info.known:
        return gettext("not known to pass on a retry")
    return gettext("fix the cause first: %(meaning)s") % {"meaning": error_meaning(code)}


def failure_tags(code: int | None, values: Mapping[str, Any], custom: Mapping[str, str] | None = None) -> str:
    """The labels of the tag(s) a tag-related ErrorCode most likely concerns, among those the item set:
    the one tag it set, or those whose rule breaks with that code (docs/tencent-im.md §2, §3)."""
    if code is None or not describe(code).concerns_tag or not values:
        return ""
    tags = list(values)
    if len(tags) > 1:
        if code in (40007, 40008, 40009):
            narrowed = [tag for tag in tags if catalogue.is_custom_tag_name(tag)]
        else:
            narrowed = [
                tag for tag in tags
                if (standard := catalogue.STANDARD_BY_WIRE.get(tag)) is not None and standard.error_code == code
            ]
        tags = narrowed or tags
    return describe_tags(tags, custom)


@dataclass(frozen=True)
class JobFailures:
    """The first failed items of a job (in the order they were listed) and how many failed in all."""

    count: int
    items: list[FailedItem]

    @property
    def more(self) -> int:
        """How many failed items are not listed."""
        return self.count - len(self.items)


@dataclass(frozen=True)
class Outcome:
    """One user's outcome in a job, as the results CSV lists it."""

    user_id: str
    state: str
    error_code: int | None
    message: str
    attempts: int
    line: int | None = None


def _item_outcome(item: BulkJobItem) -> Outcome:
    return Outcome(item.user_id, item.state, item.error_code, item.message, item.attempts, item.line)


def job_outcomes(job: BulkJob) -> Iterator[Outcome]:
    """Every user's outcome, in the job's order: an edit job's items; a refresh job's users round by
    round, those a round refreshed (counted, without an item) as succeeded, and the users of a round
    that has not ended as pending."""
    items = job.items.order_by("pk")
    if job.kind != BulkJob.Kind.PULL:
        yield from (_item_outcome(item) for item in items.iterator(chunk_size=2000))
        return
    ended = {item.user_id: item for item in items}  # only the users a round could not refresh
    for pull_round in job.rounds.order_by("number"):
        done = pull_round.state == PullRound.State.DONE
        for user_id in pull_round.user_ids:
            item = ended.pop(user_id, None)
            if item is not None:
                yield _item_outcome(item)
            elif done:
                yield Outcome(user_id, BulkJobItem.State.SUCCEEDED, 0, "", pull_round.attempts)
            else:
                yield Outcome(user_id, BulkJobItem.State.PENDING, None, "", pull_round.attempts)
    yield from (_item_outcome(item) for item in ended.values())


def job_refreshed(job: BulkJob) -> int:
    """Users a refresh job's ended rounds refreshed so far (they have no item); 0 for an edit job."""
    if job.kind != BulkJob.Kind.PULL:
        return 0
    return job.rounds.aggregate(n=Sum("refreshed"))["n"] or 0


def job_progress(job: BulkJob) -> JobProgress:
    """The job's progress, counted by the database (GROUP BY queries)."""
    per_state = dict(job.items.values_list("state").annotate(n=Count("pk")).order_by())
    # A refresh job's rounds count the users they refreshed (those have no item).
    refreshed = job_refreshed(job)
    if refreshed:
        per_state[BulkJobItem.State.SUCCEEDED] = per_state.get(BulkJobItem.State.SUCCEEDED, 0) + refreshed
    per_code = (
        job.items.filter(state=BulkJobItem.State.FAILED).values_list("error_code")
        .annotate(n=Count("pk")).order_by("-n")
    )
    extra = job.items.aggregate(
        retryable=Count("pk", filter=Q(state=BulkJobItem.State.FAILED, retryable=True)),
        unchanged=Count("pk", filter=Q(state=BulkJobItem.State.SUCCEEDED, error_code=None)),
    )
    done = sum(per_state.get(state, 0) for state in FINISHED_STATES)
    # A refresh job's users whose round has not ended have no item yet: they are pending.
    written = sum(n for state, n in per_state.items() if state != BulkJobItem.State.REJECTED)
    per_state[BulkJobItem.State.PENDING] = per_state.get(BulkJobItem.State.PENDING, 0) + max(0, job.total - written)
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
            CodeFailures(code=code, meaning=error_meaning(code) if code is not None else gettext("no answer"), count=n)
            for code, n in per_code
        ],
        rate=round(rate, 1),
        seconds_left=seconds_left,
        state=job.state,
        state_label=str(BulkJob.State(job.state).label),
        finished=job.finished_at is not None,
        retryable=extra["retryable"],
        unchanged=extra["unchanged"],
    )


def job_failures(job: BulkJob, *, limit: int = FAILED_ITEMS_SHOWN) -> JobFailures:
    """The job's first ``limit`` failed items, in plain words, and the number failed."""
    failed = job.items.filter(state=BulkJobItem.State.FAILED)
    items = list(failed_items(failed.order_by("pk")[:limit]))
    count = len(items) if len(items) < limit else failed.count()
    return JobFailures(count=count, items=items)


def failed_items(items: QuerySet[BulkJobItem]) -> Iterator[FailedItem]:
    """``items`` (failed ones) in plain words, read in chunks: the page's first hundred or a CSV of all."""
    custom: dict[str, str] | None = None
    rows = items.values_list("user_id", "error_code", "message", "attempts", "line", "values", "retryable")
    for user_id, code, message, attempts, line, values, retryable in rows.iterator(chunk_size=2000):
        if custom is None and any(catalogue.is_custom_tag_name(tag) for tag in values or {}):
            custom = custom_labels()
        yield FailedItem(
            user_id=user_id, error_code=code, message=message, attempts=attempts, line=line,
            tags=failure_tags(code, values or {}, custom or {}), retryable=retryable,
        )


def job_not_retried(job: BulkJob) -> list[NotRetried]:
    """The failed items *Retry failed items* leaves out, by ErrorCode, the most frequent first."""
    rows = (
        job.items.filter(state=BulkJobItem.State.FAILED, retryable=False).values_list("error_code")
        .annotate(n=Count("pk")).order_by("-n", "error_code")
    )
    return [NotRetried(code=code, count=n) for code, n in rows]


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
