"""Reading ``v4/profile/portrait_get`` answers (docs/tencent-im.md §5) into typed profiles and
per-user failures. No Django: the emulator's tests and the services share it."""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import tags as catalogue
from .errors import describe, gettext_noop

# Why a user's profile is missing from an accepted answer (docs/tencent-im.md §5), when no ErrorCode says.
LISTED_AS_FAILED = gettext_noop("listed in Fail_Account")
LEFT_OUT = gettext_noop("missing from Tencent's answer")
READ_FAILURE_REASONS = (LISTED_AS_FAILED, LEFT_OUT)


@dataclass(frozen=True)
class ReadFailure:
    """Why one user's profile was not read (or not stored): the ErrorCode's meaning or what happened
    (English; ``profiles.errortext.read_failure_text`` says it in the reader's language), and what
    Tencent added in its own words."""

    user_id: str
    error_code: int | None
    reason: str
    detail: str = ""

    def describe(self) -> str:
        code = f"ErrorCode {self.error_code}: " if self.error_code is not None else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.user_id}: {code}{self.reason}{detail}"


@dataclass
class RemoteProfile:
    """One user's profile as Tencent answered it: known tags (None = not set) and unknown ones."""

    values: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, Any] = field(default_factory=dict)


def parse_profile_items(items: Any, *, requested: Sequence[str], custom_tags: Container[str]) -> RemoteProfile:
    """Turn one user's ``ProfileItem`` list into typed values. A requested tag that is missing is
    None ("not set", docs/tencent-im.md §3); a value of the wrong shape, or a tag that is neither
    standard nor in ``custom_tags``, is kept as unknown rather than dropped."""
    remote = RemoteProfile()
    values, unknown = remote.values, remote.unknown
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("Tag"), str):
            continue
        tag, value = item["Tag"], item.get("Value")
        standard = catalogue.STANDARD_BY_WIRE.get(tag)
        if standard is not None and standard.value_type is catalogue.ValueType.UINT32:
            # docs/tencent-im.md §2: a uint32 may arrive as a number or as a numeric string.
            number = catalogue.coerce_uint32_from_wire(value)
            if number is None:
                unknown[tag] = value
            else:
                values[tag] = number
        elif (standard is not None or tag in custom_tags) and isinstance(value, str):
            values[tag] = value
        else:
            unknown[tag] = value
    for tag in requested:
        if tag not in values and tag not in unknown:
            values[tag] = None
    return remote


@dataclass
class PortraitAnswer:
    """One portrait_get answer: the profiles read and the users that failed, by UserID."""

    profiles: dict[str, RemoteProfile] = field(default_factory=dict)
    failures: dict[str, ReadFailure] = field(default_factory=dict)


def parse_portrait_answer(
    body: dict[str, Any], *, asked: Sequence[str], requested: Sequence[str], custom_tags: Container[str]
) -> PortraitAnswer:
    """Split an accepted answer (top-level ErrorCode 0) into profiles and per-user failures: a
    ResultCode other than 0, a user in ``Fail_Account``, or a user the answer leaves out
    (docs/tencent-im.md §5: the top-level code can be 0 while some users failed)."""
    answer = PortraitAnswer()
    failed_accounts = {a for a in body.get("Fail_Account") or [] if isinstance(a, str)}
    asked_set = set(asked)
    for item in body.get("UserProfileItem") or []:
        user_id = item.get("To_Account") if isinstance(item, dict) else None
        # An answer for a user nobody asked about (or not a string at all) is ignored.
        if not isinstance(user_id, str) or user_id not in asked_set or user_id in answer.failures:
            continue
        code = item.get("ResultCode", 0)
        if code != 0 or user_id in failed_accounts:
            code = code if isinstance(code, int) and code != 0 else None
            reason = describe(code).meaning if code is not None else LISTED_AS_FAILED
            info = item.get("ResultInfo")
            answer.failures[user_id] = ReadFailure(user_id, code, reason, str(info) if info else "")
            continue
        answer.profiles[user_id] = parse_profile_items(
            item.get("ProfileItem"), requested=requested, custom_tags=custom_tags
        )
    for user_id in asked:
        if user_id not in answer.profiles and user_id not in answer.failures:
            answer.failures[user_id] = ReadFailure(user_id, None, LEFT_OUT)
    return answer
