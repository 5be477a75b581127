"""The audit trail's integrity: sealing complete rows into the hash chain, verifying the chain,
and archiving old rows behind an anchor (profiles.auditchain has the hash format)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from .. import auditchain
from ..models import (
    AuditAnchor,
    AuditChainHead,
    AuditDayCount,
    AuditRowImmutable,
    ExternalChange,
    ImRequest,
)
from .db import AUTOCOMMIT_DB
from .digests import audit_digest_if_due, digest_problem
from .storages import archive_file

logger = logging.getLogger(__name__)
_JSON_FIELDS = ("request_body", "response_body", "changes")
# Columns read to check a row: what the hash covers, and the chain fields.
_VERIFY_COLUMNS = [*auditchain.KEYED_FIELDS, "actor_id", "chain_prev", "chain_hash"]


def audit_key() -> bytes:
    """AUDIT_KEY (settings): the key of the chain's hashes and signatures, never in the database."""
    return settings.AUDIT_KEY.encode()


def _chain_values(audit: ImRequest) -> dict[str, Any]:
    return {name: getattr(audit, "pk" if name == "id" else name) for name in auditchain.KEYED_FIELDS}


def head_signature(key: bytes, seq: int, hash_: str) -> str:
    return auditchain.sign(key, "head", seq, hash_)


def anchor_signature(key: bytes, anchor: AuditAnchor) -> str:
    return auditchain.sign(key, "anchor", anchor.seq, anchor.hash, anchor.rows, anchor.file_sha256)


def audit_seal(audit: ImRequest, fields: Iterable[str]) -> None:
    """Complete ``audit``: write ``fields`` (its answer) and its place in the chain, in one
    transaction on the audit connection.

    The transaction locks the chain head (``select_for_update``; on SQLite every transaction takes
    the write lock when it begins) before the previous hash is read, so rows sealed by several
    processes at once still form one unbroken chain. Raises AuditRowImmutable if the row was
    already sealed.
    """
    for name in _JSON_FIELDS:
        setattr(audit, name, auditchain.normalise_json(getattr(audit, name)))
    values = {name: getattr(audit, ImRequest._meta.get_field(name).attname) for name in fields}
    key = audit_key()
    day, actor, answered, code = _day_count_key(audit.created_at, audit.actor_username, audit.error_code)
    for attempt in range(3):
        try:
            with transaction.atomic(using=AUTOCOMMIT_DB):
                head = _locked_head()
                seq, previous = head.seq + 1, head.hash
                audit.chain_seq, audit.chain_prev, audit.chain_format = seq, previous, auditchain.KEYED
                audit.chain_hash = auditchain.row_hash(previous, _chain_values(audit), key=key)
                # The plain QuerySet: the filter itself keeps sealed rows out, so the model's own check
                # for them (one more query) is not needed.
                unsealed = models.QuerySet(model=ImRequest).using(AUTOCOMMIT_DB)
                sealed = unsealed.filter(pk=audit.pk, chain_seq__isnull=True).update(
                    **values, chain_seq=seq, chain_prev=previous, chain_hash=audit.chain_hash,
                    chain_format=auditchain.KEYED,
                )
                if sealed != 1:
                    raise AuditRowImmutable(f"Audit row #{audit.pk} is already complete; it was not changed.")
                counts = AuditDayCount.objects.using(AUTOCOMMIT_DB)
                counted = {"day": day, "actor_username": actor, "answered": answered, "error_code": code}
                # Under the head's lock: no other seal can create the same count meanwhile.
                if not counts.filter(**counted).update(requests=models.F("requests") + 1):
                    counts.create(**counted, requests=1)
                if not head.signature:
                    # The first keyed seal: anchors written before the key existed are signed now;
                    # from here on an unsigned anchor is a forged one.
                    for anchor in AuditAnchor.objects.using(AUTOCOMMIT_DB).filter(signature=""):
                        anchor.signature = anchor_signature(key, anchor)
                        anchor.save(using=AUTOCOMMIT_DB, update_fields=["signature"])
                head.seq, head.hash = seq, audit.chain_hash
                head.signature = head_signature(key, seq, audit.chain_hash)
                head.save(using=AUTOCOMMIT_DB, update_fields=["seq", "hash", "signature"])
            break
        except IntegrityError:
            # Two processes created the head of an empty chain at once; the loser tries again.
            audit.chain_seq, audit.chain_prev, audit.chain_hash = None, "", ""
            if attempt == 2:
                raise
    try:
        audit_digest_if_due(key=key)
    except OSError as exc:
        # The row is sealed; a digest that could not be written is tried again at the next seal.
        logger.warning("The audit digest could not be written to %s: %s", settings.AUDIT_DIGEST_DIR, exc)


# The chains' ends: the requests' chain, and the external changes' own.
REQUESTS_HEAD, EXTERNAL_HEAD = 1, 2


def _locked_head(pk: int = REQUESTS_HEAD) -> AuditChainHead:
    """A chain's end, locked until the transaction ends (created for a new, empty database)."""
    heads = AuditChainHead.objects.using(AUTOCOMMIT_DB)
    head = heads.select_for_update().filter(pk=pk).first()
    if head is None:
        head = heads.create(pk=pk, seq=0, hash=auditchain.GENESIS)
    return head


def external_change_seal(change: ExternalChange) -> None:
    """Give a new external change (written on the service connection, in the caller's transaction
    there) its place in the external changes' keyed chain, and sign that chain's end."""
    key = audit_key()
    for name in ("changes", "body"):
        setattr(change, name, auditchain.normalise_json(getattr(change, name)))
    head = _locked_head(EXTERNAL_HEAD)
    change.chain_seq, change.chain_prev = head.seq + 1, head.hash
    values = {name: getattr(change, "pk" if name == "id" else name) for name in auditchain.EXTERNAL_FIELDS}
    change.chain_hash = auditchain.keyed_hash(key, head.hash, values, auditchain.EXTERNAL_FIELDS)
    ExternalChange.objects.using(AUTOCOMMIT_DB).filter(pk=change.pk).update(
        chain_seq=change.chain_seq, chain_prev=change.chain_prev, chain_hash=change.chain_hash
    )
    head.seq, head.hash = change.chain_seq, change.chain_hash
    head.signature = head_signature(key, head.seq, head.hash)
    head.save(using=AUTOCOMMIT_DB, update_fields=["seq", "hash", "signature"])


def _day_count_key(created_at: datetime, actor_username: str, error_code: int | None) -> tuple[Any, ...]:
    """The AuditDayCount a sealed row counts in: its UTC day, actor, whether answered, ErrorCode."""
    return created_at.astimezone(UTC).date(), actor_username, error_code is not None, error_code or 0


def audit_close_unanswered(*, job_id: int, user_id: str, command: str, note: str) -> int:
    """Seal the pending rows of requests whose answer was never recorded (their worker died), so
    the trail says so instead of showing them as still in flight. Returns how many."""
    closed = 0
    for audit in ImRequest.objects.using(AUTOCOMMIT_DB).filter(
        job_id=job_id, user_id=user_id, command=command, state=ImRequest.State.PENDING, chain_seq__isnull=True,
    ):
        audit.state = ImRequest.State.UNANSWERED
        audit.completed_at = timezone.now()
        audit.note = note
        audit_seal(audit, ["state", "completed_at", "note"])
        closed += 1
    return closed


# --- verifying -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainProblem:
    kind: str  # "removed", "out_of_order", "altered", "truncated"
    seq: int
    row_id: int | None
    message: str


@dataclass
class ChainWalker:
    """Checks rows in chain order against the chain that should link them."""

    key: bytes = b""
    seq: int = 0
    previous: str = auditchain.GENESIS
    checked: int = 0
    problem: ChainProblem | None = None
    # A keyed (format 2) row was checked: every row after it must be keyed too.
    keyed: bool = False
    # For the external changes' chain: the fields its keyed hashes cover (no formats, no actors).
    fields: tuple[str, ...] | None = None

    def feed(self, values: Mapping[str, Any]) -> bool:
        """Check one row; False (and ``problem`` set) at the first row that breaks the chain."""
        seq, row_id = values["chain_seq"], values["id"]
        if seq != self.seq + 1:
            if seq > self.seq + 1:
                gap = f"#{self.seq + 1}" if seq == self.seq + 2 else f"#{self.seq + 1} to #{seq - 1}"
                message = f"chain position {gap} is missing before row id {row_id} (#{seq}): removed"
            else:
                message = f"row id {row_id} claims position #{seq} after #{self.seq}: inserted out of order"
            return self.fail("removed" if seq > self.seq + 1 else "out_of_order", seq, row_id, message)
        if values["chain_prev"] != self.previous:
            return self.fail(
                "out_of_order", seq, row_id,
                f"row id {row_id} (#{seq}) does not follow the row before it in the chain (its previous "
                "hash differs): a row was removed, inserted or moved here",
            )
        if self.fields is not None:
            if auditchain.keyed_hash(self.key, values["chain_prev"], values, self.fields) != values["chain_hash"]:
                return self.fail(
                    "altered", seq, row_id,
                    f"external change id {row_id} (#{seq}) no longer matches its hash: it was altered after "
                    "it was recorded",
                )
            self.seq, self.previous = seq, values["chain_hash"]
            self.checked += 1
            return True
        keyed = values.get("chain_format", auditchain.UNKEYED) == auditchain.KEYED
        if self.keyed and not keyed:
            return self.fail(
                "altered", seq, row_id,
                f"row id {row_id} (#{seq}) claims the unkeyed format after keyed rows: it was sealed again "
                "without the key",
            )
        if keyed and values.get("actor_id") not in (None, values.get("actor_pk")):
            return self.fail(
                "altered", seq, row_id,
                f"row id {row_id} (#{seq}) names another actor (account {values.get('actor_id')}) than it was "
                f"recorded with (account {values.get('actor_pk')})",
            )
        if auditchain.row_hash(values["chain_prev"], values, key=self.key) != values["chain_hash"]:
            return self.fail(
                "altered", seq, row_id,
                f"row id {row_id} (#{seq}) no longer matches its hash: it was altered after it was recorded",
            )
        self.seq, self.previous = seq, values["chain_hash"]
        self.keyed = self.keyed or keyed
        self.checked += 1
        return True

    def finish(self, end_seq: int, end_hash: str, where: str) -> bool:
        if (self.seq, self.previous) != (end_seq, end_hash):
            return self.fail(
                "truncated", self.seq + 1, None,
                f"the chain ends at #{self.seq} but {where} records #{end_seq} as its last row: "
                + ("the newest rows were removed" if end_seq > self.seq else "the end does not match"),
            )
        return True

    def fail(self, kind: str, seq: int, row_id: int | None, message: str) -> bool:
        self.problem = ChainProblem(kind, seq, row_id, message)
        return False

    def report(self, *, start_seq: int, anchor: AuditAnchor | None = None, pending: int = 0) -> VerifyReport:
        return VerifyReport(
            start_seq=start_seq, checked=self.checked, end_seq=self.seq, end_hash=self.previous,
            problem=self.problem, pending=pending, anchor=anchor,
        )


@dataclass
class VerifyReport:
    start_seq: int
    checked: int = 0
    end_seq: int = 0
    end_hash: str = ""
    problem: ChainProblem | None = None
    pending: int = 0
    anchor: AuditAnchor | None = None
    external_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


def chain_start() -> tuple[int, str, AuditAnchor | None]:
    """Where verification starts: the newest archive anchor, or the genesis."""
    anchor = AuditAnchor.objects.order_by("-seq").first()
    if anchor is None:
        return 0, auditchain.GENESIS, None
    return anchor.seq, anchor.hash, anchor


def _stored_rows(after: int, up_to: int | None, batch: int) -> Iterator[dict[str, Any]]:
    """Sealed rows in chain order, read in keyset pages: memory stays bounded at any size."""
    last = after
    while True:
        page = ImRequest.objects.filter(chain_seq__gt=last)
        if up_to is not None:
            page = page.filter(chain_seq__lte=up_to)
        rows = list(page.order_by("chain_seq").values_list(*_VERIFY_COLUMNS)[:batch])
        for row in rows:
            yield dict(zip(_VERIFY_COLUMNS, row, strict=True))
        if len(rows) < batch:
            return
        last = rows[-1][_VERIFY_COLUMNS.index("chain_seq")]


def audit_verify(*, batch: int = 2000, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Walk the whole chain from its start (the newest anchor) to the head and report the first
    row that was altered, removed or inserted out of order."""
    key = audit_key()
    start_seq, start_hash, anchor = chain_start()
    walker = ChainWalker(key=key, seq=start_seq, previous=start_hash)
    head = AuditChainHead.objects.filter(pk=1).first()
    forged = _anchor_problem(key, anchor, head) if anchor is not None else None
    if forged is not None:
        walker.fail("forged", start_seq, None, forged)
    else:
        for values in _stored_rows(start_seq, None, batch):
            if not walker.feed(values):
                break
            if progress is not None and walker.checked % 100_000 == 0:
                progress(walker.checked)
        else:
            if head is None:
                if walker.seq != start_seq:
                    walker.fail("truncated", walker.seq, None, "the chain head is missing")
            elif _head_problem(key, head, walker) is None:
                walker.finish(head.seq, head.hash, "the chain head")
            if walker.problem is None:
                missing = digest_problem(key, end_seq=walker.seq, anchor_seq=start_seq)
                if missing is not None:
                    walker.fail("truncated", walker.seq + 1, None, missing)
    pending = ImRequest.objects.filter(chain_seq__isnull=True).count()
    report = walker.report(start_seq=start_seq, anchor=anchor, pending=pending)
    report.external_checked, external_problem = _verify_external_changes(key, batch)
    if report.problem is None and external_problem is not None:
        report.problem = external_problem
    return report


def _verify_external_changes(key: bytes, batch: int) -> tuple[int, ChainProblem | None]:
    """Walk the external changes' chain to its signed end: (how many checked, the first problem)."""
    walker = ChainWalker(key=key, fields=auditchain.EXTERNAL_FIELDS)
    columns = [*auditchain.EXTERNAL_FIELDS, "chain_prev", "chain_hash"]
    sealed = ExternalChange.objects.filter(chain_seq__isnull=False).order_by("chain_seq")
    last = 0
    while True:
        rows = list(sealed.filter(chain_seq__gt=last).values(*columns)[:batch])
        for values in rows:
            if not walker.feed(values):
                return walker.checked, walker.problem
        if len(rows) < batch:
            break
        last = rows[-1]["chain_seq"]
    head = AuditChainHead.objects.filter(pk=EXTERNAL_HEAD).first()
    if head is None:
        if walker.seq:
            walker.fail("truncated", walker.seq, None, "the external changes' chain head is missing")
    elif not auditchain.signature_matches(key, head.signature, "head", head.seq, head.hash):
        walker.fail("truncated", head.seq, None, "the external changes' chain head does not carry a valid signature")
    else:
        walker.finish(head.seq, head.hash, "the external changes' chain head")
    return walker.checked, walker.problem


def _head_problem(key: bytes, head: AuditChainHead, walker: ChainWalker) -> str | None:
    """Why the chain's end cannot be trusted (recorded on ``walker``), or None."""
    if head.signature:
        if auditchain.signature_matches(key, head.signature, "head", head.seq, head.hash):
            return None
        problem = (
            f"the chain head (#{head.seq}) does not carry a valid signature: its position or hash was changed "
            "(the newest rows removed and the end wound back?)"
        )
    elif walker.keyed:
        problem = "the chain head carries no signature though keyed rows exist: it was replaced"
    else:
        return None  # a chain sealed before AUDIT_KEY, whose end was never signed
    walker.fail("truncated", head.seq, None, problem)
    return problem


def _anchor_problem(key: bytes, anchor: AuditAnchor, head: AuditChainHead | None) -> str | None:
    """Why the archive anchor the chain starts from cannot be trusted, or None."""
    if anchor.signature:
        if not hmac.compare_digest(anchor_signature(key, anchor), anchor.signature):
            return f"the archive anchor at #{anchor.seq} does not carry a valid signature: it was forged or altered"
    elif head is not None and head.signature:
        return f"the archive anchor at #{anchor.seq} is not signed though the chain is keyed: it was added by hand"
    try:
        archive = archive_file(anchor.file_name)
        changed = archive.exists() and archive.sha256() != anchor.file_sha256
    except (SuspiciousFileOperation, OSError):
        changed = False  # no file to check here (elsewhere, unreadable, or a name no storage takes)
    if changed:
        return f"the archive file {archive} no longer matches the SHA-256 its anchor at #{anchor.seq} recorded"
    return None
