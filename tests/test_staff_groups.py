"""The staff groups exist on every migrated database, and a command puts users in them."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def codenames(group_name: str) -> set[str]:
    return set(Group.objects.get(name=group_name).permissions.values_list("codename", flat=True))


def test_migrations_create_both_groups_with_their_permissions():
    editors, auditors = codenames("Profile editors"), codenames("Audit reviewers")
    assert {"change_profile", "run_bulkjob", "view_imrequest"} <= editors
    assert {"view_imrequest", "view_externalchange", "view_bulkjob"} <= auditors
    assert not {"change_profile", "add_profile", "run_bulkjob", "change_imrequest"} & auditors


def test_add_to_group_puts_a_user_in_a_group_and_makes_them_staff(django_user_model):
    user = django_user_model.objects.create_user(username="alice", password="x")
    out = StringIO()
    call_command("add_to_group", "alice", "Audit reviewers", stdout=out)
    user.refresh_from_db()
    assert user.is_staff and user.groups.filter(name="Audit reviewers").exists()
    assert user.has_perm("profiles.view_imrequest") and not user.has_perm("profiles.change_profile")


def test_add_to_group_names_what_is_wrong(django_user_model):
    django_user_model.objects.create_user(username="alice", password="x")
    with pytest.raises(CommandError, match="No user named 'bob'"):
        call_command("add_to_group", "bob", "Audit reviewers")
    with pytest.raises(CommandError, match="the groups are: 'Audit reviewers', 'Profile editors'"):
        call_command("add_to_group", "alice", "Auditors")
