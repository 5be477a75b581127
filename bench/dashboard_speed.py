"""How fast the auditors' dashboard is on a million audit rows.

Run: ``.venv/bin/python bench/dashboard_speed.py [--rows 1000000] [--days 90] [--keep DIR]``. It migrates a
throwaway SQLite database, bulk-inserts the rows (raw ``executemany``, in the order production writes them,
spread over the days, with realistic bodies, outcomes and actors), then times ``audit_dashboard`` and the
dashboard page for the last 30 days and for the whole range. The baseline in the same run: the same
measurements with the dashboard index (migration 0008) dropped. ``--keep DIR`` keeps (and on a second run
reuses) the seeded database in DIR, since seeding takes longer than measuring. With DATABASE_URL set to a
PostgreSQL database, it measures there instead (migrated, and seeded if it holds no audit rows).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

from _benchlib import set_up_django  # noqa: E402  (bench/ is on sys.path when run)

TARGET_MS = 300.0
REPEATS = 7
INDEX_NAME = "imrequest_dashboard"
# The outcomes' shares, roughly those of a busy day with Tencent: mostly accepted, a few refusals, fewer
# requests left without an answer.
CODES_REFUSED = [40005, 40003, 40601, 60008, 40008, 70107, 60007, 40001, 40605, 40610, 40009, 60013, 93000]
ACTORS = [f"staff{n:02d}" for n in range(40)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="audit rows to insert (default 1,000,000)")
    parser.add_argument("--days", type=int, default=90, help="days they are spread over (default 90)")
    parser.add_argument("--keep", metavar="DIR", help="keep the seeded database in DIR and reuse it next time")
    args = parser.parse_args()
    if args.rows < 1000 or args.days < 31:
        parser.error("--rows must be at least 1000 and --days at least 31")
    return args


def fake_rows(count: int, first_day: date, days: int) -> Iterator[tuple]:
    """Audit rows as the service writes them, oldest first (ids grow with time, as in production)."""
    rng = random.Random(20240601)
    start = datetime.combine(first_day, datetime.min.time())
    step = timedelta(days=days) / count
    for n in range(count):
        at = start + step * n
        actor = "" if rng.random() < 0.2 else rng.choice(ACTORS)
        user_id = f"u_{rng.randrange(200_000)}"
        nick = f"nick {rng.randrange(10**6)}"
        draw = rng.random()
        if draw < 0.9:
            state, status, code, transport = "ok", "OK", 0, ""
        elif draw < 0.95:
            state, status, code, transport = "im_error", "FAIL", rng.choice(CODES_REFUSED), ""
        else:
            state, status, code = rng.choice(["transport_error", "unanswered", "pending"]), "", None
            transport = "connection refused" if state == "transport_error" else ""
        body = json.dumps({"From_Account": "administrator", "ProfileItem": [
            {"Tag": "Tag_Profile_IM_Nick", "Value": nick}]})
        answer = None if code is None else json.dumps(
            {"ActionStatus": status, "ErrorCode": code, "ErrorInfo": "" if code == 0 else "refused"})
        changes = json.dumps([{"tag": "Tag_Profile_IM_Nick", "before": "old", "after": nick}])
        sealed = state != "pending"
        yield (
            at.strftime("%Y-%m-%d %H:%M:%S.%f"), None if state == "pending" else at.strftime("%Y-%m-%d %H:%M:%S.%f"),
            actor, "system" if not actor else "admin", "edit", user_id, "profile/portrait_set", body,
            rng.randrange(2**32), state, None if code is None else 200, status, code, "", "", transport, answer,
            round(rng.uniform(20, 400), 1), changes, "", 1, n + 1 if sealed else None,
            rng.randbytes(32).hex() if sealed else "", rng.randbytes(32).hex() if sealed else "",
        )


COLUMNS = (
    "created_at, completed_at, actor_username, source, purpose, user_id, command, request_body, random, state, "
    "http_status, action_status, error_code, error_info, error_display, transport_error, response_body, "
    "latency_ms, changes, note, attempt, chain_seq, chain_prev, chain_hash"
)


def seed(count: int, first_day: date, days: int) -> None:
    from django.db import connection, transaction

    placeholders = ", ".join(["%s"] * len(COLUMNS.split(",")))
    sql = f"INSERT INTO profiles_imrequest ({COLUMNS}) VALUES ({placeholders})"  # noqa: S608  (constants)
    rows = fake_rows(count, first_day, days)
    started = time.perf_counter()
    # One transaction per batch: in autocommit every row would be a commit of its own.
    while batch := [row for _, row in zip(range(50_000), rows, strict=False)]:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, batch)
    if connection.vendor == "postgresql":
        # What autovacuum does soon after a bulk insert: statistics, and the visibility map that
        # index-only scans need. (SQLite gets nothing: Django never runs ANALYZE there.)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE profiles_imrequest")
    print(f"  seeded {count:,} rows over {days} days in {time.perf_counter() - started:.1f} s")


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """Median and worst of REPEATS calls, in ms, after one warm-up call (the page cache filled)."""
    call()
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def index_sql() -> str | None:
    """The statement that created the dashboard index, to put it back after the baseline."""
    from django.db import connection

    query = {
        "sqlite": "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s",
        "postgresql": "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
    }[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(query, [INDEX_NAME])
        found = cursor.fetchone()
    return found[0] if found else None


def run(args: argparse.Namespace, database_dir: str | None) -> None:
    set_up_django(database_dir)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from profiles.dashboard import audit_dashboard
    from profiles.models import ImRequest

    if database_dir is None:
        call_command("migrate", verbosity=0, interactive=False)
    where = database_dir or f"{connection.vendor} database {connection.settings_dict['NAME']}"
    last_day = date(2024, 6, 30)
    first_day = last_day - timedelta(days=args.days - 1)
    present = ImRequest.objects.count()
    if present == 0:
        seed(args.rows, first_day, args.days)
    elif present != args.rows:
        raise SystemExit(f"{where} holds {present:,} audit rows, not {args.rows:,}: use an empty database")
    else:
        print(f"  reusing {present:,} rows in {where}")

    ranges = {"30 days": (last_day - timedelta(days=29), last_day), f"all {args.days} days": (first_day, last_day)}
    dashboard = audit_dashboard(start=first_day, end=last_day)
    # Measuring a dashboard that counted the wrong rows would be worthless.
    assert dashboard.totals.total == args.rows, dashboard.totals
    assert len(dashboard.days) == args.days and all(day.total for day in dashboard.days)

    setup_test_environment()  # lets the test client's "testserver" host in
    user_model = get_user_model()
    auditor = user_model.objects.filter(username="bench").first() or user_model.objects.create_superuser(
        "bench", password="bench"
    )
    client = Client()
    client.force_login(auditor)
    page_url = reverse("admin:profiles_imrequest_dashboard")

    def page(start: date, end: date) -> None:
        response = client.get(page_url, {"start": start.isoformat(), "end": end.isoformat()})
        assert response.status_code == 200 and b'role="img"' in response.content, response.status_code

    def measure(label: str) -> list[float]:
        medians = []
        print(f"  {label}")
        for name, (start, end) in ranges.items():
            for what, call in (("audit_dashboard", audit_dashboard), ("dashboard page", page)):
                median, worst = timed(lambda call=call, start=start, end=end: call(start=start, end=end))
                medians.append(median)
                print(f"    {what:<16} {name:<12}  median {median:7.1f} ms   worst {worst:7.1f} ms")
        return medians

    print(f"dashboard_speed: {args.rows:,} audit rows over {args.days} days on {connection.vendor}, "
          f"median of {REPEATS} after a warm-up")
    create_index = index_sql()
    as_migrated = measure(f"with {INDEX_NAME}" if create_index else f"no {INDEX_NAME} in the schema")
    if create_index:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX {INDEX_NAME}")
        try:
            measure(f"baseline: {INDEX_NAME} dropped")
        finally:
            with connection.cursor() as cursor:
                cursor.execute(create_index)
    verdict = "PASS" if max(as_migrated) < TARGET_MS else "MISS"
    print(f"  target < {TARGET_MS:g} ms for every median above, as migrated: {verdict}")


def main() -> None:
    args = parse_args()
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        run(args, None)
    elif args.keep:
        run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as database_dir:
            run(args, database_dir)


if __name__ == "__main__":
    main()
