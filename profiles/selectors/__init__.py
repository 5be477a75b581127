"""Read-side queries (docs/conventions.md: selectors read), returning typed values: who sees which audit
rows and a user's timeline (``audit``), the auditors' dashboard (``dashboard``), a background
job's progress and failures (``jobs``), and who changed a profile while an agent edited it
(``conflicts``)."""

from .audit import (
    HistoryEntry,
    Timeline,
    audit_row_pages,
    audit_rows_visible_to,
    error_codes_present,
    profile_history,
    rows_for_user_id_prefix,
    sees_whole_trail,
    timeline_rows_visible_to,
    user_timeline,
)
from .conflicts import ChangeCause, ConflictReport, TakenChange, change_causes, conflict_report
from .dashboard import Dashboard, audit_dashboard, audit_dashboard_for
from .jobs import (
    FailedItem,
    JobFailures,
    JobProgress,
    NotRetried,
    job_failures,
    job_not_retried,
    job_outcomes,
    job_progress,
    jobs_visible_to,
    may_manage_job,
)

__all__ = [
    "ChangeCause",
    "ConflictReport",
    "TakenChange",
    "change_causes",
    "conflict_report",
    "Dashboard",
    "HistoryEntry",
    "Timeline",
    "FailedItem",
    "JobFailures",
    "JobProgress",
    "NotRetried",
    "job_not_retried",
    "jobs_visible_to",
    "may_manage_job",
    "audit_dashboard",
    "audit_dashboard_for",
    "audit_row_pages",
    "audit_rows_visible_to",
    "error_codes_present",
    "job_failures",
    "job_outcomes",
    "job_progress",
    "profile_history",
    "rows_for_user_id_prefix",
    "sees_whole_trail",
    "timeline_rows_visible_to",
    "user_timeline",
]
