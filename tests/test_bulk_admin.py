"""Starting a bulk edit from a selection, and the job page: progress, cancel, retry, results."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest
from django.urls import reverse

from profiles import selectors
from profiles.models import BulkJob, BulkJobItem, ImRequest, Profile
from profiles.services import jobpush, jobs

from .conftest import audited_db

pytestmark = audited_db

LIST_URL = reverse("admin:profiles_profile_changelist")


@pytest.fixture
def three_users(remote_user):
    return [remote_user(f"u_{n}") for n in range(3)]


def post_action(client, profiles, **data):
    return client.post(LIST_URL, {
        "action": "set_fields", "_selected_action": [p.pk for p in profiles], **data,
    })


def test_set_fields_previews_then_starts_a_job(editor_client, three_users, emulator, settings):
    settings.IM_JOB_BACKOFF_BASE = 0.01
    form_page = post_action(editor_client, three_users)
    assert form_page.status_code == 200 and 'name="allow_type"' in form_page.content.decode()

    chosen = {"do_allow_type": "set", "allow_type": "AllowType_Type_DenyAny"}
    preview = post_action(editor_client, three_users, step="preview", **chosen)
    page = preview.content.decode()
    assert "3 of the 3 selected profiles will change" in page
    assert page.count("Friend requests: (not set) → Refuse all") == 3
    assert emulator.requests() == [] and not BulkJob.objects.exists()

    started = post_action(editor_client, three_users, step="confirm", **chosen)
    job = BulkJob.objects.get()
    assert started.status_code == 302 and started["Location"] == reverse("admin:profiles_bulkjob_change", args=[job.pk])
    assert job.total == 3 and job.source == BulkJob.Source.SELECTION and job.created_by_username == "editor"
    assert sorted(job.items.values_list("user_id", flat=True)) == ["u_0", "u_1", "u_2"]

    assert jobpush.job_work(job_id=job.pk, seconds=10)
    assert all(emulator.profile(f"u_{n}")["Tag_Profile_IM_AllowType"] == "AllowType_Type_DenyAny" for n in range(3))
    rows = ImRequest.objects.filter(command="profile/portrait_set")
    assert rows.count() == 3 and set(rows.values_list("source", flat=True)) == {"job"}
    assert set(rows.values_list("job_id", flat=True)) == {job.pk}


def test_set_fields_refuses_invalid_values_before_any_job(editor_client, three_users, emulator):
    response = post_action(editor_client, three_users, step="preview", do_nick="set", nick="中" * 167,
                           do_level="set", level="4294967296")
    form = response.context["form"]
    assert "nick" in form.errors and "level" in form.errors
    assert not BulkJob.objects.exists() and emulator.requests() == []


def test_an_auditor_cannot_start_a_job(client, cast, three_users):
    client.force_login(cast.auditor)
    post_action(client, three_users, step="confirm", do_allow_type="set", allow_type="AllowType_Type_DenyAny")
    assert not BulkJob.objects.exists()


def make_job(emulator, *user_ids: str) -> BulkJob:
    """A job the cast's editor started (an editor sees and manages only their own jobs)."""
    from django.contrib.auth import get_user_model

    editor = get_user_model().objects.get(username="editor")
    rows = [jobs.JobRow(user_id=u, values={"Tag_Profile_IM_Nick": f"bulk {u}"}) for u in user_ids]
    return jobs.job_create(actor=editor, source=BulkJob.Source.COMMAND, source_name="test", rows=rows, enqueue=False)


def test_the_job_page_shows_progress_and_offers_cancel(editor_client, emulator):
    emulator.add_account("u_0")
    job = make_job(emulator, "u_0", "u_missing")
    page = editor_client.get(reverse("admin:profiles_bulkjob_change", args=[job.pk])).content.decode()
    assert '<span id="job-done">0</span> of 2 done' in page and 'id="job-cancel"' in page
    status = editor_client.get(reverse("admin:profiles_bulkjob_status", args=[job.pk])).json()
    assert status["total"] == 2 and status["done"] == 0 and status["by_state"]["pending"] == 2


def test_results_and_retry_of_failed_items(editor_client, emulator, settings):
    settings.IM_JOB_BACKOFF_BASE = 0.01
    emulator.add_account("u_0")
    job = make_job(emulator, "u_0", "u_missing")
    assert jobpush.job_work(job_id=job.pk, seconds=10)
    status = editor_client.get(reverse("admin:profiles_bulkjob_status", args=[job.pk])).json()
    assert status["by_state"]["succeeded"] == 1 and status["by_state"]["failed"] == 1
    assert status["by_code"][0]["code"] == 40003

    results = editor_client.get(reverse("admin:profiles_bulkjob_results", args=[job.pk]))
    table = list(csv.reader(io.StringIO(b"".join(results.streaming_content).decode())))
    assert table[0] == ["UserID", "outcome", "ErrorCode", "meaning", "attempts", "line"]
    by_user = {row[0]: row for row in table[1:]}
    assert by_user["u_0"][1] == "succeeded" and by_user["u_missing"][1:3] == ["failed", "40003"]
    assert "does not exist" in by_user["u_missing"][3]

    # 40003 cannot pass on a retry (docs/tencent-im.md §6): nothing is re-queued, and the message says why.
    response = editor_client.post(reverse("admin:profiles_bulkjob_retry", args=[job.pk]), follow=True)
    assert not BulkJob.objects.exclude(pk=job.pk).exists()
    [message] = [str(m) for m in response.context["messages"]]
    assert "Nothing was retried" in message and "1 item with 40003" in message


def test_cancel_stops_pending_items(editor_client, emulator):
    emulator.add_account("u_0")
    job = make_job(emulator, "u_0")
    editor_client.post(reverse("admin:profiles_bulkjob_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.state == BulkJob.State.CANCELLED and job.items.get().state == BulkJobItem.State.CANCELLED
    assert jobpush.job_work(job_id=job.pk, seconds=5)
    assert emulator.requests() == [] and Profile.objects.count() == 0


def test_an_auditor_sees_jobs_but_cannot_cancel(client, cast, emulator):
    job = make_job(emulator, "u_0")
    client.force_login(cast.auditor)
    assert client.get(reverse("admin:profiles_bulkjob_change", args=[job.pk])).status_code == 200
    assert client.post(reverse("admin:profiles_bulkjob_cancel", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert not job.cancel_requested


def test_the_job_status_is_the_typed_progress_with_the_same_keys(editor_client, emulator, settings):
    settings.IM_JOB_BACKOFF_BASE = 0.01
    emulator.add_account("u_0")
    job = make_job(emulator, "u_0", "u_missing")
    assert jobpush.job_work(job_id=job.pk, seconds=10)
    job.refresh_from_db()
    progress = selectors.job_progress(job)
    assert progress.done == 2 and progress.finished and progress.by_code[0].code == 40003
    status = editor_client.get(reverse("admin:profiles_bulkjob_status", args=[job.pk])).json()
    assert status == dataclasses.asdict(progress)


def test_the_job_page_lists_the_failed_items(editor_client, emulator, settings):
    settings.IM_JOB_BACKOFF_BASE = 0.01
    emulator.add_account("u_0")
    job = make_job(emulator, "u_0", "u_missing", "u_gone", "u_absent")
    assert jobpush.job_work(job_id=job.pk, seconds=10)
    page = editor_client.get(reverse("admin:profiles_bulkjob_change", args=[job.pk])).content.decode()
    assert 'id="job-failed"' in page and "3 items failed." in page
    assert all(f'data-user-id="{user_id}"' in page for user_id in ["u_missing", "u_gone", "u_absent"])
    assert page.count("This UserID does not exist in Tencent IM; import the account first.") >= 3
    assert 'data-user-id="u_0"' not in page and 'id="job-retry"' not in page

    failures = selectors.job_failures(job, limit=2)
    assert failures.count == 3 and failures.more == 1
    assert [item.user_id for item in failures.items] == ["u_missing", "u_gone"]
    assert all(item.error_code == 40003 and "does not exist" in item.message for item in failures.items)
