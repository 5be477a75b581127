"""Signed digests of the audit chain's end, kept outside the database (AUDIT_DIGEST_DIR), after
AWS CloudTrail's digest files: each records the chain's last position, hash and row count at a
moment, signed with AUDIT_KEY and naming the digest before it. audit_verify checks the database
against the newest one, so a trail deleted or cut short after it shows, even with its head."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction

from .. import auditchain
from ..models import AuditChainHead, ImRequest
from .db import AUTOCOMMIT_DB

PREFIX = "audit-digest-"
# When this process last wrote a digest (monotonic seconds), so a seal looks at the clock, not the disk.
_last_written: dict[str, float] = {}


@dataclass(frozen=True)
class Digest:
    seq: int
    hash: str
    rows: int
    at: str  # ISO time, UTC
    previous: str  # the signature of the digest before it ("" for the first)
    signature: str
    path: Path

    def signed_parts(self) -> tuple:
        return ("digest", self.seq, self.hash, self.rows, self.at, self.previous)


def digest_dir() -> Path:
    return Path(settings.AUDIT_DIGEST_DIR)


def digests_read() -> tuple[list[Digest], list[str]]:
    """Every digest in the folder, in the order they were written, and the files that are not
    readable digests."""
    found, unreadable = [], []
    folder = digest_dir()
    for path in sorted(folder.glob(f"{PREFIX}*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            found.append(Digest(
                seq=int(record["seq"]), hash=str(record["hash"]), rows=int(record["rows"]), at=str(record["at"]),
                previous=str(record["previous"]), signature=str(record["signature"]), path=path,
            ))
        except (OSError, ValueError, KeyError, TypeError):
            unreadable.append(path.name)
    found.sort(key=lambda digest: digest.at)  # in the order they were written
    return found, unreadable


def audit_digest_write(*, key: bytes) -> Digest:
    """Sign the chain's end as it is now and write it to AUDIT_DIGEST_DIR (a new file each time).

    The chain's end stays locked while the digest is written, so digests follow one another in the
    order of the chain, whichever process writes them: a later digest never records an earlier end.
    """
    with transaction.atomic(using=AUTOCOMMIT_DB):
        head = AuditChainHead.objects.using(AUTOCOMMIT_DB).select_for_update().filter(pk=1).first()
        seq, hash_ = (head.seq, head.hash) if head else (0, auditchain.GENESIS)
        rows = ImRequest.objects.using(AUTOCOMMIT_DB).filter(chain_seq__isnull=False).count()
        return _write(key, seq, hash_, rows)


def _write(key: bytes, seq: int, hash_: str, rows: int) -> Digest:
    existing, _unreadable = digests_read()
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    previous = existing[-1].signature if existing else ""
    signature = auditchain.sign(key, "digest", seq, hash_, rows, at, previous)
    folder = digest_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{PREFIX}{at.replace(':', '').replace('+0000', 'Z')}-{seq}.json"
    record = {"format": "improfile-audit-digest-v1", "seq": seq, "hash": hash_, "rows": rows, "at": at,
              "previous": previous, "signature": signature}
    # Written whole or not at all: a reader never sees half a digest.
    handle, temporary = tempfile.mkstemp(prefix=".digest-", dir=folder)
    with os.fdopen(handle, "w") as out:
        json.dump(record, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    _last_written[str(folder)] = time.monotonic()
    return Digest(seq, hash_, rows, at, previous, signature, path)


def audit_digest_if_due(*, key: bytes) -> None:
    """Write a digest when this process wrote none in the last AUDIT_DIGEST_INTERVAL seconds: called
    after each seal, so digests follow the trail while requests flow."""
    last = _last_written.get(str(digest_dir()))
    if last is None or time.monotonic() - last >= settings.AUDIT_DIGEST_INTERVAL:
        audit_digest_write(key=key)


def digest_problem(key: bytes, *, end_seq: int, anchor_seq: int) -> str | None:
    """Why the chain in the database, verified from ``anchor_seq`` to ``end_seq``, does not match
    the signed digests, or None."""
    digests, unreadable = digests_read()
    if unreadable:
        return f"digest file(s) that cannot be read in {digest_dir()}: {', '.join(unreadable)}"
    signatures, reached = {""}, None
    for digest in digests:
        if not auditchain.signature_matches(key, digest.signature, *digest.signed_parts()):
            return f"the digest {digest.path.name} is not signed with AUDIT_KEY: it was forged or changed"
        if digest.previous not in signatures:
            return f"the digest {digest.path.name} names a digest before it that is missing or not signed"
        if reached is not None and digest.seq < reached.seq:
            # The chain went back: everything after an earlier digest's end was deleted, and the
            # rows written since started the chain again.
            return (
                f"the digest {digest.path.name} records the chain ending at #{digest.seq}, though the digest "
                f"{reached.path.name} of {reached.at} had recorded #{reached.seq}: rows were deleted in between"
            )
        signatures.add(digest.signature)
        reached = digest
    if not digests:
        return None
    newest = digests[-1]
    if newest.seq > end_seq:
        gone = f"row #{newest.seq} is" if newest.seq == end_seq + 1 else f"rows #{end_seq + 1} to #{newest.seq} are"
        return (
            f"{gone} missing since the digest of {newest.at} ({newest.path.name}), which records the chain "
            f"ending at #{newest.seq}: deleted, or the database was wound back to an older state"
        )
    stored = ImRequest.objects.filter(chain_seq=newest.seq).values_list("chain_hash", flat=True).first()
    if newest.seq > anchor_seq and stored != newest.hash:
        return (
            f"the row at #{newest.seq} is not the one the digest of {newest.at} ({newest.path.name}) signed: "
            "the chain was rewritten"
        )
    return None
