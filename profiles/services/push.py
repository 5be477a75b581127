"""``profile_push``: the only path to ``v4/profile/portrait_set`` (spec §4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from ..im import tags as catalogue
from ..im.client import PORTRAIT_SET, ImClient, ImError, TransportError
from ..models import ImRequest, Profile
from .gateway import im_call
from .validation import validate_tag_values


@dataclass
class PushOutcome:
    """What happened to one push, in words a caller can show."""

    ok: bool
    user_id: str
    pushed: list[str] = field(default_factory=list)
    audit: ImRequest | None = None
    error_code: int | None = None
    message: str = ""
    # The tag an error concerns, when it can be told (for placing the error on a form field).
    tag: str | None = None
    retryable: bool = False

    @property
    def sent(self) -> bool:
        return self.audit is not None


def _error_tag(exc: ImError, pushed: dict[str, Any]) -> str | None:
    """Which pushed tag a tag-related ErrorCode concerns, when that can be told."""
    if not exc.info.concerns_tag:
        return None
    text = f"{exc.response.error_info} {exc.response.error_display}"
    named = [tag for tag in pushed if tag in text]
    if len(named) == 1:
        return named[0]
    if len(pushed) == 1:
        return next(iter(pushed))
    # spec §2: each standard tag breaks with one code; if only one pushed tag can give it, it is that.
    candidates = [
        tag for tag in pushed
        if (std := catalogue.STANDARD_BY_WIRE.get(tag)) is not None and std.error_code == exc.error_code
    ]
    if exc.error_code in (40008, 40009):
        candidates = [tag for tag in pushed if catalogue.is_custom_tag_name(tag)]
    return candidates[0] if len(candidates) == 1 else None


def profile_push(
    *,
    profile: Profile,
    values: Mapping[str, Any],
    actor: AbstractBaseUser | None,
    source: str,
    client: ImClient | None = None,
) -> PushOutcome:
    """Push the tags in ``values`` that differ from the local copy to Tencent (spec §4).

    Validates everything first (raises TagValidationError, nothing sent), sends only changed
    tags, audits the request, and updates the local copy only when Tencent accepts.
    """
    cleaned = validate_tag_values(values)
    changed = {
        tag: value for tag, value in cleaned.items()
        if not _same(profile.tag_value(tag), value)
    }
    if not changed:
        return PushOutcome(ok=True, user_id=profile.user_id, message="Nothing changed; nothing was sent to Tencent.")

    body = {
        "From_Account": profile.user_id,
        "ProfileItem": [{"Tag": tag, "Value": value} for tag, value in changed.items()],
    }
    changes = [{"tag": tag, "before": profile.tag_value(tag), "after": value} for tag, value in changed.items()]
    try:
        audit, _response = im_call(
            command=PORTRAIT_SET, body=body, actor=actor, source=source, user_id=profile.user_id,
            changes=changes, client=client,
        )
    except ImError as exc:
        # spec §4: any ErrorCode != 0 means nothing was applied; the local copy stays as it was.
        return PushOutcome(
            ok=False, user_id=profile.user_id, audit=exc.audit, error_code=exc.error_code,
            message=f"Tencent refused the change — {exc.info.describe()}"
            + (f" (Tencent said: {exc.response.error_info})" if exc.response.error_info else ""),
            tag=_error_tag(exc, changed), retryable=exc.retryable,
        )
    except TransportError as exc:
        return PushOutcome(
            ok=False, user_id=profile.user_id, audit=exc.audit,
            message=f"No answer from Tencent ({exc.reason}); the change may or may not have been "
            "applied. Saving again is safe: the same edit sent twice gives the same result.",
            retryable=True,
        )

    fields = profile.apply_tag_values(changed)
    profile.last_pushed_at = timezone.now()
    if profile.pk:
        profile.save(update_fields=[*fields, "last_pushed_at", "updated_at"])
    else:
        profile.save()
    return PushOutcome(
        ok=True, user_id=profile.user_id, pushed=list(changed), audit=audit, error_code=0,
        message=f"Tencent accepted the change to {profile.user_id}: {', '.join(changed)}.",
    )


def _same(before: Any, after: Any) -> bool:
    # An unknown string (None) and an empty string both mean "nothing there": no request for it.
    if before is None and after == "":
        return True
    return before == after


def push_outcome_summary(outcome: PushOutcome) -> str:
    """One line for a terminal or a log."""
    if outcome.ok:
        return outcome.message
    code = f" [ErrorCode {outcome.error_code}]" if outcome.error_code is not None else ""
    return f"{outcome.user_id}: {outcome.message}{code}"
