"""The audit trail's hash chain formats: which fields a row's hash covers and how they are encoded.

No Django here, so a migration, the services and an archive reader all hash rows the same way.
A row's hash covers the previous row's hash and the row's canonical content; changing a sealed
row, removing one, or moving one breaks the chain at that row. Each format is frozen: rows sealed
with it must verify for as long as they are kept.

- Format 1 (rows sealed before the key): SHA-256, which anyone can recompute.
- Format 2: HMAC-SHA-256 keyed with AUDIT_KEY, a secret kept outside the database, so a database
  writer cannot recompute the hashes after changing a row; it also covers who the row's actor is
  (``actor_pk``, the staff account's id, which decides who may see the row) and its own format.
  The chain's end, archive anchors and digests are signed with the same key (``sign``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FORMAT = "improfile-audit-chain-v1"
KEYED_FORMAT = "improfile-audit-chain-v2"
UNKEYED, KEYED = 1, 2
# The hash "before" the first row.
GENESIS = "0" * 64

# The fields a row's hash covers. Not actor_id: deleting a staff account sets it to NULL (the
# row keeps actor_username, which is covered). Not the chain fields themselves (seq is covered).
HASHED_FIELDS = (
    "id", "chain_seq", "created_at", "completed_at", "actor_username", "source", "purpose", "user_id", "command",
    "request_body", "random", "state", "http_status", "action_status", "error_code", "error_info",
    "error_display", "transport_error", "response_body", "latency_ms", "changes", "note", "job_id", "attempt",
    "reverts_id",
)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("audit timestamps must be timezone-aware")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


# Format 2 covers these too: the actor's account id as recorded (the actor column itself is cleared
# when a staff account is deleted) and the row's format, so a row cannot be passed off as format 1.
KEYED_FIELDS = (*HASHED_FIELDS, "actor_pk", "chain_format")


def canonical(values: Mapping[str, Any], fields: tuple[str, ...] = HASHED_FIELDS) -> bytes:
    """The row's content as the hash sees it: ``fields``, JSON with sorted keys, UTF-8."""
    missing = [name for name in fields if name not in values]
    if missing:
        raise KeyError(f"audit row lacks {', '.join(missing)}")
    content = {name: _encode(values[name]) for name in fields}
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def row_hash(previous: str, values: Mapping[str, Any], *, key: bytes | None = None) -> str:
    """The row's hash in its format (``values["chain_format"]``, 1 when absent): format 2 needs ``key``."""
    if values.get("chain_format", UNKEYED) == UNKEYED:
        digest = hashlib.sha256()
        digest.update(previous.encode("ascii"))
        digest.update(b"\n")
        digest.update(canonical(values))
        return digest.hexdigest()
    return keyed_hash(key, previous, values, KEYED_FIELDS)


# The external changes' own chain (changes Tencent reported by webhook), always keyed.
EXTERNAL_FIELDS = (
    "id", "chain_seq", "received_at", "event_time", "user_id", "operator_account", "platform", "client_ip",
    "changes", "body", "delivery_sha256", "body_sha256",
)


def keyed_hash(key: bytes | None, previous: str, values: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """HMAC-SHA-256 under ``key`` of the previous hash and the canonical ``fields`` of ``values``."""
    if not key:
        raise ValueError("a keyed audit row needs AUDIT_KEY to be sealed or checked")
    return hmac.new(key, previous.encode("ascii") + b"\n" + canonical(values, fields), hashlib.sha256).hexdigest()


def sign(key: bytes, *parts: Any) -> str:
    """An HMAC-SHA-256 signature of ``parts`` (the chain's end, an anchor, a digest) under ``key``."""
    message = json.dumps([_encode(part) for part in parts], separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signature_matches(key: bytes, signature: str, *parts: Any) -> bool:
    return hmac.compare_digest(sign(key, *parts), signature or "")


def normalise_json(value: Any) -> Any:
    """A JSON value as it reads back from the database (tuples become lists, keys strings), so the
    hash taken before the write equals the one recomputed from the stored row."""
    return None if value is None else json.loads(json.dumps(value))
