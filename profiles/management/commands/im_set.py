"""Push an edit to one user's profile from the command line, through the same service as the admin."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from profiles import services
from profiles.im import tags as catalogue
from profiles.models import ImRequest, Profile


class Command(BaseCommand):
    help = "Set tags on a Tencent IM profile: im_set USERID TAG=VALUE... --actor USERNAME"

    def add_arguments(self, parser):
        parser.add_argument("user_id", help="The Tencent IM UserID.")
        parser.add_argument(
            "assignments", nargs="+", metavar="TAG=VALUE",
            help="A wire name (Tag_Profile_IM_Nick), a short name (nick) or Tag_Profile_Custom_<kw>, "
            "then = and the value.",
        )
        parser.add_argument("--actor", required=True, help="Username of the staff member making the edit.")

    def handle(self, *args, user_id: str, assignments: list[str], actor: str, **options):
        try:
            catalogue.validate_user_id(user_id)
        except ValueError as exc:
            raise CommandError(f"Invalid UserID {user_id!r}: {exc}") from None
        user_model = get_user_model()
        try:
            actor_user = user_model.objects.get(**{user_model.USERNAME_FIELD: actor})
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {actor!r}; --actor must be an existing username.") from None
        if not actor_user.is_active or not actor_user.has_perm("profiles.change_profile"):
            raise CommandError(f"User {actor!r} is not allowed to change profiles.")

        values: dict[str, object] = {}
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            if not sep:
                raise CommandError(f"{assignment!r} is not TAG=VALUE.")
            try:
                wire_name = catalogue.resolve_tag_name(name.strip())
                values[wire_name] = catalogue.parse_text_value(wire_name, text)
            except catalogue.TagValueError as exc:
                raise CommandError(f"{exc.tag}: {exc.message}") from None
            except ValueError as exc:
                raise CommandError(str(exc)) from None

        profile = Profile.objects.filter(user_id=user_id).first() or Profile(user_id=user_id)
        try:
            outcome = services.profile_push(
                profile=profile, values=values, actor=actor_user, source=ImRequest.Source.COMMAND,
            )
        except services.TagValidationError as exc:
            raise CommandError(f"Nothing sent: {exc}") from None
        if not outcome.ok:
            raise CommandError(outcome.message)
        self.stdout.write(outcome.message)
