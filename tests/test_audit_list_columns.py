"""The audit list and an audit row's page in plain words: requests and tags by their labels (wire
names as small print or titles), ActionStatus with ErrorCode and its meaning, times to the second
with their time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from profiles import services
from profiles.im.emulator import Fault
from profiles.models import ImRequest
from profiles.timefmt import exact_time

from .conftest import audited_db

pytestmark = audited_db

LIST_URL = reverse("admin:profiles_imrequest_changelist")
SET = "profile/portrait_set"
NICK, GENDER = "Tag_Profile_IM_Nick", "Tag_Profile_IM_Gender"


def cells(page: str, column: str) -> list[str]:
    """The HTML inside each cell of one list column, top row first."""
    return re.findall(rf'<t[dh] class="field-{column}">(.*?)</t[dh]>', page, flags=re.S)


@pytest.fixture
def trail(emulator, remote_user, cast):
    """An accepted change of two tags, a refusal (40005) and a request that got no answer."""
    profile = remote_user("u_1", **{GENDER: "Gender_Type_Unknown"})
    push = services.profile_push
    push(profile=profile, values={NICK: "ok", GENDER: "Gender_Type_Female"}, actor=cast.editor, source="admin")
    emulator.inject(Fault(kind="error_code", error_code=40005, command=SET))
    push(profile=profile, values={NICK: "rude"}, actor=cast.root, source="command")
    emulator.inject(Fault(kind="drop", command=SET))
    push(profile=profile, values={NICK: "again"}, actor=cast.editor, source="admin")
    return list(ImRequest.objects.filter(command=SET).order_by("pk"))


def test_the_list_says_what_was_asked_and_what_came_back_in_plain_words(client, cast, trail):
    client.force_login(cast.auditor)
    page = client.get(LIST_URL).content.decode()
    what, outcome, who = cells(page, "what"), cells(page, "outcome"), cells(page, "who")  # newest first
    assert ">Profile change: Nickname, Gender</span>" in what[2]
    assert ">Profile change: Nickname</span>" in what[0]
    assert "Tag_Profile_IM_Gender" not in re.sub(r'title="[^"]*"', "", what[2])  # wire names in the title only
    assert f'title="Profile change: Nickname, Gender\n{SET} {NICK} {GENDER}"' in what[2]
    assert ">OK 0</span>" in outcome[2]
    assert ">FAIL 40005</span>" in outcome[1]
    assert ">Tencent refused a value because it contains sensitive words.</span>" in outcome[1]
    assert ">No answer</span>" in outcome[0] and "could not connect" in outcome[0]
    assert ">editor</span>" in who[0] and "Admin form" in who[0]
    assert ">root</span>" in who[1] and "Command line" in who[1]
    assert all(re.fullmatch(r"\d+ ms", latency) for latency in cells(page, "latency"))


def test_times_are_to_the_second_with_the_time_zone_in_the_list_the_row_and_the_timeline(client, cast, trail, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    row = trail[0]
    local = row.created_at.astimezone(ZoneInfo("Asia/Shanghai"))
    shown = f"<span>{local:%Y-%m-%d}</span> <span>{local:%H:%M:%S} UTC+08:00</span>"
    client.force_login(cast.auditor)
    assert shown in cells(client.get(LIST_URL).content.decode(), "when")[2]
    row_page = client.get(reverse("admin:profiles_imrequest_change", args=[row.pk])).content.decode()
    assert shown in row_page
    done = row.completed_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"<span>{done:%H:%M:%S} UTC+08:00</span>" in row_page
    timeline = client.get(reverse("admin:profiles_imrequest_timeline"), {"user_id": "u_1"}).content.decode()
    assert shown in timeline


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", "2026-11-30 02:42:07 UTC"),
        ("Asia/Shanghai", "2026-11-30 10:42:07 UTC+08:00"),
        ("America/St_Johns", "2026-11-29 23:12:07 UTC-03:30"),
    ],
)
def test_a_moment_is_written_in_the_active_time_zone(zone, expected):
    with timezone.override(ZoneInfo(zone)):
        assert exact_time(datetime(2026, 11, 30, 2, 42, 7, 512_000, tzinfo=UTC)) == expected


def test_the_row_page_shows_each_change_in_plain_words_with_the_wire_names_as_small_print(client, cast, trail):
    client.force_login(cast.auditor)
    page = client.get(reverse("admin:profiles_imrequest_change", args=[trail[0].pk])).content.decode()
    assert (
        '<tr><td>Gender <span class="wire">Tag_Profile_IM_Gender</span></td>'
        '<td>Unknown <span class="wire">Gender_Type_Unknown</span></td>'
        '<td>Female <span class="wire">Gender_Type_Female</span></td></tr>'
    ) in page
    assert '<td>Nickname <span class="wire">Tag_Profile_IM_Nick</span></td><td>old nick</td><td>ok</td>' in page
    assert f'Profile change <span class="wire">{SET}</span>' in page
