"""The "autocommit" and "ratelimit" aliases are further connections to the default database, never
databases of their own."""

from __future__ import annotations


class AuditRouter:
    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool | None:
        if db in ("autocommit", "ratelimit"):
            return False
        return None
