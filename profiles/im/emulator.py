"""A local emulator of the Tencent IM REST API (spec §1–§6), for tests, benchmarks and `make run`.

It checks the URL, the UserSig and every tag the way Tencent documents, answers HTTP 200 with the
JSON body, and can inject faults (ErrorCodes, HTTP errors, bad bodies, delays, dropped
connections). After every profile change it can send Tencent's signed ``Profile.CallbackPortraitSet``
webhook (spec §8). A control API under ``/_emulator/`` lets another process seed and steer it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from . import tags as catalogue
from .callback import CALLBACK_COMMAND, PLATFORMS, callback_query
from .client import ACCOUNT_CHECK, ACCOUNT_IMPORT, MULTIACCOUNT_IMPORT, PORTRAIT_GET, PORTRAIT_SET
from .usersig import UserSigError, verify_usersig

logger = logging.getLogger(__name__)

# spec §2: most editions allow 16 bytes of Location; the emulator follows them by default.
DEFAULT_LOCATION_MAX_BYTES = 16


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

# The ClientIP reported for a change made "in the user's app" (a TEST-NET-3 documentation address).
USER_CLIENT_IP = "203.0.113.10"


@dataclass
class CallbackConfig:
    """Where and how the emulator delivers ``Profile.CallbackPortraitSet`` (spec §8); no URL = none.

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


def _answer(error_code: int = 0, error_info: str = "", **extra: Any) -> dict[str, Any]:
    body = {
        "ActionStatus": "OK" if error_code == 0 else "FAIL",
        "ErrorCode": error_code,
        "ErrorInfo": error_info,
        "ErrorDisplay": "" if error_code == 0 else error_info,
    }
    body.update(extra)
    return body


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
    # Signed as it leaves, as Tencent does: RequestTime is the moment of delivery (spec §8).
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


def max_in_window(stamps: list[float], span: float = 1.0) -> int:
    """The most timestamps in any half-open window [t, t + span): what a per-second rate limit,
    counted where the requests arrive, sees at its worst (spec §1)."""
    ordered = sorted(stamps)
    best = start = 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best


class Emulator:
    """The emulated Tencent IM app. Thread-safe; use :class:`EmulatorServer` to serve it over HTTP."""

    def __init__(
        self,
        *,
        sdkappid: int,
        secret_key: str,
        admin_identifiers: Iterable[str] = ("administrator",),
        location_max_bytes: int = DEFAULT_LOCATION_MAX_BYTES,
        custom_tags: Iterable[catalogue.CustomTag] = (),
        callback_url: str = "",
        callback_token: str = "",
    ) -> None:
        self.state = EmulatorState(
            sdkappid=int(sdkappid),
            secret_key=secret_key,
            admin_identifiers=tuple(admin_identifiers),
            location_max_bytes=location_max_bytes,
        )
        # Bumped by reset(): a delivery that was already under way when the emulator was reset is
        # not recorded in the new generation's list.
        self._generation = 0
        self._sender = _CallbackSender(self._record_delivery)
        for tag in custom_tags:
            self.define_custom_tag(tag)
        if callback_url:
            self.set_callback(callback_url, callback_token)

    def __repr__(self) -> str:
        return f"Emulator(sdkappid={self.state.sdkappid})"

    # --- seeding and inspection ------------------------------------------------------------

    def reset(self) -> None:
        with self.state.lock:
            self.state.accounts.clear()
            self.state.custom_tags.clear()
            self.state.faults.clear()
            self.state.log.clear()
            self.state.latency = 0.0
            self.state.callback = CallbackConfig()
            self.state.deliveries.clear()
            self._generation += 1
            self._sender.drop_queued()

    def add_account(self, user_id: str, profile: dict[str, Any] | None = None) -> None:
        catalogue.validate_user_id(user_id)
        with self.state.lock:
            current = self.state.accounts.setdefault(user_id, {})
            current.update(profile or {})

    def profile(self, user_id: str) -> dict[str, Any]:
        with self.state.lock:
            return dict(self.state.accounts[user_id])

    def set_as_user(self, user_id: str, changes: dict[str, Any], platform: str = "iOS") -> None:
        """Change a profile the way the user's own app would, without going through REST; like
        Tencent, send the callback with the user as Operator_Account (spec §8)."""
        if platform not in PLATFORMS:
            raise ValueError(f"Unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}.")
        with self.state.lock:
            self.state.accounts[user_id].update(changes)
            self._send_callback(
                user_id=user_id, items=[{"Tag": tag, "Value": value} for tag, value in changes.items()],
                operator=user_id, platform=platform, client_ip=USER_CLIENT_IP,
            )

    # --- callbacks (spec §8) -----------------------------------------------------------------

    def set_callback(self, url: str = "", token: str = "", *, timeout: float = 3.0) -> None:
        """Where to send ``Profile.CallbackPortraitSet``, signed with ``token``; no URL = none."""
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"The callback URL must be http(s), got {url!r}.")
        with self.state.lock:
            self.state.callback = CallbackConfig(url=url, token=token, timeout=float(timeout))

    def callback_deliveries(self) -> list[CallbackDelivery]:
        with self.state.lock:
            return list(self.state.deliveries)

    def wait_for_callbacks(self, timeout: float = 5.0) -> bool:
        """Block until every queued callback has been delivered (or failed); False on timeout."""
        return self._sender.wait(timeout)

    def close(self) -> None:
        """Stop the callback sender thread (after the callbacks already queued)."""
        self._sender.close()

    def _send_callback(
        self, *, user_id: str, items: list[dict[str, Any]], operator: str, platform: str, client_ip: str,
    ) -> None:
        with self.state.lock:
            config = self.state.callback
            if not config.url:
                return
            body = {
                "CallbackCommand": CALLBACK_COMMAND,
                "Operator_Account": operator,
                "From_Account": user_id,
                "EventTime": int(time.time() * 1000),
                "ProfileItem": items,
            }
            self._sender.submit(_CallbackJob(
                generation=self._generation, config=config, sdkappid=self.state.sdkappid,
                client_ip=client_ip, platform=platform, body=body,
            ))

    def _record_delivery(self, job: _CallbackJob, delivery: CallbackDelivery) -> None:
        with self.state.lock:
            if job.generation == self._generation:
                self.state.deliveries.append(delivery)

    def define_custom_tag(self, tag: catalogue.CustomTag) -> None:
        catalogue.validate_custom_keyword(tag.keyword)
        with self.state.lock:
            full = len(self.state.custom_tags) >= catalogue.CUSTOM_TAG_LIMIT
            if tag.wire_name not in self.state.custom_tags and full:
                raise ValueError(f"At most {catalogue.CUSTOM_TAG_LIMIT} custom tags per app (spec §3).")
            self.state.custom_tags[tag.wire_name] = tag

    def inject(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault kind {fault.kind!r}; use one of {', '.join(FAULT_KINDS)}.")
        with self.state.lock:
            self.state.faults.append(fault)

    def set_latency(self, seconds: float) -> None:
        with self.state.lock:
            self.state.latency = max(0.0, float(seconds))

    def requests(self, command: str = "") -> list[RequestRecord]:
        with self.state.lock:
            return [record for record in self.state.log if not command or record.command == command]

    # --- request handling ------------------------------------------------------------------

    def take_fault(self, command: str) -> Fault | None:
        with self.state.lock:
            for fault in self.state.faults:
                if fault.matches(command):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.state.faults.remove(fault)
                    return fault
        return None

    def check_query(self, query: dict[str, str]) -> dict[str, Any] | None:
        """spec §1 and §7: the five query parameters and the UserSig. None when all is well."""
        sdkappid = query.get("sdkappid", "")
        if not sdkappid:
            return _answer(60012, "sdkappid is missing")
        # isascii: str.isdigit() is also true for "²", which int() refuses, and for other scripts' digits.
        if not (sdkappid.isascii() and sdkappid.isdigit()) or int(sdkappid) != self.state.sdkappid:
            return _answer(70020, f"sdkappid {sdkappid} not found")
        identifier = query.get("identifier", "")
        if not identifier:
            return _answer(60004, "identifier is missing")
        if query.get("contenttype") != "json":
            return _answer(60002, "contenttype must be json")
        random = query.get("random", "")
        if not (random.isascii() and random.isdigit()) or int(random) > 0xFFFFFFFF:
            return _answer(60002, "random must be an unsigned 32-bit integer")
        usersig = query.get("usersig", "")
        try:
            verify_usersig(
                usersig, sdkappid=self.state.sdkappid, secret_key=self.state.secret_key,
                identifier=identifier,
            )
        except UserSigError as exc:
            return _answer(exc.error_code, str(exc))
        if identifier not in self.state.admin_identifiers:
            return _answer(60010, f"identifier {identifier} is not an app admin")
        return None

    def handle(
        self, command: str, body: Any, *, operator: str = "", client_ip: str = "127.0.0.1",
    ) -> dict[str, Any]:
        """Answer one REST call; ``operator`` is the calling admin identifier (default: the first)."""
        handlers = {
            PORTRAIT_SET: self._portrait_set,
            PORTRAIT_GET: self._portrait_get,
            ACCOUNT_CHECK: self._account_check,
            ACCOUNT_IMPORT: self._account_import,
            MULTIACCOUNT_IMPORT: self._multiaccount_import,
        }
        handler = handlers.get(command)
        if handler is None:
            return _answer(60009, f"unknown command {command}")
        if not isinstance(body, dict):
            return _answer(60003, "request body is not a JSON object")
        with self.state.lock:
            answer = handler(body)
            if command == PORTRAIT_SET and answer["ErrorCode"] == 0:
                # spec §4 last bullet / §8: the callback follows every successful change.
                self._send_callback(
                    user_id=body["From_Account"],
                    items=[{"Tag": item["Tag"], "Value": item["Value"]} for item in body["ProfileItem"]],
                    operator=operator or self.state.admin_identifiers[0], platform="RESTAPI",
                    client_ip=client_ip,
                )
            return answer

    def _check_tag_value(self, tag_name: Any, value: Any, *, write: bool) -> dict[str, Any] | None:
        if not isinstance(tag_name, str) or not catalogue.TAG_NAME_RE.fullmatch(tag_name):
            return _answer(40001, f"Err_Profile_Comm_Decode_Fail: bad tag name {tag_name!r}")
        standard = catalogue.STANDARD_BY_WIRE.get(tag_name)
        if standard is not None:
            if not write:
                return None
            try:
                standard.validate(value)
            except catalogue.TagValueError as exc:
                return _answer(exc.error_code, f"{tag_name}: {exc.message}")
            if tag_name == "Tag_Profile_IM_Location":
                size = len(value.encode("utf-8"))
                if size > self.state.location_max_bytes:
                    return _answer(40601, f"{tag_name}: {size} bytes, at most {self.state.location_max_bytes}")
            return None
        custom = self.state.custom_tags.get(tag_name)
        if custom is None:
            return _answer(40009, f"{tag_name}: tag does not exist")
        if write and not custom.admin_write:
            return _answer(40008, f"{tag_name}: no admin write permission")
        if not write and not custom.admin_read:
            return _answer(40007, f"{tag_name}: no admin read permission")
        if write:
            try:
                custom.validate(value)
            except catalogue.TagValueError as exc:
                return _answer(exc.error_code, f"{tag_name}: {exc.message}")
        return None

    def _portrait_set(self, body: dict[str, Any]) -> dict[str, Any]:
        # spec §4
        account = body.get("From_Account")
        items = body.get("ProfileItem")
        if account is None or items is None:
            return _answer(40001, "Err_Profile_Comm_Decode_Fail: From_Account and ProfileItem are required")
        if not isinstance(account, str):
            return _answer(60015, "From_Account is not a string")
        if not isinstance(items, list) or not items:
            return _answer(40001, "Err_Profile_Comm_Decode_Fail: ProfileItem must be a non-empty list")
        if account not in self.state.accounts:
            return _answer(40003, f"From_Account {account} does not exist")
        updates: dict[str, Any] = {}
        for item in items:
            if not isinstance(item, dict) or "Tag" not in item or "Value" not in item:
                return _answer(40001, "Err_Profile_Comm_Decode_Fail: each item needs Tag and Value")
            problem = self._check_tag_value(item["Tag"], item["Value"], write=True)
            if problem is not None:
                return problem  # all or nothing: nothing applied (spec §4)
            updates[item["Tag"]] = item["Value"]
        self.state.accounts[account].update(updates)
        return _answer()

    def _portrait_get(self, body: dict[str, Any]) -> dict[str, Any]:
        # spec §5
        accounts = body.get("To_Account")
        tag_list = body.get("TagList")
        if accounts is None:
            return _answer(40002, "To_Account is missing")
        if not isinstance(accounts, list) or not accounts or len(accounts) > 100:
            return _answer(40001, "To_Account must list 1 to 100 accounts")
        if not isinstance(tag_list, list) or not tag_list:
            return _answer(40001, "TagList is required")
        for tag_name in tag_list:
            problem = self._check_tag_value(tag_name, None, write=False)
            if problem is not None:
                return problem
        profiles, failed = [], []
        for account in accounts:
            if not isinstance(account, str):
                return _answer(60015, "a To_Account entry is not a string")
            stored = self.state.accounts.get(account)
            if stored is None:
                failed.append(account)
                profiles.append({"To_Account": account, "ProfileItem": [], "ResultCode": 40003,
                                 "ResultInfo": "account does not exist"})
                continue
            items = [{"Tag": t, "Value": stored[t]} for t in tag_list if t in stored]
            profiles.append({"To_Account": account, "ProfileItem": items, "ResultCode": 0, "ResultInfo": ""})
        extra: dict[str, Any] = {"UserProfileItem": profiles}
        if failed:
            extra["Fail_Account"] = failed
        return _answer(**extra)

    def _account_check(self, body: dict[str, Any]) -> dict[str, Any]:
        items = body.get("CheckItem")
        if not isinstance(items, list) or not items or len(items) > 100:
            return _answer(40001, "CheckItem must list 1 to 100 accounts")
        results = []
        for item in items:
            user_id = item.get("UserID") if isinstance(item, dict) else None
            if not isinstance(user_id, str):
                return _answer(60015, "a UserID is not a string")
            status = "Imported" if user_id in self.state.accounts else "NotImported"
            results.append({"UserID": user_id, "ResultCode": 0, "ResultInfo": "", "AccountStatus": status})
        return _answer(ResultItem=results)

    def _import_one(self, item: dict[str, Any]) -> bool:
        user_id = item.get("UserID")
        try:
            catalogue.validate_user_id(user_id)
        except ValueError:
            return False
        profile = self.state.accounts.setdefault(user_id, {})
        if item.get("Nick") is not None:
            profile["Tag_Profile_IM_Nick"] = item["Nick"]
        if item.get("FaceUrl") is not None:
            profile["Tag_Profile_IM_Image"] = item["FaceUrl"]
        return True

    def _account_import(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self._import_one(body):
            return _answer(70402, "UserID is missing or invalid")
        return _answer()

    def _multiaccount_import(self, body: dict[str, Any]) -> dict[str, Any]:
        # spec §5: the old body {"Accounts": [ids]} and the newer {"AccountList": [{...}]}.
        if "AccountList" in body:
            entries = body["AccountList"]
        elif "Accounts" in body:
            # Only a list: iterating a string would import each of its characters as an account.
            accounts = body["Accounts"]
            entries = [{"UserID": user_id} for user_id in accounts] if isinstance(accounts, list) else None
        else:
            return _answer(40001, "Accounts or AccountList is required")
        if not isinstance(entries, list) or not entries or len(entries) > 100:
            return _answer(40001, "between 1 and 100 accounts per call")
        failed = [e.get("UserID") if isinstance(e, dict) else e for e in entries
                  if not (isinstance(e, dict) and self._import_one(e))]
        return _answer(FailAccounts=failed)

    def record(self, record: RequestRecord) -> None:
        with self.state.lock:
            self.state.log.append(record)

    # --- control API -------------------------------------------------------------------------

    def control(self, action: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The ``/_emulator/<action>`` endpoints, for a process that does not share memory."""
        try:
            if action == "reset":
                self.reset()
            elif action == "accounts":
                for user_id, profile in (payload.get("accounts") or {}).items():
                    self.add_account(user_id, profile)
            elif action == "set_as_user":
                self.set_as_user(payload["user_id"], payload["changes"], payload.get("platform", "iOS"))
            elif action == "callback":
                self.set_callback(payload.get("url") or "", payload.get("token") or "",
                                  timeout=payload.get("timeout", 3.0))
            elif action == "callbacks":
                # "wait": seconds to let queued deliveries finish first (at most 30).
                self.wait_for_callbacks(min(float(payload.get("wait", 0)), 30.0))
                return 200, {"callbacks": [asdict(d) for d in self.callback_deliveries()]}
            elif action == "custom_tags":
                for spec in payload.get("custom_tags") or []:
                    self.define_custom_tag(catalogue.CustomTag(
                        keyword=spec["keyword"],
                        value_type=catalogue.CustomValueType(spec.get("value_type", "string")),
                        admin_read=bool(spec.get("admin_read", True)),
                        admin_write=bool(spec.get("admin_write", True)),
                    ))
            elif action == "faults":
                self.inject(Fault(**payload))
            elif action == "latency":
                self.set_latency(payload.get("seconds", 0))
            elif action == "profile":
                return 200, {"profile": self.profile(payload["user_id"])}
            elif action == "requests":
                return 200, {"requests": [asdict(r) for r in self.requests(payload.get("command", ""))]}
            else:
                return 404, {"error": f"unknown control action {action!r}"}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return 400, {"error": f"{type(exc).__name__}: {exc}"}
        return 200, {"ok": True}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Tencent's servers do
    # Headers and body go out in two writes; with Nagle on, the body would wait ~40 ms for the
    # client's delayed ACK on every answer over a reused connection.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # The request line holds the UserSig; never log it.
        return

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status: int, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path.startswith("/_emulator/"):
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            status, data = self.server.emulator.control(path.removeprefix("/_emulator/"), query)
            self._send_json(status, data)
            return
        # spec §1: POST only.
        self._send_json(200, _answer(60002, "only POST is supported"))

    def do_POST(self) -> None:  # noqa: N802
        # When the request arrived, which is when Tencent counts it against the rate limit (spec §1):
        # not after the injected latency or the handling, whose time varies from call to call.
        arrived = time.time()
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        raw = self._read_body()
        if parts.path.startswith("/_emulator/"):
            try:
                payload = json.loads(raw or b"{}")
            except ValueError:
                self._send_json(400, {"error": "control body is not JSON"})
                return
            status, data = emulator.control(parts.path.removeprefix("/_emulator/"), payload)
            self._send_json(status, data)
            return
        command = parts.path.removeprefix("/v4/").strip("/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        fault = emulator.take_fault(command)
        if emulator.state.latency:
            time.sleep(emulator.state.latency)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)
            fault = None
        safe_query = {k: v for k, v in query.items() if k != "usersig"}
        record_body = None if body is ValueError else body
        if fault is not None and fault.kind != "error_code":
            emulator.record(RequestRecord(arrived, command, safe_query, record_body, None, fault.kind))
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault.kind == "http_status":
                self.close_connection = True
                self._send(fault.http_status, b"<html><body>Bad Gateway</body></html>", "text/html")
                return
            if fault.kind == "json_body":
                self._send_json(200, fault.body if fault.body is not None else {})
                return
            self._send(200, b"<html>upstream error</html>", "text/html")
            return
        answer = emulator.check_query(query)
        if answer is None and fault is not None:
            answer = _answer(fault.error_code, f"injected fault {fault.error_code}")
        if answer is None:
            if body is ValueError or body is None:
                answer = _answer(60003, "request body is not valid JSON")
            else:
                answer = emulator.handle(
                    command, body, operator=query.get("identifier", ""), client_ip=self.client_address[0]
                )
        emulator.record(RequestRecord(
            arrived, command, safe_query, record_body, answer["ErrorCode"],
            "error_code" if fault is not None else "",
        ))
        self._send_json(200, answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator


class EmulatorServer:
    """Serves an :class:`Emulator` on a loopback port, in a background thread or in the foreground."""

    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.httpd = _Server((host, port), _Handler)
        self.httpd.emulator = emulator
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="im-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.emulator.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
