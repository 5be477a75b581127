"""How much a push through ``profile_push`` costs on top of the bare HTTP request it sends.

Run on PostgreSQL:
    .venv/bin/python bench/push_overhead.py \
        --database-url postgres://improfile_ci:improfile_ci@127.0.0.1:5432/improfile_bench
(without --database-url: a throwaway SQLite file; ``--n 300`` pushes per side). Both sides talk to the same in-process
emulator over keep-alive connections in the same run; the difference of their medians is the cost
of validation, the two audit writes, signing the URL and updating the local copy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable

from _benchlib import add_database_option, app_environment, database_url, engine_name, set_up_django

TARGET_ADDED_MS = 5.0
WARM_UP = 30
BLOCK = 25
USER_ID = "u_bench"
NICK = "Tag_Profile_IM_Nick"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_option(parser)
    parser.add_argument("--n", type=int, default=300, help="timed pushes per side (default 300)")
    args = parser.parse_args()
    if args.n < 10:
        parser.error("--n must be at least 10")
    return args


def percentile_90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[8]


def run(n: int, engine: str) -> None:
    import requests
    from django.conf import settings
    from django.db import connections

    from profiles import services
    from profiles.im.client import PORTRAIT_SET, new_random
    from profiles.im.emulator import Emulator, EmulatorServer
    from profiles.models import ImRequest, Profile

    config = settings.IM
    emulator = Emulator(
        sdkappid=config.sdkappid, secret_key=config.secret_key, admin_identifiers=[config.admin_identifier],
    )
    server = EmulatorServer(emulator, port=0).start()
    try:
        settings.IM = dataclasses.replace(config, api_base=server.url)
        client = services.im_client()
        emulator.add_account(USER_ID, {NICK: "nick 0"})
        profile = Profile(user_id=USER_ID)
        profile.apply_tag_values({NICK: "nick 0"})
        profile.save()

        counter = 0

        def next_nick() -> str:
            # A different value every time, so the service never skips an unchanged tag.
            nonlocal counter
            counter += 1
            return f"nick {counter}"

        service_pushes = 0

        def push_through_service() -> float:
            nonlocal service_pushes
            values = {NICK: next_nick()}
            started = time.perf_counter()
            outcome = services.profile_push(
                profile=profile, values=values, actor=None, source=ImRequest.Source.COMMAND,
            )
            elapsed = time.perf_counter() - started
            service_pushes += 1
            assert outcome.ok and outcome.pushed == [NICK], outcome.message
            return elapsed * 1000

        session = requests.Session()
        session.headers["Content-Type"] = "application/json"
        session.trust_env = False  # configured like the service's client: no per-call environment reads

        def push_bare() -> float:
            body = {"From_Account": USER_ID, "ProfileItem": [{"Tag": NICK, "Value": next_nick()}]}
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            url = client.build_url(PORTRAIT_SET, new_random())
            started = time.perf_counter()
            response = session.post(url, data=payload, timeout=client.timeout)
            answer = response.json()
            elapsed = time.perf_counter() - started
            assert response.status_code == 200 and answer["ErrorCode"] == 0, answer
            return elapsed * 1000

        for _ in range(WARM_UP):
            push_through_service()
            push_bare()

        # Alternating blocks, each side first in turn, so drift (caches, the WAL growing, other
        # load on the machine) lands on both sides alike.
        timings: dict[str, list[float]] = {"service": [], "bare": []}
        sides: list[tuple[str, Callable[[], float]]] = [("service", push_through_service), ("bare", push_bare)]
        done = 0
        while done < n:
            size = min(BLOCK, n - done)
            for name, push in sides:
                timings[name].extend(push() for _ in range(size))
            sides.reverse()
            done += size

        audit_rows = ImRequest.objects.count()
        # Every service push must have written its row, or the bench measured less than the real thing.
        assert audit_rows == service_pushes, f"{audit_rows} audit rows for {service_pushes} service pushes"
        assert ImRequest.objects.exclude(state=ImRequest.State.OK).count() == 0
        sent = len(emulator.requests(PORTRAIT_SET))
        assert sent == 2 * (WARM_UP + n), f"the emulator saw {sent} requests, expected {2 * (WARM_UP + n)}"
        assert emulator.profile(USER_ID)[NICK] == f"nick {counter}"
    finally:
        server.stop()
        connections.close_all()

    service_median = statistics.median(timings["service"])
    bare_median = statistics.median(timings["bare"])
    added = service_median - bare_median
    print(f"push_overhead on {engine}: N={n} per side, after {WARM_UP} warm-up pushes each, "
          f"alternating blocks of {BLOCK}")
    for label, name in (("profile_push (service)", "service"), ("bare Session.post", "bare")):
        samples = timings[name]
        print(f"  {label:<22}  median {statistics.median(samples):7.3f} ms   p90 {percentile_90(samples):7.3f} ms")
    print(f"  added per push (median service - median bare): {added:.3f} ms")
    print(f"  target <= {TARGET_ADDED_MS:g} ms: {'PASS' if added <= TARGET_ADDED_MS else 'MISS'}")
    print(f"  audit rows: {audit_rows} for {service_pushes} service pushes")


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="improfile-bench-") as temp_dir:
        url = database_url(args.database_url, temp_dir)
        # The emulator's credentials; its address is set once the in-process emulator is listening.
        set_up_django(app_environment(url, "http://127.0.0.1:9"))
        run(args.n, engine_name(url))


if __name__ == "__main__":
    main()
