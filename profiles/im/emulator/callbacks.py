"""The ``Profile.CallbackPortraitSet`` webhook the emulator sends after each profile change (docs/tencent-im.md §8):
where to, the record of each delivery, and the background thread that delivers them signed, in order."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from ..callback import callback_query

logger = logging.getLogger(__name__)

# The ClientIP reported for a change made "in the user's app" (a TEST-NET-3 documentation address).
USER_CLIENT_IP = "203.0.113.10"


@dataclass
class CallbackConfig:
    """Where and how the emulator delivers ``Profile.CallbackPortraitSet`` (docs/tencent-im.md §8); no URL = none.

    ``token`` is the console's callback authentication token: with one, each delivery is signed.
    """

    url: str = ""
    token: str = field(default="", repr=False)
    timeout: float = 3.0


@dataclass
class CallbackDelivery:
    """One callback the emulator sent: the answer's HTTP status, or the error that stopped it."""

    at: float
    url: str
    query: dict[str, str]
    body: dict[str, Any]
    status: int | None = None
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class _CallbackJob:
    generation: int
    config: CallbackConfig
    sdkappid: int
    client_ip: str
    platform: str
    body: dict[str, Any]


def _deliver(job: _CallbackJob) -> CallbackDelivery:
    """POST one callback; any failure is recorded in the result, never raised."""
    # Signed as it leaves, as Tencent does: RequestTime is the moment of delivery (docs/tencent-im.md §8).
    query = callback_query(
        sdkappid=job.sdkappid, token=job.config.token, client_ip=job.client_ip, platform=job.platform,
    )
    delivery = CallbackDelivery(at=time.time(), url=job.config.url, query=query, body=job.body)
    started = time.perf_counter()
    try:
        # A connection per callback: on a reused one, a receiver that writes headers and body
        # separately with Nagle on (Django's runserver) stalls each answer ~40 ms on delayed ACKs.
        with requests.Session() as session:
            session.trust_env = False  # straight to the configured URL, as Tencent's servers would
            answer = session.post(job.config.url, params=query, json=job.body, timeout=job.config.timeout)
        delivery.status = answer.status_code
    except Exception as exc:  # whatever goes wrong is the delivery's outcome, never the caller's
        # The class name only: requests' messages repeat the URL, Sign included.
        delivery.error = type(exc).__name__
    delivery.seconds = time.perf_counter() - started
    if delivery.ok:
        logger.debug("Callback delivered to %s", job.config.url)
    else:
        logger.warning(
            "Callback to %s: %s", job.config.url,
            f"HTTP {delivery.status}" if delivery.status is not None else delivery.error,
        )
    return delivery


class _CallbackSender:
    """One background thread delivering queued callbacks in order, so a REST answer never waits
    for the receiver. Started on the first callback; ``close`` stops it."""

    def __init__(self, record: Callable[[_CallbackJob, CallbackDelivery], None]) -> None:
        self._record = record
        self._idle = threading.Condition()
        self._pending = 0  # queued or being delivered; guarded by _idle
        self._jobs: queue.SimpleQueue[_CallbackJob | None] | None = None

    def submit(self, job: _CallbackJob) -> None:
        with self._idle:
            if self._jobs is None:
                # A queue per thread: a later thread never shares a queue with one told to stop.
                self._jobs = queue.SimpleQueue()
                threading.Thread(
                    target=self._run, args=(self._jobs,), name="im-emulator-callbacks", daemon=True
                ).start()
            self._pending += 1
            self._jobs.put(job)

    def _run(self, jobs: queue.SimpleQueue[_CallbackJob | None]) -> None:
        while (job := jobs.get()) is not None:
            try:
                self._record(job, _deliver(job))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def drop_queued(self) -> None:
        """Forget callbacks not yet sent (one being delivered still finishes)."""
        with self._idle:
            while self._jobs is not None:
                try:
                    self._jobs.get_nowait()
                except queue.Empty:
                    break
                self._pending -= 1
            self._idle.notify_all()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self) -> None:
        """Stop the thread once the callbacks already queued are sent."""
        with self._idle:
            if self._jobs is not None:
                self._jobs.put(None)
                self._jobs = None

