"""The audit list's filters: ErrorCode as the codes the trail holds (from the per-day counts, not the
audit table) plus families, outcome in plain words, and one UserID exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from profiles import services
from profiles.im.emulator import Fault
from profiles.models import ImRequest
from profiles.selectors.audit import TIMELINE_LIMIT

from .conftest import audited_db

pytestmark = audited_db

LIST_URL = reverse("admin:profiles_imrequest_changelist")
SET = "profile/portrait_set"
NICK = "Tag_Profile_IM_Nick"
FAMILIES = [
    "0 — OK (accepted)", "40000–49999: the profile and account requests",
    "60000–69999: the request, the app or the rate limit", "70000–79999: UserSig, accounts and quotas",
]


def filter_choices(response, title: str) -> list[str]:
    spec = next(spec for spec in response.context["cl"].filter_specs if spec.title == title)
    return [choice["display"] for choice in spec.choices(response.context["cl"])]


def listed(client, **query) -> list[str]:
    """The nick each listed request set, newest first."""
    response = client.get(LIST_URL, query)
    assert response.status_code == 200, response
    return [row.changes[0]["after"] for row in response.context["cl"].result_list]


@pytest.fixture
def trail(emulator, remote_user, cast):
    """Nicks set by the editor and root: accepted, refused (40005, 60021, 91001) and unanswered."""
    profile = remote_user("u_1")
    push = services.profile_push

    def send(nick: str, actor, fault: Fault | None = None) -> None:
        if fault:
            emulator.inject(fault)
        push(profile=profile, values={NICK: nick}, actor=actor, source="admin")

    send("ok", cast.editor)
    send("sensitive", cast.root, Fault(kind="error_code", error_code=40005, command=SET))
    send("blocked ip", cast.editor, Fault(kind="error_code", error_code=60021, command=SET))
    send("odd code", cast.root, Fault(kind="error_code", error_code=91001, command=SET))
    send("dropped", cast.editor, Fault(kind="drop", command=SET))


def test_the_error_code_filter_lists_the_codes_in_the_trail_then_the_families(client, cast, trail):
    client.force_login(cast.auditor)
    assert filter_choices(client.get(LIST_URL), "ErrorCode") == [
        "All",
        "40005 — Tencent refused a value because it contains sensitive words.",
        "60021 — The caller's IP address is not allowed (check the console's IP allowlist).",
        "91001 — An ErrorCode that is not in Tencent's documented catalogue; treated as final.",
        *FAMILIES, "No code (transport error or no answer)",
    ]


def test_an_editor_is_offered_only_the_codes_of_their_own_requests(client, cast, trail):
    client.force_login(cast.editor)
    choices = filter_choices(client.get(LIST_URL), "ErrorCode")
    assert choices == [
        "All", "60021 — The caller's IP address is not allowed (check the console's IP allowlist).",
        *FAMILIES, "No code (transport error or no answer)",
    ]


def test_the_codes_offered_come_from_the_day_counts_not_the_audit_rows(client, cast):
    # Rows written straight into the table (never sealed) leave the day counts untouched.
    ImRequest.objects.create(
        created_at=datetime(2025, 3, 1, tzinfo=UTC), source="admin", command=SET, random=1, request_body={},
        state=ImRequest.State.IM_ERROR, action_status="FAIL", error_code=40003,
    )
    client.force_login(cast.auditor)
    response = client.get(LIST_URL)
    assert filter_choices(response, "ErrorCode")[:2] == ["All", FAMILIES[0]]
    assert len(response.context["cl"].result_list) == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"error_code": "40005"}, ["sensitive"]),  # the dashboard's and the tests' links keep working
        ({"error_code": "0"}, ["ok"]),
        ({"error_code": "4xxxx"}, ["sensitive"]),
        ({"error_code": "6xxxx"}, ["blocked ip"]),
        ({"error_code": "7xxxx"}, []),
        ({"error_code": "91001"}, ["odd code"]),  # outside the families: listed among the codes present
        ({"error_code": "none"}, ["dropped"]),
        ({"outcome": "ok"}, ["ok"]),
        ({"outcome": "refused"}, ["odd code", "blocked ip", "sensitive"]),
        ({"outcome": "no_answer"}, ["dropped"]),
        ({"outcome": "pending"}, []),
    ],
)
def test_the_error_code_families_and_the_outcome_filter(client, cast, trail, query, expected):
    client.force_login(cast.auditor)
    assert listed(client, **query) == expected


def test_a_request_still_waiting_for_its_answer_is_pending(client, cast, trail):
    waiting = ImRequest.objects.create(source="admin", command=SET, user_id="u_1", random=7, request_body={},
                                       changes=[{"tag": NICK, "before": "ok", "after": "waiting"}])
    client.force_login(cast.auditor)
    assert listed(client, outcome="pending") == ["waiting"]
    assert "waiting" not in listed(client, outcome="no_answer")
    page = client.get(LIST_URL, {"outcome": "pending"}).content.decode()
    assert ">Pending</span>" in page and "sent, no answer recorded yet" in page
    assert waiting.state == ImRequest.State.PENDING


def test_an_outcome_the_filter_does_not_know_is_an_invalid_filter(client, cast):
    client.force_login(cast.auditor)
    response = client.get(LIST_URL, {"outcome": "maybe"})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_the_outcome_filter_offers_plain_words(client, cast):
    client.force_login(cast.auditor)
    assert filter_choices(client.get(LIST_URL), "outcome") == [
        "All", "OK (accepted)", "Refused by Tencent", "No answer (transport error)", "Pending (not completed)",
    ]


def test_the_user_id_filter_lists_one_user_id_exactly_and_shows_only_while_it_filters(client, cast, emulator,
                                                                                       remote_user):
    for user_id in ("u_1", "u_10"):
        services.profile_push(profile=remote_user(user_id), values={NICK: user_id}, actor=cast.editor, source="admin")
    client.force_login(cast.auditor)
    assert listed(client, user_id="u_1") == ["u_1"]
    assert sorted(listed(client, q="u_1")) == ["u_1", "u_10"]  # the search also finds the beginning
    assert filter_choices(client.get(LIST_URL, {"user_id": "u_1"}), "UserID") == ["All", "exactly u_1"]
    assert not [spec for spec in client.get(LIST_URL).context["cl"].filter_specs if spec.title == "UserID"]


def test_a_long_timeline_links_the_audit_list_of_exactly_its_user(client, cast):
    ImRequest.objects.bulk_create(
        ImRequest(source="admin", command=SET, user_id=user_id, random=n, request_body={}, actor=cast.root,
                  changes=[{"tag": NICK, "before": None, "after": f"{user_id} {n}"}])
        for n in range(TIMELINE_LIMIT) for user_id in ("u_1", "u_10")
    )
    client.force_login(cast.auditor)
    page = client.get(reverse("admin:profiles_imrequest_timeline"), {"user_id": "u_1"}).content.decode()
    link = f"{LIST_URL}?user_id=u_1"
    assert f'<a href="{link}">audit list</a> has them all' in page
    assert len(listed(client, user_id="u_1")) == 100  # a full first page, none of u_10's
    assert {row.user_id for row in client.get(link).context["cl"].result_list} == {"u_1"}
