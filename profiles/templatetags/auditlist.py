"""Template filters for the audit pages: ``exact_time``, a moment to the second with its time zone
(profiles.timefmt)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.safestring import SafeString

from .. import timefmt

register = template.Library()


@register.filter
def exact_time(value: datetime | None) -> SafeString | str:
    return timefmt.exact_time_html(value)
