"""Every CSV the app writes guards each text cell a spreadsheet would run as a formula (OWASP CSV
injection), the UserID column included, and the profile export still imports back to the same values."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from profiles import csvio
from profiles.models import BulkJob, CustomTagDefinition, Profile
from profiles.services import jobs

from .conftest import audited_db

pytestmark = audited_db

NICK = "Tag_Profile_IM_Nick"
FORMULA_USER_IDS = ['=HYPERLINK("x")', "+1", "-1", "@SUM(1)"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def table(response) -> list[list[str]]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def assert_no_formula(rows: list[list[str]]) -> None:
    risky = [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)]
    assert risky == []


@pytest.fixture
def formula_profiles() -> list[Profile]:
    profiles = []
    for user_id in FORMULA_USER_IDS:
        profile = Profile(user_id=user_id)
        profile.apply_tag_values({NICK: "=1+1"})
        profile.save()
        profiles.append(profile)
    return profiles


def test_the_profile_export_guards_the_user_id_and_every_tag_cell(client, cast, formula_profiles):
    client.force_login(cast.auditor)
    rows = table(client.get(reverse("admin:profiles_profile_export_csv")))
    assert_no_formula(rows)
    assert sorted(row[0] for row in rows[1:]) == sorted("'" + user_id for user_id in FORMULA_USER_IDS)
    assert {row[1] for row in rows[1:]} == {"'=1+1"}


def test_the_profile_export_imports_back_to_the_same_user_ids_and_values(client, cast, formula_profiles):
    client.force_login(cast.auditor)
    response = client.get(reverse("admin:profiles_profile_export_csv"))
    exported = b"".join(response.streaming_content)
    check = csvio.csv_check(io.BytesIO(exported), definitions={})
    assert (check.good, check.bad, check.problems) == (len(FORMULA_USER_IDS), 0, [])
    rows = list(csvio.csv_good_rows(io.BytesIO(exported), definitions={}))
    assert sorted((row.user_id, row.values[NICK]) for row in rows) == sorted((u, "=1+1") for u in FORMULA_USER_IDS)


@pytest.mark.parametrize(
    "value",
    ["=1", "'=1", "''=1", "'", "''", "'abc", "''abc", "\tx", "\rx", "-", "@", "plain", "it's", ""],
)
def test_guarding_then_unguarding_gives_back_every_value_and_only_text_is_guarded(value):
    guarded = csvio.guard_cell(value)
    assert not guarded.startswith(FORMULA_STARTS)
    assert csvio.unguard_cell(guarded) == value


def test_a_value_beginning_with_an_apostrophe_but_no_formula_is_written_as_it_is():
    # A hand-written file's 'abc stays 'abc on import; so the export must not change it either.
    assert csvio.guard_cell("'abc") == "'abc" and csvio.unguard_cell("'abc") == "'abc"
    assert csvio.guard_cell("''=x") == "'''=x"


def test_a_custom_tag_value_that_looks_like_a_formula_round_trips(db):
    definition = CustomTagDefinition(keyword="Mood", admin_write=True)
    profile = Profile(user_id="u_1", custom_values={definition.wire_name: "@mention"})
    profile.apply_tag_values({NICK: "'+quoted"})
    profile.save()
    exported = "".join(csvio.csv_export_lines(Profile.objects.all(), definitions=[definition]))
    row = list(csv.reader(io.StringIO(exported.removeprefix("\ufeff"))))[1]
    assert row[1] == "''+quoted" and row[-1] == "'@mention"
    [good] = csvio.csv_good_rows(io.BytesIO(exported.encode()), definitions={definition.wire_name: definition})
    assert good.values == {NICK: "'+quoted", definition.wire_name: "@mention"}


def test_the_job_results_csv_guards_the_user_id_column(editor_client, cast, emulator):
    rows = [jobs.JobRow(user_id=user_id, values={NICK: "x"}) for user_id in FORMULA_USER_IDS]
    job = jobs.job_create(actor=cast.editor, source=BulkJob.Source.COMMAND, source_name="t", rows=rows, enqueue=False)
    results = table(editor_client.get(reverse("admin:profiles_bulkjob_results", args=[job.pk])))
    assert_no_formula(results)
    assert sorted(row[0] for row in results[1:]) == sorted("'" + user_id for user_id in FORMULA_USER_IDS)
