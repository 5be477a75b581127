"""Audit archives go through the ``audit_archives`` storage (AUDIT_ARCHIVE_DIR by default), so any
machine can write and check them; an absolute ``--to`` still writes a local file; an archive that
cannot be written is a one-line error and removes nothing."""

from __future__ import annotations

import gzip
from io import StringIO

import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.utils import timezone

from profiles.models import AuditAnchor, ImRequest
from profiles.services.audit import audit_verify

from .conftest import audited_db, run_manage

pytestmark = audited_db


@pytest.fixture
def old_rows(emulator, send_checks):
    """Three sealed rows, and a cutoff after them."""
    rows = send_checks(3)
    return rows, timezone.now()


def test_a_name_is_written_into_the_archive_storage_and_the_anchor_records_that_name(old_rows, file_storages):
    _rows, cutoff = old_rows
    out = StringIO()
    call_command("audit_archive", "--before", cutoff.isoformat(), "--to", "2025/audit.jsonl.gz", stdout=out)
    stored = file_storages.archives / "2025" / "audit.jsonl.gz"
    assert stored.is_file() and f"to {stored};" in out.getvalue()
    assert (stored.stat().st_mode & 0o777) == 0o600  # profile data: the server's user only
    anchor = AuditAnchor.objects.get()
    assert anchor.file_name == "2025/audit.jsonl.gz" and not ImRequest.objects.exists()
    with gzip.open(stored, "rt") as handle:
        assert sum(1 for _line in handle) == 5  # header, three rows, end

    checked = run_manage("audit_verify", "--archive", "2025/audit.jsonl.gz")
    assert checked.returncode == 0 and "3 row(s) checked" in checked.stdout
    assert audit_verify().ok
    # The anchor finds its file through the storage, and notices a change to it.
    stored.write_bytes(stored.read_bytes() + b"tampered")
    assert "no longer matches the SHA-256 its anchor at #3 recorded" in audit_verify().problem.message


def test_without_to_the_archive_is_named_after_its_date_in_the_storage(old_rows, file_storages):
    _rows, cutoff = old_rows
    call_command("audit_archive", "--before", cutoff.isoformat(), stdout=StringIO())
    expected = f"audit-before-{cutoff:%Y%m%dT%H%M%S}.jsonl.gz"
    assert [path.name for path in file_storages.archives.iterdir()] == [expected]
    assert AuditAnchor.objects.get().file_name == expected


def test_archives_need_no_local_folder_when_the_storage_is_elsewhere(old_rows, settings):
    """An object store stands in for S3 and the like: it has no path, and archiving and both checks work."""
    in_memory = {"BACKEND": "django.core.files.storage.InMemoryStorage"}
    settings.STORAGES = {**settings.STORAGES, "audit_archives": in_memory}
    _rows, cutoff = old_rows
    out = StringIO()
    call_command("audit_archive", "--before", cutoff.isoformat(), "--to", "audit.jsonl.gz", stdout=out)
    assert "Archived 3 row(s)" in out.getvalue() and "(audit archive storage)" in out.getvalue()
    assert storages["audit_archives"].exists("audit.jsonl.gz") and audit_verify().ok
    call_command("audit_verify", "--archive", "audit.jsonl.gz", stdout=out)
    assert "OK: archive audit.jsonl.gz (audit archive storage) intact, 3 row(s) checked" in out.getvalue()


def test_an_archive_in_an_unwritable_place_is_a_one_line_error_and_removes_nothing(old_rows):
    _rows, cutoff = old_rows
    for target, reason in (
        ("/sys/audit.jsonl.gz", "cannot write /sys/audit.jsonl.gz: Permission denied; nothing was archived."),
        ("/proc/nope/x.jsonl", "cannot write /proc/nope/x.jsonl: the folder /proc/nope does not exist."),
    ):
        result = run_manage("audit_archive", "--before", cutoff.isoformat(), "--to", target)
        assert result.returncode == 1
        assert result.stderr.strip() == f"CommandError: {reason}", result.stderr
    assert ImRequest.objects.count() == 3 and not AuditAnchor.objects.exists()
    assert audit_verify().ok


def test_an_archive_name_outside_the_storage_is_refused(old_rows):
    _rows, cutoff = old_rows
    with pytest.raises(CommandError, match=r"\.\./x\.gz is not a file name the archive storage accepts"):
        call_command("audit_archive", "--before", cutoff.isoformat(), "--to", "../x.gz")
    with pytest.raises(CommandError, match="not a file name the archive storage accepts"):
        call_command("audit_verify", "--archive", "../x.gz")
    assert ImRequest.objects.count() == 3


def test_a_date_that_does_not_exist_is_named(old_rows):
    result = run_manage("audit_archive", "--before", "2026-02-30", "--to", "x.jsonl.gz")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: --before '2026-02-30' is not a valid date: day is out of range for month."
    ), result.stderr
    with pytest.raises(CommandError, match="'2026-02-28T24:30' is not a valid date: hour must be in 0..23"):
        call_command("audit_archive", "--before", "2026-02-28T24:30")
    assert ImRequest.objects.count() == 3
