"""What the admin modules share: the read-only ModelAdmin and small HTML helpers for audit data."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext

from .. import labels


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits through the admin, superusers included: the audit trail, external
    changes, jobs. Viewing needs the model's view permission."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False



def short_tag_names(names: list[str]) -> str:
    """Tag names without the common "Tag_Profile_" prefix, so a list column fits; detail pages
    show the full names."""
    return ", ".join(name.removeprefix("Tag_Profile_") for name in names)


def changes_table(changes: list[dict[str, Any]] | None) -> str:
    """A before → after table of tag changes, for audit rows and external changes alike."""
    if not changes:
        return "—"
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((c["tag"], json.dumps(c.get("before"), ensure_ascii=False),
          json.dumps(c.get("after"), ensure_ascii=False)) for c in changes),
    )
    return format_html(
        "<table><thead><tr><th>Tag</th><th>Before</th><th>After</th></tr></thead><tbody>{}</tbody></table>", rows
    )


def plain_tag_names(names: list[str]) -> str:
    """Tags by their labels ("Nickname, Gender"), for list columns; the detail page has the wire names."""
    return labels.describe_tags(names)


def plain_changes_table(changes: list[dict[str, Any]] | None) -> str:
    """A before → after table of tag changes in plain words, each tag's wire name (and an enum's wire
    value) kept as small print for whoever needs to match it with Tencent's documents."""
    if not changes:
        return "—"
    texts = labels.describe_changes(changes)

    def cell(text: str, raw: Any) -> str:
        if isinstance(raw, str) and raw and text != raw:
            return format_html('{} <span class="wire">{}</span>', text, raw)
        return format_html("{}", text)

    rows = format_html_join(
        "", '<tr><td>{} <span class="wire">{}</span></td><td>{}</td><td>{}</td></tr>',
        ((text.label, text.wire, cell(text.before, change.get("before")), cell(text.after, change.get("after")))
         for text, change in zip(texts, changes, strict=True)),
    )
    return format_html(
        '<table class="plain-changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        gettext("Tag"), gettext("Before"), gettext("After"), rows,
    )


def pretty_json(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))
