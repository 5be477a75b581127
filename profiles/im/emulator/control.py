"""The ``/_emulator/<action>`` control API: each action seeds, steers or inspects an :class:`Emulator`,
for a process that does not share its memory (the HTTP side is in server.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .. import tags as catalogue
from .faults import Fault

if TYPE_CHECKING:
    from .app import Emulator


def control_action(emulator: Emulator, action: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Run one action; the HTTP status and JSON body to answer (400 for a bad payload, 404 unknown)."""
    try:
        if action == "reset":
            emulator.reset()
        elif action == "accounts":
            for user_id, profile in (payload.get("accounts") or {}).items():
                emulator.add_account(user_id, profile)
        elif action == "set_as_user":
            emulator.set_as_user(payload["user_id"], payload["changes"], payload.get("platform", "iOS"))
        elif action == "callback":
            emulator.set_callback(payload.get("url") or "", payload.get("token") or "",
                              timeout=payload.get("timeout", 3.0))
        elif action == "callbacks":
            # "wait": seconds to let queued deliveries finish first (at most 30).
            emulator.wait_for_callbacks(min(float(payload.get("wait", 0)), 30.0))
            return 200, {"callbacks": [asdict(d) for d in emulator.callback_deliveries()]}
        elif action == "custom_tags":
            for spec in payload.get("custom_tags") or []:
                emulator.define_custom_tag(catalogue.CustomTag(
                    keyword=spec["keyword"],
                    value_type=catalogue.CustomValueType(spec.get("value_type", "string")),
                    admin_read=bool(spec.get("admin_read", True)),
                    admin_write=bool(spec.get("admin_write", True)),
                ))
        elif action == "faults":
            emulator.inject(Fault(**payload))
        elif action == "latency":
            emulator.set_latency(payload.get("seconds", 0))
        elif action == "profile":
            return 200, {"profile": emulator.profile(payload["user_id"])}
        elif action == "requests":
            return 200, {"requests": [asdict(r) for r in emulator.requests(payload.get("command", ""))]}
        else:
            return 404, {"error": f"unknown control action {action!r}"}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return 400, {"error": f"{type(exc).__name__}: {exc}"}
    return 200, {"ok": True}
