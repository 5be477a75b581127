"""``{% worker_banner %}``: the admin's warning to staff that work waits and no background worker runs."""

from __future__ import annotations

from typing import Any

from django import template

from ..selectors.health import worker_banner as banner_for_now

register = template.Library()


@register.inclusion_tag("admin/improfile/worker_banner.html", takes_context=True)
def worker_banner(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {"banner": None}  # the login page, or a visitor who is not staff: nothing to tell
    return {"banner": banner_for_now()}
