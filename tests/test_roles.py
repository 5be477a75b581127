"""Each role against each page, action and export URL: permissions are enforced by the views, not
only hidden in menus. Roles: a profile editor, an audit reviewer, a staff member in no group, a
superuser, and nobody logged in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from profiles import services
from profiles.models import AuditExport, BulkJob, ExternalChange, ImRequest, Profile

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"


@dataclass
class World:
    profile: Profile
    own_row: ImRequest  # the editor's push
    other_row: ImRequest  # the superuser's push
    job: BulkJob


@pytest.fixture
def world(emulator, remote_user, cast) -> World:
    profile = remote_user("u_1")
    remote_user("u_2")
    own = services.profile_push(profile=profile, values={NICK: "by editor"}, actor=cast.editor, source="admin")
    other = services.profile_push(profile=Profile.objects.get(user_id="u_2"), values={NICK: "by root"},
                                  actor=cast.root, source="admin")
    job = services.job_create(actor=cast.editor, source=BulkJob.Source.COMMAND, source_name="roles test",
                              rows=[services.jobs.JobRow(user_id="u_2", values={NICK: "job"})])
    ExternalChange.objects.create(user_id="u_1", operator_account="u_1", platform="iOS", body={}, changes=[])
    AuditExport.objects.create(actor=cast.auditor, actor_username="auditor", format="csv", filter="")
    return World(profile=Profile.objects.get(user_id="u_1"), own_row=own.audit, other_row=other.audit, job=job)


@dataclass(frozen=True)
class Check:
    name: str
    method: str
    url: Any  # str, or a function of the World
    # Expected status for: editor, auditor, outsider, root (anonymous users always go to the login page).
    editor: int
    auditor: int
    outsider: int
    root: int
    data: Any = None  # a function of the World giving the POST data


def change_data(world: World) -> dict[str, str]:
    return {"user_id": "u_1", "nick": "role test", "loaded_version": str(world.profile.version)}


def profile(view: str):
    return lambda w: reverse(f"admin:profiles_profile_{view}", args=[w.profile.pk])


def job(view: str):
    return lambda w: reverse(f"admin:profiles_bulkjob_{view}", args=[w.job.pk])


def audit_row(view: str, row: str = "own_row"):
    return lambda w: reverse(f"admin:profiles_imrequest_{view}", args=[getattr(w, row).pk])


CHECKS = [
    # Profiles: editors edit, reviewers only read.
    Check("profile list", "GET", reverse("admin:profiles_profile_changelist"), 200, 200, 403, 200),
    Check("profile add form", "GET", reverse("admin:profiles_profile_add"), 200, 403, 403, 200),
    Check("profile change form", "GET", profile("change"), 200, 200, 403, 200),
    Check("profile timeline", "GET", profile("tencent_history"), 200, 200, 403, 200),
    Check("profile CSV export", "GET", reverse("admin:profiles_profile_export_csv"), 200, 200, 403, 200),
    Check("profile CSV import form", "GET", reverse("admin:profiles_profile_import_csv"), 200, 403, 403, 200),
    Check("open user", "POST", reverse("admin:profiles_profile_open"), 302, 403, 403, 302,
          data=lambda w: {"user_id": "u_2"}),
    Check("refresh from Tencent", "POST", profile("refresh"), 302, 403, 403, 302),
    Check("save a profile", "POST", profile("change"), 302, 403, 403, 302, data=change_data),
    # The audit trail: reviewers read all of it, editors their own rows; nobody changes it.
    Check("audit list", "GET", reverse("admin:profiles_imrequest_changelist"), 200, 200, 403, 200),
    Check("own audit row", "GET", audit_row("change"),
          200, 200, 403, 200),
    # A row outside the viewer's queryset: "you do not have permission" (403), not "does not exist".
    Check("someone else's audit row", "GET",
          audit_row("change", "other_row"), 403, 200, 403, 200),
    Check("audit timeline", "GET", f"{reverse('admin:profiles_imrequest_timeline')}?user_id=u_1",
          200, 200, 403, 200),
    Check("audit dashboard", "GET", reverse("admin:profiles_imrequest_dashboard"), 403, 200, 403, 200),
    Check("audit export CSV", "GET", reverse("admin:profiles_imrequest_export_csv"), 403, 200, 403, 200),
    Check("audit export JSON Lines", "GET", reverse("admin:profiles_imrequest_export_jsonl"), 403, 200, 403, 200),
    Check("audit export records", "GET", reverse("admin:profiles_auditexport_changelist"), 403, 200, 403, 200),
    Check("audit archives", "GET", reverse("admin:profiles_auditanchor_changelist"), 403, 200, 403, 200),
    Check("revert an own change", "GET", audit_row("revert"),
          302, 403, 403, 302),
    Check("add an audit row", "GET", reverse("admin:profiles_imrequest_add"), 403, 403, 403, 403),
    Check("edit an audit row", "POST", audit_row("change"),
          403, 403, 403, 403, data=lambda w: {"note": "edited"}),
    Check("delete an audit row", "POST", audit_row("delete"),
          403, 403, 403, 403, data=lambda w: {"post": "yes"}),
    Check("external changes", "GET", reverse("admin:profiles_externalchange_changelist"), 200, 200, 403, 200),
    # Jobs: both read them, only editors start, cancel or retry them.
    Check("job list", "GET", reverse("admin:profiles_bulkjob_changelist"), 200, 200, 403, 200),
    Check("job page", "GET", job("change"), 200, 200, 403, 200),
    Check("job status", "GET", job("status"), 200, 200, 403, 200),
    Check("job results CSV", "GET", job("results"), 200, 200, 403, 200),
    Check("job failures CSV", "GET", job("failures"), 200, 200, 403, 200),
    Check("retry failed items", "POST", job("retry"), 302, 403, 403, 302),
    Check("cancel a job", "POST", job("cancel"), 302, 403, 403, 302),
    # Custom tags mirror the console; only a superuser defines them.
    Check("define a custom tag", "GET", reverse("admin:profiles_customtagdefinition_add"), 403, 403, 403, 200),
]

ROLES = ["editor", "auditor", "outsider", "root", "anonymous"]


def request(client, check: Check, world: World):
    url = check.url(world) if callable(check.url) else check.url
    if check.method == "GET":
        return client.get(url)
    return client.post(url, check.data(world) if check.data else {})


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_it_may_at_every_url(client, cast, world, role):
    if role != "anonymous":
        client.force_login(getattr(cast, role))
    wrong = []
    for check in CHECKS:
        response = request(client, check, world)
        if role == "anonymous":
            ok = response.status_code == 302 and "/login/" in response["Location"]
            expected: Any = "a redirect to the login page"
        else:
            expected = getattr(check, role)
            ok = response.status_code == expected
        if not ok:
            wrong.append(f"{check.name}: got {response.status_code}, expected {expected}")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


def test_the_set_fields_action_is_offered_to_editors_only(client, cast, world):
    data = {"action": "set_fields", ACTION_CHECKBOX_NAME: [str(world.profile.pk)]}
    url = reverse("admin:profiles_profile_changelist")
    client.force_login(cast.editor)
    assert "Set fields on 1 selected profile" in client.post(url, data).content.decode()
    for user in (cast.auditor, cast.outsider):
        client.force_login(user)
        response = client.post(url, data, follow=True)
        assert "Set fields on" not in response.content.decode()
    assert BulkJob.objects.count() == 1


def test_an_editor_never_sees_another_staff_members_rows(client, cast, world):
    client.force_login(cast.editor)
    listed = {row.pk for row in client.get(reverse("admin:profiles_imrequest_changelist")).context["cl"].result_list}
    assert world.own_row.pk in listed and world.other_row.pk not in listed
    client.force_login(cast.auditor)
    listed = {row.pk for row in client.get(reverse("admin:profiles_imrequest_changelist")).context["cl"].result_list}
    assert {world.own_row.pk, world.other_row.pk} <= listed
