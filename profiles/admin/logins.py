"""Sign-in records and authenticators in the admin.

- django-axes' pages: failed logins, lockouts and sign-ins. Auditors (view permission) read them; nobody
  edits them, and the failure and sign-in logs are deleted by nobody here. Deleting an *access attempt*
  is how an administrator (delete permission) unlocks a username or an address.
- django-otp's authenticators: listed without their secrets (its own page shows the key and a QR code).
  An administrator may delete a lost one; `manage.py totp_enrol` makes a new one.
"""

from __future__ import annotations

from typing import Any

import axes.admin  # noqa: F401 (registers axes' admins, replaced below whatever the app order)
import django_otp.plugins.otp_totp.admin  # noqa: F401 (the same for django-otp's)
from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..logins.forms import AdminLoginForm
from .common import ReadOnlyAdmin

admin.site.login_form = AdminLoginForm


class LockoutAdmin(AccessAttemptAdmin):
    """Current failure counts per username, address and browser; deleting one unlocks it."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Clean up expired attempts"), permissions=["delete"])
    def cleanup_expired_attempts(self, request: HttpRequest, queryset: Any) -> None:
        # axes offers this to anyone who can see the list; it deletes, so it needs the delete permission.
        super().cleanup_expired_attempts(request, queryset)


class FailureLogAdmin(ReadOnlyAdmin, AccessFailureLogAdmin):
    """Every failed login, with whether it was refused because of a lockout."""


class SignInLogAdmin(ReadOnlyAdmin, AccessLogAdmin):
    """Every successful sign-in, and when it signed out."""


class ConfirmedFilter(admin.BooleanFieldListFilter):
    """django-otp's ``confirmed`` field has a plain English name; the filter's title translates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = gettext_lazy("confirmed")


class AuthenticatorAdmin(ReadOnlyAdmin):
    """Who has an authenticator, without its secret; superusers may delete a lost one. The columns are
    methods because django-otp's field names are plain English, which no catalogue translates."""

    list_display = ["owner", "device_name", "is_confirmed", "created", "last_used", "failed_codes"]
    list_filter = [("confirmed", ConfirmedFilter)]
    search_fields = ["user__username"]
    fields = list_display
    readonly_fields = list_display

    @admin.display(description=gettext_lazy("user"), ordering="user")
    def owner(self, device: TOTPDevice) -> Any:
        return device.user

    @admin.display(description=gettext_lazy("name"), ordering="name")
    def device_name(self, device: TOTPDevice) -> str:
        return device.name

    @admin.display(description=gettext_lazy("confirmed"), boolean=True, ordering="confirmed")
    def is_confirmed(self, device: TOTPDevice) -> bool:
        return device.confirmed

    @admin.display(description=gettext_lazy("created at"), ordering="created_at")
    def created(self, device: TOTPDevice) -> Any:
        return device.created_at

    @admin.display(description=gettext_lazy("last used at"), ordering="last_used_at")
    def last_used(self, device: TOTPDevice) -> Any:
        return device.last_used_at

    @admin.display(description=gettext_lazy("wrong codes in a row"), ordering="throttling_failure_count")
    def failed_codes(self, device: TOTPDevice) -> int:
        return device.throttling_failure_count

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin.ModelAdmin.has_delete_permission(self, request, obj)


for model, model_admin in (
    (AccessAttempt, LockoutAdmin), (AccessFailureLog, FailureLogAdmin), (AccessLog, SignInLogAdmin),
    (TOTPDevice, AuthenticatorAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
