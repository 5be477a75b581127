"""Set-up services: the staff groups and the demo data of `make run`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from ..im import tags as catalogue
from ..models import CustomTagDefinition, Profile

EDITORS_GROUP = "Profile editors"
AUDITORS_GROUP = "Audit reviewers"
_GROUP_PERMISSIONS = {
    EDITORS_GROUP: [
        "view_profile", "add_profile", "change_profile", "view_customtagdefinition", "view_imrequest",
        "view_bulkjob", "run_bulkjob",
        "view_externalchange",
    ],
    AUDITORS_GROUP: [
        "view_imrequest", "view_externalchange", "view_profile", "view_customtagdefinition", "view_bulkjob",
        "view_all_bulkjob",
        "view_all_imrequest", "export_imrequest", "view_audit_dashboard", "view_auditexport", "view_auditanchor",
        # django-axes' records of failed logins, lockouts and sign-ins (profiles.admin.logins).
        "axes.view_accessattempt", "axes.view_accessfailurelog", "axes.view_accesslog",
    ],
}


def groups_ensure() -> None:
    """Create the two staff groups with their permissions (idempotent). A permission is named by its
    codename, with ``app_label.`` in front when it is not the profiles app's."""
    from django.contrib.auth.models import Group, Permission
    from django.db.models import Q

    for name, permissions in _GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = Q(pk__in=[])
        for permission in permissions:
            app_label, _dot, codename = permission.rpartition(".")
            wanted |= Q(content_type__app_label=app_label or "profiles", codename=codename)
        group.permissions.add(*Permission.objects.filter(wanted))


def demo_seed_local(*, accounts: Mapping[str, Mapping[str, Any]], custom_tags: list[catalogue.CustomTag]) -> int:
    """Create the demo custom tag definitions and local copies that match the emulator's demo data."""
    for tag in custom_tags:
        CustomTagDefinition.objects.get_or_create(
            keyword=tag.keyword,
            defaults={"label": tag.label, "admin_read": tag.admin_read, "admin_write": tag.admin_write},
        )
    created = 0
    for user_id, profile_values in accounts.items():
        if Profile.objects.filter(user_id=user_id).exists():
            continue
        profile = Profile(user_id=user_id, last_pulled_at=timezone.now())
        profile.apply_tag_values(dict(profile_values))
        profile.save()
        created += 1
    return created
