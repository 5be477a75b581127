"""URL configuration: the admin is the product; ``im/callback`` receives Tencent's webhook (docs/tencent-im.md §8);
``healthz`` answers load balancers and monitoring."""

from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy
from django.views.generic import RedirectView

from profiles.views.health import healthz
from profiles.views.language import set_language
from profiles.webhooks import portrait_set_callback

admin.site.site_header = gettext_lazy("improfile — Tencent IM profiles")
admin.site.site_title = "improfile"
admin.site.index_title = gettext_lazy("Profiles and audit trail")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("im/callback", portrait_set_callback, name="im-callback"),
    path("language/", set_language, name="set-language"),
    path("healthz", healthz, name="healthz"),
]
