"""Strings the libraries show on the admin's pages, marked for translation there but missing from their
Simplified Chinese: django-axes' sign-in record pages (it ships no Chinese at all) and a few of Django's
admin (the app list's headers for screen readers, newer than its Chinese catalogue). Listed here, exactly
as the libraries write them, so that makemessages keeps them in this app's catalogue: Django looks a
message up in every catalogue, LOCALE_PATHS first, so those pages come out in Chinese too. Nothing
imports this module.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

AXES_STRINGS = (
    # Models and their fields
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("Access Attempt"),
    gettext_noop("Access lock out"),
    gettext_noop("Attempt Time"),
    gettext_noop("Expires At"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("Failed Logins"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("HTTP Accept"),
    gettext_noop("IP Address"),
    gettext_noop("Logout Time"),
    gettext_noop("Path"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("User Agent"),
    gettext_noop("Username"),
    # The admin pages
    gettext_noop("Attempt Remaining"),
    gettext_noop("Form Data"),
    gettext_noop("Locked Out"),
    gettext_noop("Meta Data"),
    gettext_noop("Not set"),
)

DJANGO_ADMIN_STRINGS = (
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
)
