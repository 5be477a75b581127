"""A birthday that is not a real date: Tencent takes any uint32 (docs/tencent-im.md §2), so the form does
too, but only after the agent confirms it; a real date, or 0 (not set), saves at once."""

from __future__ import annotations

import pytest

from profiles.im import tags as catalogue

from .conftest import audited_db

pytestmark = audited_db

BIRTHDAY = "Tag_Profile_IM_BirthDay"


@pytest.mark.parametrize("value", [20231399, 20230229, 1990101, 4294967295])
def test_a_birthday_that_is_no_date_waits_for_a_confirmation(
    editor_client, emulator, remote_user, change_url, form_data, value,
):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, birthday=str(value))

    response = editor_client.post(change_url(profile), data)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="birthday-warning"' in page and f"The birthday {value} is not a real date" in page
    assert 'name="confirm_birthday"' in page and "Yes, save this birthday anyway" in page
    assert "errornote" not in page  # a warning to confirm, not an error
    assert emulator.requests("profile/portrait_set") == []

    confirmed = editor_client.post(change_url(profile), {**data, "confirm_birthday": "on"})
    assert confirmed.status_code == 302
    assert emulator.profile("u_1")[BIRTHDAY] == value


@pytest.mark.parametrize("value", [20190419, 20240229, 0])
def test_a_real_date_or_zero_saves_without_a_question(editor_client, emulator, remote_user, change_url, form_data,
                                                       value):
    profile = remote_user("u_1", **{BIRTHDAY: 19800101})
    asked = editor_client.post(change_url(profile), form_data(editor_client, profile, birthday="20231399"))
    assert 'id="birthday-warning"' in asked.content.decode()
    # The same form with a real date (or 0, the usual "not set"): saved, no checkbox needed.
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, birthday=str(value)))
    assert response.status_code == 302
    assert emulator.profile("u_1")[BIRTHDAY] == value


def test_only_a_birthday_the_agent_typed_is_questioned(editor_client, emulator, remote_user, change_url, form_data):
    profile = remote_user("u_1", **{BIRTHDAY: 20231399})
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, nick="new nick"))
    assert response.status_code == 302
    assert emulator.profile("u_1")["Tag_Profile_IM_Nick"] == "new nick"
    changed = editor_client.post(change_url(profile), form_data(editor_client, profile, birthday="20231398"))
    assert changed.status_code == 200 and 'id="birthday-warning"' in changed.content.decode()


def test_the_catalogue_tells_a_date_from_a_number():
    assert catalogue.is_birthday_date(20190419) and catalogue.is_birthday_date(20240229)
    assert not any(catalogue.is_birthday_date(v) for v in (0, 20231399, 20230229, 20231200, 9991231, 4294967295))
