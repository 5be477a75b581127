"""What a profile editor sees of colleagues' work: their changes to a user on that user's timeline,
read-only; their audit rows themselves stay closed, with a 403 that says so (a missing row still
says it does not exist)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from profiles import services
from profiles.models import ImRequest, Profile

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"
TIMELINE_URL = reverse("admin:profiles_imrequest_timeline")


def row_url(row: ImRequest, view: str = "change") -> str:
    return reverse(f"admin:profiles_imrequest_{view}", args=[row.pk])


@pytest.fixture
def colleague(django_user_model):
    user = django_user_model.objects.create_user("colleague", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=services.EDITORS_GROUP))
    return user


@pytest.fixture
def work(emulator, remote_user, cast, colleague):
    """On u_1: the colleague changed the nick, then read the profile; the editor changed it again."""
    profile = remote_user("u_1")
    theirs = services.profile_push(profile=profile, values={NICK: "by colleague"}, actor=colleague, source="admin")
    services.profile_pull(user_ids=["u_1"], actor=colleague, source="admin")
    profile.refresh_from_db()
    mine = services.profile_push(profile=profile, values={NICK: "by editor"}, actor=cast.editor, source="admin")
    assert theirs.ok and mine.ok
    return {"theirs": theirs.audit, "mine": mine.audit, "read": ImRequest.objects.get(command="profile/portrait_get")}


def test_an_editor_sees_a_colleagues_change_on_the_users_timeline_without_a_way_into_it(client, cast, work):
    client.force_login(cast.editor)
    response = client.get(TIMELINE_URL, {"user_id": "u_1"})
    entries = {entry.request.pk: entry for entry in response.context["entries"] if entry.request}
    assert set(entries) == {work["mine"].pk, work["theirs"].pk}  # the colleague's read is not a change
    assert entries[work["mine"].pk].may_open and not entries[work["theirs"].pk].may_open
    page = response.content.decode()
    assert '<span title="Tag_Profile_IM_Nick">Nickname</span>: old nick → by colleague' in page
    assert "a colleague's request: read-only" in page
    assert row_url(work["mine"]) in page
    assert row_url(work["theirs"]) not in page
    assert "Your own requests and your colleagues' changes to this user are shown" in page


def test_the_profile_pages_timeline_shows_the_colleagues_change_too(client, cast, work):
    client.force_login(cast.editor)
    url = reverse("admin:profiles_profile_tencent_history", args=[Profile.objects.get(user_id="u_1").pk])
    assert work["theirs"].pk in [entry.request.pk for entry in client.get(url).context["entries"] if entry.request]


def test_the_audit_list_still_shows_an_editor_only_their_own_requests(client, cast, work):
    client.force_login(cast.editor)
    listed = client.get(reverse("admin:profiles_imrequest_changelist")).context["cl"].result_list
    assert [row.pk for row in listed] == [work["mine"].pk]


def test_an_auditor_opens_every_entry_of_the_timeline(client, cast, work):
    client.force_login(cast.auditor)
    response = client.get(TIMELINE_URL, {"user_id": "u_1"})
    assert all(entry.may_open for entry in response.context["entries"])
    assert len(response.context["entries"]) == 3
    for row in work.values():
        assert row_url(row) in response.content.decode()
        assert client.get(row_url(row)).status_code == 200


@pytest.mark.parametrize("view", ["change", "history", "revert"])
def test_an_editor_opening_a_colleagues_row_is_told_they_may_not(client, cast, work, view):
    client.force_login(cast.editor)
    response = client.get(row_url(work["theirs"], view))
    assert response.status_code == 403
    page = response.content.decode()
    assert "You do not have permission to view this request." in page
    assert "by colleague" not in page and "doesn" not in page


def test_an_editor_opens_their_own_row(client, cast, work):
    client.force_login(cast.editor)
    assert client.get(row_url(work["mine"])).status_code == 200


def test_a_row_that_does_not_exist_is_still_reported_missing(client, cast, work, messages_of):
    client.force_login(cast.editor)
    missing = max(row.pk for row in work.values()) + 100
    response = client.get(reverse("admin:profiles_imrequest_change", args=[missing]), follow=True)
    assert response.redirect_chain and response.status_code == 200
    assert any("doesn’t exist" in message for message in messages_of(response))
    assert client.get(reverse("admin:profiles_imrequest_revert", args=[missing])).status_code == 404


def test_staff_without_the_audit_view_permission_get_djangos_refusal(client, cast, work):
    client.force_login(cast.outsider)
    response = client.get(row_url(work["theirs"]))
    assert response.status_code == 403
    assert "You do not have permission to view this request." not in response.content.decode()
