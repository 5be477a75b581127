"""Moments as auditors read them: to the second, in the active time zone, with the zone named.

"2026-11-30 10:42:07 UTC+08:00" says exactly when, whatever the reader's own clock says; Django's
default date format drops the seconds and the zone. Used by the audit list, an audit row's page and
the timelines (``{% load auditlist %}{{ value|exact_time }}``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext


def _parts(value: datetime) -> tuple[str, str]:
    """The date and the clock time with its zone, in the active time zone (TIME_ZONE by default)."""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    offset = local.utcoffset() or timedelta(0)
    clock = f"{local:%H:%M:%S}"
    if not offset:
        return f"{local:%Y-%m-%d}", gettext("%(time)s UTC") % {"time": clock}
    minutes = int(abs(offset).total_seconds()) // 60
    sign = "+" if offset > timedelta(0) else "-"
    return f"{local:%Y-%m-%d}", gettext("%(time)s UTC%(offset)s") % {
        "time": clock, "offset": f"{sign}{minutes // 60:02d}:{minutes % 60:02d}",
    }


def exact_time(value: datetime | None) -> str:
    """"2026-11-30 10:42:07 UTC+08:00" ("—" for no moment)."""
    if value is None:
        return "—"
    return " ".join(_parts(value))


def exact_time_html(value: datetime | None) -> SafeString | str:
    """The same in a ``<time>`` element: machine-readable, the zone's name as its title, and the
    date and the clock each kept on one line so a narrow column breaks between them."""
    if value is None:
        return "—"
    date, clock = _parts(value)
    return format_html(
        '<time class="exact-time" datetime="{}" title="{}"><span>{}</span> <span>{}</span></time>',
        value.isoformat(), timezone.get_current_timezone_name(), date, clock,
    )
