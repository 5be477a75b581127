"""The scale-out pass (``.ci/run``): two real ``qcluster`` processes take one bulk job's tasks from
Redis (REDIS_URL) and share a PostgreSQL database; every item is sent exactly once and no sliding
second holds more calls than IM_RATE_LIMIT. Skipped unless REDIS_URL is set and the database is
PostgreSQL; run with ``-m scaleout``."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from django.db import connection

from profiles.im.client import PORTRAIT_SET
from profiles.im.emulator import max_in_window
from profiles.models import BulkJob, BulkJobItem, ImRequest
from profiles.selectors.health import worker_status
from profiles.services.jobs import JobRow, job_create

from .conftest import audited_db, wait_for

pytestmark = [
    pytest.mark.scaleout,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or connection.vendor != "postgresql",
        reason="needs REDIS_URL and a PostgreSQL DATABASE_URL (the scale-out pass of .ci/run)",
    ),
    audited_db,
    pytest.mark.usefixtures("no_heartbeats"),
]

ITEMS = 300
LIMIT = 50
ADMINS = ("administrator", "second_admin")


@pytest.fixture
def two_admins(emulator):
    """Each cluster signs as its own app admin, so the emulator's log tells which cluster sent what."""
    admins = emulator.state.admin_identifiers
    emulator.state.admin_identifiers = ADMINS
    yield
    emulator.state.admin_identifiers = admins


@pytest.fixture
def empty_redis_queue():
    from django_q.brokers import get_broker

    broker = get_broker()
    assert type(broker).__name__ == "Redis", type(broker)
    broker.purge_queue()  # tasks an earlier, interrupted run left behind
    return broker


def test_two_clusters_on_redis_send_every_item_once_within_the_rate_limit(
    client, emulator, settings, qcluster, two_admins, empty_redis_queue
):
    from django_q.models import OrmQ

    emulator.set_latency(0.05)
    env = {"IM_RATE_LIMIT": str(LIMIT), "Q_WORKERS": "2", "IM_JOB_CONCURRENCY": "4", "IM_JOB_SLICE_SECONDS": "3"}
    for admin in ADMINS:
        qcluster(**env, IM_ADMIN_IDENTIFIER=admin)
    wait_for(lambda: worker_status().clusters == 2, 60, "both clusters' heartbeats in Redis")
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["checks"]["worker"]["clusters"] == 2
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 4}  # a slice for each worker of both clusters

    user_ids = [f"u_{n:04d}" for n in range(ITEMS)]
    for user_id in user_ids:
        emulator.add_account(user_id, {"Tag_Profile_IM_Nick": "old"})
    job = job_create(
        actor=None, source=BulkJob.Source.COMMAND, source_name="scale-out", enqueue=True,
        rows=[JobRow(user_id=u, values={"Tag_Profile_IM_Nick": f"new {u}"}) for u in user_ids],
    )
    assert not OrmQ.objects.exists()  # the tasks went to Redis, not the database
    wait_for(lambda: BulkJob.objects.get(pk=job.pk).finished_at is not None, 180, "the job to finish")

    records = emulator.requests(PORTRAIT_SET)
    per_cluster = Counter(record.query["identifier"] for record in records)
    assert set(per_cluster) == set(ADMINS), per_cluster  # both clusters sent
    sent = Counter(record.body["From_Account"] for record in records)
    assert sent == dict.fromkeys(user_ids, 1), {user: n for user, n in sent.items() if n != 1}
    stamps = sorted(record.at for record in records)
    assert max_in_window(stamps) <= LIMIT, [round(stamp - stamps[0], 3) for stamp in stamps]
    assert BulkJobItem.objects.filter(job=job, state=BulkJobItem.State.SUCCEEDED).count() == ITEMS
    accepted = ImRequest.objects.filter(job=job, command=PORTRAIT_SET, state=ImRequest.State.OK)
    assert Counter(accepted.values_list("user_id", flat=True)) == dict.fromkeys(user_ids, 1)
    assert all(emulator.profile(user_id)["Tag_Profile_IM_Nick"] == f"new {user_id}" for user_id in user_ids)
