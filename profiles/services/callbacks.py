"""``external_change_record``: a ``Profile.CallbackPortraitSet`` from Tencent (docs/tencent-im.md §8) becomes an
``ExternalChange`` row and an update of the local copy, unless it is the echo of our own push."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..im import tags as catalogue
from ..im.client import PORTRAIT_SET
from ..im.portrait import parse_profile_items
from ..models import ExternalChange, ImRequest, Profile
from .audit import AUTOCOMMIT_DB, external_change_seal
from .localcopy import CopyUpdate, local_copies_store
from .validation import custom_tag_definitions

# A callback for our own push arrives within seconds (docs/tencent-im.md §4 last bullet); minutes leave room for
# Tencent's queueing without letting an old push hide a later change by another admin tool.
ECHO_WINDOW = timedelta(minutes=5)
# The most recent pushes compared with one callback; a user is rarely pushed more often than this.
ECHO_CANDIDATES = 20
SIGNATURE_REUSED = (
    "Not applied: another callback came before with the same signature, and Tencent's signature covers only "
    "the second it was sent in, so this one cannot be told from a forged one. Refresh the user from Tencent."
)
# Optimistic writes to the local copy before the last, unconditional one.
_CONDITIONAL_ATTEMPTS = 3


def _canonical_item(tag: Any, value: Any) -> str:
    # docs/tencent-im.md §2: a uint32 may arrive as a numeric string; compare it as the number we sent.
    standard = catalogue.STANDARD_BY_WIRE.get(tag) if isinstance(tag, str) else None
    if standard is not None and standard.value_type is catalogue.ValueType.UINT32:
        number = catalogue.coerce_uint32_from_wire(value)
        value = value if number is None else number
    return json.dumps({"Tag": tag, "Value": value}, sort_keys=True, ensure_ascii=False)


def is_own_push_echo(*, user_id: str, items: list[dict[str, Any]], operator_account: str) -> bool:
    """True when the callback reports a ``portrait_set`` this application sent (docs/tencent-im.md §8: Tencent
    calls back for REST changes too): same admin account, and every reported item was in one of
    our pushes to that user within ``ECHO_WINDOW``.

    A push still PENDING counts: the callback can overtake Tencent's answer to the push itself.
    """
    if operator_account != settings.IM.admin_identifier or not items:
        return False
    reported = {_canonical_item(item["Tag"], item["Value"]) for item in items}
    bodies = (
        ImRequest.objects.filter(
            user_id=user_id, command=PORTRAIT_SET, created_at__gte=timezone.now() - ECHO_WINDOW,
            state__in=[ImRequest.State.OK, ImRequest.State.PENDING],
        )
        .order_by("-created_at")
        .values_list("request_body", flat=True)[:ECHO_CANDIDATES]
    )
    for body in bodies:
        sent_items = body.get("ProfileItem") if isinstance(body, dict) else None
        sent = {
            _canonical_item(item.get("Tag"), item.get("Value"))
            for item in sent_items or [] if isinstance(item, dict)
        }
        # A subset, not equality: Tencent reports the *changed* items, and a pushed tag that
        # already had its value may be left out.
        if reported <= sent:
            return True
    return False


def _event_time(event_time_ms: Any) -> datetime | None:
    if isinstance(event_time_ms, bool) or not isinstance(event_time_ms, int):
        return None
    try:
        return datetime.fromtimestamp(event_time_ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def external_change_record(
    *,
    user_id: str,
    items: list[dict[str, Any]],
    operator_account: str,
    platform: str,
    client_ip: str,
    event_time_ms: Any,
    body: dict[str, Any],
    delivery: str = "",
    raw_body: bytes = b"",
) -> ExternalChange | None:
    """Record a profile change Tencent reported (docs/tencent-im.md §8) and apply it to the local copy.

    Returns None for the echo of our own push (nothing written). Otherwise writes an
    ExternalChange with each tag's local value before and the reported value after; when a local
    copy exists (none is created), its tags are updated (tags neither the catalogue nor a custom
    tag definition knows go to ``unknown_tags``) and its version is bumped if a value changed, so
    an agent's form opened before is refused. ``items`` are ``{"Tag": str, "Value": ...}`` dicts.

    A different body under a signature already used is recorded but never applied (see
    SIGNATURE_REUSED). ``delivery`` identifies the signed delivery (its RequestTime and Sign) and ``raw_body`` is the
    body as received: the same delivery received again is not recorded twice (the record made the
    first time is returned). A reported value Tencent could not hold (too long, not an allowed
    value, a NUL character) is recorded with the reason it was refused, and not stored in the
    local copy, which stays a profile that can be saved.
    """
    if is_own_push_echo(user_id=user_id, items=items, operator_account=operator_account):
        return None
    delivery_sha256 = hashlib.sha256(delivery.encode()).hexdigest() if delivery else ""
    body_sha256 = hashlib.sha256(raw_body).hexdigest()
    if delivery_sha256:
        received = ExternalChange.objects.filter(delivery_sha256=delivery_sha256, body_sha256=body_sha256).first()
        if received is not None:
            return received
    # Every reported tag is "requested": the callback carries only the tags that changed (docs/tencent-im.md §8).
    reported = [item["Tag"] for item in items]
    definitions = custom_tag_definitions()
    parsed = parse_profile_items(items, requested=reported, custom_tags=definitions)
    refused = _refused_values(parsed.values, parsed.unknown, definitions)
    if delivery_sha256 and ExternalChange.objects.filter(delivery_sha256=delivery_sha256).exists():
        # Another body came before under the same signature. Tencent signs only the second a
        # callback is sent in (docs/tencent-im.md §8), so this may be a second real change of that
        # second, or a forged body under a captured signature: recorded, never applied.
        refused.update({item["Tag"]: SIGNATURE_REUSED for item in items})
    values = {tag: value for tag, value in parsed.values.items() if tag not in refused}
    unknown = {tag: value for tag, value in parsed.unknown.items() if tag not in refused}
    for attempt in range(_CONDITIONAL_ATTEMPTS + 1):
        profile = Profile.objects.filter(user_id=user_id).first()
        changes = [
            {
                "tag": item["Tag"],
                "before": _local_value(profile, item["Tag"]),
                "after": parsed.values.get(item["Tag"], item["Value"]),
                **({"refused": refused[item["Tag"]]} if item["Tag"] in refused else {}),
            }
            for item in items
        ]
        with transaction.atomic(using=AUTOCOMMIT_DB):
            if profile is not None:
                # The copy is written only if it is still as read (so "before" is true), but the
                # last attempt writes whatever happened meanwhile. None is created for a callback.
                conditional = attempt < _CONDITIONAL_ATTEMPTS
                stored = local_copies_store(
                    [CopyUpdate(user_id, values, unknown,
                                expected_version=profile.version if conditional else None)],
                    create_missing=False,
                )
                if stored.skipped and conditional:
                    continue  # the copy changed since it was read: read it again for true "before" values
            change = ExternalChange.objects.using(AUTOCOMMIT_DB).create(
                event_time=_event_time(event_time_ms),
                user_id=user_id,
                # Truncated to the columns: these come from the network, a UserID is ≤ 32 bytes (docs/tencent-im.md §5).
                operator_account=operator_account[:64],
                platform=platform[:16],
                client_ip=client_ip[:64],
                # PostgreSQL stores no NUL character in JSON: recorded as ␀ (U+2400), visibly.
                changes=_storable(changes),
                body=_storable(body),
                delivery_sha256=delivery_sha256,
                body_sha256=body_sha256,
            )
            # Drift is part of the trail: sealed into the external changes' keyed chain.
            external_change_seal(change)
            return change
    raise AssertionError("unreachable: the last attempt records the change whatever the copy holds")


def _refused_values(
    values: dict[str, Any], unknown: dict[str, Any], definitions: dict[str, Any]
) -> dict[str, str]:
    """The reported values Tencent could not hold, tag → why (docs/tencent-im.md §2, §3): checked
    against the catalogue like an edit (a tag with no definition here only for size), and no NUL
    character, which no text column stores."""
    refused: dict[str, str] = {}
    for tag, value in [*values.items(), *unknown.items()]:
        if value is None:
            continue
        encoded = json.dumps(value, ensure_ascii=False)
        try:
            if "\\u0000" in encoded or (isinstance(value, str) and "\x00" in value):
                raise catalogue.TagValueError(tag, "The value contains a NUL character.", 40601)
            standard = catalogue.STANDARD_BY_WIRE.get(tag)
            if tag in values and standard is not None:
                standard.validate(value)
            elif tag in values and tag in definitions:
                definitions[tag].as_catalogue().validate(value)
            elif len(encoded.encode()) > catalogue.MAX_VALUE_BYTES:
                raise catalogue.TagValueError(
                    tag, f"The value is {len(encoded.encode()):,} bytes; Tencent holds at most "
                    f"{catalogue.MAX_VALUE_BYTES}.", 40601,
                )
        except catalogue.TagValueError as exc:
            refused[tag] = exc.message
    return refused


def _storable(value: Any) -> Any:
    """``value`` with each NUL character shown as ␀ (U+2400), which every database stores."""
    if isinstance(value, str):
        return value.replace("\x00", "\u2400")
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def _local_value(profile: Profile | None, tag: str) -> Any:
    if profile is None:
        return None
    if tag in (profile.unknown_tags or {}):
        return profile.unknown_tags[tag]
    return profile.tag_value(tag)
