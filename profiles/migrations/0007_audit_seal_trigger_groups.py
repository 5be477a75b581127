"""The audit chain on an existing database, the PostgreSQL guard, and the new permissions.

1. Rows completed before the chain existed are sealed into it, in the order they were written, and
   the chain head is created. Idempotent: rows already sealed are left alone.
2. On PostgreSQL a trigger refuses UPDATE and DELETE of a sealed row; the only exceptions are
   clearing actor_id when a staff account is deleted (the row keeps actor_username) and deleting rows
   an archive anchor already covers (audit_archive). Nothing on SQLite.
3. The groups get the audit permissions (frozen here; later changes get a migration of their own).
"""

from django.db import migrations

from profiles import auditchain

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION profiles_imrequest_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.chain_seq IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM profiles_auditanchor WHERE seq >= OLD.chain_seq
        ) THEN
            RAISE EXCEPTION 'audit row % is complete and cannot be deleted: the audit trail is append-only '
                '(audit_archive removes old rows behind an anchor)', OLD.id;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.chain_seq IS NOT NULL AND (
        (to_jsonb(NEW) - 'actor_id') IS DISTINCT FROM (to_jsonb(OLD) - 'actor_id')
        OR (NEW.actor_id IS NOT NULL AND NEW.actor_id IS DISTINCT FROM OLD.actor_id)
    ) THEN
        RAISE EXCEPTION 'audit row % is complete and cannot be changed: the audit trail is append-only', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS profiles_imrequest_append_only ON profiles_imrequest;
CREATE TRIGGER profiles_imrequest_append_only BEFORE UPDATE OR DELETE ON profiles_imrequest
    FOR EACH ROW EXECUTE FUNCTION profiles_imrequest_append_only();
"""

DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS profiles_imrequest_append_only ON profiles_imrequest;
DROP FUNCTION IF EXISTS profiles_imrequest_append_only();
"""

GROUP_PERMISSIONS = {
    "Audit reviewers": [
        "view_all_imrequest", "export_imrequest", "view_audit_dashboard", "view_auditexport", "view_auditanchor",
    ],
}


def seal_existing(apps, schema_editor):
    db = schema_editor.connection.alias
    request_model = apps.get_model("profiles", "ImRequest")
    head_model = apps.get_model("profiles", "AuditChainHead")
    head = head_model.objects.using(db).filter(pk=1).first()
    seq, previous = (head.seq, head.hash) if head else (0, auditchain.GENESIS)
    unsealed = (
        request_model.objects.using(db)
        .filter(chain_seq__isnull=True, completed_at__isnull=False)
        .order_by("id")
    )
    for row in unsealed.iterator(chunk_size=2000):
        seq += 1
        row.chain_seq, row.chain_prev = seq, previous
        values = {name: getattr(row, "pk" if name == "id" else name) for name in auditchain.HASHED_FIELDS}
        row.chain_hash = auditchain.row_hash(previous, values)
        row.save(update_fields=["chain_seq", "chain_prev", "chain_hash"])
        previous = row.chain_hash
    head_model.objects.using(db).update_or_create(pk=1, defaults={"seq": seq, "hash": previous})


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER_SQL, params=None)


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    db = schema_editor.connection.alias
    profiles_config = apps.get_app_config("profiles")
    profiles_config.models_module = True
    create_permissions(profiles_config, apps=apps, verbosity=0, using=db)
    profiles_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _created = group_model.objects.using(db).get_or_create(name=name)
        group.permissions.add(
            *permission_model.objects.using(db).filter(content_type__app_label="profiles", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0006_audit_chain"),
    ]

    operations = [
        migrations.RunPython(seal_existing, migrations.RunPython.noop),
        migrations.RunPython(add_trigger, drop_trigger),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
