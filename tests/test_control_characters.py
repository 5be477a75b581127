"""NUL and the other control characters are refused in every value people type — the profile form,
the set-fields form, CSV rows and im_set — by the one validation every path calls; a SelfSignature may
span lines, and a value Tencent already holds is never what stops an edit."""

from __future__ import annotations

import io
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from profiles import csvio
from profiles.im.client import PORTRAIT_SET
from profiles.models import BulkJob, ImRequest, Profile
from profiles.services import TagValidationError, validate_tag_values

from .conftest import audited_db, run_manage

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"
SIGNATURE = "Tag_Profile_IM_SelfSignature"


def sent_sets(emulator) -> list:
    return [request for request in emulator.requests() if request.command == PORTRAIT_SET]


@pytest.mark.parametrize(
    ("tag", "value", "character"),
    [
        (NICK, "bell\x07", "U+0007 at character 5"),
        (NICK, "two\nlines", "U+000A at character 4"),
        ("Tag_Profile_IM_Location", "\tCN", "U+0009 at character 1"),
        (SIGNATURE, "nul\x00", "U+0000 at character 4"),
        (SIGNATURE, "escape\x1b[31m", "U+001B at character 7"),
        ("Tag_Profile_IM_Image", "https://x/\x7f", "U+007F at character 11"),
        (NICK, "c1\x85", "U+0085 at character 3"),
    ],
)
def test_the_one_validation_refuses_control_characters_naming_the_character(db, tag, value, character):
    with pytest.raises(TagValidationError) as refused:
        validate_tag_values({tag: value}, definitions={})
    assert character in refused.value.errors[tag] and "control character" in refused.value.errors[tag]


def test_a_signature_may_span_lines_with_tabs_but_a_nickname_may_not(db):
    assert validate_tag_values({SIGNATURE: "line one\r\n\tline two\n"}, definitions={})
    with pytest.raises(TagValidationError):
        validate_tag_values({NICK: "line one\r\nline two"}, definitions={})


def test_the_profile_form_shows_the_refusal_on_the_field_and_sends_nothing(
    editor_client, emulator, remote_user, change_url, form_data
):
    profile = remote_user("u_1")
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, nick="Bad\x07name"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "U+0007" in " ".join(errors["nick"])
    assert sent_sets(emulator) == [] and Profile.objects.get(pk=profile.pk).nick == "old nick"


def test_a_signature_typed_on_several_lines_is_sent(editor_client, emulator, remote_user, change_url, form_data):
    profile = remote_user("u_1")
    signature = "Line one\r\nLine two"
    response = editor_client.post(
        change_url(profile), form_data(editor_client, profile, self_signature=signature, nick="tab\there")
    )
    assert "U+0009" in " ".join(response.context["adminform"].form.errors["nick"])
    editor_client.post(change_url(profile), form_data(editor_client, profile, self_signature=signature))
    assert emulator.profile("u_1")[SIGNATURE] == signature


def test_a_control_character_tencent_already_holds_does_not_block_another_edit(
    editor_client, emulator, remote_user, change_url, form_data
):
    # Set in the user's own app: Tencent holds it, the local copy shows it as it is.
    profile = remote_user("u_1", Tag_Profile_IM_Nick="held\x07")
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, level="7"))
    assert response.status_code == 302
    assert emulator.profile("u_1")["Tag_Profile_IM_Level"] == 7
    assert emulator.profile("u_1")[NICK] == "held\x07"
    # Typing one is still refused.
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, nick="new\x07"))
    assert "U+0007" in " ".join(response.context["adminform"].form.errors["nick"])


def test_the_set_fields_form_refuses_a_control_character_before_any_job(editor_client, remote_user, emulator):
    profiles = [remote_user("u_1"), remote_user("u_2")]
    response = editor_client.post(reverse("admin:profiles_profile_changelist"), {
        "action": "set_fields", "_selected_action": [p.pk for p in profiles], "step": "preview",
        "do_nick": "set", "nick": "esc\x1b",
    })
    assert "U+001B" in " ".join(response.context["form"].errors["nick"])
    assert not BulkJob.objects.exists() and emulator.requests() == []


def test_a_csv_row_with_a_control_character_is_a_bad_row_with_its_line(db):
    text = (
        "UserID,nick,self_signature\n"
        "u_1,good,\n"
        "u_2,nul\x00inside,\n"
        "u_3,,\"two\nlines\"\n"
        "u_4,bell\x07,\n"
    )
    check = csvio.csv_check(io.BytesIO(text.encode()), definitions={})
    assert (check.good, check.bad) == (2, 2)
    reasons = {row.line: row.reason for row in check.bad_rows}
    assert set(reasons) == {3, 6}
    assert "U+0000" in reasons[3] and "U+0007" in reasons[6]


@pytest.mark.parametrize("value", ["nick=bell\x07", "nick=nul\x00", "Tag_Profile_IM_Location=\x1b[2J"])
def test_im_set_refuses_a_control_character_in_one_line_and_sends_nothing(emulator, remote_user, cast, value):
    remote_user("u_1")
    with pytest.raises(CommandError, match="control character U\\+00") as refused:
        call_command("im_set", "u_1", value, "--actor", "editor", stdout=StringIO())
    assert "\n" not in str(refused.value)
    assert not ImRequest.objects.filter(command=PORTRAIT_SET).exists() and sent_sets(emulator) == []


def test_im_set_from_a_shell_exits_1_with_one_line_naming_the_character(emulator, remote_user, cast):
    remote_user("u_1")
    result = run_manage("im_set", "u_1", "nick=bell\x07", "--actor", "editor")
    assert result.returncode == 1
    assert "U+0007" in result.stderr and "Traceback" not in result.stderr
    assert sent_sets(emulator) == []
