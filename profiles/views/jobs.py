"""A background job's pages: its live progress page and the status it polls, cancel, retry of the
failed items, and the results as CSV."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext

from .. import selectors, services
from ..csvio import guard_cell
from ..errortext import recorded_text
from ..im.errors import describe
from ..models import BulkJob, BulkJobItem
from ..selectors.dashboard import SYSTEM_ACTOR
from .common import page_context


def _job(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> BulkJob:
    job = get_object_or_404(BulkJob, pk=pk)
    if not model_admin.has_view_permission(request, job) or not selectors.jobs_visible_to(request.user).filter(
        pk=job.pk
    ).exists():
        raise PermissionDenied
    return job


def job_page(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(model_admin, request, pk)
    context = page_context(
        model_admin, request, str(job), original=job, job=job, progress=selectors.job_progress(job),
        failures=selectors.job_failures(job), can_run=selectors.may_manage_job(request.user, job),
        not_retried=selectors.job_not_retried(job), source_name=recorded_text(job.source_name),
        system_actor=SYSTEM_ACTOR,
        retry_of_url=reverse("admin:profiles_bulkjob_change", args=[job.retry_of_id]) if job.retry_of_id else "",
    )
    return TemplateResponse(request, "admin/profiles/bulkjob/job.html", context)


def job_status(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    """The job's progress as JSON, for the job page to poll."""
    return JsonResponse(dataclasses.asdict(selectors.job_progress(_job(model_admin, request, pk))))


def job_cancel(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(model_admin, request, pk)
    if request.method != "POST" or not selectors.may_manage_job(request.user, job):
        raise PermissionDenied
    cancelled = services.jobs.job_cancel(job=job)
    model_admin.message_user(request, ngettext(
        "Job #%(pk)s cancelled; %(count)s pending item will not be sent.",
        "Job #%(pk)s cancelled; %(count)s pending items will not be sent.",
        cancelled,
    ) % {"pk": job.pk, "count": cancelled})
    return HttpResponseRedirect(reverse("admin:profiles_bulkjob_change", args=[job.pk]))


def job_retry(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(model_admin, request, pk)
    if request.method != "POST" or not selectors.may_manage_job(request.user, job):
        raise PermissionDenied
    outcome = services.jobs.job_retry_failed(job=job, actor=request.user)
    left_out = "; ".join(
        ngettext("%(count)s item with %(code)s: %(hint)s", "%(count)s items with %(code)s: %(hint)s", count)
        % {"count": count, "code": code if code is not None else gettext("no ErrorCode"),
           "hint": selectors.jobs.retry_hint(code)}
        for code, count in outcome.not_retried
    )
    if outcome.job is None:
        if left_out:
            message = gettext("Nothing was retried: no failure of this job can pass on a retry (%(left_out)s).")
            model_admin.message_user(request, message % {"left_out": left_out}, messages.WARNING)
        else:
            model_admin.message_user(request, gettext("No failed items to retry."), messages.INFO)
        return HttpResponseRedirect(reverse("admin:profiles_bulkjob_change", args=[job.pk]))
    message = ngettext(
        "Job #%(pk)s retries %(count)s failed item whose error can pass on a retry.",
        "Job #%(pk)s retries %(count)s failed items whose errors can pass on a retry.", outcome.retried,
    ) % {"pk": outcome.job.pk, "count": outcome.retried}
    if left_out:
        message += " " + gettext("Not retried: %(left_out)s.") % {"left_out": left_out}
    model_admin.message_user(request, message, messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:profiles_bulkjob_change", args=[outcome.job.pk]))


class _Echo:
    """A file that hands back what is written to it, so csv.writer makes lines to stream."""

    def write(self, value: str) -> str:
        return value


# How the results CSV names an item's outcome: its state, except a row the CSV check refused.
_OUTCOME_WORDS = {BulkJobItem.State.REJECTED: "rejected by check"}


def job_results(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    """Every user's outcome as CSV, streamed; a CSV job's rows the check refused included, so one
    file tells the whole story of the upload (and a refresh job's file every user it was to refresh)."""
    job = _job(model_admin, request, pk)
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(["UserID", "outcome", "ErrorCode", "meaning", "attempts", "line"])
        for outcome in selectors.job_outcomes(job):
            code = outcome.error_code
            meaning = describe(code).meaning if code not in (None, 0) else ""
            # Every text cell guarded: a UserID or a message may begin like a formula.
            yield writer.writerow([
                guard_cell(outcome.user_id), _OUTCOME_WORDS.get(outcome.state, outcome.state),
                "" if code is None else code, guard_cell(meaning or outcome.message), outcome.attempts,
                outcome.line or "",
            ])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-results.csv"'
    return response


def job_failures_csv(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    """Every failed item in plain words (the page lists the first hundred), streamed, in the reader's
    language like the page."""
    job = _job(model_admin, request, pk)
    writer = csv.writer(_Echo())
    failed = job.items.filter(state=BulkJobItem.State.FAILED).order_by("pk")
    # The rows are made while the response streams, after this view returned: in the request's language.
    language = translation.get_language()

    def rows() -> Iterator[str]:
        with translation.override(language):
            yield from _failure_rows(writer, failed)

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-failures.csv"'
    return response


def _failure_rows(writer: Any, failed: QuerySet[BulkJobItem]) -> Iterator[str]:
    yield writer.writerow([
        gettext("UserID"), gettext("line"), gettext("ErrorCode"), gettext("tag"), gettext("reason"),
        gettext("attempts"), gettext("retried"), gettext("next step"), gettext("details"),
    ])
    yes, no = gettext("yes"), gettext("no")
    for item in selectors.jobs.failed_items(failed):
        yield writer.writerow([
            guard_cell(item.user_id), item.line or "", "" if item.error_code is None else item.error_code,
            guard_cell(item.tags), guard_cell(item.reason), item.attempts, yes if item.retryable else no,
            guard_cell(item.next_step), guard_cell(item.details),
        ])
