"""The auditors' dashboard: requests per UTC day split by outcome, the failure rate, the top ErrorCodes
and the top actors over a range of days, all counted by the database (GROUP BY), never row by row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, assert_never

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from ..errortext import error_meaning
from ..models import AuditDayCount, ImRequest
from .audit import audit_rows_visible_to, sees_whole_trail

TOP_N = 10
# Shown for rows with no actor_username: requests the app sent on its own (webhooks, sweeps).
SYSTEM_ACTOR = gettext_lazy("system")

# The three outcomes are decided by the ErrorCode alone, so every row falls in exactly one:
# 0 = accepted, any other code = refused by Tencent, no code at all (NULL) = no answer.
ACCEPTED = Q(error_code=0)


class OutcomeKind(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    NO_ANSWER = "no_answer"


@dataclass(frozen=True)
class Outcome:
    """One of the three outcomes, as the page names and explains it (translated when shown)."""

    key: OutcomeKind
    label: str | Promise
    explanation: str | Promise
    # The label inside a sentence ("3 refused by Tencent"): languages differ in how it changes there.
    in_sentence: str | Promise

    @property
    def label_in_sentence(self) -> str:
        return str(self.in_sentence)


OUTCOMES: tuple[Outcome, ...] = (
    Outcome(
        OutcomeKind.ACCEPTED, gettext_lazy("Accepted"), gettext_lazy("Tencent answered with ErrorCode 0."),
        gettext_lazy("accepted"),
    ),
    Outcome(
        OutcomeKind.REFUSED, gettext_lazy("Refused by Tencent"),
        gettext_lazy("Tencent answered with a non-zero ErrorCode."), gettext_lazy("refused by Tencent"),
    ),
    Outcome(
        OutcomeKind.NO_ANSWER, gettext_lazy("No answer"),
        gettext_lazy("No ErrorCode: a transport error, still pending, or never answered."), gettext_lazy("no answer"),
    ),
)


@dataclass(frozen=True, kw_only=True)
class OutcomeCounts:
    """How many requests had each outcome (one UTC day, or the whole range)."""

    accepted: int = 0
    refused: int = 0
    no_answer: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.refused + self.no_answer

    @property
    def failed(self) -> int:
        return self.refused + self.no_answer

    @property
    def failure_rate(self) -> float | None:
        """Refused and unanswered requests over all of them; None when there were none."""
        return self.failed / self.total if self.total else None

    @property
    def failure_percent(self) -> float | None:
        rate = self.failure_rate
        return None if rate is None else rate * 100

    def count(self, outcome: Outcome) -> int:
        match outcome.key:
            case OutcomeKind.ACCEPTED:
                return self.accepted
            case OutcomeKind.REFUSED:
                return self.refused
            case OutcomeKind.NO_ANSWER:
                return self.no_answer
            case _:
                assert_never(outcome.key)


@dataclass(frozen=True, kw_only=True)
class DayCounts(OutcomeCounts):
    day: date


@dataclass(frozen=True)
class CodeCount:
    """A non-zero ErrorCode, what the catalogue says it means, and how many requests got it."""

    code: int
    meaning: str
    count: int


@dataclass(frozen=True)
class ActorCount:
    """One actor's requests, and how many of them failed (refused or unanswered)."""

    username: str
    requests: int
    failures: int

    @property
    def name(self) -> str:
        return self.username or str(SYSTEM_ACTOR)

    @property
    def failure_percent(self) -> float:
        # Every actor listed made at least one request.
        return self.failures * 100 / self.requests


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard page shows, for the UTC days ``start`` to ``end`` inclusive."""

    start: date
    end: date
    # One entry per calendar day from start to end inclusive; days without requests count zero.
    days: list[DayCounts]
    totals: OutcomeCounts
    top_codes: list[CodeCount]
    top_actors: list[ActorCount]

    @property
    def failure_rate(self) -> float | None:
        return self.totals.failure_rate


class UtcDate(TruncDate):
    """The UTC calendar day of a datetime column, whatever TIME_ZONE says.

    On SQLite, TruncDate calls a Python function for every row (django_datetime_cast_date), which
    costs seconds on a million rows. With USE_TZ on (as here), Django stores datetimes there as UTC
    text ("YYYY-MM-DD HH:MM:SS[.ffffff]"), so the first ten characters already are the UTC day, and
    SQLite's own substr() reads them without leaving C. Other databases keep TruncDate's SQL
    (on PostgreSQL: ``(created_at AT TIME ZONE 'UTC')::date``). Migration 0008 indexes exactly these
    expressions, so a change here needs a new index there.
    """

    def __init__(self, expression: Any, **extra: Any) -> None:
        super().__init__(expression, tzinfo=UTC, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.lhs)
        # DateField's SQLite converter turns the "YYYY-MM-DD" text back into a date.
        return f"substr({sql}, 1, 10)", list(params)


def utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The half-open instant range [start 00:00 UTC, the day after end 00:00 UTC), so a filter on
    created_at compares the raw column and can use its index."""
    return (
        datetime.combine(start, datetime.min.time(), tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
    )


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def audit_dashboard(*, start: date, end: date, rows: QuerySet[ImRequest] | None = None) -> Dashboard:
    """The dashboard for the UTC days ``start`` to ``end`` inclusive, over ``rows`` (the audit rows
    the viewer may see; all of them by default). No audit row is loaded.

    Over the whole trail, the sealed rows are counted from AuditDayCount (kept by every seal: a few
    thousand rows however long the trail) and only the rows still waiting for their answer are
    grouped from the table. Over a narrower set of rows, everything is grouped from the table."""
    if start > end:
        raise ValueError(f"start ({start}) is after end ({end})")
    if rows is None:
        # The pending rows (no chain_seq yet) are found through chain_seq's unique index.
        pending = ImRequest.objects.filter(chain_seq__isnull=True).order_by()
        return _summarise(
            start, end, [*_day_count_groups(start, end), *_row_groups(pending, start, end)],
            [*_day_count_codes(start, end), *_row_codes(pending, start, end)],
        )
    # order_by(): the model's default ordering must not leak into GROUP BY.
    rows = rows.order_by()
    return _summarise(start, end, _row_groups(rows, start, end), _row_codes(rows, start, end))


def audit_dashboard_for(viewer: AbstractBaseUser, *, start: date, end: date) -> Dashboard:
    """The dashboard over the audit rows ``viewer`` may read: a viewer of the whole trail gets the
    kept day counts; anyone else, their own rows counted."""
    rows = None if sees_whole_trail(viewer) else audit_rows_visible_to(viewer)
    return audit_dashboard(start=start, end=end, rows=rows)


def _day_count_groups(start: date, end: date) -> Iterable[tuple[date, str, int, int, int]]:
    """(day, actor, requests, answered, accepted) from the sealed rows' day counts."""
    counts = AuditDayCount.objects.filter(day__gte=start, day__lte=end).values_list(
        "day", "actor_username", "answered", "error_code", "requests"
    )
    for day, actor, answered, code, requests in counts:
        yield day, actor, requests, requests if answered else 0, requests if answered and code == 0 else 0


def _day_count_codes(start: date, end: date) -> Iterable[tuple[int, int]]:
    """(ErrorCode, requests) for the non-zero codes of the sealed rows' day counts."""
    return (
        AuditDayCount.objects.filter(day__gte=start, day__lte=end, answered=True).exclude(error_code=0)
        .values_list("error_code").annotate(n=Sum("requests")).order_by()
    )


def _row_groups(rows: QuerySet[ImRequest], start: date, end: date) -> Iterable[tuple[date, str, int, int, int]]:
    """(day, actor, requests, answered, accepted) grouped from the audit rows themselves."""

    # One pass, grouped by UTC day and actor, gives both the per-day split and the actors' totals:
    # at most (days x actors) small groups, summed here. The range is a range of the day expression
    # itself, so the dashboard index (migration 0008: day, actor, ErrorCode) answers it without
    # reading the table, and on SQLite in group order, instead of sorting every row of the range.
    return (
        rows.annotate(day=UtcDate("created_at")).filter(day__gte=start, day__lte=end)
        .values_list("day", "actor_username")
        # COUNT(error_code) counts the answered rows (NULL = no answer), so one filtered count
        # (ErrorCode 0) is enough to split all three outcomes.
        .annotate(requests=Count("*"), answered=Count("error_code"), accepted=Count("error_code", filter=ACCEPTED))
    )


def _summarise(
    start: date, end: date, groups: Iterable[tuple[date, str, int, int, int]], codes: Iterable[tuple[int, int]]
) -> Dashboard:
    # Plain lists while summing: no object per group.
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])  # accepted, refused, no answer
    per_actor: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # requests, failures
    for day, username, requests, answered, accepted in groups:
        day_counts, actor_counts = per_day[day], per_actor[username]
        day_counts[0] += accepted
        day_counts[1] += answered - accepted
        day_counts[2] += requests - answered
        actor_counts[0] += requests
        actor_counts[1] += requests - accepted

    days = []
    for day in _days(start, end):
        accepted, refused, no_answer = per_day.get(day, (0, 0, 0))
        days.append(DayCounts(day=day, accepted=accepted, refused=refused, no_answer=no_answer))
    totals = OutcomeCounts(
        accepted=sum(day.accepted for day in days),
        refused=sum(day.refused for day in days),
        no_answer=sum(day.no_answer for day in days),
    )
    ranked = sorted(per_actor.items(), key=lambda item: (-item[1][0], item[0]))[:TOP_N]
    top_actors = [ActorCount(username, requests, failures) for username, (requests, failures) in ranked]
    per_code: dict[int, int] = defaultdict(int)
    for code, count in codes:
        per_code[code] += count
    ranked_codes = sorted(per_code.items(), key=lambda item: (-item[1], item[0]))[:TOP_N]
    top_codes = [CodeCount(code, error_meaning(code), count) for code, count in ranked_codes]
    return Dashboard(start=start, end=end, days=days, totals=totals, top_codes=top_codes, top_actors=top_actors)


def _row_codes(rows: QuerySet[ImRequest], start: date, end: date) -> Iterable[tuple[int, int]]:
    """(ErrorCode, requests) for the non-zero codes among the audit rows. "error_code <> 0" cannot be
    read as a range of the (error_code, created_at) index, but "> 0" and "< 0" each can, so refusals
    (a few percent of the rows) are counted without scanning the accepted ones; no code is in both."""
    low, high = utc_bounds(start, end)
    by_code = rows.filter(created_at__gte=low, created_at__lt=high).values_list("error_code").annotate(n=Count("*"))
    return by_code.filter(error_code__gt=0).union(by_code.filter(error_code__lt=0), all=True).order_by()
