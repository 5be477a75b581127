"""Reading the trail: an audit row's page, a user's timeline, and reverting an applied change."""

from __future__ import annotations

import pytest
from django.urls import reverse

from profiles import services
from profiles.im.emulator import Fault
from profiles.models import ExternalChange, ImRequest, Profile

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"


def row_url(row: ImRequest) -> str:
    return reverse("admin:profiles_imrequest_change", args=[row.pk])


def timeline_url(user_id: str) -> str:
    return f"{reverse('admin:profiles_imrequest_timeline')}?user_id={user_id}"


@pytest.fixture
def edited(emulator, remote_user, cast):
    """u_1's nick changed by the editor from "old nick" to "new nick"."""
    profile = remote_user("u_1")
    outcome = services.profile_push(profile=profile, values={NICK: "new nick"}, actor=cast.editor, source="admin")
    assert outcome.ok
    return outcome.audit


def test_an_audit_row_shows_everything_an_auditor_asks_about(client, cast, emulator, remote_user, settings):
    profile = remote_user("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40005, command="profile/portrait_set"))
    outcome = services.profile_push(profile=profile, values={NICK: "rude"}, actor=cast.editor, source="admin")
    client.force_login(cast.auditor)
    page = client.get(row_url(outcome.audit)).content.decode()
    for expected in [
        "editor", "Admin form", "u_1", "profile/portrait_set", "Tag_Profile_IM_Nick", "old nick", "rude", "FAIL",
        "40005 — Tencent refused a value because it contains sensitive words.",
        "Retrying as is fails again: change the value", "Attempt", " ms", "From_Account", "ActionStatus",
        outcome.audit.chain_hash, "timeline",
    ]:
        assert expected in page, expected
    assert settings.IM.secret_key not in page and "usersig=" not in page.lower()


def test_a_job_request_names_its_job_and_attempt(client, cast, emulator, remote_user):
    remote_user("u_1")
    job = services.job_create(actor=cast.editor, source="command", source_name="test",
                              rows=[services.jobs.JobRow(user_id="u_1", values={NICK: "from job"})])
    services.jobpush.job_work(job_id=job.pk, seconds=5)
    row = ImRequest.objects.get(job=job, command="profile/portrait_set")
    client.force_login(cast.auditor)
    page = client.get(row_url(row)).content.decode()
    assert f'Background job <a href="{reverse("admin:profiles_bulkjob_change", args=[job.pk])}">#{job.pk}</a>' in page


def test_the_timeline_lists_requests_and_outside_changes_newest_first(client, cast, emulator, edited):
    ExternalChange.objects.create(
        user_id="u_1", operator_account="u_1", platform="iOS", body={},
        changes=[{"tag": NICK, "before": "new nick", "after": "typed in the app"}],
    )
    services.profile_pull(user_ids=["u_1", "u_2"], actor=cast.root, source="command")
    client.force_login(cast.auditor)
    page = client.get(row_url(edited)).content.decode()
    assert timeline_url("u_1") in page
    response = client.get(timeline_url("u_1"))
    entries = response.context["entries"]
    kinds = ["request" if entry.request else "external" for entry in entries]
    assert kinds == ["request", "external", "request"]
    assert [entry.at for entry in entries] == sorted((entry.at for entry in entries), reverse=True)
    assert "typed in the app" in response.content.decode()


def test_an_editor_does_not_see_colleagues_reads_on_a_timeline(client, cast, emulator, edited, django_user_model):
    services.profile_pull(user_ids=["u_1"], actor=cast.root, source="command")
    client.force_login(cast.editor)
    entries = client.get(timeline_url("u_1")).context["entries"]
    assert [entry.request.pk for entry in entries if entry.request] == [edited.pk]
    client.force_login(cast.auditor)
    assert len(client.get(timeline_url("u_1")).context["entries"]) == 2


def test_the_profile_page_links_its_timeline(client, cast, edited, change_url):
    client.force_login(cast.auditor)
    profile = Profile.objects.get(user_id="u_1")
    page = client.get(change_url(profile)).content.decode()
    history = reverse("admin:profiles_profile_tencent_history", args=[profile.pk])
    assert history in page
    assert [entry.request.pk for entry in client.get(history).context["entries"]] == [edited.pk]


def test_revert_opens_the_form_with_the_before_values_and_saves_a_revert(client, cast, emulator, edited, change_url,
                                                                         form_data):
    client.force_login(cast.editor)
    assert reverse("admin:profiles_imrequest_revert", args=[edited.pk]) in client.get(row_url(edited)).content.decode()
    response = client.get(reverse("admin:profiles_imrequest_revert", args=[edited.pk]))
    profile = Profile.objects.get(user_id="u_1")
    assert response.status_code == 302 and response.url == f"{change_url(profile)}?revert={edited.pk}"
    page = client.get(response.url)
    form = page.context["adminform"].form
    assert form.initial["nick"] == "old nick" and form.initial["reverts"] == edited.pk
    assert "Reverting" in page.content.decode() and f"request #{edited.pk}" in page.content.decode()

    data = form_data(client, profile)
    data.update(nick="old nick", reverts=str(edited.pk))
    client.post(change_url(profile), data, follow=True)
    assert emulator.profile("u_1")[NICK] == "old nick"
    revert = ImRequest.objects.filter(command="profile/portrait_set").exclude(pk=edited.pk).get()
    assert revert.reverts_id == edited.pk and revert.error_code == 0
    assert revert.purpose == f"revert of request #{edited.pk}"
    assert revert.changes == [{"tag": NICK, "before": "new nick", "after": "old nick"}]
    client.force_login(cast.auditor)
    assert f"request #{revert.pk}" in client.get(row_url(edited)).content.decode()  # "Reverted by"
    assert f"request #{edited.pk}" in client.get(row_url(revert)).content.decode()  # "Reverts"


def test_a_revert_goes_through_the_conflict_check(client, cast, emulator, edited, change_url):
    client.force_login(cast.editor)
    profile = Profile.objects.get(user_id="u_1")
    url = f"{change_url(profile)}?revert={edited.pk}"
    form = client.get(url).context["adminform"].form
    data = {name: "" if value is None else str(value) for name, value in form.initial.items() if name in form.fields}
    data.update({name: "" for name in form.fields if name not in data and not form.fields[name].disabled})
    data.update(user_id="u_1", nick="old nick", reverts=str(edited.pk))
    emulator.set_as_user("u_1", {NICK: "changed meanwhile"})
    response = client.post(change_url(profile), data)
    assert response.context["adminform"].form.conflicts
    assert emulator.profile("u_1")[NICK] == "changed meanwhile"
    assert not ImRequest.objects.filter(reverts_id=edited.pk).exists()


def test_only_an_applied_profile_change_can_be_reverted(client, cast, emulator, remote_user, edited, messages_of):
    emulator.inject(Fault(kind="error_code", error_code=40005, command="profile/portrait_set"))
    refused = services.profile_push(profile=Profile.objects.get(user_id="u_1"), values={NICK: "x"},
                                    actor=cast.editor, source="admin").audit
    services.profile_pull(user_ids=["u_1"], actor=cast.editor, source="admin")
    read = ImRequest.objects.get(command="profile/portrait_get")
    client.force_login(cast.editor)
    for row, reason in [(refused, "Tencent did not apply"), (read, "Only a profile change")]:
        assert "revert-link" not in client.get(row_url(row)).content.decode()
        response = client.get(reverse("admin:profiles_imrequest_revert", args=[row.pk]), follow=True)
        assert any(reason in message for message in messages_of(response))


def test_an_auditor_cannot_revert(client, cast, edited, change_url):
    client.force_login(cast.auditor)
    assert "revert-link" not in client.get(row_url(edited)).content.decode()
    assert client.get(reverse("admin:profiles_imrequest_revert", args=[edited.pk])).status_code == 403
    profile = Profile.objects.get(user_id="u_1")
    data = {"user_id": "u_1", "nick": "old nick", "reverts": str(edited.pk)}
    assert client.post(change_url(profile), data).status_code == 403
    assert not ImRequest.objects.filter(reverts_id=edited.pk).exists()


def test_a_forged_revert_of_another_users_change_is_refused(client, cast, emulator, remote_user, edited, change_url,
                                                            form_data, messages_of):
    other = remote_user("u_2")
    client.force_login(cast.editor)
    page = client.get(f"{change_url(other)}?revert={edited.pk}", follow=True)
    assert any("changed u_1, not u_2" in message for message in messages_of(page))
    data = form_data(client, other, nick="whatever", reverts=str(edited.pk))
    response = client.post(change_url(other), data)
    assert "Cannot revert: Request #" in response.content.decode()
    assert emulator.profile("u_2")[NICK] == "old nick"
