"""The job page lists failed items in plain words and retries only what a retry can help
(docs/tencent-im.md §6): a retryable ErrorCode or no answer; "40601: fix the value first" stays out."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from profiles import selectors
from profiles.im.client import PORTRAIT_GET, PORTRAIT_SET
from profiles.im.emulator import Fault
from profiles.models import BulkJob, BulkJobItem
from profiles.services import jobpull, jobpush, jobs

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"
GENDER = "Tag_Profile_IM_Gender"


@pytest.fixture(autouse=True)
def one_attempt_in_order(settings):
    """Items sent one at a time, in order, and a transient error final at its first attempt, so each
    injected fault meets a known item."""
    settings.IM_JOB_CONCURRENCY = 1
    settings.IM_JOB_MAX_ATTEMPTS = 1
    settings.IM_JOB_BACKOFF_BASE = 0.01


def editors_job(rows: list[jobs.JobRow], kind: str = BulkJob.Kind.PUSH) -> BulkJob:
    editor = get_user_model().objects.get(username="editor")
    return jobs.job_create(actor=editor, source=BulkJob.Source.COMMAND, source_name="test", rows=rows,
                           kind=kind, enqueue=False)


def page_of(client, job: BulkJob) -> str:
    return client.get(reverse("admin:profiles_bulkjob_change", args=[job.pk])).content.decode()


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_one_retryable_and_one_non_retryable_failure(editor_client, emulator):
    for user_id in ("u_long", "u_busy", "u_fine"):
        emulator.add_account(user_id)
    job = editors_job([
        jobs.JobRow(user_id="u_long", values={NICK: "a long one"}),
        jobs.JobRow(user_id="u_busy", values={NICK: "later"}),
        jobs.JobRow(user_id="u_fine", values={NICK: "fine"}),
    ])
    emulator.inject(Fault(kind="error_code", error_code=40601, command=PORTRAIT_SET))  # u_long: final
    emulator.inject(Fault(kind="error_code", error_code=70500, command=PORTRAIT_SET))  # u_busy: transient
    assert jobpush.job_work(job_id=job.pk, seconds=10)

    page = page_of(editor_client, job)
    assert "2 items failed." in page
    long_row = page.split('data-user-id="u_long"')[1].split("</tr>")[0]
    assert "Nickname: A value is too long for Tencent" in long_row and "ErrorCode 40601" in long_row
    assert '<td class="attempts">1</td>' in long_row and "fix the value first" in long_row
    busy_row = page.split('data-user-id="u_busy"')[1].split("</tr>")[0]
    assert "Tencent had an internal server error" in busy_row and "Retry sends it again." in busy_row
    assert 'value="Retry 1 failed item (new job)"' in page
    assert "1 item with 40601: fix the value first" in page

    response = editor_client.post(reverse("admin:profiles_bulkjob_retry", args=[job.pk]), follow=True)
    retry = BulkJob.objects.exclude(pk=job.pk).get()
    assert list(retry.items.values_list("user_id", flat=True)) == ["u_busy"] and retry.retry_of == job
    [message] = [str(m) for m in response.context["messages"]]
    assert f"Job #{retry.pk} retries 1 failed item" in message
    assert "Not retried: 1 item with 40601: fix the value first." in message
    assert jobpush.job_work(job_id=retry.pk, seconds=10)
    assert emulator.profile("u_busy")[NICK] == "later" and NICK not in emulator.profile("u_long")


def test_no_answer_is_retryable_and_a_refused_value_is_not(cast, emulator):
    emulator.add_account("u_1")
    emulator.add_account("u_2")
    job = editors_job([jobs.JobRow(user_id="u_1", values={NICK: "x"}), jobs.JobRow(user_id="u_2", values={NICK: "y"})])
    emulator.inject(Fault(kind="drop", command=PORTRAIT_SET))
    emulator.inject(Fault(kind="error_code", error_code=40605, command=PORTRAIT_SET))
    assert jobpush.job_work(job_id=job.pk, seconds=10)
    items = {item.user_id: item for item in job.items.all()}
    assert (items["u_1"].error_code, items["u_1"].retryable) == (None, True)
    assert (items["u_2"].error_code, items["u_2"].retryable) == (40605, False)
    progress = selectors.job_progress(job)
    assert progress.retryable == 1 and progress.by_state["failed"] == 2


def test_the_failed_list_is_capped_and_the_failures_csv_has_them_all(editor_client, emulator):
    job = editors_job([])
    BulkJobItem.objects.bulk_create(
        BulkJobItem(job=job, user_id=f"u_{n:03}", values={GENDER: "Gender_Type_Male", NICK: "n"}, line=n + 2,
                    state=BulkJobItem.State.FAILED, error_code=40605, attempts=1, retryable=False,
                    message="Tencent refused the change — ErrorCode 40605")
        for n in range(selectors.jobs.FAILED_ITEMS_SHOWN + 5)
    )
    BulkJobItem.objects.create(job=job, user_id="=cmd()", values={NICK: "x"}, state=BulkJobItem.State.FAILED,
                               attempts=3, retryable=True, message="Gave up after 3 attempts: No answer from Tencent")
    page = page_of(editor_client, job)
    assert "106 items failed." in page and "The first 100 are listed here." in page
    assert page.count('<tr class="not-retryable"') == 100
    # The tag is the one whose rule breaks with 40605 (an enum), not every tag the item set.
    assert "Gender: A value is not one of the allowed values" in page
    assert 'id="job-failures-csv"' in page

    table = csv_rows(editor_client.get(reverse("admin:profiles_bulkjob_failures", args=[job.pk])))
    assert table[0] == ["UserID", "line", "ErrorCode", "tag", "reason", "attempts", "retried", "next step", "details"]
    assert len(table) == 1 + 106
    assert table[1][:7] == ["u_000", "2", "40605", "Gender",
                            "Gender: A value is not one of the allowed values for this standard tag.", "1", "no"]
    assert table[1][7] == "fix the value first"
    last = table[-1]
    assert last[0] == "'=cmd()" and last[2] == "" and last[4].startswith("Gave up after 3 attempts")
    assert last[6] == "yes"


def test_a_refresh_job_retries_no_answer_but_not_a_missing_account(cast, emulator):
    emulator.add_account("u_1")
    lost = editors_job([jobs.JobRow(user_id="u_1", values={})], kind=BulkJob.Kind.PULL)
    emulator.inject(Fault(kind="drop", command=PORTRAIT_GET))
    jobpull.job_pull_round(job_id=lost.pk)
    item = lost.items.get()
    assert item.state == BulkJobItem.State.FAILED and item.error_code is None and item.retryable
    retry = jobs.job_retry_failed(job=lost, actor=None).job
    assert retry.kind == BulkJob.Kind.PULL and retry.total == 1
    jobpull.job_pull_round(job_id=retry.pk)  # Tencent answers this time
    assert selectors.job_progress(retry).by_state[BulkJobItem.State.SUCCEEDED] == 1 and not retry.items.exists()

    missing = editors_job([jobs.JobRow(user_id="u_nobody", values={})], kind=BulkJob.Kind.PULL)
    jobpull.job_pull_round(job_id=missing.pk)
    item = missing.items.get()
    assert item.state == BulkJobItem.State.FAILED and item.error_code == 40003 and not item.retryable


def migrated_to(name: str):
    """The test database migrated (back) to ``profiles.<name>``; that state's models."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("profiles", name)])
    return executor.loader.project_state([("profiles", name)]).apps


def migrate_to_latest() -> None:
    """Every migration applied again: the tests after a migration test need the whole schema."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_earlier_failures_that_a_retry_can_help():
    old_apps = migrated_to("0017_reviewers_see_logins")
    job = old_apps.get_model("profiles", "BulkJob").objects.create(source="command", source_name="before 0016")
    old_items = old_apps.get_model("profiles", "BulkJobItem").objects
    for user_id, state, code, message in [
        ("u_busy", "failed", 70500, "Gave up after 5 attempts: ..."),
        ("u_long", "failed", 40601, "Tencent refused the change — ErrorCode 40601"),
        ("u_lost", "failed", None, "Gave up after 5 attempts: No answer from Tencent (timeout)"),
        ("u_bad", "failed", None, "Not sent: Tag_Profile_IM_Nick: too long"),
        ("u_ok", "succeeded", 0, "Tencent accepted the change"),
    ]:
        old_items.create(job=job, user_id=user_id, values={}, state=state, error_code=code, message=message)
    migrated_to("0018_bulk_items_rejected_retryable")
    retryable = dict(BulkJobItem.objects.filter(job_id=job.pk).values_list("user_id", "retryable"))
    migrate_to_latest()
    assert retryable == {"u_busy": True, "u_long": False, "u_lost": True, "u_bad": False, "u_ok": False}


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_a_waiting_refresh_jobs_unfinished_items_into_rounds():
    from profiles.models import PullRound

    old_apps = migrated_to("0023_rate_limit_places")
    old_jobs = old_apps.get_model("profiles", "BulkJob").objects
    waiting = old_jobs.create(source="command", source_name="every local copy", kind="pull", total=4)
    ended = old_jobs.create(source="command", source_name="every local copy", kind="pull", total=1,
                            finished_at=timezone.now())
    old_items = old_apps.get_model("profiles", "BulkJobItem").objects
    for user_id, state in [("u_1", "succeeded"), ("u_2", "pending"), ("u_3", "sending"), ("u_4", "pending")]:
        old_items.create(job=waiting, user_id=user_id, values={}, state=state)
    old_items.create(job=ended, user_id="u_9", values={}, state="succeeded")
    migrated_to("0024_refresh_rounds")
    rounds = list(PullRound.objects.values_list("job_id", "user_ids"))
    items = sorted(BulkJobItem.objects.values_list("user_id", flat=True))
    migrate_to_latest()
    assert rounds == [(waiting.pk, ["u_2", "u_3", "u_4"])] and items == ["u_1", "u_9"]
