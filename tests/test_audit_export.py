"""Exporting the audit trail: the filtered list as CSV or JSON Lines, streamed in bounded memory, and
every export recorded (who, when, which filter, how many rows)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from profiles import audit_export, selectors, services
from profiles.im.client import PORTRAIT_GET, PORTRAIT_SET
from profiles.im.emulator import Fault
from profiles.models import AuditExport, ImRequest
from profiles.services import exports

from .conftest import audited_db

# Every test reads the database; the one that sends requests marks itself audited_db instead.
pytestmark = pytest.mark.django_db

CSV_URL = reverse("admin:profiles_imrequest_export_csv")
JSONL_URL = reverse("admin:profiles_imrequest_export_jsonl")
LIST_URL = reverse("admin:profiles_imrequest_changelist")
AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FORMULA = '=HYPERLINK("http://evil.example","click")'
HEADER = [
    "id", "created_at", "completed_at", "actor", "source", "purpose", "job_id", "attempt", "UserID", "command",
    "changes", "state", "http_status", "ActionStatus", "ErrorCode", "meaning", "ErrorInfo", "ErrorDisplay",
    "transport_error", "note", "latency_ms", "request_body", "response_body", "reverts", "chain_seq", "chain_hash",
]


def audit_row(minutes: int, **fields) -> ImRequest:
    """An audit row created ``minutes`` after AT; an accepted nickname edit of u_1 unless told otherwise."""
    values = {
        "created_at": AT + timedelta(minutes=minutes),
        "source": ImRequest.Source.ADMIN,
        "command": PORTRAIT_SET,
        "random": 4242,
        "user_id": "u_1",
        "request_body": {"From_Account": "u_1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "new"}]},
        "state": ImRequest.State.OK,
        "action_status": "OK",
        "error_code": 0,
        **fields,
    }
    return ImRequest.objects.create(**values)


@pytest.fixture
def trail(cast):
    """An accepted edit by the editor, a refusal (40005) by root that reverts it and carries a note a
    spreadsheet would run, and a transport failure from the command line; oldest first."""
    accepted = audit_row(
        0, actor=cast.editor, actor_username="editor", purpose="save form",
        completed_at=AT + timedelta(milliseconds=120), http_status=200, latency_ms=120.5,
        changes=[{"tag": "Tag_Profile_IM_Nick", "before": "old", "after": "new"}],
        response_body={"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""},
        chain_seq=1, chain_hash="a" * 64,
    )
    refused = audit_row(
        1, actor=cast.root, actor_username="root", user_id="u_2", state=ImRequest.State.IM_ERROR,
        action_status="FAIL", error_code=40005, error_info="dirty word", error_display="Sensitive word",
        note=FORMULA, http_status=200, reverts=accepted,
        response_body={"ActionStatus": "FAIL", "ErrorCode": 40005, "ErrorInfo": "dirty word"},
    )
    failed = audit_row(
        2, source=ImRequest.Source.COMMAND, user_id="u_2", command=PORTRAIT_GET, state=ImRequest.State.TRANSPORT_ERROR,
        action_status="", error_code=None, transport_error="could not connect: refused",
        request_body={"To_Account": ["u_2"], "TagList": ["Tag_Profile_IM_Nick"]},
    )
    return {"accepted": accepted, "refused": refused, "failed": failed}


def download(client, url: str, query: dict | None = None) -> str:
    response = client.get(url, query or {})
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content).decode("utf-8")


def csv_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # spreadsheets read the file as UTF-8
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader)
    assert header == HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


def jsonl_rows(text: str) -> list[dict]:
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# --- content ---------------------------------------------------------------------------------------

def test_the_csv_export_has_every_column_one_line_per_row_newest_first(client, cast, trail):
    client.force_login(cast.auditor)
    rows = csv_rows(download(client, CSV_URL))
    assert [row["id"] for row in rows] == [str(trail[name].pk) for name in ("failed", "refused", "accepted")]
    failed, refused, accepted = rows
    assert accepted["created_at"] == "2025-03-01T12:00:00.000000Z"
    assert accepted["completed_at"] == "2025-03-01T12:00:00.120000Z"
    assert accepted["actor"] == "editor" and accepted["purpose"] == "save form"
    assert accepted["UserID"] == "u_1" and accepted["command"] == PORTRAIT_SET
    assert json.loads(accepted["changes"]) == [{"tag": "Tag_Profile_IM_Nick", "before": "old", "after": "new"}]
    assert json.loads(accepted["request_body"])["ProfileItem"][0]["Value"] == "new"
    assert accepted["ErrorCode"] == "0" and accepted["meaning"] == "Success."
    assert accepted["latency_ms"] == "120.5" and accepted["http_status"] == "200"
    assert accepted["chain_seq"] == "1" and accepted["chain_hash"] == "a" * 64
    assert refused["ErrorCode"] == "40005" and refused["ActionStatus"] == "FAIL"
    assert refused["meaning"] == "Tencent refused a value because it contains sensitive words."
    assert refused["ErrorInfo"] == "dirty word" and refused["ErrorDisplay"] == "Sensitive word"
    assert refused["reverts"] == str(trail["accepted"].pk)
    assert failed["ErrorCode"] == "" and failed["meaning"] == "" and failed["completed_at"] == ""
    assert failed["transport_error"] == "could not connect: refused" and failed["response_body"] == ""
    assert failed["actor"] == "" and failed["source"] == "command" and failed["attempt"] == "1"


def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_guarded(client, cast, trail):
    client.force_login(cast.auditor)
    rows = csv_rows(download(client, CSV_URL))
    refused = rows[1]
    assert refused["note"] == "'" + FORMULA
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())


def test_the_json_lines_export_has_the_same_keys_with_bodies_as_nested_json(client, cast, trail):
    client.force_login(cast.auditor)
    failed, refused, accepted = jsonl_rows(download(client, JSONL_URL))
    assert list(accepted) == HEADER
    assert accepted["request_body"]["ProfileItem"][0] == {"Tag": "Tag_Profile_IM_Nick", "Value": "new"}
    assert accepted["response_body"] == {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    assert accepted["changes"][0]["after"] == "new"
    assert accepted["created_at"] == "2025-03-01T12:00:00.000000Z" and accepted["latency_ms"] == 120.5
    assert refused["ErrorCode"] == 40005 and refused["reverts"] == trail["accepted"].pk
    assert refused["note"] == FORMULA  # not a spreadsheet: kept as it is
    assert failed["ErrorCode"] is None and failed["response_body"] is None and failed["completed_at"] is None


def test_the_download_is_an_attachment_named_after_its_time(client, cast, trail):
    client.force_login(cast.auditor)
    for url, extension, content_type in [(CSV_URL, "csv", "text/csv"), (JSONL_URL, "jsonl", "application/x-ndjson")]:
        response = client.get(url)
        assert response.streaming and response["Content-Type"].startswith(content_type)
        assert re.fullmatch(
            rf'attachment; filename="audit-\d{{8}}-\d{{6}}\.{extension}"', response["Content-Disposition"]
        )
        b"".join(response.streaming_content)


# --- filters -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"error_code": "40005"}, ["refused"]),
        ({"error_code": "none"}, ["failed"]),
        ({"q": "u_2"}, ["failed", "refused"]),
        ({"q": "U_2"}, []),  # UserIDs are case-sensitive (docs/tencent-im.md §1), as the list's search
        ({"source": "command"}, ["failed"]),
        ({"command": PORTRAIT_SET, "action_status": "FAIL"}, ["refused"]),
        ({"created_at__gte": "2025-03-01 12:01:00+00:00"}, ["failed", "refused"]),
    ],
)
def test_the_export_applies_the_lists_filters_and_search(client, cast, trail, query, expected):
    client.force_login(cast.auditor)
    ids = [str(trail[name].pk) for name in expected]
    assert [row["id"] for row in csv_rows(download(client, CSV_URL, query))] == ids
    assert [str(row["id"]) for row in jsonl_rows(download(client, JSONL_URL, query))] == ids
    assert [str(row.pk) for row in client.get(LIST_URL, query).context["cl"].result_list] == ids


def test_the_export_applies_the_actor_filter(client, cast, trail):
    client.force_login(cast.auditor)
    rows = csv_rows(download(client, CSV_URL, {"actor__id__exact": cast.root.pk}))
    assert [row["actor"] for row in rows] == ["root"]


def test_an_invalid_filter_exports_nothing_and_says_so(client, cast, trail):
    client.force_login(cast.auditor)
    response = client.get(CSV_URL, {"created_at__gte": "not a date"}, follow=True)
    assert response.redirect_chain[-1][0] == LIST_URL
    assert "Those filters are not valid; nothing was exported." in response.content.decode()
    assert not AuditExport.objects.exists()


def test_the_export_never_counts_the_whole_table(client, cast, trail):
    client.force_login(cast.auditor)
    with CaptureQueriesContext(connection) as queries:
        download(client, CSV_URL, {"error_code": "40005"})
    counts = [query["sql"] for query in queries.captured_queries if "COUNT(" in query["sql"].upper()]
    assert all("LIMIT" in sql.upper() for sql in counts), counts
    # No SELECT DISTINCT over the audit rows (the ErrorCode filter's choices read the small day counts).
    audit = [query["sql"].upper() for query in queries.captured_queries if "PROFILES_IMREQUEST" in query["sql"].upper()]
    assert audit and not any("DISTINCT" in sql for sql in audit), audit


def test_keyset_pages_give_every_row_once_even_when_rows_share_a_created_at(cast):
    shared = [audit_row(5, user_id=f"u_{n}") for n in range(7)]  # seven rows in the same microsecond
    older = [audit_row(-n, user_id=f"u_old_{n}") for n in range(1, 4)]
    pages = selectors.audit_row_pages(ImRequest.objects.all(), fields=["id", "created_at"], batch=3)
    exported = [row["id"] for page in pages for row in page]
    assert exported == [row.pk for row in sorted(shared, key=lambda r: -r.pk)] + [row.pk for row in older]


# --- the record -----------------------------------------------------------------------------------

def test_each_export_is_recorded_before_it_streams_and_completed_after(client, cast, trail):
    client.force_login(cast.auditor)
    response = client.get(JSONL_URL, {"error_code": "40005", "q": "u_2"})
    export = AuditExport.objects.get()
    assert export.actor == cast.auditor and export.actor_username == "auditor"
    assert export.format == "jsonl" and export.filter == "error_code=40005&q=u_2"
    assert export.rows is None and export.completed_at is None  # nothing sent yet
    b"".join(response.streaming_content)
    export.refresh_from_db()
    assert export.rows == 1 and export.completed_at is not None and export.completed_at >= export.created_at


def test_a_download_cut_short_stays_recorded_without_a_row_count(cast, trail):
    export = exports.audit_export_start(actor=cast.auditor, export_format="csv", query_string="")
    stream = exports.audit_export_stream(export=export, rows=ImRequest.objects.all(), batch=1)
    next(stream), next(stream)  # the header and the first row
    stream.close()  # the client went away: the server closes the response, and so the stream
    export.refresh_from_db()
    assert export.format == "csv" and export.rows is None and export.completed_at is None
    finished = exports.audit_export_start(actor=cast.auditor, export_format="csv", query_string="")
    assert len(list(exports.audit_export_stream(export=finished, rows=ImRequest.objects.all(), batch=1))) == 4
    finished.refresh_from_db()
    assert finished.rows == 3 and finished.completed_at is not None


# --- who may export -----------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [CSV_URL, JSONL_URL])
@pytest.mark.parametrize(("who", "status"), [("auditor", 200), ("root", 200), ("editor", 403), ("outsider", 403)])
def test_only_users_with_the_export_permission_may_export(client, cast, trail, url, who, status):
    client.force_login(getattr(cast, who))
    response = client.get(url)
    assert response.status_code == status
    assert AuditExport.objects.count() == (1 if status == 200 else 0)


@pytest.mark.parametrize("url", [CSV_URL, JSONL_URL])
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, trail, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert not AuditExport.objects.exists()


def test_an_export_is_a_get(client, cast, trail):
    client.force_login(cast.auditor)
    assert client.post(CSV_URL).status_code == 405
    assert not AuditExport.objects.exists()


def test_an_editor_given_the_export_permission_still_exports_only_their_own_rows(client, cast, trail):
    cast.editor.user_permissions.add(Permission.objects.get(codename="export_imrequest"))
    client.force_login(cast.editor)
    assert [row["actor"] for row in csv_rows(download(client, CSV_URL))] == ["editor"]
    assert [row["id"] for row in jsonl_rows(download(client, JSONL_URL, {"actor__id__exact": cast.root.pk}))] == []


def test_the_audit_list_links_to_both_exports_with_its_filters_for_those_who_may_export(client, cast, trail):
    client.force_login(cast.auditor)
    page = client.get(LIST_URL, {"error_code": "40005"}).content.decode()
    assert f'href="{CSV_URL}?error_code=40005"' in page and "Export CSV" in page
    assert f'href="{JSONL_URL}?error_code=40005"' in page and "Export JSON Lines" in page
    client.force_login(cast.editor)
    page = client.get(LIST_URL).content.decode()
    assert CSV_URL not in page and JSONL_URL not in page


def test_reviewers_see_the_exports_list_read_only_and_editors_do_not(client, cast, trail):
    client.force_login(cast.auditor)
    download(client, CSV_URL, {"error_code": "40005"})
    exports_url = reverse("admin:profiles_auditexport_changelist")
    page = client.get(exports_url).content.decode()
    assert "auditor" in page and "csv" in page
    assert f'href="{LIST_URL}?error_code=40005"' in page  # the filter, as a link to the same list
    export = AuditExport.objects.get()
    assert client.get(reverse("admin:profiles_auditexport_add")).status_code == 403
    delete_url = reverse("admin:profiles_auditexport_delete", args=[export.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    client.force_login(cast.editor)
    assert client.get(exports_url).status_code == 403


# --- secrets ---------------------------------------------------------------------------------------

KNOWN_IM_SECRET = "im-secret-for-the-export-test-0123456789abcdef"
KNOWN_DJANGO_SECRET = "django-secret-for-the-export-test-fedcba9876543210"


@audited_db
def test_no_secret_or_usersig_reaches_either_export(client, cast, emulator, remote_user, settings, monkeypatch):
    # A known secret on both sides: the app signs its UserSigs with it and the emulator checks them.
    settings.SECRET_KEY = KNOWN_DJANGO_SECRET
    settings.IM = dataclasses.replace(settings.IM, secret_key=KNOWN_IM_SECRET)
    monkeypatch.setattr(emulator.state, "secret_key", KNOWN_IM_SECRET)
    profile = remote_user("u_1")
    assert services.profile_push(profile=profile, values={"Tag_Profile_IM_Nick": "ok"}, actor=cast.root,
                                 source="admin").ok
    emulator.inject(Fault(kind="error_code", error_code=40005, command=PORTRAIT_SET))
    services.profile_push(profile=profile, values={"Tag_Profile_IM_Nick": "bad"}, actor=cast.root, source="admin")
    emulator.inject(Fault(kind="drop"))
    services.profile_pull(user_ids=["u_1"], actor=cast.root, source="admin", purpose="refresh")
    usersig = services.im_client().usersig.get()
    client.force_login(cast.auditor)
    for url in (CSV_URL, JSONL_URL):
        text = download(client, url)
        assert text.count("u_1") >= 3  # the rows are there
        for secret in (KNOWN_IM_SECRET, KNOWN_DJANGO_SECRET, usersig):
            assert secret not in text
        assert "usersig=" not in text.lower()


# --- memory ---------------------------------------------------------------------------------------

def test_streaming_holds_one_page_of_rows_not_the_whole_export(client, cast, monkeypatch):
    # Sixteen pages. The real page is 2,000 rows; a smaller one keeps this test fast under tracemalloc,
    # which slows every allocation several times (bench/audit_scale.py measures a 1,000,000-row export).
    pages, batch = 16, 250
    monkeypatch.setattr(exports, "EXPORT_BATCH", batch)
    body = {"From_Account": "administrator", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "n" * 200}]}
    ImRequest.objects.bulk_create(
        ImRequest(created_at=AT + timedelta(seconds=n), source="admin", command=PORTRAIT_SET, random=n,
                  user_id=f"u_{n}", request_body=body, response_body={"ActionStatus": "OK", "ErrorCode": 0},
                  changes=[{"tag": "Tag_Profile_IM_Nick", "before": "o" * 100, "after": "n" * 200}])
        for n in range(pages * batch)
    )
    client.force_login(cast.auditor)

    tracemalloc.start()
    try:
        # What holding every row would take: the rows as the export reads them, all at once.
        everything = list(ImRequest.objects.values(*audit_export.FIELDS))
        _, holding_all = tracemalloc.get_traced_memory()
        del everything
        tracemalloc.reset_peak()
        lines = size = 0
        for chunk in client.get(CSV_URL).streaming_content:
            lines += chunk.count(b"\n")
            size += len(chunk)
        _, streaming_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == pages * batch + 1
    assert AuditExport.objects.get().rows == pages * batch
    # About one page of sixteen is held at a time (plus its text and Django's own allocations).
    assert streaming_peak < holding_all / 5, (streaming_peak, holding_all, size)
    assert streaming_peak < size / 2, (streaming_peak, size)  # nor is the file itself
