"""How close a bulk job gets to Tencent's rate limit, whether it ever goes over, and whether an agent's
save still answers quickly while the job runs.

Run: ``.venv/bin/python bench/bulk_throughput.py [--edits 3000] [--rate-limit 200] [--latency 0.05]``.
A throwaway SQLite database, the emulator in its own process adding ``--latency`` seconds to every
call, a job of N one-tag edits worked by ``--workers`` processes (each ``job_work`` in a loop, as the
django-q2 task does), and one interactive ``profile_push`` made in this process halfway through.
The rate and the sliding windows are counted from the emulator's own arrival timestamps.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _benchlib import set_up_django  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
TARGET_SHARE = 0.95
TARGET_INTERACTIVE_S = 1.0
PORTRAIT_SET = "profile/portrait_set"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=3000, help="items in the job (default 3000)")
    parser.add_argument("--rate-limit", type=int, default=200, help="IM_RATE_LIMIT (default 200)")
    parser.add_argument("--latency", type=float, default=0.05, help="emulator latency per call, s (default 0.05)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=None, help="IM_JOB_CONCURRENCY per worker")
    parser.add_argument("--per-second", action="store_true", help="also print the job's requests in each second")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)  # internal: work job N
    return parser.parse_args()


def work(job_id: int) -> None:
    """A worker process: slices of job_work until the job is finished (the django-q2 task's loop)."""
    set_up_django()
    from django.conf import settings

    from profiles.services.jobpush import job_work

    while not job_work(job_id=job_id, seconds=settings.IM_JOB_SLICE_SECONDS):
        time.sleep(0.05)


def run(args: argparse.Namespace, database_dir: str) -> bool:
    sys.path.insert(0, str(BENCH))
    from pull_throughput import EmulatorProcess

    sys.path.insert(0, str(ROOT))
    from profiles.im.config import load_im_config

    emulator = EmulatorProcess(load_im_config({}, debug=True))
    os.environ.update({
        "DATABASE_URL": f"sqlite:///{Path(database_dir) / 'bench.sqlite3'}",
        "IM_API_BASE": emulator.url,
        "IM_RATE_LIMIT": str(args.rate_limit),
        "IM_JOB_SLICE_SECONDS": "20",
        "LOG_LEVEL": "WARNING",
    })
    if args.concurrency:
        os.environ["IM_JOB_CONCURRENCY"] = str(args.concurrency)
    workers: list[subprocess.Popen] = []
    try:
        set_up_django()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from profiles import services
        from profiles.models import BulkJob, BulkJobItem, ImRequest, Profile
        from profiles.services.jobs import JobRow, job_create

        user_ids = [f"bulk_{n:05d}" for n in range(args.edits)]
        for start in range(0, len(user_ids), 1000):
            emulator.control("accounts", {"accounts": {u: {"Tag_Profile_IM_Nick": "old"} for u in
                                                       user_ids[start:start + 1000]}})
        emulator.control("accounts", {"accounts": {"agent_user": {"Tag_Profile_IM_Nick": "old"}}})
        agent_profile = Profile.objects.create(user_id="agent_user", nick="old")
        emulator.control("latency", {"seconds": args.latency})
        job = job_create(
            actor=None, source=BulkJob.Source.COMMAND, source_name="bench", enqueue=False,
            rows=(JobRow(user_id=u, values={"Tag_Profile_IM_Nick": f"bulk nick {u}"}) for u in user_ids),
        )
        started = time.monotonic()
        for _ in range(args.workers):
            workers.append(subprocess.Popen([sys.executable, __file__, "--worker", str(job.pk)], env=os.environ))

        # The agent's save, halfway through the job.
        while BulkJobItem.objects.filter(job=job, state=BulkJobItem.State.SUCCEEDED).count() < args.edits // 2:
            if time.monotonic() - started > 600:
                raise RuntimeError("the job made no progress")
            time.sleep(0.05)
        save_started = time.perf_counter()
        outcome = services.profile_push(
            profile=agent_profile, values={"Tag_Profile_IM_Nick": "agent's nick"}, actor=None,
            source=ImRequest.Source.ADMIN,
        )
        interactive = time.perf_counter() - save_started
        assert outcome.ok, outcome.message

        for process in workers:
            process.wait(timeout=600)
            assert process.returncode == 0, process.returncode
        job.refresh_from_db()
        records = emulator.control("requests", {"command": PORTRAIT_SET})["requests"]
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
        emulator.stop()

    from django.db import connections

    job_stamps = [r["at"] for r in records if r["body"]["From_Account"] != "agent_user"]
    all_stamps = [r["at"] for r in records]
    succeeded = BulkJobItem.objects.filter(job=job, state=BulkJobItem.State.SUCCEEDED).count()
    audit_rows = ImRequest.objects.filter(job=job).count()
    sent_per_user: dict[str, int] = {}
    for r in records:
        sent_per_user[r["body"]["From_Account"]] = sent_per_user.get(r["body"]["From_Account"], 0) + 1
    connections.close_all()

    first = min(job_stamps)
    span = max(job_stamps) - first
    rate = (len(job_stamps) - 1) / span
    from profiles.im.emulator import max_in_window

    window = max_in_window(all_stamps)
    if args.per_second:
        per_second = Counter(int(stamp - first) for stamp in job_stamps)
        print("job requests in each second from the first:", [per_second[n] for n in range(max(per_second) + 1)])
    target_rate = TARGET_SHARE * args.rate_limit
    print(f"bulk_throughput: {args.edits} edits, IM_RATE_LIMIT={args.rate_limit}, emulator latency "
          f"{args.latency * 1000:.0f} ms, {args.workers} worker processes on SQLite")
    print(f"  sustained rate (first to last request): {rate:.1f} edits/s against a limit of {args.rate_limit}/s "
          f"({rate / args.rate_limit:.0%}); target >= {target_rate:.1f}: {'PASS' if rate >= target_rate else 'MISS'}")
    print(f"  largest count in any sliding 1 s window (emulator arrivals, job + agent): {window}; "
          f"limit {args.rate_limit}: {'PASS' if window <= args.rate_limit else 'MISS'}")
    print(f"  interactive save mid-job: {interactive * 1000:.0f} ms; target < {TARGET_INTERACTIVE_S * 1000:.0f} ms: "
          f"{'PASS' if interactive < TARGET_INTERACTIVE_S else 'MISS'}")
    print(f"  job {job.state}: {succeeded}/{args.edits} succeeded, {audit_rows} audit rows, "
          f"{len(job_stamps)} requests seen by the emulator, "
          f"{sum(1 for n in sent_per_user.values() if n > 1)} users sent more than once")
    return (
        rate >= target_rate and window <= args.rate_limit and interactive < TARGET_INTERACTIVE_S
        and succeeded == args.edits == audit_rows == len(job_stamps)
    )


def main() -> None:
    args = parse_args()
    if args.worker is not None:
        work(args.worker)
        return
    with tempfile.TemporaryDirectory(prefix="improfile-bench-") as database_dir:
        ok = run(args, database_dir)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
