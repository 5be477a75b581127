"""Local copies of Tencent IM profiles, the app's custom tag definitions, and the audit trail."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone
from django.utils.deconstruct import deconstructible

from .im import tags as catalogue
from .im.errors import describe


@deconstructible
class CatalogueValueValidator:
    """Validates a standard tag's value with the catalogue's own rule (spec §2)."""

    def __init__(self, wire_name: str) -> None:
        self.wire_name = wire_name

    def __call__(self, value: Any) -> None:
        if value in (None, ""):
            return
        try:
            catalogue.STANDARD_BY_WIRE[self.wire_name].validate(value)
        except catalogue.TagValueError as exc:
            raise ValidationError(exc.message, code=f"tencent_{exc.error_code}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CatalogueValueValidator) and other.wire_name == self.wire_name


def validate_user_id(value: str) -> None:
    try:
        catalogue.validate_user_id(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_user_id") from None


def validate_custom_keyword(value: str) -> None:
    try:
        catalogue.validate_custom_keyword(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_keyword") from None


def standard_tag_model_field(tag: catalogue.StandardTag) -> models.Field:
    """The model field for one standard tag; NULL means "not known / not set"."""
    common: dict[str, Any] = {
        "verbose_name": tag.label,
        "help_text": tag.help_text,
        "null": True,
        "blank": True,
        "validators": [CatalogueValueValidator(tag.wire_name)],
    }
    if tag.value_type is catalogue.ValueType.UINT32:
        # PositiveBigIntegerField: a uint32 does not fit PostgreSQL's signed int4.
        common["validators"].append(MaxValueValidator(catalogue.UINT32_MAX))
        return models.PositiveBigIntegerField(**common)
    if tag.value_type is catalogue.ValueType.ENUM:
        return models.CharField(max_length=64, choices=list(tag.choices), **common)
    # max_length counts characters; the byte limit is the catalogue validator's job.
    return models.CharField(max_length=tag.max_bytes or catalogue.MAX_VALUE_BYTES, **common)


class Profile(models.Model):
    """The app's local copy of one Tencent IM user's profile."""

    user_id = models.CharField(
        "UserID", max_length=catalogue.USER_ID_MAX_BYTES, unique=True, validators=[validate_user_id],
        help_text="The Tencent IM UserID (at most 32 bytes of printable ASCII).",
    )
    # Custom tag values keyed by wire name (Tag_Profile_Custom_<keyword>); a missing key = unset.
    custom_values = models.JSONField(default=dict, blank=True)
    # Tags Tencent returned that neither the catalogue nor a custom tag definition knows: kept and
    # shown, never dropped silently (a console field not yet defined here, for instance).
    unknown_tags = models.JSONField(default=dict, blank=True, editable=False)
    # Optimistic locking: bumped on every local change, so a second agent's stale save is refused.
    version = models.PositiveIntegerField(default=0, editable=False)
    last_pushed_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_pulled_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]
        permissions = [("import_account", "Can import an account into Tencent IM")]

    def __str__(self) -> str:
        return self.user_id

    def tag_value(self, wire_name: str) -> Any:
        standard = catalogue.STANDARD_BY_WIRE.get(wire_name)
        if standard is not None:
            return getattr(self, standard.field_name)
        return (self.custom_values or {}).get(wire_name)

    def apply_tag_values(self, values: dict[str, Any]) -> list[str]:
        """Set tag values on this instance (no save); returns the model fields touched."""
        fields: list[str] = []
        for wire_name, value in values.items():
            standard = catalogue.STANDARD_BY_WIRE.get(wire_name)
            if standard is not None:
                setattr(self, standard.field_name, value)
                fields.append(standard.field_name)
            else:
                custom = dict(self.custom_values or {})
                if value is None:  # spec §3: a custom tag with no value is simply absent
                    custom.pop(wire_name, None)
                else:
                    custom[wire_name] = value
                self.custom_values = custom
                if "custom_values" not in fields:
                    fields.append("custom_values")
        return fields


for _tag in catalogue.STANDARD_TAGS:
    Profile.add_to_class(_tag.field_name, standard_tag_model_field(_tag))


class CustomTagDefinition(models.Model):
    """A custom profile tag as it is configured in the Tencent console (spec §3)."""

    class ValueType(models.TextChoices):
        STRING = catalogue.CustomValueType.STRING.value, "String"
        BYTES = catalogue.CustomValueType.BYTES.value, "Bytes"

    keyword = models.CharField(
        max_length=catalogue.CUSTOM_KEYWORD_MAX_BYTES, unique=True, validators=[validate_custom_keyword],
        help_text="English letters only, at most 8; the tag is Tag_Profile_Custom_<keyword>. "
        "Cannot be changed later, as in the Tencent console.",
    )
    value_type = models.CharField(
        max_length=8, choices=ValueType.choices, default=ValueType.STRING,
        help_text="As the console has it. Both travel as JSON strings of at most 500 bytes. "
        "Cannot be changed later.",
    )
    label = models.CharField(max_length=100, blank=True, help_text="A name shown to staff on the form.")
    admin_read = models.BooleanField("App admin may read", default=True)
    admin_write = models.BooleanField(
        "App admin may write", default=True,
        help_text="Must match the console. Without it Tencent refuses writes with 40008, so the form "
        "shows the field read-only.",
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["keyword"]

    def __str__(self) -> str:
        return self.wire_name

    @property
    def wire_name(self) -> str:
        return catalogue.CUSTOM_TAG_PREFIX + self.keyword

    def as_catalogue(self) -> catalogue.CustomTag:
        return catalogue.CustomTag(
            keyword=self.keyword,
            value_type=catalogue.CustomValueType(self.value_type),
            admin_read=self.admin_read,
            admin_write=self.admin_write,
            label=self.label or self.wire_name,
        )


class ExternalChange(models.Model):
    """A profile change made outside this application (the user's app, the console, another
    tool), as reported by Tencent's Profile.CallbackPortraitSet webhook (spec §8)."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    event_time = models.DateTimeField(null=True, blank=True, help_text="EventTime reported by Tencent.")
    user_id = models.CharField("UserID", max_length=64)
    operator_account = models.CharField(max_length=64, blank=True)
    platform = models.CharField(max_length=16, blank=True, help_text="OptPlatform from the callback URL.")
    client_ip = models.CharField(max_length=64, blank=True)
    # [{"tag": wire name, "before": local value before, "after": reported value}]
    changes = models.JSONField(default=list)
    body = models.JSONField(help_text="The callback body as received.")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["user_id", "received_at"], name="extchange_user_time")]

    def __str__(self) -> str:
        return f"{self.user_id} changed by {self.operator_account or 'unknown'} ({self.platform or '?'})"

    @property
    def tag_names(self) -> list[str]:
        return [change["tag"] for change in self.changes or []]


class ActorRecorded(models.Model):
    """Who did it: the staff account, and its username as text, so a record still names the person
    after their account is deleted (the link is then cleared)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
    )
    actor_username = models.CharField(max_length=150, blank=True)

    class Meta:
        abstract = True

    @staticmethod
    def actor_values(actor: Any) -> dict[str, Any]:
        """The two fields for ``actor``: empty for nobody (the system) or an anonymous user."""
        if actor is None or not getattr(actor, "is_authenticated", False):
            return {"actor": None, "actor_username": ""}
        return {"actor": actor, "actor_username": actor.get_username()}


class AuditRowImmutable(Exception):
    """Raised on an attempt to change or delete a complete audit row through the ORM."""


class ImRequestQuerySet(models.QuerySet):
    """Refuses ``update()`` and ``delete()`` on complete audit rows: once a row is sealed into the
    chain it can only be read (profiles.services.audit seals it; audit_archive removes old ones)."""

    def _refuse_if_sealed(self, verb: str) -> None:
        sealed = self.filter(chain_seq__isnull=False).values_list("pk", flat=True)[:1]
        first = list(sealed)
        if first:
            raise AuditRowImmutable(
                f"Audit row #{first[0]} is complete and cannot be {verb}: the audit trail is append-only "
                "(python manage.py audit_archive is the only way to remove old rows)."
            )

    def update(self, **kwargs: Any) -> int:
        self._refuse_if_sealed("changed")
        return super().update(**kwargs)

    def delete(self):
        self._refuse_if_sealed("deleted")
        return super().delete()

    delete.queryset_only = True


class ImRequest(ActorRecorded):
    """One request sent to Tencent, written before it is sent and completed when it returns.

    Rows are written only by the service layer, through the "autocommit" connection, so they survive
    a rollback of the caller's transaction. A complete row is sealed into a hash chain (``chain_*``,
    profiles.services.audit) and can no longer be changed or deleted through the ORM.
    """

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin form"
        COMMAND = "command", "Command line"
        JOB = "job", "Background job"
        SYSTEM = "system", "System"

    class State(models.TextChoices):
        PENDING = "pending", "Sent, no answer recorded"
        OK = "ok", "Accepted"
        IM_ERROR = "im_error", "Refused by Tencent"
        TRANSPORT_ERROR = "transport_error", "Transport error"
        # The process died between sending and recording the answer; found and closed later.
        UNANSWERED = "unanswered", "No answer ever recorded"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    # Why the request was sent, in words ("open user", "conflict check before saving", ...).
    purpose = models.CharField(max_length=64, blank=True)
    user_id = models.CharField("UserID", max_length=64, blank=True)
    command = models.CharField(max_length=64)
    request_body = models.JSONField()
    random = models.PositiveBigIntegerField(help_text="The request's random nonce (spec §1).")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    action_status = models.CharField(max_length=8, blank=True)
    error_code = models.IntegerField("ErrorCode", null=True, blank=True)
    error_info = models.TextField(blank=True)
    error_display = models.TextField(blank=True)
    transport_error = models.TextField(blank=True)
    response_body = models.JSONField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    # [{"tag": wire name, "before": value, "after": value}] for every tag in the request.
    changes = models.JSONField(default=list, blank=True)
    # What the service concluded from the answer, when more than the ErrorCode (e.g. a conflict).
    note = models.TextField(blank=True)
    # For background jobs: which job, and which attempt of that item this request was.
    job = models.ForeignKey("BulkJob", null=True, blank=True, on_delete=models.PROTECT, related_name="requests")
    attempt = models.PositiveSmallIntegerField(default=1)
    # A push that undoes an earlier one points at it. No database constraint: the original may be
    # archived (audit_archive) while the revert stays.
    reverts = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="reverted_by",
    )
    # The hash chain (profiles.services.audit): position, the previous row's hash, this row's hash
    # over its canonical content and that previous hash. Empty while the request is pending.
    chain_seq = models.PositiveBigIntegerField(null=True, blank=True, unique=True, editable=False)
    chain_prev = models.CharField(max_length=64, blank=True, editable=False)
    chain_hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = ImRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "Tencent request"
        verbose_name_plural = "Tencent requests (audit)"
        permissions = [
            ("view_all_imrequest", "Can view every staff member's audit rows"),
            ("export_imrequest", "Can export the audit trail"),
            ("view_audit_dashboard", "Can view the audit dashboard"),
        ]
        indexes = [
            models.Index(fields=["user_id", "created_at"], name="imrequest_user_time"),
            models.Index(fields=["error_code", "created_at"], name="imrequest_code_time"),
            models.Index(fields=["actor", "created_at"], name="imrequest_actor_time"),
            models.Index(fields=["action_status", "created_at"], name="imrequest_status_time"),
            models.Index(fields=["command", "created_at"], name="imrequest_command_time"),
        ]

    def __str__(self) -> str:
        return f"{self.command} {self.user_id} @ {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and self.pk is not None:
            ImRequest.objects.using(kwargs.get("using") or self._state.db).filter(pk=self.pk)._refuse_if_sealed(
                "changed"
            )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any):
        if self.pk is not None:
            ImRequest.objects.using(kwargs.get("using") or self._state.db).filter(pk=self.pk)._refuse_if_sealed(
                "deleted"
            )
        return super().delete(*args, **kwargs)

    @property
    def tag_names(self) -> list[str]:
        return [change["tag"] for change in self.changes or []]

    @property
    def error_meaning(self) -> str:
        if self.error_code is None:
            return self.transport_error
        return describe(self.error_code).meaning


class AuditChainHead(models.Model):
    """The end of the audit hash chain: the last sealed row's position and hash. One row (id 1),
    locked by every seal, so rows sealed by several processes at once still form one chain; it also
    tells audit_verify where the chain must end (so removing the newest rows shows)."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:12]}"


class AuditDayCount(models.Model):
    """How many sealed audit rows each UTC day has, per actor and outcome: the dashboard's counts,
    kept up to date by each seal (and by audit_archive when it removes rows), so the dashboard
    reads a few thousand of these instead of a million audit rows."""

    day = models.DateField()
    actor_username = models.CharField(max_length=150, blank=True)
    # False for a request with no ErrorCode (no answer); then error_code is 0.
    answered = models.BooleanField()
    error_code = models.IntegerField()
    requests = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "actor_username", "answered", "error_code"], name="auditdaycount_unique"
            ),
        ]

    def __str__(self) -> str:
        code = self.error_code if self.answered else "no answer"
        return f"{self.day} {self.actor_username or 'system'} {code}: {self.requests}"


class AuditAnchor(models.Model):
    """Where the chain starts after audit_archive removed the rows before it: the last archived
    row's position and hash, and the file they went to."""

    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True)
    seq = models.PositiveBigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    before = models.DateTimeField(help_text="Rows created before this were archived.")
    rows = models.PositiveBigIntegerField(default=0)
    file_name = models.CharField(max_length=500)
    file_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        verbose_name = "audit archive"

    def __str__(self) -> str:
        return f"Anchor at #{self.seq} ({self.file_name})"


class AuditExport(ActorRecorded):
    """One download of the audit trail: who, when, which filter, which format, how many rows."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    format = models.CharField(max_length=8)
    # The audit list's query string: the filters and search the export applied.
    filter = models.TextField(blank=True)
    rows = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty until the download finished.")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.format} export by {self.actor_username or 'unknown'} at {self.created_at:%Y-%m-%d %H:%M}"


class ImRequestSubject(models.Model):
    """The UserIDs a batch request concerns (a portrait_get of up to 100 users), so a user's
    history finds it. Single-user requests need none: ImRequest.user_id says it."""

    request = models.ForeignKey(ImRequest, on_delete=models.PROTECT, related_name="subjects")
    user_id = models.CharField("UserID", max_length=64)

    class Meta:
        indexes = [models.Index(fields=["user_id"], name="imrequestsubject_user")]
        constraints = [models.UniqueConstraint(fields=["request", "user_id"], name="imrequestsubject_unique")]

    def __str__(self) -> str:
        return self.user_id


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
        permissions = [("run_bulkjob", "Can start bulk edit jobs")]

    def __str__(self) -> str:
        return f"Job #{self.pk} ({self.get_source_display()}: {self.source_name})"


class BulkJobItem(models.Model):
    """One user's edit within a job; it ends succeeded, failed or cancelled, exactly once."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        # A request may have gone out and its answer may never have been recorded (a worker died):
        # such an item is sent again, which is safe (spec §4: the same payload twice, same result).
        SENDING = "sending", "Sending"
        RETRY_WAIT = "retry_wait", "Waiting to retry"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

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
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "id"]
        indexes = [models.Index(fields=["job", "state"], name="bulkjobitem_job_state")]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.state})"


class RateWindow(models.Model):
    """The send times of the last second's calls for one API command, shared by every process
    (spec §1: 200 calls/s for portrait_set, portrait_get, account_import; 100 for the others)."""

    command = models.CharField(max_length=64, unique=True)
    # Unix times of the calls sent in the last second, oldest first: all calls, and background ones.
    stamps = models.JSONField(default=list)
    job_stamps = models.JSONField(default=list)

    def __str__(self) -> str:
        return self.command
