"""Opening any UserID from the admin (account_check, import on request, pull) and refreshing copies."""

from __future__ import annotations

import pytest
from django.urls import reverse

from profiles.im.client import ACCOUNT_CHECK, ACCOUNT_IMPORT, PORTRAIT_GET
from profiles.im.emulator import Fault
from profiles.models import ImRequest, Profile

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"
LEVEL = "Tag_Profile_IM_Level"
OPEN_URL = "admin:profiles_profile_open"
LIST_URL = "admin:profiles_profile_changelist"


def open_user(client, user_id: str, **extra):
    return client.post(reverse(OPEN_URL), {"user_id": user_id, **extra})


def commands_sent(emulator) -> list[str]:
    return [record.command for record in emulator.requests()]


@pytest.fixture
def root_client(client, cast):
    client.force_login(cast.root)
    return client


def test_opening_a_user_tencent_knows_creates_its_copy_and_goes_to_its_change_page(editor_client, emulator, cast,
                                                                                   messages_of):
    emulator.add_account("u_1", {NICK: "From Tencent", LEVEL: 9})
    response = open_user(editor_client, "u_1")
    profile = Profile.objects.get(user_id="u_1")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:profiles_profile_change", args=[profile.pk])
    assert profile.nick == "From Tencent" and profile.level == 9 and profile.last_pulled_at is not None
    rows = list(ImRequest.objects.order_by("id"))
    assert [row.command for row in rows] == [ACCOUNT_CHECK, PORTRAIT_GET]
    assert all(row.user_id == "u_1" and row.actor == cast.editor and row.source == "admin" for row in rows)
    assert all(row.state == ImRequest.State.OK and row.purpose == "open user" for row in rows)
    page = editor_client.get(response["Location"])
    assert any("Opened u_1" in message for message in messages_of(page))


def test_opening_a_user_with_a_local_copy_refreshes_it(editor_client, emulator, remote_user):
    profile = remote_user("u_1")
    emulator.set_as_user("u_1", {NICK: "changed in the app"})
    response = open_user(editor_client, "u_1")
    assert response["Location"] == reverse("admin:profiles_profile_change", args=[profile.pk])
    assert Profile.objects.get(pk=profile.pk).nick == "changed in the app"


def test_opening_a_user_tencent_does_not_know_goes_back_to_the_list_and_imports_nothing(editor_client, emulator,
                                                                                        messages_of):
    response = open_user(editor_client, "u_ghost")
    assert response.status_code == 302 and response["Location"] == reverse(LIST_URL)
    page = editor_client.get(response["Location"])
    assert any("no account 'u_ghost'" in message for message in messages_of(page))
    assert not Profile.objects.exists()
    assert commands_sent(emulator) == [ACCOUNT_CHECK]
    assert list(ImRequest.objects.values_list("command", flat=True)) == [ACCOUNT_CHECK]


def test_a_superuser_is_asked_to_confirm_the_import_then_the_account_is_imported(root_client, emulator, cast,
                                                                                 messages_of):
    asked = open_user(root_client, "u_ghost")
    assert asked.status_code == 200
    assert [t.name for t in asked.templates][0] == "admin/profiles/profile/import_confirm.html"
    page = asked.content.decode()
    assert "Import u_ghost" in page and 'name="import" value="1"' in page
    assert commands_sent(emulator) == [ACCOUNT_CHECK] and "u_ghost" not in emulator.state.accounts

    response = open_user(root_client, "u_ghost", **{"import": "1"})
    profile = Profile.objects.get(user_id="u_ghost")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:profiles_profile_change", args=[profile.pk])
    assert "u_ghost" in emulator.state.accounts
    import_requests = emulator.requests(ACCOUNT_IMPORT)
    assert len(import_requests) == 1 and import_requests[0].body == {"UserID": "u_ghost"}
    assert commands_sent(emulator) == [ACCOUNT_CHECK, ACCOUNT_CHECK, ACCOUNT_IMPORT, PORTRAIT_GET]
    import_row = ImRequest.objects.get(command=ACCOUNT_IMPORT)
    assert import_row.actor == cast.root and import_row.user_id == "u_ghost" and import_row.state == "ok"
    page = root_client.get(response["Location"])
    assert any("Imported and opened u_ghost" in message for message in messages_of(page))


def test_an_editor_without_the_import_permission_gets_403_and_nothing_is_imported(editor_client, emulator, cast):
    assert not cast.editor.has_perm("profiles.import_account")
    response = open_user(editor_client, "u_ghost", **{"import": "1"})
    assert response.status_code == 403
    assert emulator.requests() == [] and "u_ghost" not in emulator.state.accounts
    assert not Profile.objects.exists() and not ImRequest.objects.exists()


def test_the_import_is_not_offered_to_an_editor(editor_client, emulator):
    response = open_user(editor_client, "u_ghost")
    assert response.status_code == 302  # back to the list with an error, no confirmation page


@pytest.mark.parametrize(
    ("user_id", "problem"),
    [("x" * 33, "33 bytes"), ("ü", "printable ASCII"), ("u\t1", "printable ASCII"), ("", "required")],
    ids=["33-bytes", "non-ascii", "tab", "empty"],
)
def test_an_invalid_user_id_is_refused_with_the_reason_and_nothing_is_sent(editor_client, emulator, user_id, problem,
                                                                           messages_of):
    response = open_user(editor_client, user_id)
    assert response.status_code == 302 and response["Location"] == reverse(LIST_URL)
    shown = messages_of(editor_client.get(response["Location"]))
    assert any("Invalid UserID" in message and problem in message for message in shown), shown
    assert emulator.requests() == [] and not ImRequest.objects.exists() and not Profile.objects.exists()


def test_a_superuser_is_not_offered_to_import_an_invalid_user_id(root_client, emulator, messages_of):
    response = open_user(root_client, "ü")
    assert response.status_code == 302 and response["Location"] == reverse(LIST_URL)
    shown = messages_of(root_client.get(response["Location"]))
    assert any("Invalid UserID" in message for message in shown), shown
    assert emulator.requests() == []


def test_a_superuser_is_not_offered_to_import_when_tencent_did_not_answer(root_client, emulator, messages_of):
    emulator.inject(Fault(kind="http_status", http_status=502, command=ACCOUNT_CHECK))
    response = open_user(root_client, "u_1")
    assert response.status_code == 302 and response["Location"] == reverse(LIST_URL)
    shown = messages_of(root_client.get(response["Location"]))
    assert any("No answer from Tencent" in message and "HTTP 502" in message for message in shown), shown
    assert commands_sent(emulator) == [ACCOUNT_CHECK]


def test_an_invalid_user_id_sent_for_import_is_still_refused(root_client, emulator):
    response = open_user(root_client, "ü", **{"import": "1"})
    assert response.status_code == 302 and response["Location"] == reverse(LIST_URL)
    assert emulator.requests() == [] and not Profile.objects.exists()


def test_tencents_refusal_of_the_account_check_is_shown(editor_client, emulator, messages_of):
    emulator.inject(Fault(kind="error_code", error_code=40006, command=ACCOUNT_CHECK))
    response = open_user(editor_client, "u_1")
    assert response["Location"] == reverse(LIST_URL)
    shown = messages_of(editor_client.get(response["Location"]))
    assert any("ErrorCode 40006" in message for message in shown), shown
    assert not Profile.objects.exists()


def test_an_auditor_may_not_open_a_user(client, cast, emulator):
    client.force_login(cast.auditor)
    assert open_user(client, "u_1").status_code == 403
    assert emulator.requests() == []


def test_a_get_of_the_open_url_sends_nothing(editor_client, emulator):
    response = editor_client.get(reverse(OPEN_URL), {"user_id": "u_1"})
    assert response.status_code == 302 and emulator.requests() == []


def test_the_list_action_refreshes_the_selected_copies_from_tencent(editor_client, emulator, remote_user, cast,
                                                                    messages_of):
    first, second, untouched = remote_user("u_1"), remote_user("u_2"), remote_user("u_3")
    for profile in (first, second, untouched):
        emulator.set_as_user(profile.user_id, {NICK: f"new {profile.user_id}"})
    response = editor_client.post(
        reverse(LIST_URL),
        {"action": "refresh_from_tencent", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert any("Refreshed 2 profile(s) from Tencent in 1 call(s)" in m for m in messages_of(response))
    nicks = dict(Profile.objects.values_list("user_id", "nick"))
    assert nicks == {"u_1": "new u_1", "u_2": "new u_2", "u_3": "old nick"}
    row = ImRequest.objects.get(command=PORTRAIT_GET)
    assert row.actor == cast.editor and sorted(row.subjects.values_list("user_id", flat=True)) == ["u_1", "u_2"]


def test_the_list_action_names_the_users_it_could_not_refresh(editor_client, emulator, remote_user, messages_of):
    remote_user("u_1")
    gone = Profile.objects.create(user_id="u_gone")  # a local copy Tencent no longer knows
    response = editor_client.post(
        reverse(LIST_URL),
        {"action": "refresh_from_tencent", "_selected_action": [Profile.objects.get(user_id="u_1").pk, gone.pk]},
        follow=True,
    )
    shown = messages_of(response)
    assert any("1 failed" in m and "u_gone: ErrorCode 40003" in m for m in shown), shown


def test_an_auditor_cannot_run_the_refresh_action(client, cast, emulator, remote_user):
    profile = remote_user("u_1")
    client.force_login(cast.auditor)
    client.post(reverse(LIST_URL), {"action": "refresh_from_tencent", "_selected_action": [profile.pk]})
    assert emulator.requests() == []


def test_the_refresh_button_updates_the_copy_from_tencent(editor_client, emulator, remote_user):
    profile = remote_user("u_1", **{LEVEL: 1})
    emulator.set_as_user("u_1", {NICK: "renamed in the app", LEVEL: 2})
    response = editor_client.post(reverse("admin:profiles_profile_refresh", args=[profile.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:profiles_profile_change", args=[profile.pk])
    copy = Profile.objects.get(pk=profile.pk)
    assert copy.nick == "renamed in the app" and copy.level == 2 and copy.version == 1
    assert ImRequest.objects.get().command == PORTRAIT_GET


def test_the_refresh_button_shows_tencents_refusal(editor_client, emulator, remote_user, messages_of):
    profile = remote_user("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40006, command=PORTRAIT_GET))
    response = editor_client.post(reverse("admin:profiles_profile_refresh", args=[profile.pk]), follow=True)
    assert any("ErrorCode 40006" in m for m in messages_of(response))
    assert Profile.objects.get(pk=profile.pk).last_pulled_at is None


def test_an_auditor_may_not_refresh_a_copy(client, cast, emulator, remote_user):
    profile = remote_user("u_1")
    client.force_login(cast.auditor)
    assert client.post(reverse("admin:profiles_profile_refresh", args=[profile.pk])).status_code == 403
    assert emulator.requests() == []
