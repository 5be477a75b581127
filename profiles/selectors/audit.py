"""Read-side queries about the audit trail: who sees which rows, a user's timeline, pages of rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connections
from django.db.models import Q, QuerySet

from .. import labels
from ..im import tags as catalogue
from ..im.client import ACCOUNT_IMPORT, MULTIACCOUNT_IMPORT, PORTRAIT_SET
from ..models import AuditDayCount, ExternalChange, ImRequest, Profile

# The requests that change a user in Tencent. On a user's timeline a profile editor also sees
# colleagues' requests of these kinds, read-only: helping the user needs to know who changed what.
CHANGING_COMMANDS = (PORTRAIT_SET, ACCOUNT_IMPORT, MULTIACCOUNT_IMPORT)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    request: ImRequest | None = None
    external: ExternalChange | None = None
    # The entry's tag changes in plain words ("Gender: Unknown → Female"), the wire name kept for small print.
    changes: tuple[labels.TagText, ...] = ()
    # What the request was, for people ("Profile change"); empty for an external change.
    what: str = ""
    # Whether the viewer may open the audit row (a colleague's change is shown, not opened).
    may_open: bool = True


def profile_history(
    *, user_id: str, requests: QuerySet[ImRequest] | None = None, external: bool = True, limit: int = 200,
) -> list[HistoryEntry]:
    """Every request the app sent about ``user_id`` (including batch reads that named it) and every
    change reported from outside, newest first. ``requests`` narrows the audit rows (to what the
    viewer may see); ``external=False`` leaves out the external changes."""
    rows = ImRequest.objects.all() if requests is None else requests
    direct = list(rows.filter(user_id=user_id).order_by("-created_at")[:limit])
    batched = list(rows.filter(Q(subjects__user_id=user_id)).order_by("-created_at")[:limit])
    changes = list(ExternalChange.objects.filter(user_id=user_id).order_by("-received_at")[:limit]) if external else []
    # One query for the custom tags' labels, whatever the number of entries.
    tags = {c.get("tag", "") for row in [*direct, *batched, *changes] for c in row.changes or []}
    custom = labels.custom_labels() if any(catalogue.is_custom_tag_name(tag) for tag in tags) else {}

    def plain(row: ImRequest | ExternalChange) -> tuple[labels.TagText, ...]:
        return tuple(labels.describe_changes(row.changes or [], custom=custom))

    entries = {
        ("r", r.pk): HistoryEntry(at=r.created_at, request=r, changes=plain(r), what=labels.command_label(r.command))
        for r in [*direct, *batched]
    }
    entries.update({("e", e.pk): HistoryEntry(at=e.received_at, external=e, changes=plain(e)) for e in changes})
    return sorted(entries.values(), key=lambda entry: entry.at, reverse=True)[:limit]


TIMELINE_LIMIT = 200


@dataclass(frozen=True)
class Timeline:
    """What a viewer may see of one user's history: the local copy (if any) and the entries."""

    user_id: str
    profile: Profile | None
    entries: list[HistoryEntry]
    # The viewer reads their own requests and colleagues' changes, not the whole trail.
    only_own: bool
    limit: int


def timeline_rows_visible_to(viewer: AbstractBaseUser) -> QuerySet[ImRequest]:
    """The audit rows ``viewer`` sees on a user's timeline: what the audit list shows them, and for a
    profile editor also every colleague's change (CHANGING_COMMANDS), which they may read but not open."""
    if sees_whole_trail(viewer) or not viewer.has_perm("profiles.view_imrequest"):
        return audit_rows_visible_to(viewer)
    return ImRequest.objects.filter(Q(actor_id=viewer.pk) | Q(command__in=CHANGING_COMMANDS))


def user_timeline(
    *, viewer: AbstractBaseUser, user_id: str, profile: Profile | None = None, limit: int = TIMELINE_LIMIT
) -> Timeline:
    """Every request and external change for ``user_id`` that ``viewer`` may see, newest first;
    ``profile`` is the local copy when the caller has it already (otherwise it is looked up)."""
    entries = profile_history(
        user_id=user_id, requests=timeline_rows_visible_to(viewer),
        external=viewer.has_perm("profiles.view_externalchange"), limit=limit,
    )
    whole_trail = sees_whole_trail(viewer)
    if not whole_trail:
        entries = [
            dataclasses.replace(entry, may_open=entry.request.actor_id == viewer.pk) if entry.request else entry
            for entry in entries
        ]
    if profile is None:
        profile = Profile.objects.filter(user_id=user_id).first()
    return Timeline(user_id=user_id, profile=profile, entries=entries, only_own=not whole_trail, limit=limit)


def error_codes_present(viewer: AbstractBaseUser) -> list[int]:
    """The refusal codes (ErrorCode ≠ 0) found in the rows ``viewer`` may see, from the per-day counts
    each seal keeps (AuditDayCount, a few rows a day) rather than the audit table itself."""
    counts = AuditDayCount.objects.filter(answered=True).exclude(error_code=0)
    if not viewer.has_perm("profiles.view_imrequest"):
        return []
    if not sees_whole_trail(viewer):
        counts = counts.filter(actor_username=viewer.get_username())
    return list(counts.order_by("error_code").values_list("error_code", flat=True).distinct())


def rows_for_user_id_prefix(rows: QuerySet[ImRequest], prefix: str) -> QuerySet[ImRequest]:
    """The rows whose UserID is ``prefix`` or begins with it, case-sensitively (UserIDs are,
    docs/tencent-im.md §1), answered by the (user_id, created_at) index on SQLite and PostgreSQL."""
    if not prefix:
        return rows
    if connections[rows.db].vendor == "sqlite":
        # SQLite's LIKE ignores case (and then cannot use the index); its BINARY ordering compares
        # code points, so "from the prefix up to the prefix with its last character one higher" is
        # exactly the UserIDs that begin with it, read as a range of the index.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return rows.filter(user_id__gte=prefix, user_id__lt=upper)
    # PostgreSQL's LIKE is case-sensitive, and the index's pattern operator class serves it whatever
    # the database's collation; a range there would follow the collation, which need not be code-point
    # order (ICU's en-US sorts "U_1x" between "u_1" and "u_2").
    return rows.filter(user_id__startswith=prefix)


def audit_rows_visible_to(user: AbstractBaseUser, rows: QuerySet[ImRequest] | None = None) -> QuerySet[ImRequest]:
    """The audit rows ``user`` may read: all of them with ``view_all_imrequest`` (audit reviewers),
    otherwise only the requests they made themselves (profile editors); none without view rights."""
    rows = ImRequest.objects.all() if rows is None else rows
    if not user.has_perm("profiles.view_imrequest"):
        return rows.none()
    if user.has_perm("profiles.view_all_imrequest"):
        return rows
    return rows.filter(actor_id=user.pk)


def sees_whole_trail(user: AbstractBaseUser) -> bool:
    """Whether ``user`` may read every staff member's audit rows (audit reviewers), not only their own."""
    return user.has_perm("profiles.view_imrequest") and user.has_perm("profiles.view_all_imrequest")


def audit_row_pages(
    rows: QuerySet[ImRequest], *, fields: Sequence[str], batch: int = 2000
) -> Iterator[list[dict[str, Any]]]:
    """``rows`` newest first, as the audit list orders them, as dicts of ``fields``, ``batch`` at a time.

    Keyset pages: each query starts below the last row of the page before (created_at, then id), so
    it reads only its own rows through the created_at indexes, however deep into the table; an
    OFFSET would re-read everything before it. Memory holds one page whatever the total, and no
    statement stays open between pages (a cursor held open for the whole of a long export would
    keep SQLite's WAL from being checkpointed meanwhile).
    """
    ordered = rows.order_by("-created_at", "-id")
    page_query = ordered
    while True:
        page = list(page_query.values(*fields)[:batch])
        if not page:
            return
        last_page = len(page) < batch
        last_created, last_id = page[-1]["created_at"], page[-1]["id"]
        yield page
        del page  # not held here while the next page is read
        if last_page:
            return
        # (created_at, id) < (last_created, last_id), written so the created_at indexes serve it.
        page_query = ordered.filter(created_at__lte=last_created).exclude(created_at=last_created, id__gte=last_id)
