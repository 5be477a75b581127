"""Uploads over UPLOAD_MAX_MB are refused before they are read, with a form error giving the size and the
limit (the CSRF check still passes); ``im_set --csv`` refuses what is not a regular file within the limit
at once, with one line."""

from __future__ import annotations

import resource
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.test.client import BOUNDARY, FakePayload, encode_multipart
from django.urls import reverse

from profiles.models import BulkJob

from .conftest import audited_db, child_env

pytestmark = audited_db

IMPORT_URL = reverse("admin:profiles_profile_import_csv")
MB = 1024 * 1024
HEADER = b"UserID,nick\r\n"


class CountingPayload(FakePayload):
    """The request body as the server hands it over, counting what the application reads of it."""

    bytes_read = 0

    def read(self, size=-1, /):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size=-1, /):
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


def csv_of(size: int) -> bytes:
    """A valid CSV file of exactly ``size`` bytes."""
    row = b"u_1,a nick\r\n"
    body = HEADER + row
    return body + b" " * (size - len(body) - 2) + b"\r\n"


@pytest.fixture
def uploader(cast, settings, tmp_path):
    """An editor's browser: CSRF checks on, as in production, so the CSRF check reads the form first."""
    settings.CSV_UPLOAD_DIR = str(tmp_path)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.editor)
    browser.get(IMPORT_URL)  # sets the CSRF cookie
    return browser


def post_file(client: Client, content: bytes, **environ):
    """POST the import form (CSRF token first, as the page orders it) with ``content`` as the file."""
    token = client.cookies["csrftoken"].value
    body = encode_multipart(BOUNDARY, {"csrfmiddlewaretoken": token, "file": SimpleUploadedFile("big.csv", content)})
    payload = CountingPayload(body)
    # Already encoded: the content type is given as text, so the client sends the bytes as they are.
    response = client.post(IMPORT_URL, data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}",
                           **{"wsgi.input": payload, **environ})
    return response, payload, len(body)


def file_errors(response) -> str:
    return " ".join(response.context["form"].errors.get("file", []))


def test_an_upload_far_over_the_limit_is_refused_before_its_file_is_read(uploader, settings, tmp_path):
    settings.UPLOAD_MAX_MB = 0.05
    response, payload, size = post_file(uploader, csv_of(5 * MB))
    assert response.status_code == 200  # the CSRF check passed: the form's fields before the file were read
    assert "The file is 5.0 MB; the limit is 0.05 MB." in file_errors(response)
    assert payload.bytes_read < 256 * 1024 < size
    assert list(tmp_path.iterdir()) == [] and not BulkJob.objects.exists()
    assert 'name="token"' not in response.content.decode()


def test_the_refusal_gives_the_size_and_the_limit_in_mb(uploader):
    response, payload, size = post_file(uploader, csv_of(25 * MB))  # the default limit: 20 MB
    assert "The file is 25.0 MB; the limit is 20 MB." in file_errors(response)
    assert payload.bytes_read < 256 * 1024 < size


def test_a_file_one_byte_over_the_limit_is_stopped_as_its_bytes_pass_it_and_one_at_the_limit_is_not(
    uploader, settings, tmp_path
):
    settings.UPLOAD_MAX_MB = 0.05
    limit = int(0.05 * MB)
    response, _payload, _size = post_file(uploader, csv_of(limit + 1))
    assert response.status_code == 200
    assert f"The file is larger than the limit of 0.05 MB ({limit:,} bytes)." in file_errors(response)
    assert list(tmp_path.iterdir()) == []
    response, _payload, _size = post_file(uploader, csv_of(limit))
    assert response.status_code == 200 and response.context["check"].good == 1


# --- im_set --csv --------------------------------------------------------------------------------------


def im_set_csv(path: str) -> subprocess.CompletedProcess:
    """``manage.py im_set --csv PATH`` in a child process whose memory is capped at 1 GB, so a
    command that read /dev/zero without end would fail instead of filling the machine."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1024 * MB, 1024 * MB))

    return subprocess.run(
        [sys.executable, "manage.py", "im_set", "--csv", path, "--actor", "editor"], capture_output=True,
        text=True, env=child_env(), cwd=django_settings.BASE_DIR, timeout=60, preexec_fn=cap_memory,
    )


@pytest.mark.parametrize("path", ["/dev/zero", "/tmp"])
def test_im_set_refuses_what_is_not_a_regular_file_at_once_with_one_line(cast, path):
    result = im_set_csv(path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"CommandError: {path} is not a regular file."


def test_im_set_refuses_a_file_over_the_limit_before_reading_it(cast, settings, tmp_path):
    settings.UPLOAD_MAX_MB = 0.05
    path = tmp_path / "big.csv"
    path.write_bytes(csv_of(MB))
    with pytest.raises(CommandError) as refused:
        call_command("im_set", "--csv", str(path), "--actor", "editor", stdout=StringIO(), stderr=StringIO())
    assert str(refused.value) == "big.csv: The file is 1.0 MB; the limit is 0.05 MB."
    assert not BulkJob.objects.exists()


def test_im_set_refuses_a_file_of_nul_bytes_with_one_line(cast, tmp_path):
    path = tmp_path / "zeros.csv"
    path.write_bytes(b"\x00" * 100_000)
    with pytest.raises(CommandError) as refused:
        call_command("im_set", "--csv", str(path), "--actor", "editor", stdout=StringIO(), stderr=StringIO())
    message = str(refused.value)
    assert "\n" not in message and len(message) < 600
    assert "zeros.csv cannot be used" in message and "no UserID column" in message and "\\x00" in message
    assert not BulkJob.objects.exists()


def test_im_set_reports_rows_with_nul_bytes_as_bad_rows_with_their_lines(cast, tmp_path):
    path = tmp_path / "some-nul.csv"
    path.write_bytes(b"UserID,nick\nu_1,fine\nu_2,n\x00l\n")
    err = StringIO()
    with pytest.raises(CommandError, match="1 bad row"):
        call_command("im_set", "--csv", str(path), "--actor", "editor", stdout=StringIO(), stderr=err)
    assert "line 3 (u_2)" in err.getvalue() and "U+0000" in err.getvalue()
