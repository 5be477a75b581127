"""The keyed audit chain (AUDIT_KEY): a database writer who knows the public hash formula, but not
the key, cannot rewrite the trail so that audit_verify still says it is intact."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection
from django.utils import timezone

from profiles import auditchain
from profiles.models import AuditAnchor, AuditChainHead, ImRequest
from profiles.services.archive import audit_archive
from profiles.services.audit import audit_verify

from .conftest import audited_db, run_manage

pytestmark = audited_db

TABLE = ImRequest._meta.db_table
HEAD = AuditChainHead._meta.db_table
COLUMNS = [*auditchain.KEYED_FIELDS, "chain_prev", "chain_hash"]


def reseal_without_the_key(raw_audit_sql, *, unkeyed: bool) -> None:
    """Recompute every row's hash and the head from the stored rows, with the public SHA-256 formula
    (as format 1 rows, or keeping format 2 but with a guessed key)."""
    previous = auditchain.GENESIS
    rows = ImRequest.objects.order_by("chain_seq").values(*COLUMNS)
    for values in rows:
        values = dict(values)
        if unkeyed:
            values["chain_format"] = auditchain.UNKEYED
        new_hash = auditchain.row_hash(previous, values, key=b"guessed")
        raw_audit_sql(f"UPDATE {TABLE} SET chain_prev = %s, chain_hash = %s, chain_format = %s WHERE id = %s",
                [previous, new_hash, values["chain_format"], values["id"]])
        previous = new_hash
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {HEAD} SET hash = %s WHERE id = 1", [previous])


def verify_fails_with(words: str) -> None:
    report = audit_verify()
    assert not report.ok and words in report.problem.message, report.problem
    done = run_manage("audit_verify")
    assert done.returncode == 1 and words in done.stderr


def test_new_rows_are_keyed_and_cover_their_actor(emulator, cast, send_checks):
    rows = send_checks(2, actor=cast.editor)
    assert {(row.chain_format, row.actor_pk) for row in rows} == {(auditchain.KEYED, cast.editor.pk)}
    values = ImRequest.objects.filter(pk=rows[1].pk).values(*COLUMNS).get()
    assert auditchain.row_hash(values["chain_prev"], values, key=b"another key") != values["chain_hash"]
    head = AuditChainHead.objects.get()
    assert head.signature and audit_verify().ok


@pytest.mark.parametrize("unkeyed", [True, False], ids=["as-unkeyed-rows", "with-a-guessed-key"])
def test_an_edit_with_every_later_hash_recomputed_is_found(emulator, unkeyed, send_checks, raw_audit_sql):
    rows = send_checks(4)
    raw_audit_sql(f"UPDATE {TABLE} SET error_code = 0, note = 'nothing happened' WHERE id = %s", [rows[1].pk])
    reseal_without_the_key(raw_audit_sql, unkeyed=unkeyed)
    verify_fails_with("does not carry a valid signature" if unkeyed else "no longer matches its hash")


def test_a_deleted_newest_row_with_the_head_wound_back_is_found(emulator, send_checks, raw_audit_sql):
    rows = send_checks(3)
    raw_audit_sql(f"DELETE FROM {TABLE} WHERE id = %s", [rows[-1].pk])
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {HEAD} SET seq = 2, hash = %s WHERE id = 1", [rows[1].chain_hash])
    verify_fails_with("the chain head (#2) does not carry a valid signature")


def test_a_head_stripped_of_its_signature_is_found(emulator, send_checks):
    send_checks(2)
    AuditChainHead.objects.update(signature="")
    verify_fails_with("carries no signature though keyed rows exist")


def test_a_row_downgraded_to_the_unkeyed_format_after_keyed_rows_is_found(
    emulator, send_checks, raw_audit_sql
):
    rows = send_checks(3)
    values = ImRequest.objects.filter(pk=rows[2].pk).values(*COLUMNS).get()
    values["chain_format"] = auditchain.UNKEYED
    raw_audit_sql(f"UPDATE {TABLE} SET chain_format = 1, chain_hash = %s WHERE id = %s",
            [auditchain.row_hash(values["chain_prev"], values), rows[2].pk])
    verify_fails_with("claims the unkeyed format after keyed rows")


def test_a_row_handed_to_another_actor_is_found(emulator, cast, send_checks, raw_audit_sql):
    rows = send_checks(2, actor=cast.editor)
    raw_audit_sql(f"UPDATE {TABLE} SET actor_id = %s, actor_username = %s WHERE id = %s",
            [cast.auditor.pk, "editor", rows[0].pk])
    verify_fails_with(f"names another actor (account {cast.auditor.pk})")


def test_a_forged_archive_anchor_hiding_deleted_rows_is_found(emulator, send_checks, raw_audit_sql):
    rows = send_checks(4)
    raw_audit_sql(f"DELETE FROM {TABLE} WHERE chain_seq <= 2")
    AuditAnchor.objects.create(seq=2, hash=rows[1].chain_hash, before=timezone.now(), rows=2,
                               file_name="/nowhere.jsonl.gz", file_sha256="0" * 64)
    verify_fails_with("the archive anchor at #2 is not signed though the chain is keyed")
    AuditAnchor.objects.update(signature="f" * 64)
    verify_fails_with("the archive anchor at #2 does not carry a valid signature")


def test_a_real_archive_anchor_is_signed_and_its_file_checked(emulator, tmp_path, send_checks):
    send_checks(3)
    archive = tmp_path / "audit.jsonl.gz"
    audit_archive(before=timezone.now(), to=archive)
    anchor = AuditAnchor.objects.get()
    assert anchor.signature and audit_verify().ok
    archive.write_bytes(archive.read_bytes() + b"tampered")
    assert hashlib.sha256(archive.read_bytes()).hexdigest() != anchor.file_sha256
    verify_fails_with("no longer matches the SHA-256 its anchor at #3 recorded")


def test_rows_sealed_before_the_key_keep_verifying_and_the_chain_goes_on_keyed(
    emulator, audit_digest_dir, send_checks, raw_audit_sql
):
    rows = send_checks(2)
    # As the rows of an installation before AUDIT_KEY: format 1, an unsigned head.
    previous = auditchain.GENESIS
    for row in rows:
        values = ImRequest.objects.filter(pk=row.pk).values(*COLUMNS).get()
        values["chain_format"], values["chain_prev"] = auditchain.UNKEYED, previous
        previous = auditchain.row_hash(previous, values)
        raw_audit_sql(f"UPDATE {TABLE} SET chain_format = 1, chain_prev = %s, chain_hash = %s WHERE id = %s",
                [values["chain_prev"], previous, row.pk])
    AuditChainHead.objects.update(hash=previous, signature="")
    for digest in audit_digest_dir.iterdir():  # an installation before the key wrote no digests
        digest.unlink()
    assert audit_verify().ok
    send_checks(1)
    formats = list(ImRequest.objects.order_by("chain_seq").values_list("chain_format", flat=True))
    assert formats == [1, 1, 2] and AuditChainHead.objects.get().signature
    report = audit_verify()
    assert report.ok and report.checked == 3, report.problem


def test_the_key_is_never_stored_with_the_trail(emulator, settings, send_checks):
    send_checks(2)
    dump = json.dumps(list(ImRequest.objects.values()), default=str) + json.dumps(
        list(AuditChainHead.objects.values()), default=str
    )
    assert settings.AUDIT_KEY not in dump
