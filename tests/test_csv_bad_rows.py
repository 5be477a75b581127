"""The rows a CSV check refuses can be downloaded from the preview (line, reason, the row's own cells),
and they stay in the job as "rejected by check", so the job's results CSV tells the whole story."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from profiles.models import BulkJob, BulkJobItem
from profiles.services import jobpush

from .conftest import audited_db, run_manage

pytestmark = audited_db

IMPORT_URL = reverse("admin:profiles_profile_import_csv")
FILE = (
    "UserID,nick,gender,level\r\n"
    "u1,Alice,Gender_Type_Female,5\r\n"
    "u2,=HYPERLINK(\"x\"),Gender_Type_Robot,\r\n"
    "u3,,,7\r\n"
    "u1,Alice again,,\r\n"
    "u4,,,99999999999\r\n"
)


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    directory = tmp_path / "uploads"
    directory.mkdir()
    settings.CSV_UPLOAD_DIR = str(directory)
    return directory


def upload(client, text: str, name: str = "people.csv"):
    return client.post(IMPORT_URL, {"file": SimpleUploadedFile(name, text.encode("utf-8"), "text/csv")})


def table_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def bad_rows_url(token: str) -> str:
    return reverse("admin:profiles_profile_import_csv_bad_rows", args=[token])


def test_the_preview_offers_the_bad_rows_with_their_cells_and_reasons(editor_client):
    preview = upload(editor_client, FILE)
    token = preview.context["token"]
    page = preview.content.decode()
    assert f'href="{bad_rows_url(token)}"' in page and "Download all 3 bad rows (CSV)" in page

    response = editor_client.get(bad_rows_url(token))
    assert response["Content-Disposition"] == 'attachment; filename="people-bad-rows.csv"'
    table = table_of(response)
    assert table[0] == ["line", "reason", "UserID", "nick", "gender", "level"]
    assert [row[0] for row in table[1:]] == ["3", "5", "6"]
    # The row's own cells, a formula guarded so a spreadsheet shows it instead of running it.
    assert table[1][2:] == ["u2", "'=HYPERLINK(\"x\")", "Gender_Type_Robot", ""]
    assert "Gender_Type_Robot" in table[1][1]
    assert table[2][1].startswith("Duplicate of line 2") and table[2][2:] == ["u1", "Alice again", "", ""]
    assert "larger than 4294967295" in table[3][1]
    assert not BulkJob.objects.exists()


def test_only_the_uploader_may_download_the_bad_rows(editor_client, client, cast, messages_of):
    token = upload(editor_client, FILE).context["token"]
    client.force_login(cast.root)  # allowed to import, but it is not their upload
    response = client.get(bad_rows_url(token), follow=True)
    assert not hasattr(response, "streaming_content")
    assert any("no longer available" in message for message in messages_of(response))
    client.force_login(cast.auditor)
    assert client.get(bad_rows_url(token)).status_code == 403
    assert editor_client.get(bad_rows_url("not a token")).status_code in (403, 404)


def test_a_file_with_only_bad_rows_can_be_downloaded_then_discarded(editor_client, upload_dir):
    preview = upload(editor_client, "UserID,level\r\nu1,-1\r\n")
    token = preview.context["token"]
    page = preview.content.decode()
    assert "Start a job" not in page and 'id="csv-discard"' in page
    [bad] = preview.context["check"].bad_rows
    assert [row[:3] for row in table_of(editor_client.get(bad_rows_url(token)))[1:]] == [["2", bad.reason, "u1"]]
    editor_client.post(IMPORT_URL, {"token": token, "cancel": "Discard the upload"})
    assert list(upload_dir.iterdir()) == [] and not BulkJob.objects.exists()


def test_rejected_rows_are_kept_in_the_job_and_its_results(editor_client, emulator, settings):
    settings.IM_JOB_BACKOFF_BASE = 0.01
    emulator.add_account("u1")
    emulator.add_account("u3")
    token = upload(editor_client, FILE).context["token"]
    editor_client.post(IMPORT_URL, {"token": token})
    job = BulkJob.objects.get()
    assert job.total == 2
    rejected = job.items.filter(state=BulkJobItem.State.REJECTED).order_by("line")
    assert [(item.line, item.user_id) for item in rejected] == [(3, "u2"), (5, "u1"), (6, "u4")]
    assert jobpush.job_work(job_id=job.pk, seconds=10)
    job.refresh_from_db()
    assert job.state == BulkJob.State.DONE and len(emulator.requests("profile/portrait_set")) == 2

    page = editor_client.get(reverse("admin:profiles_bulkjob_change", args=[job.pk])).content.decode()
    assert "3 rows of the file were rejected by the check and not sent" in page
    table = table_of(editor_client.get(reverse("admin:profiles_bulkjob_results", args=[job.pk])))
    assert [(row[0], row[1], row[5]) for row in table[1:]] == [
        ("u1", "succeeded", "2"), ("u2", "rejected by check", "3"), ("u3", "succeeded", "4"),
        ("u1", "rejected by check", "5"), ("u4", "rejected by check", "6"),
    ]
    assert "Gender_Type_Robot" in table[2][3] and table[4][3].startswith("Duplicate of line 2")


def test_im_set_keeps_the_skipped_rows_in_the_job(tmp_path, cast, emulator):
    path = tmp_path / "edits.csv"
    path.write_text("UserID,gender\nu_1,Gender_Type_Male\nu_2,Robot\n", encoding="utf-8")
    result = run_manage("im_set", "--csv", str(path), "--actor", "editor", "--skip-bad")
    assert result.returncode == 0, result.stderr
    job = BulkJob.objects.get()
    assert job.total == 1
    rejected = job.items.get(state=BulkJobItem.State.REJECTED)
    assert (rejected.line, rejected.user_id) == (3, "u_2") and "40605" in rejected.message
