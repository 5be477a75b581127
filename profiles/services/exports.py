"""Downloads of the audit trail, each one recorded: who, when, which filter, which format, and how
many rows once the download has finished.

Not re-exported by ``profiles.services``: the formats import csvio, which imports that package.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from ..audit_export import FIELDS, FORMATS
from ..models import AuditExport, ImRequest
from ..selectors import audit_row_pages

EXPORT_BATCH = 2000


def audit_export_start(*, actor: Any, export_format: str, query_string: str) -> AuditExport:
    """Record an export before its first byte is sent, so even a download cut short is on record."""
    if export_format not in FORMATS:
        raise ValueError(f"unknown export format {export_format!r}")
    return AuditExport.objects.create(**AuditExport.actor_values(actor), format=export_format, filter=query_string)


def audit_export_finish(*, export: AuditExport, rows: int) -> None:
    """Complete the record of a download that was sent to its end."""
    # update(), not save(): only these two columns, whatever else the instance holds.
    AuditExport.objects.filter(pk=export.pk).update(rows=rows, completed_at=timezone.now())


def audit_export_stream(
    *, export: AuditExport, rows: QuerySet[ImRequest], batch: int | None = None
) -> Iterator[bytes]:
    """The file's bytes for ``rows`` in ``export.format``, a chunk per page of ``batch`` rows
    (EXPORT_BATCH by default). The record is completed once the last chunk was taken; a download
    that stops early (the client went away, an error) leaves it without a row count."""
    export_format = FORMATS[export.format]
    if export_format.header:
        yield export_format.header
    sent = 0
    for page in audit_row_pages(rows, fields=FIELDS, batch=batch or EXPORT_BATCH):
        chunk = export_format.page(page)
        sent += len(page)
        # Only one page is ever held: the next one is read while this chunk is being sent.
        del page
        yield chunk
    audit_export_finish(export=export, rows=sent)
