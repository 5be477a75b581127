"""Signed digests of the audit chain's end, kept outside the database: a trail deleted or cut short
after a digest fails audit_verify, head and all."""

from __future__ import annotations

import json

from profiles.models import AuditChainHead, ImRequest
from profiles.services import digests
from profiles.services.audit import audit_key, audit_verify

from .conftest import audited_db, run_manage

pytestmark = audited_db

TABLE = ImRequest._meta.db_table


def test_the_command_writes_a_signed_digest_of_the_chains_end(emulator, audit_digest_dir, send_checks):
    rows = send_checks(3)
    done = run_manage("audit_digest")
    assert done.returncode == 0, done.stderr
    newest = sorted(audit_digest_dir.glob("audit-digest-*.json"))[-1]
    record = json.loads(newest.read_text())
    assert (record["seq"], record["hash"], record["rows"]) == (3, rows[-1].chain_hash, 3)
    assert record["signature"] and str(newest) in done.stdout
    assert audit_verify().ok


def test_a_digest_is_written_while_requests_flow(emulator, audit_digest_dir, settings, send_checks):
    settings.AUDIT_DIGEST_INTERVAL = 0  # every seal is "a few minutes" later
    send_checks(2)
    found, unreadable = digests.digests_read()
    assert [digest.seq for digest in found] == [1, 2] and not unreadable
    assert found[1].previous == found[0].signature  # chained


def test_everything_deleted_head_included_is_found(emulator, send_checks, raw_audit_sql):
    send_checks(3)
    digests.audit_digest_write(key=audit_key())
    raw_audit_sql(f"DELETE FROM {TABLE}")
    AuditChainHead.objects.all().delete()
    report = audit_verify()
    assert not report.ok and "rows #1 to #3 are missing since the digest of" in report.problem.message
    done = run_manage("audit_verify")
    assert done.returncode == 1 and "are missing since the digest of" in done.stderr


def test_a_trail_wound_back_to_an_older_consistent_state_is_found(emulator, send_checks, raw_audit_sql):
    """As a database restored from an older backup: rows and a properly signed end that agree, older
    than the digest written since."""
    send_checks(2)
    older_end = AuditChainHead.objects.values("seq", "hash", "signature").get()
    rows = send_checks(1)
    digests.audit_digest_write(key=audit_key())
    raw_audit_sql(f"DELETE FROM {TABLE} WHERE id = %s", [rows[-1].pk])
    AuditChainHead.objects.update(**older_end)
    report = audit_verify()
    assert not report.ok and "row #3 is missing since the digest of" in report.problem.message


def test_a_forged_digest_is_refused(emulator, audit_digest_dir, send_checks):
    send_checks(2)
    written = digests.audit_digest_write(key=audit_key())
    record = json.loads(written.path.read_text())
    record["seq"] = 1
    written.path.write_text(json.dumps(record))
    report = audit_verify()
    assert not report.ok and "is not signed with AUDIT_KEY" in report.problem.message


def test_a_chain_deleted_and_started_again_after_a_digest_is_found(send_checks, raw_audit_sql, emulator):
    """Everything deleted, then new rows and a new digest: the digest before still shows the cut."""
    send_checks(3)
    digests.audit_digest_write(key=audit_key())
    raw_audit_sql(f"DELETE FROM {TABLE}")
    AuditChainHead.objects.all().delete()
    send_checks(1)
    digests.audit_digest_write(key=audit_key())
    report = audit_verify()
    assert not report.ok and "records the chain ending at #1, though the digest" in report.problem.message
    assert "had recorded #3: rows were deleted in between" in report.problem.message
