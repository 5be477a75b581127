"""The audit trail's own pages: the auditors' dashboard and the exports of the audit list."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from .. import audit_export, charts, selectors
from ..forms import DashboardRangeForm
from ..selectors.dashboard import OUTCOMES, SYSTEM_ACTOR
from ..services import exports
from .common import page_context

if TYPE_CHECKING:
    from ..admin.audit import ImRequestAdmin

# The "Audit reviewers" group has it (migration 0007); profile editors do not.
DASHBOARD_PERMISSION = "profiles.view_audit_dashboard"


def dashboard(model_admin: ImRequestAdmin, request: HttpRequest) -> HttpResponse:
    """Requests per UTC day by outcome, the failure rate, the top ErrorCodes and the top actors
    over a range of days, with charts drawn on the server."""
    if not request.user.has_perm(DASHBOARD_PERMISSION):
        raise PermissionDenied
    form = DashboardRangeForm(request.GET or None, today=timezone.now().astimezone(UTC).date())
    start, end = form.date_range()
    board = selectors.audit_dashboard_for(request.user, start=start, end=end)
    context = page_context(
        model_admin, request, gettext("Audit dashboard"),
        # The page runs no JavaScript at all; the navigation sidebar needs it.
        is_nav_sidebar_enabled=False,
        form=form,
        dashboard=board,
        outcomes=OUTCOMES,
        system_actor=SYSTEM_ACTOR,
        daily_chart=charts.daily_outcomes_chart(board.days),
        actors_chart=charts.top_actors_chart(board.top_actors),
        changelist_url=reverse("admin:profiles_imrequest_changelist"),
    )
    return TemplateResponse(request, "admin/profiles/imrequest/dashboard.html", context)


def export_csv(model_admin: ImRequestAdmin, request: HttpRequest) -> HttpResponse:
    return _export(model_admin, request, audit_export.CSV)


def export_jsonl(model_admin: ImRequestAdmin, request: HttpRequest) -> HttpResponse:
    return _export(model_admin, request, audit_export.JSONL)


def _export(
    model_admin: ImRequestAdmin, request: HttpRequest, export_format: audit_export.ExportFormat
) -> HttpResponse:
    """The rows of the audit list with the filters and search of this query string, streamed.

    The queryset is the change list's own, so every filter, the search and the editors'
    own-rows restriction apply exactly as on the page; its paginator counts only a few pages.
    """
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    if not model_admin.has_export_permission(request):
        raise PermissionDenied
    try:
        rows = model_admin.get_changelist_instance(request).queryset
    except IncorrectLookupParameters:
        model_admin.message_user(
            request, gettext("Those filters are not valid; nothing was exported."), messages.ERROR
        )
        return HttpResponseRedirect(reverse("admin:profiles_imrequest_changelist"))
    export = exports.audit_export_start(
        actor=request.user, export_format=export_format.name, query_string=request.GET.urlencode()
    )
    response = StreamingHttpResponse(
        exports.audit_export_stream(export=export, rows=rows), content_type=export_format.content_type
    )
    response["Content-Disposition"] = f'attachment; filename="{export_format.file_name(export.created_at)}"'
    return response
