"""A user's timeline: every request and external change about one UserID that the viewer may see,
reached from the profile page and from an audit row."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext

from .. import selectors
from ..errortext import recorded_text
from ..im import tags as catalogue
from ..models import Profile


def profile_timeline(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    """The timeline of a local copy (ProfileAdmin: "Tencent history")."""
    profile = get_object_or_404(Profile, pk=pk)
    if not model_admin.has_view_or_change_permission(request, profile):
        raise PermissionDenied
    return _render(model_admin, request, selectors.user_timeline(
        viewer=request.user, user_id=profile.user_id, profile=profile,
    ))


def user_timeline(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The timeline of ``?user_id=`` (ImRequestAdmin), with or without a local copy."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    user_id = request.GET.get("user_id", "").strip()
    if not user_id:
        model_admin.message_user(request, gettext("Name a UserID to see its timeline."), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:profiles_imrequest_changelist"))
    try:
        catalogue.validate_user_id(user_id)  # docs/tencent-im.md §5
    except ValueError as exc:
        model_admin.message_user(request, gettext("No timeline for %(user_id)s: %(why)s") % {
            "user_id": repr(user_id[:40]), "why": recorded_text(str(exc)),
        }, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:profiles_imrequest_changelist"))
    return _render(model_admin, request, selectors.user_timeline(viewer=request.user, user_id=user_id))


def _render(model_admin: admin.ModelAdmin, request: HttpRequest, timeline: selectors.Timeline) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request), "opts": Profile._meta, "original": timeline.profile,
        "user_id": timeline.user_id, "title": gettext("Timeline of %(user_id)s") % {"user_id": timeline.user_id},
        "entries": timeline.entries,
        "limit": timeline.limit, "can_view_audit": request.user.has_perm("profiles.view_imrequest"),
        "only_own": timeline.only_own,
    }
    return TemplateResponse(request, "admin/profiles/timeline.html", context)
