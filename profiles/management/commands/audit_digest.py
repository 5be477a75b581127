"""Write a signed digest of the audit chain's end to AUDIT_DIGEST_DIR, outside the database."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from profiles.services.audit import audit_key
from profiles.services.digests import audit_digest_write


class Command(BaseCommand):
    help = (
        "Sign the audit chain's end (position, hash, row count, time) with AUDIT_KEY and write it to "
        "AUDIT_DIGEST_DIR, outside the database. audit_verify checks the database against the newest "
        "digest. Run it from cron as often as you like; the app also writes one every "
        "AUDIT_DIGEST_INTERVAL seconds while requests flow."
    )

    def handle(self, *args, **options):
        try:
            digest = audit_digest_write(key=audit_key())
        except OSError as exc:
            raise CommandError(f"The digest could not be written: {exc.strerror or exc}") from None
        self.stdout.write(self.style.SUCCESS(
            f"Digest written: {digest.path} (chain ends at #{digest.seq}, {digest.rows:,} row(s))."
        ))
