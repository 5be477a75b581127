"""The one catalogue of Tencent IM profile tags: the 12 standard tags and the custom-tag rules.

Models, forms, the service's validation, the emulator and the docs all derive from this module
(docs/tencent-im.md §2 for the standard tags, §3 for custom tags). It has no Django dependency.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from .texts import (
    CONTROL_CHARACTER,
    CONTROL_CHARACTER_IN_LINES,
    KEYWORD_EMPTY,
    KEYWORD_NOT_LETTERS,
    KEYWORD_TOO_LONG,
    NOT_A_CHOICE,
    NOT_TEXT,
    NOT_UINT32,
    TAG_NAME_AMBIGUOUS,
    TAG_NAME_UNKNOWN,
    TEXT_NOT_A_NUMBER,
    TEXT_TOO_LARGE,
    TOO_LONG,
    UINT32_OUT_OF_RANGE,
    USER_ID_NOT_PRINTABLE,
    USER_ID_REQUIRED,
    USER_ID_TOO_LONG,
    gettext_noop,
)

UINT32_MAX = 4_294_967_295
# docs/tencent-im.md §2 (Nick, SelfSignature, Image) and §3 (custom values): the server's hard limit.
MAX_VALUE_BYTES = 500
CUSTOM_TAG_PREFIX = "Tag_Profile_Custom_"
# docs/tencent-im.md §3: keyword is English letters only, at most 8 bytes; at most 20 custom tags per app.
CUSTOM_KEYWORD_MAX_BYTES = 8
CUSTOM_TAG_LIMIT = 20
CUSTOM_KEYWORD_RE = re.compile(r"^[A-Za-z]{1,8}$")
# docs/tencent-im.md §2: key names use only letters, digits and underscore.
TAG_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")


def shown(value: Any, limit: int = 40) -> str:
    """``value`` as a message quotes it: its repr (control characters visible), cut to ``limit``
    characters, so a 100 KB cell never becomes a 100 KB message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


class ValueType(enum.StrEnum):
    STRING = "string"
    ENUM = "enum"
    UINT32 = "uint32"


class TagValueError(ValueError):
    """A value that Tencent would refuse. ``error_code`` is the ErrorCode Tencent would answer.

    ``message`` is English. When the error comes from the catalogue, ``template`` (marked for
    translation) and ``params`` are kept too, so ``profiles.labels.refusal_text`` can say it in the
    reader's language with the tag's label translated.
    """

    def __init__(
        self, tag: str, message: str, error_code: int, *, template: str = "", params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.tag = tag
        self.message = message
        self.error_code = error_code
        self.template = template
        self.params = dict(params or {})


def _refusal(tag: str, template: str, params: Mapping[str, Any], error_code: int) -> TagValueError:
    return TagValueError(tag, template % params, error_code, template=template, params=params)


@dataclass(frozen=True)
class StandardTag:
    """One standard profile tag as docs/tencent-im.md §2 declares it."""

    wire_name: str
    field_name: str
    label: str
    value_type: ValueType
    help_text: str
    max_bytes: int | None = None
    choices: tuple[tuple[str, str], ...] = ()
    # docs/tencent-im.md §2 "error when broken"
    error_code: int = 40001
    admin_only: bool = False
    # Text that may span lines: line breaks and tabs are not refused as control characters.
    multiline: bool = False

    @property
    def allowed_values(self) -> tuple[str, ...]:
        return tuple(value for value, _label in self.choices)

    def validate(self, value: Any) -> str | int:
        """Return ``value`` in its wire form, or raise :class:`TagValueError`."""
        if self.value_type is ValueType.UINT32:
            return _validate_uint32(self, value)
        if not isinstance(value, str):
            raise _refusal(
                self.wire_name, NOT_TEXT, {"label": self.label, "type": type(value).__name__}, 40610
            )
        if self.value_type is ValueType.ENUM:
            if value not in self.allowed_values:
                # Labels for people, and Tencent's own values for whoever writes a CSV file.
                raise _refusal(self.wire_name, NOT_A_CHOICE, {
                    "label": self.label, "value": shown(value),
                    "choices": ", ".join(label for _value, label in self.choices),
                    "wire_values": ", ".join(self.allowed_values),
                }, self.error_code)
            return value
        check_byte_length(self.wire_name, self.label, value, self.max_bytes or MAX_VALUE_BYTES)
        return value




# Control characters (Unicode category Cc: U+0000-U+001F and U+007F-U+009F) in text people type (the
# forms, CSV files, the command line). Tencent documents no such rule (docs/tencent-im.md §2: "any text");
# it is this app's own: PostgreSQL stores no NUL, and the others are paste accidents that clients show
# as boxes or that break a line. Text that may span lines (SelfSignature, and custom tags, whose
# format the app defines) may hold line feeds, carriage returns and tabs.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_CHARACTER_BUT_LINE_BREAKS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character_problem(wire_name: str, text: str) -> str | None:
    """Why ``text`` may not be sent as the value of ``wire_name`` (it holds a control character), or None.

    Applied to the values this app sends (``services.validation.validate_tag_values``), not to values
    read from Tencent, which are kept as they are."""
    standard = STANDARD_BY_WIRE.get(wire_name)
    multiline = standard.multiline if standard is not None else is_custom_tag_name(wire_name)
    pattern = _CONTROL_CHARACTER_BUT_LINE_BREAKS if multiline else _CONTROL_CHARACTER
    found = pattern.search(text)
    if found is None:
        return None
    template = CONTROL_CHARACTER_IN_LINES if multiline else CONTROL_CHARACTER
    return template % {"code": f"{ord(found.group()):04X}", "position": found.start() + 1}




def check_byte_length(wire_name: str, label: str, value: str, max_bytes: int) -> None:
    size = len(value.encode("utf-8"))
    if size > max_bytes:
        raise _refusal(wire_name, TOO_LONG, {"label": label, "size": size, "max": max_bytes}, 40601)


def _validate_uint32(tag: StandardTag, value: Any) -> int:
    # docs/tencent-im.md §2: uint32 goes on the wire as a JSON number; a string gives 40610. bool is an int
    # subclass in Python but a JSON true/false, which Tencent would also refuse.
    params = {"label": tag.label, "max": UINT32_MAX}
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refusal(tag.wire_name, NOT_UINT32, {**params, "value": shown(value)}, 40610)
    if not 0 <= value <= UINT32_MAX:
        raise _refusal(tag.wire_name, UINT32_OUT_OF_RANGE, {**params, "value": value}, 40610)
    return value


def parse_uint32(text: str) -> int:
    """Parse a uint32 typed by a person (form, CSV, command line). Raises ValueError with a reason."""
    stripped = text.strip()
    if not re.fullmatch(r"[0-9]+", stripped):
        raise ValueError(f"{shown(text)} is not a whole number from 0 to {UINT32_MAX}")
    number = int(stripped)
    if number > UINT32_MAX:
        raise ValueError(f"{number} is larger than {UINT32_MAX}, the largest uint32")
    return number


def is_birthday_date(value: int) -> bool:
    """Whether a BirthDay is a real calendar date written YYYYMMDD (docs/tencent-im.md §2: the
    suggested form; Tencent itself takes any uint32, so other numbers are allowed, only unusual)."""
    year, month, day = value // 10_000, value // 100 % 100, value % 100
    if not 1000 <= year <= 9999:
        return False
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def coerce_uint32_from_wire(value: Any) -> int | None:
    """docs/tencent-im.md §2: when reading, accept a uint32 that arrives as a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= UINT32_MAX else None
    if isinstance(value, str):
        try:
            return parse_uint32(value)
        except ValueError:
            return None
    return None


# The help texts say 500: MAX_VALUE_BYTES, spelled out so that each is one message to translate.
_STRING_HELP = gettext_noop("Free text, at most 500 bytes in UTF-8 (a Chinese character takes 3 bytes).")

STANDARD_TAGS: tuple[StandardTag, ...] = (
    StandardTag(
        wire_name="Tag_Profile_IM_Nick",
        field_name="nick",
        label=gettext_noop("Nickname"),
        value_type=ValueType.STRING,
        max_bytes=MAX_VALUE_BYTES,
        error_code=40601,
        help_text=_STRING_HELP,
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_Gender",
        field_name="gender",
        label=gettext_noop("Gender"),
        value_type=ValueType.ENUM,
        choices=(
            ("Gender_Type_Unknown", gettext_noop("Unknown")),
            ("Gender_Type_Female", gettext_noop("Female")),
            ("Gender_Type_Male", gettext_noop("Male")),
        ),
        error_code=40605,
        help_text=gettext_noop("One of Tencent's three gender values."),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_BirthDay",
        field_name="birthday",
        label=gettext_noop("Birthday"),
        value_type=ValueType.UINT32,
        error_code=40610,
        help_text=gettext_noop("A whole number; Tencent recommends YYYYMMDD (e.g. 20190419) but checks only the type."),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_Location",
        field_name="location",
        label=gettext_noop("Location"),
        value_type=ValueType.STRING,
        # docs/tencent-im.md §2: most editions say 16 bytes, one Chinese edition 500. We enforce the hard
        # 500-byte limit and surface the server's answer if it applies the smaller one.
        max_bytes=MAX_VALUE_BYTES,
        error_code=40601,
        help_text=gettext_noop(
            "At most 500 bytes in UTF-8; most Tencent editions allow only 16 bytes, and Tencent "
            "recommends the app's own code of 4 numbers (country, province, city, district)."
        ),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_SelfSignature",
        field_name="self_signature",
        label=gettext_noop("Signature"),
        value_type=ValueType.STRING,
        max_bytes=MAX_VALUE_BYTES,
        error_code=40601,
        multiline=True,
        help_text=gettext_noop(
            "Free text, at most 500 bytes in UTF-8 (a Chinese character takes 3 bytes). It may span several lines."
        ),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_AllowType",
        field_name="allow_type",
        label=gettext_noop("Friend requests"),
        value_type=ValueType.ENUM,
        choices=(
            ("AllowType_Type_NeedConfirm", gettext_noop("Need approval")),
            ("AllowType_Type_AllowAny", gettext_noop("Accept all")),
            ("AllowType_Type_DenyAny", gettext_noop("Refuse all")),
        ),
        error_code=40605,
        help_text=gettext_noop("How the user handles friend requests."),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_Language",
        field_name="language",
        label=gettext_noop("Language"),
        value_type=ValueType.UINT32,
        error_code=40610,
        help_text=gettext_noop("An app-defined number (not an ISO code), 0 to 4294967295."),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_Image",
        field_name="image",
        label=gettext_noop("Avatar URL"),
        value_type=ValueType.STRING,
        max_bytes=MAX_VALUE_BYTES,
        error_code=40601,
        help_text=gettext_noop("The avatar's URL, at most 500 bytes."),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_MsgSettings",
        field_name="msg_settings",
        label=gettext_noop("Message settings"),
        value_type=ValueType.UINT32,
        error_code=40610,
        help_text=gettext_noop("Bit flags; bit 0 set (1) means the user does not receive messages."),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_AdminForbidType",
        field_name="admin_forbid_type",
        label=gettext_noop("Admin forbid"),
        value_type=ValueType.ENUM,
        choices=(
            ("AdminForbid_Type_None", gettext_noop("None")),
            ("AdminForbid_Type_SendOut", gettext_noop("May not send friend requests")),
        ),
        error_code=40605,
        admin_only=True,
        help_text=gettext_noop("Only an app admin may set this; SendOut stops the user sending friend requests."),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_Level",
        field_name="level",
        label=gettext_noop("Level"),
        value_type=ValueType.UINT32,
        error_code=40610,
        help_text=gettext_noop("An app-defined number, 0 to 4294967295 (often one byte per role, packed)."),
    ),
    StandardTag(
        wire_name="Tag_Profile_IM_Role",
        field_name="role",
        label=gettext_noop("Role"),
        value_type=ValueType.UINT32,
        error_code=40610,
        help_text=gettext_noop("An app-defined number, 0 to 4294967295 (often one byte per role, packed)."),
    ),
)

STANDARD_BY_WIRE: Mapping[str, StandardTag] = {tag.wire_name: tag for tag in STANDARD_TAGS}
STANDARD_BY_FIELD: Mapping[str, StandardTag] = {tag.field_name: tag for tag in STANDARD_TAGS}


class CustomValueType(enum.StrEnum):
    # docs/tencent-im.md §3: custom fields take string or bytes; both travel as JSON strings of ≤ 500 bytes.
    STRING = "string"
    BYTES = "bytes"


@dataclass(frozen=True)
class CustomTag:
    """A custom tag as configured in the Tencent console (docs/tencent-im.md §3)."""

    keyword: str
    value_type: CustomValueType = CustomValueType.STRING
    admin_read: bool = True
    admin_write: bool = True
    label: str = field(default="")

    @property
    def wire_name(self) -> str:
        return CUSTOM_TAG_PREFIX + self.keyword

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise _refusal(
                self.wire_name, NOT_TEXT, {"label": self.label or self.wire_name, "type": type(value).__name__}, 40610
            )
        check_byte_length(self.wire_name, self.label or self.wire_name, value, MAX_VALUE_BYTES)
        return value


def validate_custom_keyword(keyword: str) -> None:
    """docs/tencent-im.md §3: English letters only, at most 8 bytes. Raises ValueError naming the problem."""
    if not keyword:
        raise ValueError(KEYWORD_EMPTY)
    if len(keyword.encode("utf-8")) > CUSTOM_KEYWORD_MAX_BYTES:
        raise ValueError(KEYWORD_TOO_LONG % {
            "keyword": shown(keyword), "size": len(keyword.encode("utf-8")), "max": CUSTOM_KEYWORD_MAX_BYTES,
        })
    if not CUSTOM_KEYWORD_RE.fullmatch(keyword):
        raise ValueError(KEYWORD_NOT_LETTERS % {"keyword": shown(keyword)})


def is_custom_tag_name(name: str) -> bool:
    return name.startswith(CUSTOM_TAG_PREFIX)


def keyword_from_wire(name: str) -> str:
    return name[len(CUSTOM_TAG_PREFIX):] if is_custom_tag_name(name) else ""


# docs/tencent-im.md §5: UserID ≤ 32 bytes, printable ASCII (letters, digits, _ and - recommended).
USER_ID_MAX_BYTES = 32
USER_ID_RE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")


def validate_user_id(user_id: Any) -> str:
    """Raise ValueError naming the problem if ``user_id`` is not a valid Tencent UserID."""
    if not isinstance(user_id, str) or not user_id:
        raise ValueError(USER_ID_REQUIRED)
    if len(user_id.encode("utf-8")) > USER_ID_MAX_BYTES:
        raise ValueError(USER_ID_TOO_LONG % {"size": len(user_id.encode("utf-8"))})
    if not USER_ID_RE.fullmatch(user_id):
        raise ValueError(USER_ID_NOT_PRINTABLE)
    return user_id


def normalize_name(text: str) -> str:
    """How names and enum values typed by people are compared: case-insensitive, with surrounding
    and repeated whitespace ignored ("  Avatar  url " matches "Avatar URL")."""
    return " ".join(text.split()).casefold()


def catalogue_enum_aliases(wire_name: str) -> dict[str, str]:
    """Normalized text → wire value for a standard enum tag: Tencent's values and the English labels.
    ``profiles.labels`` adds the labels in every language the app offers."""
    standard = STANDARD_BY_WIRE.get(wire_name)
    if standard is None:
        return {}
    aliases: dict[str, str] = {}
    for value, label in standard.choices:
        aliases[normalize_name(value)] = value
        aliases[normalize_name(label)] = value
    return aliases


def parse_text_value(wire_name: str, text: str, enum_aliases: Mapping[str, str] | None = None) -> str | int:
    """Turn text typed by a person (command line, CSV) into the tag's Python value.

    uint32 tags parse as whole numbers. An enum cell may be Tencent's value or a label
    (``enum_aliases``: normalized text → wire value; by default the catalogue's own); text that
    matches none stays as typed, for ``validate`` to refuse with the allowed values. Everything
    else stays text and is checked by ``validate``.
    """
    standard = STANDARD_BY_WIRE.get(wire_name)
    if standard is None:
        return text
    if standard.value_type is ValueType.UINT32:
        params = {"label": standard.label, "max": UINT32_MAX}
        try:
            return parse_uint32(text)
        except ValueError:
            stripped = text.strip()
            if re.fullmatch(r"[0-9]+", stripped):
                # Digits as written (cut short), never int() of them: a 100 KB number would not convert.
                number = stripped.lstrip("0") or "0"
                number = number if len(number) <= 40 else f"{number[:40]}…"
                raise _refusal(wire_name, TEXT_TOO_LARGE, {**params, "value": number}, 40610) from None
            raise _refusal(wire_name, TEXT_NOT_A_NUMBER, {**params, "value": shown(text)}, 40610) from None
    if standard.value_type is ValueType.ENUM:
        aliases = enum_aliases if enum_aliases is not None else catalogue_enum_aliases(wire_name)
        return aliases.get(normalize_name(text), text)
    return text


class TagNameError(ValueError):
    """A tag name that names no tag, or more than one (``candidates``: the wire names it could mean)."""

    def __init__(self, name: str, candidates: Collection[str] = ()) -> None:
        self.name = name
        self.candidates = tuple(sorted(candidates))
        if self.candidates:
            message = TAG_NAME_AMBIGUOUS % {"name": shown(name), "candidates": " or ".join(self.candidates)}
        else:
            message = TAG_NAME_UNKNOWN % {
                "name": shown(name), "wire_names": ", ".join(t.wire_name for t in STANDARD_TAGS),
                "short_names": ", ".join(STANDARD_BY_FIELD), "prefix": CUSTOM_TAG_PREFIX,
            }
        super().__init__(message)


def catalogue_name_aliases() -> dict[str, set[str]]:
    """Normalized name → wire names, for the standard tags: the wire name, the short name and the
    English label. ``profiles.labels`` adds translated labels and the custom tags."""
    aliases: dict[str, set[str]] = {}
    for tag in STANDARD_TAGS:
        for name in (tag.wire_name, tag.field_name, tag.label):
            aliases.setdefault(normalize_name(name), set()).add(tag.wire_name)
    return aliases


def resolve_tag_name(name: str, aliases: Mapping[str, Collection[str]] | None = None) -> str:
    """The wire name a person meant: a wire name (Tag_Profile_IM_Nick), a short name (nick) or a
    label (Nickname), matched by :func:`normalize_name`. ``aliases`` (normalized name → wire names)
    replaces the catalogue's own table. A Tag_Profile_Custom_* name is returned as written when the
    table does not know it (the caller says whether it is defined). Raises TagNameError."""
    table = aliases if aliases is not None else catalogue_name_aliases()
    found = table.get(normalize_name(name), ())
    if len(found) == 1:
        return next(iter(found))
    if len(found) > 1:
        raise TagNameError(name, found)
    stripped = name.strip()
    if stripped in STANDARD_BY_WIRE or is_custom_tag_name(stripped):
        return stripped
    raise TagNameError(name)
