"""Admin for background bulk jobs."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, gettext_lazy

from ..models import BulkJob
from ..selectors.jobs import FINISHED_STATES, job_refreshed, jobs_visible_to
from ..views import jobs
from ..views.common import admin_path
from .common import ReadOnlyAdmin


@admin.register(BulkJob)
class BulkJobAdmin(ReadOnlyAdmin):
    """Background jobs: a live progress page, cancel, retry failed items, results as CSV."""

    list_display = ["__str__", "kind", "created_at", "created_by_username", "state", "progress", "total"]
    list_filter = ["kind", "state", "source"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request: HttpRequest) -> QuerySet[BulkJob]:
        return jobs_visible_to(request.user)

    @admin.display(description=gettext_lazy("Done"))
    def progress(self, obj: BulkJob) -> str:
        done = obj.items.filter(state__in=FINISHED_STATES).count() + job_refreshed(obj)
        return gettext("%(done)s / %(total)s") % {"done": done, "total": obj.total}

    def get_urls(self):
        custom = [
            admin_path("<int:pk>/status/", self, jobs.job_status, "profiles_bulkjob_status"),
            admin_path("<int:pk>/cancel/", self, jobs.job_cancel, "profiles_bulkjob_cancel"),
            admin_path("<int:pk>/retry-failed/", self, jobs.job_retry, "profiles_bulkjob_retry"),
            admin_path("<int:pk>/results.csv", self, jobs.job_results, "profiles_bulkjob_results"),
            admin_path("<int:pk>/failures.csv", self, jobs.job_failures_csv, "profiles_bulkjob_failures"),
        ]
        return custom + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None) -> HttpResponse:
        return jobs.job_page(self, request, int(object_id))
