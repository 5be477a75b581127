"""Auditors read failed logins, lockouts and sign-ins in the admin and change nothing there; profile editors
do not see them; the failure and sign-in logs are deleted by nobody; authenticators are listed without secrets."""

from __future__ import annotations

from base64 import b32encode

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

AXES_MODELS = ("accessattempt", "accessfailurelog", "accesslog")


@pytest.fixture
def failures(cast, admin_login):
    """Two wrong passwords for the editor and one successful sign-in of the outsider."""
    for _ in range(2):
        admin_login(Client(), "editor", "wrong", REMOTE_ADDR="198.51.100.4")
    admin_login(Client(), "outsider", "pw-outsider")


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_reviewers_group_may_view_the_login_records_and_nothing_more():
    codenames = set(
        Group.objects.get(name="Audit reviewers").permissions.filter(content_type__app_label="axes")
        .values_list("codename", flat=True)
    )
    assert codenames == {f"view_{model}" for model in AXES_MODELS}


def test_an_auditor_lists_failures_lockouts_and_sign_ins(cast, failures):
    auditor = client_of(cast.auditor)
    for model in AXES_MODELS:
        page = auditor.get(reverse(f"admin:axes_{model}_changelist"))
        assert page.status_code == 200, model
    failure_page = auditor.get(reverse("admin:axes_accessfailurelog_changelist")).content.decode()
    assert failure_page.count("198.51.100.4") == 2 and "editor" in failure_page
    assert "outsider" in auditor.get(reverse("admin:axes_accesslog_changelist")).content.decode()


def test_the_auditor_can_change_or_delete_nothing_there(cast, failures):
    auditor = client_of(cast.auditor)
    attempt = AccessAttempt.objects.get()
    changelist = reverse("admin:axes_accessattempt_changelist")
    action_form = auditor.get(changelist).context["action_form"]
    assert action_form is None  # no action at all: both of the page's actions delete

    root_form = client_of(cast.root).get(changelist).context["action_form"]
    assert {"cleanup_expired_attempts", "delete_selected"} <= set(dict(root_form.fields["action"].choices))

    auditor.post(changelist, {"action": "cleanup_expired_attempts", "_selected_action": [attempt.pk]})
    delete_url = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert auditor.post(delete_url, {"post": "yes"}).status_code == 403
    detail = auditor.get(reverse("admin:axes_accessattempt_change", args=[attempt.pk]))
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()


def test_a_profile_editor_does_not_see_the_login_records(cast, failures):
    editor = client_of(cast.editor)
    for model in AXES_MODELS:
        assert editor.get(reverse(f"admin:axes_{model}_changelist")).status_code == 403, model


def test_nobody_deletes_the_failure_and_sign_in_logs_not_even_a_superuser(cast, failures):
    root = client_of(cast.root)
    signed_in_before = AccessLog.objects.count()
    failure = AccessFailureLog.objects.first()
    sign_in = AccessLog.objects.first()
    for url in (reverse("admin:axes_accessfailurelog_delete", args=[failure.pk]),
                reverse("admin:axes_accesslog_delete", args=[sign_in.pk])):
        assert root.post(url, {"post": "yes"}).status_code == 403
    assert AccessFailureLog.objects.count() == 2 and AccessLog.objects.count() == signed_in_before


def test_authenticators_are_listed_without_their_secret(cast):
    device = TOTPDevice.objects.create(user=cast.root, name="authenticator", confirmed=True)
    root = client_of(cast.root)
    secrets = (device.key, b32encode(device.bin_key).decode())

    listing = root.get(reverse("admin:otp_totp_totpdevice_changelist"))
    detail = root.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    assert listing.status_code == 200 and detail.status_code == 200 and "root" in listing.content.decode()
    for page in (listing, detail):
        assert not any(secret in page.content.decode() for secret in secrets)
    assert root.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403
    assert root.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code != 200
    # A lost authenticator can be deleted (then `totp_enrol` makes a new one).
    root.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"})
    assert not TOTPDevice.objects.exists()
