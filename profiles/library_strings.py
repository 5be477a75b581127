"""Strings that django-axes shows on the admin's sign-in record pages, which it marks for translation but
ships in no Simplified Chinese. Listed here, exactly as the library writes them, so that makemessages
keeps them in this app's catalogue: Django looks a message up in every catalogue, LOCALE_PATHS first,
so the library's pages come out in Chinese too. Nothing imports this module.
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
