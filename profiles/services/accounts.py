"""Opening any UserID: check the account (docs/tencent-im.md §5 account_check), import it if asked, then pull."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext, gettext_noop

from ..errortext import error_text, read_failure_text, recorded_text, transport_reason
from ..im import tags as catalogue
from ..im.client import ACCOUNT_CHECK, ACCOUNT_IMPORT, ImError, TransportError
from ..models import Profile
from .gateway import im_call
from .pull import profile_pull

# Why opening a user sends its requests, as their audit rows record it (English, translated when shown).
OPEN_USER_PURPOSE = gettext_noop("open user")
IMPORT_PURPOSE = gettext_noop("import before opening")
PURPOSES = (OPEN_USER_PURPOSE, IMPORT_PURPOSE)


@dataclass
class OpenOutcome:
    user_id: str
    profile: Profile | None = None
    exists: bool = False
    # Tencent answered account_check with "NotImported": the account could be imported.
    missing: bool = False
    imported: bool = False
    message: str = ""
    error_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.profile is not None


def account_exists(*, user_id: str, actor: AbstractBaseUser | None, source: str) -> bool:
    """One audited account_check. Raises ImError / TransportError."""
    _audit, response = im_call(
        command=ACCOUNT_CHECK, body={"CheckItem": [{"UserID": user_id}]}, actor=actor, source=source,
        user_id=user_id, purpose=OPEN_USER_PURPOSE,
    )
    for item in response.body.get("ResultItem") or []:
        if isinstance(item, dict) and item.get("UserID") == user_id:
            return item.get("AccountStatus") == "Imported"
    return False


def profile_open(
    *, user_id: str, actor: AbstractBaseUser | None, source: str, import_missing: bool = False
) -> OpenOutcome:
    """Make sure Tencent knows ``user_id`` (importing it only when asked), then pull it into a fresh
    local copy. Callers check the import permission; this never imports unless told to."""
    try:
        catalogue.validate_user_id(user_id)
    except ValueError as exc:
        return OpenOutcome(user_id, message=gettext("Invalid UserID %(user_id)r: %(why)s") % {
            "user_id": user_id, "why": recorded_text(str(exc)),
        })
    try:
        exists = account_exists(user_id=user_id, actor=actor, source=source)
        imported = False
        if not exists:
            if not import_missing:
                return OpenOutcome(
                    user_id, missing=True,
                    message=gettext(
                        "Tencent IM has no account %(user_id)r. Check the UserID, or import the account if it "
                        "should exist."
                    ) % {"user_id": user_id},
                )
            im_call(
                command=ACCOUNT_IMPORT, body={"UserID": user_id}, actor=actor, source=source, user_id=user_id,
                purpose=IMPORT_PURPOSE,
            )
            imported = True
    except ImError as exc:
        return OpenOutcome(
            user_id, message=gettext("Tencent refused: %(why)s") % {"why": error_text(exc.error_code)},
            error_code=exc.error_code,
        )
    except TransportError as exc:
        return OpenOutcome(
            user_id, message=gettext("No answer from Tencent (%(reason)s); try again.") % {
                "reason": transport_reason(exc.reason),
            }
        )
    pull = profile_pull(user_ids=[user_id], actor=actor, source=source, purpose=OPEN_USER_PURPOSE)
    if not pull.ok:
        failure = pull.failures[user_id]
        return OpenOutcome(
            user_id, exists=True, imported=imported, error_code=failure.error_code,
            message=gettext("The account exists but its profile could not be read: %(why)s") % {
                "why": read_failure_text(failure),
            },
        )
    if imported:
        message = gettext("Imported and opened %(user_id)s with its current profile from Tencent.")
    else:
        message = gettext("Opened %(user_id)s with its current profile from Tencent.")
    return OpenOutcome(
        user_id, profile=Profile.objects.get(user_id=user_id), exists=True, imported=imported,
        message=message % {"user_id": user_id},
    )
