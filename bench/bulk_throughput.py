"""How close a bulk edit job, worked by a real ``qcluster``, gets to Tencent's rate limit, whether it
ever goes over, and whether an agent's save still answers quickly while the job runs.

Run on PostgreSQL:
    .venv/bin/python bench/bulk_throughput.py \
        --database-url postgres://improfile_ci:improfile_ci@127.0.0.1:5432/improfile_bench
(without --database-url: a throwaway SQLite file). Options: --edits 3000 --rate-limit 200 --latency 0.05
--workers 2 --baseline-edits 1500.

The emulator runs in its own process adding ``--latency`` seconds to every call. ``job_create`` queues
the job as the admin does; ``manage.py qcluster`` (Q_WORKERS=--workers, its own process group, killed
at the end) works it with ``run_job_slice`` tasks. One interactive ``profile_push`` is made from this
process halfway through. Rates and sliding windows are counted from the emulator's arrival timestamps.
Baseline, same run: the same path (qcluster, job, emulator) with IM_RATE_LIMIT=1000, i.e. what this
machine's workers reach when the limit does not bind: how much headroom there is above the limit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _benchlib import (
    EmulatorProcess,
    QCluster,
    add_database_option,
    app_environment,
    database_url,
    engine_name,
    set_up_django,
)

TARGET_SHARE = {"PostgreSQL": 0.95, "SQLite": 0.75}  # of the limit: 190/s and 150/s at 200
TARGET_INTERACTIVE_S = 1.0
BASELINE_RATE_LIMIT = 1000
PORTRAIT_SET = "profile/portrait_set"
AGENT = "agent_user"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_option(parser)
    parser.add_argument("--edits", type=int, default=3000, help="items in the job (default 3000)")
    parser.add_argument("--rate-limit", type=int, default=200, help="IM_RATE_LIMIT (default 200)")
    parser.add_argument("--latency", type=float, default=0.05, help="emulator latency per call, s (default 0.05)")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of the qcluster (default 2)")
    parser.add_argument("--baseline-edits", type=int, default=1500,
                        help=f"items of the baseline job at IM_RATE_LIMIT={BASELINE_RATE_LIMIT} (0: skip)")
    return parser.parse_args()


@dataclass
class JobRun:
    edits: int
    rate_limit: int
    steady_rate: float  # edits/s over the middle 80 % of the job's arrivals
    overall_rate: float  # edits/s first to last arrival
    max_window: int  # largest count in any sliding second, job + agent
    interactive_s: float | None
    succeeded: int
    audit_rows: int
    sent: int
    sent_twice: int
    state: str

    @property
    def exactly_once(self) -> bool:
        return self.succeeded == self.edits == self.audit_rows == self.sent and self.sent_twice == 0


def run_job(args, env: dict[str, str], emulator: EmulatorProcess, log: Path, *, prefix: str, edits: int,
            rate_limit: int, interactive: bool) -> JobRun:
    from profiles import services
    from profiles.im.emulator import max_in_window
    from profiles.models import BulkJob, BulkJobItem, ImRequest, Profile
    from profiles.services.jobs import JobRow, job_create

    user_ids = [f"{prefix}_{n:05d}" for n in range(edits)]
    emulator.control("latency", {"seconds": 0})
    for start in range(0, edits, 1000):
        emulator.control("accounts", {"accounts": {u: {"Tag_Profile_IM_Nick": "old"} for u in
                                                   user_ids[start:start + 1000]}})
    emulator.control("latency", {"seconds": args.latency})
    before = len(emulator.control("requests", {"command": PORTRAIT_SET})["requests"])
    cluster_env = {**env, "IM_RATE_LIMIT": str(rate_limit), "Q_WORKERS": str(args.workers)}
    with QCluster(cluster_env, log) as cluster:
        cluster.wait_ready()
        job = job_create(  # queued on commit: one run_job_slice task per worker
            actor=None, source=BulkJob.Source.COMMAND, source_name=f"bench {prefix}",
            rows=(JobRow(user_id=u, values={"Tag_Profile_IM_Nick": f"bulk nick {u}"}) for u in user_ids),
        )
        started = time.monotonic()
        interactive_s = None
        items = BulkJobItem.objects.filter(job=job)
        while not BulkJob.objects.filter(pk=job.pk, finished_at__isnull=False).exists():
            if time.monotonic() - started > 300:
                raise RuntimeError(f"the job did not finish in 300 s; see {log}")
            if interactive and interactive_s is None and \
                    items.filter(state=BulkJobItem.State.SUCCEEDED).count() >= edits // 2:
                # The agent's save, halfway through, from this process (as the admin's would be).
                profile = Profile.objects.get(user_id=AGENT)
                save_started = time.perf_counter()
                outcome = services.profile_push(
                    profile=profile, values={"Tag_Profile_IM_Nick": f"agent's nick {prefix}"}, actor=None,
                    source=ImRequest.Source.ADMIN,
                )
                interactive_s = time.perf_counter() - save_started
                assert outcome.ok, outcome.message
            time.sleep(0.05)
    job.refresh_from_db()
    records = emulator.control("requests", {"command": PORTRAIT_SET})["requests"][before:]
    job_stamps = sorted(r["at"] for r in records if r["body"]["From_Account"] != AGENT)
    per_user: dict[str, int] = {}
    for r in records:
        per_user[r["body"]["From_Account"]] = per_user.get(r["body"]["From_Account"], 0) + 1
    cut = len(job_stamps) // 10
    middle = job_stamps[cut:len(job_stamps) - cut]
    return JobRun(
        edits=edits, rate_limit=rate_limit,
        steady_rate=(len(middle) - 1) / (middle[-1] - middle[0]),
        overall_rate=(len(job_stamps) - 1) / (job_stamps[-1] - job_stamps[0]),
        max_window=max_in_window([r["at"] for r in records]), interactive_s=interactive_s,
        succeeded=items.filter(state=BulkJobItem.State.SUCCEEDED).count(),
        audit_rows=ImRequest.objects.filter(job=job, command=PORTRAIT_SET).count(), sent=len(job_stamps),
        sent_twice=sum(1 for user, n in per_user.items() if n > 1 and user != AGENT), state=job.state,
    )


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="improfile-bench-") as temp_dir:
        url = database_url(args.database_url, temp_dir)
        engine = engine_name(url)
        emulator = EmulatorProcess()
        try:
            env = app_environment(url, emulator.url, IM_RATE_LIMIT=args.rate_limit, Q_WORKERS=args.workers)
            set_up_django(env)
            from profiles.models import Profile

            emulator.control("accounts", {"accounts": {AGENT: {"Tag_Profile_IM_Nick": "old"}}})
            Profile.objects.create(user_id=AGENT, nick="old")
            log = Path(temp_dir) / "qcluster.log"
            main_run = run_job(args, env, emulator, log, prefix="bulk", edits=args.edits,
                               rate_limit=args.rate_limit, interactive=True)
            baseline = None
            if args.baseline_edits:
                baseline = run_job(args, env, emulator, log, prefix="base", edits=args.baseline_edits,
                                   rate_limit=BASELINE_RATE_LIMIT, interactive=False)
            errors = [line for line in log.read_text(errors="replace").splitlines() if "ERROR" in line]
        finally:
            emulator.stop()
            from django.db import connections

            connections.close_all()

    r = main_run
    target = TARGET_SHARE[engine] * args.rate_limit
    checks = {
        "rate": r.steady_rate >= target,
        "window": r.max_window <= args.rate_limit,
        "interactive": r.interactive_s is not None and r.interactive_s < TARGET_INTERACTIVE_S,
        "exactly once": r.exactly_once,
    }
    print(f"bulk_throughput on {engine}: {args.edits} one-tag edits, IM_RATE_LIMIT={args.rate_limit}, emulator "
          f"latency {args.latency * 1000:.0f} ms, qcluster Q_WORKERS={args.workers}")
    print(f"  steady rate (middle 80 % of the job's arrivals): {r.steady_rate:.1f} edits/s "
          f"({r.steady_rate / args.rate_limit:.0%} of the limit); first to last {r.overall_rate:.1f}/s; "
          f"target >= {target:.0f}: {'PASS' if checks['rate'] else 'MISS'}")
    print(f"  largest count in any sliding 1 s (emulator arrivals, job + agent): {r.max_window}; "
          f"limit {args.rate_limit}: {'PASS' if checks['window'] else 'MISS'}")
    shown = f"{r.interactive_s * 1000:.0f} ms" if r.interactive_s is not None else "not made (job ended first)"
    print(f"  interactive profile_push mid-job: {shown}; target < {TARGET_INTERACTIVE_S * 1000:.0f} ms: "
          f"{'PASS' if checks['interactive'] else 'MISS'}")
    print(f"  job {r.state}: {r.succeeded}/{r.edits} succeeded, {r.audit_rows} portrait_set audit rows, "
          f"{r.sent} requests seen by the emulator, {r.sent_twice} users sent more than once: "
          f"{'PASS' if checks['exactly once'] else 'MISS'}")
    if baseline is not None:
        print(f"  baseline, same run: the same path with IM_RATE_LIMIT={BASELINE_RATE_LIMIT} ({baseline.edits} "
              f"edits): steady {baseline.steady_rate:.1f} edits/s, first to last {baseline.overall_rate:.1f}/s, "
              f"max in a second {baseline.max_window}, exactly once: {baseline.exactly_once}")
    if errors:
        print(f"  qcluster logged {len(errors)} ERROR line(s), first: {errors[0][:300]}")
    ok = all(checks.values())
    print(f"  verdict: {'PASS' if ok else 'MISS'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
