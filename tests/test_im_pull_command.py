"""im_pull: refresh local copies from the command line, through the same service as the admin."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.urls import reverse

from profiles import services, tasks
from profiles.im.client import PORTRAIT_GET
from profiles.models import BulkJob, BulkJobItem, ImRequest, Profile
from profiles.selectors import job_progress
from profiles.services import jobs

from .conftest import audited_db, child_env, run_manage, wait_for

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("im_pull", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def local_and_remote(emulator, count: int) -> list[str]:
    """``count`` users known to Tencent, each with a stale local copy."""
    user_ids = [f"u_{n:04d}" for n in range(count)]
    for user_id in user_ids:
        emulator.add_account(user_id, {NICK: f"fresh {user_id}"})
    Profile.objects.bulk_create([Profile(user_id=user_id, nick="stale") for user_id in user_ids])
    return user_ids


def test_it_refreshes_the_users_named(emulator, remote_user, cast):
    remote_user("u_1")
    remote_user("u_2")
    remote_user("u_3")
    emulator.set_as_user("u_1", {NICK: "one"})
    emulator.set_as_user("u_2", {NICK: "two"})
    emulator.set_as_user("u_3", {NICK: "three"})
    out, err = run("u_1", "u_2", "--actor", "editor")
    assert "Refreshed 2 profile(s) in 1 call(s); 0 failed." in out and err == ""
    assert dict(Profile.objects.values_list("user_id", "nick")) == {"u_1": "one", "u_2": "two", "u_3": "old nick"}
    row = ImRequest.objects.get()
    assert row.command == PORTRAIT_GET and row.source == "command" and row.actor == cast.editor
    assert sorted(row.subjects.values_list("user_id", flat=True)) == ["u_1", "u_2"]


def test_it_creates_the_local_copy_of_a_user_it_did_not_know(emulator):
    emulator.add_account("u_new", {NICK: "newcomer"})
    run("u_new")
    assert Profile.objects.get(user_id="u_new").nick == "newcomer"
    assert ImRequest.objects.get().actor is None


def queued_rounds() -> list[int]:
    """The job ids of the refresh rounds waiting in django-q2's queue (the ORM broker)."""
    from django_q.models import OrmQ

    return [task.task["args"][0] for task in OrmQ.objects.all() if task.func() == "profiles.tasks.run_pull_round"]


def run_rounds() -> None:
    """Take every queued round as a qcluster worker would, in this process."""
    from django_q.models import OrmQ

    for task in list(OrmQ.objects.all()):
        tasks.run_pull_round(*task.task["args"])
        task.delete()


def test_all_queues_a_refresh_job_with_a_round_for_every_1000_local_copies(emulator):
    local_and_remote(emulator, 2500)
    out, _err = run("--all")
    job = BulkJob.objects.get()
    assert job.kind == BulkJob.Kind.PULL and job.total == 2500 and job.source == BulkJob.Source.COMMAND
    assert f"Job #{job.pk} queued: refresh 2500 local copies in rounds of 1000" in out and "--wait" in out
    assert queued_rounds() == [job.pk] * 3
    assert emulator.requests() == []  # nothing is sent until a worker takes a round


def test_the_rounds_refresh_every_copy_once_and_finish_the_job(emulator):
    user_ids = local_and_remote(emulator, 250)
    run("--all")
    run_rounds()
    assert sorted(len(r.body["To_Account"]) for r in emulator.requests(PORTRAIT_GET)) == [50, 100, 100]
    job = BulkJob.objects.get()
    rows = ImRequest.objects.filter(command=PORTRAIT_GET)
    assert rows.count() == 3 and set(rows.values_list("job", "source")) == {(job.pk, ImRequest.Source.JOB)}
    assert set(Profile.objects.values_list("nick", flat=True)) == {f"fresh {u}" for u in user_ids}
    assert not Profile.objects.filter(last_pulled_at=None).exists()
    assert job.state == BulkJob.State.DONE and job.finished_at is not None
    assert job_progress(job).by_state[BulkJobItem.State.SUCCEEDED] == 250 and not job.items.exists()


def test_a_refresh_job_writes_its_users_in_rounds_and_their_items_when_each_round_ends(emulator):
    """10,000 copies are 10 rounds of UserIDs, not 10,000 items written up front. A round counts the
    users it refreshed as it ends, and writes items only for those it could not (none here); until
    then the job counts its users as pending."""
    local_and_remote(emulator, 2500)
    run("--all")
    job = BulkJob.objects.get()
    assert [len(r.user_ids) for r in job.rounds.order_by("number")] == [1000, 1000, 500]
    assert not job.items.exists() and job_progress(job).by_state[BulkJobItem.State.PENDING] == 2500
    from django_q.models import OrmQ

    first = OrmQ.objects.order_by("pk").first()
    tasks.run_pull_round(*first.task["args"])
    first.delete()
    progress = job_progress(job)
    assert progress.by_state[BulkJobItem.State.SUCCEEDED] == 1000 == progress.done and not job.items.exists()
    assert progress.by_state[BulkJobItem.State.PENDING] == 1500 and not progress.finished


def test_a_round_whose_worker_died_runs_again_and_each_user_ends_once(emulator, settings):
    from datetime import timedelta

    from django.utils import timezone

    from profiles.services import jobpull

    user_ids = local_and_remote(emulator, 30)
    job = jobs.pull_job_create(actor=None, source=BulkJob.Source.COMMAND, enqueue=False)
    dead = jobs.round_claim(job_id=job.pk, worker="a worker that died")
    assert jobs.round_claim(job_id=job.pk, worker="another") is None  # held while the claim lasts
    job.rounds.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert jobpull.job_pull_round(job_id=job.pk) == 30
    job.refresh_from_db()
    assert job.state == BulkJob.State.DONE and job_progress(job).by_state[BulkJobItem.State.SUCCEEDED] == 30
    sent = [u for r in emulator.requests(PORTRAIT_GET) for u in r.body["To_Account"]]
    assert sorted(sent) == user_ids
    assert set(ImRequest.objects.filter(job=job).values_list("attempt", flat=True)) == {2}
    # The dead worker's late end (it was only slow) counts nothing: no user ends twice.
    assert jobs.round_finish(dead, [], refreshed=30) == 0
    assert job_progress(job).by_state[BulkJobItem.State.SUCCEEDED] == 30


def test_each_round_is_a_task_of_its_own(emulator, monkeypatch):
    monkeypatch.setattr(jobs, "PULL_ROUND", 120)
    local_and_remote(emulator, 250)
    run("--all")
    assert len(queued_rounds()) == 3
    run_rounds()
    # Rounds of 120, 120 and 10 copies: 2 + 2 + 1 calls, every copy read exactly once.
    sizes = [len(r.body["To_Account"]) for r in emulator.requests(PORTRAIT_GET)]
    assert [sorted(sizes[:2]), sorted(sizes[2:4]), sizes[4:]] == [[20, 100], [20, 100], [10]]
    sent = [u for r in emulator.requests(PORTRAIT_GET) for u in r.body["To_Account"]]
    assert len(sent) == len(set(sent)) == 250


def test_users_a_round_could_not_refresh_are_listed_with_the_reason_and_why_they_are_not_retried(emulator):
    local_and_remote(emulator, 3)
    Profile.objects.create(user_id="u_ghost", nick="only here")  # Tencent has no such account
    run("--all")
    run_rounds()
    job = BulkJob.objects.get()
    failed = job.items.get(state=BulkJobItem.State.FAILED)
    assert failed.user_id == "u_ghost" and failed.error_code == 40003 and failed.message
    assert job_progress(job).by_state[BulkJobItem.State.SUCCEEDED] == 3 and job.items.count() == 1
    # docs/tencent-im.md §6: a missing account is not retried (tests/test_job_failures.py retries a lost answer).
    retry = services.job_retry_failed(job=job, actor=None)
    assert retry.job is None and retry.not_retried == [(40003, 1)]


def test_a_cancelled_refresh_job_sends_no_round_that_had_not_started(emulator):
    local_and_remote(emulator, 30)
    run("--all")
    job = BulkJob.objects.get()
    services.job_cancel(job=job)
    run_rounds()
    job.refresh_from_db()
    assert emulator.requests() == [] and job.state == BulkJob.State.CANCELLED
    assert job.items.filter(state=BulkJobItem.State.CANCELLED).count() == 30


def test_a_refresh_jobs_results_csv_lists_every_user_refreshed_or_not(emulator, admin_client, monkeypatch):
    import csv
    import io

    monkeypatch.setattr(jobs, "PULL_ROUND", 3)
    local_and_remote(emulator, 4)
    Profile.objects.create(user_id="u_ghost", nick="only here")  # Tencent has no such account
    run("--all")
    job = BulkJob.objects.get()
    from django_q.models import OrmQ

    first = OrmQ.objects.order_by("pk").first()  # one round of two ends; the other has not started
    tasks.run_pull_round(*first.task["args"])
    response = admin_client.get(reverse("admin:profiles_bulkjob_results", args=[job.pk]))
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[:3] for row in table] == [
        ["UserID", "outcome", "ErrorCode"],
        ["u_0000", "succeeded", "0"], ["u_0001", "succeeded", "0"], ["u_0002", "succeeded", "0"],
        ["u_0003", "pending", ""], ["u_ghost", "pending", ""],
    ]
    run_rounds()
    response = admin_client.get(reverse("admin:profiles_bulkjob_results", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]
    assert [row[:3] for row in rows[3:]] == [["u_0003", "succeeded", "0"], ["u_ghost", "failed", "40003"]]
    assert rows[-1][3]  # the meaning of 40003


def test_all_with_no_local_copies_sends_nothing(emulator):
    out, _err = run("--all")
    assert "no local copies to refresh; nothing was sent" in out and emulator.requests() == []
    assert not BulkJob.objects.exists()


def test_all_with_wait_from_the_shell_follows_the_job_that_running_workers_take(emulator, qcluster):
    user_ids = local_and_remote(emulator, 3500)
    Profile.objects.create(user_id="u_ghost")
    qcluster(Q_WORKERS="2")
    done = run_manage("im_pull", "--all", "--wait")
    assert done.returncode == 1, done.stderr
    assert "3500 succeeded, 1 failed" in done.stdout
    assert "u_ghost: ErrorCode 40003" in done.stderr and "1 item(s) failed" in done.stderr
    sent = sorted(u for r in emulator.requests(PORTRAIT_GET) for u in r.body["To_Account"])
    assert sent == sorted([*user_ids, "u_ghost"])  # each exactly once
    assert ImRequest.objects.filter(command=PORTRAIT_GET, state=ImRequest.State.OK).count() == 36
    assert not Profile.objects.exclude(user_id="u_ghost").exclude(nick__startswith="fresh").exists()


def test_a_user_that_fails_makes_it_fail_naming_the_user(emulator, remote_user):
    remote_user("u_1")
    emulator.set_as_user("u_1", {NICK: "refreshed anyway"})
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("im_pull", "u_1", "u_ghost", stdout=StringIO(), stderr=err)
    message = str(caught.value)
    assert "1 failed" in message and "u_ghost" in message and "40003" in message
    assert "u_ghost: ErrorCode 40003" in err.getvalue()
    # The others are refreshed all the same.
    assert Profile.objects.get(user_id="u_1").nick == "refreshed anyway"
    assert not Profile.objects.filter(user_id="u_ghost").exists()


def test_a_failure_exits_non_zero_from_the_shell(emulator, remote_user, settings):
    remote_user("u_1")
    done = run_manage("im_pull", "u_1", "u_ghost")
    assert done.returncode == 1
    assert "u_ghost" in done.stderr and "40003" in done.stderr
    assert len(emulator.requests(PORTRAIT_GET)) == 1


@pytest.mark.parametrize("args", [(), ("u_1", "--all")], ids=["neither", "both"])
def test_it_needs_user_ids_or_all_but_not_both(emulator, args):
    with pytest.raises(CommandError, match="one or more UserIDs, or --all"):
        run(*args)
    assert emulator.requests() == []


@pytest.mark.parametrize(("user_id", "problem"), [("x" * 33, "33 bytes"), ("ü", "printable ASCII")])
def test_an_invalid_user_id_is_refused_before_anything_is_sent(emulator, user_id, problem):
    with pytest.raises(CommandError, match=f"Invalid UserID.*{problem}"):
        run("u_1", user_id)
    assert emulator.requests() == [] and not ImRequest.objects.exists()


def test_an_unknown_actor_is_refused_before_anything_is_sent(emulator):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run("u_1", "--actor", "ghost")
    assert emulator.requests() == []


def test_an_actor_who_may_not_change_profiles_is_refused(emulator, cast):
    with pytest.raises(CommandError, match="'auditor' is not allowed"):
        run("u_1", "--actor", "auditor")
    assert emulator.requests() == []
    out, _err = run_ok_as_editor(emulator)
    assert "Refreshed 1 profile(s)" in out


def run_ok_as_editor(emulator) -> tuple[str, str]:
    emulator.add_account("u_1", {"Tag_Profile_IM_Nick": "x"})
    return run("u_1", "--actor", "editor")


def test_wait_goes_with_all(emulator):
    with pytest.raises(CommandError, match="--wait goes with --all"):
        run("u_1", "--wait")
    assert emulator.requests() == []


def test_the_page_of_a_refresh_job_shows_what_it_is_its_progress_and_each_failed_user(emulator, client, cast):
    local_and_remote(emulator, 3)
    Profile.objects.create(user_id="u_ghost")
    run("--all")
    run_rounds()
    job = BulkJob.objects.get()
    client.force_login(cast.root)
    page = client.get(reverse("admin:profiles_bulkjob_change", args=[job.pk])).content.decode()
    assert "Refresh from Tencent" in page and '<span id="job-done">4</span> of 4 done' in page
    row = page.split('data-user-id="u_ghost"')[1].split("</tr>")[0]
    assert "users/s" in page and "does not exist in Tencent IM" in row and "ErrorCode 40003" in row
    assert 'id="job-retry"' not in page and "1 item with 40003" in page  # a retry cannot help (§6)


def test_ctrl_c_stops_following_the_job_but_not_the_job(emulator):
    local_and_remote(emulator, 10)  # no worker runs: the job waits in the queue
    command = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "manage.py", "im_pull", "--all", "--wait"], env=child_env(),
        cwd=django_settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    wait_for(lambda: BulkJob.objects.exists(), 30, "the job to be queued")
    time.sleep(0.5)  # following it now
    command.send_signal(signal.SIGINT)
    _out, err = command.communicate(timeout=30)
    assert command.returncode == 1 and b"Traceback" not in err
    assert b"Stopped following job #" in err and b"goes on in the workers" in err
    job = BulkJob.objects.get()
    assert not job.cancel_requested and job_progress(job).by_state[BulkJobItem.State.PENDING] == 10
    assert queued_rounds() == [job.pk] and emulator.requests() == []
