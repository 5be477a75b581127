"""The index behind the auditors' dashboard (profiles.selectors.dashboard): the UTC day of created_at,
then the actor and the ErrorCode, so counting a range of days per day and actor reads one slice of the
index (already in group order, for SQLite) instead of the table. bench/audit_scale.py measures it.

The day is an expression, spelled the way each backend's query spells it
(profiles.selectors.dashboard.UtcDate), so this is raw SQL per vendor rather than a Meta index. Both
end with created_at itself: SQLite (before 3.41) and PostgreSQL count an index on an expression as
covering (an index-only scan) only when the columns inside the expression are in the index too.
"""

from django.db import migrations

INDEX_NAME = "imrequest_dashboard"

CREATE_SQL = {
    "sqlite": (
        f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON profiles_imrequest "
        "(substr(created_at, 1, 10), actor_username, error_code, created_at)"
    ),
    "postgresql": (
        f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON profiles_imrequest "
        "(((created_at AT TIME ZONE 'UTC')::date), actor_username, error_code, created_at)"
    ),
}


def create_index(apps, schema_editor):
    sql = CREATE_SQL.get(schema_editor.connection.vendor)
    if sql is not None:
        schema_editor.execute(sql)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor in CREATE_SQL:
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")


class Migration(migrations.Migration):
    dependencies = [("profiles", "0007_audit_seal_trigger_groups")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
