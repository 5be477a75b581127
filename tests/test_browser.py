"""The profile edit round trip in a real Chromium: admin form → Tencent (emulator) → audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Page, expect, sync_playwright

from profiles.im.emulator import Fault
from profiles.models import ImRequest, Profile

from .conftest import audited_db

pytestmark = [pytest.mark.browser, audited_db]

# The Debian package; `playwright install` cannot download here (docs/conventions.md, Tests).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]


@pytest.fixture
def page(live_server, monkeypatch) -> Iterator[Page]:
    """A page in a fresh headless Chromium, with relative URLs resolved against the live server.

    Requesting ``live_server`` here makes this fixture tear down first: the browser is closed
    before the server stops.
    """
    if not CHROMIUM.exists():
        # Fail, not skip: CI installs Chromium (.ci/run), so a missing one is a broken set-up.
        pytest.fail(f"{CHROMIUM} is missing; install it with `apt-get install chromium`.", pytrace=False)
    # Playwright's sync API keeps an event loop on this thread, and Django refuses ORM calls
    # from a thread with a running loop; the ORM here (fixtures, flush) is still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=live_server.url)
            context.set_default_timeout(10_000)
            yield context.new_page()
        finally:
            browser.close()
            # While that loop runs, asgiref keeps this thread's Django connections in a separate,
            # context-local store, so ORM calls in the test body opened connections of their own
            # that the test database teardown never sees. Left open, they outlive the deleted
            # file and strand its -wal/-shm in var/. Close them while that store is still current.
            connections.close_all()


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)


def test_an_editor_changes_a_nick_and_finds_it_in_the_audit_trail(emulator, cast, remote_user, page):
    profile = remote_user("u_8812")
    log_in(page, "editor", "pw-editor")

    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    nick = page.locator("input[name=nick]")
    expect(nick).to_have_value("old nick")
    nick.fill("Nouveau pseudo")
    page.click("input[name=_save]")

    success = page.locator("ul.messagelist li.success")
    expect(success.filter(has_text="Tencent accepted the change to u_8812: Nickname.")).to_have_count(1)
    expect(success.filter(has_text="changed successfully")).to_have_count(1)
    assert emulator.profile("u_8812")["Tag_Profile_IM_Nick"] == "Nouveau pseudo"

    page.goto("/admin/profiles/imrequest/")
    # The save made two requests: the conflict check's portrait_get, then the portrait_set.
    rows = page.locator("#result_list tbody tr").filter(has_text="u_8812")
    expect(rows).to_have_count(2)
    row = rows.filter(has_text="profile/portrait_set")
    expect(row).to_have_count(1)
    expect(row.locator("td.field-command")).to_have_text("profile/portrait_set")
    expect(row.locator("td.field-error_code_with_meaning")).to_have_text("0")
    expect(row.locator("td.field-actor_username")).to_have_text("editor")

    row.locator("th a, td a").first.click()
    changes = page.locator(".field-changes_table tbody tr")
    expect(changes).to_have_count(1)
    expect(changes.locator("td")).to_have_text(["Tag_Profile_IM_Nick", '"old nick"', '"Nouveau pseudo"'])


def test_a_refused_nick_comes_back_as_a_form_error_with_the_input_kept(emulator, cast, remote_user, page):
    profile = remote_user("u_8812")
    emulator.inject(Fault(kind="error_code", error_code=40005, command="profile/portrait_set"))
    log_in(page, "editor", "pw-editor")

    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    page.fill("input[name=nick]", "bad words")
    page.click("input[name=_save]")

    expect(page.locator(".errorlist").filter(has_text="40005")).not_to_have_count(0)
    expect(page.locator("input[name=nick]")).to_have_value("bad words")
    expect(page.get_by_text("changed successfully")).to_have_count(0)
    assert emulator.profile("u_8812")["Tag_Profile_IM_Nick"] == "old nick"
    assert Profile.objects.get(user_id="u_8812").nick == "old nick"
    refused = ImRequest.objects.get(command="profile/portrait_set")
    assert refused.error_code == 40005 and refused.state == ImRequest.State.IM_ERROR


def test_an_agent_opens_a_user_meets_a_conflict_reloads_and_saves(emulator, cast, page):
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
    expect(conflict.locator("td")).to_have_text([
        "Nickname Tag_Profile_IM_Nick", "Blocked friend requests", "User's own nick", "Agent's nick",
        re.compile("^someone outside this app; Tencent sent no notice of it"),
    ])
    expect(page.locator("input[name=nick]")).to_have_value("Agent's nick")
    assert emulator.requests("profile/portrait_set") == []

    # One click loads Tencent's value and keeps the other edit; then save.
    page.click("button[name=_use_remote]")
    expect(page.locator("input[name=nick]")).to_have_value("User's own nick")
    expect(page.locator("select[name=allow_type]")).to_have_value("AllowType_Type_NeedConfirm")
    page.click("input[name=_continue]")
    expect(page.locator("ul.messagelist li.success").filter(has_text="Friend requests")).to_have_count(1)
    assert emulator.profile("u_77") == {
        "Tag_Profile_IM_Nick": "User's own nick", "Tag_Profile_IM_AllowType": "AllowType_Type_NeedConfirm",
    }
