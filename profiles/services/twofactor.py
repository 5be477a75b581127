"""Two-factor codes (TOTP, django-otp): who must give one, enrolling an authenticator, checking a code.

Which staff need a code is one setting, ``REQUIRE_TWO_FACTOR``. The secret lives only in django-otp's
device row (the library must store it) and in the one ``otpauth://`` URI handed to the enrolling
operator; nothing here logs either.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django_otp.models import VerifyNotAllowed
from django_otp.plugins.otp_totp.models import TOTPDevice

from .setup import AUDITORS_GROUP, EDITORS_GROUP

_GROUP_OF_KIND = {"reviewers": AUDITORS_GROUP, "editors": EDITORS_GROUP}
DEVICE_NAME = "authenticator"


class EnrolmentRefused(Exception):
    """The user already has an authenticator and replacing it was not asked for."""


@dataclasses.dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking a code: the device that accepted it, or why it was refused."""

    device: TOTPDevice | None
    refusal: str = ""
    #: False when the refusal is not a guess at a code (no authenticator enrolled): not a failed login.
    counts_as_failure: bool = True


def two_factor_required(user: AbstractBaseUser) -> bool:
    """Whether ``user`` must give an authentication code to sign in (``REQUIRE_TWO_FACTOR``)."""
    kinds = set(settings.REQUIRE_TWO_FACTOR)
    if not kinds or not user.is_authenticated:
        return False
    if "all" in kinds or ("superusers" in kinds and user.is_superuser):
        return True
    groups = [_GROUP_OF_KIND[kind] for kind in kinds if kind in _GROUP_OF_KIND]
    return bool(groups) and user.groups.filter(name__in=groups).exists()


def totp_enrol(*, user: AbstractBaseUser, replace: bool = False) -> str:
    """Give ``user`` a new confirmed authenticator and return its ``otpauth://`` URI (it holds the secret:
    show it once, to the user, and keep it nowhere). An existing one is replaced only when asked."""
    with transaction.atomic():
        existing = TOTPDevice.objects.select_for_update().filter(user=user)
        if existing.exists():
            if not replace:
                raise EnrolmentRefused(
                    f"{user.get_username()!r} already has an authenticator; --replace discards it and makes a new one."
                )
            existing.delete()
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    return device.config_url


def totp_check(*, user: AbstractBaseUser, code: str) -> CodeCheck:
    """Check ``code`` against ``user``'s authenticator. django-otp refuses a code already used and, after a
    wrong one, waits a growing time before checking again."""
    code = "".join(code.split())
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is None:
            return CodeCheck(
                device=None, counts_as_failure=False,
                refusal=(
                    "This account must give an authentication code, but no authenticator is enrolled for it; "
                    f"ask an administrator to run `manage.py totp_enrol {user.get_username()}`."
                ),
            )
        if not code:
            return CodeCheck(device=None, refusal="Enter the authentication code from your authenticator app.")
        allowed, extra = device.verify_is_allowed()
        if not allowed:
            if extra.get("reason") == VerifyNotAllowed.N_FAILED_ATTEMPTS:
                return CodeCheck(
                    device=None,
                    refusal="Too many wrong authentication codes in a row; wait a few seconds and enter a new one.",
                )
            return CodeCheck(device=None, refusal="Authentication codes cannot be checked for this account now.")
        if not device.verify_token(code):
            return CodeCheck(
                device=None, refusal="That authentication code is wrong or was already used; enter the current one."
            )
    return CodeCheck(device=device)
