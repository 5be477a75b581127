"""Move old audit rows into a compressed archive file, leaving an anchor the chain verifies from."""

from __future__ import annotations

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from profiles.services.archive import ArchiveError, audit_archive


def _parse_before(text: str) -> datetime:
    try:
        moment = parse_datetime(text)
        day = parse_date(text) if moment is None else None
    except ValueError as exc:
        # Well formed but no such day or time (2026-02-30, 24:00): Django's parsers raise.
        raise CommandError(f"--before {text!r} is not a valid date: {exc}.") from None
    if moment is None:
        if day is None:
            raise CommandError(f"--before {text!r} is not a date (YYYY-MM-DD) or a date and time (ISO 8601).")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = (
        "Write the audit rows created before DATE to an archive (gzip JSON Lines, with the chain's anchors), "
        "then remove them from the database; audit_verify then checks the chain from that anchor on. "
        "The archive goes to the audit archive storage (AUDIT_ARCHIVE_DIR by default), or to an absolute path. "
        "Example: audit_archive --before 2026-01-01 --to audit-2025.jsonl.gz"
    )

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, metavar="DATE",
                            help="Archive rows created before this date (midnight, TIME_ZONE) or ISO date-time.")
        parser.add_argument(
            "--to", metavar="NAME", default=None,
            help="The archive to write (must not exist): a name in the audit archive storage, or an absolute "
            "path on this machine. Default: audit-before-<DATE>.jsonl.gz in the storage.",
        )
        parser.add_argument("--actor", default="", help="Who archives, recorded with the anchor.")

    def handle(self, *args, before: str, to: str | None, actor: str, **options):
        moment = _parse_before(before)
        if moment > timezone.now():
            raise CommandError(f"--before {before} is in the future; only past rows can be archived.")
        try:
            result = audit_archive(before=moment, to=to, actor_name=actor)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from None
        if result.rows == 0:
            self.stdout.write(f"Nothing to archive: no sealed row was created before {moment.isoformat()}.")
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Archived {result.rows:,} row(s) (#{result.start_seq + 1} to #{result.end_seq}) to {result.location}; "
                f"anchor #{result.end_seq} {result.end_hash}; file SHA-256 {result.file_sha256}."
            ))
        if result.left_pending:
            self.stdout.write(
                f"{result.left_pending:,} older row(s) still wait for an answer and were kept (not in the chain yet)."
            )
