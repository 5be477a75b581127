"""The profile form in Chromium: *Refresh from Tencent* asks before it throws away unsaved edits,
and a conflict's *Keep mine* saves the agent's value over a change the user made in their app."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from profiles.models import ImRequest

from .conftest import audited_db

pytestmark = [pytest.mark.browser, audited_db]

NICK = "Tag_Profile_IM_Nick"


def test_refresh_asks_before_losing_an_edit_and_not_otherwise(emulator, cast, remote_user, browser_page):
    page = browser_page
    profile = remote_user("u_1")
    page.log_in("editor", "pw-editor")
    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    asked: list[str] = []

    def dismiss(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.fill("input[name=nick]", "typed, not saved")
    page.click("#refresh-form button")
    expect(page.locator("input[name=nick]")).to_have_value("typed, not saved")
    assert asked == [
        "Refreshing from Tencent reloads this page: your unsaved edits will be lost. Refresh anyway?"
    ]
    assert emulator.requests("profile/portrait_get") == []

    # With nothing edited (the page loaded afresh), no question: the refresh happens.
    page.remove_listener("dialog", dismiss)
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    page.click("#refresh-form button")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Refreshed u_1 from Tencent")
    assert len(asked) == 1 and len(emulator.requests("profile/portrait_get")) == 1
    expect(page.locator("#last-read time")).to_have_count(1)


def test_refresh_accepted_throws_the_edit_away(emulator, cast, remote_user, browser_page):
    page = browser_page
    profile = remote_user("u_1")
    page.log_in("editor", "pw-editor")
    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.select_option("select[name=gender]", "Gender_Type_Female")
    page.click("#refresh-form button")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Refreshed u_1 from Tencent")
    expect(page.locator("select[name=gender]")).to_have_value("")
    assert len(asked) == 1 and "unsaved edits will be lost" in asked[0]


def test_keep_mine_after_the_user_changed_their_nick(emulator, cast, remote_user, browser_page, app_callbacks):
    page = browser_page
    profile = remote_user("u_1")
    page.log_in("editor", "pw-editor")
    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    page.fill("input[name=nick]", "Agent's nick")
    emulator.set_as_user("u_1", {NICK: "User's nick"}, platform="Android")
    app_callbacks.wait()
    page.click("input[name=_continue]")

    expect(page.locator("#conflicts td.conflict-cause")).to_contain_text("the user on Android at")
    expect(page.locator(".errornote")).to_have_count(0)
    # Asked nothing on the way: Keep mine is a save, not a refresh.
    page.click("button[name=_keep_mine]")
    expect(page.locator("ul.messagelist li.success").first).to_be_visible()
    assert emulator.profile("u_1")[NICK] == "Agent's nick"
    assert ImRequest.objects.get(command="profile/portrait_set").purpose == "overwrote a change made meanwhile"
