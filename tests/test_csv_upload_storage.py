"""CSV uploads wait between preview and confirm in the ``csv_uploads`` storage, never at a local
path: a second web server confirms what the first previewed, an object store works as well as a
folder, and unconfirmed uploads are cleaned up through the storage."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from profiles.models import BulkJob, BulkJobItem

from .conftest import audited_db

pytestmark = audited_db

IMPORT_URL = "admin:profiles_profile_import_csv"
CSV = "UserID,nick\r\nu1,Alice\r\nu2,Bob\r\nu3,\r\n"


@pytest.fixture
def importer(client, cast):
    cast.editor.user_permissions.add(Permission.objects.get(codename="run_bulkjob"))
    client.force_login(cast.editor)
    return client


def preview(client) -> str:
    response = client.post(reverse(IMPORT_URL), {"file": SimpleUploadedFile("people.csv", CSV.encode(), "text/csv")})
    assert response.status_code == 200 and response.context["token"]
    return response.context["token"]


def test_no_module_keeps_uploads_or_archives_at_a_path_of_its_own():
    root = Path(django_settings.BASE_DIR) / "profiles"
    for source in root.rglob("*.py"):
        text = source.read_text()
        assert "VAR_DIR" not in text, source
        if source.name in ("csv.py", "archive.py"):
            assert not re.search(r"\bPath\(|pathlib|tempfile\.mkstemp|os\.replace", text), source


def test_a_second_web_server_confirms_what_the_first_previewed(importer, file_storages, web_server):
    token = preview(importer)
    assert [path.name for path in file_storages.uploads.iterdir()] == [f"{token}.csv"]
    # Another process, sharing only the database (and the session in it) and the uploads' storage.
    second = web_server()
    browser = requests.Session()
    cookie = django_settings.SESSION_COOKIE_NAME
    browser.cookies.set(cookie, importer.cookies[cookie].value)
    page = browser.get(second + reverse(IMPORT_URL), timeout=30)
    assert page.status_code == 200, page.text[:500]
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = browser.post(second + reverse(IMPORT_URL), data={"token": token, "csrfmiddlewaretoken": csrf},
                          allow_redirects=False, timeout=30)
    job = BulkJob.objects.get()
    assert answer.status_code == 302 and answer.headers["Location"] == reverse(
        "admin:profiles_bulkjob_change", args=[job.pk])
    items = BulkJobItem.objects.filter(job=job).exclude(state=BulkJobItem.State.REJECTED)
    assert job.total == 2 and sorted(items.values_list("user_id", flat=True)) == ["u1", "u2"]
    assert list(file_storages.uploads.iterdir()) == []


def test_preview_bad_rows_and_confirm_work_when_the_uploads_storage_is_no_folder(importer, settings):
    settings.STORAGES = {**settings.STORAGES, "csv_uploads": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    storage = storages["csv_uploads"]
    token = preview(importer)
    assert storage.listdir("") == ([], [f"{token}.csv"])
    bad_rows = importer.get(reverse("admin:profiles_profile_import_csv_bad_rows", args=[token]))
    assert b"".join(bad_rows.streaming_content).decode("utf-8-sig").splitlines()[1].startswith("4,")  # u3's line
    importer.post(reverse(IMPORT_URL), {"token": token})
    assert BulkJob.objects.get().total == 2 and storage.listdir("") == ([], [])


def test_unconfirmed_uploads_are_removed_a_day_later_through_the_storage(importer, file_storages):
    storage = storages["csv_uploads"]
    old = storage.save("abandoned.csv", ContentFile(b"UserID,nick\n"))
    fresh = storage.save("recent.csv", ContentFile(b"UserID,nick\n"))
    other = storage.save("notes.txt", ContentFile(b"not an upload"))
    two_days_ago = time.time() - 2 * 24 * 3600
    for name in (old, other):
        os.utime(file_storages.uploads / name, (two_days_ago, two_days_ago))
    token = preview(importer)
    assert sorted(storage.listdir("")[1]) == sorted([fresh, other, f"{token}.csv"])
