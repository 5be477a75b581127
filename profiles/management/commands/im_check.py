"""Check the IM configuration and credentials against the configured endpoint."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from profiles import services
from profiles.im.client import ImError, TransportError
from profiles.models import ImRequest


class Command(BaseCommand):
    help = "Verify IM_* settings: sign a UserSig and make one audited account_check call for the admin."

    def handle(self, *args, **options):
        config = settings.IM
        where = "the built-in emulator" if config.uses_emulator else (config.region or "IM_API_BASE")
        self.stdout.write(
            f"Endpoint {config.api_base} ({where}), SDKAppID {config.sdkappid}, admin {config.admin_identifier!r}"
        )
        try:
            audit = services.im_check(actor=None, source=ImRequest.Source.COMMAND)
        except ImError as exc:
            raise CommandError(f"Tencent refused the check: {exc.info.describe()}") from None
        except TransportError as exc:
            raise CommandError(f"Cannot reach {config.api_base}: {exc.reason}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: credentials accepted (account_check ErrorCode 0 in {audit.latency_ms:.0f} ms)."
            )
        )
