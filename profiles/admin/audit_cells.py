"""What the audit list and an audit row's page show in each cell, in plain words: labels for
commands and tags (profiles.labels), ActionStatus and ErrorCode with the meaning, times to the second
with their zone. Long text is cut by the stylesheet (auditlist.css), never here; the whole of it is
in the cell's title."""

from __future__ import annotations

from collections.abc import Mapping

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from ..errortext import recorded_text, transport_reason
from ..labels import command_label, describe_tags
from ..models import ImRequest


def who(row: ImRequest) -> SafeString:
    """The actor, and below it where the request came from (a job with its link)."""
    name = row.actor_username or gettext("system")
    if row.job_id is not None:
        source = format_html('{} <a href="{}">#{}</a>', row.get_source_display(),
                             reverse("admin:profiles_bulkjob_change", args=[row.job_id]), row.job_id)
    else:
        source = row.get_source_display()
    return format_html('<span class="audit-line" title="{}">{}</span><span class="audit-sub">{}</span>',
                       name, name, source)


def user_id(row: ImRequest) -> SafeString:
    if not row.user_id:
        return format_html('<span class="audit-line quiet">{}</span>', gettext("several users"))
    return format_html('<span class="audit-line" title="{}">{}</span>', row.user_id, row.user_id)


def what(row: ImRequest, custom_labels: Mapping[str, str]) -> SafeString:
    """"Profile change: Nickname, Gender", why it was sent below; the wire names in the title."""
    label = command_label(row.command)
    tags = describe_tags(row.tag_names, custom_labels)
    text = gettext("%(request)s: %(tags)s") % {"request": label, "tags": tags} if tags else label
    wire = " ".join([row.command, *row.tag_names])
    return format_html(
        '<span class="audit-line" title="{}">{}</span>{}', f"{text}\n{wire}", text, _sub(recorded_text(row.purpose))
    )


def _sub(text: str) -> SafeString | str:
    """The small print under a cell's main line, whole in its title; nothing when there is none."""
    return format_html('<span class="audit-sub" title="{}">{}</span>', text, text) if text else ""


def outcome(row: ImRequest) -> SafeString:
    """ActionStatus and ErrorCode on one line ("FAIL 40005"), the meaning shortened below it."""
    if row.error_code is not None:
        status = row.action_status or "—"
        kind = "ok" if row.state == ImRequest.State.OK else "refused"
        return format_html(
            '<span class="audit-line audit-outcome-{}" title="{}">{} {}</span>{}',
            kind, gettext("ActionStatus %(status)s, ErrorCode %(code)s") % {"status": status, "code": row.error_code},
            status, row.error_code, _sub("" if row.error_code == 0 else row.error_meaning),
        )
    if row.state == ImRequest.State.PENDING:
        kind, headline, detail = "pending", gettext("Pending"), gettext("sent, no answer recorded yet")
    else:
        kind, headline = "no-answer", gettext("No answer")
        detail = transport_reason(row.transport_error) if row.transport_error else row.get_state_display()
    return format_html('<span class="audit-line audit-outcome-{}">{}</span>{}', kind, headline, _sub(detail))


def latency(row: ImRequest) -> str:
    return "—" if row.latency_ms is None else gettext("%(ms)s ms") % {"ms": f"{row.latency_ms:.0f}"}


def command(row: ImRequest) -> SafeString:
    """An audit row's page: the command in plain words, the wire command as small print."""
    return format_html('{} <span class="wire">{}</span>', command_label(row.command), row.command)
