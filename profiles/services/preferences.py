"""A staff member's language: chosen in the admin header, remembered on their account and in their session."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from ..models import StaffPreference

# The session remembers the account's choice, so the middleware needs no query per request.
SESSION_KEY = "improfile_language"


def offered_language(code: str) -> str | None:
    """``code`` if the app offers it (settings.LANGUAGES), else None."""
    return code if code in dict(settings.LANGUAGES) else None


def language_set(*, request: HttpRequest, user: AbstractBaseUser | AnonymousUser, code: str) -> None:
    """Remember ``code`` for this account (every later login, on any device) and this session.
    Raises ValueError naming the code when the app does not offer it."""
    if offered_language(code) is None:
        offered = ", ".join(dict(settings.LANGUAGES))
        raise ValueError(f"{code!r} is not a language this app offers ({offered}).")
    if user.is_authenticated:
        StaffPreference.objects.update_or_create(user=user, defaults={"language": code})
    request.session[SESSION_KEY] = code


def language_of(user: AbstractBaseUser) -> str | None:
    """The language this account chose, if it chose one the app still offers."""
    chosen = StaffPreference.objects.filter(user=user).values_list("language", flat=True).first()
    return offered_language(chosen) if chosen else None


def remember_on_login(sender: object, request: HttpRequest, user: AbstractBaseUser, **kwargs: object) -> None:
    """user_logged_in receiver: the account's choice goes into the new session."""
    chosen = language_of(user)
    if chosen is not None and request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = chosen
