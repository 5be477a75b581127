"""What the admin modules share: the read-only ModelAdmin and small HTML helpers for audit data."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from .. import selectors
from ..models import Profile
from ..selectors import audit_rows_visible_to, sees_whole_trail


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


def pretty_json(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


TIMELINE_LIMIT = 200


def timeline_response(
    site: admin.AdminSite, request: HttpRequest, *, user_id: str, profile: Profile | None = None
) -> TemplateResponse:
    """Every request and external change for ``user_id`` that the viewer may see, newest first:
    reached from the profile page and from an audit row."""
    user = request.user
    entries = selectors.profile_history(
        user_id=user_id, requests=audit_rows_visible_to(user),
        external=user.has_perm("profiles.view_externalchange"), limit=TIMELINE_LIMIT,
    )
    context = {
        **site.each_context(request), "opts": Profile._meta, "original": profile, "user_id": user_id,
        "title": f"Timeline of {user_id}", "entries": entries, "limit": TIMELINE_LIMIT,
        "can_view_audit": user.has_perm("profiles.view_imrequest"),
        "only_own": not sees_whole_trail(user),
    }
    return TemplateResponse(request, "admin/profiles/timeline.html", context)

