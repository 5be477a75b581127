"""The page django-axes answers with while a username or an address is locked out (``AXES_LOCKOUT_CALLABLE``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_message() -> str:
    minutes = settings.LOGIN_COOLOFF_MINUTES
    return (
        "Too many failed logins for this account or address; try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''} or ask an administrator to unlock it."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The admin's sign-in page with the lockout message instead of the form (a form would only invite
    attempts that restart the wait), answered with HTTP 429."""
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in refused",
        "lockout_message": lockout_message(),
    }
    return render(request, "admin/login_locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
