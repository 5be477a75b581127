"""The admin: importing the modules registers their ModelAdmins with the default admin site.

- ``profiles``: the Tencent profiles and the custom tag definitions (edited here).
- ``audit``: the read-only audit trail, its exports and archives, and external changes.
- ``jobs``: the background bulk jobs.
- ``logins``: failed logins, lockouts and sign-ins (django-axes), authenticators (django-otp), the login form.
"""

from . import audit, jobs, logins, profiles, tasks

__all__ = ["audit", "jobs", "logins", "profiles", "tasks"]
