"""Admin for background bulk jobs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .. import services
from ..im.errors import describe
from ..models import BulkJob
from .common import ReadOnlyAdmin


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
