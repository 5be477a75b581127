"""Admin for profiles, custom tag definitions and the read-only audit trail."""

from __future__ import annotations

import abc
import json
from datetime import UTC
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from . import admin_csv, audit_export, charts, selectors, services
from .dashboard import OUTCOMES, audit_dashboard
from .forms import (
    BulkSetForm,
    CustomTagDefinitionForm,
    DashboardRangeForm,
    ProfileForm,
    custom_field_name,
    profile_form_class,
)
from .im import tags as catalogue
from .im.client import COMMANDS
from .im.errors import ERROR_CODES, describe
from .models import AuditAnchor, AuditExport, BulkJob, CustomTagDefinition, ExternalChange, ImRequest, Profile
from .paginators import CappedCountPaginator
from .selectors import audit_rows_visible_to, sees_whole_trail
from .services import exports
from .services.jobs import JobRow

STANDARD_FIELD_NAMES = [tag.field_name for tag in catalogue.STANDARD_TAGS]
# The "Audit reviewers" group has it (migration 0007); profile editors do not.
DASHBOARD_PERMISSION = "profiles.view_audit_dashboard"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits through the admin, superusers included: the audit trail, external
    changes, jobs. Viewing needs the model's view permission."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    form = ProfileForm
    list_display = ["user_id", "nick", "gender", "allow_type", "admin_forbid_type", "last_pushed_at"]
    list_filter = ["gender", "allow_type", "admin_forbid_type"]
    # Exact or prefix on the indexed UserID, and the nickname.
    search_fields = ["=user_id", "^user_id", "nick"]
    search_help_text = "Search by exact UserID, UserID prefix, or part of the nickname."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    actions = ["refresh_from_tencent", "set_fields", admin_csv.export_selected_csv]

    def get_urls(self):
        custom = [
            # Before super().get_urls(): its "<path:object_id>/" would swallow these.
            *admin_csv.csv_admin_urls(self),
            path("open/", self.admin_site.admin_view(self.open_user_view), name="profiles_profile_open"),
            path("<int:pk>/refresh/", self.admin_site.admin_view(self.refresh_view), name="profiles_profile_refresh"),
            path(
                "<int:pk>/tencent-history/", self.admin_site.admin_view(self.tencent_history_view),
                name="profiles_profile_tencent_history",
            ),
        ]
        return custom + super().get_urls()

    def open_user_view(self, request: HttpRequest) -> HttpResponse:
        """"Open user": check the account in Tencent, pull it, and go to its change form."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:profiles_profile_changelist"))
        if not self.has_change_permission(request):
            raise PermissionDenied
        user_id = request.POST.get("user_id", "").strip()
        wants_import = request.POST.get("import") == "1"
        if wants_import and not request.user.has_perm("profiles.import_account"):
            raise PermissionDenied
        outcome = services.profile_open(
            user_id=user_id, actor=request.user, source=ImRequest.Source.ADMIN, import_missing=wants_import
        )
        if outcome.ok:
            self.message_user(request, outcome.message, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:profiles_profile_change", args=[outcome.profile.pk]))
        can_import = request.user.has_perm("profiles.import_account")
        if outcome.missing and can_import and not wants_import:
            context = {
                **self.admin_site.each_context(request), "opts": self.opts, "user_id": user_id,
                "title": f"Import {user_id} into Tencent IM?", "message": outcome.message,
            }
            return TemplateResponse(request, "admin/profiles/profile/import_confirm.html", context)
        self.message_user(request, outcome.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:profiles_profile_changelist"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        extra_context = {**(extra_context or {}), "can_open_user": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    def refresh_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        profile = get_object_or_404(Profile, pk=pk)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:profiles_profile_change", args=[pk]))
        if not self.has_change_permission(request, profile):
            raise PermissionDenied
        outcome = services.profile_pull(
            user_ids=[profile.user_id], actor=request.user, source=ImRequest.Source.ADMIN, purpose="refresh"
        )
        self.message_user(request, outcome.message, messages.SUCCESS if outcome.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:profiles_profile_change", args=[pk]))

    def tencent_history_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        profile = get_object_or_404(Profile, pk=pk)
        if not self.has_view_or_change_permission(request, profile):
            raise PermissionDenied
        return timeline_response(self.admin_site, request, user_id=profile.user_id, profile=profile)

    @admin.action(description="Refresh selected from Tencent", permissions=["change"])
    def refresh_from_tencent(self, request: HttpRequest, queryset: QuerySet[Profile]) -> None:
        user_ids = list(queryset.values_list("user_id", flat=True))
        outcome = services.profile_pull(
            user_ids=user_ids, actor=request.user, source=ImRequest.Source.ADMIN, purpose="refresh selected"
        )
        self.message_user(request, outcome.message, messages.SUCCESS if outcome.ok else messages.WARNING)

    @admin.action(description="Set fields… (background job)", permissions=["run_bulk"])
    def set_fields(self, request: HttpRequest, queryset: QuerySet[Profile]) -> HttpResponse | None:
        """Selected profiles → a form of tags → a preview → confirm → a background job."""
        definitions = list(CustomTagDefinition.objects.all())
        step = request.POST.get("step", "")
        form = BulkSetForm(request.POST if step else None, definitions=definitions)
        count = queryset.count()
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "form": form, "count": count,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "title": f"Set fields on {count} selected profile(s)",
        }
        if step and form.is_valid():
            values = form.tag_values()
            if step == "confirm":
                rows = (
                    JobRow(user_id=user_id, values=values)
                    for user_id in queryset.order_by("pk").values_list("user_id", flat=True).iterator()
                )
                job = services.job_create(
                    actor=request.user, source=BulkJob.Source.SELECTION,
                    source_name=f"{count} selected profile(s)", rows=rows,
                )
                self.message_user(request, f"Job #{job.pk} started for {job.total} profile(s).", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:profiles_bulkjob_change", args=[job.pk]))
            sample = [
                {"user_id": profile.user_id,
                 "changes": [(tag, profile.tag_value(tag), value) for tag, value in values.items()]}
                for profile in queryset.order_by("pk")[:10]
            ]
            context.update({"preview": True, "values": values, "sample": sample})
        return TemplateResponse(request, "admin/profiles/profile/set_fields.html", context)

    def has_run_bulk_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("profiles.run_bulkjob") and self.has_change_permission(request)

    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
                        extra_context: dict[str, Any] | None = None):
        # Django wraps this view in transaction.atomic. Here the form's clean() calls Tencent, and a
        # database transaction must not stay open across a network call of up to several seconds;
        # on SQLite a transaction that read before the audit row's commit could not write after it.
        # So the view runs in autocommit; the push audits through its own connection.
        return self._changeform_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request: HttpRequest, obj: Profile | None = None) -> list[str]:
        readonly = ["last_pushed_at", "last_pulled_at", "unknown_tags_table"]
        return ["user_id", *readonly] if obj is not None else readonly

    @admin.display(description="Tags this app does not know")
    def unknown_tags_table(self, obj: Profile) -> str:
        if not obj.unknown_tags:
            return "—"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>",
            ((tag, json.dumps(value, ensure_ascii=False)) for tag, value in obj.unknown_tags.items()),
        )
        return format_html(
            "<table><tbody>{}</tbody></table><div class='help'>Tencent returned these, but they are neither "
            "standard tags nor defined custom tags (or their value has an unexpected type). Define the custom "
            "tag to edit it.</div>", rows,
        )

    def _definitions(self, request: HttpRequest) -> list[CustomTagDefinition]:
        # One query per request, shared by get_fieldsets and get_form.
        if not hasattr(request, "_improfile_custom_tags"):
            request._improfile_custom_tags = list(CustomTagDefinition.objects.all())
        return request._improfile_custom_tags

    def get_fieldsets(self, request: HttpRequest, obj: Profile | None = None) -> list[tuple[str | None, dict]]:
        tencent_user = ["user_id", "last_pulled_at", "last_pushed_at"]
        if obj is not None:
            tencent_user += ["loaded_version", "started_from", "reverts"]
            if obj.unknown_tags:
                tencent_user.append("unknown_tags_table")
        fieldsets: list[tuple[str | None, dict]] = [
            ("Tencent user", {"fields": tencent_user}),
            ("Standard profile (Tag_Profile_IM_*)", {"fields": STANDARD_FIELD_NAMES}),
        ]
        definitions = self._definitions(request)
        if definitions:
            fieldsets.append(
                ("Custom tags (Tag_Profile_Custom_*)", {"fields": [custom_field_name(d) for d in definitions]})
            )
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Profile | None = None, change: bool = False, **kwargs: Any):
        kwargs["form"] = profile_form_class(
            actor=request.user, definitions=self._definitions(request), revert_source=self._revert_source(request, obj)
        )
        return super().get_form(request, obj, change=change, **kwargs)

    def _revert_source(self, request: HttpRequest, obj: Profile | None) -> ImRequest | None:
        """The audit row named by ``?revert=`` on the change form, if it can be reverted here."""
        raw = request.GET.get("revert", "")
        if obj is None or request.method != "GET" or not raw:
            return None
        row = ImRequest.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
        refusal = services.revert.revert_refusal(row=row, actor=request.user, profile=obj)
        if refusal is not None:
            if not getattr(request, "_improfile_revert_refused", False):
                request._improfile_revert_refused = True
                self.message_user(request, f"Cannot revert: {refusal}", messages.ERROR)
            return None
        return row

    def save_form(self, request: HttpRequest, form: ProfileForm, change: bool) -> Profile:
        request._improfile_push_outcome = form.push_outcome
        return super().save_form(request, form, change)

    def _push_message(self, request: HttpRequest) -> None:
        outcome: services.PushOutcome | None = getattr(request, "_improfile_push_outcome", None)
        if outcome is not None:
            self.message_user(request, outcome.message, messages.SUCCESS if outcome.pushed else messages.INFO)

    def response_add(self, request: HttpRequest, obj: Profile, post_url_continue: str | None = None):
        self._push_message(request)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Profile):
        self._push_message(request)
        return super().response_change(request, obj)


@admin.register(CustomTagDefinition)
class CustomTagDefinitionAdmin(admin.ModelAdmin):
    form = CustomTagDefinitionForm
    list_display = ["wire_name", "label", "value_type", "admin_read", "admin_write", "created_at"]
    search_fields = ["keyword", "label"]

    @admin.display(description="Wire name")
    def wire_name(self, obj: CustomTagDefinition) -> str:
        return obj.wire_name

    def get_readonly_fields(self, request: HttpRequest, obj: CustomTagDefinition | None = None) -> list[str]:
        # spec §3: once created, a custom tag cannot be renamed or change type.
        return ["keyword", "value_type", "created_at"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: CustomTagDefinition | None = None) -> bool:
        # spec §3: custom tags cannot be deleted in Tencent either.
        return False


def _is_int(value: str) -> bool:
    return value.lstrip("-").isdigit()


class CatalogueListFilter(admin.SimpleListFilter, abc.ABC):
    """A list filter whose choices come from a catalogue, not from the table: on a million audit rows
    a SELECT DISTINCT for the sidebar costs more than the page. A value typed into the URL that the
    catalogue does not know still filters, and is shown as a choice so the list says what it filters."""

    # The choice for "the column is empty" (none when empty_label is blank), and the value it matches.
    empty_value = "none"
    empty_label = ""
    empty_match: Any = None

    @abc.abstractmethod
    def known_choices(self) -> list[tuple[str, str]]:
        """The catalogue's (value, label) choices; each filter says where they come from."""

    def describe_unknown(self, value: str) -> str:
        return value

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        choices = self.known_choices()
        value = self.value()
        if value is not None and value != self.empty_value and value not in dict(choices):
            choices.append((value, self.describe_unknown(value)))
        return [*choices, (self.empty_value, self.empty_label)] if self.empty_label else choices

    def filter_value(self, value: str) -> Any:
        return value

    def queryset(self, request: HttpRequest, queryset: QuerySet[ImRequest]) -> QuerySet[ImRequest]:
        value = self.value()
        if value is None:
            return queryset
        if value == self.empty_value and self.empty_label:
            return queryset.filter(**{self.parameter_name: self.empty_match})
        return queryset.filter(**{self.parameter_name: self.filter_value(value)})


class ErrorCodeFilter(CatalogueListFilter):
    title = "ErrorCode"
    parameter_name = "error_code"
    empty_label = "No code (transport error or no answer)"

    def known_choices(self) -> list[tuple[str, str]]:
        return [(str(code), f"{code} — {info.meaning}") for code, info in sorted(ERROR_CODES.items())]

    def describe_unknown(self, value: str) -> str:
        return f"{value} — {describe(int(value)).meaning}" if _is_int(value) else value

    def filter_value(self, value: str) -> Any:
        if not _is_int(value):
            raise IncorrectLookupParameters(f"ErrorCode {value!r} is not a number.")
        return int(value)


class ActionStatusFilter(CatalogueListFilter):
    title = "ActionStatus"
    parameter_name = "action_status"
    empty_label = "None (no answer)"
    empty_match = ""

    def known_choices(self) -> list[tuple[str, str]]:
        return [("OK", "OK"), ("FAIL", "FAIL")]  # spec §1


class CommandFilter(CatalogueListFilter):
    title = "command"
    parameter_name = "command"

    def known_choices(self) -> list[tuple[str, str]]:
        return [(command, command) for command in COMMANDS]


class ActorFilter(admin.RelatedFieldListFilter):
    """The staff, read from the users table: RelatedOnlyFieldListFilter finds the actors with a
    SELECT DISTINCT over every audit row. Someone who sees only their own rows is offered only
    themselves. The URL is the same (``actor__id__exact``), so any user id still filters."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, str]]:
        staff = get_user_model().objects.filter(is_staff=True)
        if not sees_whole_trail(request.user):
            staff = staff.filter(pk=request.user.pk)
        return [(user.pk, str(user)) for user in staff.order_by(get_user_model().USERNAME_FIELD)]


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


def _pretty_json(value: Any) -> str:
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


@admin.register(ImRequest)
class ImRequestAdmin(ReadOnlyAdmin):
    """The audit trail: visible to whoever may view it, editable by nobody (superusers included)."""

    list_display = [
        "created_at", "actor_username", "source", "user_id", "command", "tags", "action_status",
        "error_code_with_meaning", "latency",
    ]
    # Every filter's choices cost no query over the audit table, and there is no date_hierarchy: its
    # links are a SELECT DISTINCT over every row's date (seconds on a million rows); the date filter
    # below needs no query at all.
    list_filter = [
        ErrorCodeFilter, ActionStatusFilter, "state", "source", CommandFilter,
        ("actor", ActorFilter), ("created_at", admin.DateFieldListFilter),
    ]
    # Exact and case-sensitive, as UserIDs are (spec §1), so the (user_id, created_at) index answers
    # it; "=user_id" would be iexact, a LIKE that reads every row.
    search_fields = ["user_id__exact"]
    search_help_text = "Exact UserID."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_select_related = ["actor"]
    list_per_page = 100
    fieldsets = [
        ("Request", {"fields": [
            "created_at", "completed_at", "actor_display", "source_display", "purpose", "user_id_with_timeline",
            "command", "attempt", "reverts_link", "reverted_by_links",
        ]}),
        ("Tencent's answer", {"fields": [
            "state", "http_status", "action_status", "error_code_with_meaning", "error_advice", "error_info",
            "error_display", "transport_error", "note", "latency",
        ]}),
        ("Tags", {"fields": ["changes_table"]}),
        ("Bodies (the UserSig travels in the URL and is never stored)", {"fields": [
            "random", "request_json", "response_json",
        ]}),
        ("Integrity (hash chain; python manage.py audit_verify checks it)", {"fields": [
            "chain_seq", "chain_prev", "chain_hash",
        ]}),
    ]
    readonly_fields = [name for _title, options in fieldsets for name in options["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImRequest]:
        # Audit reviewers see the whole trail; profile editors only the requests they made.
        # Every audit page and export starts from this queryset.
        return audit_rows_visible_to(request.user, super().get_queryset(request))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        extra_context = {
            **(extra_context or {}), "can_view_dashboard": request.user.has_perm(DASHBOARD_PERMISSION),
            "can_export": self.has_export_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Requests per UTC day by outcome, the failure rate, the top ErrorCodes and the top actors
        over a range of days, with charts drawn on the server."""
        if not request.user.has_perm(DASHBOARD_PERMISSION):
            raise PermissionDenied
        form = DashboardRangeForm(request.GET or None, today=timezone.now().astimezone(UTC).date())
        start, end = form.date_range()
        # A viewer of the whole trail gets the kept day counts; anyone else, their own rows counted.
        whole = sees_whole_trail(request.user)
        board = audit_dashboard(start=start, end=end, rows=None if whole else self.get_queryset(request))
        context = {
            **self.admin_site.each_context(request),
            # The page runs no JavaScript at all; the navigation sidebar needs it.
            "is_nav_sidebar_enabled": False,
            "opts": self.opts,
            "title": "Audit dashboard",
            "form": form,
            "dashboard": board,
            "outcomes": OUTCOMES,
            "daily_chart": charts.daily_outcomes_chart(board.days),
            "actors_chart": charts.top_actors_chart(board.top_actors),
            "changelist_url": reverse("admin:profiles_imrequest_changelist"),
        }
        return TemplateResponse(request, "admin/profiles/imrequest/dashboard.html", context)
    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("profiles.export_imrequest") and self.has_view_permission(request)

    def export_csv_view(self, request: HttpRequest) -> HttpResponse:
        return self._export(request, audit_export.CSV)

    def export_jsonl_view(self, request: HttpRequest) -> HttpResponse:
        return self._export(request, audit_export.JSONL)

    def _export(self, request: HttpRequest, export_format: audit_export.ExportFormat) -> HttpResponse:
        """The rows of the audit list with the filters and search of this query string, streamed.

        The queryset is the change list's own, so every filter, the search and the editors'
        own-rows restriction apply exactly as on the page; its paginator counts only a few pages.
        """
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        if not self.has_export_permission(request):
            raise PermissionDenied
        try:
            rows = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters:
            self.message_user(request, "Those filters are not valid; nothing was exported.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:profiles_imrequest_changelist"))
        export = exports.audit_export_start(
            actor=request.user, export_format=export_format.name, query_string=request.GET.urlencode()
        )
        response = StreamingHttpResponse(
            exports.audit_export_stream(export=export, rows=rows), content_type=export_format.content_type
        )
        response["Content-Disposition"] = f'attachment; filename="{export_format.file_name(export.created_at)}"'
        return response

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

    @admin.display(description="Tags")
    def tags(self, obj: ImRequest) -> str:
        return short_tag_names(obj.tag_names)

    @admin.display(description="ErrorCode", ordering="error_code")
    def error_code_with_meaning(self, obj: ImRequest) -> str:
        if obj.error_code is None:
            return obj.transport_error or "—"
        if obj.error_code == 0:
            return "0"
        return f"{obj.error_code} — {obj.error_meaning}"

    def get_urls(self):
        custom = [
            # Before super().get_urls(): its "<path:object_id>/" would swallow these.
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="profiles_imrequest_dashboard"),
            path("export.csv", self.admin_site.admin_view(self.export_csv_view), name="profiles_imrequest_export_csv"),
            path("export.jsonl", self.admin_site.admin_view(self.export_jsonl_view),
                 name="profiles_imrequest_export_jsonl"),
            path("timeline/", self.admin_site.admin_view(self.timeline_view), name="profiles_imrequest_timeline"),
            path("<int:pk>/revert/", self.admin_site.admin_view(self.revert_view), name="profiles_imrequest_revert"),
        ]
        return custom + super().get_urls()

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, obj=None, **kwargs: Any):
        # The row the page already read (through get_queryset, so one the user may see).
        context["can_revert"] = obj is not None and services.revert.revert_refusal(row=obj, actor=request.user) is None
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def timeline_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        user_id = request.GET.get("user_id", "").strip()
        if not user_id:
            self.message_user(request, "Name a UserID to see its timeline.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:profiles_imrequest_changelist"))
        return timeline_response(
            self.admin_site, request, user_id=user_id, profile=Profile.objects.filter(user_id=user_id).first()
        )

    def revert_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """"Revert this change": open the profile form pre-filled with the row's before values."""
        if not (self.has_view_permission(request) and request.user.has_perm("profiles.change_profile")):
            raise PermissionDenied  # reverting is a profile edit
        row = self.get_queryset(request).filter(pk=pk).first()
        if row is None:
            raise Http404("That audit row does not exist or is not yours to see.")
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

    @admin.display(description="Actor")
    def actor_display(self, obj: ImRequest) -> str:
        if not obj.actor_username:
            return "system (no staff member)"
        return obj.actor_username if obj.actor_id else f"{obj.actor_username} (account since deleted)"

    @admin.display(description="Source")
    def source_display(self, obj: ImRequest) -> str:
        if obj.job_id is not None:
            return format_html(
                '{} <a href="{}">#{}</a>', obj.get_source_display(),
                reverse("admin:profiles_bulkjob_change", args=[obj.job_id]), obj.job_id,
            )
        return obj.get_source_display()

    @admin.display(description="UserID")
    def user_id_with_timeline(self, obj: ImRequest) -> str:
        if not obj.user_id:
            return "— (several users: see the request body)"
        url = f"{reverse('admin:profiles_imrequest_timeline')}?{urlencode({'user_id': obj.user_id})}"
        return format_html('{} (<a href="{}">timeline</a>)', obj.user_id, url)

    @admin.display(description="Reverts")
    def reverts_link(self, obj: ImRequest) -> str:
        if obj.reverts_id is None:
            return "—"
        return format_html('<a href="{}">request #{}</a>', reverse("admin:profiles_imrequest_change",
                                                                  args=[obj.reverts_id]), obj.reverts_id)

    @admin.display(description="Reverted by")
    def reverted_by_links(self, obj: ImRequest) -> str:
        later = list(ImRequest.objects.filter(reverts_id=obj.pk).order_by("pk").values_list("pk", "error_code"))
        if not later:
            return "—"
        return format_html_join(", ", '<a href="{}">request #{}</a>{}', (
            (reverse("admin:profiles_imrequest_change", args=[pk]), pk, "" if code == 0 else " (not applied)")
            for pk, code in later
        ))

    @admin.display(description="What to do")
    def error_advice(self, obj: ImRequest) -> str:
        if obj.error_code is not None:
            return describe(obj.error_code).advice
        if obj.state == ImRequest.State.PENDING:
            return "Wait: the answer has not been recorded yet."
        return "Tencent's answer never arrived, so the change may or may not be applied: read the profile, then " \
            "send again if needed (sending the same edit twice gives the same result)."

    @admin.display(description="Latency", ordering="latency_ms")
    def latency(self, obj: ImRequest) -> str:
        return "—" if obj.latency_ms is None else f"{obj.latency_ms:.0f} ms"

    @admin.display(description="Before → after")
    def changes_table(self, obj: ImRequest) -> str:
        return changes_table(obj.changes)

    @admin.display(description="Request body (as sent)")
    def request_json(self, obj: ImRequest) -> str:
        return _pretty_json(obj.request_body)

    @admin.display(description="Response body")
    def response_json(self, obj: ImRequest) -> str:
        return "—" if obj.response_body is None else _pretty_json(obj.response_body)


@admin.register(AuditExport)
class AuditExportAdmin(ReadOnlyAdmin):
    """Who downloaded the audit trail, when, with which filter, and whether the download finished."""

    list_display = ["created_at", "actor_username", "format", "filter_link", "rows", "completed_at"]
    list_filter = ["format", ("created_at", admin.DateFieldListFilter)]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = ["created_at", "actor_username", "format", "filter_link", "rows", "completed_at"]
    readonly_fields = fields

    @admin.display(description="Filter")
    def filter_link(self, obj: AuditExport) -> str:
        # The audit list with the same filters, which shows the rows as they are now.
        url = reverse("admin:profiles_imrequest_changelist")
        if not obj.filter:
            return format_html('<a href="{}">(the whole trail)</a>', url)
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
    """Profile changes made outside this app, as Tencent reported them (spec §8). Read-only."""

    list_display = ["received_at", "user_id", "operator_account", "platform", "tags", "event_time"]
    list_filter = ["platform", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["=user_id", "=operator_account"]
    search_help_text = "Exact UserID or operator."
    date_hierarchy = "received_at"
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = ["received_at", "event_time", "user_id", "operator_account", "platform", "client_ip",
              "changes_table", "body_json"]
    readonly_fields = fields

    @admin.display(description="Tags")
    def tags(self, obj: ExternalChange) -> str:
        return short_tag_names(obj.tag_names)

    @admin.display(description="Before → after")
    def changes_table(self, obj: ExternalChange) -> str:
        return changes_table(obj.changes)

    @admin.display(description="Callback body")
    def body_json(self, obj: ExternalChange) -> str:
        return _pretty_json(obj.body)


@admin.register(BulkJob)
class BulkJobAdmin(ReadOnlyAdmin):
    """Background jobs: a live progress page, cancel, retry failed items, results as CSV."""

    list_display = ["__str__", "created_at", "created_by_username", "state", "progress", "total"]
    list_filter = ["state", "source"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description="Done")
    def progress(self, obj: BulkJob) -> str:
        done = obj.items.filter(state__in=services.jobs.TERMINAL).count()
        return f"{done} / {obj.total}"

    def get_urls(self):
        custom = [
            path("<int:pk>/status/", self.admin_site.admin_view(self.status_view), name="profiles_bulkjob_status"),
            path("<int:pk>/cancel/", self.admin_site.admin_view(self.cancel_view), name="profiles_bulkjob_cancel"),
            path("<int:pk>/retry-failed/", self.admin_site.admin_view(self.retry_view),
                 name="profiles_bulkjob_retry"),
            path("<int:pk>/results.csv", self.admin_site.admin_view(self.results_view),
                 name="profiles_bulkjob_results"),
        ]
        return custom + super().get_urls()

    def _job(self, request: HttpRequest, pk: int) -> BulkJob:
        job = get_object_or_404(BulkJob, pk=pk)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        job = self._job(request, int(object_id))
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "original": job, "job": job,
            "title": str(job), "counts": services.jobs.job_counts(job),
            "can_run": request.user.has_perm("profiles.run_bulkjob"),
        }
        return TemplateResponse(request, "admin/profiles/bulkjob/job.html", context)

    def status_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from django.http import JsonResponse

        return JsonResponse(services.jobs.job_counts(self._job(request, pk)))

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = self._job(request, pk)
        if request.method != "POST" or not request.user.has_perm("profiles.run_bulkjob"):
            raise PermissionDenied
        cancelled = services.jobs.job_cancel(job=job)
        self.message_user(request, f"Job #{job.pk} cancelled; {cancelled} pending item(s) will not be sent.")
        return HttpResponseRedirect(reverse("admin:profiles_bulkjob_change", args=[job.pk]))

    def retry_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = self._job(request, pk)
        if request.method != "POST" or not request.user.has_perm("profiles.run_bulkjob"):
            raise PermissionDenied
        retry = services.jobs.job_retry_failed(job=job, actor=request.user)
        if retry is None:
            self.message_user(request, "No failed items to retry.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:profiles_bulkjob_change", args=[job.pk]))
        self.message_user(request, f"Job #{retry.pk} retries {retry.total} failed item(s).", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:profiles_bulkjob_change", args=[retry.pk]))

    def results_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        import csv

        job = self._job(request, pk)

        class Echo:
            def write(self, value: str) -> str:
                return value

        writer = csv.writer(Echo())

        def rows():
            yield writer.writerow(["UserID", "outcome", "ErrorCode", "meaning", "attempts", "line"])
            for item in job.items.order_by("pk").iterator(chunk_size=2000):
                meaning = describe(item.error_code).meaning if item.error_code not in (None, 0) else ""
                yield writer.writerow([
                    item.user_id, item.state, "" if item.error_code is None else item.error_code,
                    meaning or item.message, item.attempts, item.line or "",
                ])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-results.csv"'
        return response
