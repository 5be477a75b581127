"""CSV import and export in the admin: upload → preview of bad rows and counts → confirm starts a job
for the good rows only; exports stream the local copies; who may do which."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import reverse

from profiles.models import BulkJob, BulkJobItem, Profile
from profiles.views import csv as csv_views

from .conftest import audited_db

pytestmark = [audited_db, pytest.mark.urls("tests.csv_urls")]

NICK = "Tag_Profile_IM_Nick"
GENDER = "Tag_Profile_IM_Gender"
LEVEL = "Tag_Profile_IM_Level"
IMPORT_URL = "admin:profiles_profile_import_csv"
EXPORT_URL = "admin:profiles_profile_export_csv"

GOOD_AND_BAD = (
    "UserID,nick,gender,level\r\n"
    "u1,Alice,Gender_Type_Female,5\r\n"
    "u2,Bob,Gender_Type_Robot,\r\n"
    "u3,,,7\r\n"
    "u1,Alice again,,\r\n"
    "u4,,,99999999999\r\n"
)


@pytest.fixture(autouse=True)
def upload_dir(file_storages):
    """The folder of the csv_uploads storage (tests/conftest.py gives each test its own)."""
    return file_storages.uploads


def grant(user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="profiles", codename__in=codenames))


@pytest.fixture
def importer(client, cast):
    """An editor, who may change profiles and start bulk jobs."""
    grant(cast.editor, "run_bulkjob")  # the group grants it too; the test must not depend on that
    client.force_login(cast.editor)
    return client


def upload(client, text: str, name: str = "people.csv"):
    return client.post(reverse(IMPORT_URL), {"file": SimpleUploadedFile(name, text.encode("utf-8"), "text/csv")})


def test_the_upload_form_explains_the_format(importer):
    response = importer.get(reverse(IMPORT_URL))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page and "empty cell leaves that tag alone" in page


def test_the_preview_lists_each_bad_row_with_its_line_and_reason_and_the_counts(importer, upload_dir):
    response = upload(importer, GOOD_AND_BAD)
    assert response.status_code == 200
    check = response.context["check"]
    assert (check.good, check.bad) == (2, 3)
    page = response.content.decode()
    assert '<strong id="csv-good">2</strong> good rows' in page and '<strong id="csv-bad">3</strong> bad rows' in page
    assert "<td>3</td><td>u2</td>" in page and "Gender_Type_Robot" in page
    assert "<td>5</td><td>u1</td><td>Duplicate of line 2" in page
    assert "<td>6</td><td>u4</td>" in page and "99999999999 is larger than 4294967295" in page
    assert "Start a job for the 2 good rows" in page
    assert [path.name for path in upload_dir.iterdir()] == [f"{response.context['token']}.csv"]
    assert not BulkJob.objects.exists()  # nothing is sent before the confirmation


def test_confirming_creates_a_job_with_exactly_the_good_rows_and_removes_the_upload(importer, cast, upload_dir,
                                                                                    messages_of):
    token = upload(importer, GOOD_AND_BAD).context["token"]
    response = importer.post(reverse(IMPORT_URL), {"token": token})
    job = BulkJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:profiles_bulkjob_change", args=[job.pk])
    assert (job.source, job.source_name, job.total) == (BulkJob.Source.CSV, "people.csv", 2)
    assert job.created_by == cast.editor
    to_send = BulkJobItem.objects.filter(job=job).exclude(state=BulkJobItem.State.REJECTED).order_by("line")
    items = [(item.line, item.user_id, item.values) for item in to_send]
    assert items == [
        (2, "u1", {NICK: "Alice", GENDER: "Gender_Type_Female", LEVEL: 5}),
        (4, "u3", {LEVEL: 7}),
    ]
    assert list(upload_dir.iterdir()) == []
    assert any("Started job" in message and "2 rows of people.csv" in message
               for message in messages_of(importer.get(response["Location"], follow=True)))


def test_a_token_confirms_only_once(importer, messages_of):
    token = upload(importer, GOOD_AND_BAD).context["token"]
    importer.post(reverse(IMPORT_URL), {"token": token})
    again = importer.post(reverse(IMPORT_URL), {"token": token}, follow=True)
    assert BulkJob.objects.count() == 1
    assert any("no longer available" in message for message in messages_of(again))


def test_another_users_token_starts_nothing(importer, client, cast):
    token = upload(importer, GOOD_AND_BAD).context["token"]
    client.logout()
    client.force_login(cast.root)
    client.post(reverse(IMPORT_URL), {"token": token})
    assert not BulkJob.objects.exists()


def test_cancelling_sends_nothing_and_removes_the_upload(importer, upload_dir):
    token = upload(importer, GOOD_AND_BAD).context["token"]
    response = importer.post(reverse(IMPORT_URL), {"token": token, "cancel": "Cancel"})
    assert response["Location"] == reverse("admin:profiles_profile_changelist")
    assert not BulkJob.objects.exists() and list(upload_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "The file is empty"),
        (b"nick,level\r\nAlice,1\r\n", "no UserID column"),
        ("UserID,nick\r\nu1,Zoë\r\n".encode("latin-1"), "The file is not UTF-8: line 2"),
    ],
)
def test_a_file_that_cannot_be_used_shows_why_and_offers_no_confirmation(importer, upload_dir, content, expected):
    response = importer.post(reverse(IMPORT_URL), {"file": SimpleUploadedFile("bad.csv", content)})
    # An empty upload is refused by the form itself ("The submitted file is empty.").
    page = response.content.decode()
    assert response.status_code == 200
    assert expected in page or (content == b"" and "The submitted file is empty" in page)
    assert 'name="token"' not in page and list(upload_dir.iterdir()) == []


def test_a_file_with_only_bad_rows_offers_no_confirmation(importer, upload_dir):
    response = upload(importer, "UserID,level\r\nu1,-1\r\n")
    assert (response.context["check"].good, response.context["check"].bad) == (0, 1)
    # The upload stays for the download of its bad rows; posting its token starts nothing.
    assert "Start a job" not in response.content.decode()
    importer.post(reverse(IMPORT_URL), {"token": response.context["token"]})
    assert not BulkJob.objects.exists() and list(upload_dir.iterdir()) == []


def test_an_auditor_may_not_import(client, cast):
    client.force_login(cast.auditor)
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    assert upload(client, GOOD_AND_BAD).status_code == 403


def test_an_editor_without_the_bulk_job_permission_may_not_import(client, django_user_model, upload_dir):
    editor = django_user_model.objects.create_user(username="plain_editor", is_staff=True)
    grant(editor, "view_profile", "change_profile")
    client.force_login(editor)
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    assert upload(client, GOOD_AND_BAD).status_code == 403
    assert list(upload_dir.iterdir()) == []


def test_the_bulk_job_permission_alone_is_not_enough_to_import(client, cast):
    grant(cast.auditor, "run_bulkjob")
    client.force_login(cast.auditor)
    assert client.get(reverse(IMPORT_URL)).status_code == 403


def make_profiles():
    for user_id, nick, gender in [("u_a", "Ann", "Gender_Type_Female"), ("u_b", "Bo, \"B\"", "Gender_Type_Male")]:
        profile = Profile(user_id=user_id)
        profile.apply_tag_values({NICK: nick, GENDER: gender, LEVEL: 3})
        profile.save()


def streamed_text(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def test_an_auditor_exports_every_local_copy_in_the_import_format(client, cast):
    make_profiles()
    client.force_login(cast.auditor)
    response = client.get(reverse(EXPORT_URL))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="profiles-')
    lines = streamed_text(response).splitlines()
    assert lines[0].startswith("\ufeffUserID,Tag_Profile_IM_Nick,Tag_Profile_IM_Gender,")
    assert [line.split(",")[0] for line in lines[1:]] == ["u_a", "u_b"]
    assert lines[2].startswith('u_b,"Bo, ""B""",Gender_Type_Male,')


def test_the_export_follows_the_change_lists_filters(client, cast):
    make_profiles()
    client.force_login(cast.auditor)
    response = client.get(reverse(EXPORT_URL), {"gender__exact": "Gender_Type_Male"})
    assert [line.split(",")[0] for line in streamed_text(response).splitlines()[1:]] == ["u_b"]


def test_staff_without_view_permission_may_not_export(client, cast):
    client.force_login(cast.outsider)
    assert client.get(reverse(EXPORT_URL)).status_code == 403


def test_the_export_selected_action_streams_only_the_selection(cast):
    make_profiles()
    request = RequestFactory().post("/")
    request.user = cast.auditor
    from django.contrib import admin

    response = csv_views.export_selected_csv(
        admin.site.get_model_admin(Profile), request, Profile.objects.filter(user_id="u_a")
    )
    assert [line.split(",")[0] for line in streamed_text(response).splitlines()] == ["\ufeffUserID", "u_a"]


def test_the_change_list_links_to_import_and_export_for_those_allowed(client, cast, importer):
    page = importer.get(reverse("admin:profiles_profile_changelist")).content.decode()
    assert reverse(IMPORT_URL) in page and reverse(EXPORT_URL) in page
    client.force_login(cast.auditor)
    page = client.get(reverse("admin:profiles_profile_changelist")).content.decode()
    assert reverse(IMPORT_URL) not in page and reverse(EXPORT_URL) in page
