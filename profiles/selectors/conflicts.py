"""Who changed a profile while an agent was editing it: the user in their app, a colleague, the
console, or nobody Tencent told us about — so a conflict names a cause instead of "another agent".

The evidence is what the app recorded since the form was opened: the changes Tencent reported by
webhook (``ExternalChange``, docs/tencent-im.md §8), the pushes sent by staff, jobs and commands
(``ImRequest`` portrait_set), and the reads that found a new value (``ImRequest`` portrait_get).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, override

from ..errortext import recorded_text
from ..im import tags as catalogue
from ..im.client import PORTRAIT_GET, PORTRAIT_SET
from ..labels import TagText, custom_labels, describe_change, value_label
from ..models import ExternalChange, ImRequest

# Records read per kind of evidence: a profile is rarely changed more often while one form is open.
EVIDENCE_LIMIT = 50
# OptPlatform of a change made through the REST API (docs/tencent-im.md §8).
REST_PLATFORM = "RESTAPI"


class CauseKind(enum.StrEnum):
    USER = "user"  # the user, in their own app
    ACCOUNT = "account"  # another account of the app, in an app
    CONSOLE = "console"  # the app admin account or the REST API, but not this application
    COLLEAGUE = "colleague"  # another staff member, through this application
    YOU = "you"  # the same staff member, in another tab or window
    JOB = "job"  # a background job of this application
    COMMAND = "command"  # the command line (im_set)
    FOUND = "found"  # no record of the change itself; a read from Tencent found the new value
    UNKNOWN = "unknown"  # nothing recorded at all


@dataclass(frozen=True)
class ChangeCause:
    """Who (or what) made one change, and when, as far as the app's records tell."""

    kind: CauseKind
    at: datetime | None = None
    # The operator account (external changes) or the staff username (this app's requests).
    account: str = ""
    platform: str = ""
    purpose: str = ""
    external_change_id: int | None = None
    request_id: int | None = None
    job_id: int | None = None

    def describe(self) -> str:
        """In the reader's language and time zone: "the user on iOS at 10:42"."""
        return self._words(_local_time(self.at))

    def record(self) -> str:
        """In English with a UTC timestamp, for an audit row's note (a record, read later by anyone)."""
        with override("en"):
            when = self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if self.at else ""
            words = self._words(when)
        if self.external_change_id is not None:
            words += f" (external change #{self.external_change_id})"
        elif self.request_id is not None:
            words += f" (request #{self.request_id})"
        return words

    def _words(self, when: str) -> str:
        # The purpose was recorded in English: said in the reader's language (English again for a record).
        names = {"time": when, "account": self.account, "platform": self.platform, "job": self.job_id,
                 "purpose": recorded_text(self.purpose)}
        if self.kind is CauseKind.USER:
            if self.platform:
                return gettext("the user on %(platform)s at %(time)s") % names
            return gettext("the user in their app at %(time)s") % names
        if self.kind is CauseKind.ACCOUNT:
            return gettext("account %(account)s on %(platform)s at %(time)s") % names
        if self.kind is CauseKind.CONSOLE:
            return gettext("the Tencent console or another REST API tool (account %(account)s) at %(time)s") % names
        if self.kind is CauseKind.COLLEAGUE:
            return gettext("a colleague (%(account)s) at %(time)s") % names
        if self.kind is CauseKind.YOU:
            return gettext("you, in another tab or window, at %(time)s") % names
        if self.kind is CauseKind.JOB:
            return gettext("background job #%(job)s at %(time)s") % names
        if self.kind is CauseKind.COMMAND:
            return gettext("a command-line edit (%(account)s) at %(time)s") % names
        if self.kind is CauseKind.FOUND:
            return gettext(
                "someone outside this app; Tencent sent no notice of it (found by a read from Tencent at "
                "%(time)s: %(purpose)s)"
            ) % names
        return gettext("someone outside this app; Tencent sent no notice of who")


@dataclass(frozen=True)
class ConflictRow:
    """One tag the agent changed that was also changed in Tencent meanwhile, in plain words."""

    tag: TagText  # label and wire name (``before``/``after`` unused)
    started: str
    remote: str
    yours: str
    cause: ChangeCause


@dataclass(frozen=True)
class TakenChange:
    """A tag the agent did not touch that changed meanwhile: its new value is kept."""

    change: TagText  # label, wire name, value the form started from → value now
    cause: ChangeCause


@dataclass(frozen=True)
class ConflictReport:
    """What changed underneath an open form, and who changed it."""

    rows: list[ConflictRow] = field(default_factory=list)
    taken: list[TakenChange] = field(default_factory=list)

    @property
    def causes(self) -> list[ChangeCause]:
        """Each distinct cause once, in the order of the rows, then of the taken changes."""
        seen: dict[ChangeCause, None] = {}
        for item in [*self.rows, *self.taken]:
            seen.setdefault(item.cause, None)
        return list(seen)


class ConflictLike(Protocol):
    tag: str
    started: Any
    remote: Any
    yours: Any


def conflict_report(
    *,
    user_id: str,
    since: datetime | None,
    viewer_id: int | None,
    conflicts: Iterable[ConflictLike] = (),
    started: Mapping[str, Any] | None = None,
    current: Mapping[str, Any] | None = None,
    touched: Collection[str] = (),
) -> ConflictReport:
    """The conflict table of an open form and the changes it simply takes.

    ``conflicts``: the tags the agent changed that Tencent changed too (``services.Conflict``).
    ``started`` and ``current``: every tag's value when the form was opened and in the local copy
    now; a tag that differs and is not in ``touched`` (nor a conflict) is a change the save keeps.
    ``since``: when the form was opened; ``viewer_id``: the agent (their own saves elsewhere are "you").
    """
    conflicts = list(conflicts)
    started = started or {}
    current = current or {}
    skip = {*touched, *(c.tag for c in conflicts)}
    taken_tags = {
        tag: current.get(tag) for tag in started
        if tag not in skip and tag in current and not _same(started[tag], current.get(tag))
    }
    causes = change_causes(
        user_id=user_id, since=since, viewer_id=viewer_id,
        values={**{c.tag: c.remote for c in conflicts}, **taken_tags},
    )
    names = custom_labels() if any(catalogue.is_custom_tag_name(t) for t in [*skip, *taken_tags]) else {}
    rows = [
        ConflictRow(
            tag=describe_change(c.tag, None, None, names), started=value_label(c.tag, c.started),
            remote=value_label(c.tag, c.remote), yours=value_label(c.tag, c.yours), cause=causes[c.tag],
        )
        for c in conflicts
    ]
    taken = [
        TakenChange(change=describe_change(tag, started.get(tag), now, names), cause=causes[tag])
        for tag, now in taken_tags.items()
    ]
    return ConflictReport(rows=rows, taken=taken)


def change_causes(
    *, user_id: str, since: datetime | None, viewer_id: int | None, values: Mapping[str, Any]
) -> dict[str, ChangeCause]:
    """For each tag in ``values`` (tag → the value Tencent holds now), who changed it since ``since``.

    The newest recorded change of the tag to that value wins; failing that, the newest recorded
    change of the tag at all; failing that, the first read that found the value; else unknown.
    Without ``since`` (a form from before the load time was kept) every recent record counts.
    """
    if not values:
        return {}
    events = _recorded_changes(user_id=user_id, since=since, viewer_id=viewer_id)
    reads: list[ImRequest] | None = None
    causes: dict[str, ChangeCause] = {}
    for tag, now in values.items():
        naming = [(cause, after) for cause, changed in events for t, after in changed if t == tag]
        exact = [cause for cause, after in naming if _same(after, now)]
        if exact or naming:
            causes[tag] = (exact or [cause for cause, _after in naming])[0]
            continue
        if reads is None:
            reads = _reads(user_id=user_id, since=since)
        causes[tag] = _found_by(reads, user_id=user_id, tag=tag, now=now)
    return causes


def _recorded_changes(
    *, user_id: str, since: datetime | None, viewer_id: int | None
) -> list[tuple[ChangeCause, list[tuple[str, Any]]]]:
    """Every change recorded since ``since``, newest first: its cause and (tag, new value) pairs."""
    external = ExternalChange.objects.filter(user_id=user_id)
    pushes = ImRequest.objects.filter(user_id=user_id, command=PORTRAIT_SET, error_code=0)
    if since is not None:
        external = external.filter(received_at__gte=since)
        pushes = pushes.filter(created_at__gte=since)
    events: list[tuple[datetime, ChangeCause, list[tuple[str, Any]]]] = []
    for change in external.order_by("-received_at", "-id")[:EVIDENCE_LIMIT]:
        pairs = [(c.get("tag"), c.get("after")) for c in change.changes or [] if isinstance(c, dict)]
        events.append((change.received_at, _external_cause(change, user_id), pairs))
    for row in pushes.order_by("-created_at", "-id")[:EVIDENCE_LIMIT]:
        pairs = [(c.get("tag"), c.get("after")) for c in row.changes or [] if isinstance(c, dict)]
        events.append((row.created_at, _push_cause(row, viewer_id), pairs))
    events.sort(key=lambda event: event[0], reverse=True)
    return [(cause, pairs) for _at, cause, pairs in events]


def _external_cause(change: ExternalChange, user_id: str) -> ChangeCause:
    operator = change.operator_account
    if operator == user_id:
        kind = CauseKind.USER
    elif change.platform == REST_PLATFORM or operator == settings.IM.admin_identifier:
        kind = CauseKind.CONSOLE
    else:
        kind = CauseKind.ACCOUNT
    return ChangeCause(
        kind=kind, at=change.event_time or change.received_at, account=operator, platform=change.platform,
        external_change_id=change.pk,
    )


def _push_cause(row: ImRequest, viewer_id: int | None) -> ChangeCause:
    if row.job_id is not None:
        kind = CauseKind.JOB
    elif row.source == ImRequest.Source.COMMAND:
        kind = CauseKind.COMMAND
    elif viewer_id is not None and row.actor_id == viewer_id:
        kind = CauseKind.YOU
    else:
        kind = CauseKind.COLLEAGUE
    return ChangeCause(
        kind=kind, at=row.created_at, account=row.actor_username or gettext("system"), request_id=row.pk,
        job_id=row.job_id,
    )


def _reads(*, user_id: str, since: datetime | None) -> list[ImRequest]:
    """The answered reads of ``user_id`` since ``since``, oldest first (alone or in a batch)."""
    rows = ImRequest.objects.filter(
        Q(user_id=user_id) | Q(pk__in=ImRequest.objects.filter(subjects__user_id=user_id).values("pk")),
        command=PORTRAIT_GET, error_code=0,
    )
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return list(rows.order_by("created_at", "id")[:EVIDENCE_LIMIT])


def _found_by(reads: Sequence[ImRequest], *, user_id: str, tag: str, now: Any) -> ChangeCause:
    """The first read whose answer holds ``now`` for ``tag``; a batch read keeps no values
    (services.gateway), so the first read at all when none tells."""
    chosen = None
    for row in reads:
        held = _answer_value(row.response_body, user_id=user_id, tag=tag)
        if held is _NOT_KEPT:
            chosen = chosen or row
        elif _same(held, now):
            chosen = row
            break
    if chosen is None:
        return ChangeCause(kind=CauseKind.UNKNOWN)
    return ChangeCause(
        kind=CauseKind.FOUND, at=chosen.created_at, account=chosen.actor_username, purpose=chosen.purpose,
        request_id=chosen.pk,
    )


_NOT_KEPT = object()


def _answer_value(body: Any, *, user_id: str, tag: str) -> Any:
    """``tag``'s value for ``user_id`` in a stored portrait_get answer (None: not set), or _NOT_KEPT."""
    items = body.get("UserProfileItem") if isinstance(body, dict) else None
    if not isinstance(items, list) or body.get("ProfileItemValuesOmitted"):
        return _NOT_KEPT
    for item in items:
        if isinstance(item, dict) and item.get("To_Account") == user_id:
            for pair in item.get("ProfileItem") or []:
                if isinstance(pair, dict) and pair.get("Tag") == tag:
                    return pair.get("Value")
            return None
    return _NOT_KEPT


def _same(left: Any, right: Any) -> bool:
    # "Not set" and an empty string are one state (services.push); a uint32 may come as digits (§2).
    if left in (None, "") and right in (None, ""):
        return True
    if isinstance(left, str) and isinstance(right, int) and not isinstance(right, bool):
        return catalogue.coerce_uint32_from_wire(left) == right
    if isinstance(right, str) and isinstance(left, int) and not isinstance(left, bool):
        return catalogue.coerce_uint32_from_wire(right) == left
    return left == right


def _local_time(at: datetime | None) -> str:
    """A time in the reader's time zone: the time alone today, with the date otherwise."""
    if at is None:
        return gettext("an unknown time")
    local = timezone.localtime(at)
    if local.date() == timezone.localdate():
        return date_format(local, "H:i")
    return date_format(local, "Y-m-d H:i")
