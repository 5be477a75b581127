"""A signed-in session unused for SESSION_IDLE_MINUTES is signed out; one in use stays, and its last
activity is written at most once a minute."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.urls import reverse

from profiles.logins.middleware import LAST_ACTIVITY_KEY

pytestmark = pytest.mark.django_db


def last_active(client, seconds_ago: int) -> None:
    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - seconds_ago
    session.save()


def test_a_session_idle_longer_than_the_limit_is_sent_to_the_login_page(editor_client, messages_of):
    assert editor_client.get(reverse("admin:index")).status_code == 200
    last_active(editor_client, settings.SESSION_IDLE_MINUTES * 60 + 5)

    response = editor_client.get(reverse("admin:profiles_profile_changelist"))
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))
    login_page = editor_client.get(response.url)
    assert "You were signed out after 30 minutes without activity." in messages_of(login_page)
    assert editor_client.get(reverse("admin:index")).status_code == 302  # signed out, not just redirected once


def test_a_recently_used_session_stays_and_its_activity_is_refreshed(editor_client):
    assert editor_client.get(reverse("admin:index")).status_code == 200
    last_active(editor_client, settings.SESSION_IDLE_MINUTES * 60 - 60)

    assert editor_client.get(reverse("admin:profiles_profile_changelist")).status_code == 200
    assert int(time.time()) - editor_client.session[LAST_ACTIVITY_KEY] < 5


def test_the_activity_is_not_rewritten_on_every_request(editor_client):
    editor_client.get(reverse("admin:index"))
    assert int(time.time()) - editor_client.session[LAST_ACTIVITY_KEY] < 5
    last_active(editor_client, 20)
    written = editor_client.session[LAST_ACTIVITY_KEY]

    editor_client.get(reverse("admin:index"))
    assert editor_client.session[LAST_ACTIVITY_KEY] == written


def test_the_stored_session_and_its_cookie_expire_after_the_idle_time():
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_MINUTES * 60 == 30 * 60
