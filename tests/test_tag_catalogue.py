"""The tag catalogue: the 12 standard tags, their limits, custom-tag rules and UserID rules
(docs/tencent-im.md §2, §3, §5)."""

from __future__ import annotations

import pytest

from profiles.im import tags as catalogue
from profiles.im.tags import (
    STANDARD_BY_WIRE,
    STANDARD_TAGS,
    UINT32_MAX,
    CustomTag,
    TagValueError,
    ValueType,
)

# docs/tencent-im.md §2: exactly these 12, in the spec's order.
SPEC_WIRE_NAMES = [
    "Tag_Profile_IM_Nick",
    "Tag_Profile_IM_Gender",
    "Tag_Profile_IM_BirthDay",
    "Tag_Profile_IM_Location",
    "Tag_Profile_IM_SelfSignature",
    "Tag_Profile_IM_AllowType",
    "Tag_Profile_IM_Language",
    "Tag_Profile_IM_Image",
    "Tag_Profile_IM_MsgSettings",
    "Tag_Profile_IM_AdminForbidType",
    "Tag_Profile_IM_Level",
    "Tag_Profile_IM_Role",
]
STRING_TAGS = [
    "Tag_Profile_IM_Nick", "Tag_Profile_IM_Location", "Tag_Profile_IM_SelfSignature", "Tag_Profile_IM_Image",
]
UINT32_TAGS = [
    "Tag_Profile_IM_BirthDay", "Tag_Profile_IM_Language", "Tag_Profile_IM_MsgSettings",
    "Tag_Profile_IM_Level", "Tag_Profile_IM_Role",
]
ENUM_VALUES = {
    "Tag_Profile_IM_Gender": ["Gender_Type_Unknown", "Gender_Type_Female", "Gender_Type_Male"],
    "Tag_Profile_IM_AllowType": [
        "AllowType_Type_NeedConfirm", "AllowType_Type_AllowAny", "AllowType_Type_DenyAny",
    ],
    "Tag_Profile_IM_AdminForbidType": ["AdminForbid_Type_None", "AdminForbid_Type_SendOut"],
}
ENUM_CASES = [(wire, value) for wire, values in ENUM_VALUES.items() for value in values]

# Built from multi-byte characters, so a check that counts characters instead of bytes would pass them all.
CHINESE_500_BYTES = "中" * 166 + "é"  # 166 × 3 + 2 = 500 bytes, 167 characters
CHINESE_501_BYTES = "中" * 167  # 501 bytes, 167 characters
ACCENTED_500_BYTES = "é" * 250  # 500 bytes, 250 characters
ACCENTED_501_BYTES = "é" * 250 + "a"  # 501 bytes, 251 characters


def test_the_byte_strings_used_here_have_the_sizes_they_claim():
    assert len(CHINESE_500_BYTES.encode()) == 500 and len(CHINESE_500_BYTES) == 167
    assert len(CHINESE_501_BYTES.encode()) == 501 and len(CHINESE_501_BYTES) == 167
    assert len(ACCENTED_500_BYTES.encode()) == 500 and len(ACCENTED_501_BYTES.encode()) == 501


# --- the 12 standard tags ----------------------------------------------------------------------


def test_there_are_exactly_the_12_standard_tags_with_the_spec_wire_names():
    assert [tag.wire_name for tag in STANDARD_TAGS] == SPEC_WIRE_NAMES
    assert set(STANDARD_BY_WIRE) == set(SPEC_WIRE_NAMES)


def test_every_standard_tag_has_a_distinct_field_name_and_a_help_text():
    field_names = [tag.field_name for tag in STANDARD_TAGS]
    assert len(set(field_names)) == 12
    assert all(tag.help_text and tag.label for tag in STANDARD_TAGS)


def test_each_standard_tag_has_the_value_type_and_error_code_of_the_spec():
    for wire in STRING_TAGS:
        assert (STANDARD_BY_WIRE[wire].value_type, STANDARD_BY_WIRE[wire].error_code) == (ValueType.STRING, 40601)
    for wire in UINT32_TAGS:
        assert (STANDARD_BY_WIRE[wire].value_type, STANDARD_BY_WIRE[wire].error_code) == (ValueType.UINT32, 40610)
    for wire, values in ENUM_VALUES.items():
        tag = STANDARD_BY_WIRE[wire]
        assert (tag.value_type, tag.error_code) == (ValueType.ENUM, 40605)
        assert list(tag.allowed_values) == values


def test_only_admin_forbid_type_is_marked_admin_only():
    assert [tag.wire_name for tag in STANDARD_TAGS if tag.admin_only] == ["Tag_Profile_IM_AdminForbidType"]


# --- string tags: limits counted in UTF-8 bytes --------------------------------------------------


@pytest.mark.parametrize("wire", STRING_TAGS)
@pytest.mark.parametrize("value", [CHINESE_500_BYTES, ACCENTED_500_BYTES], ids=["chinese", "accented"])
def test_a_string_tag_accepts_exactly_500_utf8_bytes(wire, value):
    assert STANDARD_BY_WIRE[wire].validate(value) == value


@pytest.mark.parametrize("wire", STRING_TAGS)
@pytest.mark.parametrize("value", [CHINESE_501_BYTES, ACCENTED_501_BYTES], ids=["chinese", "accented"])
def test_a_string_tag_rejects_501_utf8_bytes_with_40601(wire, value):
    with pytest.raises(TagValueError) as caught:
        STANDARD_BY_WIRE[wire].validate(value)
    assert caught.value.error_code == 40601
    assert caught.value.tag == wire
    assert "501 bytes" in caught.value.message


def test_a_string_tag_accepts_the_empty_string():
    assert STANDARD_BY_WIRE["Tag_Profile_IM_Nick"].validate("") == ""


@pytest.mark.parametrize("value", [42, None, b"bytes"])
def test_a_string_tag_rejects_a_value_that_is_not_text_with_40610(value):
    with pytest.raises(TagValueError) as caught:
        STANDARD_BY_WIRE["Tag_Profile_IM_Nick"].validate(value)
    assert caught.value.error_code == 40610


def test_location_enforces_the_hard_500_byte_limit_and_the_help_text_mentions_16_bytes():
    location = STANDARD_BY_WIRE["Tag_Profile_IM_Location"]
    assert location.max_bytes == 500
    # 17 bytes is over most editions' limit, but the catalogue leaves that to the server (docs/tencent-im.md §2).
    assert location.validate("x" * 17) == "x" * 17
    assert location.validate(CHINESE_500_BYTES) == CHINESE_500_BYTES
    with pytest.raises(TagValueError) as caught:
        location.validate(CHINESE_501_BYTES)
    assert caught.value.error_code == 40601
    assert "16 bytes" in location.help_text


# --- uint32 tags ---------------------------------------------------------------------------------


@pytest.mark.parametrize("wire", UINT32_TAGS)
@pytest.mark.parametrize("value", [0, 20190419, UINT32_MAX])
def test_a_uint32_tag_accepts_0_to_4294967295(wire, value):
    assert STANDARD_BY_WIRE[wire].validate(value) == value


def test_uint32_max_is_2_to_the_32_minus_1():
    assert UINT32_MAX == 4294967295 == 2**32 - 1


@pytest.mark.parametrize("wire", UINT32_TAGS)
@pytest.mark.parametrize(
    "value", [4294967296, -1, "12", True, False, 1.5, 12.0, None],
    ids=["2**32", "minus-1", "numeric-string", "true", "false", "float", "integral-float", "none"],
)
def test_a_uint32_tag_rejects_out_of_range_and_non_integer_values_with_40610(wire, value):
    with pytest.raises(TagValueError) as caught:
        STANDARD_BY_WIRE[wire].validate(value)
    assert caught.value.error_code == 40610
    assert caught.value.tag == wire


# --- enum tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "value"), ENUM_CASES)
def test_an_enum_tag_accepts_each_of_its_values(wire, value):
    assert STANDARD_BY_WIRE[wire].validate(value) == value


@pytest.mark.parametrize("wire", list(ENUM_VALUES))
@pytest.mark.parametrize("value", ["Gender_Type_Robot", "", "gender_type_male", "AllowType_Type_Maybe"])
def test_an_enum_tag_rejects_a_value_outside_its_list_with_40605(wire, value):
    with pytest.raises(TagValueError) as caught:
        STANDARD_BY_WIRE[wire].validate(value)
    assert caught.value.error_code == 40605
    # The message lists what is allowed, so a person can fix the value.
    assert ENUM_VALUES[wire][0] in caught.value.message


def test_an_enum_value_of_another_enum_tag_is_rejected():
    with pytest.raises(TagValueError) as caught:
        STANDARD_BY_WIRE["Tag_Profile_IM_Gender"].validate("AllowType_Type_AllowAny")
    assert caught.value.error_code == 40605


# --- custom tags (docs/tencent-im.md §3) -----------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["Mood", "Test", "A", "ABCDEFGH"])
def test_a_custom_keyword_of_letters_up_to_8_bytes_is_accepted(keyword):
    assert catalogue.validate_custom_keyword(keyword) is None


@pytest.mark.parametrize(
    ("keyword", "reason"),
    [
        ("Mood1", "only English letters"),
        ("TooLongKw", "9 bytes"),
        ("", "empty"),
        ("Mö", "only English letters"),
        ("Mood_", "only English letters"),
        ("Mo od", "only English letters"),
    ],
)
def test_a_custom_keyword_with_digits_non_letters_or_over_8_bytes_is_rejected(keyword, reason):
    with pytest.raises(ValueError, match=reason):
        catalogue.validate_custom_keyword(keyword)


def test_a_custom_keyword_of_8_characters_but_more_bytes_is_rejected_for_its_bytes():
    keyword = "Moodéééé"  # 8 characters, 4 + 4 × 2 = 12 bytes
    with pytest.raises(ValueError, match="12 bytes"):
        catalogue.validate_custom_keyword(keyword)


def test_a_custom_tag_wire_name_is_the_prefix_and_keyword():
    assert CustomTag(keyword="Mood").wire_name == "Tag_Profile_Custom_Mood"
    assert catalogue.is_custom_tag_name("Tag_Profile_Custom_Mood")
    assert not catalogue.is_custom_tag_name("Tag_Profile_IM_Nick")
    assert catalogue.keyword_from_wire("Tag_Profile_Custom_Mood") == "Mood"
    assert catalogue.keyword_from_wire("Tag_Profile_IM_Nick") == ""


@pytest.mark.parametrize("value", [CHINESE_500_BYTES, ACCENTED_500_BYTES, ""])
def test_a_custom_tag_accepts_up_to_500_utf8_bytes(value):
    assert CustomTag(keyword="Mood").validate(value) == value


@pytest.mark.parametrize("value", [CHINESE_501_BYTES, ACCENTED_501_BYTES])
def test_a_custom_tag_rejects_501_utf8_bytes_with_40601(value):
    with pytest.raises(TagValueError) as caught:
        CustomTag(keyword="Mood").validate(value)
    assert caught.value.error_code == 40601
    assert caught.value.tag == "Tag_Profile_Custom_Mood"


@pytest.mark.parametrize("value", [7, None, True])
def test_a_custom_tag_rejects_a_value_that_is_not_text_with_40610(value):
    with pytest.raises(TagValueError) as caught:
        CustomTag(keyword="Mood").validate(value)
    assert caught.value.error_code == 40610


# --- UserID (docs/tencent-im.md §5) ----------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["a" * 32, "u_8812", "user-1", "x", "a b"])
def test_a_printable_ascii_user_id_up_to_32_bytes_is_accepted(user_id):
    assert catalogue.validate_user_id(user_id) == user_id


@pytest.mark.parametrize(
    ("user_id", "reason"),
    [
        ("a" * 33, "33 bytes"),
        ("用户", "printable ASCII"),
        ("café", "printable ASCII"),
        (" leading", "printable ASCII"),
        ("trailing ", "printable ASCII"),
        ("tab\tinside", "printable ASCII"),
        ("", "required"),
        (None, "required"),
        (12345, "required"),
    ],
    ids=["33-bytes", "chinese", "accented", "leading-space", "trailing-space", "tab", "empty", "none", "int"],
)
def test_an_invalid_user_id_is_rejected_with_a_reason(user_id, reason):
    with pytest.raises(ValueError, match=reason):
        catalogue.validate_user_id(user_id)


def test_a_user_id_of_11_chinese_characters_is_rejected_for_its_33_bytes():
    with pytest.raises(ValueError, match="33 bytes"):
        catalogue.validate_user_id("中" * 11)


# --- parsing text typed by a person ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"), [("0", 0), ("42", 42), (" 20190419 ", 20190419), ("4294967295", UINT32_MAX)]
)
def test_parse_uint32_reads_whole_numbers_up_to_uint32_max(text, number):
    assert catalogue.parse_uint32(text) == number


@pytest.mark.parametrize("text", ["4294967296", "-1", "1.5", "", "  ", "abc", "1e3", "+5", "0x10"])
def test_parse_uint32_rejects_anything_else_with_a_value_error_quoting_it(text):
    with pytest.raises(ValueError) as caught:
        catalogue.parse_uint32(text)
    assert text.strip() in str(caught.value)


def test_parse_text_value_turns_a_uint32_tag_into_a_number_and_leaves_text_tags_as_text():
    assert catalogue.parse_text_value("Tag_Profile_IM_BirthDay", "20190419") == 20190419
    assert catalogue.parse_text_value("Tag_Profile_IM_Nick", "42") == "42"
    assert catalogue.parse_text_value("Tag_Profile_IM_Gender", "Gender_Type_Male") == "Gender_Type_Male"
    assert catalogue.parse_text_value("Tag_Profile_Custom_Mood", "123") == "123"


def test_parse_text_value_rejects_a_non_number_for_a_uint32_tag_with_40610_naming_the_label():
    with pytest.raises(TagValueError) as caught:
        catalogue.parse_text_value("Tag_Profile_IM_Level", "high")
    assert caught.value.error_code == 40610
    assert caught.value.tag == "Tag_Profile_IM_Level"
    assert "Level" in caught.value.message and "'high'" in caught.value.message


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("nick", "Tag_Profile_IM_Nick"),
        ("NICK", "Tag_Profile_IM_Nick"),
        ("birthday", "Tag_Profile_IM_BirthDay"),
        ("admin_forbid_type", "Tag_Profile_IM_AdminForbidType"),
        ("Tag_Profile_IM_Role", "Tag_Profile_IM_Role"),
        ("Tag_Profile_Custom_Mood", "Tag_Profile_Custom_Mood"),
        # Labels too, and any name ignoring case and surrounding or repeated spaces.
        ("nickname", "Tag_Profile_IM_Nick"),
        (" Avatar  url ", "Tag_Profile_IM_Image"),
        ("tag_profile_im_nick", "Tag_Profile_IM_Nick"),
    ],
)
def test_resolve_tag_name_accepts_short_names_wire_names_and_labels(name, wire):
    assert catalogue.resolve_tag_name(name) == wire


def test_every_standard_field_name_resolves_to_its_wire_name():
    assert [catalogue.resolve_tag_name(tag.field_name) for tag in STANDARD_TAGS] == SPEC_WIRE_NAMES


@pytest.mark.parametrize("name", ["nicknames", "Tag_Profile_IM_Nickname", "Mood"])
def test_resolve_tag_name_rejects_an_unknown_name_and_names_it(name):
    with pytest.raises(ValueError) as caught:
        catalogue.resolve_tag_name(name)
    assert repr(name) in str(caught.value)


@pytest.mark.parametrize("value", [5, "5"])
def test_coerce_uint32_from_wire_accepts_a_number_or_a_numeric_string(value):
    assert catalogue.coerce_uint32_from_wire(value) == 5


@pytest.mark.parametrize("value", [True, -1, 4294967296, "abc", 5.0, None, "-5"])
def test_coerce_uint32_from_wire_gives_none_for_anything_else(value):
    assert catalogue.coerce_uint32_from_wire(value) is None


@pytest.mark.parametrize("text", ["１２", "١٢", "²"])
def test_parse_uint32_refuses_non_ascii_digits(text):
    with pytest.raises(ValueError):
        catalogue.parse_uint32(text)
