"""Audit reviewers see failed logins, lockouts and sign-ins (django-axes' records), read-only."""

from django.db import migrations

AXES_VIEW_PERMISSIONS = ["view_accessattempt", "view_accessfailurelog", "view_accesslog"]


def reviewers_see_logins(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran (post_migrate); make axes' now.
    axes_config = apps.get_app_config("axes")
    axes_config.models_module = True
    create_permissions(axes_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    axes_config.models_module = None

    db = schema_editor.connection.alias
    group = apps.get_model("auth", "Group").objects.using(db).filter(name="Audit reviewers").first()
    if group is not None:
        group.permissions.add(
            *apps.get_model("auth", "Permission").objects.using(db).filter(
                content_type__app_label="axes", codename__in=AXES_VIEW_PERMISSIONS
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0016_staff_preference"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(reviewers_see_logins, migrations.RunPython.noop)]
