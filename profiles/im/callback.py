"""Tencent's third-party callbacks (docs/tencent-im.md §8): the ``Sign`` of an authenticated callback, its check,
and the query a sender appends. Django-free; used by the webhook view and by the emulator."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

CALLBACK_COMMAND = "Profile.CallbackPortraitSet"
# docs/tencent-im.md §8: a RequestTime more than 1 minute from the receiver's clock is refused (replay).
SIGN_WINDOW_SECONDS = 60
# docs/tencent-im.md §8: the OptPlatform values Tencent documents; RESTAPI marks a change made through REST.
PLATFORMS = ("RESTAPI", "Web", "Android", "iOS", "Windows", "Mac", "iPad", "Unknown")
# Enough digits for any Unix time in seconds; longer input is refused before int() sees it.
_MAX_TIME_DIGITS = 12


class CallbackAuthError(Exception):
    """A callback that fails authentication; ``reason`` says why in words safe to log (never the
    token nor the Sign)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def callback_sign(token: str, request_time: int | str) -> str:
    """docs/tencent-im.md §8: lowercase hex SHA-256 of the token immediately followed by RequestTime."""
    return hashlib.sha256(f"{token}{request_time}".encode()).hexdigest()


def verify_callback(
    *,
    token: str,
    sign: str | None,
    request_time: str | None,
    clock: Callable[[], float] = time.time,
    window: int = SIGN_WINDOW_SECONDS,
) -> int:
    """Check a callback's ``Sign`` and ``RequestTime`` (docs/tencent-im.md §8); return RequestTime.

    Raises :class:`CallbackAuthError` when no token is configured, a parameter is missing or
    malformed, RequestTime is more than ``window`` seconds from ``clock()``, or the Sign differs
    (compared in constant time).
    """
    if not token:
        raise CallbackAuthError("no callback token is configured (IM_CALLBACK_TOKEN), so every callback is refused")
    if not sign or not request_time:
        raise CallbackAuthError("Sign or RequestTime is missing (is callback authentication enabled in the console?)")
    # isascii: str.isdigit() is also true for other scripts' digits.
    if not (request_time.isascii() and request_time.isdigit()) or len(request_time) > _MAX_TIME_DIGITS:
        raise CallbackAuthError("RequestTime is not a Unix time in whole seconds")
    sent_at = int(request_time)
    skew = sent_at - clock()
    if abs(skew) > window:
        direction = "behind" if skew < 0 else "ahead of"
        raise CallbackAuthError(
            f"RequestTime is {abs(skew):.0f} s {direction} this server's clock; at most {window} s is accepted"
        )
    expected = callback_sign(token, request_time)
    # Bytes: compare_digest refuses a str with non-ASCII characters, and a Sign may hold anything.
    if not hmac.compare_digest(expected.encode(), sign.encode("utf-8", "surrogatepass")):
        raise CallbackAuthError("Sign does not match the configured callback token")
    return sent_at


def callback_query(
    *, sdkappid: int, token: str, client_ip: str, platform: str, request_time: int | None = None,
) -> dict[str, str]:
    """The query parameters Tencent appends to the callback URL (docs/tencent-im.md §8). Without a token,
    callback authentication is off and Sign / RequestTime are left out."""
    query = {
        "SdkAppid": str(sdkappid),
        "CallbackCommand": CALLBACK_COMMAND,
        "contenttype": "json",
        "ClientIP": client_ip,
        "OptPlatform": platform,
    }
    if token:
        sent_at = int(time.time()) if request_time is None else request_time
        query["RequestTime"] = str(sent_at)
        query["Sign"] = callback_sign(token, sent_at)
    return query
