"""Set fields… in a real Chromium: typing a value chooses "Set to", the preview shows only the changes in
plain words, and starting the job lands on its page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from profiles.models import BulkJob

from .conftest import audited_db

pytestmark = [pytest.mark.browser, audited_db]

SIGNATURE = "Tag_Profile_IM_SelfSignature"


@pytest.fixture
def bulk_page(page):
    """The shared Chromium page (tests/conftest.py, which checks the Content-Security-Policy), wider."""
    page.set_viewport_size({"width": 1440, "height": 900})
    return page


def test_an_editor_sets_and_clears_fields_on_a_selection(emulator, cast, remote_user, bulk_page):
    page = bulk_page
    remote_user("u_1", **{SIGNATURE: "bye"})
    remote_user("u_2")
    page.goto("/admin/login/?next=/admin/profiles/profile/")
    page.fill("#id_username", "editor")
    page.fill("#id_password", "pw-editor")
    page.click("input[type=submit]")

    for user_id in ("u_1", "u_2"):
        page.locator("#result_list tbody tr").filter(has_text=user_id).locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "set_fields")
    page.click("button[name=index]")

    expect(page.locator("h1")).to_contain_text("Set fields on 2 selected profiles")
    nick_choice = page.locator("input[name=do_nick][value=set]")
    expect(nick_choice).not_to_be_checked()
    page.fill("input[name=nick]", "Renamed")
    expect(nick_choice).to_be_checked()  # typing a value chose "Set to"
    page.check("input[name=do_self_signature][value=clear]")
    expect(page.locator("input[name=do_gender][value=clear]")).to_have_count(0)
    expect(page.locator(".field-nick .wire")).to_have_text("Tag_Profile_IM_Nick")
    page.click("input[name=_preview]")

    expect(page.locator("#set-fields-summary")).to_contain_text("2 of the 2 selected profiles will change")
    sample = page.locator("#set-fields-sample")
    expect(sample).to_contain_text("Nickname: old nick → Renamed")
    expect(sample).to_contain_text("Signature: bye → (not set)")
    expect(sample.locator("li").filter(has_text="Signature")).to_have_count(1)  # u_2 has none to clear
    page.click("input[name=_confirm]")

    expect(page.locator("ul.messagelist li.success")).to_contain_text("started for 2 profiles")
    job = BulkJob.objects.get()
    assert page.url.endswith(f"/admin/profiles/bulkjob/{job.pk}/change/")
    assert sorted(job.items.values_list("user_id", flat=True)) == ["u_1", "u_2"]


def test_cancel_returns_to_the_filtered_list(emulator, cast, remote_user, bulk_page):
    page = bulk_page
    remote_user("u_1")
    page.goto("/admin/login/?next=/admin/profiles/profile/%3Fq%3Du_1")
    page.fill("#id_username", "editor")
    page.fill("#id_password", "pw-editor")
    page.click("input[type=submit]")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "set_fields")
    page.click("button[name=index]")
    page.click("a.closelink")
    assert page.url.endswith("/admin/profiles/profile/?q=u_1")
    assert not BulkJob.objects.exists()
