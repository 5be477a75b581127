"""Run the local Tencent IM emulator (docs/tencent-im.md §1–§6) on a loopback port, sending the webhook (§8)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from profiles.demo import demo_accounts
from profiles.im.emulator import DEFAULT_LOCATION_MAX_BYTES, Emulator, EmulatorServer
from profiles.models import CustomTagDefinition

# Where `make run`'s web server listens (rundev passes its actual address).
DEFAULT_CALLBACK_URL = "http://127.0.0.1:8000/im/callback"


class Command(BaseCommand):
    help = "Run the built-in Tencent IM REST emulator, with the app's SDKAppID, secret key and admin."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=None, help="Port (default: the one in IM_API_BASE).")
        parser.add_argument("--demo", action="store_true", help="Seed the demo accounts.")
        parser.add_argument(
            "--location-max-bytes", type=int, default=DEFAULT_LOCATION_MAX_BYTES,
            help="Location byte limit to enforce: 16 (most editions) or 500 (docs/tencent-im.md §2).",
        )
        on_emulator = settings.IM.uses_emulator
        parser.add_argument(
            "--callback-url", default=DEFAULT_CALLBACK_URL if on_emulator else "",
            help="Where to POST Profile.CallbackPortraitSet after each profile change (docs/tencent-im.md §8); '' for "
            f"none (default: {DEFAULT_CALLBACK_URL} when the app runs on the emulator, else none).",
        )
        parser.add_argument(
            "--callback-token", default=None,
            help="Callback authentication token to sign with (default: IM_CALLBACK_TOKEN, which is the "
            "built-in dev token when the app runs on the emulator); '' sends unsigned callbacks.",
        )

    def handle(
        self, *args, host: str, port: int | None, demo: bool, location_max_bytes: int, callback_url: str,
        callback_token: str | None, **options,
    ):
        config = settings.IM
        if port is None:
            from urllib.parse import urlsplit

            port = urlsplit(config.api_base).port or 8765
        emulator = Emulator(
            sdkappid=config.sdkappid, secret_key=config.secret_key,
            admin_identifiers=[config.admin_identifier], location_max_bytes=location_max_bytes,
            custom_tags=[d.as_catalogue() for d in CustomTagDefinition.objects.all()],
        )
        try:
            emulator.set_callback(
                callback_url, settings.IM_CALLBACK_TOKEN if callback_token is None else callback_token
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if demo:
            for user_id, profile in demo_accounts(settings.IM_DEMO_ACCOUNTS).items():
                emulator.add_account(user_id, profile)
        try:
            server = EmulatorServer(emulator, host=host, port=port)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror}") from None
        self.stdout.write(
            f"Tencent IM emulator on {server.url} (SDKAppID {config.sdkappid}, admin "
            f"{config.admin_identifier!r}, {len(emulator.state.accounts)} accounts, "
            f"{len(emulator.state.custom_tags)} custom tags). Ctrl-C stops it."
        )
        if callback_url:
            self.stdout.write(f"Profile changes are called back to {callback_url}.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.httpd.server_close()
            emulator.close()
