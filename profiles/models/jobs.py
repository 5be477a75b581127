"""Background jobs and their items, and the shared rate-limit windows."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class BulkJob(models.Model):
    """Background work on many profiles: an edit (a selection in the admin, a CSV file, the command
    line), or a refresh of every local copy from Tencent (``im_pull --all``)."""

    class Source(models.TextChoices):
        SELECTION = "selection", "Admin selection"
        CSV = "csv", "CSV import"
        COMMAND = "command", "Command line"
        RETRY = "retry", "Retry of failed items"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_username = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    # The CSV file's name, "42 selected profiles", or the job retried.
    source_name = models.CharField(max_length=255, blank=True)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="retries")
    class Kind(models.TextChoices):
        PUSH = "push", "Set fields in Tencent"
        PULL = "pull", "Refresh from Tencent"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PUSH)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("run_bulkjob", "Can start bulk edit jobs"),
            # Without these, a member of staff sees, cancels and retries only the jobs they started.
            ("view_all_bulkjob", "Can see every bulk job"),
            ("manage_all_bulkjob", "Can see, cancel and retry every bulk job"),
        ]

    def __str__(self) -> str:
        return f"Job #{self.pk} ({self.get_source_display()}: {self.source_name})"


class BulkJobItem(models.Model):
    """One user's edit within a job; it ends succeeded, failed or cancelled, exactly once."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        # A request may have gone out and its answer may never have been recorded (a worker died):
        # such an item is sent again, which is safe (docs/tencent-im.md §4: the same payload twice, same result).
        SENDING = "sending", "Sending"
        RETRY_WAIT = "retry_wait", "Waiting to retry"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        # A CSV row the check refused before the job was created: never sent, kept so the job's
        # results tell the whole story of the file (its reason in ``message``).
        REJECTED = "rejected", "Rejected by check"

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="items")
    line = models.PositiveIntegerField(null=True, blank=True, help_text="Line in the CSV file.")
    user_id = models.CharField("UserID", max_length=64)
    values = models.JSONField(help_text="Tag → value, in wire form.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Which worker slice holds the item, and until when; a lapsed claim means that worker died.
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    # For a failed item: whether sending it again can help (docs/tencent-im.md §6: a retryable ErrorCode,
    # or no answer at all). *Retry failed items* takes only these; the others need a fix first.
    retryable = models.BooleanField(default=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "id"]
        indexes = [models.Index(fields=["job", "state"], name="bulkjobitem_job_state")]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.state})"


class RateWindow(models.Model):
    """The send times of the last second's calls for one API command, shared by every process
    (docs/tencent-im.md §1: 200 calls/s for portrait_set, portrait_get, account_import; 100 for the others)."""

    command = models.CharField(max_length=64, unique=True)
    # Unix times of the calls sent in the last second, oldest first: all calls, and background ones.
    stamps = models.JSONField(default=list)
    job_stamps = models.JSONField(default=list)

    def __str__(self) -> str:
        return self.command
