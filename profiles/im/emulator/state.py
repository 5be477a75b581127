"""What the emulated app knows: accounts and profiles, custom tags, pending faults, the request log
and the callbacks sent; plus the rate-limit measure of the log's timestamps."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .. import tags as catalogue
from .callbacks import CallbackConfig, CallbackDelivery
from .faults import Fault

# docs/tencent-im.md §2: most editions allow 16 bytes of Location; the emulator follows them by default.
DEFAULT_LOCATION_MAX_BYTES = 16


@dataclass
class RequestRecord:
    at: float
    command: str
    query: dict[str, str]
    body: Any
    error_code: int | None
    fault: str = ""


@dataclass
class EmulatorState:
    """Everything the emulator knows; guarded by ``lock``."""

    sdkappid: int
    secret_key: str = field(repr=False)
    admin_identifiers: tuple[str, ...] = ("administrator",)
    location_max_bytes: int = DEFAULT_LOCATION_MAX_BYTES
    latency: float = 0.0
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    custom_tags: dict[str, catalogue.CustomTag] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=100_000))
    callback: CallbackConfig = field(default_factory=CallbackConfig)
    deliveries: deque[CallbackDelivery] = field(default_factory=lambda: deque(maxlen=10_000))
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)


def max_in_window(stamps: list[float], span: float = 1.0) -> int:
    """The most timestamps in any half-open window [t, t + span): what a per-second rate limit,
    counted where the requests arrive, sees at its worst (docs/tencent-im.md §1)."""
    ordered = sorted(stamps)
    best = start = 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best

