"""HTTP client for Tencent IM v4 REST APIs (docs/tencent-im.md §1): builds the URL, signs, and types the answer.

The answer's outcome is in the body, never the HTTP status (docs/tencent-im.md §1). Transport failures and IM
errors are separate exception types; neither ever carries the URL, which holds the UserSig.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests
from requests.structures import CaseInsensitiveDict

from .errors import ErrorCodeInfo, describe, gettext_noop
from .usersig import UserSigProvider

# docs/tencent-im.md §1: Tencent's backend gives up after 3 s; a client's read timeout must be longer.
DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 5.0
# Keep-alive connections kept per client: at least as many as the requests a process has in flight
# at once (a job worker's threads, the web server's), or connections are dropped and opened anew.
DEFAULT_POOL_SIZE = 32

PORTRAIT_SET = "profile/portrait_set"
PORTRAIT_GET = "profile/portrait_get"
ACCOUNT_CHECK = "im_open_login_svc/account_check"
ACCOUNT_IMPORT = "im_open_login_svc/account_import"
MULTIACCOUNT_IMPORT = "im_open_login_svc/multiaccount_import"
# Every command this client is used for (the audit list offers them as a filter).
COMMANDS = (PORTRAIT_SET, PORTRAIT_GET, ACCOUNT_CHECK, ACCOUNT_IMPORT, MULTIACCOUNT_IMPORT)

# Why a request got no JSON answer: English in exceptions and audit rows, marked for translation so
# pages show them in the reader's language (profiles.errortext.transport_reason).
TIMED_OUT = gettext_noop("timed out waiting for Tencent")
NO_CONNECTION = gettext_noop("could not connect to Tencent (connection refused or reset)")
REQUEST_FAILED = gettext_noop("request failed (%(kind)s)")
HTTP_STATUS = gettext_noop("HTTP %(status)s from Tencent")
NOT_AN_OBJECT = gettext_noop("Tencent's answer is not a JSON object")
NO_OUTCOME = gettext_noop("the answer has no ActionStatus or ErrorCode (not from Tencent?)")
TRANSPORT_REASONS = (TIMED_OUT, NO_CONNECTION, REQUEST_FAILED, HTTP_STATUS, NOT_AN_OBJECT, NO_OUTCOME)


def new_random() -> int:
    """docs/tencent-im.md §1: a fresh random 32-bit unsigned integer per request."""
    return secrets.randbelow(2**32)


@dataclass(frozen=True)
class ImResponse:
    """A request that reached Tencent and got a JSON body back."""

    command: str
    random: int
    http_status: int
    body: dict[str, Any]
    latency_ms: float

    @property
    def action_status(self) -> str:
        return str(self.body.get("ActionStatus", ""))

    @property
    def error_code(self) -> int:
        try:
            return int(self.body.get("ErrorCode", 0))
        except (TypeError, ValueError):
            return -1

    @property
    def error_info(self) -> str:
        return str(self.body.get("ErrorInfo", "") or "")

    @property
    def error_display(self) -> str:
        return str(self.body.get("ErrorDisplay", "") or "")

    @property
    def ok(self) -> bool:
        return self.error_code == 0 and self.action_status in ("OK", "")


class ImClientError(Exception):
    """Base class for everything the client raises."""

    command: str
    random: int
    latency_ms: float
    retryable: bool
    # Set by the service layer: the audit row of the request that failed.
    audit: Any = None


class TransportError(ImClientError):
    """The request did not produce a JSON answer: network failure, timeout, non-200, not JSON."""

    def __init__(
        self, reason: str, *, command: str, random: int, latency_ms: float,
        http_status: int | None = None, response_text: str = "",
    ) -> None:
        super().__init__(f"{command}: {reason}")
        self.reason = reason
        self.command = command
        self.random = random
        self.latency_ms = latency_ms
        self.http_status = http_status
        self.response_text = response_text
        # docs/tencent-im.md §6: network failures, timeouts, HTTP 5xx and non-JSON bodies are transient.
        self.retryable = http_status is None or http_status >= 500 or http_status == 200


class ImError(ImClientError):
    """Tencent answered with ErrorCode != 0."""

    def __init__(self, response: ImResponse) -> None:
        self.response = response
        self.info: ErrorCodeInfo = describe(response.error_code)
        self.command = response.command
        self.random = response.random
        self.latency_ms = response.latency_ms
        self.retryable = self.info.retryable
        super().__init__(str(self))

    def __str__(self) -> str:
        detail = f" ({self.response.error_info})" if self.response.error_info else ""
        return f"{self.command}: {self.info.describe()}{detail}"

    @property
    def error_code(self) -> int:
        return self.response.error_code


class ImClient:
    """One client per configuration; thread-safe for concurrent calls through its session pool."""

    def __init__(
        self,
        *,
        base_url: str,
        sdkappid: int,
        usersig: UserSigProvider,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        if read_timeout <= 3:
            raise ValueError("The read timeout must be longer than Tencent's own 3 s (docs/tencent-im.md §1).")
        self.base_url = base_url.rstrip("/")
        self.sdkappid = int(sdkappid)
        self.usersig = usersig
        self.timeout = (connect_timeout, read_timeout)
        # A Session reuses connections (keep-alive), as docs/tencent-im.md §1 asks.
        self.session = requests.Session()
        self.adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", self.adapter)
        self.session.mount("https://", self.adapter)
        self.session.headers["Content-Type"] = "application/json"
        # What requests would read from the environment on every call (proxies, a CA bundle, and
        # ~/.netrc from disk), read once here: the same settings, without the per-call cost.
        self.session.trust_env = False
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True

    def __repr__(self) -> str:
        return f"ImClient(base_url={self.base_url!r}, sdkappid={self.sdkappid})"

    @property
    def identifier(self) -> str:
        return self.usersig.identifier

    def build_url(self, command: str, random: int) -> str:
        # docs/tencent-im.md §1: the exact five query parameters. A UserSig is base64 with "*" for "+" (§7,
        # step 6), and "*" may stand unescaped in a query (RFC 3986 sub-delims), as Tencent's own
        # SDKs send it. Escaping it as %2A would be as valid, but a query holding any "%" sends
        # requests/urllib3 down their slow path, re-scanning the long UserSig byte by byte in
        # Python on every call (about half a millisecond each).
        query = urlencode(
            {
                "sdkappid": self.sdkappid,
                "identifier": self.usersig.identifier,
                "usersig": self.usersig.get(),
                "random": random,
                "contenttype": "json",
            },
            quote_via=quote,
            safe="*",
        )
        return f"{self.base_url}/v4/{command}?{query}"

    def _send(self, url: str, payload: bytes) -> requests.Response:
        # Straight to the session's transport adapter, with the session's proxies and CA bundle:
        # Session.post (or Request.prepare and Session.send) would merge settings, parse the URL
        # again, build and read cookie jars and run hooks on every call, a quarter of the
        # client's CPU per call, for nothing a JSON POST to Tencent uses. The URL is already
        # quoted (build_url) and no answer of Tencent's redirects or sets cookies.
        prepared = requests.PreparedRequest()
        prepared.method = "POST"
        prepared.url = url
        prepared.headers = CaseInsensitiveDict(
            {**self.session.headers, "Content-Length": str(len(payload))}
        )
        prepared.body = payload
        return self.adapter.send(
            prepared, timeout=self.timeout, verify=self.session.verify, proxies=self.session.proxies
        )

    def call(self, command: str, body: dict[str, Any], *, random: int | None = None) -> ImResponse:
        """POST ``body`` to ``v4/<command>``. Returns the response when ErrorCode is 0.

        Raises :class:`ImError` for ErrorCode != 0 and :class:`TransportError` for everything that
        is not a JSON answer with HTTP 200.
        """
        nonce = new_random() if random is None else random
        payload = json.dumps(body or {}, ensure_ascii=False).encode("utf-8")
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000

        try:
            http = self._send(self.build_url(command, nonce), payload)
        except requests.Timeout:
            reason = TIMED_OUT
        except requests.ConnectionError:
            reason = NO_CONNECTION
        except requests.RequestException as exc:
            reason = REQUEST_FAILED % {"kind": type(exc).__name__}
        else:
            reason = ""
        if reason:
            # Raised outside the except block, so the requests exception (whose message holds
            # the URL and so the UserSig) is not chained into tracebacks.
            raise TransportError(reason, command=command, random=nonce, latency_ms=elapsed())
        latency = elapsed()
        text = http.text
        if http.status_code != 200:
            raise TransportError(
                HTTP_STATUS % {"status": http.status_code}, command=command, random=nonce,
                latency_ms=latency, http_status=http.status_code, response_text=text[:2000],
            )
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise TransportError(
                NOT_AN_OBJECT, command=command, random=nonce,
                latency_ms=latency, http_status=200, response_text=text[:2000],
            )
        if "ErrorCode" not in data and "ActionStatus" not in data:
            # docs/tencent-im.md §1: the outcome is in the body. A JSON object without it (a proxy's "{}") is not
            # a Tencent answer, and must not pass for a success.
            raise TransportError(
                NO_OUTCOME, command=command,
                random=nonce, latency_ms=latency, http_status=200, response_text=text[:2000],
            )
        response = ImResponse(command=command, random=nonce, http_status=200, body=data, latency_ms=latency)
        if not response.ok:
            raise ImError(response)
        return response
