"""The admin's login form: username and password, then an authentication code for the staff that
``REQUIRE_TWO_FACTOR`` names. A wrong or missing code is a failed login for django-axes too."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed

from ..services import twofactor

_KIND_WORDS = {"superusers": "superusers", "reviewers": "audit reviewers", "editors": "profile editors"}


def _who_needs_a_code() -> str:
    kinds = settings.REQUIRE_TWO_FACTOR
    if "all" in kinds:
        return "every staff account"
    return " and ".join(_KIND_WORDS[kind] for kind in kinds)


class AdminLoginForm(AdminAuthenticationForm):
    otp_token = forms.CharField(
        label="Authentication code", required=False, max_length=16, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if settings.REQUIRE_TWO_FACTOR:
            self.fields["otp_token"].help_text = (
                f"The 6 digits your authenticator app shows; needed for {_who_needs_a_code()}."
            )
        else:
            del self.fields["otp_token"]

    def clean(self) -> dict[str, Any]:
        # The password first (django-axes refuses a locked-out username or address there), then the code.
        cleaned = super().clean()
        user = self.get_user()
        if user is None or not twofactor.two_factor_required(user):
            return cleaned
        check = twofactor.totp_check(user=user, code=cleaned.get("otp_token", ""))
        if check.device is None:
            if check.counts_as_failure:
                # Django signals a failure only for a wrong password; this one counts the same for axes.
                user_login_failed.send(
                    sender=__name__, credentials={"username": cleaned.get("username")}, request=self.request
                )
            self.user_cache = None
            raise forms.ValidationError(check.refusal, code="otp_refused")
        # django-otp's documented hand-over: its user_logged_in receiver marks the session as verified
        # with the device found on the user being logged in.
        user.otp_device = check.device
        return cleaned
