"""A worker process for the multi-process job tests: works one job with ``job_work`` until it is
finished, as a django-q2 worker running ``run_job_slice`` would. Configured by the environment."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "improfile_site.settings")
    import django

    django.setup()
    from profiles.services.jobpush import job_work

    job_id = int(sys.argv[1])
    deadline = time.monotonic() + 60
    while not job_work(job_id=job_id, seconds=2) and time.monotonic() < deadline:
        time.sleep(0.02)
