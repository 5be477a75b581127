"""im_set --csv: a CSV file becomes a background job from the command line, optionally followed."""

from __future__ import annotations

import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from profiles.models import BulkJob
from profiles.services import jobpush

from .conftest import audited_db

pytestmark = audited_db


def write_csv(tmp_path, text: str):
    path = tmp_path / "trust-and-safety.csv"
    path.write_text(text, encoding="utf-8")
    return path


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("im_set", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_queues_a_job_and_prints_its_id(tmp_path, cast, emulator):
    path = write_csv(tmp_path, "UserID,nick,level\nu_1,One,1\nu_2,Two,2\n")
    out, _err = run("--csv", str(path), "--actor", "editor")
    job = BulkJob.objects.get()
    assert f"Job #{job.pk} queued: 2 row(s) from trust-and-safety.csv" in out
    assert job.source == BulkJob.Source.CSV and job.source_name == "trust-and-safety.csv"
    assert dict(job.items.values_list("user_id", "values")) == {
        "u_1": {"Tag_Profile_IM_Nick": "One", "Tag_Profile_IM_Level": 1},
        "u_2": {"Tag_Profile_IM_Nick": "Two", "Tag_Profile_IM_Level": 2},
    }


def test_bad_rows_stop_it_unless_told_to_skip_them(tmp_path, cast, emulator):
    path = write_csv(tmp_path, "UserID,gender\nu_1,Gender_Type_Male\nu_2,Robot\n")
    with pytest.raises(CommandError, match="1 bad row"):
        run("--csv", str(path), "--actor", "editor")
    assert not BulkJob.objects.exists()
    out, err = run("--csv", str(path), "--actor", "editor", "--skip-bad")
    assert "line 3 (u_2)" in err and "40605" in err
    assert BulkJob.objects.get().total == 1


def test_an_unusable_file_is_named(tmp_path, cast, emulator):
    path = write_csv(tmp_path, "nick,level\nOne,1\n")
    with pytest.raises(CommandError, match="cannot be used"):
        run("--csv", str(path), "--actor", "editor")
    with pytest.raises(CommandError, match="Cannot read"):
        run("--csv", str(tmp_path / "missing.csv"), "--actor", "editor")


def test_an_auditor_cannot_start_a_job(tmp_path, cast, emulator):
    path = write_csv(tmp_path, "UserID,nick\nu_1,One\n")
    with pytest.raises(CommandError, match="not allowed"):
        run("--csv", str(path), "--actor", "auditor")


def test_wait_follows_the_job_to_the_end(tmp_path, cast, emulator, settings):
    settings.IM_JOB_BACKOFF_BASE = 0.01
    emulator.add_account("u_1")
    path = write_csv(tmp_path, "UserID,nick\nu_1,One\nu_missing,Two\n")

    def worker():  # stands in for a qcluster worker
        try:
            deadline = time.monotonic() + 20
            while not BulkJob.objects.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            job = BulkJob.objects.get()
            while not jobpush.job_work(job_id=job.pk, seconds=2):
                pass
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        with pytest.raises(CommandError, match="1 item\\(s\\) failed"):
            out = StringIO()
            call_command("im_set", "--csv", str(path), "--actor", "editor", "--wait", stdout=out, stderr=StringIO())
    finally:
        thread.join(timeout=30)
    assert "[" in out.getvalue() and "2/2" in out.getvalue()
    assert "1 succeeded, 1 failed" in out.getvalue()
    assert emulator.profile("u_1")["Tag_Profile_IM_Nick"] == "One"
