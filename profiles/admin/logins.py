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
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..logins.forms import AdminLoginForm
from .common import ReadOnlyAdmin

admin.site.login_form = AdminLoginForm


class LockoutAdmin(AccessAttemptAdmin):
    """Current failure counts per username, address and browser; deleting one unlocks it."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request: HttpRequest, queryset: Any) -> None:
        # axes offers this to anyone who can see the list; it deletes, so it needs the delete permission.
        super().cleanup_expired_attempts(request, queryset)


class FailureLogAdmin(ReadOnlyAdmin, AccessFailureLogAdmin):
    """Every failed login, with whether it was refused because of a lockout."""


class SignInLogAdmin(ReadOnlyAdmin, AccessLogAdmin):
    """Every successful sign-in, and when it signed out."""


class AuthenticatorAdmin(ReadOnlyAdmin):
    """Who has an authenticator, without its secret; superusers may delete a lost one."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count"]
    list_filter = ["confirmed"]
    search_fields = ["user__username"]
    fields = list_display
    readonly_fields = list_display

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin.ModelAdmin.has_delete_permission(self, request, obj)


for model, model_admin in (
    (AccessAttempt, LockoutAdmin), (AccessFailureLog, FailureLogAdmin), (AccessLog, SignInLogAdmin),
    (TOTPDevice, AuthenticatorAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
