"""Who sees and manages which background jobs: an editor their own, a lead every one, auditors see all."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from profiles import services
from profiles.models import BulkJob
from profiles.services.jobs import JobRow

pytestmark = pytest.mark.django_db

NICK = "Tag_Profile_IM_Nick"


@pytest.fixture
def colleague(django_user_model, cast):
    """A second profile editor."""
    user = django_user_model.objects.create_user(username="colleague", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=services.EDITORS_GROUP))
    return user


@pytest.fixture
def editors_job(cast):
    return services.job_create(actor=cast.editor, source=BulkJob.Source.COMMAND, source_name="mine", enqueue=False,
                               rows=[JobRow(user_id="u_1", values={NICK: "x"})])


@pytest.fixture
def system_job(cast):
    return services.job_create(actor=None, source=BulkJob.Source.COMMAND, source_name="cron", enqueue=False,
                               rows=[JobRow(user_id="u_2", values={NICK: "y"})])


def job_urls(job: BulkJob) -> dict[str, str]:
    return {view: reverse(f"admin:profiles_bulkjob_{view}", args=[job.pk])
            for view in ("change", "status", "results", "failures", "cancel", "retry")}


def listed(client) -> set[int]:
    page = client.get(reverse("admin:profiles_bulkjob_changelist"))
    assert page.status_code == 200
    return {job.pk for job in page.context["cl"].result_list}


def test_an_editor_sees_only_the_jobs_they_started(client, cast, colleague, editors_job, system_job):
    client.force_login(colleague)
    assert listed(client) == set()
    urls = job_urls(editors_job)
    for view in ("change", "status", "results", "failures"):
        assert client.get(urls[view]).status_code == 403, view
    for view in ("cancel", "retry"):
        assert client.post(urls[view]).status_code == 403, view
    editors_job.refresh_from_db()
    assert not editors_job.cancel_requested

    client.force_login(cast.editor)
    assert listed(client) == {editors_job.pk}
    assert client.get(job_urls(system_job)["change"]).status_code == 403


def test_a_lead_with_the_permission_sees_and_cancels_every_job(client, colleague, editors_job, system_job):
    colleague.user_permissions.add(Permission.objects.get(codename="manage_all_bulkjob"))
    client.force_login(colleague)
    assert listed(client) == {editors_job.pk, system_job.pk}
    assert client.post(job_urls(editors_job)["cancel"]).status_code == 302
    editors_job.refresh_from_db()
    assert editors_job.cancel_requested and editors_job.state == BulkJob.State.CANCELLED


def test_auditors_see_every_job_but_manage_none(client, cast, editors_job, system_job):
    client.force_login(cast.auditor)
    assert listed(client) == {editors_job.pk, system_job.pk}
    assert client.get(job_urls(editors_job)["results"]).status_code == 200
    page = client.get(job_urls(editors_job)["change"]).content.decode()
    assert "job-cancel" not in page
    assert client.post(job_urls(editors_job)["cancel"]).status_code == 403
