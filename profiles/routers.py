"""The "autocommit" alias is a second connection to the default database, never a database of its own."""

from __future__ import annotations


class AuditRouter:
    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool | None:
        if db == "autocommit":
            return False
        return None
