"""The audit trail in the admin: readable by auditors, filterable, and editable by nobody."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from profiles import services
from profiles.im.emulator import Fault
from profiles.models import ImRequest

from .conftest import audited_db

pytestmark = audited_db

LIST_URL = reverse("admin:profiles_imrequest_changelist")


@pytest.fixture
def trail(emulator, remote_user, cast):
    """Three requests: an accepted edit, a refused one (40005) and a transport failure."""
    first, second = remote_user("u_1"), remote_user("u_2")
    push = services.profile_push
    push(profile=first, values={"Tag_Profile_IM_Nick": "ok"}, actor=cast.editor, source="admin")
    emulator.inject(Fault(kind="error_code", error_code=40005, command="profile/portrait_set"))
    push(profile=second, values={"Tag_Profile_IM_Nick": "bad"}, actor=cast.root, source="command")
    emulator.inject(Fault(kind="drop"))
    push(profile=second, values={"Tag_Profile_IM_Nick": "again"}, actor=cast.editor, source="admin")
    return {row.state: row for row in ImRequest.objects.all()}


def test_an_auditor_sees_the_list_with_codes_and_meanings(client, cast, trail):
    client.force_login(cast.auditor)
    page = client.get(LIST_URL).content.decode()
    assert "u_1" in page and "u_2" in page
    assert "40005 — Tencent refused a value because it contains sensitive words." in page
    assert "could not connect" in page or "connection" in page
    assert "IM_Nick" in page and " ms" in page


@pytest.mark.parametrize(
    ("query", "expected", "absent"),
    [
        ({"error_code": "40005"}, ["bad"], ["ok", "again"]),
        ({"error_code": "none"}, ["again"], ["ok", "bad"]),
        ({"action_status": "OK"}, ["ok"], ["bad", "again"]),
        ({"q": "u_1"}, ["ok"], ["bad", "again"]),
        ({"q": "U_1"}, [], ["ok", "bad", "again"]),  # UserIDs are case-sensitive (docs/tencent-im.md §1)
        ({"source": "command"}, ["bad"], ["ok", "again"]),
    ],
)
def test_the_list_filters(client, cast, trail, query, expected, absent):
    client.force_login(cast.auditor)
    rows = list(client.get(LIST_URL, query).context["cl"].result_list)
    nicks = [row.changes[0]["after"] for row in rows]
    assert sorted(nicks) == sorted(expected), nicks
    assert not set(absent) & set(nicks)


def test_the_list_filters_by_actor_and_date(client, cast, trail):
    client.force_login(cast.auditor)
    by_actor = client.get(LIST_URL, {"actor__id__exact": cast.root.pk}).context["cl"].result_list
    assert [row.actor_username for row in by_actor] == ["root"]
    # The date filter's "Today" link (the list has no date hierarchy: it reads every row's date).
    page = client.get(LIST_URL)
    today = next(spec for spec in page.context["cl"].filter_specs if getattr(spec, "field_path", "") == "created_at")
    today_query = next(choice["query_string"] for choice in today.choices(page.context["cl"])
                       if choice["display"] == "Today")
    assert len(client.get(LIST_URL + today_query).context["cl"].result_list) == 3
    since_tomorrow = {"created_at__gte": (trail[ImRequest.State.OK].created_at + timedelta(days=1)).isoformat()}
    assert len(client.get(LIST_URL, since_tomorrow).context["cl"].result_list) == 0


def test_the_detail_page_shows_bodies_and_before_after(client, cast, trail):
    client.force_login(cast.auditor)
    row = trail[ImRequest.State.OK]
    page = client.get(reverse("admin:profiles_imrequest_change", args=[row.pk])).content.decode()
    assert "From_Account" in page and "ProfileItem" in page
    # The change in plain words ("Nickname | old nick | ok"), the wire tag as small print.
    assert '<td>Nickname <span class="wire">Tag_Profile_IM_Nick</span></td><td>old nick</td><td>ok</td>' in page
    assert "&quot;ok&quot;" in page  # the request body, as sent
    assert "ActionStatus" in page
    assert str(row.random) in page


@pytest.mark.parametrize("who", ["root", "auditor", "editor"])
def test_nobody_can_add_change_or_delete_audit_rows(client, cast, trail, who):
    client.force_login(getattr(cast, who))
    row = trail[ImRequest.State.OK]
    assert client.get(reverse("admin:profiles_imrequest_add")).status_code == 403
    assert client.post(reverse("admin:profiles_imrequest_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    client.post(reverse("admin:profiles_imrequest_change", args=[row.pk]), {"error_code": "1", "user_id": "x"})
    client.post(LIST_URL, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    row.refresh_from_db()
    assert row.error_code == 0 and row.user_id == "u_1"
    assert ImRequest.objects.count() == 3


def test_staff_without_the_view_permission_see_nothing(client, cast, trail):
    client.force_login(cast.outsider)
    assert client.get(LIST_URL).status_code == 403
