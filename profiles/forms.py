"""The profile edit form: one typed field per standard tag and per defined custom tag.

Its ``clean()`` pushes through the service, so a refusal from Tencent comes back as a form error
with the user's input intact (docs/conventions.md: never catch a service error in ``save_model``).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from . import labels, services
from .formconflicts import OVERWRITE_PURPOSE, ConflictHandling, parse_conflict_base, parse_moment
from .im import tags as catalogue
from .models import CustomTagDefinition, ImRequest, Profile

CUSTOM_FIELD_PREFIX = "custom_"


def _count_text() -> str:
    """The byte counter's words (profiles/bytecount.js fills in the numbers), in the reader's language."""
    # Translators: keep %(used)s and %(max)s; the page's script puts the numbers there.
    return gettext("%(used)s / %(max)s bytes")


class ByteCountedTextInput(forms.TextInput):
    """A text input that shows how many UTF-8 bytes are used of the tag's limit."""

    def __init__(self, max_bytes: int, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({
            "data-max-bytes": str(max_bytes), "data-count-text": _count_text(), "class": "vTextField byte-counted",
            **(attrs or {}),
        })

    class Media:
        js = ["profiles/bytecount.js"]


class ByteCountedTextarea(forms.Textarea):
    def __init__(self, max_bytes: int, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({
            "data-max-bytes": str(max_bytes), "data-count-text": _count_text(), "class": "byte-counted", "rows": 3,
            **(attrs or {}),
        })

    class Media:
        js = ["profiles/bytecount.js"]


def custom_field_name(definition: CustomTagDefinition) -> str:
    return CUSTOM_FIELD_PREFIX + definition.keyword


def standard_form_field(tag: catalogue.StandardTag) -> forms.Field:
    """The form field for one standard tag, derived from the catalogue; label, help and choices in the
    reader's language, the wire name kept in the help text for whoever matches it with Tencent's documents."""
    label = labels.tag_label(tag.wire_name)
    help_text = f"{tag.wire_name} — {gettext(tag.help_text)}"
    if tag.value_type is catalogue.ValueType.UINT32:
        return forms.IntegerField(
            label=label, help_text=help_text, required=False, min_value=0, max_value=catalogue.UINT32_MAX,
            widget=forms.NumberInput(attrs={"min": 0, "max": catalogue.UINT32_MAX, "step": 1}),
        )
    if tag.value_type is catalogue.ValueType.ENUM:
        return forms.ChoiceField(
            label=label, help_text=help_text, required=False,
            choices=[("", gettext("— not set / unknown —")), *((value, labels.value_label(tag.wire_name, value))
                                                     for value in tag.allowed_values)],
        )
    max_bytes = tag.max_bytes or catalogue.MAX_VALUE_BYTES
    widget: forms.Widget = (
        ByteCountedTextarea(max_bytes) if tag.field_name == "self_signature" else ByteCountedTextInput(max_bytes)
    )
    # strip=False: leading and trailing spaces are part of what Tencent stores.
    return forms.CharField(label=label, help_text=help_text, required=False, strip=False, widget=widget)


def custom_form_field(definition: CustomTagDefinition) -> forms.Field:
    help_text = gettext("%(wire)s — a custom tag of type %(type)s, at most %(max)s bytes.") % {
        "wire": definition.wire_name, "type": definition.value_type, "max": catalogue.MAX_VALUE_BYTES,
    }
    if not definition.admin_write:
        help_text += " " + gettext(
            "Read-only here: the app admin has no write permission on this tag in the Tencent console "
            "(Tencent would answer 40008)."
        )
    return forms.CharField(
        label=definition.label or definition.wire_name, help_text=help_text, required=False, strip=False,
        widget=ByteCountedTextInput(catalogue.MAX_VALUE_BYTES), disabled=not definition.admin_write,
    )


def display_value(value: Any) -> str:
    """A tag value as a form input shows it."""
    return "" if value is None else str(value)


class ProfileForm(ConflictHandling, forms.ModelForm):
    """Edit one profile; saving pushes the changed tags to Tencent through ``profile_push``.

    Hidden fields carry what the edit started from: the local copy's version, every tag's value
    (the base of the conflict check against Tencent) and when the form was opened (to name who
    changed the profile meanwhile); after a conflict, what *Keep mine* saves over.
    """

    actor: AbstractBaseUser | None = None
    source: str = ImRequest.Source.ADMIN
    custom_definitions: tuple[CustomTagDefinition, ...] = ()
    # "Revert this change": the audit row whose before values pre-fill the form.
    revert_source: ImRequest | None = None

    # Hidden, but the admin still writes their labels into the page.
    loaded_version = forms.IntegerField(
        label=gettext_lazy("Version loaded"), widget=forms.HiddenInput, required=False,
    )
    started_from = forms.CharField(
        label=gettext_lazy("Values started from"), widget=forms.HiddenInput, required=False, strip=False,
    )
    reverts = forms.IntegerField(label=gettext_lazy("Reverts"), widget=forms.HiddenInput, required=False)
    loaded_at = forms.CharField(label=gettext_lazy("Loaded at"), widget=forms.HiddenInput, required=False)
    conflict_base = forms.CharField(
        label=gettext_lazy("Conflict base"), widget=forms.HiddenInput, required=False, strip=False,
    )
    confirm_birthday = forms.BooleanField(required=False, label=gettext_lazy("Yes, save this birthday anyway"))

    class Meta:
        model = Profile
        fields = ["user_id", *(tag.field_name for tag in catalogue.STANDARD_TAGS)]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.push_outcome: services.PushOutcome | None = None
        self.init_conflicts()
        for tag in catalogue.STANDARD_TAGS:
            if tag.field_name in self.fields:
                self.fields[tag.field_name] = standard_form_field(tag)
        stored = self.instance.custom_values or {}
        for definition in self.custom_definitions:
            name = custom_field_name(definition)
            if name in self.fields:
                self.fields[name] = custom_form_field(definition)
                self.initial.setdefault(name, stored.get(definition.wire_name))
        if self.instance.pk is not None:
            self.initial["loaded_version"] = self.instance.version
            self.initial["started_from"] = json.dumps(self._tag_values(self.instance))
        self.revert_row = self._revert_row()

    def _revert_row(self) -> ImRequest | None:
        """The audit row this edit reverts: pre-fill its before values on a new form; on a posted
        one, the row named by the hidden field."""
        if self.instance.pk is None:
            return None
        if not self.is_bound:
            row = self.revert_source
            if row is not None:
                self.initial["reverts"] = row.pk
                for wire_name, before in services.revert.revert_values(row).items():
                    field_name = self._field_for_tag(wire_name)
                    if field_name is not None:
                        self.initial[field_name] = before
            return row
        raw = str(self.data.get(self.add_prefix("reverts"), "")).strip()
        return ImRequest.objects.filter(pk=int(raw)).first() if raw.isascii() and raw.isdigit() else None

    @property
    def revert_changes(self) -> list[labels.TagText]:
        """What the revert sets back, in plain words ("Gender: Female → Unknown"), for the banner."""
        if self.revert_row is None:
            return []
        return labels.describe_changes(self.revert_row.changes or [], undo=True)

    def _tag_fields(self) -> list[tuple[str, str, bool, bool]]:
        """(form field, wire name, is text, writable) for every tag on the form."""
        fields = [
            (tag.field_name, tag.wire_name, tag.value_type is catalogue.ValueType.STRING, True)
            for tag in catalogue.STANDARD_TAGS
        ]
        fields += [(custom_field_name(d), d.wire_name, True, d.admin_write) for d in self.custom_definitions]
        return [field for field in fields if field[0] in self.fields]

    def _tag_values(self, profile: Profile) -> dict[str, Any]:
        return {wire_name: profile.tag_value(wire_name) for _f, wire_name, _t, _w in self._tag_fields()}

    def _field_for_tag(self, wire_name: str | None) -> str | None:
        for field_name, field_wire_name, _text, _writable in self._tag_fields():
            if field_wire_name == wire_name:
                return field_name
        return None

    def clean_loaded_at(self) -> Any:
        return parse_moment(self.cleaned_data.get("loaded_at"))

    def clean_conflict_base(self) -> dict[str, Any] | None:
        return parse_conflict_base(self.cleaned_data.get("conflict_base") or "")

    def clean_started_from(self) -> dict[str, Any] | None:
        raw = self.cleaned_data.get("started_from")
        if not raw:
            return None
        try:
            started = json.loads(raw)
        except ValueError:
            started = None
        if not isinstance(started, dict):
            raise forms.ValidationError(
                gettext("The form's starting values are damaged; reload the page and edit again.")
            )
        return started

    def _requested_values(self, started: dict[str, Any]) -> dict[str, Any]:
        """The tag values the form asks for, in wire form; blank means "leave it" where possible."""
        values: dict[str, Any] = {}
        for field_name, wire_name, is_text, writable in self._tag_fields():
            if not writable or field_name not in self.cleaned_data:
                continue
            value = self.cleaned_data[field_name]
            before = started.get(wire_name, self.instance.tag_value(wire_name))
            if value in (None, ""):
                if before in (None, ""):
                    continue
                if not is_text:
                    # docs/tencent-im.md §2: numbers and enums have no "unset" on the wire.
                    self.add_error(field_name, gettext("Tencent cannot unset this tag; choose a value instead."))
                    continue
                value = ""
            elif value == before:
                # Left as it was: not sent, so not checked either. A value Tencent holds that this
                # app would not accept typed (a control character) must not block the other edits.
                continue
            values[wire_name] = value
        return values

    def _load_current_values(self) -> None:
        """Re-show the form with the local copy's current values (just refreshed from Tencent) in
        every field that changed since the edit began; the agent's other edits stay as typed."""
        current = Profile.objects.get(pk=self.instance.pk)
        started = self.cleaned_data.get("started_from") or {}
        data = self.data.copy()
        loaded = []
        for field_name, wire_name, _text, _writable in self._tag_fields():
            now = current.tag_value(wire_name)
            if wire_name not in started or started[wire_name] != now:
                data[field_name] = display_value(now)
                loaded.append(str(self.fields[field_name].label))
        data["loaded_version"] = str(current.version)
        data["started_from"] = json.dumps(self._tag_values(current))
        data["loaded_at"] = timezone.now().isoformat()
        data["conflict_base"] = ""
        self.data = data
        if loaded:
            self.inform(gettext(
                "Loaded Tencent's current values for %(fields)s. Your other edits are kept; check them and save."
            ) % {"fields": ", ".join(loaded)})
        else:
            self.inform(gettext("Tencent's values are the ones you started from; nothing was loaded."))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        profile = self.instance
        if profile.pk is not None and "_use_remote" in self.data and "started_from" not in self.errors:
            self._load_current_values()
            return cleaned
        if self.errors:
            return cleaned
        if profile.pk is None:
            profile.user_id = cleaned.get("user_id", "")
            if Profile.objects.filter(user_id=profile.user_id).exists():
                self.add_error("user_id", gettext("A local copy of this UserID already exists; open it instead."))
                return cleaned
        started_from = cleaned.get("started_from")
        started = started_from or {}
        since = cleaned.get("loaded_at")
        expected_version = cleaned.get("loaded_version")
        purpose = note = ""
        keep = self.keep_mine_base()
        if keep is not None:
            # Keep mine: what the conflict table showed is the new base; Tencent is still checked
            # against it, so a change made after the table was shown stops the save again.
            started = started_from = {**started, **keep["values"]}
            expected_version = keep["version"]
        values = self._requested_values(started)
        self.check_birthday(values, started)
        reverts = None
        if cleaned.get("reverts") is not None:
            reverts = self.revert_row
            refusal = services.revert.revert_refusal(row=reverts, actor=self.actor, profile=profile)
            if refusal is not None:
                self.add_error(None, gettext("Cannot revert: %(why)s") % {"why": refusal})
        if self.errors:
            return cleaned
        if keep is not None:
            note = self.overwrite_note(base=keep, values=values, since=since)
            purpose = OVERWRITE_PURPOSE if note else ""
        try:
            self.push_outcome = services.profile_push(
                profile=profile, values=values, actor=self.actor, source=self.source,
                started_from=started_from, expected_version=expected_version,
                reverts=reverts, purpose=purpose, note=note,
            )
        except services.TagValidationError as exc:
            for wire_name, message in exc.errors.items():
                self.add_error(self._field_for_tag(wire_name), message)
            return cleaned
        outcome = self.push_outcome
        touched = {tag for tag, value in values.items() if value != started.get(tag)}
        if outcome.conflicts:
            self.show_conflicts(
                outcome, since=keep["at"] if keep is not None else since, started=started, touched=touched,
                base=keep,
            )
        elif not outcome.ok:
            self.add_error(self._field_for_tag(outcome.tag), outcome.message)
        elif outcome.stale:
            self.note_taken(since=since, started=started, touched=touched)
        return cleaned


def profile_form_class(
    *, actor: AbstractBaseUser | None, definitions: list[CustomTagDefinition], base: type[ProfileForm] = ProfileForm,
    revert_source: ImRequest | None = None,
) -> type[ProfileForm]:
    """A ProfileForm subclass that declares one field per custom tag definition."""
    attrs: dict[str, Any] = {
        "actor": actor,
        "custom_definitions": tuple(definitions),
        "revert_source": revert_source,
        "__module__": __name__,
    }
    for definition in definitions:
        attrs[custom_field_name(definition)] = custom_form_field(definition)
    return type("ProfileAdminForm", (base,), attrs)


class CustomTagDefinitionForm(forms.ModelForm):
    class Meta:
        model = CustomTagDefinition
        fields = ["keyword", "value_type", "label", "admin_read", "admin_write", "description"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk is None:
            try:
                services.custom_tag_check_limit()
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned


class DashboardRangeForm(forms.Form):
    """The audit dashboard's range of UTC days (a GET form). Either date may be left blank: the
    default is the last ``DEFAULT_DAYS`` days up to today."""

    DEFAULT_DAYS = 30
    # A year and a leap day: the chart stays legible and the page fast.
    MAX_DAYS = 366

    start = forms.DateField(
        label=gettext_lazy("From"), required=False, input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
        error_messages={
            "invalid": gettext_lazy("The start date is not a date: write it as YYYY-MM-DD, e.g. 2024-06-01."),
        },
    )
    end = forms.DateField(
        label=gettext_lazy("To (inclusive)"), required=False, input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
        error_messages={
            "invalid": gettext_lazy("The end date is not a date: write it as YYYY-MM-DD, e.g. 2024-06-30."),
        },
    )

    # Nothing in the trail is older; and the date arithmetic stays far from date.min and date.max.
    EARLIEST = date(1970, 1, 1)

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    @property
    def latest(self) -> date:
        """The last day a range may name: a year ahead (future days are empty, but may be asked for)."""
        return self.today + timedelta(days=self.MAX_DAYS)

    def _clean_day(self, name: str) -> date | None:
        day = self.cleaned_data.get(name)
        if day is not None and not self.EARLIEST <= day <= self.latest:
            if name == "start":
                message = gettext(
                    "The start date (%(day)s) is outside the days the dashboard can show: %(earliest)s to %(latest)s."
                )
            else:
                message = gettext(
                    "The end date (%(day)s) is outside the days the dashboard can show: %(earliest)s to %(latest)s."
                )
            raise forms.ValidationError(message % {
                "day": day.isoformat(), "earliest": self.EARLIEST.isoformat(), "latest": self.latest.isoformat(),
            }, code="out_of_range")
        return day

    def clean_start(self) -> date | None:
        return self._clean_day("start")

    def clean_end(self) -> date | None:
        return self._clean_day("end")

    def default_range(self) -> tuple[date, date]:
        return self.today - timedelta(days=self.DEFAULT_DAYS - 1), self.today

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None and end is None:
            start, end = self.default_range()
        elif start is None:
            start = end - timedelta(days=self.DEFAULT_DAYS - 1)
        elif end is None:
            end = max(start, self.today)
        if start > end:
            raise forms.ValidationError(
                gettext("The start date (%(start)s) is after the end date (%(end)s).")
                % {"start": start.isoformat(), "end": end.isoformat()}, code="reversed",
            )
        days = (end - start).days + 1
        if days > self.MAX_DAYS:
            raise forms.ValidationError(
                gettext(
                    "The range from %(start)s to %(end)s covers %(days)s days; the dashboard shows at most "
                    "%(max)s days at a time."
                ) % {"start": start.isoformat(), "end": end.isoformat(), "days": days, "max": self.MAX_DAYS},
                code="too_long",
            )
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def date_range(self) -> tuple[date, date]:
        """The range to show: the one asked for when valid, otherwise the default (the page still
        renders, with the form's errors saying why)."""
        if self.is_valid():
            return self.cleaned_data["start"], self.cleaned_data["end"]
        return self.default_range()
