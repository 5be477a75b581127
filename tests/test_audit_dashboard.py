"""The auditors' dashboard: its numbers on a known trail and its date range."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from profiles.dashboard import ActorCount, CodeCount, audit_dashboard
from profiles.im.errors import describe
from profiles.models import ImRequest

pytestmark = pytest.mark.django_db

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
