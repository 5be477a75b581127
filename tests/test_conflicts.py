"""No lost updates: a change made in Tencent meanwhile, or by another agent, is never overwritten."""

from __future__ import annotations

from django.urls import reverse

from profiles import services
from profiles.models import ImRequest, Profile

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"


def push(profile, started_from, **values):
    return services.profile_push(
        profile=profile, values=values, actor=None, source=ImRequest.Source.COMMAND, started_from=started_from,
    )


def test_a_change_made_in_tencent_meanwhile_stops_the_push(emulator, remote_user):
    profile = remote_user("u_1")
    started = {NICK: "old nick"}
    emulator.set_as_user("u_1", {NICK: "changed in the app"})
    outcome = push(profile, started, **{NICK: "agent's nick"})
    assert not outcome.ok and not outcome.pushed
    assert [(c.tag, c.started, c.remote, c.yours) for c in outcome.conflicts] == [
        (NICK, "old nick", "changed in the app", "agent's nick")
    ]
    assert emulator.requests("profile/portrait_set") == []
    assert len(emulator.requests("profile/portrait_get")) == 1  # the compare costs one call
    assert emulator.profile("u_1")[NICK] == "changed in the app"
    # The local copy now shows what Tencent has.
    assert Profile.objects.get(user_id="u_1").nick == "changed in the app"


def test_without_a_change_meanwhile_the_push_goes_through_with_tencents_before_value(emulator, remote_user):
    profile = remote_user("u_1")
    outcome = push(profile, {NICK: "old nick"}, **{NICK: "new"})
    assert outcome.ok and outcome.pushed == [NICK]
    row = ImRequest.objects.get(command="profile/portrait_set")
    assert row.changes == [{"tag": NICK, "before": "old nick", "after": "new"}]
    assert ImRequest.objects.filter(command="profile/portrait_get", user_id="u_1").count() == 1


def test_a_tag_tencent_already_holds_is_not_sent(emulator, remote_user):
    profile = remote_user("u_1")
    emulator.set_as_user("u_1", {NICK: "same idea"})
    outcome = push(profile, {NICK: "old nick"}, **{NICK: "same idea"})
    assert outcome.ok and not outcome.pushed
    assert emulator.requests("profile/portrait_set") == []


def test_a_change_to_another_tag_meanwhile_is_no_conflict(emulator, remote_user):
    profile = remote_user("u_1")
    emulator.set_as_user("u_1", {"Tag_Profile_IM_Level": 9})
    outcome = push(profile, {NICK: "old nick", "Tag_Profile_IM_Level": None}, **{NICK: "new"})
    assert outcome.ok and outcome.pushed == [NICK]
    assert emulator.profile("u_1")["Tag_Profile_IM_Level"] == 9


def test_the_form_shows_the_conflict_and_reloads_tencents_values(editor_client, emulator, remote_user, change_url,
                                                                 form_data):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="agent's nick", level="5")
    emulator.set_as_user("u_1", {NICK: "changed in the app"})

    response = editor_client.post(change_url(profile), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="conflicts"' in page
    row = page[page.index('class="conflict-row"'):]
    row = row[: row.index("</tr>")]
    for value in (NICK, "old nick", "changed in the app", "agent&#x27;s nick"):
        assert value in row
    assert "agent&#x27;s nick" in page and not any(
        "changed successfully" in str(m) for m in response.context["messages"]
    )
    assert emulator.requests("profile/portrait_set") == []

    # One click: Tencent's value in the conflicting field, the agent's other edit kept.
    response = editor_client.post(change_url(profile), {**data, "_use_remote": "1"})
    form = response.context["adminform"].form
    assert form["nick"].value() == "changed in the app"
    assert form["level"].value() == "5"
    assert emulator.requests("profile/portrait_set") == []

    # Saving the reloaded form now pushes only the agent's remaining edit.
    reloaded = {key: form[key].value() for key in data if key in form.fields}
    reloaded = {key: "" if value is None else str(value) for key, value in reloaded.items()}
    response = editor_client.post(change_url(profile), reloaded, follow=True)
    assert response.status_code == 200 and "adminform" not in (response.context or {})
    sent = emulator.requests("profile/portrait_set")
    assert len(sent) == 1 and sent[0].body["ProfileItem"] == [{"Tag": "Tag_Profile_IM_Level", "Value": 5}]
    assert emulator.profile("u_1")[NICK] == "changed in the app"


def test_a_second_agent_saving_another_field_keeps_the_first_agents_change(
    client, cast, emulator, remote_user, change_url, form_data, messages_of,
):
    from django.test import Client

    profile = remote_user("u_1")
    first, second = Client(), Client()
    first.force_login(cast.editor)
    second.force_login(cast.root)
    first_data = form_data(first, profile, nick="first agent")
    second_data = form_data(second, profile, level="3")

    assert first.post(change_url(profile), first_data).status_code == 302
    # The second form is stale, but Tencent shows no change to the field it edits: its edit is sent
    # alone, the first agent's nick is kept, and the second agent is told who changed what.
    response = second.post(change_url(profile), second_data, follow=True)
    sent = emulator.requests("profile/portrait_set")
    assert len(sent) == 2 and sent[1].body["ProfileItem"] == [{"Tag": "Tag_Profile_IM_Level", "Value": 3}]
    assert emulator.profile("u_1") == {NICK: "first agent", "Tag_Profile_IM_Level": 3}
    fresh = Profile.objects.get(pk=profile.pk)
    assert fresh.nick == "first agent" and fresh.level == 3
    assert any(
        message.startswith("While you were editing, Nickname: old nick → first agent was set by a colleague (editor)")
        for message in messages_of(response)
    )


def test_the_history_page_lists_requests_and_external_changes(editor_client, emulator, remote_user, change_url,
                                                              form_data):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="agent's nick")
    emulator.set_as_user("u_1", {NICK: "changed in the app"})
    editor_client.post(change_url(profile), data)
    page = editor_client.get(reverse("admin:profiles_profile_tencent_history", args=[profile.pk])).content.decode()
    assert page.count('class="history-request"') == 1  # the conflict check's portrait_get
    assert "profile/portrait_get" in page
