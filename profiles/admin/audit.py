"""Admin for the read-only audit trail, its export records and archive anchors, and external changes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..errortext import error_advice as advice_for
from ..errortext import recorded_text, transport_reason
from ..im.tags import validate_user_id
from ..labels import custom_labels
from ..models import AuditAnchor, AuditExport, ExternalChange, ImRequest, Profile
from ..paginators import CappedCountPaginator
from ..selectors import audit_rows_visible_to, rows_for_user_id_prefix
from ..timefmt import exact_time_html
from ..views import audit, timeline
from ..views.common import admin_path, page_context
from . import audit_cells as cells
from .common import ReadOnlyAdmin, plain_changes_table, plain_tag_names, pretty_json
from .filters import ActionStatusFilter, ActorFilter, CommandFilter, ErrorCodeFilter, OutcomeFilter, UserIDFilter


@admin.register(ImRequest)
class ImRequestAdmin(ReadOnlyAdmin):
    """The audit trail: visible to whoever may view it, editable by nobody (superusers included)."""

    # Six columns that fit beside the filters at 1440 px (auditlist.css fixes their widths and cuts
    # long text with an ellipsis, the whole of it in a title); the row's page has everything.
    list_display = ["when", "who", "user_id_cell", "what", "outcome", "latency"]
    # Every filter's choices cost no query over the audit table, and there is no date_hierarchy: its
    # links are a SELECT DISTINCT over every row's date (seconds on a million rows); the date filter
    # below needs no query at all.
    list_filter = [
        UserIDFilter, OutcomeFilter, ErrorCodeFilter, ActionStatusFilter, "source", CommandFilter,
        ("actor", ActorFilter), ("created_at", admin.DateFieldListFilter),
    ]
    # The search is the exact UserID or its beginning, case-sensitive as UserIDs are (docs/tencent-im.md
    # §1), answered by the (user_id, created_at) index: get_search_results.
    search_fields = ["user_id"]
    search_help_text = _("Exact UserID or its beginning (case-sensitive).")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_select_related = ["actor"]
    list_per_page = 100
    fieldsets = [
        (_("Request"), {"fields": [
            "sent_at", "completed_at_display", "actor_display", "source_display", "purpose_display",
            "user_id_with_timeline", "command_display", "attempt", "reverts_link", "reverted_by_links",
        ]}),
        (_("Tencent's answer"), {"fields": [
            "state", "http_status", "action_status", "error_code_with_meaning", "error_advice", "error_info",
            "error_display", "transport_error_display", "note", "latency",
        ]}),
        (_("Tags"), {"fields": ["changes_table"]}),
        (_("Bodies (the UserSig travels in the URL and is never stored)"), {"fields": [
            "random", "request_json", "response_json",
        ]}),
        (_("Integrity (hash chain; python manage.py audit_verify checks it)"), {"fields": [
            "chain_seq", "chain_prev", "chain_hash",
        ]}),
    ]
    readonly_fields = [name for _title, options in fieldsets for name in options["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImRequest]:
        # Audit reviewers see the whole trail; profile editors only the requests they made.
        # Every audit page and export starts from this queryset.
        return audit_rows_visible_to(request.user, super().get_queryset(request))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ImRequest], search_term: str
    ) -> tuple[QuerySet[ImRequest], bool]:
        """The UserID typed, or every UserID that begins with it (selectors.rows_for_user_id_prefix)."""
        prefix = search_term.strip()
        if not prefix:
            return queryset, False
        try:
            validate_user_id(prefix)
        except ValueError as problem:
            self.message_user(request, gettext("Nothing matches that search: %(problem)s") % {"problem": problem},
                              messages.WARNING)
            return queryset.none(), False
        return rows_for_user_id_prefix(queryset, prefix), False

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # The custom tags' labels, read once for the page rather than once per row.
        custom = custom_labels()

        @admin.display(description=_("What"))
        def what(row: ImRequest) -> str:
            return cells.what(row, custom)

        return [what if name == "what" else name for name in super().get_list_display(request)]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        extra_context = {
            **(extra_context or {}), "can_view_dashboard": request.user.has_perm(audit.DASHBOARD_PERMISSION),
            "can_export": self.has_export_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("profiles.export_imrequest") and self.has_view_permission(request)

    def get_paginator(
        self, request: HttpRequest, queryset: QuerySet[ImRequest], per_page: int, orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> CappedCountPaginator:
        # Never a COUNT(*) over everything the filters match: only as far as the pages near this one.
        try:
            current_page = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            current_page = 1
        return CappedCountPaginator(
            queryset, per_page, orphans, allow_empty_first_page, current_page=current_page,
        )

    @admin.display(description=_("When"), ordering="created_at")
    def when(self, obj: ImRequest) -> str:
        return exact_time_html(obj.created_at)

    @admin.display(description=_("Who"))
    def who(self, obj: ImRequest) -> str:
        return cells.who(obj)

    @admin.display(description=_("UserID"), ordering="user_id")
    def user_id_cell(self, obj: ImRequest) -> str:
        return cells.user_id(obj)

    @admin.display(description=_("What"))
    def what(self, obj: ImRequest) -> str:  # replaced per page by get_list_display
        return cells.what(obj, custom_labels())

    @admin.display(description=_("Outcome"), ordering="error_code")
    def outcome(self, obj: ImRequest) -> str:
        return cells.outcome(obj)

    @admin.display(description=_("Sent at"))
    def sent_at(self, obj: ImRequest) -> str:
        return exact_time_html(obj.created_at)

    @admin.display(description=_("Completed at"))
    def completed_at_display(self, obj: ImRequest) -> str:
        return exact_time_html(obj.completed_at)

    @admin.display(description=_("Command"))
    def command_display(self, obj: ImRequest) -> str:
        return cells.command(obj)

    @admin.display(description=_("ErrorCode"), ordering="error_code")
    def error_code_with_meaning(self, obj: ImRequest) -> str:
        if obj.error_code is None:
            return transport_reason(obj.transport_error) if obj.transport_error else "—"
        if obj.error_code == 0:
            return "0"
        return f"{obj.error_code} — {obj.error_meaning}"

    @admin.display(description=_("Purpose"))
    def purpose_display(self, obj: ImRequest) -> str:
        """Why it was sent, in the reader's language; the words as recorded (English) as small print."""
        if not obj.purpose:
            return "—"
        shown = recorded_text(obj.purpose)
        if shown == obj.purpose:
            return shown
        return format_html('{} <span class="wire">{}</span>', shown, obj.purpose)

    @admin.display(description=_("Transport error"))
    def transport_error_display(self, obj: ImRequest) -> str:
        return transport_reason(obj.transport_error) if obj.transport_error else "—"

    def get_urls(self):
        custom = [
            # Before super().get_urls(): its "<path:object_id>/" would swallow these.
            admin_path("dashboard/", self, audit.dashboard, "profiles_imrequest_dashboard"),
            admin_path("export.csv", self, audit.export_csv, "profiles_imrequest_export_csv"),
            admin_path("export.jsonl", self, audit.export_jsonl, "profiles_imrequest_export_jsonl"),
            admin_path("timeline/", self, timeline.user_timeline, "profiles_imrequest_timeline"),
            path("<int:pk>/revert/", self.admin_site.admin_view(self.revert_view), name="profiles_imrequest_revert"),
        ]
        return custom + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return self.hidden_row_refusal(request, object_id) or super().change_view(
            request, object_id, form_url, extra_context
        )

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None):
        return self.hidden_row_refusal(request, object_id) or super().history_view(request, object_id, extra_context)

    def hidden_row_refusal(self, request: HttpRequest, object_id: Any) -> HttpResponse | None:
        """A 403 page for a row that exists but is not the viewer's to see (a profile editor opening a
        colleague's request), where Django would say it does not exist, "perhaps deleted"; None
        otherwise, so a missing row is still reported missing and a visible one opens."""
        if not self.has_view_permission(request):
            return None  # refused by Django, as on every page of the model
        try:
            pk = int(object_id)
        except (TypeError, ValueError):
            return None
        if self.get_queryset(request).filter(pk=pk).exists() or not ImRequest.objects.filter(pk=pk).exists():
            return None
        context = page_context(self, request, gettext("You do not have permission to view this request"))
        return TemplateResponse(request, "admin/profiles/imrequest/not_yours.html", context, status=403)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, obj=None, **kwargs: Any):
        # The row the page already read (through get_queryset, so one the user may see).
        context["can_revert"] = obj is not None and services.revert.revert_refusal(row=obj, actor=request.user) is None
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def revert_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """"Revert this change": open the profile form pre-filled with the row's before values."""
        if not (self.has_view_permission(request) and request.user.has_perm("profiles.change_profile")):
            raise PermissionDenied  # reverting is a profile edit
        row = self.get_queryset(request).filter(pk=pk).first()
        if row is None:
            refusal = self.hidden_row_refusal(request, pk)
            if refusal is not None:
                return refusal
            raise Http404(gettext("That audit row does not exist."))
        refusal = services.revert.revert_refusal(row=row, actor=request.user)
        if refusal is not None:
            self.message_user(request, refusal, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:profiles_imrequest_change", args=[pk]))
        profile = Profile.objects.filter(user_id=row.user_id).first()
        if profile is None:  # no local copy any more: read the user from Tencent first
            outcome = services.profile_open(user_id=row.user_id, actor=request.user, source=ImRequest.Source.ADMIN)
            if not outcome.ok:
                self.message_user(request, outcome.message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:profiles_imrequest_change", args=[pk]))
            profile = outcome.profile
        return HttpResponseRedirect(f"{reverse('admin:profiles_profile_change', args=[profile.pk])}?revert={row.pk}")

    @admin.display(description=_("Actor"))
    def actor_display(self, obj: ImRequest) -> str:
        if not obj.actor_username:
            return gettext("system (no staff member)")
        if obj.actor_id:
            return obj.actor_username
        return gettext("%(username)s (account since deleted)") % {"username": obj.actor_username}

    @admin.display(description=_("Source"))
    def source_display(self, obj: ImRequest) -> str:
        if obj.job_id is not None:
            return format_html(
                '{} <a href="{}">#{}</a>', obj.get_source_display(),
                reverse("admin:profiles_bulkjob_change", args=[obj.job_id]), obj.job_id,
            )
        return obj.get_source_display()

    @admin.display(description=_("UserID"))
    def user_id_with_timeline(self, obj: ImRequest) -> str:
        if not obj.user_id:
            return gettext("— (several users: see the request body)")
        url = f"{reverse('admin:profiles_imrequest_timeline')}?{urlencode({'user_id': obj.user_id})}"
        return format_html('{} (<a href="{}">{}</a>)', obj.user_id, url, gettext("timeline"))

    @admin.display(description=_("Reverts"))
    def reverts_link(self, obj: ImRequest) -> str:
        if obj.reverts_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:profiles_imrequest_change", args=[obj.reverts_id]),
            gettext("request #%(pk)s") % {"pk": obj.reverts_id},
        )

    @admin.display(description=_("Reverted by"))
    def reverted_by_links(self, obj: ImRequest) -> str:
        later = list(ImRequest.objects.filter(reverts_id=obj.pk).order_by("pk").values_list("pk", "error_code"))
        if not later:
            return "—"
        return format_html_join(", ", '<a href="{}">{}</a>{}', (
            (reverse("admin:profiles_imrequest_change", args=[pk]), gettext("request #%(pk)s") % {"pk": pk},
             "" if code == 0 else " " + gettext("(not applied)"))
            for pk, code in later
        ))

    @admin.display(description=_("What to do"))
    def error_advice(self, obj: ImRequest) -> str:
        if obj.error_code is not None:
            return advice_for(obj.error_code)
        if obj.state == ImRequest.State.PENDING:
            return gettext("Wait: the answer has not been recorded yet.")
        return gettext(
            "Tencent's answer never arrived, so the change may or may not be applied: read the profile, then send "
            "again if needed (sending the same edit twice gives the same result)."
        )

    @admin.display(description=_("Latency"), ordering="latency_ms")
    def latency(self, obj: ImRequest) -> str:
        return cells.latency(obj)

    @admin.display(description=_("Before → after"))
    def changes_table(self, obj: ImRequest) -> str:
        return plain_changes_table(obj.changes)

    @admin.display(description=_("Request body (as sent)"))
    def request_json(self, obj: ImRequest) -> str:
        return pretty_json(obj.request_body)

    @admin.display(description=_("Response body"))
    def response_json(self, obj: ImRequest) -> str:
        return "—" if obj.response_body is None else pretty_json(obj.response_body)


@admin.register(AuditExport)
class AuditExportAdmin(ReadOnlyAdmin):
    """Who downloaded the audit trail, when, with which filter, and whether the download finished."""

    list_display = ["created_at", "actor_username", "format", "filter_link", "rows", "completed_at"]
    list_filter = ["format", ("created_at", admin.DateFieldListFilter)]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = ["created_at", "actor_username", "format", "filter_link", "rows", "completed_at"]
    readonly_fields = fields

    @admin.display(description=_("Filter"))
    def filter_link(self, obj: AuditExport) -> str:
        # The audit list with the same filters, which shows the rows as they are now.
        url = reverse("admin:profiles_imrequest_changelist")
        if not obj.filter:
            return format_html('<a href="{}">{}</a>', url, gettext("(the whole trail)"))
        return format_html('<a href="{}?{}">{}</a>', url, obj.filter, obj.filter)


@admin.register(AuditAnchor)
class AuditAnchorAdmin(ReadOnlyAdmin):
    """Where the audit chain starts after each audit_archive: the last archived row's position and
    hash, and the file (with its SHA-256) that holds the rows before it."""

    list_display = ["created_at", "seq", "before", "rows", "file_name", "created_by"]
    fields = ["created_at", "created_by", "before", "rows", "seq", "hash", "file_name", "file_sha256"]
    readonly_fields = fields


@admin.register(ExternalChange)
class ExternalChangeAdmin(ReadOnlyAdmin):
    """Profile changes made outside this app, as Tencent reported them (docs/tencent-im.md §8). Read-only."""

    list_display = ["received_at", "user_id", "operator_account", "platform", "tags", "event_time"]
    list_filter = ["platform", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["=user_id", "=operator_account"]
    search_help_text = _("Exact UserID or operator.")
    date_hierarchy = "received_at"
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = ["received_at", "event_time", "user_id", "operator_account", "platform", "client_ip",
              "changes_table", "body_json"]
    readonly_fields = fields

    @admin.display(description=_("Tags"))
    def tags(self, obj: ExternalChange) -> str:
        return plain_tag_names(obj.tag_names)

    @admin.display(description=_("Before → after"))
    def changes_table(self, obj: ExternalChange) -> str:
        return plain_changes_table(obj.changes)

    @admin.display(description=_("Callback body"))
    def body_json(self, obj: ExternalChange) -> str:
        return pretty_json(obj.body)

