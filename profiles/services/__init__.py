"""The service layer: everything that changes state or talks to Tencent (docs/conventions.md: services
write, selectors read). Every request to Tencent goes through ``gateway.im_call`` and is audited;
``profile_push`` is the only path to ``v4/profile/portrait_set``.
"""

from . import audit, jobpull, jobpush, jobs, revert
from .accounts import OpenOutcome, account_exists, profile_open
from .audit import AUTOCOMMIT_DB
from .callbacks import external_change_record
from .gateway import im_call, im_check, im_client
from .jobs import job_cancel, job_create, job_retry_failed, pull_job_create
from .localcopy import CopyUpdate, local_copies_store
from .pull import PullFailure, PullOutcome, profile_pull
from .push import Conflict, PushOutcome, profile_push
from .setup import AUDITORS_GROUP, EDITORS_GROUP, demo_seed_local, groups_ensure
from .validation import TagValidationError, custom_tag_check_limit, custom_tag_definitions, validate_tag_values

__all__ = [
    "audit",
    "revert",
    "job_cancel",
    "job_create",
    "job_retry_failed",
    "jobs",
    "Conflict",
    "OpenOutcome",
    "PullFailure",
    "PullOutcome",
    "account_exists",
    "profile_open",
    "profile_pull",
    "pull_job_create",
    "CopyUpdate",
    "local_copies_store",
    "jobpull",
    "jobpush",
    "AUDITORS_GROUP",
    "AUTOCOMMIT_DB",
    "EDITORS_GROUP",
    "PushOutcome",
    "TagValidationError",
    "custom_tag_check_limit",
    "custom_tag_definitions",
    "demo_seed_local",
    "external_change_record",
    "groups_ensure",
    "im_call",
    "im_check",
    "im_client",
    "profile_push",
    "validate_tag_values",
]
