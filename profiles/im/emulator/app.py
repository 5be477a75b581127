"""The emulated Tencent IM app: :class:`Emulator`, its Python API to seed, inspect and steer it,
and the entry point that answers one REST call and sends the callback that follows a change."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from .. import tags as catalogue
from ..callback import CALLBACK_COMMAND, PLATFORMS
from ..client import PORTRAIT_SET
from . import commands
from .callbacks import USER_CLIENT_IP, CallbackConfig, CallbackDelivery, _CallbackJob, _CallbackSender
from .commands import _answer
from .control import control_action
from .faults import FAULT_KINDS, Fault
from .state import DEFAULT_LOCATION_MAX_BYTES, EmulatorState, RequestRecord


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
        Tencent, send the callback with the user as Operator_Account (docs/tencent-im.md §8)."""
        if platform not in PLATFORMS:
            raise ValueError(f"Unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}.")
        with self.state.lock:
            self.state.accounts[user_id].update(changes)
            self._send_callback(
                user_id=user_id, items=[{"Tag": tag, "Value": value} for tag, value in changes.items()],
                operator=user_id, platform=platform, client_ip=USER_CLIENT_IP,
            )

    # --- callbacks (docs/tencent-im.md §8) -----------------------------------------------------------------

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
                raise ValueError(f"At most {catalogue.CUSTOM_TAG_LIMIT} custom tags per app (docs/tencent-im.md §3).")
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
        """docs/tencent-im.md §1 and §7: the five query parameters and the UserSig. None when all is well."""
        return commands.check_query(self.state, query)

    def handle(
        self, command: str, body: Any, *, operator: str = "", client_ip: str = "127.0.0.1",
    ) -> dict[str, Any]:
        """Answer one REST call; ``operator`` is the calling admin identifier (default: the first)."""
        handler = commands.HANDLERS.get(command)
        if handler is None:
            return _answer(60009, f"unknown command {command}")
        if not isinstance(body, dict):
            return _answer(60003, "request body is not a JSON object")
        with self.state.lock:
            answer = handler(self.state, body)
            if command == PORTRAIT_SET and answer["ErrorCode"] == 0:
                # docs/tencent-im.md §4 last bullet / §8: the callback follows every successful change.
                self._send_callback(
                    user_id=body["From_Account"],
                    items=[{"Tag": item["Tag"], "Value": item["Value"]} for item in body["ProfileItem"]],
                    operator=operator or self.state.admin_identifiers[0], platform="RESTAPI",
                    client_ip=client_ip,
                )
            return answer

    def record(self, record: RequestRecord) -> None:
        with self.state.lock:
            self.state.log.append(record)

    # --- control API -------------------------------------------------------------------------

    def control(self, action: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The ``/_emulator/<action>`` endpoints, for a process that does not share memory."""
        return control_action(self, action, payload)
