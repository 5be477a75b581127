"""Session rules for signed-in staff: a session unused for ``SESSION_IDLE_MINUTES`` is signed out, and so
is one that ``REQUIRE_TWO_FACTOR`` covers but that no authentication code verified (signed in before the
setting was turned on, or before the user became a superuser or a reviewer)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from ..services import twofactor

LAST_ACTIVITY_KEY = "improfile_last_activity"


class SessionPolicyMiddleware:
    """Runs after the authentication and OTP middlewares, so ``request.user.is_verified`` exists."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._apply(request)
        return self.get_response(request)

    def _apply(self, request: HttpRequest) -> None:
        idle_seconds = settings.SESSION_IDLE_MINUTES * 60
        now = int(time.time())
        last = request.session.get(LAST_ACTIVITY_KEY)
        if isinstance(last, int) and now - last > idle_seconds:
            logout(request)
            minutes = settings.SESSION_IDLE_MINUTES
            messages.info(
                request, f"You were signed out after {minutes} minute{'s' if minutes != 1 else ''} without activity."
            )
            return
        if twofactor.two_factor_required(request.user) and not request.user.is_verified():
            logout(request)
            messages.info(request, "This account now needs an authentication code: sign in again with it.")
            return
        # Written at most once a minute (or a quarter of the idle time, if shorter): saving the session
        # also moves its expiry (SESSION_COOKIE_AGE), so an active session never lapses, without a
        # session write on every request.
        if not isinstance(last, int) or now - last >= min(60, idle_seconds // 4):
            request.session[LAST_ACTIVITY_KEY] = now
