"""Plain words for tags and values: what staff read instead of Tencent's wire names.

Every page, message and table that names a tag or shows a value goes through here, so "Gender:
Unknown → Female" is written one way everywhere. The wire name stays available (``TagText.wire``) for
the small print where staff need it. Labels come from the catalogue (standard tags, enum choices) and
from the app's custom tag definitions; they are translated when shown (``gettext`` at call time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from .im import client as commands
from .im import tags as catalogue

if TYPE_CHECKING:
    from .models import CustomTagDefinition

NOT_SET = gettext_noop("(not set)")

# What each Tencent command does, for people; the command itself stays as small print.
COMMAND_LABELS = {
    commands.PORTRAIT_SET: gettext_noop("Profile change"),
    commands.PORTRAIT_GET: gettext_noop("Profile read"),
    commands.ACCOUNT_CHECK: gettext_noop("Account check"),
    commands.ACCOUNT_IMPORT: gettext_noop("Account import"),
    commands.MULTIACCOUNT_IMPORT: gettext_noop("Account import (several)"),
}


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


def describe_changes(
    changes: Iterable[Mapping[str, Any]], *, undo: bool = False, custom: Mapping[str, str] | None = None
) -> list[TagText]:
    """An audit row's ``changes`` (``{"tag", "before", "after"}`` dicts) in plain words, one query at most.

    ``undo``: described as reverting them would change them (after → before)."""
    changes = list(changes)
    if custom is None:
        custom = custom_labels() if any(catalogue.is_custom_tag_name(c.get("tag", "")) for c in changes) else {}
    if undo:
        return [describe_change(c.get("tag", ""), c.get("after"), c.get("before"), custom) for c in changes]
    return [describe_change(c.get("tag", ""), c.get("before"), c.get("after"), custom) for c in changes]


def describe_tags(wire_names: Iterable[str], custom: Mapping[str, str] | None = None) -> str:
    """"Nickname, Gender" for a list of wire names."""
    names = list(wire_names)
    if custom is None and any(catalogue.is_custom_tag_name(name) for name in names):
        custom = custom_labels()
    return ", ".join(tag_label(name, custom or {}) for name in names)


def command_label(command: str) -> str:
    """"Profile change" for profile/portrait_set; a command this app does not name stays as it is."""
    label = COMMAND_LABELS.get(command)
    return gettext(label) if label is not None else command


def refusal_text(exc: catalogue.TagValueError, custom: Mapping[str, str] | None = None) -> str:
    """A catalogue refusal in the reader's language, naming the tag by its label ("Gender: 'Robot' is
    not one of Unknown, Female, Male (Tencent's values: …)")."""
    if not exc.template:
        return exc.message
    params = {**exc.params, "label": tag_label(exc.tag, custom)}
    standard = catalogue.STANDARD_BY_WIRE.get(exc.tag)
    if "choices" in params and standard is not None:
        params["choices"] = ", ".join(gettext(label) for _value, label in standard.choices)
    return gettext(exc.template) % params


# --- names people type (CSV headers, enum cells) ---------------------------------------------------


def in_each_language(text: str) -> list[str]:
    """``text`` and its translation into every language the app offers (settings.LANGUAGES), each once."""
    variants = [text]
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            variants.append(gettext(text))
    return list(dict.fromkeys(variants))


@dataclass
class TagVocabulary:
    """Every name staff may give a tag or an enum value, in every language the app offers.

    Built once per file from the catalogue, the translations and the custom tag definitions; a name
    that belongs to two tags (a custom keyword equal to a standard label) is kept with both, so using
    it is an error naming the choices rather than a guess.
    """

    # normalized name → the wire names it may mean
    names: dict[str, set[str]] = field(default_factory=dict)
    # standard enum tag → normalized text → wire value
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    # wire name → every accepted name, for telling people what they may write
    accepted: dict[str, list[str]] = field(default_factory=dict)

    def add_name(self, wire_name: str, name: str) -> None:
        if not name:
            return
        self.names.setdefault(catalogue.normalize_name(name), set()).add(wire_name)
        accepted = self.accepted.setdefault(wire_name, [])
        if name not in accepted:
            accepted.append(name)

    def resolve(self, name: str) -> str:
        """The wire name ``name`` means; raises catalogue.TagNameError when it means none or several."""
        return catalogue.resolve_tag_name(name, self.names)

    def parse(self, wire_name: str, text: str) -> str | int:
        """A cell's text as the tag's value (enum labels in any offered language → wire values)."""
        return catalogue.parse_text_value(wire_name, text, self.values.get(wire_name))


def tag_vocabulary(definitions: Iterable[CustomTagDefinition]) -> TagVocabulary:
    """The names of the standard tags (wire name, short name, label in each language) and of the
    custom tags in ``definitions`` (wire name, keyword, label), and the enum values' labels."""
    vocabulary = TagVocabulary()
    for tag in catalogue.STANDARD_TAGS:
        for name in (*in_each_language(tag.label), tag.field_name, tag.wire_name):
            vocabulary.add_name(tag.wire_name, name)
        if tag.choices:
            aliases = vocabulary.values.setdefault(tag.wire_name, {})
            for value, label in tag.choices:
                for name in (value, *in_each_language(label)):
                    aliases.setdefault(catalogue.normalize_name(name), value)
    for definition in definitions:
        for name in (definition.label, definition.keyword, definition.wire_name):
            vocabulary.add_name(definition.wire_name, name)
    return vocabulary
