"""The audit trail's hash chain format: which fields a row's hash covers and how they are encoded.

No Django here, so a migration, the services and an archive reader all hash rows the same way.
A row's hash is SHA-256 over the previous row's hash and the row's canonical content; changing a
sealed row, removing one, or moving one breaks the chain at that row. The format is frozen: rows
sealed with it must verify for as long as they are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FORMAT = "improfile-audit-chain-v1"
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


def canonical(values: Mapping[str, Any]) -> bytes:
    """The row's content as the hash sees it: the HASHED_FIELDS, JSON with sorted keys, UTF-8."""
    missing = [name for name in HASHED_FIELDS if name not in values]
    if missing:
        raise KeyError(f"audit row lacks {', '.join(missing)}")
    content = {name: _encode(values[name]) for name in HASHED_FIELDS}
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def row_hash(previous: str, values: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(previous.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(values))
    return digest.hexdigest()


def normalise_json(value: Any) -> Any:
    """A JSON value as it reads back from the database (tuples become lists, keys strings), so the
    hash taken before the write equals the one recomputed from the stored row."""
    return None if value is None else json.loads(json.dumps(value))
