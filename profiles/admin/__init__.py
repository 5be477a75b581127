"""The admin: importing the modules registers their ModelAdmins with the default admin site.

- ``profiles``: the Tencent profiles and the custom tag definitions (edited here).
- ``audit``: the read-only audit trail, its exports and archives, and external changes.
- ``jobs``: the background bulk jobs.
"""

from . import audit, jobs, profiles, tasks

__all__ = ["audit", "jobs", "profiles", "tasks"]
