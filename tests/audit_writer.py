"""A process for the concurrent-sealing test: sends N audited requests to the emulator, as a web
worker or a job worker would, while other processes do the same. Configured by the environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "improfile_site.settings")
    import django

    django.setup()
    from profiles.services import im_check

    for _ in range(int(sys.argv[1])):
        im_check(actor=None, source="command")
