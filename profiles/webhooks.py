"""The endpoint for Tencent's ``Profile.CallbackPortraitSet`` webhook (docs/tencent-im.md §8): authenticate,
parse, hand to ``services.external_change_record``, answer at once."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import services
from .im import tags as catalogue
from .im.callback import CALLBACK_COMMAND, CallbackAuthError, verify_callback

logger = logging.getLogger(__name__)

# docs/tencent-im.md §8: the answer Tencent expects; its code is ignored, so it must simply be quick.
OK_ANSWER = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
# A callback body is an object holding a list of {Tag, Value} objects (docs/tencent-im.md §8): three levels,
# a few more if a value is structured. Deeper is not a callback (and 100,000 levels would exhaust
# Python's recursion while parsing).
MAX_BODY_DEPTH = 10
# docs/tencent-im.md §2, §3: 12 standard tags and at most 20 custom ones; a callback reports the changed ones.
MAX_PROFILE_ITEMS = 100


class CallbackRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@csrf_exempt
def portrait_set_callback(request: HttpRequest) -> JsonResponse:
    try:
        if request.method != "POST":
            raise CallbackRefused(405, f"method {request.method} is not allowed; Tencent POSTs callbacks")
        _authenticate(request)
        callback = _parse(request)
    except CallbackRefused as refusal:
        # The reason only: the query holds the Sign, and nothing here holds the token.
        logger.warning(
            "Refused a %s from %s: %s", CALLBACK_COMMAND, request.META.get("REMOTE_ADDR", "?"), refusal.reason
        )
        return JsonResponse(
            {"ActionStatus": "FAIL", "ErrorCode": 1, "ErrorInfo": refusal.reason}, status=refusal.status
        )
    change = services.external_change_record(**callback)
    if change is None:
        logger.debug("Callback for %s is the echo of our own push; not recorded", callback["user_id"])
    return JsonResponse(OK_ANSWER)


def _authenticate(request: HttpRequest) -> None:
    """docs/tencent-im.md §8: Sign and RequestTime against IM_CALLBACK_TOKEN (read now, so it can change), then
    the SDKAppID. Without a token every call is refused."""
    try:
        verify_callback(
            token=settings.IM_CALLBACK_TOKEN, sign=request.GET.get("Sign"), request_time=request.GET.get("RequestTime"),
        )
    except CallbackAuthError as exc:
        raise CallbackRefused(403, exc.reason) from None
    sdkappid = request.GET.get("SdkAppid", "")
    if sdkappid != str(settings.IM.sdkappid):
        raise CallbackRefused(403, f"SdkAppid {sdkappid[:20]!r} is not this app's SDKAppID")


def _parse(request: HttpRequest) -> dict[str, Any]:
    """The callback's fields as ``external_change_record`` takes them; CallbackRefused(400) when
    the call is not a well-formed Profile.CallbackPortraitSet."""
    if request.GET.get("CallbackCommand") != CALLBACK_COMMAND:
        raise CallbackRefused(400, f"CallbackCommand in the URL is not {CALLBACK_COMMAND}")
    try:
        body = json.loads(request.body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RequestDataTooBig:
        # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE before reading it.
        raise CallbackRefused(
            413, f"the body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes"
        ) from None
    except RecursionError:
        raise CallbackRefused(400, f"the body is nested more than {MAX_BODY_DEPTH} levels deep") from None
    except ValueError:  # includes UnicodeDecodeError
        raise CallbackRefused(400, "the body is not JSON") from None
    if _depth(body) > MAX_BODY_DEPTH:
        raise CallbackRefused(400, f"the body is nested more than {MAX_BODY_DEPTH} levels deep")
    if not isinstance(body, dict):
        raise CallbackRefused(400, "the body is not a JSON object")
    if body.get("CallbackCommand", CALLBACK_COMMAND) != CALLBACK_COMMAND:
        raise CallbackRefused(400, f"CallbackCommand in the body is not {CALLBACK_COMMAND}")
    user_id = body.get("From_Account")
    try:
        catalogue.validate_user_id(user_id)
    except ValueError as exc:
        raise CallbackRefused(400, f"From_Account is not a valid UserID: {exc}") from None
    items = body.get("ProfileItem")
    if not isinstance(items, list) or not items:
        raise CallbackRefused(400, "ProfileItem is not a non-empty list")
    if len(items) > MAX_PROFILE_ITEMS:
        raise CallbackRefused(400, f"ProfileItem has {len(items):,} entries; a profile has far fewer tags")
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("Tag"), str) and "Value" in item):
            raise CallbackRefused(400, "each ProfileItem entry must be an object with Tag and Value")
        if not catalogue.TAG_NAME_RE.fullmatch(item["Tag"]):
            raise CallbackRefused(400, "a ProfileItem Tag is not a tag name (letters, digits, underscore)")
    operator = body.get("Operator_Account")
    return {
        "user_id": user_id,
        "items": [{"Tag": item["Tag"], "Value": item["Value"]} for item in items],
        "operator_account": operator if isinstance(operator, str) else "",
        "platform": request.GET.get("OptPlatform", ""),
        "client_ip": request.GET.get("ClientIP", ""),
        "event_time_ms": body.get("EventTime"),
        "body": body,
        # The signed delivery, so the same one received again is not recorded twice.
        "delivery": f"{request.GET.get('RequestTime', '')}:{request.GET.get('Sign', '')}",
        "raw_body": request.body,
    }


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN, Infinity and -Infinity; JSON has no such values and Tencent sends none.
    raise CallbackRefused(400, f"the body is not JSON: {name} is not a JSON value")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 reads as infinity
        raise CallbackRefused(400, f"the body is not JSON Tencent sends: the number {text[:20]} is out of range")
    return number


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects, counted without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_BODY_DEPTH:  # deeper is refused anyway: no need to walk it all
                children = item.values() if isinstance(item, dict) else item
                pending.extend((child, depth + 1) for child in children)
    return deepest
