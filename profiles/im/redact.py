"""A logging filter that removes UserSigs from log records, wherever a URL might carry one."""

from __future__ import annotations

import logging
import re

_USERSIG_RE = re.compile(r"(usersig=)[^&\s'\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    return _USERSIG_RE.sub(r"\1[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
