"""django-q2's admin pages are read-only for everyone: a schedule or task made or changed in the
browser would run any function as the server's user."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.models import Failure, OrmQ, Schedule, Success

pytestmark = pytest.mark.django_db

MODELS = [Schedule, Success, Failure, OrmQ]


@pytest.fixture
def root_client(client, cast):
    client.force_login(cast.root)
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:django_q_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_a_superuser_may_look_but_not_add(root_client, model):
    page = root_client.get(url(model, "changelist"))
    assert page.status_code == 200
    assert url(model, "add") not in page.content.decode()
    assert root_client.get(url(model, "add")).status_code == 403


def test_a_superuser_cannot_schedule_a_command(root_client):
    response = root_client.post(url(Schedule, "add"), {
        "name": "pwn", "func": "os.system", "args": "'touch /tmp/pwned'", "schedule_type": "O", "repeats": "-1",
    })
    assert response.status_code == 403
    assert not Schedule.objects.exists()


def test_a_superuser_cannot_change_or_delete_a_schedule(root_client):
    schedule = Schedule.objects.create(name="report", func="math.fsum", args="[1.0]", schedule_type="D")
    page = root_client.get(url(Schedule, "change", schedule.pk))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert root_client.post(url(Schedule, "change", schedule.pk), {"func": "os.system"}).status_code == 403
    assert root_client.post(url(Schedule, "delete", schedule.pk), {"post": "yes"}).status_code == 403
    schedule.refresh_from_db()
    assert schedule.func == "math.fsum"


def test_a_failed_task_cannot_be_resubmitted_from_the_list(root_client):
    failure = Failure.objects.create(
        id="f" * 32, name="failed", func="os.system", args=("touch /tmp/pwned",), kwargs={}, success=False,
        started="2026-11-30T10:00:00Z", stopped="2026-11-30T10:00:01Z",
    )
    page = root_client.get(url(Failure, "changelist"))
    assert 'name="action"' not in page.content.decode()
    root_client.post(url(Failure, "changelist"), {"action": "resubmit_task", "_selected_action": [failure.pk]})
    assert not OrmQ.objects.exists()
