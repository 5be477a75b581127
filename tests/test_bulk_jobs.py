"""Bulk jobs: retries only where docs/tencent-im.md §6 says they help, one audit row per attempt, cancel, retry of
failed items, and items abandoned by a dead worker finished exactly once."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from profiles import services
from profiles.im.client import PORTRAIT_GET, PORTRAIT_SET
from profiles.im.emulator import Fault
from profiles.im.errors import describe
from profiles.models import BulkJob, BulkJobItem, ImRequest
from profiles.selectors import job_progress
from profiles.services.jobpush import job_work
from profiles.services.jobs import JobRow, job_cancel, job_create, job_retry_failed

from .conftest import audited_db

pytestmark = audited_db


def job_counts(job: BulkJob) -> dict:
    """The job page's progress, as its JSON status shows it."""
    return dataclasses.asdict(job_progress(job))


@pytest.fixture(autouse=True)
def fast_jobs(settings):
    settings.IM_JOB_BACKOFF_BASE = 0.01
    settings.IM_JOB_BACKOFF_CAP = 0.05
    settings.IM_JOB_MAX_ATTEMPTS = 5
    settings.IM_JOB_CONCURRENCY = 4


def make_job(emulator, user_ids, *, known=True, actor=None, nick="bulk nick"):
    for user_id in user_ids:
        if known:
            emulator.add_account(user_id, {"Tag_Profile_IM_Nick": "old"})
    rows = [JobRow(user_id=user_id, values={"Tag_Profile_IM_Nick": f"{nick} {user_id}"}) for user_id in user_ids]
    return job_create(actor=actor, source=BulkJob.Source.COMMAND, source_name="test", rows=rows, enqueue=False)


def work_until_done(job, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not job_work(job_id=job.pk, seconds=5):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.01)
    job.refresh_from_db()
    return job


def items(job):
    return {item.user_id: item for item in BulkJobItem.objects.filter(job=job)}


def attempts_of(job, user_id):
    rows = ImRequest.objects.filter(job=job, user_id=user_id, command=PORTRAIT_SET).order_by("pk")
    return [(row.attempt, row.state, row.error_code) for row in rows]


def test_transient_errors_are_retried_until_every_item_succeeds(emulator, cast):
    job = make_job(emulator, ["u_1", "u_2", "u_3"], actor=cast.editor)
    emulator.inject(Fault(kind="error_code", error_code=40006, command=PORTRAIT_SET, times=2))
    emulator.inject(Fault(kind="http_status", http_status=502, command=PORTRAIT_SET))
    emulator.inject(Fault(kind="drop", command=PORTRAIT_SET))
    work_until_done(job)

    assert job.state == BulkJob.State.DONE and job.finished_at is not None
    assert all(item.state == BulkJobItem.State.SUCCEEDED for item in items(job).values())
    assert all(emulator.profile(u)["Tag_Profile_IM_Nick"] == f"bulk nick {u}" for u in ("u_1", "u_2", "u_3"))
    rows = ImRequest.objects.filter(job=job, command=PORTRAIT_SET)
    # Four faults, three successes: one audit row per attempt, each tied to the job.
    assert rows.count() == 7 == len(emulator.requests(PORTRAIT_SET))
    assert rows.filter(state=ImRequest.State.OK).count() == 3
    assert rows.filter(error_code=40006).count() == 2
    assert rows.filter(state=ImRequest.State.TRANSPORT_ERROR).count() == 2
    assert set(rows.values_list("source", flat=True)) == {ImRequest.Source.JOB}
    assert set(rows.values_list("actor_username", flat=True)) == {"editor"}
    for user_id, item in items(job).items():
        history = attempts_of(job, user_id)
        assert [attempt for attempt, _, _ in history] == list(range(1, len(history) + 1))
        assert history[-1][1] == ImRequest.State.OK and item.attempts == len(history)
        assert all(state != ImRequest.State.OK for _, state, _ in history[:-1])


def test_a_permanent_error_fails_the_item_at_once_without_a_retry(emulator):
    job = make_job(emulator, ["u_1", "u_2"])
    emulator.inject(Fault(kind="error_code", error_code=40605, command=PORTRAIT_SET))
    work_until_done(job)

    by_code = {item.error_code: item for item in items(job).values()}
    refused, accepted = by_code[40605], by_code[0]
    assert refused.state == BulkJobItem.State.FAILED and refused.attempts == 1
    assert "Gave up" not in refused.message and "ErrorCode 40605" in refused.message
    assert accepted.state == BulkJobItem.State.SUCCEEDED
    assert attempts_of(job, refused.user_id) == [(1, ImRequest.State.IM_ERROR, 40605)]
    assert attempts_of(job, accepted.user_id) == [(1, ImRequest.State.OK, 0)]
    assert len(emulator.requests(PORTRAIT_SET)) == 2 and job.state == BulkJob.State.DONE


def test_an_unknown_account_fails_with_40003_and_one_audit_row(emulator):
    job = make_job(emulator, ["u_nobody"], known=False)
    work_until_done(job)
    item = items(job)["u_nobody"]
    assert item.state == BulkJobItem.State.FAILED and item.error_code == 40003
    assert attempts_of(job, "u_nobody") == [(1, ImRequest.State.IM_ERROR, 40003)]
    counts = job_counts(job)
    assert counts["by_code"] == [{"code": 40003, "meaning": describe(40003).meaning, "count": 1}]


def test_it_gives_up_after_the_attempt_limit(emulator, settings):
    settings.IM_JOB_MAX_ATTEMPTS = 3
    job = make_job(emulator, ["u_1"])
    emulator.inject(Fault(kind="error_code", error_code=70500, command=PORTRAIT_SET, times=10))
    work_until_done(job)
    item = items(job)["u_1"]
    assert item.state == BulkJobItem.State.FAILED and item.error_code == 70500 and item.attempts == 3
    assert item.message.startswith("Gave up after 3 attempts")
    assert [a for a, _, _ in attempts_of(job, "u_1")] == [1, 2, 3]
    assert len(emulator.requests(PORTRAIT_SET)) == 3


def test_an_expired_usersig_is_regenerated_and_the_request_retried_once(emulator):
    usersig = services.im_client().usersig
    job = make_job(emulator, ["u_1"])
    services.im_client().usersig.get()
    generated = usersig.generated_count
    emulator.inject(Fault(kind="error_code", error_code=70001, command=PORTRAIT_SET))
    work_until_done(job)
    item = items(job)["u_1"]
    assert item.state == BulkJobItem.State.SUCCEEDED and item.attempts == 2
    assert usersig.generated_count == generated + 1
    assert attempts_of(job, "u_1") == [(1, ImRequest.State.IM_ERROR, 70001), (2, ImRequest.State.OK, 0)]


def test_two_expired_usersigs_in_a_row_fail_the_item(emulator):
    job = make_job(emulator, ["u_1"])
    emulator.inject(Fault(kind="error_code", error_code=70001, command=PORTRAIT_SET, times=2))
    work_until_done(job)
    item = items(job)["u_1"]
    assert item.state == BulkJobItem.State.FAILED and item.error_code == 70001 and item.attempts == 2
    assert [code for _, _, code in attempts_of(job, "u_1")] == [70001, 70001]


def test_a_job_cancelled_before_work_sends_nothing(emulator):
    job = make_job(emulator, [f"u_{n}" for n in range(5)])
    assert job_cancel(job=job) == 5
    assert job_work(job_id=job.pk, seconds=2) is True
    job.refresh_from_db()
    assert job.state == BulkJob.State.CANCELLED and job.finished_at is not None
    assert {item.state for item in items(job).values()} == {BulkJobItem.State.CANCELLED}
    assert emulator.requests() == [] and not ImRequest.objects.exists()


def work_in_background_until_sent(emulator, job, sent: int) -> threading.Thread:
    """A worker thread on ``job``, returned once ``sent`` requests reached the emulator."""
    worker = threading.Thread(target=job_work, kwargs={"job_id": job.pk, "seconds": 10})
    worker.start()
    deadline = time.monotonic() + 5
    while len(emulator.requests(PORTRAIT_SET)) < sent and time.monotonic() < deadline:
        time.sleep(0.005)
    return worker


def test_a_job_cancelled_midway_finishes_what_was_sent_and_cancels_the_rest(emulator, settings):
    settings.IM_JOB_CONCURRENCY = 1
    emulator.set_latency(0.03)
    job = make_job(emulator, [f"u_{n:02}" for n in range(40)])
    worker = work_in_background_until_sent(emulator, job, 3)
    job_cancel(job=job)
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert job_work(job_id=job.pk, seconds=1) is True

    job.refresh_from_db()
    states = [item.state for item in items(job).values()]
    succeeded = states.count(BulkJobItem.State.SUCCEEDED)
    assert job.state == BulkJob.State.CANCELLED
    assert succeeded >= 3 and states.count(BulkJobItem.State.CANCELLED) == 40 - succeeded
    pushes = ImRequest.objects.filter(job=job, command=PORTRAIT_SET)
    assert len(emulator.requests(PORTRAIT_SET)) == succeeded == pushes.count()
    assert job_counts(job)["by_state"]["cancelled"] == 40 - succeeded


def test_retrying_failed_items_makes_a_new_job_with_only_the_retryable_ones(emulator, cast, settings):
    settings.IM_JOB_MAX_ATTEMPTS = 1  # a transient error fails the item at its first attempt
    settings.IM_JOB_CONCURRENCY = 1  # items in order: u_slow (the fault), u_1, u_ghost (40003)
    job = make_job(emulator, [])
    emulator.add_account("u_slow")
    emulator.add_account("u_1")
    BulkJobItem.objects.bulk_create([
        BulkJobItem(job=job, user_id="u_slow", values={"Tag_Profile_IM_Nick": "y"}, line=6),
        BulkJobItem(job=job, user_id="u_1", values={"Tag_Profile_IM_Nick": "z"}, line=7),
        BulkJobItem(job=job, user_id="u_ghost", values={"Tag_Profile_IM_Nick": "x"}, line=8),
    ])
    BulkJob.objects.filter(pk=job.pk).update(total=3)
    emulator.inject(Fault(kind="http_status", http_status=503, command=PORTRAIT_SET))
    work_until_done(job)
    by_user = items(job)
    assert by_user["u_slow"].state == BulkJobItem.State.FAILED and by_user["u_slow"].retryable
    assert by_user["u_ghost"].error_code == 40003 and not by_user["u_ghost"].retryable
    assert by_user["u_1"].state == BulkJobItem.State.SUCCEEDED

    empty = job_retry_failed(job=make_job(emulator, []), actor=cast.editor)
    assert empty.job is None and empty.retried == 0 and empty.not_retried == []
    outcome = job_retry_failed(job=job, actor=cast.editor)
    retry = outcome.job
    assert retry is not None and retry.pk != job.pk and retry.retry_of == job
    assert retry.source == BulkJob.Source.RETRY and retry.total == 1 and retry.created_by == cast.editor
    assert outcome.retried == 1 and outcome.not_retried == [(40003, 1)]
    only = BulkJobItem.objects.get(job=retry)
    assert (only.user_id, only.values, only.line, only.state) == (
        "u_slow", {"Tag_Profile_IM_Nick": "y"}, 6, BulkJobItem.State.PENDING
    )


def test_items_abandoned_by_a_dead_worker_are_resent_only_without_a_recorded_success(emulator):
    job = make_job(emulator, ["u_answered", "u_lost", "u_pending"])
    lapsed = timezone.now() - timedelta(seconds=5)
    BulkJob.objects.filter(pk=job.pk).update(state=BulkJob.State.RUNNING, started_at=lapsed)
    BulkJobItem.objects.filter(job=job, user_id__in=["u_answered", "u_lost"]).update(
        state=BulkJobItem.State.SENDING, attempts=1, claimed_by="dead", claimed_until=lapsed,
    )
    # The dead worker's requests: one answered and recorded, one sent with no answer recorded.
    common = {"source": ImRequest.Source.JOB, "command": PORTRAIT_SET, "job": job, "attempt": 1, "random": 1,
              "request_body": {}}
    ImRequest.objects.create(user_id="u_answered", state=ImRequest.State.OK, error_code=0, **common)
    ImRequest.objects.create(user_id="u_lost", state=ImRequest.State.PENDING, **common)
    # A success for the same user in another job does not count.
    other = make_job(emulator, ["u_lost"])
    ImRequest.objects.create(**{**common, "job": other, "user_id": "u_lost", "state": ImRequest.State.OK})
    work_until_done(job)

    sent = sorted(record.body["From_Account"] for record in emulator.requests(PORTRAIT_SET))
    assert sent == ["u_lost", "u_pending"]
    by_user = items(job)
    assert {item.state for item in by_user.values()} == {BulkJobItem.State.SUCCEEDED}
    assert by_user["u_answered"].attempts == 1 and "recorded before the worker stopped" in by_user["u_answered"].message
    resent = ImRequest.objects.get(job=job, user_id="u_lost", state=ImRequest.State.OK)
    assert resent.attempt == 2 and "re-sent" in resent.purpose
    fresh = ImRequest.objects.get(job=job, user_id="u_pending")
    assert fresh.attempt == 1 and "re-sent" not in fresh.purpose


def test_an_item_claimed_by_a_live_worker_is_not_taken(emulator):
    job = make_job(emulator, ["u_busy", "u_free"])
    BulkJobItem.objects.filter(job=job, user_id="u_busy").update(
        state=BulkJobItem.State.SENDING, attempts=1, claimed_by="alive",
        claimed_until=timezone.now() + timedelta(seconds=30),
    )
    assert job_work(job_id=job.pk, seconds=2) is False
    assert [record.body["From_Account"] for record in emulator.requests(PORTRAIT_SET)] == ["u_free"]
    assert items(job)["u_busy"].state == BulkJobItem.State.SENDING


def test_job_counts_report_states_codes_and_progress(emulator):
    job = make_job(emulator, ["u_1", "u_2", "u_3"])
    BulkJobItem.objects.create(job=job, user_id="u_ghost", values={"Tag_Profile_IM_Nick": "x"})
    BulkJobItem.objects.create(job=job, user_id="u_ghost2", values={"Tag_Profile_IM_Nick": "x"})
    BulkJob.objects.filter(pk=job.pk).update(total=5)
    job.refresh_from_db()
    before = job_counts(job)
    assert before["total"] == 5 and before["done"] == 0 and before["by_state"]["pending"] == 5
    assert before["finished"] is False and before["rate"] == 0.0

    work_until_done(job)
    counts = job_counts(job)
    assert counts["done"] == 5 and counts["finished"] is True and counts["state"] == BulkJob.State.DONE
    assert counts["by_state"]["succeeded"] == 3 and counts["by_state"]["failed"] == 2
    assert counts["by_code"][0]["code"] == 40003 and counts["by_code"][0]["count"] == 2
    assert counts["seconds_left"] == 0 and counts["rate"] > 0


def test_items_claimed_but_not_started_when_a_slice_ends_go_back_unsent(emulator, settings):
    settings.IM_JOB_CONCURRENCY = 1
    emulator.set_latency(0.05)
    job = make_job(emulator, [f"u_{n:02}" for n in range(12)])
    assert job_work(job_id=job.pk, seconds=0.15) is False
    # Nothing is left looking "possibly sent" for CLAIM_SECONDS: the next slice takes it at once.
    assert not BulkJobItem.objects.filter(job=job, state=BulkJobItem.State.SENDING).exists()
    assert BulkJobItem.objects.filter(job=job, state=BulkJobItem.State.PENDING, claimed_by="").exists()
    emulator.set_latency(0)
    work_until_done(job, timeout=5)
    assert len(emulator.requests(PORTRAIT_SET)) == 12
    assert not ImRequest.objects.filter(job=job, purpose__contains="re-sent").exists()


def test_a_cancel_also_stops_items_already_claimed_by_a_busy_worker(emulator, settings):
    settings.IM_JOB_CONCURRENCY = 4  # claims 8 at a time
    emulator.set_latency(0.05)
    job = make_job(emulator, [f"u_{n:02}" for n in range(40)])
    worker = work_in_background_until_sent(emulator, job, 2)
    job_cancel(job=job)
    sent_at_cancel = len(emulator.requests(PORTRAIT_SET))
    worker.join(timeout=10)
    # Only requests already on the wire (one per thread at most) may still arrive.
    assert len(emulator.requests(PORTRAIT_SET)) <= sent_at_cancel + settings.IM_JOB_CONCURRENCY
    job.refresh_from_db()
    assert job.state == BulkJob.State.CANCELLED
    assert BulkJobItem.objects.filter(job=job, state=BulkJobItem.State.CANCELLED).count() >= 40 - (
        sent_at_cancel + settings.IM_JOB_CONCURRENCY
    )


def test_a_job_reads_tencents_values_first_and_records_them_as_before(emulator, remote_user):
    """Before sending, a job reads its items' current values in Tencent, a call per hundred items: the
    audit row's before is what Tencent held (here changed in the app since the local copy), and a
    tag Tencent already holds at the requested value is not sent."""
    nick = "Tag_Profile_IM_Nick"
    remote_user("u_1")  # local copy and Tencent: "old nick"
    remote_user("u_2")
    emulator.set_as_user("u_1", {nick: "changed in the app"})
    emulator.set_as_user("u_2", {nick: "already there"})
    job = make_job(emulator, [], nick="unused")
    BulkJobItem.objects.bulk_create([
        BulkJobItem(job=job, user_id="u_1", values={nick: "from the job"}),
        BulkJobItem(job=job, user_id="u_2", values={nick: "already there"}),
    ])
    BulkJob.objects.filter(pk=job.pk).update(total=2)
    work_until_done(job)
    assert len(emulator.requests(PORTRAIT_GET)) == 1
    sent = ImRequest.objects.get(job=job, command=PORTRAIT_SET)
    assert sent.user_id == "u_1"
    assert sent.changes == [{"tag": nick, "before": "changed in the app", "after": "from the job"}]
    assert emulator.requests(PORTRAIT_SET)[0].body["From_Account"] == "u_1"
    assert items(job)["u_2"].state == BulkJobItem.State.SUCCEEDED
    assert "already has" in items(job)["u_2"].message
