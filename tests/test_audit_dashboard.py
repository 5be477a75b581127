"""The auditors' dashboard: its numbers on a known trail, its date range, who may see it, and escaping."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from profiles.im.errors import describe
from profiles.models import ImRequest
from profiles.selectors.dashboard import ActorCount, CodeCount, audit_dashboard

pytestmark = pytest.mark.django_db

DASHBOARD_URL = reverse("admin:profiles_imrequest_dashboard")
LIST_URL = reverse("admin:profiles_imrequest_changelist")
State = ImRequest.State


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0, *, month: int = 3) -> datetime:
    return datetime(2024, month, day, hour, minute, second, micro, tzinfo=UTC)


def audit_row(created_at: datetime, *, actor: str = "", state: str = State.OK, error_code: int | None = 0,
              user_id: str = "u_1", actor_user=None) -> ImRequest:
    return ImRequest.objects.create(
        created_at=created_at, actor=actor_user, actor_username=actor,
        source=ImRequest.Source.ADMIN if actor else ImRequest.Source.SYSTEM,
        command="profile/portrait_set", request_body={"To_Account": user_id}, random=1, user_id=user_id,
        state=state, error_code=error_code, action_status={0: "OK", None: ""}.get(error_code, "FAIL"),
    )


@pytest.fixture
def trail() -> None:
    """Five UTC days, 1 to 5 March 2024, and rows either side of them.

    1 Mar: alice accepted twice, the system once, alice refused once (40005)
    2 Mar: nothing
    3 Mar: bob accepted once, refused twice (40003), carol refused once (40005)
    4 Mar: alice a transport error, the system one pending, bob one never answered
    5 Mar: carol accepted at the last microsecond of the day
    """
    audit_row(at(1, 9), actor="alice")
    audit_row(at(1, 10), actor="alice")
    audit_row(at(1, 0, 0, 0), actor="")
    audit_row(at(1, 23, 59, 59), actor="alice", state=State.IM_ERROR, error_code=40005)
    audit_row(at(3), actor="bob")
    audit_row(at(3, 13), actor="bob", state=State.IM_ERROR, error_code=40003)
    audit_row(at(3, 14), actor="bob", state=State.IM_ERROR, error_code=40003)
    audit_row(at(3, 15), actor="carol", state=State.IM_ERROR, error_code=40005)
    audit_row(at(4), actor="alice", state=State.TRANSPORT_ERROR, error_code=None)
    audit_row(at(4, 1), actor="", state=State.PENDING, error_code=None)
    audit_row(at(4, 2), actor="bob", state=State.UNANSWERED, error_code=None)
    audit_row(at(5, 23, 59, 59, 999999), actor="carol")
    # Outside the range: the last instant of 29 February and the first of 6 March (UTC).
    audit_row(at(29, 23, 59, 59, 999999, month=2), actor="dave", state=State.IM_ERROR, error_code=60008)
    audit_row(at(6, 0), actor="dave", state=State.IM_ERROR, error_code=60008)


def by_day(board) -> dict[str, tuple[int, int, int]]:
    return {f"{day.day:%m-%d}": (day.accepted, day.refused, day.no_answer) for day in board.days}


def test_it_splits_each_utc_day_by_outcome_and_keeps_empty_days(trail):
    board = audit_dashboard(start=date(2024, 3, 1), end=date(2024, 3, 5))
    assert by_day(board) == {
        "03-01": (3, 1, 0),
        "03-02": (0, 0, 0),
        "03-03": (1, 3, 0),
        "03-04": (0, 0, 3),
        "03-05": (1, 0, 0),
    }


def test_it_totals_the_range_and_gives_the_failure_rate(trail):
    board = audit_dashboard(start=date(2024, 3, 1), end=date(2024, 3, 5))
    assert (board.totals.accepted, board.totals.refused, board.totals.no_answer, board.totals.total) == (5, 4, 3, 12)
    assert board.failure_rate == pytest.approx(7 / 12)


def test_it_lists_the_top_error_codes_with_their_catalogue_meanings(trail):
    board = audit_dashboard(start=date(2024, 3, 1), end=date(2024, 3, 5))
    assert board.top_codes == [
        CodeCount(40003, describe(40003).meaning, 2),
        CodeCount(40005, describe(40005).meaning, 2),
    ]
    assert board.top_codes[0].meaning.startswith("This UserID does not exist")


def test_it_lists_the_top_actors_with_their_failures_and_calls_a_blank_actor_system(trail):
    board = audit_dashboard(start=date(2024, 3, 1), end=date(2024, 3, 5))
    assert board.top_actors == [
        ActorCount("alice", 4, 2),
        ActorCount("bob", 4, 3),
        ActorCount("", 2, 1),
        ActorCount("carol", 2, 1),
    ]
    assert board.top_actors[2].name == "system"


def test_rows_outside_the_range_are_left_out(trail):
    board = audit_dashboard(start=date(2024, 3, 3), end=date(2024, 3, 3))
    assert by_day(board) == {"03-03": (1, 3, 0)}
    assert [actor.username for actor in board.top_actors] == ["bob", "carol"]
    wider = audit_dashboard(start=date(2024, 2, 29), end=date(2024, 3, 6))
    assert wider.totals.total == 14
    assert wider.top_codes[0] == CodeCount(40003, describe(40003).meaning, 2)
    assert CodeCount(60008, describe(60008).meaning, 2) in wider.top_codes


def test_it_counts_utc_days_whatever_the_time_zone_setting(trail, settings):
    settings.TIME_ZONE = "Asia/Shanghai"  # UTC+8: 1 March 23:59:59 UTC is already 2 March there
    board = audit_dashboard(start=date(2024, 3, 1), end=date(2024, 3, 2))
    assert by_day(board) == {"03-01": (3, 1, 0), "03-02": (0, 0, 0)}


def test_it_counts_only_the_rows_it_is_given(trail):
    board = audit_dashboard(
        start=date(2024, 3, 1), end=date(2024, 3, 5), rows=ImRequest.objects.filter(actor_username="bob"),
    )
    assert board.totals.total == 4
    assert [actor.username for actor in board.top_actors] == ["bob"]


def test_an_empty_range_has_no_failure_rate_rather_than_dividing_by_zero(db):
    board = audit_dashboard(start=date(2024, 3, 1), end=date(2024, 3, 3))
    assert board.totals.total == 0 and board.failure_rate is None
    assert len(board.days) == 3 and board.top_codes == [] and board.top_actors == []


def test_it_refuses_a_start_after_the_end(db):
    with pytest.raises(ValueError, match="after"):
        audit_dashboard(start=date(2024, 3, 2), end=date(2024, 3, 1))


# The page


def staff(django_user_model, username: str, group: str | None):
    user = django_user_model.objects.create_user(username=username, password="pw", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def reviewer(django_user_model):
    return staff(django_user_model, "reviewer", "Audit reviewers")


@pytest.fixture
def editor(django_user_model):
    return staff(django_user_model, "editor", "Profile editors")


def dashboard_page(client, **query: str):
    response = client.get(DASHBOARD_URL, query)
    return response, response.content.decode()


def test_an_audit_reviewer_sees_the_numbers_the_chart_and_no_script(client, reviewer, trail):
    client.force_login(reviewer)
    response, page = dashboard_page(client, start="2024-03-01", end="2024-03-05")
    assert response.status_code == 200
    assert "<script" not in page.lower()
    charts = re.findall(r'<svg [^>]*role="img"[^>]*>.*?</svg>', page, re.S)
    assert len(charts) == 2  # per day by outcome, and the top actors
    daily = charts[0]
    assert 'aria-label="Requests per day from 2024-03-01 to 2024-03-05 (UTC days)' in daily
    assert daily.count("<title>") == 1 + 5  # the chart's own, and one per day
    assert "<title>2024-03-03 (UTC): 4 requests — 1 accepted, 3 refused by Tencent, 0 no answer</title>" in daily
    # The empty day keeps its place with nothing drawn but the column that carries its tooltip.
    assert re.search(r'<g><title>2024-03-02 \(UTC\): 0 requests[^<]*</title><rect [^>]*fill="transparent"/></g>', daily)
    assert "Refused by Tencent" in daily and "Day (UTC" in daily and ">Requests<" in daily
    assert 'id="total-requests">12<' in page and 'id="failure-rate">58.3 %<' in page
    assert "calendar days in UTC" in page


def test_the_page_has_the_per_day_table_codes_with_links_and_actors(client, reviewer, trail):
    client.force_login(reviewer)
    response, page = dashboard_page(client, start="2024-03-01", end="2024-03-05")
    per_day = response.context["dashboard"].days
    assert [day.total for day in per_day] == [4, 0, 4, 3, 1]
    table = page[page.index('<table id="per-day"'):]
    table = table[:table.index("</table>")]
    assert re.search(r"2024-03-02</th><td[^>]*>0</td><td[^>]*>0</td><td[^>]*>0</td><td[^>]*>0</td>", table)
    assert re.search(r"2024-03-04</th><td[^>]*>0</td><td[^>]*>0</td><td[^>]*>3</td><td[^>]*>3</td>", table)
    assert f'href="{LIST_URL}?error_code=40003"' in page
    assert describe(40003).meaning in page
    actors = page[page.index('<table id="top-actors"'):]
    assert re.search(r">system</th><td[^>]*>2</td><td[^>]*>1</td>", actors)


def test_it_defaults_to_the_last_30_days_up_to_today(client, reviewer):
    today = timezone.now().astimezone(UTC).date()
    audit_row(datetime.combine(today, datetime.min.time(), tzinfo=UTC), actor="alice")
    audit_row(datetime.combine(today - timedelta(days=30), datetime.min.time(), tzinfo=UTC), actor="alice")
    client.force_login(reviewer)
    response, page = dashboard_page(client)
    board = response.context["dashboard"]
    assert (board.start, board.end) == (today - timedelta(days=29), today)
    assert board.totals.total == 1
    assert 'class="errornote"' not in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2024-02-30", "end": "2024-03-05"}, "The start date is not a date: write it as YYYY-MM-DD"),
        ({"start": "2024-03-01", "end": "yesterday"}, "The end date is not a date: write it as YYYY-MM-DD"),
        ({"start": "2024-03-05", "end": "2024-03-01"},
         "The start date (2024-03-05) is after the end date (2024-03-01)."),
        ({"start": "2023-01-01", "end": "2024-03-01"},
         "The range from 2023-01-01 to 2024-03-01 covers 426 days; the dashboard shows at most 366 days at a time."),
    ],
)
def test_a_bad_range_is_explained_and_the_default_range_is_shown(client, reviewer, query, message):
    client.force_login(reviewer)
    response, page = dashboard_page(client, **query)
    assert response.status_code == 200
    assert message in page
    assert "below are the last 30 days instead" in page
    today = timezone.now().astimezone(UTC).date()
    assert (response.context["dashboard"].start, response.context["dashboard"].end) == (
        today - timedelta(days=29), today,
    )


def test_a_range_of_exactly_366_days_is_accepted(client, reviewer):
    client.force_login(reviewer)
    response, page = dashboard_page(client, start="2024-01-01", end="2024-12-31")
    assert response.status_code == 200 and 'class="errornote"' not in page
    assert len(response.context["dashboard"].days) == 366


def test_a_profile_editor_is_refused(client, editor, trail):
    client.force_login(editor)
    assert client.get(DASHBOARD_URL).status_code == 403


def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(DASHBOARD_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_audit_list_links_to_the_dashboard_only_for_those_allowed(client, reviewer, editor):
    link = f'href="{DASHBOARD_URL}"'
    client.force_login(reviewer)
    assert link in client.get(LIST_URL).content.decode()
    client.force_login(editor)
    response = client.get(LIST_URL)
    assert response.status_code == 200 and link not in response.content.decode()


def test_an_actor_name_with_markup_is_escaped_in_the_tables_and_the_chart(client, reviewer):
    audit_row(at(1), actor='<script>alert("x")</script>', state=State.IM_ERROR, error_code=40005)
    client.force_login(reviewer)
    _, page = dashboard_page(client, start="2024-03-01", end="2024-03-01")
    assert "<script" not in page.lower()
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    actors_chart = re.findall(r'<svg [^>]*role="img"[^>]*>.*?</svg>', page, re.S)[1]
    assert f"<title>{escaped}: 1 request, 1 failed</title>" in actors_chart
    assert f">{escaped}</text>" in actors_chart
    assert f">{escaped}</th>" in page


def test_a_long_actor_name_is_shortened_in_the_chart_but_whole_in_its_tooltip_and_the_table(client, reviewer):
    name = "a_staff_member_with_a_very_long_account_name"
    audit_row(at(1), actor=name)
    client.force_login(reviewer)
    _, page = dashboard_page(client, start="2024-03-01", end="2024-03-01")
    actors_chart = re.findall(r'<svg [^>]*role="img"[^>]*>.*?</svg>', page, re.S)[1]
    assert f">{name[:27]}…</text>" in actors_chart
    assert f"<title>{name}: 1 request, 0 failed</title>" in actors_chart
    assert f">{name}</th>" in page


def test_the_page_counts_only_the_rows_its_viewer_may_read(client, editor, reviewer):
    # Editors read only their own requests (audit_rows_visible_to); given the dashboard, so would it.
    editor.user_permissions.add(Permission.objects.get(codename="view_audit_dashboard"))
    audit_row(at(1), actor="editor", actor_user=editor)
    audit_row(at(1), actor="reviewer", actor_user=reviewer, state=State.IM_ERROR, error_code=40005)
    client.force_login(editor)
    response, _ = dashboard_page(client, start="2024-03-01", end="2024-03-01")
    board = response.context["dashboard"]
    assert board.totals.total == 1 and [actor.username for actor in board.top_actors] == ["editor"]
    assert board.top_codes == []
