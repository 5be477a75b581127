"""The Profile.CallbackPortraitSet webhook (docs/tencent-im.md §8): authenticated, recorded, applied, echoes ignored."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from profiles import services
from profiles.im.callback import CALLBACK_COMMAND, callback_sign
from profiles.models import ExternalChange, ImRequest, Profile

from .conftest import audited_db

pytestmark = audited_db

TOKEN = "webhook-test-token-0123456789"
URL = "/im/callback"
NICK = "Tag_Profile_IM_Nick"
GENDER = "Tag_Profile_IM_Gender"
OK_ANSWER = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}


@pytest.fixture(autouse=True)
def callback_token(settings):
    settings.IM_CALLBACK_TOKEN = TOKEN
    return TOKEN


def signed_query(settings_im, *, token: str = TOKEN, request_time: int | None = None, **overrides: Any) -> dict:
    sent_at = int(time.time()) if request_time is None else request_time
    query = {
        "SdkAppid": str(settings_im.sdkappid), "CallbackCommand": CALLBACK_COMMAND, "contenttype": "json",
        "ClientIP": "203.0.113.9", "OptPlatform": "iOS", "RequestTime": str(sent_at),
        "Sign": callback_sign(token, sent_at),
    }
    query.update(overrides)
    return {k: v for k, v in query.items() if v is not None}


def callback_body(user_id: str = "u_1", items: list | None = None, operator: str | None = None, **extra) -> dict:
    return {
        "CallbackCommand": CALLBACK_COMMAND, "Operator_Account": user_id if operator is None else operator,
        "From_Account": user_id, "EventTime": 1_700_000_000_123,
        "ProfileItem": [{"Tag": NICK, "Value": "set in the app"}] if items is None else items, **extra,
    }


@pytest.fixture
def deliver(client, settings):
    """POST a callback to the webhook with the Django test client; query overrides as keywords."""

    def post(body: Any = None, *, raw: bytes | None = None, method: str = "post", **query: Any):
        url = f"{URL}?{urlencode(signed_query(settings.IM, **query))}"
        if method == "get":
            return client.get(url)
        data = raw if raw is not None else json.dumps(callback_body() if body is None else body)
        return client.post(url, data=data, content_type="application/json")

    return post


def local_copy(user_id: str = "u_1", **wire_values) -> Profile:
    profile = Profile(user_id=user_id)
    profile.apply_tag_values({NICK: "old nick", **wire_values})
    profile.save()
    return profile


def assert_refused(response, caplog, status: int, reason: str) -> None:
    """Refused with the spec's FAIL shape, logged at WARNING with the reason, and nothing written."""
    assert response.status_code == status
    answer = response.json()
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] == 1 and reason in answer["ErrorInfo"]
    logged = [r for r in caplog.records if r.name == "profiles.webhooks"]
    assert [r.levelno for r in logged] == [logging.WARNING] and reason in logged[0].getMessage()
    assert ExternalChange.objects.count() == 0
    assert TOKEN not in caplog.text and "Sign=" not in caplog.text


# --- accepted -----------------------------------------------------------------------------------


def test_a_signed_callback_is_answered_ok_recorded_and_applied_to_the_local_copy(deliver, caplog):
    caplog.set_level(logging.DEBUG)
    profile = local_copy(Tag_Profile_IM_Gender="Gender_Type_Male")
    body = callback_body(items=[{"Tag": NICK, "Value": "set in the app"},
                                {"Tag": "Tag_Profile_IM_Level", "Value": 7}])
    response = deliver(body)
    assert response.status_code == 200 and response.json() == OK_ANSWER
    change = ExternalChange.objects.get()
    assert change.user_id == "u_1" and change.operator_account == "u_1"
    assert change.platform == "iOS" and change.client_ip == "203.0.113.9"
    assert change.event_time == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert change.changes == [
        {"tag": NICK, "before": "old nick", "after": "set in the app"},
        {"tag": "Tag_Profile_IM_Level", "before": None, "after": 7},
    ]
    assert change.body == body and change.tag_names == [NICK, "Tag_Profile_IM_Level"]
    fresh = Profile.objects.get(pk=profile.pk)
    assert fresh.nick == "set in the app" and fresh.level == 7 and fresh.gender == "Gender_Type_Male"
    assert fresh.version == profile.version + 1
    assert TOKEN not in caplog.text and "Sign=" not in caplog.text


def test_a_form_opened_before_the_external_change_is_refused_as_stale(deliver, emulator):
    profile = local_copy()
    emulator.add_account("u_1", {NICK: "old nick"})
    opened_at_version = profile.version
    assert deliver().status_code == 200
    outcome = services.profile_push(
        profile=Profile.objects.get(pk=profile.pk), values={NICK: "agent's edit"}, actor=None, source="admin",
        expected_version=opened_at_version,
    )
    assert outcome.stale and not outcome.sent and emulator.requests() == []


def test_a_callback_for_a_user_without_a_local_copy_is_recorded_and_creates_none(deliver):
    assert deliver(callback_body(user_id="u_unknown")).status_code == 200
    change = ExternalChange.objects.get()
    assert change.user_id == "u_unknown"
    assert change.changes == [{"tag": NICK, "before": None, "after": "set in the app"}]
    assert not Profile.objects.filter(user_id="u_unknown").exists()


def test_an_unknown_tag_is_kept_in_unknown_tags_and_a_defined_custom_tag_is_applied(deliver, define_custom_tag):
    define_custom_tag("Mood")
    profile = local_copy(Tag_Profile_Custom_Mood="grumpy")
    items = [
        {"Tag": "Tag_Profile_Custom_Mood", "Value": "sunny"},
        {"Tag": "Tag_Profile_Custom_Secret", "Value": "not defined here"},
        {"Tag": "Tag_Profile_IM_Brand_New", "Value": 1},
    ]
    assert deliver(callback_body(items=items)).status_code == 200
    fresh = Profile.objects.get(pk=profile.pk)
    assert fresh.custom_values == {"Tag_Profile_Custom_Mood": "sunny"}
    assert fresh.unknown_tags == {"Tag_Profile_Custom_Secret": "not defined here", "Tag_Profile_IM_Brand_New": 1}
    assert fresh.version == profile.version + 1
    assert ExternalChange.objects.get().changes == [
        {"tag": "Tag_Profile_Custom_Mood", "before": "grumpy", "after": "sunny"},
        {"tag": "Tag_Profile_Custom_Secret", "before": None, "after": "not defined here"},
        {"tag": "Tag_Profile_IM_Brand_New", "before": None, "after": 1},
    ]


def test_a_uint32_reported_as_a_numeric_string_is_stored_as_a_number(deliver):
    local_copy()
    deliver(callback_body(items=[{"Tag": "Tag_Profile_IM_BirthDay", "Value": "20190419"}]))
    assert Profile.objects.get().birthday == 20190419
    assert ExternalChange.objects.get().changes[0]["after"] == 20190419


def test_a_change_to_the_value_already_held_is_recorded_without_bumping_the_version(deliver):
    profile = local_copy()
    deliver(callback_body(items=[{"Tag": NICK, "Value": "old nick"}]))
    assert ExternalChange.objects.count() == 1 and Profile.objects.get().version == profile.version


def test_a_callback_without_a_usable_event_time_is_still_recorded(deliver):
    deliver(callback_body(EventTime="yesterday"))
    assert ExternalChange.objects.get().event_time is None


# --- refused ------------------------------------------------------------------------------------


def test_a_wrong_sign_is_refused(deliver, caplog):
    response = deliver(Sign=callback_sign("another-token", int(time.time())))
    assert_refused(response, caplog, 403, "Sign does not match")


def test_a_request_time_more_than_a_minute_old_is_refused(deliver, caplog):
    stale = int(time.time()) - 90
    assert_refused(deliver(request_time=stale), caplog, 403, "s behind this server's clock")


def test_a_request_time_more_than_a_minute_ahead_is_refused(deliver, caplog):
    future = int(time.time()) + 120
    assert_refused(deliver(request_time=future), caplog, 403, "s ahead of this server's clock")


@pytest.mark.parametrize("missing", ["Sign", "RequestTime"])
def test_a_call_without_sign_or_request_time_is_refused(deliver, caplog, missing):
    assert_refused(deliver(**{missing: None}), caplog, 403, "Sign or RequestTime is missing")


@pytest.mark.parametrize("sdkappid", ["1400999999", "", "abc"])
def test_a_call_for_another_sdkappid_is_refused(deliver, caplog, sdkappid):
    assert_refused(deliver(SdkAppid=sdkappid), caplog, 403, "is not this app's SDKAppID")


def test_without_a_token_configured_every_call_is_refused(deliver, caplog, settings):
    settings.IM_CALLBACK_TOKEN = ""
    assert_refused(deliver(token=""), caplog, 403, "no callback token is configured")


def test_a_get_is_refused(deliver, caplog):
    assert_refused(deliver(method="get"), caplog, 405, "method GET is not allowed")


def encoded(**fields: Any) -> bytes:
    """A callback body with some fields replaced, as bytes."""
    return json.dumps({**callback_body(), **fields}).encode()


@pytest.mark.parametrize(
    ("raw", "query", "reason"),
    [
        (b"{not json", {}, "the body is not JSON"),
        (b"\xff\xfe", {}, "the body is not JSON"),
        (b"", {}, "the body is not JSON"),
        (b"[1, 2]", {}, "not a JSON object"),
        (encoded(), {"CallbackCommand": "State.StateChange"}, "CallbackCommand in the URL"),
        (encoded(), {"CallbackCommand": None}, "CallbackCommand in the URL"),
        (encoded(CallbackCommand="Sns.CallbackFriendAdd"), {}, "CallbackCommand in the body"),
        (encoded(From_Account=None), {}, "From_Account is not a valid UserID"),
        (encoded(From_Account="x" * 33), {}, "From_Account is not a valid UserID"),
        (encoded(From_Account=" padded"), {}, "From_Account is not a valid UserID"),
        (encoded(From_Account=8812), {}, "From_Account is not a valid UserID"),
        (encoded(ProfileItem=None), {}, "ProfileItem is not a non-empty list"),
        (encoded(ProfileItem=[]), {}, "ProfileItem is not a non-empty list"),
        (encoded(ProfileItem={"Tag": NICK, "Value": "x"}), {}, "ProfileItem is not a non-empty list"),
        (encoded(ProfileItem=[{"Tag": NICK}]), {}, "must be an object with Tag and Value"),
        (encoded(ProfileItem=[{"Tag": 5, "Value": 1}]), {}, "must be an object with Tag and Value"),
        (encoded(ProfileItem=["nick"]), {}, "must be an object with Tag and Value"),
        (encoded(ProfileItem=[{"Tag": "Tag Nick", "Value": 1}]), {}, "is not a tag name"),
    ],
)
def test_a_malformed_callback_is_refused_and_changes_nothing(deliver, caplog, raw, query, reason):
    profile = local_copy()
    assert_refused(deliver(raw=raw, **query), caplog, 400, reason)
    assert Profile.objects.get(pk=profile.pk).version == profile.version


def test_a_refused_call_changes_nothing_locally(deliver, caplog):
    profile = local_copy()
    deliver(Sign="0" * 64)
    fresh = Profile.objects.get(pk=profile.pk)
    assert fresh.nick == "old nick" and fresh.version == profile.version


# --- echoes of our own pushes --------------------------------------------------------------------


def push_row(*, user_id: str = "u_1", items: list, state: str = ImRequest.State.OK, age: timedelta = timedelta(0)):
    return ImRequest.objects.create(
        source=ImRequest.Source.ADMIN, user_id=user_id, command="profile/portrait_set", random=1, state=state,
        request_body={"From_Account": user_id, "ProfileItem": items}, created_at=timezone.now() - age,
    )


def record(items: list, *, operator: str = "administrator", user_id: str = "u_1"):
    return services.external_change_record(
        user_id=user_id, items=items, operator_account=operator, platform="RESTAPI", client_ip="",
        event_time_ms=None, body={},
    )


def test_an_echo_matches_by_tag_and_value_in_any_order_even_before_our_push_was_answered():
    items = [{"Tag": NICK, "Value": "n"}, {"Tag": "Tag_Profile_IM_Level", "Value": 3}]
    push_row(items=items, state=ImRequest.State.PENDING)
    assert record(list(reversed(items))) is None
    assert record([{"Tag": "Tag_Profile_IM_Level", "Value": "3"}]) is None  # docs/tencent-im.md §2: uint32 as a string
    assert ExternalChange.objects.count() == 0


@pytest.mark.parametrize(
    ("row", "reported", "operator"),
    [
        ({"items": [{"Tag": NICK, "Value": "n"}]}, [{"Tag": NICK, "Value": "other"}], "administrator"),
        ({"items": [{"Tag": NICK, "Value": "n"}]}, [{"Tag": NICK, "Value": "n"}], "u_1"),
        ({"items": [{"Tag": NICK, "Value": "n"}], "user_id": "u_2"}, [{"Tag": NICK, "Value": "n"}], "administrator"),
        ({"items": [{"Tag": NICK, "Value": "n"}], "state": ImRequest.State.IM_ERROR},
         [{"Tag": NICK, "Value": "n"}], "administrator"),
        ({"items": [{"Tag": NICK, "Value": "n"}], "age": timedelta(minutes=6)},
         [{"Tag": NICK, "Value": "n"}], "administrator"),
        ({"items": [{"Tag": NICK, "Value": "n"}]},
         [{"Tag": NICK, "Value": "n"}, {"Tag": "Tag_Profile_IM_Level", "Value": 1}], "administrator"),
    ],
    ids=["other-value", "user-not-admin", "other-user", "refused-push", "too-old", "more-than-pushed"],
)
def test_a_change_that_is_not_an_echo_of_our_push_is_recorded(row, reported, operator):
    push_row(**row)
    assert record(reported, operator=operator) is not None
    assert ExternalChange.objects.count() == 1


def test_the_echo_of_our_own_push_is_answered_ok_and_not_recorded(emulator, remote_user, live_server, settings):
    profile = remote_user("u_1")
    version_before = profile.version
    emulator.set_callback(live_server.url + URL, TOKEN)
    outcome = services.profile_push(profile=profile, values={NICK: "pushed by support"}, actor=None, source="admin")
    assert outcome.ok
    assert emulator.wait_for_callbacks(10)
    [delivery] = emulator.callback_deliveries()
    assert delivery.status == 200 and delivery.body["Operator_Account"] == settings.IM.admin_identifier
    assert ExternalChange.objects.count() == 0
    fresh = Profile.objects.get(pk=profile.pk)
    assert fresh.nick == "pushed by support" and fresh.version == version_before + 1


def test_a_change_in_the_users_app_reaches_the_local_copy_end_to_end(emulator, remote_user, live_server):
    profile = remote_user("u_1")
    emulator.set_callback(live_server.url + URL, TOKEN)
    emulator.set_as_user("u_1", {NICK: "my own nick"}, platform="Android")
    assert emulator.wait_for_callbacks(10)
    assert [d.status for d in emulator.callback_deliveries()] == [200]
    change = ExternalChange.objects.get()
    assert change.operator_account == "u_1" and change.platform == "Android"
    assert change.changes == [{"tag": NICK, "before": "old nick", "after": "my own nick"}]
    fresh = Profile.objects.get(pk=profile.pk)
    assert fresh.nick == "my own nick" and fresh.version == profile.version + 1


def test_a_callback_signed_with_another_token_is_refused_end_to_end(emulator, remote_user, live_server, caplog):
    remote_user("u_1")
    emulator.set_callback(live_server.url + URL, "not-the-configured-token")
    emulator.set_as_user("u_1", {NICK: "forged"})
    assert emulator.wait_for_callbacks(10)
    assert [d.status for d in emulator.callback_deliveries()] == [403]
    assert ExternalChange.objects.count() == 0 and Profile.objects.get().nick == "old nick"
    assert "Sign does not match" in caplog.text and TOKEN not in caplog.text


def test_the_same_signed_delivery_received_twice_is_recorded_once(deliver, settings):
    local_copy()
    query = signed_query(settings.IM)
    body = json.dumps(callback_body())
    url = f"{URL}?{urlencode(query)}"
    from django.test import Client

    client = Client()
    first = client.post(url, data=body, content_type="application/json")
    again = client.post(url, data=body, content_type="application/json")
    assert first.status_code == again.status_code == 200 and again.json()["ErrorCode"] == 0
    assert ExternalChange.objects.count() == 1
    assert Profile.objects.get(user_id="u_1").version == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("x" * 600, "600 bytes"),
        ("Gender_Type_Robot", "is not one of"),
        ("nul\x00inside", "NUL character"),
        ("y" * 2_000_000, "2000000 bytes"),
    ],
    ids=["600-byte-nick", "unknown-enum", "nul", "2mb"],
)
def test_a_value_tencent_could_not_hold_is_recorded_but_not_stored(deliver, value, reason):
    tag = GENDER if value.startswith("Gender") else NICK
    local_copy()
    response = deliver(callback_body(items=[{"Tag": tag, "Value": value}]))
    assert response.status_code == 200
    change = ExternalChange.objects.get()
    assert change.changes[0]["tag"] == tag and reason in change.changes[0]["refused"]
    copy = Profile.objects.get(user_id="u_1")
    assert copy.nick == "old nick" and copy.gender != value and tag not in copy.unknown_tags
    copy.full_clean()  # the local copy can still be saved through the form's rules


def test_external_changes_are_sealed_into_a_keyed_chain_that_audit_verify_checks(deliver):
    from django.db import connection

    from profiles.services.audit import audit_verify

    local_copy()
    deliver(callback_body(items=[{"Tag": NICK, "Value": "first"}]))
    deliver(callback_body(items=[{"Tag": NICK, "Value": "second"}]), request_time=int(time.time()) - 1)
    changes = list(ExternalChange.objects.order_by("chain_seq"))
    assert [change.chain_seq for change in changes] == [1, 2] and changes[1].chain_prev == changes[0].chain_hash
    report = audit_verify()
    assert report.ok and report.external_checked == 2
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {ExternalChange._meta.db_table} SET operator_account = 'console' WHERE id = %s",
                       [changes[0].pk])
    report = audit_verify()
    assert not report.ok and f"external change id {changes[0].pk} (#1) no longer matches its hash" in (
        report.problem.message
    )


def test_a_different_body_under_a_signature_already_used_is_recorded_but_not_applied(settings):
    from django.test import Client

    local_copy()
    url = f"{URL}?{urlencode(signed_query(settings.IM))}"
    client = Client()
    first = client.post(url, data=json.dumps(callback_body(items=[{"Tag": NICK, "Value": "real"}])),
                        content_type="application/json")
    forged = client.post(url, data=json.dumps(callback_body(items=[{"Tag": NICK, "Value": "forged"}])),
                         content_type="application/json")
    assert first.status_code == forged.status_code == 200
    assert Profile.objects.get(user_id="u_1").nick == "real"
    second = ExternalChange.objects.order_by("pk").last()
    assert second.changes[0]["after"] == "forged" and "same signature" in second.changes[0]["refused"]


# --- bodies no callback has ----------------------------------------------------------------------


def nested(depth: int) -> bytes:
    """A body whose ProfileItem value is arrays nested ``depth`` deep."""
    head = encoded(ProfileItem=[{"Tag": NICK, "Value": "VALUE"}])
    return head.replace(b'"VALUE"', b"[" * depth + b"]" * depth)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 10 levels deep"),
        (nested(100_000), "nested more than 10 levels deep"),
        (nested(50), "nested more than 10 levels deep"),
        (encoded().replace(b"1700000000123", b"NaN"), "NaN is not a JSON value"),
        (encoded().replace(b"1700000000123", b"-Infinity"), "-Infinity is not a JSON value"),
        (encoded(ProfileItem=[{"Tag": NICK, "Value": "x"}]).replace(b'"x"', b"Infinity"), "Infinity is not a JSON"),
        (encoded().replace(b"1700000000123", b"1e999"), "the number 1e999 is out of range"),
        (encoded(ProfileItem=[{"Tag": NICK, "Value": "x"}] * 101), "ProfileItem has 101 entries"),
    ],
    ids=["100000-deep", "100000-deep-value", "50-deep-value", "nan", "minus-infinity", "infinity-value", "1e999",
         "101-items"],
)
def test_a_body_no_callback_has_is_refused_with_its_reason_and_nothing_recorded(deliver, caplog, raw, reason):
    profile = local_copy()
    assert_refused(deliver(raw=raw), caplog, 400, reason)
    assert Profile.objects.get(pk=profile.pk).version == profile.version


def test_a_body_over_djangos_upload_limit_is_refused_with_413_before_it_is_read(deliver, caplog, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    raw = encoded(ProfileItem=[{"Tag": NICK, "Value": "x" * 10_000}])
    assert_refused(deliver(raw=raw), caplog, 413, "the body is larger than 10,000 bytes")

