"""Local copies of Tencent IM profiles, the app's custom tag definitions, and the changes Tencent
reported by webhook."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..errortext import recorded_text
from ..im import tags as catalogue
from ..labels import refusal_text


@deconstructible
class CatalogueValueValidator:
    """Validates a standard tag's value with the catalogue's own rule (docs/tencent-im.md §2)."""

    def __init__(self, wire_name: str) -> None:
        self.wire_name = wire_name

    def __call__(self, value: Any) -> None:
        if value in (None, ""):
            return
        try:
            catalogue.STANDARD_BY_WIRE[self.wire_name].validate(value)
        except catalogue.TagValueError as exc:
            raise ValidationError(refusal_text(exc), code=f"tencent_{exc.error_code}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CatalogueValueValidator) and other.wire_name == self.wire_name


def validate_user_id(value: str) -> None:
    try:
        catalogue.validate_user_id(value)
    except ValueError as exc:
        raise ValidationError(recorded_text(str(exc)), code="invalid_user_id") from None


def validate_custom_keyword(value: str) -> None:
    try:
        catalogue.validate_custom_keyword(value)
    except ValueError as exc:
        raise ValidationError(recorded_text(str(exc)), code="invalid_keyword") from None


def standard_tag_model_field(tag: catalogue.StandardTag) -> models.Field:
    """The model field for one standard tag; NULL means "not known / not set"."""
    common: dict[str, Any] = {
        # The catalogue's labels, translated when shown (the profile list's columns and filters).
        "verbose_name": _(tag.label),
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
        choices = [(value, _(label)) for value, label in tag.choices]
        return models.CharField(max_length=64, choices=choices, **common)
    # max_length counts characters; the byte limit is the catalogue validator's job.
    return models.CharField(max_length=tag.max_bytes or catalogue.MAX_VALUE_BYTES, **common)


class Profile(models.Model):
    """The app's local copy of one Tencent IM user's profile."""

    user_id = models.CharField(
        _("UserID"), max_length=catalogue.USER_ID_MAX_BYTES, unique=True, validators=[validate_user_id],
        help_text=_("The Tencent IM UserID (at most 32 bytes of printable ASCII)."),
    )
    # Custom tag values keyed by wire name (Tag_Profile_Custom_<keyword>); a missing key = unset.
    custom_values = models.JSONField(_("custom tag values"), default=dict, blank=True)
    # Tags Tencent returned that neither the catalogue nor a custom tag definition knows: kept and
    # shown, never dropped silently (a console field not yet defined here, for instance).
    unknown_tags = models.JSONField(_("unknown tags"), default=dict, blank=True, editable=False)
    # Optimistic locking: bumped on every local change, so a second agent's stale save is refused.
    version = models.PositiveIntegerField(_("version"), default=0, editable=False)
    last_pushed_at = models.DateTimeField(_("last saved to Tencent"), null=True, blank=True, editable=False)
    last_pulled_at = models.DateTimeField(_("last read from Tencent"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["user_id"]
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
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
                if value is None:  # docs/tencent-im.md §3: a custom tag with no value is simply absent
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
    """A custom profile tag as it is configured in the Tencent console (docs/tencent-im.md §3)."""

    class ValueType(models.TextChoices):
        STRING = catalogue.CustomValueType.STRING.value, _("String")
        BYTES = catalogue.CustomValueType.BYTES.value, _("Bytes")

    keyword = models.CharField(
        _("keyword"), max_length=catalogue.CUSTOM_KEYWORD_MAX_BYTES, unique=True, validators=[validate_custom_keyword],
        help_text=_(
            # Not "<keyword>": the admin shows help texts as HTML.
            "English letters only, at most 8; the tag's wire name is Tag_Profile_Custom_ followed by the keyword. "
            "Cannot be changed later, as in the Tencent console."
        ),
    )
    value_type = models.CharField(
        _("value type"), max_length=8, choices=ValueType.choices, default=ValueType.STRING,
        help_text=_(
            "As the console has it. Both travel as JSON strings of at most 500 bytes. Cannot be changed later."
        ),
    )
    label = models.CharField(_("label"), max_length=100, blank=True, help_text=_("A name shown to staff on the form."))
    admin_read = models.BooleanField(_("App admin may read"), default=True)
    admin_write = models.BooleanField(
        _("App admin may write"), default=True,
        help_text=_(
            "Must match the console. Without it Tencent refuses writes with 40008, so the form shows the field "
            "read-only."
        ),
    )
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["keyword"]
        verbose_name = _("custom tag definition")
        verbose_name_plural = _("custom tag definitions")

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
    tool), as reported by Tencent's Profile.CallbackPortraitSet webhook (docs/tencent-im.md §8)."""

    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    event_time = models.DateTimeField(
        _("event time"), null=True, blank=True, help_text=_("EventTime reported by Tencent.")
    )
    user_id = models.CharField(_("UserID"), max_length=64)
    operator_account = models.CharField(_("operator account"), max_length=64, blank=True)
    platform = models.CharField(
        _("platform"), max_length=16, blank=True, help_text=_("OptPlatform from the callback URL.")
    )
    client_ip = models.CharField(_("client IP"), max_length=64, blank=True)
    # [{"tag": wire name, "before": local value before, "after": reported value}]
    changes = models.JSONField(_("changes"), default=list)
    body = models.JSONField(_("body"), help_text=_("The callback body as received."))
    # SHA-256 of the callback's RequestTime and Sign, and of its body: the same signed delivery
    # received again is answered but not recorded twice.
    delivery_sha256 = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    body_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    # Its place in the external changes' own keyed chain (profiles.auditchain.EXTERNAL_FIELDS), which
    # audit_verify checks with the requests' chain.
    chain_seq = models.PositiveBigIntegerField(null=True, blank=True, unique=True, editable=False)
    chain_prev = models.CharField(max_length=64, blank=True, editable=False)
    chain_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("external change")
        verbose_name_plural = _("external changes")
        indexes = [models.Index(fields=["user_id", "received_at"], name="extchange_user_time")]

    def __str__(self) -> str:
        return gettext("%(user_id)s changed by %(operator)s (%(platform)s)") % {
            "user_id": self.user_id, "operator": self.operator_account or gettext("unknown"),
            "platform": self.platform or "?",
        }

    @property
    def tag_names(self) -> list[str]:
        return [change["tag"] for change in self.changes or []]
