"""Give a staff user an authenticator for two-factor sign-in (REQUIRE_TWO_FACTOR) and print its set-up URI once."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from profiles.management.users import named_user
from profiles.services import twofactor


class Command(BaseCommand):
    help = (
        "Enrol USERNAME's authenticator app: prints an otpauth:// URI (add it to the app, or turn it into a QR "
        "code) that holds the secret. It is shown only this once and is not logged; --replace discards the "
        "user's current authenticator (a lost phone)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--replace", action="store_true", help="discard the current authenticator first")

    def handle(self, *args, username: str, replace: bool, **options):
        user = named_user(username)
        if not user.is_active or not user.is_staff:
            raise CommandError(f"User {username!r} is not an active staff user; only staff sign in to the admin.")
        try:
            uri = twofactor.totp_enrol(user=user, replace=replace)
        except twofactor.EnrolmentRefused as exc:
            raise CommandError(str(exc)) from None
        # The secret goes to this terminal only (stdout), never to a log.
        self.stdout.write(
            f"Authenticator enrolled for {username}. Add this to the authenticator app now; it is not shown again:\n"
            f"{uri}\n"
            "From the next sign-in the admin asks for the app's 6-digit code."
        )
