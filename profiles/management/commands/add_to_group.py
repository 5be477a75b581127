"""Put a staff user in one of the staff groups ("Profile editors", "Audit reviewers")."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from profiles.management.users import named_user


class Command(BaseCommand):
    help = 'Add a user to a group: add_to_group USERNAME "Profile editors" (or "Audit reviewers").'

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("group")

    def handle(self, *args, username: str, group: str, **options):
        user = named_user(username)
        found = Group.objects.filter(name=group).first()
        if found is None:
            names = ", ".join(repr(name) for name in Group.objects.order_by("name").values_list("name", flat=True))
            raise CommandError(f"No group named {group!r}; the groups are: {names or 'none'}.")
        user.groups.add(found)
        if not user.is_staff:
            # Groups give permissions in the admin, which only staff users can enter.
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        self.stdout.write(f"{username} is in {group!r}.")
