"""Bulk jobs across processes: the shared rate limit holds for two workers, and a django-q2 cluster
killed mid-job and started again finishes every item exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from profiles.im.client import PORTRAIT_SET
from profiles.im.emulator import max_in_window
from profiles.models import BulkJob, BulkJobItem, ImRequest
from profiles.services.jobs import JobRow, job_create

from .conftest import audited_db, test_database_url, wait_for

pytestmark = audited_db
ROOT = Path(__file__).resolve().parent.parent


def child_env(emulator_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IM_", "Q_", "DATABASE_URL"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "improfile_site.settings",
        # The test database: a file both this process and the children open (settings.py).
        "DATABASE_URL": test_database_url(),
        "IM_API_BASE": emulator_url,
        "AUDIT_DIGEST_DIR": str(django_settings.AUDIT_DIGEST_DIR),
        "LOG_LEVEL": "WARNING",
        **extra,
    })
    return env


def make_job(emulator, count: int, *, enqueue: bool = False) -> BulkJob:
    user_ids = [f"u_{n:04d}" for n in range(count)]
    for user_id in user_ids:
        emulator.add_account(user_id, {"Tag_Profile_IM_Nick": "old"})
    return job_create(
        actor=None, source=BulkJob.Source.COMMAND, source_name="test", enqueue=enqueue,
        rows=[JobRow(user_id=u, values={"Tag_Profile_IM_Nick": f"new {u}"}) for u in user_ids],
    )


def test_the_rate_limit_holds_across_two_worker_processes(emulator, settings):
    limit = 20
    # Each process signs as its own admin, so the emulator's log tells which process sent what.
    emulator.state.admin_identifiers = ("administrator", "second_admin")
    # 100 items at 19/s take about 5 s: time enough for the second process to start and take part.
    job = make_job(emulator, 100)
    workers = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "job_worker.py"), str(job.pk)],
            env=child_env(settings.IM.api_base, IM_RATE_LIMIT=str(limit), IM_JOB_CONCURRENCY="4",
                          IM_ADMIN_IDENTIFIER=admin),
            stderr=subprocess.PIPE, text=True,
        )
        for admin in ("administrator", "second_admin")
    ]
    for worker in workers:
        _out, errors = worker.communicate(timeout=60)
        assert worker.returncode == 0, errors[-3000:]

    records = emulator.requests(PORTRAIT_SET)
    per_process = Counter(record.query["identifier"] for record in records)
    assert per_process["administrator"] > 0 and per_process["second_admin"] > 0, per_process
    stamps = sorted(record.at for record in records)
    # On failure, the message shows the arrivals (relative to the first) so the window can be read.
    assert max_in_window(stamps) <= limit, [round(stamp - stamps[0], 3) for stamp in stamps]
    sent = Counter(record.body["From_Account"] for record in records)
    assert sent == {f"u_{n:04d}": 1 for n in range(100)}, {user: n for user, n in sent.items() if n != 1}
    job.refresh_from_db()
    assert job.state == BulkJob.State.DONE
    assert BulkJobItem.objects.filter(job=job, state=BulkJobItem.State.SUCCEEDED).count() == 100


def test_a_cluster_killed_mid_job_and_restarted_finishes_every_item_exactly_once(emulator, settings, qcluster):
    count = 120
    emulator.set_latency(0.02)
    env = {
        "IM_RATE_LIMIT": "40", "Q_WORKERS": "1", "Q_TIMEOUT": "5", "Q_RETRY": "6",
        "IM_JOB_SLICE_SECONDS": "2", "IM_JOB_CLAIM_SECONDS": "3",
    }
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 1}
    job = make_job(emulator, count, enqueue=True)

    def succeeded() -> int:
        return BulkJobItem.objects.filter(job=job, state=BulkJobItem.State.SUCCEEDED).count()

    cluster = qcluster(**env)
    wait_for(lambda: succeeded() >= 20, 30, "the first cluster to make progress")
    qcluster.kill(cluster)
    in_flight = BulkJobItem.objects.filter(job=job, state=BulkJobItem.State.SENDING)
    in_flight_count = in_flight.count()
    assert in_flight_count and succeeded() < count
    # The dead worker's claims lapse after IM_JOB_CLAIM_SECONDS (3 s here); the restarted
    # cluster takes those items up then.

    qcluster(**env)
    wait_for(lambda: BulkJob.objects.get(pk=job.pk).finished_at is not None, 45, "the job to finish")

    assert succeeded() == count
    ok = ImRequest.objects.filter(job=job, command=PORTRAIT_SET, state=ImRequest.State.OK)
    accepted = Counter(ok.values_list("user_id", flat=True))
    assert set(accepted.values()) == {1}  # never two accepted pushes for one user
    # A request that went out unanswered (the kill) was sent again, and its audit row says so -
    # unless Tencent had applied it: the job reads Tencent's values before sending, and sends
    # nothing for an edit Tencent already holds.
    users = [f"u_{n:04d}" for n in range(count)]
    pushes = ImRequest.objects.filter(job=job, command=PORTRAIT_SET)
    for user_id in set(users) - set(accepted):
        assert pushes.filter(user_id=user_id).exclude(state=ImRequest.State.OK).exists(), user_id
        assert "already has" in BulkJobItem.objects.get(job=job, user_id=user_id).message
    assert all(emulator.profile(user_id)["Tag_Profile_IM_Nick"] == f"new {user_id}" for user_id in users)
    for row in pushes.filter(state=ImRequest.State.PENDING):
        assert ok.filter(user_id=row.user_id, purpose__contains="re-sent").exists() or row.user_id not in accepted
    # Every request that reached the emulator was audited first; a user reached twice is one whose
    # answer the kill lost (a body cut off by the kill is no request at all).
    arrivals = Counter(r.body["From_Account"] for r in emulator.requests(PORTRAIT_SET) if r.body)
    audited = Counter(ImRequest.objects.filter(job=job).values_list("user_id", flat=True))
    assert all(arrivals[user_id] <= audited[user_id] for user_id in arrivals)
    resent = set(ok.filter(purpose__contains="re-sent").values_list("user_id", flat=True))
    assert {user_id for user_id, n in arrivals.items() if n > 1} <= resent


@pytest.fixture(autouse=True)
def restore_admins(emulator):
    admins = emulator.state.admin_identifiers
    yield
    emulator.state.admin_identifiers = admins
