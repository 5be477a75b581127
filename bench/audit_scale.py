"""The audit trail at scale: 1,000,000 audit rows and 100,000 profiles on SQLite.

Times the audit list (unfiltered, filtered by ErrorCode, exact UserID search; and a UserID prefix, an
ErrorCode family and two outcomes, which the stock admin has no equivalent for) next to the stock Django
admin doing the same list with its default full-count paginator, the auditors' dashboard, and, each in a
child process whose peak RSS is measured, a full CSV export and audit_verify.

    .venv/bin/python bench/audit_scale.py [--rows 1000000] [--profiles 100000] [--db PATH]

With --db, the generated database is kept at PATH and reused by the next run with the same PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import app_environment, set_up_django  # noqa: E402

# This bench sends nothing to Tencent; the app still needs an endpoint configured with DEBUG off.
NO_TENCENT = "http://127.0.0.1:9"

TARGET_PAGE_MS = 300
TARGET_RSS_MB = 200
DAYS = 90
CODES = [(40003, 0.02), (40005, 0.01), (40601, 0.01), (60007, 0.006), (70169, 0.004)]  # about 5 % refused
TRANSPORT_SHARE = 0.005
STAFF = [f"agent{n:02d}" for n in range(20)]
NICK = "Tag_Profile_IM_Nick"


def user_id(n: int) -> str:
    return f"u_{n:06d}"


def generate(rows: int, profiles: int) -> None:
    """Fill the database with ``profiles`` local copies and ``rows`` sealed audit rows spread over
    the last DAYS days, written with raw statements (the ORM would take many minutes) but hashed
    with the project's own chain format, so audit_verify checks real work."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from profiles import auditchain
    from profiles.models import AuditChainHead, AuditDayCount, ImRequest, Profile
    from profiles.services.audit import head_signature

    rng = random.Random(20261127)
    user_model = get_user_model()
    staff_ids = [user_model.objects.create_user(username=name, password="x", is_staff=True).pk for name in STAFF]
    ops = connection.ops
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        now = datetime.now(UTC)
        cursor.executemany(
            f"INSERT INTO {Profile._meta.db_table} (user_id, nick, custom_values, unknown_tags, version, "
            "created_at, updated_at, last_pulled_at) VALUES (%s, %s, '{}', '{}', 0, %s, %s, %s)",
            [(user_id(n), f"nick {n}", *[ops.adapt_datetimefield_value(now)] * 3) for n in range(profiles)],
        )
    columns = [*auditchain.KEYED_FIELDS, "actor_id", "chain_prev", "chain_hash"]
    key = settings.AUDIT_KEY.encode()
    json_columns = {"request_body", "response_body", "changes"}
    datetime_columns = {"created_at", "completed_at"}
    table = ImRequest._meta.db_table
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    start = datetime.now(UTC) - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / rows
    previous = auditchain.GENESIS
    batch: list[tuple] = []
    for n in range(1, rows + 1):
        created = start + step * n
        actor = rng.randrange(len(STAFF) + 1)  # one share of rows comes from the system (no actor)
        subject = user_id(rng.randrange(profiles))
        roll = rng.random()
        kind = rng.random()
        if kind < 0.7:
            command, body = "profile/portrait_set", {"From_Account": subject, "ProfileItem": [
                {"Tag": NICK, "Value": f"nick {n}"}]}
            changes = [{"tag": NICK, "before": f"nick {n - 1}", "after": f"nick {n}"}]
        elif kind < 0.95:
            command, body, changes = "profile/portrait_get", {"To_Account": [subject], "TagList": [NICK]}, []
        else:
            command, body, changes = "im_open_login_svc/account_check", {"CheckItem": [{"UserID": subject}]}, []
        code, state, status, transport = 0, "ok", "OK", ""
        acc = 0.0
        for candidate, share in CODES:
            acc += share
            if roll < acc:
                code, state, status = candidate, "im_error", "FAIL"
                break
        else:
            if roll < acc + TRANSPORT_SHARE:
                code, state, status, transport = None, "transport_error", "", "timed out after 10 s"
        values = {
            "id": n, "chain_seq": n, "created_at": created, "completed_at": created + timedelta(milliseconds=40),
            "actor_username": STAFF[actor - 1] if actor else "", "source": "admin" if actor else "system",
            "purpose": "", "user_id": subject, "command": command, "request_body": body,
            "random": rng.randrange(2**32), "state": state,
            "http_status": None if transport else 200, "action_status": status, "error_code": code,
            "error_info": "" if not code else f"err {code}", "error_display": "", "transport_error": transport,
            "response_body": None if transport else {"ActionStatus": status, "ErrorCode": code, "ErrorInfo": ""},
            "latency_ms": round(rng.uniform(20, 80), 3), "changes": changes, "note": "", "job_id": None,
            "attempt": 1, "reverts_id": None,
        }
        values["actor_id"] = values["actor_pk"] = staff_ids[actor - 1] if actor else None
        values["chain_format"] = auditchain.KEYED  # sealed as the app seals rows now
        values["chain_prev"] = previous
        values["chain_hash"] = previous = auditchain.row_hash(previous, values, key=key)
        batch.append(tuple(
            json.dumps(values[c]) if c in json_columns and values[c] is not None
            else ops.adapt_datetimefield_value(values[c]) if c in datetime_columns
            else values[c]
            for c in columns
        ))
        if len(batch) == 20_000 or n == rows:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(insert, batch)
            batch.clear()
            print(f"  {n:,} audit rows written ({time.perf_counter() - started:.0f} s)", end="\r", flush=True)
    AuditChainHead.objects.update_or_create(pk=1, defaults={
        "seq": rows, "hash": previous, "signature": head_signature(key, rows, previous),
    })
    with connection.cursor() as cursor:
        # The dashboard's day counts, which each seal keeps in the application, in one statement.
        cursor.execute(
            f"INSERT INTO {AuditDayCount._meta.db_table} (day, actor_username, answered, error_code, requests) "
            f"SELECT substr(created_at, 1, 10), actor_username, error_code IS NOT NULL, COALESCE(error_code, 0), "
            f"COUNT(*) FROM {table} WHERE chain_seq IS NOT NULL GROUP BY 1, 2, 3, 4"  # noqa: S608
        )
        cursor.execute("ANALYZE")
    print(f"\n  generated in {time.perf_counter() - started:.0f} s")


def stock_admin_urls():
    """The same list in a stock ModelAdmin, as Django gives it: full-count paginator, filters that
    query their choices, the default search."""
    from django.contrib import admin
    from django.urls import path

    from profiles.models import ImRequest

    site = admin.AdminSite(name="stock")

    class StockImRequestAdmin(admin.ModelAdmin):
        list_display = ["created_at", "actor_username", "source", "user_id", "command", "action_status",
                        "error_code", "latency_ms"]
        list_filter = ["error_code", "action_status", "state", "source", "command", "actor", "created_at"]
        search_fields = ["=user_id"]
        date_hierarchy = "created_at"
        list_per_page = 100

    site.register(ImRequest, StockImRequestAdmin)
    from improfile_site.urls import urlpatterns as project  # the admin, and the language switch its header posts to

    return [*project, path("stock/", site.urls)]


urlpatterns: list = []


def timed(client, url: str, repeat: int = 5) -> float:
    response = client.get(url)  # warm-up (and a check)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            for _chunk in response.streaming_content:
                pass
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def child(kind: str, db: Path) -> None:
    """Run in a child process: a full CSV export through the admin, or audit_verify."""
    set_up_django(app_environment(f"sqlite:///{db}", NO_TENCENT))
    began = time.perf_counter()
    if kind == "verify":
        from profiles.services.audit import audit_verify

        report = audit_verify()
        if not report.ok:
            raise SystemExit(f"verify failed: {report.problem.message}")
        count = report.checked
    else:
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.urls import reverse

        settings.ALLOWED_HOSTS = ["testserver"]
        client = Client()
        client.force_login(get_user_model().objects.get(username="bench-root"))
        response = client.get(reverse("admin:profiles_imrequest_export_csv"))
        count = 0
        for chunk in response.streaming_content:
            count += chunk.count(b"\n")
        count -= 1  # the header
    print(json.dumps({"rows": count, "seconds": time.perf_counter() - began}))


def run_child(kind: str, db: Path) -> tuple[dict, float]:
    process = subprocess.Popen([sys.executable, __file__, "--child", kind, "--db", str(db)], stdout=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read().decode()
    if status != 0:
        raise SystemExit(f"{kind} child failed: {output}")
    return json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="Keep the generated database here (reused when it exists).")
    parser.add_argument("--child", choices=["export", "verify"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db)
        return

    workdir = None
    if args.db is None:
        workdir = tempfile.TemporaryDirectory(prefix="improfile-audit-bench-")
        args.db = Path(workdir.name) / "audit.sqlite3"
    fresh = not args.db.exists()
    set_up_django(app_environment(f"sqlite:///{args.db}", NO_TENCENT), collect_static=True)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.urls import clear_url_caches, reverse

    call_command("migrate", verbosity=0, interactive=False)
    from profiles.models import ImRequest

    if fresh:
        print(f"Generating {args.rows:,} audit rows and {args.profiles:,} profiles in {args.db} …")
        generate(args.rows, args.profiles)
        get_user_model().objects.create_superuser("bench-root", password="x")
    rows = ImRequest.objects.count()
    settings.ALLOWED_HOSTS = ["testserver"]
    urlpatterns[:] = stock_admin_urls()
    settings.ROOT_URLCONF = __name__
    clear_url_caches()
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-root"))

    target_user = ImRequest.objects.filter(pk=rows // 2).values_list("user_id", flat=True).get()
    ours = reverse("admin:profiles_imrequest_changelist")
    stock = "/stock/profiles/imrequest/"
    print(f"\n{rows:,} audit rows, {args.profiles:,} profiles (SQLite). Median of 5 after a warm-up.\n")
    print(f"{'page':<42} {'improfile':>12} {'stock admin':>12}  target < {TARGET_PAGE_MS} ms")
    results = []
    prefix = target_user[:-2]  # about a hundred UserIDs begin with it
    for label, query, stock_query in [
        ("audit list, unfiltered", "", ""), ("audit list, ErrorCode 40003", "?error_code=40003", "?error_code=40003"),
        (f"audit list, exact UserID {target_user}", f"?q={target_user}", f"?q={target_user}"),
        # Filters the stock admin does not have (or reads differently): no stock figure.
        (f"audit list, UserID prefix {prefix}", f"?q={prefix}", None),
        ("audit list, ErrorCode family 4xxxx", "?error_code=4xxxx", None),
        ("audit list, outcome: no answer", "?outcome=no_answer", None),
        ("audit list, outcome: pending (none)", "?outcome=pending", None),
    ]:
        mine = timed(client, ours + query)
        theirs = f"{timed(client, stock + stock_query, repeat=3):>9.0f} ms" if stock_query is not None else "—"
        results.append(mine)
        print(f"{label:<42} {mine:>9.0f} ms {theirs:>12}  {'PASS' if mine < TARGET_PAGE_MS else 'MISS'}")
    dashboard = reverse("admin:profiles_imrequest_dashboard")
    today = datetime.now(UTC).date()
    for label, query in [("dashboard, last 30 days (default)", ""),
                         (f"dashboard, all {DAYS} days", f"?start={today - timedelta(days=DAYS)}&end={today}")]:
        mine = timed(client, dashboard + query)
        results.append(mine)
        print(f"{label:<42} {mine:>9.0f} ms {'—':>12}  {'PASS' if mine < TARGET_PAGE_MS else 'MISS'}")

    print(f"\n{'child process':<42} {'time':>12} {'peak RSS':>12}  target < {TARGET_RSS_MB} MB")
    for kind, label in [("export", "CSV export of the whole trail"), ("verify", "audit_verify")]:
        outcome, rss = run_child(kind, args.db)
        status = "PASS" if rss < TARGET_RSS_MB and outcome["rows"] == rows else "MISS"
        print(f"{label:<42} {outcome['seconds']:>10.1f} s {rss:>9.0f} MB  {status} ({outcome['rows']:,} rows)")
    if workdir is not None:
        workdir.cleanup()


if __name__ == "__main__":
    main()
