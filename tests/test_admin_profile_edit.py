"""Editing a profile in the admin: the form pushes through the service and shows Tencent's answer."""

from __future__ import annotations

from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from profiles.im.emulator import Fault
from profiles.models import ImRequest, Profile

from .conftest import audited_db

pytestmark = audited_db


def test_the_change_form_has_a_fitting_widget_for_every_tag(editor_client, remote_user, define_custom_tag, change_url):
    define_custom_tag("Mood")
    define_custom_tag("Badge", admin_write=False)
    profile = remote_user("u_1")
    page = editor_client.get(change_url(profile)).content.decode()
    assert 'name="nick"' in page and 'data-max-bytes="500"' in page
    assert '<select name="gender"' in page and 'value="Gender_Type_Female"' in page
    assert 'type="number" name="birthday"' in page and 'max="4294967295"' in page
    assert 'name="custom_Mood"' in page
    # A tag the app admin may not write is shown read-only, with the reason, instead of risking 40008.
    assert 'name="custom_Badge"' in page and "40008" in page
    assert "most Tencent editions allow only 16 bytes" in page


def test_saving_pushes_the_changed_tag_and_names_it(editor_client, emulator, remote_user, cast, change_url,
                                                    form_data, messages_of):
    profile = remote_user("u_1")
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, nick="Nice name"), follow=True)
    assert response.status_code == 200
    texts = messages_of(response)
    assert any("Tencent accepted" in text and "Nickname" in text for text in texts)
    assert not any("Tag_Profile_IM_Nick" in text for text in texts)
    assert emulator.profile("u_1")["Tag_Profile_IM_Nick"] == "Nice name"
    assert Profile.objects.get(pk=profile.pk).nick == "Nice name"
    row = ImRequest.objects.get(command="profile/portrait_set")
    assert row.actor == cast.editor and row.source == ImRequest.Source.ADMIN and row.error_code == 0


def test_a_saved_edit_updates_the_local_copy_once(editor_client, emulator, remote_user, change_url, form_data):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="Nice name")
    # The service stores on its own connection; the admin's is the default one. One write in all.
    with CaptureQueriesContext(connections["default"]) as admin, CaptureQueriesContext(
        connections["autocommit"]
    ) as service:
        response = editor_client.post(change_url(profile), data)
    assert response.status_code == 302
    writes = [q["sql"] for q in [*admin.captured_queries, *service.captured_queries]
              if q["sql"].startswith(("UPDATE", "INSERT")) and '"profiles_profile"' in q["sql"]]
    assert len(writes) == 1, writes
    stored = Profile.objects.get(pk=profile.pk)
    assert stored.nick == "Nice name" and stored.version == profile.version + 1


def test_invalid_input_sends_nothing_and_keeps_the_input(editor_client, emulator, remote_user, change_url, form_data):
    profile = remote_user("u_1")
    too_long = "中" * 167  # 501 bytes in UTF-8
    response = editor_client.post(
        change_url(profile), form_data(editor_client, profile, nick=too_long, language="4294967296", level="-1")
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "501 bytes" in form.errors["nick"][0]
    assert "language" in form.errors and "level" in form.errors
    assert too_long in response.content.decode()
    assert emulator.requests() == [] and ImRequest.objects.count() == 0


def test_a_refusal_from_tencent_comes_back_on_the_field(editor_client, emulator, remote_user, change_url, form_data,
                                                        messages_of):
    profile = remote_user("u_1")
    # 17 bytes: within the catalogue's 500-byte hard limit, over the emulator's 16-byte edition limit.
    location = "86 10 1 0 extra!!"
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, location=location))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "40601" in form.errors["location"][0]
    assert location in response.content.decode()
    assert not any("changed successfully" in text for text in messages_of(response))
    assert Profile.objects.get(pk=profile.pk).location is None
    row = ImRequest.objects.get(command="profile/portrait_set")
    assert row.error_code == 40601 and row.state == ImRequest.State.IM_ERROR


def test_a_transient_error_is_a_form_error_and_the_audit_row_stays(editor_client, emulator, remote_user, change_url,
                                                                   form_data):
    profile = remote_user("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40006, command="profile/portrait_set"))
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, nick="try me"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert any("40006" in error and "internal server error" in error for error in errors)
    assert ImRequest.objects.get(command="profile/portrait_set").error_code == 40006
    assert Profile.objects.get(pk=profile.pk).nick == "old nick"
    assert not LogEntryExists(profile)


def LogEntryExists(profile: Profile) -> bool:  # noqa: N802
    from django.contrib.admin.models import LogEntry

    return LogEntry.objects.filter(object_id=str(profile.pk)).exists()


def test_a_transport_failure_says_the_edit_is_safe_to_retry(editor_client, emulator, remote_user, change_url,
                                                            form_data):
    profile = remote_user("u_1")
    emulator.inject(Fault(kind="http_status", http_status=503, command="profile/portrait_set"))
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, nick="try me"))
    errors = response.context["adminform"].form.non_field_errors()
    assert any("HTTP 503" in error and "safe" in error for error in errors)
    assert ImRequest.objects.get(command="profile/portrait_set").state == ImRequest.State.TRANSPORT_ERROR


def test_a_custom_tag_is_edited_on_the_same_form(editor_client, emulator, remote_user, define_custom_tag, change_url,
                                                 form_data):
    define_custom_tag("Mood")
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, custom_Mood="sunny")
    response = editor_client.post(change_url(profile), data, follow=True)
    assert response.status_code == 200
    assert emulator.profile("u_1")["Tag_Profile_Custom_Mood"] == "sunny"
    assert Profile.objects.get(pk=profile.pk).custom_values == {"Tag_Profile_Custom_Mood": "sunny"}


def test_a_custom_value_over_500_bytes_is_refused_before_sending(editor_client, emulator, remote_user,
                                                                  define_custom_tag, change_url, form_data):
    define_custom_tag("Mood")
    profile = remote_user("u_1")
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, custom_Mood="é" * 251))
    assert "502 bytes" in response.context["adminform"].form.errors["custom_Mood"][0]
    assert emulator.requests() == []


def test_a_read_only_custom_tag_is_never_sent(editor_client, emulator, remote_user, define_custom_tag, change_url,
                                              form_data):
    define_custom_tag("Badge", admin_write=False)
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="new", custom_Badge="gold")
    editor_client.post(change_url(profile), data, follow=True)
    sent = emulator.requests("profile/portrait_set")[-1].body["ProfileItem"]
    assert [item["Tag"] for item in sent] == ["Tag_Profile_IM_Nick"]


def test_a_known_enum_cannot_be_blanked(editor_client, emulator, remote_user, change_url, form_data):
    profile = remote_user("u_1", Tag_Profile_IM_Gender="Gender_Type_Male")
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, gender=""))
    assert "cannot unset" in response.context["adminform"].form.errors["gender"][0]
    assert emulator.requests() == []


def test_the_profile_list_searches_user_ids_and_nicks(editor_client, remote_user):
    remote_user("u_8812", Tag_Profile_IM_Nick="Grumpy")
    remote_user("u_77", Tag_Profile_IM_Nick="Sunny")
    url = reverse("admin:profiles_profile_changelist")

    def found(query: str) -> list[str]:
        return [p.user_id for p in editor_client.get(url, {"q": query}).context["cl"].result_list]

    assert found("u_8812") == ["u_8812"]
    assert found("sunn") == ["u_77"]
    assert found("u_88") == ["u_8812"]
    assert found("8812") == []  # UserIDs match exactly or by prefix only (indexed)


def test_an_auditor_cannot_edit_profiles(client, editor_client, cast, remote_user, emulator, change_url, form_data):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="nope")
    client.force_login(cast.auditor)
    response = client.post(change_url(profile), data)
    assert response.status_code == 403
    assert emulator.requests() == []
