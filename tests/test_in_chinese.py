"""A Chinese browser gets the app in Chinese: the profile form's labels and choices, messages, ErrorCode
meanings and advice, the job page, the dashboard and the sign-in pages; the wire names stay as small
print; records (audit rows, job items) stay in English whoever caused them, and read in Chinese."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from profiles.errortext import recorded_text
from profiles.im.client import HTTP_STATUS, PORTRAIT_SET
from profiles.im.emulator import Fault
from profiles.labels import describe_tags
from profiles.models import BulkJob, BulkJobItem, ImRequest
from profiles.services import jobpush, jobs, pull

from .conftest import audited_db

pytestmark = audited_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
CJK = re.compile("[\u4e00-\u9fff]")


def chinese(msgid: str, /, **params: object) -> str:
    """``msgid`` as the Chinese catalogue has it; fails when it is not translated."""
    with translation.override("zh-hans"):
        translated = translation.gettext(msgid)
    assert CJK.search(translated), f"not translated: {msgid!r}"
    return translated % params if params else translated


def test_the_profile_form_speaks_chinese_and_keeps_the_wire_names_as_small_print(
    editor_client, remote_user, change_url,
):
    profile = remote_user("u_1", Tag_Profile_IM_Gender="Gender_Type_Female")
    page = editor_client.get(change_url(profile), **ZH).content.decode()
    assert '<html lang="zh-hans"' in page
    for label in ("昵称", "性别", "生日", "个性签名", "加好友验证方式"):
        assert f">{label}:</label>" in page, label
    # The gender's choices by their Chinese names, Tencent's values kept as the options' values.
    assert re.search(r'<option value="Gender_Type_Male"[^>]*>男</option>', page)
    assert re.search(r'<option value="Gender_Type_Female" selected>女</option>', page)
    assert re.search(r'<option value="Gender_Type_Unknown"[^>]*>未知</option>', page)
    # Help texts in Chinese, each beginning with the tag's wire name.
    assert "Tag_Profile_IM_Gender — " + chinese("One of Tencent's three gender values.") in page
    assert "Tag_Profile_IM_Nick — " in page
    assert chinese("Refresh from Tencent") in page and chinese("Standard profile (Tag_Profile_IM_*)") in page


def test_a_chinese_agent_is_told_in_chinese_that_tencent_accepted_the_change(
    editor_client, emulator, remote_user, change_url, form_data, messages_of,
):
    profile = remote_user("u_1")
    data = form_data(editor_client, profile, nick="新昵称", gender="Gender_Type_Male")
    response = editor_client.post(change_url(profile), data, follow=True, **ZH)
    with translation.override("zh-hans"):
        tags = describe_tags(["Tag_Profile_IM_Nick", "Tag_Profile_IM_Gender"])
    assert tags == "昵称, 性别"
    expected = chinese("Tencent accepted the change to %(user_id)s: %(tags)s.", user_id="u_1", tags=tags)
    assert expected in messages_of(response)
    assert emulator.profile("u_1")["Tag_Profile_IM_Gender"] == "Gender_Type_Male"


def test_a_refusal_comes_back_with_the_errorcode_meaning_in_chinese(
    editor_client, emulator, remote_user, change_url, form_data,
):
    profile = remote_user("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40005, command=PORTRAIT_SET))
    response = editor_client.post(change_url(profile), form_data(editor_client, profile, nick="bad words"), **ZH)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["nick"]
    meaning = chinese("Tencent refused a value because it contains sensitive words.")
    assert any("ErrorCode 40005" in error and meaning in error for error in errors), errors
    assert "bad words" in response.content.decode()


def test_records_stay_in_english_when_a_chinese_agent_causes_them(
    editor_client, emulator, remote_user, change_url, form_data,
):
    profile = remote_user("u_1")
    emulator.inject(Fault(kind="http_status", http_status=503, command=PORTRAIT_SET))
    editor_client.post(change_url(profile), form_data(editor_client, profile, nick="try me"), **ZH)
    check, push = ImRequest.objects.order_by("pk")
    assert check.purpose == "conflict check before saving"
    assert push.transport_error == "HTTP 503 from Tencent"
    # ... and an auditor reading them in Chinese reads them in Chinese.
    with translation.override("zh-hans"):
        assert recorded_text(check.purpose) == chinese("conflict check before saving")
        assert push.error_meaning == chinese(HTTP_STATUS, status=503)


def test_what_a_job_recorded_in_english_reads_in_chinese():
    why = pull.NO_ANSWER % {"reason": HTTP_STATUS % {"status": 502}}
    recorded = jobpush.GAVE_UP % {"attempts": 5, "message": why}
    with translation.override("zh-hans"):
        shown = recorded_text(recorded)
    inner = chinese(pull.NO_ANSWER, reason=chinese(HTTP_STATUS, status=502))
    assert shown == chinese(jobpush.GAVE_UP, attempts=5, message=inner)
    # Words the app did not write (a value, Tencent's own) stay as they are.
    with translation.override("zh-hans"):
        assert recorded_text("u_8812 said hello") == "u_8812 said hello"


def test_the_job_page_speaks_chinese(client, cast, emulator):
    editor = get_user_model().objects.get(username="editor")
    job = jobs.job_create(
        actor=editor, source=BulkJob.Source.SELECTION, source_name=jobs.SELECTED_PROFILES % {"count": 2},
        rows=[jobs.JobRow(user_id="u_1", values={"Tag_Profile_IM_Nick": "a"}),
              jobs.JobRow(user_id="u_2", values={"Tag_Profile_IM_Nick": "b"})],
        enqueue=False,
    )
    first, second = job.items.order_by("pk")
    jobs.items_finish([first.pk], state=BulkJobItem.State.FAILED, code=None, retryable=True,
                      message=pull.NO_ANSWER % {"reason": HTTP_STATUS % {"status": 502}})
    jobs.items_finish([second.pk], state=BulkJobItem.State.FAILED, code=40003, message="")
    jobs.job_finish_if_done(job.pk)
    client.force_login(editor)
    page = client.get(reverse("admin:profiles_bulkjob_change", args=[job.pk]), **ZH).content.decode()
    assert '<html lang="zh-hans"' in page
    assert chinese("Failures by ErrorCode") in page and chinese("Failed items") in page
    assert chinese("%(count)s selected profile(s)", count=2) in page
    # The item state's Chinese name, Tencent's reason for the one, what was recorded for the other.
    assert f"<td>{chinese('Failed')}</td>" in page
    assert chinese("This UserID does not exist in Tencent IM; import the account first.") in page
    assert chinese(pull.NO_ANSWER, reason=chinese(HTTP_STATUS, status=502)) in page
    status = client.get(reverse("admin:profiles_bulkjob_status", args=[job.pk]), **ZH).json()
    assert status["state"] == "done" and status["state_label"] == chinese("Done")


def test_the_audit_row_gives_the_meaning_and_what_to_do_in_chinese_with_the_wire_names(
    editor_client, emulator, remote_user, change_url, form_data,
):
    profile = remote_user("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40005, command=PORTRAIT_SET))
    editor_client.post(change_url(profile), form_data(editor_client, profile, nick="bad words"), **ZH)
    row = ImRequest.objects.get(command=PORTRAIT_SET)
    page = editor_client.get(reverse("admin:profiles_imrequest_change", args=[row.pk]), **ZH).content.decode()
    assert chinese("Tencent refused a value because it contains sensitive words.") in page
    assert chinese("Retrying as is fails again: change the value (or the tag's settings in the console), then save.") \
        in page
    assert chinese("What to do") in page and chinese("Tencent's answer") in page
    # The wire names stay as small print.
    assert '<span class="wire">profile/portrait_set</span>' in page
    assert '<span class="wire">Tag_Profile_IM_Nick</span>' in page
    # The conflict check's purpose, recorded in English, in Chinese with the English beside it as small print.
    check = ImRequest.objects.get(command="profile/portrait_get")
    page = editor_client.get(reverse("admin:profiles_imrequest_change", args=[check.pk]), **ZH).content.decode()
    assert f'{chinese("conflict check before saving")} <span class="wire">conflict check before saving</span>' in page


def test_the_dashboard_and_its_charts_speak_chinese(client, cast):
    ImRequest.objects.create(
        actor_username="editor", source=ImRequest.Source.ADMIN, command=PORTRAIT_SET, request_body={}, random=1,
        user_id="u_1", state=ImRequest.State.IM_ERROR, error_code=40003, action_status="FAIL",
    )
    client.force_login(cast.auditor)
    page = client.get(reverse("admin:profiles_imrequest_dashboard"), **ZH).content.decode()
    assert '<html lang="zh-hans"' in page
    for words in ("Top ErrorCodes", "Requests per day, by outcome", "Refused by Tencent", "Day (UTC, month-day)",
                  "of which failed"):
        assert chinese(words) in page, words
    assert chinese("This UserID does not exist in Tencent IM; import the account first.") in page


def test_the_sign_in_pages_speak_chinese(client, cast, admin_login, settings):
    login = client.get(reverse("admin:login"), **ZH).content.decode()
    assert chinese("improfile — Tencent IM profiles") in login
    for attempt in range(settings.LOGIN_FAILURE_LIMIT):
        locked = admin_login(client, "editor", f"wrong {attempt}", **ZH)
    assert locked.status_code == 429
    text = locked.content.decode()
    assert chinese("Sign-in refused") in text and chinese("Back to the sign-in page") in text
    with translation.override("zh-hans"):
        assert translation.ngettext(
            "Too many failed logins for this account or address; try again in %(minutes)s minute or ask an "
            "administrator to unlock it.",
            "Too many failed logins for this account or address; try again in %(minutes)s minutes or ask an "
            "administrator to unlock it.",
            settings.LOGIN_COOLOFF_MINUTES,
        ) % {"minutes": settings.LOGIN_COOLOFF_MINUTES} in text
