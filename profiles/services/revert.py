"""Reverting an audited change: which rows can be reverted, and to what values."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext

from ..im.client import PORTRAIT_SET
from ..labels import command_label
from ..models import ImRequest, Profile
from ..selectors import audit_rows_visible_to


def revert_refusal(
    *, row: ImRequest | None, actor: AbstractBaseUser, profile: Profile | None = None
) -> str | None:
    """Why ``actor`` cannot revert ``row`` (on ``profile``'s form, when given), in words; None when they can."""
    if row is None or not audit_rows_visible_to(actor).filter(pk=row.pk).exists():
        return gettext("That audit row does not exist or is not yours to see.")
    if not actor.has_perm("profiles.change_profile"):
        return gettext("Reverting is a profile edit, and you may not edit profiles.")
    if row.command != PORTRAIT_SET:
        return gettext("Only a profile change can be reverted; request #%(pk)s is a %(what)s.") % {
            "pk": row.pk, "what": command_label(row.command).lower(),
        }
    if row.error_code != 0:
        return gettext("Tencent did not apply request #%(pk)s, so there is nothing to revert.") % {"pk": row.pk}
    if not row.changes:
        return gettext("Request #%(pk)s records no tag changes.") % {"pk": row.pk}
    if profile is not None and row.user_id != profile.user_id:
        return gettext("Request #%(pk)s changed %(user_id)s, not %(this)s.") % {
            "pk": row.pk, "user_id": row.user_id, "this": profile.user_id,
        }
    return None


def revert_values(row: ImRequest) -> dict[str, Any]:
    """The values the row's tags had before it: what a revert sets them back to."""
    return {change["tag"]: change.get("before") for change in row.changes or []}
