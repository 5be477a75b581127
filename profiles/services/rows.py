"""Writing one model row with one plain statement, for the writes made on every request to Tencent
(the audit row, the local copy after a push), where Model.save's per-call machinery (signals
aside, none are connected here) costs more than the statement itself.

Values go through each field's ``pre_save`` (auto_now, auto_now_add) and ``get_db_prep_save``,
and the statements through Django's connection and its operations, as Model.save would. Each runs
in its write turn (services/writeturn)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import DatabaseError, connections, models, router

from .writeturn import write_turn


def prepared_insert(obj: models.Model, *, using: str | None = None) -> Callable[[], None]:
    """The INSERT of the new ``obj`` as one prepared statement, to run later (it sets ``obj.pk``).
    Everything but the execution is done here, before: the caller may run it inside a short
    transaction that should hold its lock for no longer than the statement."""
    model = type(obj)
    using = using or router.db_for_write(model, instance=obj)
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    returning = connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {quote(model._meta.pk.column)}"

    def execute() -> None:
        with write_turn(using), connection.cursor() as cursor:
            cursor.execute(sql, values)
            obj.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
        obj._state.adding, obj._state.db = False, using

    return execute


def update_fields(obj: models.Model, names: Iterable[str], *, using: str | None = None) -> None:
    """``obj.save(update_fields=names)`` as one plain UPDATE; raises DatabaseError, as save does,
    when the row is gone."""
    model = type(obj)
    using = using or obj._state.db or router.db_for_write(model, instance=obj)
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in dict.fromkeys(names)]
    values = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in fields]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    with write_turn(using), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s",  # noqa: S608
            [*values, obj.pk],
        )
        if cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")
