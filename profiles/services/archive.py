"""Archiving old audit rows: a prefix of the chain moved to a gzip JSON Lines file behind a signed
anchor, and checking such a file on its own."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.db import models, transaction
from django.utils import timezone

from .. import auditchain
from ..models import AuditAnchor, AuditChainHead, AuditDayCount, ImRequest, ImRequestSubject
from .audit import ChainWalker, VerifyReport, _day_count_key, _stored_rows, anchor_signature, audit_key, chain_start
from .storages import StoredFile, archive_default_name, archive_file

ARCHIVE_FORMAT = "improfile-audit-archive-v1"


@dataclass
class ArchiveResult:
    rows: int = 0
    start_seq: int = 0
    end_seq: int = 0
    end_hash: str = ""
    file_sha256: str = ""
    left_pending: int = 0
    location: str = ""  # where the archive is (or would have gone), for the operator


class ArchiveError(Exception):
    pass


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to the archive")


def audit_archive(
    *, before: datetime, to: str | os.PathLike[str] | None = None, actor_name: str = "", batch: int = 2000
) -> ArchiveResult:
    """Move the sealed rows created before ``before`` into a gzip JSON Lines file, then remove them.

    ``to`` is a name in the ``audit_archives`` storage (one is made up when None) or an absolute
    path on this machine (services/storages.py). What is archived is always a prefix of the chain
    (up to the first row created on or after ``before``), checked as it is written, so the chain
    stays verifiable from the new anchor on; the file holds the anchor it starts from and the one it
    ends at. Nothing is removed unless the file was stored completely and reads back with the
    SHA-256 that was written. Pending rows (no answer recorded yet) are never archived.
    """
    target = _archive_target(os.fspath(to) if to is not None else archive_default_name(before))
    start_seq, start_hash, _anchor = chain_start()
    first_kept = (
        ImRequest.objects.filter(chain_seq__gt=start_seq, created_at__gte=before)
        .aggregate(first=models.Min("chain_seq"))["first"]
    )
    head = AuditChainHead.objects.filter(pk=1).first()
    end_seq = (first_kept - 1) if first_kept is not None else (head.seq if head else start_seq)
    result = ArchiveResult(start_seq=start_seq, end_seq=end_seq, location=str(target))
    result.left_pending = ImRequest.objects.filter(chain_seq__isnull=True, created_at__lt=before).count()
    if end_seq <= start_seq:
        return result

    walker = ChainWalker(key=audit_key(), seq=start_seq, previous=start_hash)
    digest = hashlib.sha256()
    # Written here first (a temporary file, gone when closed), then handed to the storage whole.
    with tempfile.TemporaryFile(prefix="audit-archive-") as spool:
        hashing = _HashingWriter(spool, digest)
        with gzip.GzipFile(fileobj=hashing, mode="wb", filename="", mtime=0) as archive:
            def write(record: Mapping[str, Any]) -> None:
                archive.write(json.dumps(record, ensure_ascii=False, default=_json_default).encode() + b"\n")

            write({
                "format": ARCHIVE_FORMAT, "chain_format": auditchain.FORMAT, "created_at": timezone.now(),
                "before": before, "start": {"seq": start_seq, "hash": start_hash},
            })
            for values in _stored_rows(start_seq, end_seq, batch):
                if not walker.feed(values):
                    raise ArchiveError(f"the chain is broken, nothing was archived: {walker.problem.message}")
                write(values)
            if walker.seq != end_seq:
                raise ArchiveError(
                    f"the chain stops at #{walker.seq} before #{end_seq}: rows are missing, nothing was archived."
                )
            write({"end": {"seq": walker.seq, "hash": walker.previous}, "rows": walker.checked})
        target = _store(target, spool, digest.hexdigest())
    result.rows, result.end_hash, result.file_sha256 = walker.checked, walker.previous, digest.hexdigest()
    result.location = str(target)
    with transaction.atomic():
        anchor = AuditAnchor(
            seq=walker.seq, hash=walker.previous, before=before, rows=walker.checked, file_name=target.reference,
            file_sha256=result.file_sha256, created_by=actor_name,
        )
        anchor.signature = anchor_signature(audit_key(), anchor)
        anchor.save()
    _remove_archived(end_seq, batch)
    return result


def _archive_target(reference: str) -> StoredFile:
    """Where the archive goes, refused before anything is read when it cannot be written there."""
    try:
        target = archive_file(reference)
    except SuspiciousFileOperation as exc:
        raise ArchiveError(f"{reference} is not a file name the archive storage accepts: {exc}.") from None
    if target.exists():
        raise ArchiveError(f"{target} already exists; archives are never overwritten.")
    if os.path.isabs(target.reference) and not os.path.isdir(os.path.dirname(target.reference)):
        # A local path names its folder on purpose: a typo must not create a new tree of folders.
        raise ArchiveError(f"cannot write {target}: the folder {os.path.dirname(target.reference)} does not exist.")
    return target


def _store(target: StoredFile, spool: IO[bytes], sha256: str) -> StoredFile:
    """Save the written archive into its storage and read it back; on any failure remove what was
    stored and raise ArchiveError, before a single row is removed."""
    try:
        saved = target.storage.save(target.name, File(spool, name=target.name))
    except OSError as exc:
        _discard(target)
        raise ArchiveError(f"cannot write {target}: {exc.strerror or exc}; nothing was archived.") from None
    stored = StoredFile(
        storage=target.storage, name=saved,
        reference=os.path.join(os.path.dirname(target.reference), saved) if os.path.isabs(target.reference)
        else saved,
    )
    try:
        matches = stored.sha256() == sha256
    except OSError as exc:
        matches, reason = False, f"it cannot be read back ({exc.strerror or exc})"
    else:
        reason = "what was read back differs from what was written"
    if not matches:
        _discard(stored)
        raise ArchiveError(f"the archive {stored} was not stored intact: {reason}; nothing was archived.")
    return stored


def _discard(target: StoredFile) -> None:
    with contextlib.suppress(OSError):
        if target.exists():
            target.storage.delete(target.name)


class _HashingWriter:
    """A file wrapper that hashes what goes through it (the archive file's SHA-256, kept with the anchor)."""

    def __init__(self, raw: Any, digest: Any) -> None:
        self.raw, self.digest = raw, digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _remove_archived(end_seq: int, batch: int) -> None:
    """Delete archived rows (and their subject rows), a batch per transaction. The anchor is already
    written, so an interrupted removal leaves rows the next run removes, never a broken chain."""
    base = models.QuerySet(model=ImRequest)
    while True:
        rows = list(
            base.filter(chain_seq__lte=end_seq).order_by("chain_seq")
            .values_list("pk", "created_at", "actor_username", "error_code")[:batch]
        )
        if not rows:
            return
        ids = [pk for pk, *_rest in rows]
        with transaction.atomic():
            removed: dict[tuple[Any, ...], int] = {}
            for _pk, created_at, actor, code in rows:
                key = _day_count_key(created_at, actor, code)
                removed[key] = removed.get(key, 0) + 1
            for (day, actor, answered, code), n in removed.items():
                # The dashboard counts what the trail holds: archived rows leave its counts too.
                AuditDayCount.objects.filter(day=day, actor_username=actor, answered=answered, error_code=code).update(
                    requests=models.F("requests") - n
                )
            AuditDayCount.objects.filter(requests__lte=0).delete()
            ImRequestSubject.objects.filter(request_id__in=ids).delete()
            base.filter(pk__in=ids)._raw_delete(base.db)


def _stored(archive: StoredFile | str | os.PathLike[str]) -> StoredFile:
    if isinstance(archive, StoredFile):
        return archive
    try:
        return archive_file(os.fspath(archive))
    except SuspiciousFileOperation as exc:
        raise ArchiveError(f"{os.fspath(archive)} is not a file name the archive storage accepts: {exc}.") from None


def read_archive(archive: StoredFile | str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The records of an archive file (a path, a name in the archive storage): the header, each row, the end."""
    path = _stored(archive)
    try:
        with path.storage.open(path.name, "rb") as stream, gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
            for number, line in enumerate(unzipped, start=1):
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise ArchiveError(f"{path}, line {number}: not JSON ({exc})") from None
    except (OSError, EOFError) as exc:
        raise ArchiveError(f"{path}: not a readable gzip archive ({exc})") from None


def archive_verify(archive: StoredFile | str | os.PathLike[str]) -> VerifyReport:
    """Check an archive file on its own: its rows chain from its start anchor to its end."""
    from django.utils.dateparse import parse_datetime

    path = _stored(archive)
    records = read_archive(path)
    header = next(records, None)
    if not isinstance(header, dict) or header.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError(f"{path} is not an improfile audit archive (no {ARCHIVE_FORMAT} header).")
    start = header["start"]
    walker = ChainWalker(key=audit_key(), seq=start["seq"], previous=start["hash"])
    end: dict[str, Any] | None = None
    for record in records:
        if "end" in record:
            end = record["end"]
            break
        for name in ("created_at", "completed_at"):
            if record.get(name):
                record[name] = parse_datetime(record[name])
        if not walker.feed(record):
            break
    if walker.problem is None:
        if end is None:
            walker.fail("truncated", walker.seq + 1, None, "the archive has no end record: it was cut short")
        else:
            walker.finish(end["seq"], end["hash"], "the archive's end record")
    return walker.report(start_seq=start["seq"])
