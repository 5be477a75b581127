"""The endpoint for Tencent's ``Profile.CallbackPortraitSet`` webhook (docs/tencent-im.md §8): authenticate,
parse, hand to ``services.external_change_record``, answer at once."""

from __future__ import annotations

import json
import logging
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
        body = json.loads(request.body)
    except RequestDataTooBig:
        raise CallbackRefused(400, "the body is too large") from None
    except ValueError:  # includes UnicodeDecodeError
        raise CallbackRefused(400, "the body is not JSON") from None
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
