"""A background job's pages: its live progress page and the status it polls, cancel, retry of the
failed items, and the results as CSV."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, ngettext

from .. import selectors, services
from ..csvio import guard_cell
from ..im.errors import describe
from ..models import BulkJob, BulkJobItem
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
        not_retried=selectors.job_not_retried(job),
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
    model_admin.message_user(request, f"Job #{job.pk} cancelled; {cancelled} pending item(s) will not be sent.")
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
    """Every item's outcome as CSV, streamed; a CSV job's rows the check refused included, so one
    file tells the whole story of the upload."""
    job = _job(model_admin, request, pk)
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(["UserID", "outcome", "ErrorCode", "meaning", "attempts", "line"])
        for item in job.items.order_by("pk").iterator(chunk_size=2000):
            meaning = describe(item.error_code).meaning if item.error_code not in (None, 0) else ""
            # Every text cell guarded: a UserID or a message may begin like a formula.
            yield writer.writerow([
                guard_cell(item.user_id), _OUTCOME_WORDS.get(item.state, item.state),
                "" if item.error_code is None else item.error_code,
                guard_cell(meaning or item.message), item.attempts, item.line or "",
            ])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-results.csv"'
    return response


def job_failures_csv(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    """Every failed item in plain words (the page lists the first hundred), streamed."""
    job = _job(model_admin, request, pk)
    writer = csv.writer(_Echo())
    failed = job.items.filter(state=BulkJobItem.State.FAILED).order_by("pk")

    def rows() -> Iterator[str]:
        yield writer.writerow(["UserID", "line", "ErrorCode", "tag", "reason", "attempts", "retried", "next step",
                               "details"])
        for item in selectors.jobs.failed_items(failed):
            yield writer.writerow([
                guard_cell(item.user_id), item.line or "", "" if item.error_code is None else item.error_code,
                guard_cell(item.tags), guard_cell(item.reason), item.attempts, "yes" if item.retryable else "no",
                guard_cell(item.next_step), guard_cell(item.message),
            ])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-failures.csv"'
    return response
