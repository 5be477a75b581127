"""The audit trail: every request sent to Tencent, the hash chain's head and archive anchors, the
dashboard's day counts and the record of exports."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..errortext import error_meaning, transport_reason


class ActorRecorded(models.Model):
    """Who did it: the staff account, and its username as text, so a record still names the person
    after their account is deleted (the link is then cleared)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("actor"),
    )
    actor_username = models.CharField(_("actor's username"), max_length=150, blank=True)

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
        ADMIN = "admin", _("Admin form")
        COMMAND = "command", _("Command line")
        JOB = "job", _("Background job")
        SYSTEM = "system", _("System")

    class State(models.TextChoices):
        PENDING = "pending", _("Sent, no answer recorded")
        OK = "ok", _("Accepted")
        IM_ERROR = "im_error", _("Refused by Tencent")
        TRANSPORT_ERROR = "transport_error", _("Transport error")
        # The process died between sending and recording the answer; found and closed later.
        UNANSWERED = "unanswered", _("No answer ever recorded")

    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    # Why the request was sent, in words ("open user", "conflict check before saving", ...).
    purpose = models.CharField(_("purpose"), max_length=64, blank=True)
    user_id = models.CharField(_("UserID"), max_length=64, blank=True)
    command = models.CharField(_("command"), max_length=64)
    request_body = models.JSONField(_("request body"))
    random = models.PositiveBigIntegerField(
        _("random"), help_text=_("The request's random nonce (docs/tencent-im.md §1).")
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    action_status = models.CharField(_("ActionStatus"), max_length=8, blank=True)
    error_code = models.IntegerField(_("ErrorCode"), null=True, blank=True)
    error_info = models.TextField(_("ErrorInfo"), blank=True)
    error_display = models.TextField(_("ErrorDisplay"), blank=True)
    transport_error = models.TextField(_("transport error"), blank=True)
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    latency_ms = models.FloatField(_("latency (ms)"), null=True, blank=True)
    # [{"tag": wire name, "before": value, "after": value}] for every tag in the request.
    changes = models.JSONField(_("changes"), default=list, blank=True)
    # What the service concluded from the answer, when more than the ErrorCode (e.g. a conflict).
    note = models.TextField(_("note"), blank=True)
    # For background jobs: which job, and which attempt of that item this request was.
    job = models.ForeignKey(
        "BulkJob", null=True, blank=True, on_delete=models.PROTECT, related_name="requests", verbose_name=_("job"),
    )
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    # A push that undoes an earlier one points at it. No database constraint: the original may be
    # archived (audit_archive) while the revert stays.
    reverts = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="reverted_by",
        verbose_name=_("reverts"),
    )
    # The hash chain (profiles.services.audit): position, the previous row's hash, this row's hash
    # over its canonical content and that previous hash. Empty while the request is pending.
    chain_seq = models.PositiveBigIntegerField(_("chain position"), null=True, blank=True, unique=True, editable=False)
    chain_prev = models.CharField(_("previous row's hash"), max_length=64, blank=True, editable=False)
    chain_hash = models.CharField(_("hash"), max_length=64, blank=True, editable=False)
    # The hash format the row was sealed with (profiles.auditchain: 1 unkeyed, 2 keyed with AUDIT_KEY),
    # and the actor's account id as recorded, which format 2 covers (``actor`` is cleared when the
    # staff account is deleted).
    chain_format = models.PositiveSmallIntegerField(default=2, editable=False)
    actor_pk = models.PositiveBigIntegerField(null=True, blank=True, editable=False)

    objects = ImRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("Tencent request")
        verbose_name_plural = _("Tencent requests (audit)")
        permissions = [
            ("view_all_imrequest", "Can view every staff member's audit rows"),
            ("export_imrequest", "Can export the audit trail"),
            ("view_audit_dashboard", "Can view the audit dashboard"),
        ]
        indexes = [
            # PostgreSQL: the pattern operator class lets a UserID prefix search (LIKE 'u_1%') use this
            # index whatever the database's collation, and serves equality as before; other databases
            # ignore operator classes (SQLite's prefix search is a range, profiles.selectors.audit).
            models.Index(
                fields=["user_id", "created_at"], name="imrequest_user_prefix_time",
                opclasses=["varchar_pattern_ops", "timestamptz_ops"],
            ),
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
        """The ErrorCode's meaning, or why no answer came, in the reader's language."""
        if self.error_code is None:
            return transport_reason(self.transport_error)
        return error_meaning(self.error_code)


class AuditChainHead(models.Model):
    """The end of the audit hash chain: the last sealed row's position and hash. One row (id 1),
    locked by every seal, so rows sealed by several processes at once still form one chain; it also
    tells audit_verify where the chain must end (so removing the newest rows shows)."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    # HMAC of (seq, hash) under AUDIT_KEY: a database writer cannot wind the end back or move it.
    signature = models.CharField(max_length=64, blank=True)

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

    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    seq = models.PositiveBigIntegerField(_("position"), unique=True)
    hash = models.CharField(_("hash"), max_length=64)
    before = models.DateTimeField(_("before"), help_text=_("Rows created before this were archived."))
    rows = models.PositiveBigIntegerField(_("rows"), default=0)
    file_name = models.CharField(_("file name"), max_length=500)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64)
    # HMAC under AUDIT_KEY of where the chain continues and the file's hash: a forged anchor
    # (to hide rows deleted below it) does not verify.
    signature = models.CharField(_("signature"), max_length=64, blank=True)

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit archive")
        verbose_name_plural = _("audit archives")

    def __str__(self) -> str:
        return gettext("Anchor at #%(seq)s (%(file)s)") % {"seq": self.seq, "file": self.file_name}


class AuditExport(ActorRecorded):
    """One download of the audit trail: who, when, which filter, which format, how many rows."""

    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    format = models.CharField(_("format"), max_length=8)
    # The audit list's query string: the filters and search the export applied.
    filter = models.TextField(_("filter"), blank=True)
    rows = models.PositiveBigIntegerField(
        _("rows"), null=True, blank=True, help_text=_("Empty until the download finished.")
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit export")
        verbose_name_plural = _("audit exports")

    def __str__(self) -> str:
        return gettext("%(format)s export by %(actor)s at %(when)s") % {
            "format": self.format, "actor": self.actor_username or gettext("unknown"),
            "when": f"{self.created_at:%Y-%m-%d %H:%M}",
        }


class ImRequestSubject(models.Model):
    """The UserIDs a batch request concerns (a portrait_get of up to 100 users), so a user's
    history finds it. Single-user requests need none: ImRequest.user_id says it."""

    request = models.ForeignKey(ImRequest, on_delete=models.PROTECT, related_name="subjects")
    user_id = models.CharField(_("UserID"), max_length=64)

    class Meta:
        indexes = [models.Index(fields=["user_id"], name="imrequestsubject_user")]
        constraints = [models.UniqueConstraint(fields=["request", "user_id"], name="imrequestsubject_unique")]

    def __str__(self) -> str:
        return self.user_id
