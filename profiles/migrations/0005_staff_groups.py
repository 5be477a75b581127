"""The two staff groups, with their permissions, on every database (not only `make run`'s).

Idempotent: running it again (or after the groups were made by hand) only adds what is missing.
The permission lists are frozen here as of this migration; later changes get a migration of their own.
"""

from django.db import migrations

GROUPS = {
    "Profile editors": [
        "view_profile", "add_profile", "change_profile", "view_customtagdefinition", "view_imrequest",
        "view_bulkjob", "run_bulkjob", "view_externalchange",
    ],
    "Audit reviewers": [
        "view_imrequest", "view_externalchange", "view_profile", "view_customtagdefinition", "view_bulkjob",
    ],
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran (post_migrate); make sure this
    # app's exist now, so the groups can be given them on a fresh database.
    profiles_config = apps.get_app_config("profiles")
    profiles_config.models_module = True
    create_permissions(profiles_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    profiles_config.models_module = None

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _created = group_model.objects.using(schema_editor.connection.alias).get_or_create(name=name)
        group.permissions.add(
            *permission_model.objects.using(schema_editor.connection.alias).filter(
                content_type__app_label="profiles", codename__in=codenames
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("profiles", "0004_bulk_jobs_rate_window"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
