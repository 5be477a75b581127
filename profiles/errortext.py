"""ErrorCodes, transport failures and recorded English texts in the reader's language.

``profiles/im/`` (free of Django) marks its ErrorCode meanings, advice and transport reasons with a
local ``gettext_noop``; audit rows and job items keep English, since a record must not depend on the
language of whoever caused it. Pages translate them here, when they are shown.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from django.utils.translation import gettext, gettext_noop

from .im import errors
from .im.portrait import ReadFailure


def error_meaning(code: int) -> str:
    """What ``code`` means, in the reader's language."""
    return gettext(errors.describe(code).meaning)


def error_advice(code: int) -> str:
    """What to do about ``code``, in the reader's language."""
    return gettext(errors.describe(code).advice)


ERROR_TEXT = gettext_noop("ErrorCode %(code)s: %(meaning)s")


def error_text(code: int) -> str:
    """"ErrorCode 40003: This UserID does not exist …" in the reader's language."""
    return gettext(ERROR_TEXT) % {"code": code, "meaning": error_meaning(code)}


def read_failure_text(failure: ReadFailure) -> str:
    """Why one user's profile was not read: the UserID, the ErrorCode's meaning or what happened."""
    reason = error_text(failure.error_code) if failure.error_code is not None else recorded_text(failure.reason)
    if failure.detail:
        reason = gettext("%(reason)s (Tencent said: %(detail)s)") % {"reason": reason, "detail": failure.detail}
    return gettext("%(user_id)s: %(reason)s") % {"user_id": failure.user_id, "reason": reason}


def transport_reason(reason: str) -> str:
    """Why a request got no answer ("timed out waiting for Tencent"), in the reader's language."""
    return recorded_text(reason)


# The placeholders of recorded templates that hold another recorded sentence (the others hold a
# UserID, a number or Tencent's own words, kept as they are).
_SENTENCES = frozenset({"why", "reason", "message", "meaning", "refusal", "problem"})


# The placeholders that hold a tag's label ("Gender"), itself a marked message.
_LABELS = frozenset({"label", "tag"})


@functools.cache
def _recorded_templates() -> Sequence[tuple[str, re.Pattern[str]]]:
    """Every English template whose results are recorded (audit rows, job items), with a pattern that
    recognises its results. Imported late: the services that write them import this module."""
    from .admin import profiles as profile_admin
    from .formconflicts import OVERWRITE_PURPOSE
    from .im import client, portrait, texts
    from .services import accounts, gateway, jobpull, jobpush, jobs, pull, push, validation

    templates = [
        *client.TRANSPORT_REASONS, *portrait.READ_FAILURE_REASONS, *pull.RECORDED_REASONS,
        *jobs.RECORDED_MESSAGES, *jobpull.RECORDED_MESSAGES, *jobpush.RECORDED_MESSAGES, *push.RECORDED_MESSAGES,
        *validation.RECORDED_MESSAGES, *texts.TYPED_TEXT_REFUSALS, *texts.VALUE_REFUSALS, ERROR_TEXT,
        # The purposes audit rows record
        *push.PURPOSES, *accounts.PURPOSES, gateway.CONFIGURATION_CHECK, OVERWRITE_PURPOSE,
        profile_admin.REFRESH_PURPOSE, profile_admin.REFRESH_SELECTED_PURPOSE,
    ]
    compiled = []
    for template in dict.fromkeys(templates):
        pattern = re.escape(template)
        pattern = re.sub(r"%\\\((\w+)\\\)[sdr]", lambda m: f"(?P<{m.group(1)}>.+?)", pattern)
        compiled.append((template, re.compile(pattern, re.DOTALL)))
    # Longer templates first, so a specific one wins over a general one that also matches.
    compiled.sort(key=lambda item: -len(item[0]))
    return tuple(compiled)


def recorded_text(text: str, *, depth: int = 3) -> str:
    """``text``, recorded in English by this app, in the reader's language: a marked message as it
    is, or one made from a marked template, its parts translated in turn. Text the app does not know
    (Tencent's own words, a value) is returned unchanged."""
    if not text:
        return text
    translated = gettext(text)
    if translated != text or depth <= 0:
        return translated
    for template, pattern in _recorded_templates():
        found = pattern.fullmatch(text)
        if found is not None:
            parts = {
                name: recorded_text(value, depth=depth - 1) if name in _SENTENCES
                else gettext(value) if name in _LABELS else value
                for name, value in found.groupdict().items()
            }
            return gettext(template) % parts
    return text
