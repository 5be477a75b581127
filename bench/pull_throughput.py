"""How fast ``im_pull --all --wait`` refreshes 10,000 local copies, process start included, with a
real ``qcluster`` of 1 worker, then of 2.

Run on PostgreSQL:
    .venv/bin/python bench/pull_throughput.py \
        --database-url postgres://improfile_ci:improfile_ci@127.0.0.1:5432/improfile_bench
(without --database-url: a throwaway SQLite file). Options: --users 10000 --latency 0.

The emulator (its own process) holds N accounts with all 12 standard tags and 2 custom tags; the
database N local copies (blank, reset before each pass, so every pass writes every copy). For 1, then
2 workers: ``manage.py qcluster`` is started (Q_WORKERS=n, its own process group) and has run a task,
then ``manage.py im_pull --all --wait`` is timed as a subprocess, from its start to its exit. Baseline,
same run: the same portrait_get calls (100 users each) sent bare, one at a time, with a
``requests.Session`` (no audit, no parsing, no database): what one sender gets from this emulator.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _benchlib import (
    ROOT,
    EmulatorProcess,
    QCluster,
    add_database_option,
    app_environment,
    database_url,
    engine_name,
    set_up_django,
)

TARGET_USERS_PER_S = {"PostgreSQL": 4_000, "SQLite": 3_000}
CUSTOM_KEYWORDS = ("Tier", "Motto")
WORKER_COUNTS = (1, 2)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_option(parser)
    parser.add_argument("--users", type=int, default=10_000, help="accounts to pull (default 10000)")
    parser.add_argument("--latency", type=float, default=0.0, help="emulator latency per call, s (default 0)")
    args = parser.parse_args()
    if args.users < 100:
        parser.error("--users must be at least 100")
    return args


def realistic_profile(n: int) -> dict[str, object]:
    """All 12 standard tags and both custom tags set, with the shapes real apps use."""
    nick = f"玩家{n}号" if n % 3 == 0 else f"Player {n} the Bold"
    return {
        "Tag_Profile_IM_Nick": nick,
        "Tag_Profile_IM_Gender": ("Gender_Type_Unknown", "Gender_Type_Female", "Gender_Type_Male")[n % 3],
        "Tag_Profile_IM_BirthDay": 19700101 + (n % 50) * 10000 + (n % 12) * 100 + n % 28,
        "Tag_Profile_IM_Location": f"86-{n % 34}-{n % 20}-{n % 9}",
        "Tag_Profile_IM_SelfSignature": f"Signature of user {n}: 生活就像一盒巧克力, you never know. " * 2,
        "Tag_Profile_IM_AllowType": ("AllowType_Type_NeedConfirm", "AllowType_Type_AllowAny",
                                     "AllowType_Type_DenyAny")[n % 3],
        "Tag_Profile_IM_Language": n % 7,
        "Tag_Profile_IM_Image": f"https://cdn.example.com/avatars/{n // 1000}/{n}.png?v=3",
        "Tag_Profile_IM_MsgSettings": n % 2,
        "Tag_Profile_IM_AdminForbidType": "AdminForbid_Type_SendOut" if n % 50 == 0 else "AdminForbid_Type_None",
        "Tag_Profile_IM_Level": n % 100,
        # One third-party SDK sends uint32 as numeric strings (docs/tencent-im.md §2); some of ours do too.
        "Tag_Profile_IM_Role": str(n % 4) if n % 10 == 0 else n % 4,
        "Tag_Profile_Custom_Tier": ("bronze", "silver", "gold", "platinum")[n % 4],
        "Tag_Profile_Custom_Motto": f"motto #{n}: keep going",
    }


def bare_calls(user_ids: list[str], tags: list[str]) -> tuple[float, int]:
    """The portrait_get calls of the pull, sent and decoded one at a time, nothing else."""
    import requests

    from profiles import services
    from profiles.im.client import PORTRAIT_GET, new_random
    from profiles.services.pull import PULL_BATCH_SIZE

    client = services.im_client()
    session = requests.Session()
    session.headers["Content-Type"] = "application/json"
    session.trust_env = False
    calls = 0
    started = time.perf_counter()
    for start in range(0, len(user_ids), PULL_BATCH_SIZE):
        body = {"To_Account": user_ids[start:start + PULL_BATCH_SIZE], "TagList": tags}
        response = session.post(client.build_url(PORTRAIT_GET, new_random()),
                                data=json.dumps(body, ensure_ascii=False).encode("utf-8"), timeout=client.timeout)
        answer = response.json()
        assert response.status_code == 200 and answer["ErrorCode"] == 0, answer
        calls += 1
    return time.perf_counter() - started, calls


def main() -> None:
    args = parse_args()
    timed: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="improfile-bench-") as temp_dir:
        url = database_url(args.database_url, temp_dir)
        engine = engine_name(url)
        emulator = EmulatorProcess()
        try:
            env = app_environment(url, emulator.url)
            set_up_django(env)
            from django.db import connections

            from profiles import services
            from profiles.im.client import PORTRAIT_GET
            from profiles.models import BulkJob, BulkJobItem, CustomTagDefinition, ImRequest, Profile
            from profiles.selectors import job_progress
            from profiles.services.pull import readable_tags

            emulator.control("custom_tags", {"custom_tags": [{"keyword": k} for k in CUSTOM_KEYWORDS]})
            for keyword in CUSTOM_KEYWORDS:
                CustomTagDefinition.objects.create(keyword=keyword, label=keyword)
            user_ids = [f"user_{n:06d}" for n in range(args.users)]
            for start in range(0, args.users, 1000):
                emulator.control("accounts", {"accounts": {
                    u: realistic_profile(start + n) for n, u in enumerate(user_ids[start:start + 1000])}})
            emulator.control("latency", {"seconds": args.latency})
            tags = readable_tags(services.custom_tag_definitions())
            assert len(tags) == 14, tags
            bare_seconds, bare_count = bare_calls(user_ids, tags)

            for workers in WORKER_COUNTS:
                Profile.objects.all().delete()  # every pass writes every copy, from the same start
                Profile.objects.bulk_create([Profile(user_id=u) for u in user_ids], batch_size=1000)
                with QCluster({**env, "Q_WORKERS": str(workers)}, Path(temp_dir) / "qcluster.log") as cluster:
                    cluster.wait_ready()
                    started = time.perf_counter()
                    done = subprocess.run([sys.executable, "manage.py", "im_pull", "--all", "--wait"], cwd=ROOT,
                                          env=env, capture_output=True, text=True, timeout=300)
                    timed[workers] = time.perf_counter() - started
                assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
                job = BulkJob.objects.latest("pk")
                assert job_progress(job).by_state[BulkJobItem.State.SUCCEEDED] == args.users
                assert ImRequest.objects.filter(job=job, command=PORTRAIT_GET, state=ImRequest.State.OK).count() \
                    == -(-args.users // 100)
                sample = Profile.objects.get(user_id=user_ids[10])
                assert sample.role == 2 and sample.custom_values["Tag_Profile_Custom_Tier"] == "gold"
            connections.close_all()
        finally:
            emulator.stop()

    target = TARGET_USERS_PER_S[engine]
    rates = {workers: args.users / seconds for workers, seconds in timed.items()}
    print(f"pull_throughput on {engine}: im_pull --all --wait of {args.users:,} users (12 standard + 2 custom tags), "
          f"process start included, qcluster started beforehand; emulator latency {args.latency * 1000:.0f} ms")
    for workers in WORKER_COUNTS:
        print(f"  Q_WORKERS={workers}: {timed[workers]:.2f} s = {rates[workers]:,.0f} users/s; target >= {target:,}: "
              f"{'PASS' if rates[workers] >= target else 'MISS'}")
    faster = rates[2] > rates[1]
    print(f"  2 workers against 1: x{rates[2] / rates[1]:.2f}: {'PASS' if faster else 'MISS'}")
    print(f"  baseline, same run: {bare_count} portrait_get calls of 100 users sent bare one at a time in "
          f"{bare_seconds:.2f} s = {bare_count * 100 / bare_seconds:,.0f} users/s "
          f"({bare_seconds / bare_count * 1000:.1f} ms per call)")
    ok = all(rate >= target for rate in rates.values()) and faster
    print(f"  verdict: {'PASS' if ok else 'MISS'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
