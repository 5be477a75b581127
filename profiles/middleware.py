"""The language a staff member chose wins over the browser's (LocaleMiddleware has already applied the
browser's Accept-Language or the language cookie)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from .services.preferences import SESSION_KEY, offered_language


class StaffLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = offered_language(request.session.get(SESSION_KEY, "")) if hasattr(request, "session") else None
        if chosen and request.user.is_authenticated:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        response = self.get_response(request)
        if chosen:
            response.headers.setdefault("Content-Language", chosen)
        return response
