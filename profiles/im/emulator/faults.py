"""Fault injection: the faults (ErrorCodes, HTTP errors, bad bodies, delays, dropped connections)
the emulator can apply to the next matching requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    """One injected fault, applied to the next ``times`` matching requests.

    kind: ``error_code`` (answer ``error_code`` with HTTP 200), ``http_status`` (answer that status
    with an HTML body), ``not_json`` (HTTP 200 with a body that is not JSON), ``drop`` (close the
    connection without an answer), ``delay`` (wait ``delay`` seconds, then handle normally),
    ``json_body`` (HTTP 200 with ``body`` as the JSON answer, e.g. a proxy's ``{}``).
    """

    kind: str
    command: str = ""  # "" matches every command
    times: int = 1
    error_code: int = 0
    http_status: int = 502
    delay: float = 0.0
    body: Any = None

    def matches(self, command: str) -> bool:
        return self.times > 0 and (not self.command or self.command == command)


FAULT_KINDS = ("error_code", "http_status", "not_json", "drop", "delay", "json_body")
