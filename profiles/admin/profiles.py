"""Admin for profiles (edited through the push service) and custom tag definitions."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy, gettext_noop, ngettext

from .. import services
from ..bulkforms import BulkSetForm
from ..forms import CustomTagDefinitionForm, ProfileForm, custom_field_name, profile_form_class
from ..im import tags as catalogue
from ..models import BulkJob, CustomTagDefinition, ImRequest, Profile
from ..selectors.bulk import bulk_preview
from ..services.jobs import JobRow
from ..views import csv as csv_views
from ..views import timeline
from ..views.common import admin_path
from .common import OfferedFiltersOnly

# Why the admin's refreshes read from Tencent, as their audit rows record it: English, translated when shown.
REFRESH_PURPOSE = gettext_noop("refresh")
REFRESH_SELECTED_PURPOSE = gettext_noop("refresh selected")

STANDARD_FIELD_NAMES = [tag.field_name for tag in catalogue.STANDARD_TAGS]


@admin.register(Profile)
class ProfileAdmin(OfferedFiltersOnly):
    form = ProfileForm
    list_display = ["user_id", "nick", "gender", "allow_type", "admin_forbid_type", "last_pushed_at"]
    list_filter = ["gender", "allow_type", "admin_forbid_type"]
    # Exact or prefix on the indexed UserID, and the nickname.
    search_fields = ["=user_id", "^user_id", "nick"]
    search_help_text = gettext_lazy("Search by exact UserID, UserID prefix, or part of the nickname.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    actions = ["refresh_from_tencent", "set_fields", csv_views.export_selected_csv]

    def get_urls(self):
        custom = [
            # Before super().get_urls(): its "<path:object_id>/" would swallow these.
            *csv_views.csv_admin_urls(self),
            path("open/", self.admin_site.admin_view(self.open_user_view), name="profiles_profile_open"),
            path("<int:pk>/refresh/", self.admin_site.admin_view(self.refresh_view), name="profiles_profile_refresh"),
            admin_path(
                "<int:pk>/tencent-history/", self, timeline.profile_timeline, "profiles_profile_tencent_history"
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
                "title": gettext("Import %(user_id)s into Tencent IM?") % {"user_id": user_id},
                "message": outcome.message,
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
            user_ids=[profile.user_id], actor=request.user, source=ImRequest.Source.ADMIN, purpose=REFRESH_PURPOSE
        )
        self.message_user(request, outcome.message, messages.SUCCESS if outcome.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:profiles_profile_change", args=[pk]))

    @admin.action(description=gettext_lazy("Refresh selected from Tencent"), permissions=["change"])
    def refresh_from_tencent(self, request: HttpRequest, queryset: QuerySet[Profile]) -> None:
        user_ids = list(queryset.values_list("user_id", flat=True))
        outcome = services.profile_pull(
            user_ids=user_ids, actor=request.user, source=ImRequest.Source.ADMIN, purpose=REFRESH_SELECTED_PURPOSE
        )
        self.message_user(request, outcome.message, messages.SUCCESS if outcome.ok else messages.WARNING)

    @admin.action(description=gettext_lazy("Set fields… (background job)"), permissions=["run_bulk"])
    def set_fields(self, request: HttpRequest, queryset: QuerySet[Profile]) -> HttpResponse | None:
        """Selected profiles → a form of tags → a preview of the changes → confirm → a background job."""
        definitions = list(CustomTagDefinition.objects.all())
        step = request.POST.get("step", "")
        form = BulkSetForm(request.POST if step else None, definitions=definitions)
        count = queryset.count()
        # The change list's filters stay in the URL, so "select all N" still means the same N and
        # Cancel returns to the list as it was.
        changelist_url = reverse("admin:profiles_profile_changelist")
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "form": form, "count": count,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across") == "1",
            "form_url": request.get_full_path(),
            "cancel_url": f"{changelist_url}?{request.GET.urlencode()}" if request.GET else changelist_url,
            "title": ngettext(
                "Set fields on %(count)s selected profile", "Set fields on %(count)s selected profiles", count
            ) % {"count": count},
        }
        if step and "_edit" not in request.POST and form.is_valid():
            values = form.tag_values()
            if step == "confirm":
                rows = (
                    JobRow(user_id=user_id, values=values)
                    for user_id in queryset.order_by("pk").values_list("user_id", flat=True).iterator()
                )
                job = services.job_create(
                    actor=request.user, source=BulkJob.Source.SELECTION,
                    source_name=services.jobs.SELECTED_PROFILES % {"count": count}, rows=rows,
                )
                message = ngettext(
                    "Job #%(pk)s started for %(count)s profile.", "Job #%(pk)s started for %(count)s profiles.",
                    job.total,
                ) % {"pk": job.pk, "count": job.total}
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:profiles_bulkjob_change", args=[job.pk]))
            context["preview"] = bulk_preview(queryset, values)
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

    @admin.display(description=gettext_lazy("Tags this app does not know"))
    def unknown_tags_table(self, obj: Profile) -> str:
        if not obj.unknown_tags:
            return "—"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>",
            ((tag, json.dumps(value, ensure_ascii=False)) for tag, value in obj.unknown_tags.items()),
        )
        return format_html(
            "<table><tbody>{}</tbody></table><div class='help'>{}</div>", rows, gettext(
                "Tencent returned these, but they are neither standard tags nor defined custom tags (or their value "
                "has an unexpected type). Define the custom tag to edit it."
            ),
        )

    def get_fieldsets(self, request: HttpRequest, obj: Profile | None = None) -> list[tuple[str | None, dict]]:
        tencent_user = ["user_id", "last_pulled_at", "last_pushed_at"]
        if obj is not None:
            tencent_user += ["loaded_version", "started_from", "reverts", "loaded_at", "conflict_base"]
            if obj.unknown_tags:
                tencent_user.append("unknown_tags_table")
        fieldsets: list[tuple[str | None, dict]] = [
            (gettext("Tencent user"), {"fields": tencent_user}),
            (gettext("Standard profile (Tag_Profile_IM_*)"), {"fields": STANDARD_FIELD_NAMES}),
        ]
        definitions = list(CustomTagDefinition.objects.all())
        if definitions:
            fieldsets.append(
                (gettext("Custom tags (Tag_Profile_Custom_*)"), {"fields": [custom_field_name(d) for d in definitions]})
            )
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Profile | None = None, change: bool = False, **kwargs: Any):
        # The form class declares one field per custom tag definition, as read now.
        kwargs["form"] = profile_form_class(
            actor=request.user, definitions=list(CustomTagDefinition.objects.all()),
            revert_source=self._revert_source(request, obj),
        )
        return super().get_form(request, obj, change=change, **kwargs)

    def _revert_source(self, request: HttpRequest, obj: Profile | None) -> ImRequest | None:
        """The audit row named by ``?revert=`` on the change form, if it can be reverted here."""
        raw = request.GET.get("revert", "")
        if obj is None or request.method != "GET" or not raw:
            return None
        row = ImRequest.objects.filter(pk=int(raw)).first() if raw.isascii() and raw.isdigit() else None
        refusal = services.revert.revert_refusal(row=row, actor=request.user, profile=obj)
        if refusal is not None:
            # get_form runs once per change form, so the message is given once.
            self.message_user(request, gettext("Cannot revert: %(why)s") % {"why": refusal}, messages.ERROR)
            return None
        return row

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], add: bool = False,
                           change: bool = False, form_url: str = "", obj: Profile | None = None):
        # A form kept open only to inform (a conflict table, loaded values, a birthday to confirm)
        # has no errors to correct: no "Please correct the error below" note, no "Error:" title.
        form = context["adminform"].form
        if form.is_bound and form.only_information:
            context["errors"] = []
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_form(self, request: HttpRequest, form: ProfileForm, change: bool) -> Profile:
        """The profile as the push left it. The form's clean() pushed through ``profile_push``, which
        stored the local copy when Tencent accepted (or already had the values); the form's own
        values may differ from what was stored (a blank that was not sent), so the row is read back."""
        profile = super().save_form(request, form, change)  # commit=False: nothing written
        if profile.pk is not None:
            profile.refresh_from_db()
        return profile

    def save_model(self, request: HttpRequest, obj: Profile, form: ProfileForm, change: bool) -> None:
        """No second write of a row the push stored: only a new profile whose push sent nothing
        (so stored nothing) is saved here."""
        outcome = form.push_outcome
        if outcome is not None:
            self.message_user(request, outcome.message, messages.SUCCESS if outcome.pushed else messages.INFO)
        for taken in form.taken:
            self.message_user(request, gettext(
                "While you were editing, %(change)s was set by %(cause)s; that change is kept."
            ) % {"change": str(taken.change), "cause": taken.cause.describe()}, messages.INFO)
        if obj.pk is None:
            super().save_model(request, obj, form, change)


@admin.register(CustomTagDefinition)
class CustomTagDefinitionAdmin(OfferedFiltersOnly):
    form = CustomTagDefinitionForm
    list_display = ["wire_name", "label", "value_type", "admin_read", "admin_write", "created_at"]
    search_fields = ["keyword", "label"]

    @admin.display(description=gettext_lazy("Wire name"))
    def wire_name(self, obj: CustomTagDefinition) -> str:
        return obj.wire_name

    def get_readonly_fields(self, request: HttpRequest, obj: CustomTagDefinition | None = None) -> list[str]:
        # docs/tencent-im.md §3: once created, a custom tag cannot be renamed or change type.
        return ["keyword", "value_type", "created_at"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: CustomTagDefinition | None = None) -> bool:
        # docs/tencent-im.md §3: custom tags cannot be deleted in Tencent either.
        return False

