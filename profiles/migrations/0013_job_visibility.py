"""Jobs are seen, cancelled and retried by the staff member who started them; two permissions widen
that: every job seen (given to the Audit reviewers here), every job managed (for a team lead)."""

from django.db import migrations


def reviewers_see_every_job(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran (post_migrate); make the new ones now.
    profiles_config = apps.get_app_config("profiles")
    profiles_config.models_module = True
    create_permissions(profiles_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    profiles_config.models_module = None

    db = schema_editor.connection.alias
    group = apps.get_model("auth", "Group").objects.using(db).filter(name="Audit reviewers").first()
    if group is not None:
        group.permissions.add(
            *apps.get_model("auth", "Permission").objects.using(db).filter(
                content_type__app_label="profiles", codename="view_all_bulkjob"
            )
        )


class Migration(migrations.Migration):
    dependencies = [("profiles", "0012_rate_window_json_job_kind")]

    operations = [
        migrations.AlterModelOptions(
            name="bulkjob",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    ("run_bulkjob", "Can start bulk edit jobs"),
                    ("view_all_bulkjob", "Can see every bulk job"),
                    ("manage_all_bulkjob", "Can see, cancel and retry every bulk job"),
                ],
            },
        ),
        migrations.RunPython(reviewers_see_every_job, migrations.RunPython.noop),
    ]
