"""Two-factor sign-in (TOTP, django-otp): one setting, REQUIRE_TWO_FACTOR, makes superusers and reviewers give an
authentication code after their password; `totp_enrol` gives them an authenticator; wrong codes count as failed
logins; others are not asked."""

from __future__ import annotations

import logging
from base64 import b32encode
from io import StringIO

import pytest
from axes.models import AccessFailureLog
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

CODE_FIELD = 'name="otp_token"'


@pytest.fixture
def two_factor(settings):
    settings.REQUIRE_TWO_FACTOR = ["superusers", "reviewers"]


@pytest.fixture
def enrol():
    """Enrol a user's authenticator with the command, as an operator does; the device made."""

    def run(username: str) -> TOTPDevice:
        call_command("totp_enrol", username, stdout=StringIO())
        return TOTPDevice.objects.get(user__username=username)

    return run


def code_of(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """What the user's authenticator app shows now (or ``steps_ahead`` 30-second steps from now)."""
    device.refresh_from_db()
    return f"{totp(device.bin_key, drift=steps_ahead):0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    right = {code_of(device, steps_ahead=step) for step in (-1, 0, 1)}
    return next(candidate for candidate in ("000000", "111111", "222222", "333333") if candidate not in right)


def refused(response, words: str) -> bool:
    return response.status_code == 200 and words in response.content.decode()


def test_a_superuser_with_the_right_password_but_no_code_is_refused(client, cast, two_factor, enrol, admin_login,
                                                                    signed_in):
    enrol("root")
    response = admin_login(client, "root", "pw-root")
    assert refused(response, "Enter the authentication code from your authenticator app.")
    assert not signed_in(client)
    assert AccessFailureLog.objects.filter(username="root").count() == 1  # a failed login for axes


def test_a_superuser_with_a_wrong_code_is_refused(client, cast, two_factor, enrol, admin_login, signed_in):
    device = enrol("root")
    response = admin_login(client, "root", "pw-root", code=wrong_code(device))
    assert refused(response, "That authentication code is wrong or was already used")
    assert not signed_in(client)


def test_a_superuser_with_the_right_code_gets_in_verified(client, cast, two_factor, enrol, admin_login, signed_in):
    device = enrol("root")
    page = client.get(reverse("admin:login")).content.decode()
    assert CODE_FIELD in page and "needed for superusers and audit reviewers" in page

    response = admin_login(client, "root", "pw-root", code=code_of(device))
    assert response.status_code == 302 and response.url == "/admin/"
    assert signed_in(client)
    assert client.session["otp_device_id"] == device.persistent_id


def test_a_code_is_accepted_once(client, cast, two_factor, enrol, admin_login):
    device = enrol("root")
    code = code_of(device)
    assert admin_login(client, "root", "pw-root", code=code).status_code == 302
    assert refused(admin_login(Client(), "root", "pw-root", code=code), "wrong or was already used")


def test_a_reviewer_is_asked_too(client, cast, two_factor, enrol, admin_login, signed_in):
    device = enrol("auditor")
    assert refused(admin_login(client, "auditor", "pw-auditor"), "Enter the authentication code")
    assert admin_login(client, "auditor", "pw-auditor", code=code_of(device)).status_code == 302
    assert signed_in(client)


def test_an_editor_is_not_asked(client, cast, two_factor, admin_login, signed_in):
    assert CODE_FIELD in client.get(reverse("admin:login")).content.decode()  # shown, left empty
    assert admin_login(client, "editor", "pw-editor").status_code == 302
    assert signed_in(client)


def test_with_the_setting_off_nobody_is_asked(client, cast, enrol, admin_login, signed_in):
    enrol("root")
    assert CODE_FIELD not in client.get(reverse("admin:login")).content.decode()
    assert admin_login(client, "root", "pw-root").status_code == 302
    assert signed_in(client)


def test_wrong_codes_count_as_failed_logins_and_lock_out(client, cast, two_factor, enrol, admin_login, signed_in):
    device = enrol("root")
    for _ in range(4):
        assert admin_login(client, "root", "pw-root", code=wrong_code(device)).status_code == 200
    fifth = admin_login(client, "root", "pw-root", code=wrong_code(device))
    assert fifth.status_code == 429 and "Too many failed logins" in fifth.content.decode()

    device.throttle_reset()  # django-otp's own wait after wrong codes is not what refuses here
    assert admin_login(client, "root", "pw-root", code=code_of(device)).status_code == 429
    assert not signed_in(client)


def test_someone_who_must_give_a_code_but_has_no_authenticator_is_told_how_to_get_one(
    client, cast, two_factor, admin_login, signed_in
):
    response = admin_login(client, "root", "pw-root", code="123456")
    assert refused(response, "no authenticator is enrolled for it")
    assert "manage.py totp_enrol root" in response.content.decode()
    assert not signed_in(client)
    assert not AccessFailureLog.objects.exists()  # not a guess at a code


def test_a_session_signed_in_without_a_code_is_signed_out_once_the_setting_covers_it(client, cast, two_factor):
    client.force_login(cast.root)  # e.g. signed in before REQUIRE_TWO_FACTOR was set
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))
    assert client.get(reverse("admin:index")).status_code == 302

    client.force_login(cast.editor)  # not covered: stays
    assert client.get(reverse("admin:index")).status_code == 200


def test_totp_enrol_prints_the_uri_once_and_logs_no_secret(cast, caplog):
    caplog.set_level(logging.DEBUG)
    out = StringIO()
    call_command("totp_enrol", "root", stdout=out)
    device = TOTPDevice.objects.get(user=cast.root)
    secret = b32encode(device.bin_key).decode()
    assert device.confirmed
    assert f"otpauth://totp/improfile%3Aroot?secret={secret}" in out.getvalue()
    assert secret not in caplog.text and device.key not in caplog.text


def test_totp_enrol_replaces_an_authenticator_only_when_asked(cast):
    call_command("totp_enrol", "root", stdout=StringIO())
    first = TOTPDevice.objects.get(user=cast.root)
    with pytest.raises(CommandError, match="'root' already has an authenticator; --replace"):
        call_command("totp_enrol", "root", stdout=StringIO())
    call_command("totp_enrol", "root", "--replace", stdout=StringIO())
    second = TOTPDevice.objects.get(user=cast.root)
    assert second.pk != first.pk and second.key != first.key


def test_totp_enrol_names_what_is_wrong(cast, django_user_model):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("totp_enrol", "ghost", stdout=StringIO())
    django_user_model.objects.create_user(username="customer", password="x")
    with pytest.raises(CommandError, match="'customer' is not an active staff user"):
        call_command("totp_enrol", "customer", stdout=StringIO())
    assert not TOTPDevice.objects.exists()
