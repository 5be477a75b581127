"""The audit trail's export formats: CSV for spreadsheets and JSON Lines for scripts, one record per
request sent to Tencent, written a page of rows at a time so any number of rows streams in bounded memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .csvio import BOM, guard_cell
from .im.errors import describe

# (name in the file, ImRequest field it is read from). "meaning" comes from the ErrorCode catalogue.
COLUMNS: list[tuple[str, str | None]] = [
    ("id", "id"),
    ("created_at", "created_at"),
    ("completed_at", "completed_at"),
    ("actor", "actor_username"),
    ("source", "source"),
    ("purpose", "purpose"),
    ("job_id", "job_id"),
    ("attempt", "attempt"),
    ("UserID", "user_id"),
    ("command", "command"),
    ("changes", "changes"),
    ("state", "state"),
    ("http_status", "http_status"),
    ("ActionStatus", "action_status"),
    ("ErrorCode", "error_code"),
    ("meaning", None),
    ("ErrorInfo", "error_info"),
    ("ErrorDisplay", "error_display"),
    ("transport_error", "transport_error"),
    ("note", "note"),
    ("latency_ms", "latency_ms"),
    ("request_body", "request_body"),
    ("response_body", "response_body"),
    ("reverts", "reverts_id"),
    ("chain_seq", "chain_seq"),
    ("chain_hash", "chain_hash"),
]
HEADER = [name for name, _field in COLUMNS]
# What an export reads from the table (the keyset pages need created_at and id among them).
FIELDS = [field for _name, field in COLUMNS if field is not None]


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def export_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One audit row (a dict of FIELDS) as the export's record, keyed by HEADER: times in ISO 8601
    UTC, the ErrorCode's meaning from the catalogue, the bodies and changes as parsed JSON."""
    record: dict[str, Any] = {}
    for name, field in COLUMNS:
        if field is None:  # meaning
            code = row["error_code"]
            record[name] = "" if code is None else describe(code).meaning
        elif field in ("created_at", "completed_at"):
            record[name] = _utc(row[field])
        else:
            record[name] = row[field]
    return record


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str):
        return guard_cell(value)
    if isinstance(value, dict | list):
        # JSON text in one cell; it starts with { or [, which no spreadsheet runs as a formula.
        return json.dumps(value, ensure_ascii=False)
    return value  # a number, or None: the csv module writes that as an empty cell


def _csv_lines(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def csv_page(page: Sequence[Mapping[str, Any]]) -> bytes:
    return _csv_lines([_csv_cell(value) for value in export_record(row).values()] for row in page).encode("utf-8")


def jsonl_page(page: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(export_record(row), ensure_ascii=False) + "\n" for row in page).encode("utf-8")


@dataclass(frozen=True)
class ExportFormat:
    name: str  # AuditExport.format and the file's extension
    content_type: str
    header: bytes  # what the file starts with, before the first page
    page: Callable[[Sequence[Mapping[str, Any]]], bytes]

    def file_name(self, at: datetime) -> str:
        return f"audit-{at.astimezone(UTC):%Y%m%d-%H%M%S}.{self.name}"


# As the profile export: a BOM makes spreadsheet programs read the file as UTF-8.
CSV = ExportFormat("csv", "text/csv; charset=utf-8", (BOM + _csv_lines([HEADER])).encode("utf-8"), csv_page)
JSONL = ExportFormat("jsonl", "application/x-ndjson; charset=utf-8", b"", jsonl_page)
FORMATS = {export_format.name: export_format for export_format in (CSV, JSONL)}
