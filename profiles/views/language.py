"""The language switch in the admin header (POST only)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from ..services import preferences


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    code = request.POST.get("language", "")
    try:
        preferences.language_set(request=request, user=request.user, code=code)
    except ValueError:
        return HttpResponseBadRequest(gettext("That language is not offered."), content_type="text/plain")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = "/admin/"
    response = HttpResponseRedirect(target)
    # Before login (and for the login page) the cookie carries the choice; LocaleMiddleware reads it.
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, code, max_age=365 * 24 * 3600, samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE, httponly=True,
    )
    return response
