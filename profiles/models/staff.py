"""What the app remembers about each staff account beyond Django's own user: the language they chose."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StaffPreference(models.Model):
    """One row per staff account that chose a language in the admin header; without one, the browser's
    language decides."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="improfile_preference",
        verbose_name=_("user"),
    )
    # A code from settings.LANGUAGES (checked by services.preferences); no choices here, so offering a
    # language more needs no migration.
    language = models.CharField(_("language"), max_length=16)

    class Meta:
        verbose_name = _("staff preference")
        verbose_name_plural = _("staff preferences")

    def __str__(self) -> str:
        return f"{self.user} ({self.language})"
