"""Read-side queries shared by more than one caller (CONVENTIONS: selectors read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Q, QuerySet

from .models import ExternalChange, ImRequest


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    request: ImRequest | None = None
    external: ExternalChange | None = None


def profile_history(
    *, user_id: str, requests: QuerySet[ImRequest] | None = None, external: bool = True, limit: int = 200,
) -> list[HistoryEntry]:
    """Every request the app sent about ``user_id`` (including batch reads that named it) and every
    change reported from outside, newest first. ``requests`` narrows the audit rows (to what the
    viewer may see); ``external=False`` leaves out the external changes."""
    rows = ImRequest.objects.all() if requests is None else requests
    direct = rows.filter(user_id=user_id).order_by("-created_at")[:limit]
    batched = rows.filter(Q(subjects__user_id=user_id)).order_by("-created_at")[:limit]
    entries = {("r", r.pk): HistoryEntry(at=r.created_at, request=r) for r in [*direct, *batched]}
    if external:
        changes = ExternalChange.objects.filter(user_id=user_id).order_by("-received_at")[:limit]
        entries.update({("e", e.pk): HistoryEntry(at=e.received_at, external=e) for e in changes})
    return sorted(entries.values(), key=lambda entry: entry.at, reverse=True)[:limit]


def audit_rows_visible_to(user: AbstractBaseUser, rows: QuerySet[ImRequest] | None = None) -> QuerySet[ImRequest]:
    """The audit rows ``user`` may read: all of them with ``view_all_imrequest`` (audit reviewers),
    otherwise only the requests they made themselves (profile editors); none without view rights."""
    rows = ImRequest.objects.all() if rows is None else rows
    if not user.has_perm("profiles.view_imrequest"):
        return rows.none()
    if user.has_perm("profiles.view_all_imrequest"):
        return rows
    return rows.filter(actor_id=user.pk)
