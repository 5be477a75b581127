"""Honest conflicts: the profile form says who changed the profile while the agent was editing it,
offers *Take Tencent's values* and *Keep mine*, and tells rather than scolds (no red error note)."""

from __future__ import annotations

import re
from html import unescape

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from profiles import services
from profiles.formconflicts import OVERWRITE_PURPOSE
from profiles.models import ExternalChange, ImRequest, Profile

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"
LEVEL = "Tag_Profile_IM_Level"


def text_of(response) -> str:
    """The page as a reader sees its text: tags stripped, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def conflict_rows(response) -> list[str]:
    page = response.content.decode()
    rows = re.findall(r'<tr class="conflict-row".*?</tr>', page, flags=re.S)
    return [re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", row))).strip() for row in rows]


def posted(response) -> dict[str, str]:
    """What the browser would post from the form a response re-showed (hidden fields included)."""
    form = response.context["adminform"].form
    return {key: value for key, value in form.data.items() if not key.startswith("_")}


def hhmm(moment) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


def test_a_change_the_user_made_in_their_app_is_a_conflict_that_names_them(
    editor_client, emulator, remote_user, change_url, form_data, app_callbacks, settings,
):
    settings.TIME_ZONE = "Asia/Shanghai"  # the reader's time zone, not UTC
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="agent's nick", level="5")
    emulator.set_as_user("u_1", {NICK: "changed in the app"}, platform="iOS")
    app_callbacks.wait()
    change = ExternalChange.objects.get()
    assert Profile.objects.get(pk=profile.pk).version == profile.version + 1  # the form is now stale

    response = editor_client.post(change_url(profile), data)

    assert response.status_code == 200
    assert conflict_rows(response) == [
        f"Nickname {NICK} old nick changed in the app agent's nick the user on iOS at {hhmm(change.event_time)}"
    ]
    page = response.content.decode()
    assert "Another agent" not in page and "errornote" not in page and "Please correct" not in page
    assert "<title>Error" not in page
    assert emulator.requests("profile/portrait_set") == []
    assert emulator.profile("u_1")[NICK] == "changed in the app"


def test_keep_mine_saves_the_agents_value_over_the_change_and_the_audit_row_says_so(
    editor_client, cast, emulator, remote_user, change_url, form_data, app_callbacks,
):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="agent's nick", level="5")
    emulator.set_as_user("u_1", {NICK: "changed in the app"}, platform="iOS")
    app_callbacks.wait()
    change = ExternalChange.objects.get()
    shown = editor_client.post(change_url(profile), data)
    assert conflict_rows(shown)

    response = editor_client.post(change_url(profile), {**posted(shown), "_keep_mine": "1"})

    assert response.status_code == 302
    assert emulator.profile("u_1")[NICK] == "agent's nick" and emulator.profile("u_1")[LEVEL] == 5
    row = ImRequest.objects.get(command="profile/portrait_set")
    assert row.purpose == OVERWRITE_PURPOSE and row.actor_username == "editor"
    assert row.changes == [
        {"tag": NICK, "before": "changed in the app", "after": "agent's nick"},
        {"tag": LEVEL, "before": None, "after": 5},
    ]
    assert "the user on iOS" in row.note and f"external change #{change.pk}" in row.note
    assert '"changed in the app"' in row.note and "\"agent's nick\"" in row.note

    # Auditors find it on the audit row's page and in the user's timeline.
    auditor = Client()
    auditor.force_login(cast.auditor)
    row_page = text_of(auditor.get(reverse("admin:profiles_imrequest_change", args=[row.pk])))
    assert OVERWRITE_PURPOSE in row_page and f"external change #{change.pk}" in row_page
    timeline = text_of(auditor.get(reverse("admin:profiles_profile_tencent_history", args=[profile.pk])))
    assert OVERWRITE_PURPOSE in timeline and "Kept the agent's values over a change made meanwhile" in timeline


def test_keep_mine_shows_the_table_again_when_tencent_changed_again(
    editor_client, emulator, remote_user, change_url, form_data, app_callbacks,
):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="agent's nick")
    emulator.set_as_user("u_1", {NICK: "first change"}, platform="iOS")
    app_callbacks.wait()
    shown = editor_client.post(change_url(profile), data)
    emulator.set_as_user("u_1", {NICK: "second change"}, platform="Android")
    app_callbacks.wait()
    second = ExternalChange.objects.order_by("-id").first()

    response = editor_client.post(change_url(profile), {**posted(shown), "_keep_mine": "1"})

    assert response.status_code == 200
    assert conflict_rows(response) == [
        f"Nickname {NICK} first change second change agent's nick the user on Android at {hhmm(second.event_time)}"
    ]
    assert emulator.requests("profile/portrait_set") == []
    # Keep mine again, over what the table shows now: sent.
    again = editor_client.post(change_url(profile), {**posted(response), "_keep_mine": "1"})
    assert again.status_code == 302 and emulator.profile("u_1")[NICK] == "agent's nick"
    assert f"external change #{second.pk}" in ImRequest.objects.get(command="profile/portrait_set").note


def test_take_tencents_values_reloads_the_changed_field_keeps_the_other_edit_and_is_no_error(
    editor_client, emulator, remote_user, change_url, form_data, app_callbacks,
):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="agent's nick", level="5")
    emulator.set_as_user("u_1", {NICK: "changed in the app"})
    app_callbacks.wait()
    shown = editor_client.post(change_url(profile), data)

    response = editor_client.post(change_url(profile), {**posted(shown), "_use_remote": "1"})

    form = response.context["adminform"].form
    assert form["nick"].value() == "changed in the app" and form["level"].value() == "5"
    page = response.content.decode()
    assert "errornote" not in page and 'id="conflicts"' not in page
    assert "Loaded Tencent's current values for Nickname" in text_of(response)
    saved = editor_client.post(change_url(profile), posted(response))
    assert saved.status_code == 302
    assert emulator.profile("u_1") == {NICK: "changed in the app", LEVEL: 5}


def test_a_colleagues_save_of_the_same_field_names_the_colleague(
    cast, emulator, remote_user, change_url, form_data,
):
    profile = remote_user("u_1")
    editor, colleague = Client(), Client()
    editor.force_login(cast.editor)
    colleague.force_login(cast.root)
    data = form_data(editor, profile, nick="editor's nick")
    assert colleague.post(change_url(profile), form_data(colleague, profile, nick="root's nick")).status_code == 302
    pushed = ImRequest.objects.get(command="profile/portrait_set")

    response = editor.post(change_url(profile), data)

    assert conflict_rows(response) == [
        f"Nickname {NICK} old nick root's nick editor's nick a colleague (root) at {hhmm(pushed.created_at)}"
    ]
    assert "Another agent" not in response.content.decode()


def test_the_same_agents_save_in_another_tab_is_named_as_theirs(
    editor_client, emulator, remote_user, change_url, form_data,
):
    profile = remote_user("u_1")
    first_tab = form_data(editor_client, profile, nick="from the first tab")
    second_tab = form_data(editor_client, profile, nick="second tab")
    assert editor_client.post(change_url(profile), second_tab).status_code == 302
    response = editor_client.post(change_url(profile), first_tab)
    assert conflict_rows(response)[0].endswith(
        f"you, in another tab or window, at {hhmm(ImRequest.objects.get(command='profile/portrait_set').created_at)}"
    )


def test_a_change_nobody_reported_is_named_by_the_refresh_that_found_it(
    cast, emulator, remote_user, change_url, form_data,
):
    profile = remote_user("u_1")
    editor, colleague = Client(), Client()
    editor.force_login(cast.editor)
    colleague.force_login(cast.root)
    data = form_data(editor, profile, nick="editor's nick")
    emulator.set_as_user("u_1", {NICK: "changed unseen"})  # no callback configured: nobody tells the app
    colleague.post(reverse("admin:profiles_profile_refresh", args=[profile.pk]))
    refresh = ImRequest.objects.get(command="profile/portrait_get", purpose="refresh")

    response = editor.post(change_url(profile), data)

    assert conflict_rows(response) == [
        f"Nickname {NICK} old nick changed unseen editor's nick someone outside this app; Tencent sent no notice "
        f"of it (found by a read from Tencent at {hhmm(refresh.created_at)}: refresh)"
    ]


def test_a_change_made_through_the_console_is_named_as_such(
    editor_client, emulator, remote_user, change_url, form_data, settings,
):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="agent's nick")
    emulator.add_account("u_1", {NICK: "set in the console"})
    change = services.external_change_record(
        user_id="u_1", items=[{"Tag": NICK, "Value": "set in the console"}],
        operator_account=settings.IM.admin_identifier, platform="RESTAPI", client_ip="203.0.113.9",
        event_time_ms=int(timezone.now().timestamp() * 1000), body={},
    )
    response = editor_client.post(change_url(profile), data)
    assert conflict_rows(response)[0].endswith(
        f"the Tencent console or another REST API tool (account {settings.IM.admin_identifier}) "
        f"at {hhmm(change.event_time)}"
    )


def test_the_conflict_table_mentions_changes_to_fields_the_agent_left_alone(
    editor_client, emulator, remote_user, change_url, form_data, app_callbacks,
):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="agent's nick")
    emulator.set_as_user("u_1", {NICK: "user's nick", LEVEL: 7}, platform="Web")
    app_callbacks.wait()
    response = editor_client.post(change_url(profile), data)
    assert len(conflict_rows(response)) == 1
    taken = re.search(r'<ul class="conflict-taken">(.*?)</ul>', response.content.decode(), flags=re.S).group(1)
    assert "Level: (not set) → 7" in unescape(taken) and "the user on Web" in taken
    assert response.context["adminform"].form["level"].value() == "7"  # taken into the form
    # Keep mine sends only the agent's field; the user's Level stays.
    assert editor_client.post(change_url(profile), {**posted(response), "_keep_mine": "1"}).status_code == 302
    assert emulator.profile("u_1") == {NICK: "agent's nick", LEVEL: 7}


def test_a_damaged_keep_mine_base_is_a_clear_error(editor_client, emulator, remote_user, change_url, form_data):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="agent's nick")
    response = editor_client.post(change_url(profile), {**data, "conflict_base": "{not json", "_keep_mine": "1"})
    assert response.status_code == 200
    assert "The form&#x27;s conflict details are damaged" in response.content.decode()
    assert emulator.requests("profile/portrait_set") == []


def test_last_read_from_tencent_shows_the_time_of_the_latest_refresh(editor_client, emulator, remote_user, change_url):
    profile = remote_user("u_1")
    refresh_url = reverse("admin:profiles_profile_refresh", args=[profile.pk])

    def last_read() -> str:
        page = editor_client.get(change_url(profile)).content.decode()
        return re.search(r'<p class="help" id="last-read">(.*?)</p>', page, flags=re.S).group(1)

    assert "never" in last_read()
    for _ in range(2):
        editor_client.post(refresh_url)
        pulled = Profile.objects.get(pk=profile.pk).last_pulled_at
        shown = last_read()
        local = timezone.localtime(pulled)
        assert f'datetime="{local.isoformat()}"' in shown and local.strftime("%Y-%m-%d %H:%M:%S") in shown


def test_refresh_asks_first_only_where_edits_would_be_lost(editor_client, emulator, remote_user, change_url,
                                                             form_data):
    profile = remote_user("u_1")
    page = editor_client.get(change_url(profile)).content.decode()
    refresh = re.search(r'<form[^>]*id="refresh-form"[^>]*>', page).group(0)
    assert 'data-confirm-text="Refreshing from Tencent reloads this page: your unsaved edits will be lost.' in refresh
    assert 'data-confirm-unsaved="profile_form"' in refresh and "data-unsaved-edits" not in refresh
    assert "profiles/conflicts.js" in page and "style=" not in refresh

    emulator.set_as_user("u_1", {NICK: "changed in the app"})
    shown = editor_client.post(change_url(profile), form_data(editor_client, profile, nick="agent's nick"))
    refresh = re.search(r'<form[^>]*id="refresh-form"[^>]*>', shown.content.decode()).group(0)
    assert 'data-unsaved-edits="1"' in refresh


def test_a_stale_push_with_a_starting_point_lets_tencent_decide(emulator, remote_user):
    profile = remote_user("u_1")
    opened = Profile.objects.get(pk=profile.pk)
    services.local_copies_store([services.CopyUpdate("u_1", {LEVEL: 9})])  # a change meanwhile, elsewhere
    emulator.add_account("u_1", {LEVEL: 9})
    outcome = services.profile_push(
        profile=opened, values={NICK: "new"}, actor=None, source="admin",
        started_from={NICK: "old nick", LEVEL: None}, expected_version=opened.version,
    )
    assert outcome.ok and outcome.stale and outcome.pushed == [NICK]
    assert emulator.profile("u_1") == {NICK: "new", LEVEL: 9}
