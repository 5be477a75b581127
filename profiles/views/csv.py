"""Admin views for CSV import (upload → preview of every bad row → confirm starts a job) and export.

Plain functions taking the ModelAdmin, so ProfileAdmin wires them with ``csv_admin_urls(self)`` and
``export_selected_csv`` in its actions; the file format itself lives in ``profiles/csvio.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy, ngettext

from .. import csvio, uploads
from ..models import BulkJob, Profile
from ..services.jobs import job_create
from ..services.storages import csv_upload_storage, stale_files
from ..services.validation import custom_tag_definitions
from .common import admin_path, page_context

IMPORT_URL_NAME = "profiles_profile_import_csv"
EXPORT_URL_NAME = "profiles_profile_export_csv"
BAD_ROWS_URL_NAME = "profiles_profile_import_csv_bad_rows"
# An upload the user never confirmed is deleted after this long (checked at each new upload). Uploads
# live in the ``csv_uploads`` storage (settings.STORAGES), which every web server shares.
UPLOAD_MAX_AGE_SECONDS = 24 * 3600
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_SESSION_PREFIX = "improfile_csv_upload_"


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "UTF-8. A header row with UserID and tag names (Tag_Profile_IM_Nick or nick, ...); one user per row; "
            "an empty cell leaves that tag alone."
        ),
    )

    def __init__(self, *args: Any, refusal: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Why the upload was stopped before it was read (profiles.uploads); the file field's error.
        self.refusal = refusal
        self.fields["file"].help_text = " ".join([
            str(self.fields["file"].help_text),
            gettext("At most %(limit)s MB.") % {"limit": f"{settings.UPLOAD_MAX_MB:g}"},
        ])

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > uploads.upload_limit():  # when nothing stopped it while it was read
            raise forms.ValidationError(uploads.size_refusal(upload.size))
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.refusal:
            self.errors.pop("file", None)  # "This field is required": the file was stopped, not missing
            raise forms.ValidationError({"file": self.refusal})
        return cleaned


def _upload_name(token: str) -> str:
    """The upload's name in the ``csv_uploads`` storage; the token comes from the browser, so it is
    checked before it names anything."""
    if not _TOKEN_RE.fullmatch(token):
        raise PermissionDenied
    return f"{token}.csv"


def _remove_stale_uploads() -> None:
    storage = csv_upload_storage()
    cutoff = timezone.now() - timedelta(seconds=UPLOAD_MAX_AGE_SECONDS)
    for name in stale_files(storage, older_than=cutoff, suffix=".csv"):
        with contextlib.suppress(FileNotFoundError):  # another server removed it first
            storage.delete(name)


def _can_import(request: HttpRequest) -> bool:
    return request.user.has_perm("profiles.run_bulkjob") and request.user.has_perm("profiles.change_profile")


def csv_import_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """GET: the upload form. POST a file: check it and show the preview. POST a token: confirm or cancel."""
    if not _can_import(request):
        raise PermissionDenied
    posted = request.method == "POST"
    # The size first, before the body is touched: an upload over UPLOAD_MAX_MB is refused unread
    # (profiles.uploads stops it if something reads the body).
    refusal = uploads.upload_refusal(request) if posted else ""
    if refusal:
        form = CsvUploadForm({}, {}, refusal=refusal)
        form.is_valid()
    else:
        if posted and "token" in request.POST:
            return _confirm(model_admin, request, request.POST["token"])
        form = CsvUploadForm(request.POST if posted else None, request.FILES if posted else None)
        if posted and form.is_valid():
            return _preview(model_admin, request, form.cleaned_data["file"])
    return TemplateResponse(
        request, "admin/profiles/profile/csv_import.html",
        page_context(model_admin, request, gettext("Import profiles from CSV"), form=form,
                 max_bad_rows=csvio.MAX_BAD_ROWS_SHOWN),
    )


def _preview(model_admin: admin.ModelAdmin, request: HttpRequest, upload: Any) -> HttpResponse:
    """Keep the upload in the shared storage (the confirm may reach another web server) and check it."""
    _remove_stale_uploads()
    storage = csv_upload_storage()
    token = secrets.token_urlsafe(24)
    stored = storage.save(_upload_name(token), upload)
    with storage.open(stored, "rb") as stream:
        check = csvio.csv_check(csvio.binary_lines(stream))
    if check.ok and (check.good or check.bad):
        # The session ties the token to this user; the file name shown is the one uploaded. A file
        # with bad rows is kept too, so they can be downloaded (until confirmed, cancelled or stale).
        request.session[_SESSION_PREFIX + token] = {"name": upload.name, "good": check.good, "stored": stored}
    else:
        storage.delete(stored)
        token = ""
    return TemplateResponse(
        request, "admin/profiles/profile/csv_preview.html",
        page_context(model_admin, request, gettext("Check of %(name)s") % {"name": upload.name}, check=check,
                     token=token, file_name=upload.name, columns=check.column_labels),
    )


def _stored_upload(
    model_admin: admin.ModelAdmin, request: HttpRequest, token: str, *, take: bool
) -> tuple[dict[str, Any], str] | None:
    """This session's upload under ``token`` and its name in the upload storage (``take``: the session
    forgets it, as a confirm or cancel uses it up); None, with a message, when it is gone. Without the
    session entry the file may be another user's: it is left to the stale clean-up."""
    _upload_name(token)  # refuses a token that is not one of ours
    key = _SESSION_PREFIX + token
    upload = request.session.pop(key, None) if take else request.session.get(key)
    stored = upload.get("stored", _upload_name(token)) if upload else None
    if upload is None or not csv_upload_storage().exists(stored):
        model_admin.message_user(request, gettext(
            "That upload is no longer available (already used, cancelled or expired); upload the file again."
        ), messages.ERROR)
        return None
    return upload, stored


def _confirm(model_admin: admin.ModelAdmin, request: HttpRequest, token: str) -> HttpResponse:
    """Start the job from the stored upload. Its good rows become the job's items here, in the
    database, so the workers never need the file."""
    import_url = reverse(f"admin:{IMPORT_URL_NAME}")
    found = _stored_upload(model_admin, request, token, take=True)
    if found is None:
        return HttpResponseRedirect(import_url)
    upload, stored = found
    storage = csv_upload_storage()
    try:
        if "cancel" in request.POST or not upload["good"]:
            model_admin.message_user(request, gettext("Import of %(name)s cancelled; nothing was sent.") % {
                "name": upload["name"],
            })
            return HttpResponseRedirect(reverse("admin:profiles_profile_changelist"))
        try:
            with storage.open(stored, "rb") as stream:
                job = job_create(
                    actor=request.user, source=BulkJob.Source.CSV, source_name=upload["name"],
                    rows=csvio.csv_job_rows(csvio.binary_lines(stream), definitions=custom_tag_definitions()),
                )
        except csvio.CsvFormatError as exc:
            model_admin.message_user(request, gettext("%(name)s cannot be imported: %(problem)s") % {
                "name": upload["name"], "problem": exc,
            }, messages.ERROR)
            return HttpResponseRedirect(import_url)
    finally:
        with contextlib.suppress(FileNotFoundError):
            storage.delete(stored)
    message = ngettext(
        "Started job #%(pk)s with %(count)s row of %(name)s.", "Started job #%(pk)s with %(count)s rows of %(name)s.",
        job.total,
    ) % {"pk": job.pk, "count": job.total, "name": upload["name"]}
    if job.total != upload["good"]:
        # Custom tag definitions changed between the check and the confirmation.
        message += " " + gettext("The check found %(count)s good rows; the definitions changed since.") % {
            "count": upload["good"],
        }
    model_admin.message_user(request, message, messages.SUCCESS if job.total == upload["good"] else messages.WARNING)
    return HttpResponseRedirect(reverse("admin:profiles_bulkjob_change", args=[job.pk]))


def _export_response(queryset: QuerySet[Profile]) -> StreamingHttpResponse:
    lines: Iterator[str] = csvio.csv_export_lines(queryset)
    response = StreamingHttpResponse((line.encode("utf-8") for line in lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="profiles-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response


def csv_export_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The local copies as CSV, streamed; with the change list's filters and search when given."""
    if not request.user.has_perm("profiles.view_profile"):
        raise PermissionDenied
    try:
        queryset = model_admin.get_changelist_instance(request).get_queryset(request)
    except IncorrectLookupParameters:
        model_admin.message_user(
            request, gettext("Those filters are not valid; nothing was exported."), messages.ERROR
        )
        return HttpResponseRedirect(reverse("admin:profiles_profile_changelist"))
    return _export_response(queryset)


@admin.action(description=gettext_lazy("Export selected to CSV"), permissions=["view"])
def export_selected_csv(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Profile]):
    if not request.user.has_perm("profiles.view_profile"):
        raise PermissionDenied
    return _export_response(queryset)


def csv_bad_rows_view(model_admin: admin.ModelAdmin, request: HttpRequest, token: str) -> HttpResponse:
    """The rows the check refused in an upload not yet confirmed: line, reason and the row's own cells,
    as CSV, so they can be fixed and imported again."""
    if not _can_import(request):
        raise PermissionDenied
    found = _stored_upload(model_admin, request, token, take=False)
    if found is None:
        return HttpResponseRedirect(reverse(f"admin:{IMPORT_URL_NAME}"))
    upload, stored = found
    storage = csv_upload_storage()
    definitions = custom_tag_definitions()
    try:
        with storage.open(stored, "rb") as stream:
            # A file that cannot be read fails here, before the response starts.
            next(csvio.csv_bad_rows_lines(csvio.binary_lines(stream), definitions=definitions))
    except csvio.CsvFormatError as exc:
        model_admin.message_user(request, gettext("%(name)s cannot be read: %(problem)s") % {
            "name": upload["name"], "problem": exc,
        }, messages.ERROR)
        return HttpResponseRedirect(reverse(f"admin:{IMPORT_URL_NAME}"))

    # The rows are made while the response streams, after this view returned: in the request's language.
    language = translation.get_language()

    def content() -> Iterator[bytes]:
        with storage.open(stored, "rb") as stream, translation.override(language):
            for line in csvio.csv_bad_rows_lines(csvio.binary_lines(stream), definitions=definitions):
                yield line.encode("utf-8")

    response = StreamingHttpResponse(content(), content_type="text/csv; charset=utf-8")
    name = os.path.splitext(upload["name"])[0] or "upload"  # the name the browser sent, not a path here
    response["Content-Disposition"] = f'attachment; filename="{_safe_file_name(name)}-bad-rows.csv"'
    return response


def _safe_file_name(name: str) -> str:
    """A name for a Content-Disposition header: letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "upload"


def csv_admin_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The import and export URLs, for ``ProfileAdmin.get_urls``."""
    return [
        admin_path("import-csv/", model_admin, csv_import_view, IMPORT_URL_NAME),
        admin_path("import-csv/<str:token>/bad-rows.csv", model_admin, csv_bad_rows_view, BAD_ROWS_URL_NAME),
        admin_path("export-csv/", model_admin, csv_export_view, EXPORT_URL_NAME),
    ]
