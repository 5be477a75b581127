"""Every admin page warns staff when work waits and no background worker runs; no warning while a
django-q2 cluster runs, or when nothing waits."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from profiles.models import BulkJob
from profiles.selectors.health import worker_status
from profiles.services.jobs import JobRow, job_create

from .conftest import audited_db, wait_for

pytestmark = [audited_db, pytest.mark.usefixtures("no_heartbeats")]

BANNER = "No background worker is running"


def waiting_job(*, enqueue: bool) -> BulkJob:
    return job_create(
        actor=None, source=BulkJob.Source.COMMAND, source_name="test", enqueue=enqueue,
        rows=[JobRow(user_id="u_1", values={"Tag_Profile_IM_Nick": "new"})],
    )


def page(client, url: str = "", **headers: str) -> str:
    cache.clear()  # the banner's answer is kept a few seconds per process
    return client.get(url or reverse("admin:index"), headers=headers).content.decode()


def test_a_waiting_job_with_no_worker_shows_the_banner_on_every_admin_page(editor_client, client, emulator):
    assert BANNER not in page(editor_client)
    waiting_job(enqueue=True)
    text = page(editor_client)
    assert '<ul class="messagelist worker-banner"><li class="warning">' in text
    assert "No background worker is running; 1 job is waiting. Start <code>python manage.py qcluster</code>." in text
    assert "没有正在运行的后台工作进程；有 1 个作业在等待。" in page(editor_client, **{"Accept-Language": "zh-hans"})
    for url in (reverse("admin:profiles_profile_changelist"), reverse("admin:profiles_imrequest_changelist")):
        assert BANNER in page(editor_client, url)
    client.logout()
    assert BANNER not in page(client, reverse("admin:login"))  # not before login


def test_tasks_in_the_queue_count_when_no_job_waits(editor_client):
    from django_q.tasks import async_task

    async_task("profiles.tasks.run_pull_round", 0)
    async_task("profiles.tasks.run_pull_round", 0)
    assert "No background worker is running; 2 tasks are waiting." in page(editor_client)


def test_no_banner_while_a_cluster_runs(editor_client, qcluster):
    waiting_job(enqueue=False)  # waits, and gives the cluster nothing to finish it with
    assert BANNER in page(editor_client)
    qcluster(Q_WORKERS="1")
    wait_for(lambda: worker_status().running, 30, "the cluster's heartbeat")
    assert BANNER not in page(editor_client)
    assert BulkJob.objects.get().state == BulkJob.State.QUEUED  # still waiting: the cluster made the difference
