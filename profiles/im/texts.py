"""The catalogue's words that people read, in English and marked for translation: its refusals of values
and of typed text. Django's makemessages finds the local ``gettext_noop``; ``profiles.labels`` and
``profiles.errortext`` say them in the reader's language. No Django here, as in all of profiles/im.
"""

from __future__ import annotations


def gettext_noop(message: str) -> str:
    """Marks a label or message for translation without making the catalogue depend on Django."""
    return message


# The catalogue's refusals, marked for translation; %(label)s is the tag's label.
NOT_TEXT = gettext_noop("%(label)s must be text, not %(type)s.")
NOT_A_CHOICE = gettext_noop("%(label)s: %(value)s is not one of %(choices)s (Tencent's values: %(wire_values)s).")
TOO_LONG = gettext_noop("%(label)s is %(size)s bytes in UTF-8; Tencent allows at most %(max)s bytes.")
NOT_UINT32 = gettext_noop("%(label)s must be a whole number from 0 to %(max)s, not %(value)s.")
UINT32_OUT_OF_RANGE = gettext_noop("%(label)s must be from 0 to %(max)s; %(value)s is out of range.")
TEXT_NOT_A_NUMBER = gettext_noop("%(label)s: %(value)s is not a whole number from 0 to %(max)s.")
TEXT_TOO_LARGE = gettext_noop("%(label)s: %(value)s is larger than %(max)s, the largest uint32.")
VALUE_REFUSALS = (NOT_TEXT, NOT_A_CHOICE, TOO_LONG, NOT_UINT32, UINT32_OUT_OF_RANGE, TEXT_NOT_A_NUMBER, TEXT_TOO_LARGE)


# Why typed text is refused, marked for translation (profiles.errortext.recorded_text says the English
# results in the reader's language).
CONTROL_CHARACTER = gettext_noop("contains the control character U+%(code)s at character %(position)s; remove it.")
CONTROL_CHARACTER_IN_LINES = gettext_noop(
    "contains the control character U+%(code)s at character %(position)s; remove it (line breaks and tabs are "
    "allowed)."
)
KEYWORD_EMPTY = gettext_noop("The keyword is empty.")
KEYWORD_TOO_LONG = gettext_noop("The keyword %(keyword)s is %(size)s bytes; Tencent allows at most %(max)s.")
KEYWORD_NOT_LETTERS = gettext_noop("The keyword %(keyword)s may contain only English letters (A-Z, a-z).")
USER_ID_REQUIRED = gettext_noop("A UserID is required.")
USER_ID_TOO_LONG = gettext_noop("UserID is %(size)s bytes; Tencent allows at most 32.")
USER_ID_NOT_PRINTABLE = gettext_noop(
    "UserID may contain only printable ASCII, with no space at either end (letters, digits, '_' and '-' are "
    "recommended)."
)
TAG_NAME_AMBIGUOUS = gettext_noop("%(name)s could mean %(candidates)s; use the wire name to say which.")
TAG_NAME_UNKNOWN = gettext_noop(
    "Unknown tag %(name)s: use a standard tag (%(wire_names)s), its short name (%(short_names)s) or label, or "
    "%(prefix)s<keyword>."
)
TYPED_TEXT_REFUSALS = (
    CONTROL_CHARACTER, CONTROL_CHARACTER_IN_LINES, KEYWORD_EMPTY, KEYWORD_TOO_LONG, KEYWORD_NOT_LETTERS,
    USER_ID_REQUIRED, USER_ID_TOO_LONG, USER_ID_NOT_PRINTABLE, TAG_NAME_AMBIGUOUS, TAG_NAME_UNKNOWN,
)
