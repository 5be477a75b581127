"""Walk the audit hash chain and report the first row that was altered, removed or inserted out of order."""

from __future__ import annotations

from django.core.exceptions import SuspiciousFileOperation
from django.core.management.base import BaseCommand, CommandError

from profiles.services.archive import ArchiveError, archive_verify
from profiles.services.audit import VerifyReport, audit_verify
from profiles.services.storages import archive_file


class Command(BaseCommand):
    help = (
        "Check that the audit trail is intact: every sealed row still matches its hash and follows "
        "the row before it, from the newest archive anchor to the chain head. Exits 1 at the first "
        "broken row. With --archive FILE, checks an archive written by audit_archive instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--archive", metavar="NAME",
            help="Check this archive instead of the database: a name in the audit archive storage "
            "or an absolute path.",
        )
        parser.add_argument("--batch", type=int, default=2000, help="Rows read per query (default 2000).")

    def handle(self, *args, archive: str | None, batch: int, **options):
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        if archive:
            try:
                path = archive_file(archive)
            except SuspiciousFileOperation as exc:
                raise CommandError(
                    f"--archive {archive}: not a file name the archive storage accepts ({exc})."
                ) from None
            if not path.exists():
                raise CommandError(f"No archive file at {path}.")
            try:
                report = archive_verify(path)
            except ArchiveError as exc:
                raise CommandError(str(exc)) from None
            self._report(report, f"archive {path}")
            return
        report = audit_verify(batch=batch, progress=lambda n: self.stderr.write(f"  {n:,} rows checked…"))
        start = f"anchor #{report.start_seq}" if report.anchor else "the start"
        self._report(report, f"audit chain from {start}")
        self.stdout.write(f"External changes: {report.external_checked:,} sealed in their own chain, intact.")
        if report.pending:
            self.stdout.write(
                f"{report.pending:,} row(s) still wait for Tencent's answer and are not in the chain yet."
            )

    def _report(self, report: VerifyReport, what: str) -> None:
        if report.ok:
            self.stdout.write(self.style.SUCCESS(
                f"OK: {what} intact, {report.checked:,} row(s) checked, "
                f"last #{report.end_seq} {report.end_hash or '-'}"
            ))
            return
        problem = report.problem
        self.stderr.write(self.style.ERROR(f"BROKEN: {what}: {problem.message}."))
        self.stderr.write(f"{report.checked:,} row(s) before it are intact (up to #{report.end_seq}).")
        raise SystemExit(1)
