"""Every main admin page under the Content-Security-Policy, in a real Chromium that enforces it: no page
needs an inline script or style, and the pages' scripts (static files) still work."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from profiles import services
from profiles.models import BulkJob, BulkJobItem, ImRequest

from .conftest import audited_db, log_in

pytestmark = [pytest.mark.browser, audited_db]


def visit(page: Page, url: str, violations: list[str]) -> None:
    """Open ``url`` and check that it came with the enforced policy and broke none of it."""
    response = page.goto(url)
    assert response is not None and response.ok, f"{url}: {response and response.status}"
    checked_under_policy(response.headers, url)
    page.wait_for_load_state("load")
    assert violations == [], f"{url}: {violations}"


def checked_under_policy(headers: dict[str, str], url: str) -> None:
    policy = headers.get("content-security-policy", "")
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
                      "frame-ancestors 'none'", "form-action 'self'", "base-uri 'self'"):
        assert directive in policy, f"{url}: {directive!r} missing from {policy!r}"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_every_main_page_runs_under_the_policy_and_its_scripts_still_work(
    emulator, cast, remote_user, page, csp_violations, tmp_path,
):
    profile = remote_user("u_8812")
    remote_user("u_77", Tag_Profile_IM_Nick="other")
    services.external_change_record(  # a change made outside the app, highlighted in the timeline
        user_id="u_8812", items=[{"Tag": "Tag_Profile_IM_Level", "Value": 7}], operator_account="u_8812",
        platform="iOS", client_ip="", event_time_ms=None, body={},
    )

    visit(page, "/admin/login/", csp_violations)
    log_in(page, "root", "pw-root")
    visit(page, "/admin/", csp_violations)
    visit(page, reverse("admin:profiles_profile_changelist"), csp_violations)
    expect(page.locator("#open-user")).to_be_visible()

    # The profile form: the byte counter (profiles/bytecount.js) counts UTF-8 bytes as one types.
    visit(page, reverse("admin:profiles_profile_change", args=[profile.pk]), csp_violations)
    nick = page.locator("input[name=nick]")
    counter = page.locator("input[name=nick] + .byte-count")
    expect(counter).to_have_text(re.compile(r"^8 / \d+ bytes$"))  # "old nick"
    nick.fill("日本語")
    expect(counter).to_have_text(re.compile(r"^9 / \d+ bytes$"))
    limit = int(nick.get_attribute("data-max-bytes"))
    nick.fill("é" * (limit // 2 + 1))
    expect(counter).to_have_text(f"{2 * (limit // 2 + 1)} / {limit} bytes")
    expect(counter).to_have_class(re.compile(r"\bover-limit\b"))
    nick.fill("Nouveau pseudo")
    expect(counter).not_to_have_class(re.compile(r"\bover-limit\b"))
    page.click("input[name=_continue]")
    saved = page.locator("ul.messagelist li.success")
    expect(saved.filter(has_text="Tencent accepted the change to u_8812: Nickname.")).to_have_count(1)
    assert csp_violations == [], csp_violations

    # The audit trail: list, a row (JSON bodies, the changes table), a revert, the dashboard, timelines.
    visit(page, reverse("admin:profiles_imrequest_changelist"), csp_violations)
    pushed = ImRequest.objects.get(command="profile/portrait_set")
    visit(page, reverse("admin:profiles_imrequest_change", args=[pushed.pk]), csp_violations)
    expect(page.locator("pre.json-body").first).to_be_visible()
    page.click("#revert-link")
    expect(page.locator("#revert-banner")).to_be_visible()
    assert csp_violations == [], csp_violations
    visit(page, reverse("admin:profiles_imrequest_dashboard"), csp_violations)
    expect(page.locator("svg.dashboard-chart")).to_have_count(2)
    visit(page, reverse("admin:profiles_profile_tencent_history", args=[profile.pk]), csp_violations)
    expect(page.locator("#tencent-history tr.history-external")).to_have_count(1)
    visit(page, reverse("admin:profiles_imrequest_timeline") + "?user_id=u_8812", csp_violations)
    visit(page, reverse("admin:profiles_externalchange_changelist"), csp_violations)

    # Set fields on a selection: the form, then its preview.
    visit(page, reverse("admin:profiles_profile_changelist"), csp_violations)
    page.locator("#result_list input.action-select").first.check()
    page.select_option("select[name=action]", "set_fields")
    page.click("button[name=index]")
    expect(page.locator("input[name=step][value=preview]")).to_have_count(1)
    page.fill("input[name=level]", "3")
    page.click("input[type=submit][value=Preview]")
    expect(page.locator("#set-fields-sample")).to_be_visible()
    assert csp_violations == [], csp_violations

    # CSV import: the upload page, the check of a file with a bad row, the job it starts.
    visit(page, reverse("admin:profiles_profile_import_csv"), csp_violations)
    csv_file = tmp_path / "profiles.csv"
    csv_file.write_text("UserID,nick\nu_8812,From CSV\nu_77,Other from CSV\n,no user\n", encoding="utf-8")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("input[type=submit][value='Check file']")
    expect(page.locator("#csv-bad-rows")).to_be_visible()
    assert csp_violations == [], csp_violations
    page.click("#csv-preview input[type=submit].default")
    expect(page.locator("#job-state")).to_be_visible()
    assert csp_violations == [], csp_violations

    # The job page follows the job with profiles/jobprogress.js: a finished item shows without a reload.
    job = BulkJob.objects.get(source=BulkJob.Source.CSV)
    expect(page.locator("#job-done")).to_have_text("0")
    item = BulkJobItem.objects.filter(job=job).order_by("pk").first()
    services.jobs.items_finish([item.pk], state=BulkJobItem.State.SUCCEEDED, code=0, message="OK")
    expect(page.locator("#job-done")).to_have_text("1", timeout=15_000)
    assert page.locator("#job-bar").evaluate("bar => bar.value") == 1

    # The rest of the admin, Django's own pages and django-q2's included.
    for url in (
        reverse("admin:profiles_bulkjob_changelist"), reverse("admin:profiles_auditexport_changelist"),
        reverse("admin:profiles_auditanchor_changelist"), reverse("admin:profiles_customtagdefinition_add"),
        reverse("admin:django_q_ormq_changelist"), reverse("admin:django_q_schedule_changelist"),
        reverse("admin:auth_user_changelist"), reverse("admin:auth_user_change", args=[cast.editor.pk]),
        reverse("admin:auth_user_add"), reverse("admin:auth_group_add"), reverse("admin:password_change"),
    ):
        visit(page, url, csp_violations)
