"""The callback signature of docs/tencent-im.md §8: Sign = sha256(token + RequestTime), checked within ±60 s."""

from __future__ import annotations

import pytest

from profiles.im.callback import CallbackAuthError, callback_query, callback_sign, verify_callback
from profiles.im.config import EMULATOR_CALLBACK_TOKEN, load_callback_token

TOKEN = "xxxxyyyy"
NOW = 1669872112
# docs/tencent-im.md §8's own example.
EXAMPLE_SIGN = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"


def verify(sign: str | None = EXAMPLE_SIGN, request_time: str | None = str(NOW), *, token: str = TOKEN,
           now: float = NOW) -> int:
    return verify_callback(token=token, sign=sign, request_time=request_time, clock=lambda: now)


def test_the_sign_matches_the_spec_example():
    assert callback_sign(TOKEN, NOW) == EXAMPLE_SIGN
    assert callback_sign(TOKEN, str(NOW)) == EXAMPLE_SIGN


def test_a_good_sign_within_the_window_is_accepted_and_its_time_returned():
    assert verify() == NOW
    assert verify(now=NOW + 60) == NOW
    assert verify(now=NOW - 60) == NOW


@pytest.mark.parametrize(
    ("now", "reason"),
    [(NOW + 61, "61 s behind this server's clock"), (NOW - 61, "61 s ahead of this server's clock")],
)
def test_a_request_time_more_than_a_minute_away_is_refused(now, reason):
    with pytest.raises(CallbackAuthError, match=reason):
        verify(now=now)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"token": ""}, "no callback token is configured"),
        ({"sign": None}, "Sign or RequestTime is missing"),
        ({"request_time": ""}, "Sign or RequestTime is missing"),
        ({"request_time": "16698721.5"}, "not a Unix time"),
        ({"request_time": "１６６９８７２１１２"}, "not a Unix time"),  # full-width digits: isdigit() is true
        ({"request_time": "9" * 400}, "not a Unix time"),
        ({"sign": EXAMPLE_SIGN.upper()}, "Sign does not match"),
        ({"sign": EXAMPLE_SIGN[:-1] + "0"}, "Sign does not match"),
        ({"sign": "é" * 64}, "Sign does not match"),
        ({"token": "xxxxyyyz"}, "Sign does not match"),
    ],
)
def test_a_bad_call_is_refused_with_a_reason(kwargs, reason):
    with pytest.raises(CallbackAuthError, match=reason) as caught:
        verify(**kwargs)
    assert TOKEN not in caught.value.reason and EXAMPLE_SIGN not in caught.value.reason


def test_the_query_carries_every_documented_parameter_and_a_valid_sign():
    query = callback_query(sdkappid=1400000000, token=TOKEN, client_ip="203.0.113.1", platform="iOS",
                           request_time=NOW)
    assert query == {
        "SdkAppid": "1400000000", "CallbackCommand": "Profile.CallbackPortraitSet", "contenttype": "json",
        "ClientIP": "203.0.113.1", "OptPlatform": "iOS", "RequestTime": str(NOW), "Sign": EXAMPLE_SIGN,
    }


def test_without_a_token_the_query_is_unsigned():
    query = callback_query(sdkappid=1, token="", client_ip="", platform="RESTAPI")
    assert "Sign" not in query and "RequestTime" not in query


def test_the_callback_token_defaults_to_the_dev_token_only_on_the_emulator():
    assert load_callback_token({}, uses_emulator=True) == EMULATOR_CALLBACK_TOKEN
    assert load_callback_token({}, uses_emulator=False) == ""
    assert load_callback_token({"IM_CALLBACK_TOKEN": "mine"}, uses_emulator=True) == "mine"
    assert load_callback_token({"IM_CALLBACK_TOKEN": "mine"}, uses_emulator=False) == "mine"
