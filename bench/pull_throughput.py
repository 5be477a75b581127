"""How fast ``profile_pull`` refreshes 10,000 local copies from Tencent, and how much memory it takes.

Run: ``.venv/bin/python bench/pull_throughput.py [--users 10000] [--processes N] [--latency 0.03]``.
The pull runs as ``im_pull --all`` does: ``pull_rounds`` over rounds of 1,000 UserIDs, shared by
worker processes (``PULL_PROCESSES``: the CPUs the process may use, up to 4), each keeping several calls in
flight. Against the emulator (in a process of its own), the same portrait_get calls are also sent
bare, one at a time (a ``requests.Session``, no parsing, no audit, no database) in the same run, as
the baseline of this machine's speed at that moment. ``--latency`` makes the emulator answer as
slowly as a real network does.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from _benchlib import set_up_django  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parent.parent
TARGET_USERS_PER_S = 5_000
TARGET_MEMORY_MB = 200
TENCENT_CALLS_PER_S = 200  # docs/tencent-im.md §1: portrait_get rate limit per SDKAppID
CUSTOM_KEYWORDS = ("Tier", "Motto")
MB = 1024 * 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000, help="accounts to pull (default 10000)")
    parser.add_argument(
        "--chunk", type=int, default=None,
        help="UserIDs per profile_pull call (default: im_pull --all's round, 1000)",
    )
    parser.add_argument(
        "--processes", type=int, default=None,
        help="worker processes sharing the rounds (default: im_pull --all's, PULL_PROCESSES)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0,
        help="seconds the emulator waits before each answer (default 0: answering instantly)",
    )
    args = parser.parse_args()
    if args.users < 100:
        parser.error("--users must be at least 100")
    if args.processes is not None and args.processes < 1:
        parser.error("--processes must be at least 1")
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


def rss_mb() -> float:
    # Linux reports ru_maxrss in KiB: the process's peak resident set so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_cpu_seconds() -> float:
    """CPU time of this process's children that have ended and been waited for (the workers)."""
    times = os.times()
    return times.children_user + times.children_system


def pss_mb(pid: int) -> float:
    """A process's proportional set size: its private pages, plus its share of pages shared with
    others (a forked worker shares most of its parent's), so the sum over processes is what they
    take together. Linux only."""
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


class PssSampler:
    """Samples, every 20 ms, the summed PSS of this process and its children except ``exclude``
    (the emulator), and keeps the peak: what a pull spread over worker processes takes at once."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> float:
        import multiprocessing

        total = pss_mb(os.getpid())
        for child in multiprocessing.active_children():
            if child.pid not in self.exclude:
                with contextlib.suppress(OSError, RuntimeError):  # ended meanwhile
                    total += pss_mb(child.pid)
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._total())

    def __enter__(self) -> PssSampler:
        self.peak = self._total()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclasses.dataclass
class PassResult:
    label: str
    users: int
    seconds: float
    calls: int
    created: int
    bare_seconds: float
    bare_calls: int
    processes: int = 1
    cpu_seconds: float = 0.0
    tracemalloc_peak_mb: float | None = None
    pss_peak_mb: float | None = None
    max_rss_mb: float = 0.0

    @property
    def users_per_s(self) -> float:
        return self.users / self.seconds

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds


def _serve_emulator(sdkappid: int, secret_key: str, admin: str, port_queue) -> None:
    sys.path.insert(0, str(ROOT))
    from profiles.im.emulator import Emulator, EmulatorServer

    server = EmulatorServer(Emulator(sdkappid=sdkappid, secret_key=secret_key, admin_identifiers=[admin]))
    port_queue.put(server.port)
    server.serve_forever()


class EmulatorProcess:
    """The emulator in a child process, steered through its /_emulator/ control API."""

    def __init__(self, config) -> None:
        import multiprocessing

        import requests

        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        self.process = context.Process(
            target=_serve_emulator, args=(config.sdkappid, config.secret_key, config.admin_identifier, ports),
            daemon=True,
        )
        self.process.start()
        self.url = f"http://127.0.0.1:{ports.get(timeout=30)}"
        self.session = requests.Session()

    def control(self, action: str, payload: dict) -> dict:
        response = self.session.post(f"{self.url}/_emulator/{action}", json=payload, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def set_as_user(self, user_id: str, changes: dict) -> None:
        self.control("set_as_user", {"user_id": user_id, "changes": changes})

    def count_requests(self, command: str) -> int:
        return len(self.control("requests", {"command": command})["requests"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


def run(users: int, chunk: int | None, latency: float = 0.0, processes: int | None = None) -> None:
    import requests
    from django.conf import settings
    from django.db import connections
    from profiles.services.concurrency import fork_supported

    from profiles import services
    from profiles.im.client import PORTRAIT_GET, new_random
    from profiles.management.commands.im_pull import ALL_BATCH
    from profiles.models import CustomTagDefinition, ImRequest, Profile
    from profiles.services.pull import PULL_BATCH_SIZE, PULL_CONCURRENCY, PULL_PROCESSES, readable_tags

    chunk = chunk or ALL_BATCH
    # Where the platform does not fork (Windows, macOS), the rounds run in this process.
    processes = (processes or PULL_PROCESSES) if fork_supported() else 1
    config = settings.IM
    # Tencent's servers are not in our process: the emulator runs in a process of its own, so it
    # does not compete with the code measured for the interpreter lock, and is driven over HTTP.
    emulator = EmulatorProcess(config)
    results: list[PassResult] = []
    try:
        settings.IM = dataclasses.replace(config, api_base=emulator.url)
        client = services.im_client()
        emulator.control("custom_tags", {"custom_tags": [{"keyword": keyword} for keyword in CUSTOM_KEYWORDS]})
        for keyword in CUSTOM_KEYWORDS:
            CustomTagDefinition.objects.create(keyword=keyword, label=keyword)
        user_ids = [f"user_{n:06d}" for n in range(users)]
        for start in range(0, users, 1000):
            emulator.control("accounts", {"accounts": {
                user_id: realistic_profile(start + n) for n, user_id in enumerate(user_ids[start:start + 1000])
            }})
        tags = readable_tags(services.custom_tag_definitions())
        assert len(tags) == 14, tags
        emulator.control("latency", {"seconds": latency})
        rss_before = rss_mb()

        session = requests.Session()
        session.headers["Content-Type"] = "application/json"
        session.trust_env = False  # configured like the service's client: no per-call environment reads

        def bare_pass() -> tuple[float, int]:
            """The same portrait_get calls, sent and decoded, nothing else."""
            calls = 0
            started = time.perf_counter()
            for start in range(0, len(user_ids), PULL_BATCH_SIZE):
                body = {"To_Account": user_ids[start:start + PULL_BATCH_SIZE], "TagList": tags}
                payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
                response = session.post(client.build_url(PORTRAIT_GET, new_random()), data=payload,
                                        timeout=client.timeout)
                answer = response.json()
                assert response.status_code == 200 and answer["ErrorCode"] == 0, answer
                calls += 1
            return time.perf_counter() - started, calls

        service_calls = 0

        def service_pass(label: str, *, expect_created: int, mode: str) -> PassResult:
            """One pull of every user. ``mode``: "" (timed, in the worker processes), "one process"
            (timed, as a reference), "pss" (the worker processes' memory sampled) or "tracemalloc"
            (in this process alone, as tracemalloc sees no other)."""
            nonlocal service_calls
            bare_seconds, bare_calls = bare_pass()
            pulled = created = calls = 0
            workers = 1 if mode in ("one process", "tracemalloc") else processes
            sampler = PssSampler(exclude={emulator.process.pid}) if mode == "pss" else None
            if mode == "tracemalloc":
                tracemalloc.start()
            started, cpu_started = time.perf_counter(), time.process_time()
            children_cpu_started = children_cpu_seconds()
            # As im_pull --all does: rounds of ALL_BATCH UserIDs, shared by the worker processes.
            rounds = (user_ids[start:start + chunk] for start in range(0, len(user_ids), chunk))
            with sampler if sampler is not None else contextlib.nullcontext():
                for outcome in services.pull_rounds(
                    rounds, actor=None, source=ImRequest.Source.COMMAND, purpose="bench", processes=workers
                ):
                    assert outcome.ok, outcome.message
                    pulled += len(outcome.pulled)
                    created += len(outcome.created)
                    calls += outcome.calls
            seconds = time.perf_counter() - started
            # The workers have ended and been waited for: their CPU time is counted with ours.
            cpu_seconds = time.process_time() - cpu_started + children_cpu_seconds() - children_cpu_started
            peak = None
            if mode == "tracemalloc":
                peak = tracemalloc.get_traced_memory()[1] / MB
                tracemalloc.stop()
            service_calls += calls
            assert pulled == users and created == expect_created, (pulled, created)
            result = PassResult(label, pulled, seconds, calls, created, bare_seconds, bare_calls, workers,
                                cpu_seconds, peak, sampler.peak if sampler is not None else None, rss_mb())
            results.append(result)
            return result

        def change_in_tencent(every: int, mark: str) -> None:
            """Change every ``every``-th profile as its user would, with values not seen before."""
            for n in range(0, users, every):
                emulator.set_as_user(user_ids[n], {"Tag_Profile_IM_Nick": f"renamed {mark} {n}",
                                                   "Tag_Profile_Custom_Tier": f"diamond {mark}"})

        def empty_local_copies() -> None:
            Profile.objects.all().delete()

        passes: list[tuple[str, Callable[[], object], int, str]] = [
            ("creates #1 (empty database)", empty_local_copies, users, ""),
            ("creates #2 (empty database)", empty_local_copies, users, ""),
            ("updates, 10% changed in Tencent", lambda: change_in_tencent(10, "a"), 0, ""),
            ("updates, all changed in Tencent", lambda: change_in_tencent(1, "b"), 0, ""),
            ("updates, nothing changed", lambda: None, 0, ""),
            # What the worker processes add, measured in the same run: not part of the verdict.
            ("reference: updates, nothing changed, in one process", lambda: None, 0, "one process"),
            # Sampling memory, and tracemalloc even more, slow the pull: these passes are not timed.
            (f"memory: creates ({processes} worker processes, PSS sampled)", empty_local_copies, users, "pss"),
            ("memory: creates (one process, tracemalloc on)", empty_local_copies, users, "tracemalloc"),
            ("memory: updates, all changed (one process, tracemalloc on)", lambda: change_in_tencent(1, "c"), 0,
             "tracemalloc"),
        ]
        for label, prepare, expect_created, mode in passes:
            prepare()
            service_pass(label, expect_created=expect_created, mode=mode)

        # Every service call must have its audit row, or the bench measured less than the real thing.
        copies = Profile.objects.count()
        audit_rows = ImRequest.objects.filter(command=PORTRAIT_GET).count()
        assert copies == users, f"{copies} local copies, expected {users}"
        assert audit_rows == service_calls, f"{audit_rows} audit rows for {service_calls} calls"
        assert ImRequest.objects.exclude(state=ImRequest.State.OK).count() == 0
        bare_total = sum(r.bare_calls for r in results)
        sent = emulator.count_requests(PORTRAIT_GET)
        assert sent == service_calls + bare_total, f"emulator saw {sent}, expected {service_calls + bare_total}"
        sample = Profile.objects.get(user_id=user_ids[10])
        assert sample.role == 2 and sample.nick == "renamed c 10"  # role arrived as the string "2"
        assert sample.custom_values["Tag_Profile_Custom_Tier"] == "diamond c"
        assert sample.version == 1 and sample.unknown_tags == {}
    finally:
        emulator.stop()
        connections.close_all()

    print(f"pull_throughput: {users} users, pull_rounds on rounds of {chunk} (as im_pull --all) in {processes} "
          f"worker process(es), up to {PULL_CONCURRENCY} calls in flight in each, {PULL_BATCH_SIZE} users per "
          f"portrait_get, 14 tags each (12 standard + 2 custom); emulator latency {latency * 1000:.0f} ms per call; "
          f"this machine has {os.cpu_count()} cores")
    print(f"  Tencent's ceiling: {TENCENT_CALLS_PER_S} portrait_get calls/s = "
          f"{TENCENT_CALLS_PER_S * PULL_BATCH_SIZE:,} users/s (docs/tencent-im.md §1)")
    for r in results:
        print(f"  {r.label}")
        if r.tracemalloc_peak_mb is not None:
            print(f"    service: {r.users} pulled ({r.created} created); time not shown, tracemalloc distorts it")
            print(f"    memory:  tracemalloc peak {r.tracemalloc_peak_mb:.1f} MB, process max RSS so far "
                  f"{r.max_rss_mb:.0f} MB")
            continue
        if r.pss_peak_mb is not None:
            print(f"    service: {r.users} pulled ({r.created} created); time not shown, sampling distorts it")
            print(f"    memory:  peak PSS of this process and its {r.processes} workers together "
                  f"{r.pss_peak_mb:.0f} MB")
            continue
        bare_per_call = r.bare_seconds / r.bare_calls * 1000
        service_per_call = r.seconds / r.calls * 1000
        added = service_per_call - bare_per_call
        print(f"    service: {r.users} pulled ({r.created} created) by {r.processes} process(es) in "
              f"{r.seconds:.2f} s = "
              f"{r.users_per_s:,.0f} users/s; {r.calls} calls = {r.calls_per_s:.0f} calls/s "
              f"({r.calls_per_s / TENCENT_CALLS_PER_S:.0%} of the ceiling)")
        print(f"    bare:    {r.bare_calls} calls in {r.bare_seconds:.2f} s = {r.bare_calls / r.bare_seconds:.0f} "
              f"calls/s; the service adds {added:.1f} ms per call ({service_per_call:.1f} vs {bare_per_call:.1f} ms)")
        print(f"    cpu:     {r.cpu_seconds:.2f} s of CPU time (this process and its workers) in {r.seconds:.2f} s "
              f"({r.cpu_seconds / r.calls * 1000:.1f} ms per call)")
        print(f"    memory:  process max RSS so far {r.max_rss_mb:.0f} MB")
        if r.processes != processes:
            print("    a reference for the pass before it, not part of the verdict")
            continue
        verdict = "PASS" if r.users_per_s >= TARGET_USERS_PER_S else "MISS"
        print(f"    target >= {TARGET_USERS_PER_S:,} users/s: {verdict}")
    timed = [r for r in results if r.tracemalloc_peak_mb is None and r.pss_peak_mb is None]
    reference = timed.pop() if processes > 1 else None  # the one-process pass, last of the timed ones
    slowest = min(timed, key=lambda r: r.users_per_s)
    print(f"  throughput: slowest pass {slowest.users_per_s:,.0f} users/s ({slowest.label}); target >= "
          f"{TARGET_USERS_PER_S:,} users/s: {'PASS' if slowest.users_per_s >= TARGET_USERS_PER_S else 'MISS'}")
    if reference is not None:
        same = timed[-1]
        print(f"  {processes} worker processes against one, the same pass of the same run: {same.users_per_s:,.0f} "
              f"against {reference.users_per_s:,.0f} users/s (x{same.users_per_s / reference.users_per_s:.2f})")
    peaks = [r.tracemalloc_peak_mb for r in results if r.tracemalloc_peak_mb is not None]
    pss = max(r.pss_peak_mb for r in results if r.pss_peak_mb is not None)
    final_rss = max(r.max_rss_mb for r in results)
    print(f"  memory: tracemalloc peak of a pull {max(peaks):.1f} MB; this process's max RSS {final_rss:.0f} MB "
          f"({rss_before:.0f} MB before the first pull); peak PSS with its {processes} workers {pss:.0f} MB")
    memory_ok = max(peaks) < TARGET_MEMORY_MB and final_rss < TARGET_MEMORY_MB and pss < TARGET_MEMORY_MB
    print(f"  target < {TARGET_MEMORY_MB} MB (tracemalloc peak, max RSS, PSS of all processes): "
          f"{'PASS' if memory_ok else 'MISS'}")
    print(f"  checked: {users} local copies, {service_calls} audit rows for {service_calls} portrait_get calls, "
          "all OK")


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="improfile-bench-") as database_dir:
        set_up_django(database_dir)
        run(args.users, args.chunk, args.latency, args.processes)


if __name__ == "__main__":
    main()
