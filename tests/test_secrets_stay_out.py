"""UserSigs and the secret key never reach logs, audit rows, pages or exceptions."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from profiles import services
from profiles.im.emulator import Fault
from profiles.im.redact import RedactSecretsFilter, redact
from profiles.models import ImRequest

from .conftest import audited_db


def test_the_filter_redacts_a_usersig_in_a_log_line():
    record = logging.LogRecord("urllib3", logging.DEBUG, __file__, 1, '"POST /v4/x?usersig=%s&random=1"',
                               ("eJyrVkrOz*abc-def_",), None)
    RedactSecretsFilter().filter(record)
    assert "eJyrVkrOz" not in record.getMessage() and "usersig=[redacted]" in record.getMessage()
    assert redact("a usersig=abc b") == "a usersig=[redacted] b"


@audited_db
def test_a_failed_request_leaks_the_usersig_nowhere(emulator, remote_user, cast, client, caplog, settings):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    try:
        profile = remote_user("u_1")
        emulator.inject(Fault(kind="drop"))
        outcome = services.profile_push(profile=profile, values={"Tag_Profile_IM_Nick": "x"}, actor=None,
                                        source="command")
    finally:
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    usersig = services.im_client().usersig.get()
    assert not outcome.ok
    row = ImRequest.objects.get()
    stored = " ".join(str(v) for v in ImRequest.objects.values().get().values())
    assert usersig not in stored and settings.IM.secret_key not in stored
    assert usersig not in outcome.message
    client.force_login(cast.root)
    page = client.get(reverse("admin:profiles_imrequest_change", args=[row.pk])).content.decode()
    assert usersig not in page and settings.IM.secret_key not in page
    # Anything logged went through the project's handlers' redaction, or never held the URL.
    for record in caplog.records:
        RedactSecretsFilter().filter(record)
        assert usersig not in record.getMessage()


def test_the_im_settings_repr_hides_the_secret(settings):
    assert settings.IM.secret_key not in repr(settings.IM)
    with pytest.raises(AttributeError):
        settings.IM.secret_key = "x"  # frozen


def test_the_filter_redacts_a_callback_sign_in_an_access_log_line():
    line = '"POST /im/callback?SdkAppid=1&Sign=17773bc39a671d7b&RequestTime=1669872112 HTTP/1.1" 200'
    assert "17773bc39a671d7b" not in redact(line) and "Sign=[redacted]" in redact(line)
    assert "RequestTime=1669872112" in redact(line)


def test_runservers_access_log_goes_through_the_redacting_handler(settings):
    assert settings.LOGGING["loggers"]["django.server"]["handlers"] == ["console"]
    assert "redact_usersig" in settings.LOGGING["handlers"]["console"]["filters"]
