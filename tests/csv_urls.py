"""A test-only URLconf: the admin plus the CSV views, wired the way ProfileAdmin.get_urls will wire
them, and a stand-in for the bulk job page while no BulkJob admin is registered."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from profiles.models import BulkJob, Profile
from profiles.views import csv as csv_views
from profiles.views.language import set_language


def bulkjob_page_stand_in(request: HttpRequest, object_id: str) -> HttpResponse:
    return HttpResponse(f"job {object_id}")


profile_admin = admin.site.get_model_admin(Profile)
csv_patterns = [path("profiles/profile/", include(csv_views.csv_admin_urls(profile_admin)))]
if not admin.site.is_registered(BulkJob):
    csv_patterns.append(
        path("profiles/bulkjob/<path:object_id>/change/", bulkjob_page_stand_in, name="profiles_bulkjob_change")
    )

urlpatterns = [
    path("admin/", (csv_patterns + admin.site.get_urls(), "admin", admin.site.name)),
    # Every admin page's header posts its language switch here (templates/admin/base_site.html).
    path("language/", set_language, name="set-language"),
]
