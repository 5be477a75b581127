"""The app's models: local copies of profiles (profiles.py), the audit trail (audit.py), background
jobs and the rate limit (jobs.py)."""

from .audit import (
    ActorRecorded,
    AuditAnchor,
    AuditChainHead,
    AuditDayCount,
    AuditExport,
    AuditRowImmutable,
    ImRequest,
    ImRequestQuerySet,
    ImRequestSubject,
)
from .jobs import BulkJob, BulkJobItem, PullRound, RateSlot
from .profiles import (
    CatalogueValueValidator,
    CustomTagDefinition,
    ExternalChange,
    Profile,
    standard_tag_model_field,
    validate_custom_keyword,
    validate_user_id,
)
from .staff import StaffPreference

__all__ = [
    "ActorRecorded",
    "AuditAnchor",
    "AuditChainHead",
    "AuditDayCount",
    "AuditExport",
    "AuditRowImmutable",
    "BulkJob",
    "BulkJobItem",
    "CatalogueValueValidator",
    "CustomTagDefinition",
    "ExternalChange",
    "ImRequest",
    "ImRequestQuerySet",
    "ImRequestSubject",
    "Profile",
    "PullRound",
    "RateSlot",
    "StaffPreference",
    "standard_tag_model_field",
    "validate_custom_keyword",
    "validate_user_id",
]
