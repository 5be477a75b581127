"""Repeated failed logins lock out the username and, separately, the address (django-axes), with a clear
message, until the cool-off passes or an administrator unlocks; every failure is recorded, no password."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from profiles.im.callback import CALLBACK_COMMAND, callback_sign
from profiles.logins.clientip import client_ip_address

from .conftest import audited_db

pytestmark = pytest.mark.django_db

LOCKOUT = (
    "Too many failed logins for this account or address; try again in 15 minutes "
    "or ask an administrator to unlock it."
)
WRONG = "Please enter the correct username and password"


def assert_locked_out(response) -> None:
    assert response.status_code == 429
    assert LOCKOUT in response.content.decode()


def lock_username(admin_login, client, username: str = "editor", **meta) -> None:
    """Five wrong passwords for ``username``; the fifth locks it."""
    for attempt in range(4):
        response = admin_login(client, username, f"wrong-{attempt}", **meta)
        assert response.status_code == 200 and WRONG in response.content.decode()
    assert_locked_out(admin_login(client, username, "wrong-4", **meta))


def test_five_wrong_passwords_lock_the_account_and_even_the_right_password_is_refused(
    client, cast, admin_login, signed_in
):
    lock_username(admin_login, client)

    assert_locked_out(admin_login(client, "editor", "wrong-5"))
    right = admin_login(client, "editor", "pw-editor")
    assert_locked_out(right)
    assert not signed_in(client)
    # The page is the admin's, without a form to try again, and needs no inline script or style (CSP).
    page = right.content.decode()
    assert 'id="login-form"' not in page and reverse("admin:login") in page
    assert "<style" not in page and "style=" not in page and "<script>" not in page


def test_five_failures_from_one_address_lock_it_for_every_username(client, cast, admin_login, signed_in):
    for username in ("root", "auditor", "outsider", "nobody", "ghost"):
        admin_login(client, username, "wrong")

    assert_locked_out(admin_login(client, "editor", "pw-editor"))
    assert not signed_in(client)
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert admin_login(elsewhere, "editor", "pw-editor").status_code == 302
    assert signed_in(elsewhere)


def test_five_failures_for_one_username_lock_it_from_every_address(client, cast, admin_login):
    for n in range(5):
        admin_login(Client(), "editor", "wrong", REMOTE_ADDR=f"198.51.100.{n + 1}")

    assert_locked_out(admin_login(Client(), "editor", "pw-editor", REMOTE_ADDR="203.0.113.50"))
    assert admin_login(Client(), "auditor", "pw-auditor", REMOTE_ADDR="203.0.113.50").status_code == 302


def test_a_forged_forwarded_for_header_does_not_dodge_the_address_lockout(client, cast, admin_login):
    for n in range(5):
        admin_login(client, f"user{n}", "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    assert_locked_out(admin_login(client, "editor", "pw-editor", HTTP_X_FORWARDED_FOR="203.0.113.99"))
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_behind_a_configured_proxy_the_address_it_appends_is_counted(client, cast, admin_login, settings):
    settings.LOGIN_CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.LOGIN_TRUSTED_PROXIES = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(5):
        # The client writes its own entries first; the proxy appends the address it saw.
        admin_login(client, f"user{n}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.20", **proxy)

    assert_locked_out(admin_login(client, "editor", "pw-editor", HTTP_X_FORWARDED_FOR="198.51.100.20", **proxy))
    other_client = admin_login(Client(), "editor", "pw-editor", HTTP_X_FORWARDED_FOR="198.51.100.21", **proxy)
    assert other_client.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.20"}


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "counted"),
    [
        (1, "198.51.100.20", "198.51.100.20"),
        (2, "192.0.2.1, 198.51.100.20, 10.0.0.2", "198.51.100.20"),  # the client's own entry is never read
        (1, "", "10.0.0.1"),  # not through the proxy: the connection's address
        (2, "198.51.100.20", "10.0.0.1"),  # fewer entries than proxies: the same
        (2, "192.0.2.1, not-an-address, 10.0.0.2", "10.0.0.1"),
    ],
)
def test_the_client_address_is_the_entry_the_trusted_proxies_vouch_for(settings, proxies, forwarded_for, counted):
    settings.LOGIN_CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.LOGIN_TRUSTED_PROXIES = proxies
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_ip_address(request) == counted


def test_without_a_configured_header_only_the_connection_counts(settings):
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert client_ip_address(request) == "10.0.0.1"


def test_after_the_cool_off_the_right_password_works_again(client, cast, admin_login, signed_in):
    lock_username(admin_login, client)

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=14))
    assert_locked_out(admin_login(client, "editor", "pw-editor"))  # not yet; and the wait starts again

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=5))
    assert admin_login(client, "editor", "pw-editor").status_code == 302
    assert signed_in(client)


def test_an_administrator_unlocks_a_username_in_the_admin(client, cast, admin_login, signed_in):
    lock_username(admin_login, client)
    admin_client = Client()
    admin_client.force_login(cast.root)
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = admin_client.get(changelist)
    assert page.status_code == 200 and "editor" in page.content.decode()

    response = admin_client.post(changelist, {
        "action": "delete_selected", "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True)),
        "post": "yes",
    })
    assert response.status_code == 302 and not AccessAttempt.objects.exists()

    assert admin_login(client, "editor", "pw-editor").status_code == 302
    assert signed_in(client)
    assert AccessFailureLog.objects.filter(username="editor").count() == 5  # the record stays


def test_the_reset_commands_unlock_a_username_and_an_address(client, cast, admin_login):
    lock_username(admin_login, client)
    call_command("axes_reset_username", "editor")
    assert admin_login(client, "editor", "pw-editor").status_code == 302

    for username in ("a", "b", "c", "d", "e"):
        admin_login(Client(), username, "wrong")
    assert_locked_out(admin_login(Client(), "auditor", "pw-auditor"))
    call_command("axes_reset_ip", "127.0.0.1")
    assert admin_login(Client(), "auditor", "pw-auditor").status_code == 302


def test_every_failure_and_lockout_is_recorded(client, cast, admin_login):
    lock_username(admin_login, client)
    admin_login(client, "editor", "pw-editor")

    failures = list(AccessFailureLog.objects.order_by("id").values_list("username", "ip_address", "locked_out"))
    assert failures == [("editor", "127.0.0.1", False)] * 4 + [("editor", "127.0.0.1", True)] * 2
    assert AccessAttempt.objects.get().failures_since_start == 6


def test_no_submitted_password_is_stored_or_logged(client, cast, admin_login, caplog):
    secret = "Tr0ub4dor-and-3-horses"
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="axes")
    for _ in range(5):
        admin_login(client, "editor", secret)
    admin_login(client, "editor", "pw-editor")
    admin_login(Client(), "auditor", "pw-auditor", REMOTE_ADDR="198.51.100.9")

    stored = [
        json.dumps(list(model.objects.values()), default=str)
        for model in (AccessAttempt, AccessFailureLog, AccessLog)
    ]
    assert "password=********************" in stored[0]  # the form data is kept, masked
    assert AccessLog.objects.filter(username="auditor").exists()
    for text in [*stored, caplog.text]:
        assert secret not in text and "pw-editor" not in text and "pw-auditor" not in text


@audited_db
def test_the_webhook_still_answers_an_address_that_is_locked_out(client, cast, admin_login, settings):
    for username in ("a", "b", "c", "d", "e"):
        admin_login(client, username, "wrong")
    assert_locked_out(admin_login(client, "editor", "pw-editor"))

    settings.IM_CALLBACK_TOKEN = "lockout-test-token"
    sent_at = int(time.time())
    query = {
        "SdkAppid": str(settings.IM.sdkappid), "CallbackCommand": CALLBACK_COMMAND, "contenttype": "json",
        "ClientIP": "203.0.113.9", "OptPlatform": "iOS", "RequestTime": str(sent_at),
        "Sign": callback_sign("lockout-test-token", sent_at),
    }
    body = {
        "CallbackCommand": CALLBACK_COMMAND, "Operator_Account": "u_1", "From_Account": "u_1",
        "EventTime": 1_700_000_000_123, "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "set in the app"}],
    }
    response = client.post(f"/im/callback?{urlencode(query)}", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200 and response.json()["ActionStatus"] == "OK"
