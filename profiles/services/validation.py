"""Validation of tag values against the catalogue before anything is sent (docs/tencent-im.md §2, §3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext, gettext_noop

from .. import labels
from ..errortext import recorded_text
from ..im import tags as catalogue
from ..models import CustomTagDefinition
from .audit import AUTOCOMMIT_DB

# Refusals before sending, marked for translation (and recognised when a job item recorded them in English).
NOT_DEFINED = gettext_noop(
    "%(tag)s is not a standard tag nor a custom tag defined here (Tencent would answer 40009)."
)
NOT_WRITABLE = gettext_noop(
    "The app admin has no write permission on %(label)s (%(tag)s) in the Tencent console (Tencent would answer "
    "40008); grant 'App admin write' there first."
)
WOULD_ANSWER = gettext_noop("%(refusal)s (Tencent would answer %(code)s).")
RECORDED_MESSAGES = (NOT_DEFINED, NOT_WRITABLE, WOULD_ANSWER)


class TagValidationError(ValueError):
    """One or more values Tencent would refuse; nothing was sent. ``errors`` maps tag → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{tag}: {message}" for tag, message in errors.items()))


def custom_tag_definitions() -> dict[str, CustomTagDefinition]:
    # Read outside the caller's transaction: on SQLite (WAL) a read there would pin a snapshot
    # that the audit row's commit makes stale, and the later local-copy write would fail.
    return {
        definition.wire_name: definition
        for definition in CustomTagDefinition.objects.using(AUTOCOMMIT_DB).all()
    }


def validate_tag_values(
    values: Mapping[str, Any], *, definitions: Mapping[str, CustomTagDefinition] | None = None,
) -> dict[str, Any]:
    """Check every value against the catalogue (docs/tencent-im.md §2, §3) and return them in wire form.

    Every path that sends values calls it (the profile form through ``profile_push``, the set-fields
    form, CSV rows, ``im_set``), so it also refuses text with control characters, the app's own rule
    (``catalogue.control_character_problem``). Raises TagValidationError naming each bad tag, so nothing
    is sent when anything is wrong.
    """
    if definitions is None:
        # Read only when a value needs them: a push of standard tags makes no query for them.
        needed = any(wire_name not in catalogue.STANDARD_BY_WIRE for wire_name in values)
        definitions = custom_tag_definitions() if needed else {}
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    # Custom tags named by their labels (or keywords) in messages.
    custom = {name: d.label or d.keyword for name, d in definitions.items()}
    for wire_name, value in values.items():
        standard = catalogue.STANDARD_BY_WIRE.get(wire_name)
        definition = definitions.get(wire_name)
        try:
            if standard is not None:
                cleaned[wire_name] = standard.validate(value)
            elif definition is None:
                errors[wire_name] = gettext(NOT_DEFINED) % {"tag": wire_name}
                continue
            elif not definition.admin_write:
                # The console knows the tag by its keyword: both names are given.
                errors[wire_name] = gettext(NOT_WRITABLE) % {
                    "label": definition.label or definition.keyword, "tag": wire_name,
                }
                continue
            else:
                cleaned[wire_name] = definition.as_catalogue().validate(value)
        except catalogue.TagValueError as exc:
            errors[wire_name] = gettext(WOULD_ANSWER) % {
                "refusal": labels.refusal_text(exc, custom), "code": exc.error_code,
            }
            continue
        if isinstance(value, str) and (problem := catalogue.control_character_problem(wire_name, value)):
            errors[wire_name] = gettext("%(tag)s %(problem)s") % {
                "tag": labels.tag_label(wire_name, custom), "problem": recorded_text(problem),
            }
    if errors:
        raise TagValidationError(errors)
    return cleaned


def custom_tag_check_limit() -> None:
    """docs/tencent-im.md §3: at most 20 custom tags per app. Raises ValueError when the app is full."""
    count = CustomTagDefinition.objects.count()
    if count >= catalogue.CUSTOM_TAG_LIMIT:
        raise ValueError(gettext(
            "This app already has %(count)s custom tags; Tencent allows at most %(max)s and they cannot be deleted."
        ) % {"count": count, "max": catalogue.CUSTOM_TAG_LIMIT})
