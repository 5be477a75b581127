"""What the benchmarks share: a throwaway database, Django set up for it, and the emulator in a
process of its own (Tencent's servers are not in ours, so it must not share our interpreter lock)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def set_up_django(database_dir: str | None = None) -> None:
    """Django on a SQLite file in ``database_dir`` (migrated), or on DATABASE_URL as already set."""
    # Before django.setup(): settings read DATABASE_URL once, at import.
    os.environ["DJANGO_SETTINGS_MODULE"] = "improfile_site.settings"
    if database_dir is not None:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(database_dir) / 'bench.sqlite3'}"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if database_dir is not None:
        call_command("migrate", verbosity=0, interactive=False)
    # Production runs with DEBUG off; with it on, every query is also timed and kept in
    # connection.queries, a cost only development pays.
    settings.DEBUG = False
