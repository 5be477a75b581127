"""Reverting an audited change: which rows can be reverted, and to what values."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from ..im.client import PORTRAIT_SET
from ..models import ImRequest, Profile
from ..selectors import audit_rows_visible_to


def revert_refusal(
    *, row: ImRequest | None, actor: AbstractBaseUser, profile: Profile | None = None
) -> str | None:
    """Why ``actor`` cannot revert ``row`` (on ``profile``'s form, when given), in words; None when they can."""
    if row is None or not audit_rows_visible_to(actor).filter(pk=row.pk).exists():
        return "That audit row does not exist or is not yours to see."
    if not actor.has_perm("profiles.change_profile"):
        return "Reverting is a profile edit, and you may not edit profiles."
    if row.command != PORTRAIT_SET:
        return f"Only a profile change (portrait_set) can be reverted; request #{row.pk} is {row.command}."
    if row.error_code != 0:
        return f"Tencent did not apply request #{row.pk}, so there is nothing to revert."
    if not row.changes:
        return f"Request #{row.pk} records no tag changes."
    if profile is not None and row.user_id != profile.user_id:
        return f"Request #{row.pk} changed {row.user_id}, not {profile.user_id}."
    return None


def revert_values(row: ImRequest) -> dict[str, Any]:
    """The values the row's tags had before it: what a revert sets them back to."""
    return {change["tag"]: change.get("before") for change in row.changes or []}
