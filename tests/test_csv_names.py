"""The CSV import speaks both languages: columns named by wire name, short name, label (English or
Chinese) or custom keyword; enum cells by Tencent's value or a label; the export writes wire names."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from profiles import csvio
from profiles.models import BulkJobItem, CustomTagDefinition, Profile

from .conftest import audited_db

NICK = "Tag_Profile_IM_Nick"
GENDER = "Tag_Profile_IM_Gender"
ALLOW = "Tag_Profile_IM_AllowType"
FORBID = "Tag_Profile_IM_AdminForbidType"
LEVEL = "Tag_Profile_IM_Level"
IMAGE = "Tag_Profile_IM_Image"
MOOD = "Tag_Profile_Custom_Mood"


def definitions(*items: CustomTagDefinition) -> dict[str, CustomTagDefinition]:
    return {item.wire_name: item for item in items}


MOOD_TODAY = definitions(CustomTagDefinition(keyword="Mood", label="Mood today"))


def good_rows(text: str, custom: dict[str, CustomTagDefinition] | None = None) -> list[tuple[str, dict]]:
    stream = io.BytesIO(text.encode("utf-8"))
    return [(row.user_id, row.values) for row in csvio.csv_good_rows(stream, definitions=custom or {})]


def check(text: str, custom: dict[str, CustomTagDefinition] | None = None) -> csvio.CsvCheck:
    return csvio.csv_check(io.BytesIO(text.encode("utf-8")), definitions=custom or {})


def test_chinese_headers_and_chinese_enum_labels_import():
    text = "用户ID,昵称,性别,加好友验证方式,等级\nu1,小军,女,需要验证,3\nu2,Bo,男,拒绝任何人,\n"
    assert good_rows(text) == [
        ("u1", {NICK: "小军", GENDER: "Gender_Type_Female", ALLOW: "AllowType_Type_NeedConfirm", LEVEL: 3}),
        ("u2", {NICK: "Bo", GENDER: "Gender_Type_Male", ALLOW: "AllowType_Type_DenyAny"}),
    ]


@pytest.mark.parametrize(
    ("header", "wire"),
    [
        ("Tag_Profile_IM_Nick", NICK), ("nick", NICK), ("Nickname", NICK), ("  NICKNAME ", NICK), ("昵称", NICK),
        ("tag_profile_im_nick", NICK), ("avatar   URL", IMAGE), ("头像 URL", IMAGE), ("image", IMAGE),
        ("Mood", MOOD), ("mood today", MOOD), ("Tag_Profile_Custom_Mood", MOOD),
    ],
)
def test_a_column_may_be_named_by_wire_name_short_name_label_or_custom_keyword(header, wire):
    value = "calm" if wire == MOOD else "x"
    assert good_rows(f"UserID,{header}\nu1,{value}\n", MOOD_TODAY) == [("u1", {wire: value})]


@pytest.mark.parametrize("header", ["UserID", "userid", "user_id", "User ID", " user  id ", "用户ID"])
def test_the_userid_column_may_be_named_in_either_language(header):
    assert good_rows(f"{header},nick\nu1,A\n") == [("u1", {NICK: "A"})]


@pytest.mark.parametrize(
    ("cell", "wire_value"),
    [
        ("Gender_Type_Female", "Gender_Type_Female"), ("Female", "Gender_Type_Female"),
        ("female", "Gender_Type_Female"), (" FEMALE ", "Gender_Type_Female"), ("女", "Gender_Type_Female"),
        ("gender_type_male", "Gender_Type_Male"), ("未知", "Gender_Type_Unknown"),
    ],
)
def test_an_enum_cell_may_be_tencents_value_or_a_label_in_either_language(cell, wire_value):
    assert good_rows(f"UserID,gender\nu1,{cell}\n") == [("u1", {GENDER: wire_value})]


def test_enum_labels_of_other_tags_are_read_too():
    rows = good_rows("UserID,Friend requests,Admin forbid\nu1,Accept all,None\nu2,允许任何人,禁止发起加好友请求\n")
    assert rows == [
        ("u1", {ALLOW: "AllowType_Type_AllowAny", FORBID: "AdminForbid_Type_None"}),
        ("u2", {ALLOW: "AllowType_Type_AllowAny", FORBID: "AdminForbid_Type_SendOut"}),
    ]


def test_chinese_names_come_from_the_languages_the_app_offers(settings):
    settings.LANGUAGES = [("en", "English")]
    result = check("UserID,性别\nu1,Female\n")
    assert not result.ok and "Column 2 ('性别') is not a tag this app knows." in result.problems
    reasons = [row.reason for row in check("UserID,gender\nu1,女\n").bad_rows]
    assert len(reasons) == 1 and "'女' is not one of" in reasons[0]


def test_a_bad_enum_cell_is_reported_with_the_label_and_every_accepted_value():
    [bad] = check("UserID,Tag_Profile_IM_Gender\nu1,Robot\n").bad_rows
    assert bad.reason == (
        "Gender: 'Robot' is not one of Unknown, Female, Male (Tencent's values: Gender_Type_Unknown, "
        "Gender_Type_Female, Gender_Type_Male). (Tencent would answer 40605)."
    )


def test_a_bad_number_is_reported_by_label_not_by_wire_name():
    [bad] = check("UserID,Tag_Profile_IM_Level,nick\nu1,high,\n").bad_rows
    assert bad.reason.startswith("Level: 'high' is not a whole number") and "Tag_Profile_IM_Level" not in bad.reason


def test_an_unknown_column_is_named_and_the_accepted_names_are_listed():
    result = check("UserID,nick,colour\nu1,A,red\n", MOOD_TODAY)
    assert not result.ok
    assert result.problems[0] == "Column 3 ('colour') is not a tag this app knows."
    accepted = result.problems[-1]
    assert accepted.startswith("Accepted column names")
    assert "UserID / User ID / 用户ID" in accepted
    assert "Nickname / 昵称 / nick / Tag_Profile_IM_Nick" in accepted
    assert "Gender / 性别 / gender / Tag_Profile_IM_Gender" in accepted
    assert "Mood today / Mood / Tag_Profile_Custom_Mood" in accepted


def test_a_name_two_tags_share_is_refused_naming_both():
    level = definitions(CustomTagDefinition(keyword="Level", label="Player level"))
    result = check("UserID,level\nu1,3\n", level)
    assert not result.ok
    assert result.problems == [
        "Column 2 ('level') could mean Player level (Tag_Profile_Custom_Level) or Level (Tag_Profile_IM_Level); "
        "write the wire name to say which."
    ]
    # The wire names still say which one.
    assert good_rows("UserID,Tag_Profile_IM_Level,Tag_Profile_Custom_Level\nu1,3,pro\n", level) == [
        ("u1", {LEVEL: 3, "Tag_Profile_Custom_Level": "pro"})
    ]


def test_two_names_for_the_same_tag_are_a_repeated_column():
    result = check("UserID,nick,昵称\nu1,A,B\n")
    assert "Column 3 (昵称) repeats column 2 (Nickname)." in result.problems


def test_the_check_names_its_columns_by_label():
    result = check("UserID,Tag_Profile_IM_Nick,性别,mood\nu1,A,女,calm\n", MOOD_TODAY)
    assert result.ok and result.columns == [NICK, GENDER, MOOD]
    assert result.column_labels == ["Nickname", "Gender", "Mood today"]


@pytest.mark.django_db
def test_an_export_writes_wire_names_and_imports_back_to_the_same_values_even_after_edits_in_chinese():
    mood = CustomTagDefinition(keyword="Mood", label="Mood today")
    Profile.objects.create(
        user_id="u_1", nick='小军, "Jun"', gender="Gender_Type_Female", allow_type="AllowType_Type_DenyAny",
        level=4294967295, admin_forbid_type="AdminForbid_Type_SendOut", custom_values={MOOD: "=calm"},
    )
    Profile.objects.create(user_id="u_2", gender="Gender_Type_Unknown", self_signature="two\nlines")
    exported = "".join(csvio.csv_export_lines(Profile.objects.order_by("user_id"), definitions=[mood]))
    lines = exported.removeprefix("\ufeff").split("\r\n")
    header = lines[0].split(",")
    assert header[:3] == ["UserID", NICK, GENDER] and header[-1] == MOOD
    assert "Gender_Type_Female" in exported and "Female" not in exported.replace("Gender_Type_Female", "")
    rows = dict(good_rows(exported, {mood.wire_name: mood}))
    for profile in Profile.objects.all():
        expected = {tag: profile.tag_value(tag) for tag in header[1:] if profile.tag_value(tag) not in (None, "")}
        assert rows[profile.user_id] == expected
    # Someone renames the gender column in Chinese and types a label: the same values come back.
    edited = exported.replace(GENDER, "性别", 1).replace(",Gender_Type_Unknown,", ",未知,")
    assert dict(good_rows(edited, {mood.wire_name: mood})) == rows


@audited_db
def test_the_import_page_takes_a_chinese_file_and_names_its_columns_by_label(client, cast, settings, tmp_path):
    settings.CSV_UPLOAD_DIR = str(tmp_path)
    client.force_login(cast.editor)
    text = "用户ID,昵称,性别\r\nu1,小军,女\r\nu2,Bo,Robot\r\n"
    upload = SimpleUploadedFile("people.csv", text.encode("utf-8"), "text/csv")
    response = client.post(reverse("admin:profiles_profile_import_csv"), {"file": upload})
    page = response.content.decode()
    assert "Columns: Nickname, Gender." in page
    assert "Gender: &#x27;Robot&#x27; is not one of Unknown, Female, Male" in page
    client.post(reverse("admin:profiles_profile_import_csv"), {"token": response.context["token"]})
    item = BulkJobItem.objects.get(user_id="u1")
    assert item.values == {NICK: "小军", GENDER: "Gender_Type_Female"}
