"""The table of the "qcluster" cache, where django-q2 clusters on the ORM broker save their
heartbeats, so that every web server sees every machine's workers (profiles/selectors/health.py).
``migrate`` creates it, so no deployment needs to remember ``createcachetable``."""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    # Creates the table of every database cache in CACHES that is missing; skips those that exist.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("profiles", "0019_self_signature_help")]

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
