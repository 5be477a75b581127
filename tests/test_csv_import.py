"""The CSV format (profiles/csvio.py): every kind of bad row, fatal header problems, the counts a
preview shows, the good rows a job gets, streaming a 100,000-row file, and export → import."""

from __future__ import annotations

import io
import tracemalloc

import pytest

from profiles import csvio
from profiles.im import tags as catalogue
from profiles.models import CustomTagDefinition, Profile

NICK = "Tag_Profile_IM_Nick"
GENDER = "Tag_Profile_IM_Gender"
LEVEL = "Tag_Profile_IM_Level"
MOOD = "Tag_Profile_Custom_Mood"
SIGNATURE = "Tag_Profile_IM_SelfSignature"  # text that may span lines
NO_CUSTOM: dict[str, CustomTagDefinition] = {}


def as_file(text: str, *, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO(text.encode(encoding))


def check(text: str, **kwargs) -> csvio.CsvCheck:
    kwargs.setdefault("definitions", NO_CUSTOM)
    return csvio.csv_check(as_file(text), **kwargs)


def reasons_by_line(result: csvio.CsvCheck) -> dict[int, str]:
    return {row.line: row.reason for row in result.bad_rows}


def mood_definition(*, admin_write: bool = True) -> dict[str, CustomTagDefinition]:
    definition = CustomTagDefinition(keyword="Mood", admin_write=admin_write)
    return {definition.wire_name: definition}


MIXED = (
    "UserID,nick,Tag_Profile_IM_Gender,level\n"
    "u1,Alice,Gender_Type_Female,5\n"          # 2 good
    "u2,,Gender_Type_Robot,\n"                  # 3 bad enum
    f"u3,{'x' * 501},,\n"                       # 4 501 bytes
    "u4,,,4294967296\n"                         # 5 uint32 overflow
    "u1,Again,,\n"                              # 6 duplicate of line 2
    "u5,,,\n"                                   # 7 nothing to set
    "用户6,Bob,,\n"                               # 8 invalid UserID (docs/tencent-im.md §5)
    "u7,Carol,\n"                               # 9 wrong number of cells
    "u8,Dave,,12\n"                             # 10 good
    ",Eve,,\n"                                  # 11 missing UserID
    "u9,,,twelve\n"                             # 12 not a number
)


def test_it_counts_good_and_bad_rows_and_names_each_bad_row_by_line_and_reason():
    result = check(MIXED)
    assert result.ok
    assert (result.good, result.bad) == (2, 9)
    reasons = reasons_by_line(result)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 11, 12]
    assert "Gender_Type_Robot" in reasons[3] and "40605" in reasons[3]
    assert "501 bytes" in reasons[4] and "40601" in reasons[4]
    assert "4294967296 is larger than 4294967295" in reasons[5] and "40610" in reasons[5]
    assert reasons[6].startswith("Duplicate of line 2")
    assert reasons[7].startswith("Nothing to set")
    assert "printable ASCII" in reasons[8]
    assert reasons[9] == "The row has 3 cells; the header has 4."
    assert reasons[11] == "A UserID is required."
    assert "'twelve' is not a whole number" in reasons[12]


def test_the_good_rows_are_exactly_those_the_check_counted_in_wire_form_with_their_lines():
    rows = list(csvio.csv_good_rows(as_file(MIXED), definitions=NO_CUSTOM))
    assert [(row.line, row.user_id, row.values) for row in rows] == [
        (2, "u1", {NICK: "Alice", GENDER: "Gender_Type_Female", LEVEL: 5}),
        (10, "u8", {NICK: "Dave", LEVEL: 12}),
    ]


def test_an_empty_cell_leaves_its_tag_alone_and_500_bytes_are_allowed():
    nick = "汉" * 166 + "xx"  # 166 × 3 + 2 = 500 bytes
    rows = list(csvio.csv_good_rows(as_file(f"UserID,nick,level\nu1,{nick},\nu2,,0\n"), definitions=NO_CUSTOM))
    assert [row.values for row in rows] == [{NICK: nick}, {LEVEL: 0}]


def test_it_keeps_the_first_bad_rows_for_display_but_counts_them_all():
    text = "UserID,level\n" + "".join(f"u{i},-1\n" for i in range(50))
    result = check(text, max_bad_rows=10)
    assert (result.good, result.bad, len(result.bad_rows), result.bad_rows_hidden) == (0, 50, 10, 40)
    assert [row.line for row in result.bad_rows] == list(range(2, 12))


def test_it_reads_a_bom_crlf_and_a_quoted_cell_spanning_lines():
    text = '\ufeffuser_id,self_signature,LEVEL\r\nu1,"two\r\nlines, and ""quotes""",1\r\nu2,,x\r\n'
    result = check(text)
    assert result.ok and result.columns == [SIGNATURE, LEVEL]
    assert (result.good, result.bad) == (1, 1)
    assert result.bad_rows[0].line == 4  # the quoted cell took lines 2 and 3
    [row] = csvio.csv_good_rows(as_file(text), definitions=NO_CUSTOM)
    assert row.values == {SIGNATURE: 'two\r\nlines, and "quotes"', LEVEL: 1}


def test_rows_with_every_cell_empty_are_skipped_not_counted():
    result = check("UserID,nick\nu1,A\n,\n\nu2,B\n")
    assert (result.good, result.bad) == (2, 0)


def test_a_custom_tag_defined_with_admin_write_is_accepted_and_checked_at_500_bytes():
    text = f"UserID,{MOOD}\nu1,happy\nu2,{'y' * 501}\n"
    result = check(text, definitions=mood_definition())
    assert (result.good, result.bad) == (1, 1)
    assert "501 bytes" in result.bad_rows[0].reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "The file is empty"),
        ("\ufeff\n\n", "The file is empty"),
        ("nick,level\nAlice,1\n", "no UserID column (found 'nick', 'level')"),
        ("UserID,nick,colour\nu1,A,red\n", "Column 3 ('colour') is not a tag"),
        ("UserID,nick,Tag_Profile_IM_Nick\nu1,A,B\n", "Column 3 (Tag_Profile_IM_Nick) repeats column 2"),
        ("UserID,user_id,nick\n", "Column 2 is a second UserID column"),
        ("UserID,nick,\nu1,A,\n", "Column 3 has no name"),
        (f"UserID,{MOOD}\nu1,x\n", f"Column 2 ({MOOD}) is a custom tag that is not defined here"),
        ("UserID\nu1\n", "names no tag column"),
        ('UserID,nick\nu1,"never closed\n', "Line 2 is not valid CSV"),
    ],
)
def test_a_file_that_cannot_be_used_at_all_gives_a_problem_naming_why(text, expected):
    result = check(text)
    assert not result.ok and (result.good, result.bad) == (0, 0)
    assert any(expected in problem for problem in result.problems), result.problems
    with pytest.raises(csvio.CsvFormatError):
        list(csvio.csv_good_rows(as_file(text), definitions=NO_CUSTOM))


def test_a_custom_tag_without_admin_write_is_refused_in_the_header():
    result = check(f"UserID,{MOOD}\nu1,x\n", definitions=mood_definition(admin_write=False))
    assert not result.ok and "no write permission" in result.problems[0] and "40008" in result.problems[0]


@pytest.mark.parametrize(("encoding", "nick"), [("gbk", "张三"), ("latin-1", "Zoë"), ("utf-16", "Zoë 张")])
def test_a_file_that_is_not_utf8_is_refused_naming_the_line(encoding, nick):
    text = f"UserID,nick\nu1,plain\nu2,{nick}\n"
    result = csvio.csv_check(as_file(text, encoding=encoding), definitions=NO_CUSTOM)
    assert not result.ok
    [problem] = result.problems
    assert problem.startswith("The file is not UTF-8: line ")
    expected_line = 1 if encoding == "utf-16" else 3
    assert f"line {expected_line} " in problem


def write_big_file(path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("UserID,nick,gender,level,Tag_Profile_IM_Location\r\n")
        for i in range(rows):
            level = "4294967296" if i % 10_000 == 0 else str(i)  # 10 bad rows
            out.write(f"user_{i:06d},Nick number {i},Gender_Type_Male,{level},CN-{i % 97}\r\n")


def test_a_100000_row_file_is_checked_streamed_in_bounded_memory(tmp_path):
    path = tmp_path / "big.csv"
    write_big_file(path, 100_000)
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            result = csvio.csv_check(stream, definitions=NO_CUSTOM)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.good, result.bad) == (99_990, 10)
    assert [row.line for row in result.bad_rows] == [2 + i * 10_000 for i in range(10)]
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.django_db
def test_an_export_has_the_import_format_and_checks_with_no_bad_rows():
    first = Profile(user_id="u_a")
    first.apply_tag_values({
        NICK: 'Comma, "quote" 汉字', SIGNATURE: "a\nnewline", GENDER: "Gender_Type_Male", LEVEL: 4_294_967_295,
    })
    first.save()
    second = Profile(user_id="u_b", custom_values={MOOD: "calm"})
    second.apply_tag_values({"Tag_Profile_IM_BirthDay": 20190419})
    second.save()
    definitions = mood_definition()
    exported = "".join(csvio.csv_export_lines(Profile.objects.all(), definitions=definitions.values()))
    header = exported.splitlines()[0]
    assert header == "\ufeffUserID," + ",".join([*(t.wire_name for t in catalogue.STANDARD_TAGS), MOOD])
    result = check(exported, definitions=definitions)
    assert result.ok and (result.good, result.bad) == (2, 0)
    rows = list(csvio.csv_good_rows(as_file(exported), definitions=definitions))
    assert [(row.user_id, row.values) for row in rows] == [
        ("u_a", {NICK: 'Comma, "quote" 汉字', GENDER: "Gender_Type_Male", SIGNATURE: "a\nnewline",
                 LEVEL: 4_294_967_295}),
        ("u_b", {"Tag_Profile_IM_BirthDay": 20190419, MOOD: "calm"}),
    ]


@pytest.mark.django_db
def test_an_export_leaves_out_custom_tags_the_admin_may_not_write():
    definitions = mood_definition(admin_write=False)
    assert MOOD not in csvio.export_columns(definitions.values())


def test_export_guards_formula_cells_and_import_reads_them_back(db):
    from profiles.csvio import guard_cell, unguard_cell

    for nick in ["=HYPERLINK(\"http://x\")", "+1", "-5", "@SUM(A1)", "'quoted", "plain"]:
        exported = guard_cell(nick)
        assert not exported.startswith(("=", "+", "-", "@"))
        assert unguard_cell(exported) == nick
    assert guard_cell(42) == "42"  # numbers are not text a spreadsheet would run
