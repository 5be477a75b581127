"""The profile edit round trip in a real Chromium: admin form → Tencent (emulator) → audit trail; once with
an English browser and once with a Chinese one, the expected words read from the catalogue in that language."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from playwright.sync_api import expect

from profiles.im.emulator import Fault
from profiles.models import ImRequest, Profile

from .conftest import audited_db, log_in

# The browser's Accept-Language, and the language the admin answers it in.
LANGUAGES = {"en-US": "en", "zh-CN": "zh-hans"}
pytestmark = [
    pytest.mark.browser, audited_db,
    pytest.mark.parametrize("browser_locale", list(LANGUAGES), ids=list(LANGUAGES.values())),
]


@pytest.fixture
def say(browser_locale):
    """The words the page shows for a message, in the browser's language (``say.language``)."""
    language = LANGUAGES[browser_locale]

    def words(message: str, **params: object) -> str:
        with translation.override(language):
            text = translation.gettext(message)
        return text % params if params else text

    words.language = language
    return words


def expect_language(page, say) -> None:
    """The page is in the browser's language: its lang attribute, and the header's Chinese when Chinese."""
    expect(page.locator("html")).to_have_attribute("lang", say.language)
    if say.language == "zh-hans":
        expect(page.locator("#site-name")).to_contain_text("腾讯云 IM 用户资料")


def changed_successfully(say, name: str, obj: str) -> str:
    """Django's own message after a save, as the admin shows it in the browser's language."""
    return say("The {name} “{obj}” was changed successfully.").format(name=say(name), obj=obj)


def test_an_editor_changes_a_nick_and_finds_it_in_the_audit_trail(emulator, cast, remote_user, page, say):
    profile = remote_user("u_8812")
    log_in(page, "editor", "pw-editor")

    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    expect_language(page, say)
    expect(page.locator("label[for=id_nick]")).to_have_text(say("Nickname") + ":")
    expect(page.locator("select[name=gender] option[value=Gender_Type_Female]")).to_have_text(say("Female"))
    nick = page.locator("input[name=nick]")
    expect(nick).to_have_value("old nick")
    nick.fill("Nouveau pseudo")
    page.click("input[name=_save]")

    success = page.locator("ul.messagelist li.success")
    accepted = say("Tencent accepted the change to %(user_id)s: %(tags)s.", user_id="u_8812", tags=say("Nickname"))
    expect(success.filter(has_text=accepted)).to_have_count(1)
    expect(success.filter(has_text=changed_successfully(say, "profile", "u_8812"))).to_have_count(1)
    assert emulator.profile("u_8812")["Tag_Profile_IM_Nick"] == "Nouveau pseudo"

    page.goto("/admin/profiles/imrequest/")
    # The save made two requests: the conflict check's portrait_get, then the portrait_set.
    expect_language(page, say)
    rows = page.locator("#result_list tbody tr").filter(has_text="u_8812")
    expect(rows).to_have_count(2)
    row = rows.filter(has_text=say("Profile change"))
    expect(row).to_have_count(1)
    what = say("%(request)s: %(tags)s", request=say("Profile change"), tags=say("Nickname"))
    expect(row.locator("td.field-what .audit-line")).to_have_text(what)
    expect(row.locator("td.field-outcome")).to_have_text("OK 0")
    expect(row.locator("td.field-who .audit-line")).to_have_text("editor")

    row.locator("th a, td a").first.click()
    changes = page.locator(".field-changes_table tbody tr")
    expect(changes).to_have_count(1)
    expect(changes.locator("td")).to_have_text([f"{say('Nickname')} Tag_Profile_IM_Nick", "old nick", "Nouveau pseudo"])
    # The wire names stay as small print on the row's page.
    expect(page.locator(".field-command_display .wire")).to_have_text("profile/portrait_set")


def test_a_refused_nick_comes_back_as_a_form_error_with_the_input_kept(emulator, cast, remote_user, page, say):
    profile = remote_user("u_8812")
    emulator.inject(Fault(kind="error_code", error_code=40005, command="profile/portrait_set"))
    log_in(page, "editor", "pw-editor")

    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    page.fill("input[name=nick]", "bad words")
    page.click("input[name=_save]")

    meaning = say("Tencent refused a value because it contains sensitive words.")
    expect(page.locator(".errorlist").filter(has_text="40005").filter(has_text=meaning)).not_to_have_count(0)
    expect(page.locator("input[name=nick]")).to_have_value("bad words")
    expect(page.get_by_text(changed_successfully(say, "profile", "u_8812"))).to_have_count(0)
    assert emulator.profile("u_8812")["Tag_Profile_IM_Nick"] == "old nick"
    assert Profile.objects.get(user_id="u_8812").nick == "old nick"
    refused = ImRequest.objects.get(command="profile/portrait_set")
    assert refused.error_code == 40005 and refused.state == ImRequest.State.IM_ERROR


def test_an_agent_opens_a_user_meets_a_conflict_reloads_and_saves(emulator, cast, page, say):
    emulator.add_account("u_77", {"Tag_Profile_IM_Nick": "Blocked friend requests",
                                  "Tag_Profile_IM_AllowType": "AllowType_Type_DenyAny"})
    log_in(page, "editor", "pw-editor")

    # Open a user the app has never seen, by UserID.
    page.goto("/admin/profiles/profile/")
    page.fill("#open-user-id", "u_77")
    page.click("#open-user input[type=submit]")
    expect(page.locator("input[name=nick]")).to_have_value("Blocked friend requests")
    assert Profile.objects.filter(user_id="u_77").exists()

    # The agent edits two fields; meanwhile the user renames themselves in the app.
    page.fill("input[name=nick]", "Agent's nick")
    page.select_option("select[name=allow_type]", "AllowType_Type_NeedConfirm")
    emulator.set_as_user("u_77", {"Tag_Profile_IM_Nick": "User's own nick"})
    page.click("input[name=_continue]")

    conflict = page.locator("#conflicts tr.conflict-row")
    expect(conflict).to_have_count(1)
    unnoticed = say(
        "someone outside this app; Tencent sent no notice of it (found by a read from Tencent at %(time)s: %(purpose)s)"
    ).split("%(time)s")[0]
    expect(conflict.locator("td")).to_have_text([
        f"{say('Nickname')} Tag_Profile_IM_Nick", "Blocked friend requests", "User's own nick", "Agent's nick",
        re.compile("^" + re.escape(unnoticed)),
    ])
    expect(page.locator("input[name=nick]")).to_have_value("Agent's nick")
    assert emulator.requests("profile/portrait_set") == []

    # One click loads Tencent's value and keeps the other edit; then save.
    page.click("button[name=_use_remote]")
    expect(page.locator("input[name=nick]")).to_have_value("User's own nick")
    expect(page.locator("select[name=allow_type]")).to_have_value("AllowType_Type_NeedConfirm")
    page.click("input[name=_continue]")
    expect(page.locator("ul.messagelist li.success").filter(has_text=say("Friend requests"))).to_have_count(1)
    assert emulator.profile("u_77") == {
        "Tag_Profile_IM_Nick": "User's own nick", "Tag_Profile_IM_AllowType": "AllowType_Type_NeedConfirm",
    }
