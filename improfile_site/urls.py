"""URL configuration: the admin is the product."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "improfile — Tencent IM profiles"
admin.site.site_title = "improfile"
admin.site.index_title = "Profiles and audit trail"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
]
