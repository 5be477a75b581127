"""A logging filter that removes credentials from log records wherever a URL might carry one:
the UserSig of our requests to Tencent, and the Sign of Tencent's callbacks to us (docs/tencent-im.md §8)."""

from __future__ import annotations

import logging
import re

_USERSIG_RE = re.compile(r"\b((?:usersig|sign)=)[^&\s'\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    return _USERSIG_RE.sub(r"\1[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
