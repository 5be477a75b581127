"""The audit list read in a real Chromium at 1440×900: every column fits without scrolling sideways,
long text is cut with an ellipsis (the whole of it in a title), and the filters stay short."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from profiles import services
from profiles.im.emulator import Fault

from .conftest import audited_db, log_in

pytestmark = [pytest.mark.browser, audited_db]

SET = "profile/portrait_set"
LONG_USER_IDS = [f"shop-customer-{n:018d}" for n in range(3)]  # 32 bytes, the most Tencent allows
MANY_TAGS = {
    "Tag_Profile_IM_Nick": "Ein sehr langer Spitzname, der nicht in eine Spalte passt",
    "Tag_Profile_IM_Gender": "Gender_Type_Female",
    "Tag_Profile_IM_Location": "CN-GD-Shenzhen",
    "Tag_Profile_IM_SelfSignature": "Always online, always answering",
    "Tag_Profile_IM_AllowType": "AllowType_Type_NeedConfirm",
    "Tag_Profile_IM_Language": 2052,
}


@pytest.fixture
def long_rows(emulator, cast, remote_user, django_user_model):
    """Requests as a busy support team leaves them: 32-byte UserIDs, six tags at once, refusals
    with the longest meanings in the catalogue, a dropped connection and an HTTP 502."""
    for name in ("agent-zhang-wei", "agent-li-na", "agent-wang-fang", "agent-chen-jie"):
        django_user_model.objects.create_user(name, password="x", is_staff=True)
    profiles = [remote_user(user_id) for user_id in LONG_USER_IDS]
    push = services.profile_push
    for profile in profiles:
        assert push(profile=profile, values=MANY_TAGS, actor=cast.editor, source="admin").ok
    for code in (40009, 70398, 60021, 40005):
        emulator.inject(Fault(kind="error_code", error_code=code, command=SET))
        push(profile=profiles[0], values={"Tag_Profile_IM_Nick": f"refused {code}"}, actor=cast.root, source="command")
    emulator.inject(Fault(kind="drop", command=SET))
    push(profile=profiles[1], values={"Tag_Profile_IM_Nick": "no answer"}, actor=cast.editor, source="admin")
    emulator.inject(Fault(kind="http_status", http_status=502, command=SET))
    push(profile=profiles[2], values={"Tag_Profile_IM_Nick": "bad gateway"}, actor=cast.editor, source="admin")


def test_at_1440_px_every_column_of_the_audit_list_fits(page: Page, long_rows):
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, "auditor", "pw-auditor")
    page.goto("/admin/profiles/imrequest/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(9)

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    results = page.locator("#changelist-form .results")
    assert results.evaluate("el => el.scrollWidth <= el.clientWidth"), "the table scrolls inside its box"
    visible_right = min(page.evaluate("window.innerWidth"), results.evaluate("el => el.getBoundingClientRect().right"))
    for column in ("outcome", "latency"):
        for box in page.locator(f"#result_list td.field-{column}").evaluate_all(
            "cells => cells.map(cell => cell.getBoundingClientRect().toJSON())"
        ):
            assert box["width"] > 30 and box["right"] <= visible_right, (column, box, visible_right)

    # A UserID is shown whole (on two lines); other long text is cut, the whole of it in the title.
    for user_id in page.locator("#result_list td.field-user_id_cell .audit-line").all():
        assert user_id.inner_text().replace("\n", "") in LONG_USER_IDS
        assert user_id.evaluate("el => el.scrollWidth <= el.clientWidth")
    refused = rows.filter(has_text="40009")
    expect(refused.locator("td.field-outcome .audit-line")).to_have_text("FAIL 40009")
    meaning = refused.locator("td.field-outcome .audit-sub")
    assert meaning.get_attribute("title") == (
        "This tag does not exist in the app; custom tags must be created in the console first."
    )
    assert meaning.evaluate("el => getComputedStyle(el).textOverflow") == "ellipsis"
    what = rows.filter(has_text="Profile change: Nickname, Gender").first.locator("td.field-what .audit-line")
    assert what.evaluate("el => el.scrollWidth > el.clientWidth"), "six tags' labels should not fit on one line"
    expect(rows.filter(has_text="502").locator("td.field-outcome .audit-line")).to_have_text("No answer")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", rows.first.locator("time").inner_text())

    # The filters beside the list are not a 4,300 px column.
    sidebar = page.locator("#changelist-filter").evaluate("el => el.getBoundingClientRect().height")
    assert sidebar < 1500, sidebar
    assert page.evaluate("document.documentElement.scrollHeight") < 1800
