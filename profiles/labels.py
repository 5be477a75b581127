"""Plain words for tags and values: what staff read instead of Tencent's wire names.

Every page, message and table that names a tag or shows a value goes through here, so "Gender:
Unknown → Female" is written one way everywhere. The wire name stays available (``TagText.wire``) for
the small print where staff need it. Labels come from the catalogue (standard tags, enum choices) and
from the app's custom tag definitions; they are translated when shown (``gettext`` at call time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from .im import tags as catalogue

NOT_SET = "(not set)"


def custom_labels() -> dict[str, str]:
    """Wire name → the label staff gave each custom tag (its keyword when it has none)."""
    from .models import CustomTagDefinition

    return {
        catalogue.CUSTOM_TAG_PREFIX + keyword: label or keyword
        for keyword, label in CustomTagDefinition.objects.values_list("keyword", "label")
    }


def tag_label(wire_name: str, custom: Mapping[str, str] | None = None) -> str:
    """"Nickname" for Tag_Profile_IM_Nick; a custom tag's label or keyword; an unknown tag as it is.

    ``custom`` (from :func:`custom_labels`) saves a query when many tags are labelled at once."""
    standard = catalogue.STANDARD_BY_WIRE.get(wire_name)
    if standard is not None:
        return gettext(standard.label)
    if catalogue.is_custom_tag_name(wire_name):
        labels = custom if custom is not None else custom_labels()
        return labels.get(wire_name) or catalogue.keyword_from_wire(wire_name)
    return wire_name


def value_label(wire_name: str, value: Any) -> str:
    """"Female" for Gender_Type_Female; "(not set)" for no value; other values as text."""
    if value is None or value == "":
        return gettext(NOT_SET)
    standard = catalogue.STANDARD_BY_WIRE.get(wire_name)
    if standard is not None and standard.choices:
        for wire_value, label in standard.choices:
            if wire_value == value:
                return gettext(label)
    return str(value)


@dataclass(frozen=True)
class TagText:
    """One tag's change in plain words, with the wire name kept for the small print."""

    wire: str
    label: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.label}: {self.before} → {self.after}"


def describe_change(wire_name: str, before: Any, after: Any, custom: Mapping[str, str] | None = None) -> TagText:
    return TagText(
        wire=wire_name, label=tag_label(wire_name, custom),
        before=value_label(wire_name, before), after=value_label(wire_name, after),
    )


def describe_changes(changes: Iterable[Mapping[str, Any]]) -> list[TagText]:
    """An audit row's ``changes`` (``{"tag", "before", "after"}`` dicts) in plain words, one query at most."""
    changes = list(changes)
    custom = custom_labels() if any(catalogue.is_custom_tag_name(c.get("tag", "")) for c in changes) else {}
    return [describe_change(c.get("tag", ""), c.get("before"), c.get("after"), custom) for c in changes]


def describe_tags(wire_names: Iterable[str], custom: Mapping[str, str] | None = None) -> str:
    """"Nickname, Gender" for a list of wire names."""
    names = list(wire_names)
    if custom is None and any(catalogue.is_custom_tag_name(name) for name in names):
        custom = custom_labels()
    return ", ".join(tag_label(name, custom or {}) for name in names)
