"""How fast the audit list answers on 1,000,000 rows, next to the stock Django admin, and what an export costs.

Run: ``.venv/bin/python bench/audit_list.py [--rows 1000000] [--db-dir var/bench-audit-list] [--export]``.
The rows are bulk-inserted once into a SQLite database under ``--db-dir`` (kept, so later runs start at once;
``--fresh`` rebuilds it): ~200,000 distinct UserIDs, 5 % refused with a few ErrorCodes, 0.5 % transport errors,
20 staff actors. Each list page is fetched with Django's test Client as a superuser, from the project's
``ImRequestAdmin`` and, in the same run, from the stock admin (the same list with Django's full-count
paginator, filters whose choices are read with SELECT DISTINCT, the date hierarchy and a case-insensitive
search) mounted on a second admin site. ``--export`` also streams the whole trail as CSV and JSON Lines.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _benchlib import set_up_django  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 300.0
REPEAT = 5
USERS = 200_000
STAFF = 20
INSERT_BATCH = 20_000
REFUSALS = [(40003, 0.5), (40005, 0.2), (40601, 0.15), (70107, 0.1), (40006, 0.05)]
COMMANDS = [
    ("profile/portrait_set", 0.55), ("profile/portrait_get", 0.35),
    ("im_open_login_svc/account_check", 0.07), ("im_open_login_svc/account_import", 0.03),
]
COLUMNS = [
    "created_at", "completed_at", "actor_id", "actor_username", "source", "purpose", "user_id", "command",
    "request_body", "random", "state", "http_status", "action_status", "error_code", "error_info", "error_display",
    "transport_error", "response_body", "latency_ms", "changes", "note", "attempt", "chain_seq", "chain_prev",
    "chain_hash",
]

# The bench's URLconf: the project's URLs plus the stock admin (filled in by mount_stock_admin()).
urlpatterns: list = []


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="audit rows (default 1,000,000)")
    parser.add_argument("--db-dir", default=str(ROOT / "var" / "bench-audit-list"), help="where the database is kept")
    parser.add_argument("--fresh", action="store_true", help="rebuild the database even if it has the rows")
    parser.add_argument("--export", action="store_true", help="also time a full export in both formats")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock admin (it is slow)")
    return parser.parse_args()


def _pick(rng: random.Random, weighted: list[tuple]) -> object:
    roll, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if roll < total:
            return value
    return weighted[-1][0]


def _rows(count: int, staff: list[tuple[int, str]]):
    """Realistic rows, oldest first: ids and created_at rise together over the last year."""
    rng = random.Random(42)
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=365)
    step = timedelta(days=365) / count
    for n in range(count):
        created = start + step * n
        user_id = f"u_{rng.randrange(USERS):06d}"
        command = _pick(rng, COMMANDS)
        actor_id, actor_name = staff[rng.randrange(len(staff))] if rng.random() < 0.7 else (None, "")
        source = "admin" if actor_id else rng.choice(["command", "job", "system"])
        latency = rng.uniform(20, 300)
        roll = rng.random()
        if command == "profile/portrait_set":
            body = {"From_Account": "administrator", "ProfileItem": [
                {"Tag": "Tag_Profile_IM_Nick", "Value": f"nick {n}"}]}
            changes = [{"tag": "Tag_Profile_IM_Nick", "before": f"old {n}", "after": f"nick {n}"}]
        else:
            body = {"To_Account": [user_id], "TagList": ["Tag_Profile_IM_Nick"]}
            changes = []
        transport_error, http_status = "", 200
        if roll < 0.005:
            state, status, code, info = "transport_error", "", None, ""
            transport_error, http_status, response = "could not connect: timed out", None, None
        elif roll < 0.055:
            code = _pick(rng, REFUSALS)
            state, status, info = "im_error", "FAIL", f"err {code}"
            response = {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info}
        else:
            state, status, code, info = "ok", "OK", 0, ""
            response = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
        yield (
            str(created), str(created + timedelta(milliseconds=latency)), actor_id, actor_name, source, "", user_id,
            command, json.dumps(body), rng.getrandbits(32), state, http_status, status, code, info, "",
            transport_error, None if response is None else json.dumps(response), latency, json.dumps(changes), "", 1,
            n + 1, f"{n:064x}", f"{n + 1:064x}",
        )


def seed(count: int, fresh: bool) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from profiles.models import ImRequest

    User = get_user_model()
    if not User.objects.filter(username="bench-root").exists():
        User.objects.create_superuser("bench-root", "root@example.invalid", "bench-root")
    for number in range(1, STAFF + 1):
        User.objects.get_or_create(username=f"agent{number:02d}", defaults={"is_staff": True})
    existing = ImRequest.objects.count()
    if existing == count and not fresh:
        print(f"Using the {existing:,} rows already in the database.")
        return
    table = ImRequest._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # a scratch database: the append-only guard is the ORM's
    staff = list(User.objects.filter(username__startswith="agent").values_list("pk", "username"))
    sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    batch: list[tuple] = []
    for row in _rows(count, staff):
        batch.append(row)
        if len(batch) == INSERT_BATCH:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, batch)
            batch.clear()
    if batch:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, batch)
    print(f"Inserted {count:,} rows in {time.perf_counter() - started:.0f} s.")


def mount_stock_admin() -> None:
    """The stock admin on a second site: what the audit list costs as Django ships it."""
    from django.conf import settings
    from django.contrib import admin
    from django.core.paginator import Paginator
    from django.urls import clear_url_caches, path

    from profiles.admin import ImRequestAdmin
    from profiles.im.errors import describe
    from profiles.models import ImRequest

    class DistinctErrorCodeFilter(admin.SimpleListFilter):
        title, parameter_name = "ErrorCode", "error_code"

        def lookups(self, request, model_admin):
            codes = (ImRequest.objects.exclude(error_code=None).order_by("error_code")
                     .values_list("error_code", flat=True).distinct())
            return [*((str(code), f"{code} — {describe(code).meaning}") for code in codes), ("none", "No code")]

        def queryset(self, request, queryset):
            value = self.value()
            if value == "none":
                return queryset.filter(error_code=None)
            return queryset.filter(error_code=int(value)) if value else queryset

    class StockAuditAdmin(ImRequestAdmin):
        list_filter = [
            DistinctErrorCodeFilter, "action_status", "state", "source", "command",
            ("actor", admin.RelatedOnlyFieldListFilter), ("created_at", admin.DateFieldListFilter),
        ]
        date_hierarchy = "created_at"
        search_fields = ["=user_id"]

        def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
            return Paginator(queryset, per_page, orphans, allow_empty_first_page)

    stock_site = admin.AdminSite(name="stock")
    stock_site.register(ImRequest, StockAuditAdmin)
    from improfile_site import urls as project_urls

    urlpatterns[:] = [*project_urls.urlpatterns, path("stock-admin/", stock_site.urls)]
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test Client's host
    clear_url_caches()


def time_page(client, url: str, params: dict[str, str]) -> tuple[float, int, float, str]:
    """Median ms of REPEAT fetches; then, once more with queries captured: the count and the slowest."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url, params)  # warm-up: templates, caches
    assert response.status_code == 200, (url, params, response.status_code)
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(url, params)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as captured:
        client.get(url, params)
    slowest = max(captured.captured_queries, key=lambda query: float(query["time"]))
    return statistics.median(samples), len(captured), float(slowest["time"]) * 1000, slowest["sql"][:110]


def time_export(client, url_name: str) -> None:
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse(f"admin:{url_name}")
    except NoReverseMatch:
        print(f"  {url_name}: no such URL in this version")
        return
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    response = client.get(url)
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {url_name}: {lines:,} lines, {size / 1e6:,.0f} MB in {seconds:.1f} s "
          f"({lines / seconds:,.0f} lines/s); max RSS {rss_before:.0f} → {rss_after:.0f} MB")


def main() -> None:
    args = parse_args()
    Path(args.db_dir).mkdir(parents=True, exist_ok=True)
    set_up_django(args.db_dir)
    seed(args.rows, args.fresh)
    mount_stock_admin()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from profiles.models import ImRequest

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-root"))
    some_user = ImRequest.objects.order_by("-pk").values_list("user_id", flat=True)[500]
    scenarios = [
        ("unfiltered", {}),
        ("ErrorCode 40003", {"error_code": "40003"}),
        (f"exact UserID {some_user}", {"q": some_user}),
        ("page 20", {"p": "20"}),
        ("one actor", {"actor__id__exact": str(get_user_model().objects.get(username="agent07").pk)}),
    ]
    sites = [("improfile", reverse("admin:profiles_imrequest_changelist"))]
    if not args.no_stock:
        sites.append(("stock", reverse("stock:profiles_imrequest_changelist")))
    print(f"\nAudit list on {ImRequest.objects.count():,} rows, median of {REPEAT} (target < {TARGET_MS:.0f} ms):")
    for label, params in scenarios:
        for site, url in sites:
            median, queries, slowest_ms, slowest_sql = time_page(client, url, params)
            verdict = "PASS" if median < TARGET_MS else "MISS"
            print(f"  {label:<24} {site:<10} {median:8.0f} ms {verdict}  {queries} queries, slowest "
                  f"{slowest_ms:.0f} ms: {slowest_sql}")
    if args.export:
        print("\nExport of the whole trail, streamed through the test Client:")
        time_export(client, "profiles_imrequest_export_csv")
        time_export(client, "profiles_imrequest_export_jsonl")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
