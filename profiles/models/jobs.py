"""Background jobs, their items and rounds, and the shared rate limit's places."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..errortext import recorded_text


class BulkJob(models.Model):
    """Background work on many profiles: an edit (a selection in the admin, a CSV file, the command
    line), or a refresh of every local copy from Tencent (``im_pull --all``)."""

    class Source(models.TextChoices):
        SELECTION = "selection", _("Admin selection")
        CSV = "csv", _("CSV import")
        COMMAND = "command", _("Command line")
        RETRY = "retry", _("Retry of failed items")

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("created by"),
    )
    created_by_username = models.CharField(_("created by"), max_length=150, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    # The CSV file's name, "42 selected profiles", or the job retried.
    source_name = models.CharField(_("source name"), max_length=255, blank=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="retries", verbose_name=_("retry of"),
    )
    class Kind(models.TextChoices):
        PUSH = "push", _("Set fields in Tencent")
        PULL = "pull", _("Refresh from Tencent")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.PUSH)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.QUEUED)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    total = models.PositiveIntegerField(_("total"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("bulk job")
        verbose_name_plural = _("bulk jobs")
        permissions = [
            ("run_bulkjob", "Can start bulk edit jobs"),
            # Without these, a member of staff sees, cancels and retries only the jobs they started.
            ("view_all_bulkjob", "Can see every bulk job"),
            ("manage_all_bulkjob", "Can see, cancel and retry every bulk job"),
        ]

    def __str__(self) -> str:
        return gettext("Job #%(pk)s (%(source)s: %(name)s)") % {
            "pk": self.pk, "source": self.get_source_display(), "name": recorded_text(self.source_name),
        }


class BulkJobItem(models.Model):
    """One user's edit within a job; it ends succeeded, failed or cancelled, exactly once."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        # A request may have gone out and its answer may never have been recorded (a worker died):
        # such an item is sent again, which is safe (docs/tencent-im.md §4: the same payload twice, same result).
        SENDING = "sending", _("Sending")
        RETRY_WAIT = "retry_wait", _("Waiting to retry")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        # A CSV row the check refused before the job was created: never sent, kept so the job's
        # results tell the whole story of the file (its reason in ``message``).
        REJECTED = "rejected", _("Rejected by check")

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="items")
    line = models.PositiveIntegerField(null=True, blank=True, help_text=_("Line in the CSV file."))
    user_id = models.CharField(_("UserID"), max_length=64)
    values = models.JSONField(help_text=_("Tag → value, in wire form."))
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


class PullRound(models.Model):
    """Up to a thousand UserIDs of a refresh job, pulled by one django-q2 task. When it ends, the round
    counts the users it refreshed, and the others get an item each (failed with the reason, or
    cancelled): a refresh of every copy writes an item only for a user that needs one (the audit rows
    already name every user each read asked for)."""

    class State(models.TextChoices):  # internal: never shown (the job's items say how it went)
        PENDING = "pending"
        TAKEN = "taken"
        DONE = "done"

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    user_ids = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Which worker holds the round, and until when; a lapsed claim means that worker died.
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    refreshed = models.PositiveIntegerField(default=0)  # users whose copy the round refreshed

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="pullround_job_number")]

    def __str__(self) -> str:
        return f"job #{self.job_id} round {self.number}"


class RateSlot(models.Model):
    """One of the places in an API command's rate limit, shared by every process (docs/tencent-im.md
    §1: 200 calls/s for portrait_set, portrait_get, account_import; 100 for the others). A command has
    as many places as calls it may make in a second. A call holds its place until its answer is back;
    the place is free again one second later."""

    command = models.CharField(max_length=64)
    number = models.PositiveIntegerField()
    free_at = models.FloatField(default=0.0)  # Unix time from which the place may carry its next call
    holder = models.CharField(max_length=32, blank=True)  # the call in flight through it, if any

    class Meta:
        constraints = [models.UniqueConstraint(fields=["command", "number"], name="rateslot_command_number")]

    def __str__(self) -> str:
        return f"{self.command} #{self.number}"
