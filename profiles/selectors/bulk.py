"""The *Set fields…* preview: what a bulk edit would change in the selected local copies, in plain words.

Only real changes are shown ("Gender: Unknown → Female"); profiles whose local copy already holds every
requested value are counted, not listed. The database counts them, so a selection of every profile costs
one query, not a read of each row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from ..im import tags as catalogue
from ..labels import TagText, custom_labels, describe_change, tag_label, value_label
from ..models import Profile

SAMPLE_SIZE = 10


@dataclass(frozen=True)
class RequestedTag:
    """One tag the bulk edit sets (or clears), in plain words."""

    wire: str
    label: str
    value: str
    clear: bool


@dataclass(frozen=True)
class SampleProfile:
    user_id: str
    changes: list[TagText]


@dataclass(frozen=True)
class BulkPreview:
    total: int
    # Selected profiles whose local copy already holds every requested value.
    unchanged: int
    requested: list[RequestedTag]
    # The first profiles that would change, with only the tags that change.
    sample: list[SampleProfile]

    @property
    def changing(self) -> int:
        return self.total - self.unchanged

    @property
    def sample_hidden(self) -> int:
        return self.changing - len(self.sample)


def same_value(before: Any, after: Any) -> bool:
    """Whether setting ``after`` over ``before`` changes nothing: no value and empty text are both "nothing
    there" (as the push compares them)."""
    if before in (None, "") and after == "":
        return True
    return before == after


def _lookup(wire_name: str) -> str:
    standard = catalogue.STANDARD_BY_WIRE.get(wire_name)
    # Custom values live in one JSON object, keyed by wire name (letters, digits, single underscores).
    return standard.field_name if standard is not None else f"custom_values__{wire_name}"


def changed_filter(values: Mapping[str, Any]) -> Q:
    """The local copies that some value of ``values`` would change (the database's ``not same_value``).

    Spelled out rather than ``exclude()``d: a custom tag absent from the JSON object is NULL there, and
    a negated comparison with NULL would leave out the very profiles that lack the tag."""
    condition = Q()
    for wire_name, value in values.items():
        lookup = _lookup(wire_name)
        if value == "":
            condition |= Q(**{f"{lookup}__isnull": False}) & ~Q(**{lookup: ""})
        else:
            condition |= Q(**{f"{lookup}__isnull": True}) | ~Q(**{lookup: value})
    return condition


def profile_changes(profile: Profile, values: Mapping[str, Any], custom: Mapping[str, str]) -> list[TagText]:
    """The tags of ``values`` that would change ``profile``'s local copy, as "Label: before → after"."""
    return [
        describe_change(wire_name, profile.tag_value(wire_name), value, custom)
        for wire_name, value in values.items()
        if not same_value(profile.tag_value(wire_name), value)
    ]


def bulk_preview(
    queryset: QuerySet[Profile], values: Mapping[str, Any], *, sample_size: int = SAMPLE_SIZE
) -> BulkPreview:
    """What setting ``values`` on the selected profiles would change, by their local copies."""
    custom = custom_labels() if any(catalogue.is_custom_tag_name(tag) for tag in values) else {}
    changing = queryset.filter(changed_filter(values))
    sample = [
        SampleProfile(profile.user_id, profile_changes(profile, values, custom))
        for profile in changing.order_by("pk")[:sample_size]
    ]
    requested = [
        RequestedTag(wire=wire_name, label=tag_label(wire_name, custom), value=value_label(wire_name, value),
                     clear=value == "")
        for wire_name, value in values.items()
    ]
    total = queryset.count()
    return BulkPreview(total=total, unchanged=total - changing.count(), requested=requested, sample=sample)
