"""The *Set fields…* form: for every tag a choice of leave alone / set to a value / clear.

A blank field alone cannot say whether staff meant "leave it" or "make it empty", so the choice is
explicit. Clear is offered only where Tencent takes an empty value: text tags (docs/tencent-im.md §2,
§3); an enum or a number has no empty value on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminRadioSelect
from django.forms.boundfield import BoundField
from django.forms.utils import ErrorList
from django.utils.translation import gettext, gettext_lazy

from . import services
from .forms import custom_field_name, custom_form_field, standard_form_field
from .im import tags as catalogue
from .labels import tag_label, value_label
from .models import CustomTagDefinition

LEAVE, SET, CLEAR = "leave", "set", "clear"
CHOICE_PREFIX = "do_"

_CLEAR_HELP = gettext_lazy("“Clear” sets it to empty text.")
_NO_CLEAR_HELP = {
    catalogue.ValueType.ENUM: gettext_lazy(
        "It cannot be cleared: Tencent has no empty value for it, so set one of its values instead."
    ),
    catalogue.ValueType.UINT32: gettext_lazy(
        "It cannot be cleared: Tencent has no empty value for a number; set 0 if the app reads 0 as none."
    ),
}


@dataclass(frozen=True)
class TagRow:
    """One tag of the form as the template lays it out: label, choice, value, help, errors."""

    name: str
    wire: str
    label: str
    choice: BoundField
    value: BoundField
    help: str
    clearable: bool

    @property
    def errors(self) -> ErrorList:
        return ErrorList([*self.choice.errors, *self.value.errors])


@dataclass(frozen=True)
class Fieldset:
    name: str
    rows: list[TagRow]


def _value_field(tag: catalogue.StandardTag) -> forms.Field:
    """The value to set: the profile form's field, but an enum offers its values by their labels."""
    if tag.value_type is catalogue.ValueType.ENUM:
        labelled = [(wire, value_label(tag.wire_name, wire)) for wire, _label in tag.choices]
        return forms.ChoiceField(required=False, choices=[("", gettext("— choose —")), *labelled])
    return standard_form_field(tag)


class BulkSetForm(forms.Form):
    """The tags to set on many profiles at once; every tag is left alone unless chosen."""

    def __init__(self, *args: Any, definitions: list[CustomTagDefinition], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = [d for d in definitions if d.admin_write]
        # (field name, wire name, clearable, help) in the order shown; two fieldsets.
        self._standard: list[tuple[str, str, bool, str]] = []
        self._custom: list[tuple[str, str, bool, str]] = []
        custom = {d.wire_name: d.label or d.keyword for d in self.definitions}
        for tag in catalogue.STANDARD_TAGS:
            clearable = tag.value_type is catalogue.ValueType.STRING
            extra = _CLEAR_HELP if clearable else _NO_CLEAR_HELP[tag.value_type]
            self._add(tag.field_name, tag.wire_name, _value_field(tag), clearable, custom)
            self._standard.append((tag.field_name, tag.wire_name, clearable, f"{gettext(tag.help_text)} {extra}"))
        for definition in self.definitions:
            name = custom_field_name(definition)
            self._add(name, definition.wire_name, custom_form_field(definition), True, custom)
            help_text = gettext("Custom tag: text of at most %(n)s bytes in UTF-8.") % {"n": catalogue.MAX_VALUE_BYTES}
            self._custom.append((name, definition.wire_name, True, f"{help_text} {_CLEAR_HELP}"))
        self.values: dict[str, Any] = {}

    def _add(self, name: str, wire: str, value_field: forms.Field, clearable: bool, custom: dict[str, str]) -> None:
        choices = [(LEAVE, gettext("Leave alone")), (SET, gettext("Set to"))]
        if clearable:
            choices.append((CLEAR, gettext("Clear")))
        self.fields[CHOICE_PREFIX + name] = forms.ChoiceField(
            label=tag_label(wire, custom), choices=choices, initial=LEAVE, required=False,
            widget=AdminRadioSelect(attrs={"class": "radiolist inline bulk-choice"}),
        )
        value_field.label = tag_label(wire, custom)
        value_field.help_text = ""
        value_field.widget.attrs["data-bulk-choice"] = CHOICE_PREFIX + name
        self.fields[name] = value_field

    @property
    def fieldsets(self) -> list[Fieldset]:
        sets = [Fieldset(gettext("Standard profile"), self._rows(self._standard))]
        if self._custom:
            sets.append(Fieldset(gettext("Custom tags"), self._rows(self._custom)))
        return sets

    def _rows(self, tags: list[tuple[str, str, bool, str]]) -> list[TagRow]:
        return [
            TagRow(name=name, wire=wire, label=str(self.fields[name].label), choice=self[CHOICE_PREFIX + name],
                   value=self[name], help=help_text, clearable=clearable)
            for name, wire, clearable, help_text in tags
        ]

    def tag_values(self) -> dict[str, Any]:
        """The requested values by wire name ("" for a clear), after is_valid()."""
        return dict(self.values)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        values: dict[str, Any] = {}
        for name, wire, clearable, _help in self._standard + self._custom:
            if name in self.errors or CHOICE_PREFIX + name in self.errors:
                continue
            choice = cleaned.get(CHOICE_PREFIX + name) or LEAVE
            value = cleaned.get(name)
            typed = value not in (None, "")
            if choice == LEAVE and typed:
                self.add_error(name, gettext(
                    "You gave a value but chose “Leave alone”: choose “Set to” to use it, or empty the field."
                ))
            elif choice == SET and not typed:
                self.add_error(name, gettext(
                    "Give the value to set, choose “Clear” to empty it, or choose “Leave alone”."
                ) if clearable else gettext("Give the value to set, or choose “Leave alone”."))
            elif choice == CLEAR and not clearable:
                self.add_error(name, gettext("This tag cannot be cleared: Tencent has no empty value for it."))
            elif choice == CLEAR and typed:
                self.add_error(name, gettext(
                    "You chose “Clear” but gave a value: choose “Set to” to use it, or empty the field."
                ))
            elif choice == SET:
                values[wire] = value
            elif choice == CLEAR:
                values[wire] = ""
        if not values and not self.errors:
            raise forms.ValidationError(gettext("Choose at least one tag to set or clear."))
        try:
            services.validate_tag_values(values, definitions={d.wire_name: d for d in self.definitions})
        except services.TagValidationError as exc:
            for wire_name, message in exc.errors.items():
                self.add_error(self._field_for(wire_name), message)
        self.values = values
        return cleaned

    def _field_for(self, wire_name: str) -> str | None:
        for name, wire, _clearable, _help in self._standard + self._custom:
            if wire == wire_name:
                return name
        return None
