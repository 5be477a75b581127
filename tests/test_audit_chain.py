"""The audit trail is append-only and verifiable: sealed rows refuse changes, the hash chain shows
any row altered, removed or moved, and archiving keeps the rest verifiable."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection
from django.utils import timezone

from profiles import auditchain, services
from profiles.models import AuditAnchor, AuditChainHead, AuditRowImmutable, ImRequest, ImRequestSubject
from profiles.services.archive import archive_verify
from profiles.services.audit import audit_verify

from .conftest import audited_db, child_env, run_manage

pytestmark = audited_db

TABLE = ImRequest._meta.db_table


def verify_output() -> tuple[int, str]:
    result = run_manage("audit_verify")
    return result.returncode, result.stdout + result.stderr


def test_each_completed_request_is_sealed_into_one_chain(emulator, send_checks):
    rows = send_checks(4)
    assert [row.chain_seq for row in rows] == [1, 2, 3, 4]
    assert rows[0].chain_prev == auditchain.GENESIS
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.chain_prev == before.chain_hash
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (4, rows[-1].chain_hash)
    report = audit_verify()
    assert report.ok and report.checked == 4 and report.pending == 0


def test_refused_and_failed_requests_are_sealed_too(emulator, remote_user):
    from profiles.im.emulator import Fault

    profile = remote_user("u_1")
    emulator.inject(Fault(kind="error_code", error_code=40005, command="profile/portrait_set"))
    services.profile_push(profile=profile, values={"Tag_Profile_IM_Nick": "x"}, actor=None, source="command")
    emulator.inject(Fault(kind="drop"))
    services.profile_push(profile=profile, values={"Tag_Profile_IM_Nick": "y"}, actor=None, source="command")
    states = list(ImRequest.objects.order_by("chain_seq").values_list("state", "chain_seq"))
    assert states == [("im_error", 1), ("transport_error", 2)]
    assert audit_verify().ok


def test_the_orm_refuses_to_change_or_delete_a_complete_row(emulator, send_checks):
    row = send_checks(1)[0]
    row.note = "edited"
    with pytest.raises(AuditRowImmutable, match=f"Audit row #{row.pk} is complete and cannot be changed"):
        row.save()
    with pytest.raises(AuditRowImmutable, match="cannot be changed"):
        ImRequest.objects.filter(pk=row.pk).update(note="edited")
    with pytest.raises(AuditRowImmutable, match="cannot be deleted"):
        row.delete()
    with pytest.raises(AuditRowImmutable, match="cannot be deleted"):
        ImRequest.objects.all().delete()
    assert ImRequest.objects.get(pk=row.pk).note == "" and audit_verify().ok


def test_a_pending_row_can_still_be_completed():
    pending = ImRequest.objects.create(source="command", command="im_open_login_svc/account_check",
                                       request_body={}, random=1)
    pending.note = "still open"
    pending.save()
    assert ImRequest.objects.get(pk=pending.pk).note == "still open"


def test_deleting_a_staff_account_keeps_its_rows_and_the_chain(emulator, django_user_model, send_checks):
    agent = django_user_model.objects.create_user(username="leaver", password="x", is_staff=True)
    send_checks(2, actor=agent)
    agent.delete()
    rows = ImRequest.objects.all()
    assert [(row.actor_id, row.actor_username) for row in rows] == [(None, "leaver"), (None, "leaver")]
    assert audit_verify().ok


def test_verify_reports_a_row_edited_with_raw_sql(emulator, send_checks, raw_audit_sql):
    rows = send_checks(5)
    raw_audit_sql(f"UPDATE {TABLE} SET error_code = 0, note = 'fine' WHERE id = %s", [rows[2].pk])
    report = audit_verify()
    assert report.problem.kind == "altered" and report.problem.row_id == rows[2].pk
    assert report.checked == 2
    code, output = verify_output()
    assert code == 1
    assert f"row id {rows[2].pk} (#3) no longer matches its hash: it was altered" in output


def test_verify_reports_a_deleted_row(emulator, send_checks, raw_audit_sql):
    rows = send_checks(5)
    raw_audit_sql(f"DELETE FROM {TABLE} WHERE id = %s", [rows[1].pk])
    report = audit_verify()
    assert report.problem.kind == "removed" and report.problem.seq == 3
    code, output = verify_output()
    assert code == 1 and "chain position #2 is missing" in output and "removed" in output


def test_verify_reports_the_newest_rows_removed(emulator, send_checks, raw_audit_sql):
    rows = send_checks(3)
    raw_audit_sql(f"DELETE FROM {TABLE} WHERE id = %s", [rows[-1].pk])
    report = audit_verify()
    assert report.problem.kind == "truncated"
    assert "the chain ends at #2 but the chain head records #3" in report.problem.message


def test_verify_reports_two_rows_swapped(emulator, send_checks, raw_audit_sql):
    rows = send_checks(4)
    second, third = rows[1], rows[2]
    raw_audit_sql(f"UPDATE {TABLE} SET chain_seq = 1000 WHERE id = %s", [second.pk])
    raw_audit_sql(f"UPDATE {TABLE} SET chain_seq = 2 WHERE id = %s", [third.pk])
    raw_audit_sql(f"UPDATE {TABLE} SET chain_seq = 3 WHERE id = %s", [second.pk])
    report = audit_verify()
    assert report.problem.kind == "out_of_order" and report.problem.row_id == third.pk
    code, output = verify_output()
    assert code == 1 and "does not follow the row before it" in output


def test_verify_reports_a_row_inserted_with_a_forged_place(emulator, send_checks, raw_audit_sql):
    rows = send_checks(3)
    forged = {name: getattr(rows[1], name) for name in ("source", "command", "random", "user_id", "state")}
    raw_audit_sql(f"UPDATE {TABLE} SET chain_seq = chain_seq + 10 WHERE chain_seq >= 2")
    ImRequest.objects.create(
        **forged, request_body={}, chain_seq=2, chain_prev=rows[0].chain_hash, chain_hash="f" * 64,
        completed_at=timezone.now(),
    )
    report = audit_verify()
    assert not report.ok and report.problem.seq == 2


def test_a_batch_reads_answer_summary_verifies_from_the_stored_row(emulator):
    """A batch read's row keeps a summary of the answer (not the values); the hash recomputed from
    the stored row matches the one taken when it was sealed, Unicode and per-user failures included."""
    for n in range(3):
        emulator.add_account(f"batch_{n}", {"Tag_Profile_IM_Nick": f"玩家 {n} \u00e9", "Tag_Profile_IM_Level": n})
    outcome = services.profile_pull(
        user_ids=["batch_0", "batch_1", "batch_2", "missing_one"], actor=None, source="command"
    )
    assert sorted(outcome.pulled) == ["batch_0", "batch_1", "batch_2"] and list(outcome.failures) == ["missing_one"]
    row = ImRequest.objects.get()
    assert row.response_body["ProfileItemValuesOmitted"] is True and len(row.response_body["UserProfileItem"]) == 4
    report = audit_verify()
    assert report.ok and report.checked == 1, report


def test_verify_passes_and_says_so(emulator, send_checks):
    send_checks(3)
    code, output = verify_output()
    assert code == 0 and "OK: audit chain from the start intact, 3 row(s) checked" in output


def test_rows_sealed_by_several_processes_at_once_form_one_chain(emulator_server, emulator):
    env = child_env()
    writers = [
        subprocess.Popen([sys.executable, str(Path(__file__).with_name("audit_writer.py")), "40"], env=env,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for writer in writers:
        _out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    seqs = list(ImRequest.objects.order_by("chain_seq").values_list("chain_seq", flat=True))
    assert seqs == list(range(1, 121))
    report = audit_verify()
    assert report.ok and report.checked == 120


def archive_records(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


def archive_split(emulator, tmp_path, send_checks, old: int = 3, new: int = 2) -> tuple[list[ImRequest], Path, object]:
    send_checks(old)
    cutoff = timezone.now()
    send_checks(new)
    return list(ImRequest.objects.order_by("chain_seq")), tmp_path / "audit-old.jsonl.gz", cutoff


def test_archive_moves_old_rows_to_a_file_and_the_chain_verifies_from_the_anchor(emulator, tmp_path, send_checks):
    services.profile_pull(user_ids=["a", "b"], actor=None, source="command")  # a batch read with subjects
    rows, target, cutoff = archive_split(emulator, tmp_path, send_checks)
    out = StringIO()
    call_command("audit_archive", "--before", cutoff.isoformat(), "--to", str(target), stdout=out)
    assert "Archived 4 row(s) (#1 to #4)" in out.getvalue()
    assert list(ImRequest.objects.order_by("chain_seq").values_list("chain_seq", flat=True)) == [5, 6]
    assert not ImRequestSubject.objects.exists()
    anchor = AuditAnchor.objects.get()
    assert (anchor.seq, anchor.hash, anchor.rows) == (4, rows[3].chain_hash, 4)
    report = audit_verify()
    assert report.ok and report.start_seq == 4 and report.checked == 2

    records = archive_records(target)
    assert records[0]["format"] == "improfile-audit-archive-v1"
    assert records[0]["start"] == {"seq": 0, "hash": auditchain.GENESIS}
    assert [record["chain_seq"] for record in records[1:-1]] == [1, 2, 3, 4]
    assert records[-1] == {"end": {"seq": 4, "hash": rows[3].chain_hash}, "rows": 4}
    assert archive_verify(target).ok
    code_output = run_manage("audit_verify", "--archive", str(target))
    assert code_output.returncode == 0 and "4 row(s) checked" in code_output.stdout


def test_a_second_archive_continues_from_the_first_anchor(emulator, tmp_path, send_checks):
    rows, first, cutoff = archive_split(emulator, tmp_path, send_checks)
    call_command("audit_archive", "--before", cutoff.isoformat(), "--to", str(first), stdout=StringIO())
    second = tmp_path / "audit-new.jsonl.gz"
    call_command("audit_archive", "--before", timezone.now().isoformat(),
                 "--to", str(second), stdout=StringIO())
    assert not ImRequest.objects.exists()
    header = archive_records(second)[0]
    assert header["start"] == {"seq": 3, "hash": rows[2].chain_hash}
    assert archive_verify(second).ok and audit_verify().ok
    send_checks(1)
    report = audit_verify()
    assert report.ok and report.start_seq == 5 and report.checked == 1


def test_an_edited_archive_file_is_reported(emulator, tmp_path, send_checks):
    _rows, target, cutoff = archive_split(emulator, tmp_path, send_checks)
    call_command("audit_archive", "--before", cutoff.isoformat(), "--to", str(target), stdout=StringIO())
    lines = [json.dumps(record) for record in archive_records(target)]
    row = json.loads(lines[2])
    row["error_code"] = 12345
    lines[2] = json.dumps(row)
    with gzip.open(target, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    report = archive_verify(target)
    assert report.problem.kind == "altered" and report.problem.seq == 2


def test_archive_refuses_a_broken_chain_and_removes_nothing(emulator, tmp_path, send_checks, raw_audit_sql):
    rows, target, cutoff = archive_split(emulator, tmp_path, send_checks)
    raw_audit_sql(f"UPDATE {TABLE} SET note = 'changed' WHERE id = %s", [rows[1].pk])
    with pytest.raises(CommandError, match="the chain is broken, nothing was archived"):
        call_command("audit_archive", "--before", cutoff.isoformat(), "--to", str(target))
    assert ImRequest.objects.count() == 5 and not AuditAnchor.objects.exists()
    assert not target.exists() and not list(tmp_path.iterdir())


def test_archive_names_bad_arguments(emulator, tmp_path):
    existing = tmp_path / "exists.gz"
    existing.write_bytes(b"")
    with pytest.raises(CommandError, match="is not a date"):
        call_command("audit_archive", "--before", "last week", "--to", str(tmp_path / "x.gz"))
    with pytest.raises(CommandError, match="already exists; archives are never overwritten"):
        call_command("audit_archive", "--before", "2020-01-01", "--to", str(existing))
    with pytest.raises(CommandError, match="in the future"):
        call_command("audit_archive", "--before", "2999-01-01", "--to", str(tmp_path / "y.gz"))
    out = StringIO()
    call_command("audit_archive", "--before", "2020-01-01", "--to", str(tmp_path / "z.gz"), stdout=out)
    assert "Nothing to archive" in out.getvalue() and not (tmp_path / "z.gz").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_on_postgresql_a_trigger_refuses_raw_updates_and_deletes_of_complete_rows(emulator, send_checks):
    row = send_checks(1)[0]
    with pytest.raises(DatabaseError, match="is complete and cannot be changed"), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET note = 'x' WHERE id = %s", [row.pk])
    with pytest.raises(DatabaseError, match="is complete and cannot be deleted"), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [row.pk])
    assert audit_verify().ok


def dashboards_agree() -> None:
    """The dashboard from the kept day counts equals the one grouped from the rows themselves."""
    from profiles.selectors.dashboard import audit_dashboard

    today = timezone.now().date()
    kept = audit_dashboard(start=today, end=today)
    grouped = audit_dashboard(start=today, end=today, rows=ImRequest.objects.all())
    assert kept == grouped, (kept, grouped)


def test_each_seal_counts_its_row_for_the_dashboard(emulator, remote_user, cast):
    from profiles.im.emulator import Fault
    from profiles.models import AuditDayCount

    profile = remote_user("u_1")
    services.profile_push(profile=profile, values={"Tag_Profile_IM_Nick": "a"}, actor=cast.editor, source="admin")
    emulator.inject(Fault(kind="error_code", error_code=40005, command="profile/portrait_set"))
    services.profile_push(profile=profile, values={"Tag_Profile_IM_Nick": "b"}, actor=cast.editor, source="admin")
    emulator.inject(Fault(kind="drop"))
    services.profile_push(profile=profile, values={"Tag_Profile_IM_Nick": "c"}, actor=None, source="command")
    ImRequest.objects.create(source="command", command="profile/portrait_get", request_body={}, random=1)  # pending
    counts = set(AuditDayCount.objects.values_list("actor_username", "answered", "error_code", "requests"))
    assert counts == {("editor", True, 0, 1), ("editor", True, 40005, 1), ("", False, 0, 1)}
    dashboards_agree()


def test_archiving_takes_the_rows_out_of_the_dashboard_counts(emulator, tmp_path, send_checks):
    from profiles.models import AuditDayCount

    _rows, target, cutoff = archive_split(emulator, tmp_path, send_checks, old=3, new=2)
    call_command("audit_archive", "--before", cutoff.isoformat(), "--to", str(target), stdout=StringIO())
    assert list(AuditDayCount.objects.values_list("requests", flat=True)) == [2]
    dashboards_agree()
