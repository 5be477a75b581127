"""English and Simplified Chinese: the browser's language by default, a switch in the admin header that
each account remembers."""

import pytest
from django.urls import reverse

from profiles.models import StaffPreference

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.8"}


def test_the_login_page_follows_the_browsers_language(client):
    chinese = client.get(reverse("admin:login"), **ZH).content.decode()
    assert '<html lang="zh-hans"' in chinese
    assert "用户名" in chinese  # Django's own admin, translated
    english = client.get(reverse("admin:login"), **EN).content.decode()
    assert '<html lang="en"' in english and "Username" in english


def test_the_header_offers_both_languages(editor_client):
    page = editor_client.get(reverse("admin:index"), **EN).content.decode()
    assert 'id="language-switch"' in page
    assert 'value="zh-hans"' in page and "简体中文" in page and 'value="en"' in page


def test_a_chosen_language_is_remembered_for_the_account_over_the_browsers(client, cast):
    client.force_login(cast.editor)
    answer = client.post(reverse("set-language"), {"language": "zh-hans", "next": "/admin/profiles/"}, **EN)
    assert answer.status_code == 302 and answer["Location"] == "/admin/profiles/"
    assert StaffPreference.objects.get(user=cast.editor).language == "zh-hans"
    assert '<html lang="zh-hans"' in client.get(reverse("admin:index"), **EN).content.decode()
    # A new session (another device: no cookie) with an English browser: still Chinese after login.
    client.logout()
    client.cookies.clear()
    client.force_login(cast.editor)
    assert '<html lang="zh-hans"' in client.get(reverse("admin:index"), **EN).content.decode()
    # Another account is not affected.
    client.logout()
    client.cookies.clear()
    client.force_login(cast.auditor)
    assert '<html lang="en"' in client.get(reverse("admin:index"), **EN).content.decode()


def test_before_login_the_choice_lives_in_a_cookie(client):
    answer = client.post(reverse("set-language"), {"language": "zh-hans", "next": "/admin/login/"}, **EN)
    assert answer.status_code == 302
    assert '<html lang="zh-hans"' in client.get(reverse("admin:login"), **EN).content.decode()
    assert not StaffPreference.objects.exists()


def test_the_switch_refuses_unknown_languages_and_foreign_redirects(editor_client, cast):
    refused = editor_client.post(reverse("set-language"), {"language": "fr"})
    assert refused.status_code == 400 and b"not offered" in refused.content
    assert not StaffPreference.objects.exists()
    answer = editor_client.post(reverse("set-language"), {"language": "en", "next": "https://evil.example/"})
    assert answer["Location"] == "/admin/"
    assert editor_client.get(reverse("set-language")).status_code == 405
