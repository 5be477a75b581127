"""The web tier under load: requests/s of the audit list and of a profile's change form, served by
gunicorn with 4 workers next to Django's development server (runserver) in the same run, and the memory
(RSS) of a web worker.

    .venv/bin/python bench/web_load.py [--rows 100000] [--profiles 10000] [--seconds 10] [--clients 8]

It generates a throwaway SQLite database (audit rows sealed with the project's own chain format, as
bench/audit_scale.py does), creates a staff login, then for each server: starts it as a subprocess with
DEBUG off on a free loopback port, logs in through the admin's login form like a browser, and lets
``--clients`` threads request each page for ``--seconds``, counting the 200 answers. A worker's RSS is read
from /proc after the load. Prints one table; the numbers depend on the machine (the load generator runs
on the same cores as the servers).
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import ROOT, app_environment, set_up_django  # noqa: E402
from audit_scale import NO_TENCENT, generate  # noqa: E402

USERNAME = "bench-auditor"
PASSWORD = "bench-password-not-a-secret-8213"  # noqa: S105 - a throwaway login in a throwaway database
GUNICORN_WORKERS = 4


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="audit rows (default 100,000)")
    parser.add_argument("--profiles", type=int, default=10_000, help="local copies (default 10,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="load per page and server (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port} within {timeout} s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def logged_in_session(base: str) -> requests.Session:
    """A session logged in through the admin's login form, as a browser would (CSRF token included)."""
    session = requests.Session()
    session.trust_env = False
    login = session.get(f"{base}/admin/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    answer = session.post(
        f"{base}/admin/login/", timeout=30, allow_redirects=False,
        data={"csrfmiddlewaretoken": token, "username": USERNAME, "password": PASSWORD, "next": "/admin/"},
        headers={"Referer": f"{base}/admin/login/"},
    )
    if answer.status_code != 302:
        raise RuntimeError(f"login failed: HTTP {answer.status_code}")
    return session


def load(base: str, path: str, seconds: float, clients: int) -> tuple[float, int]:
    """Requests/s of 200 answers to ``path`` from ``clients`` threads, each with its own login; and
    how many answers were not 200."""
    sessions = [logged_in_session(base) for _ in range(clients)]
    for session in sessions:  # warm each worker's connection and caches
        session.get(base + path, timeout=60)
    counts = [[0, 0] for _ in range(clients)]
    deadline = time.monotonic() + seconds

    def work(index: int) -> None:
        while time.monotonic() < deadline:
            status = sessions[index].get(base + path, timeout=60).status_code
            counts[index][0 if status == 200 else 1] += 1

    threads = [threading.Thread(target=work, args=(index,)) for index in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return sum(ok for ok, _ in counts) / elapsed, sum(bad for _, bad in counts)


def server_command(kind: str, port: int) -> list[str]:
    if kind == "runserver":
        return [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    return [
        sys.executable, "-m", "gunicorn", "improfile_site.wsgi", "--workers", str(GUNICORN_WORKERS),
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
    ]


def measure(kind: str, env: dict[str, str], pages: dict[str, str], args: argparse.Namespace) -> dict[str, object]:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix=f"improfile-{kind}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(server_command(kind, port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        base = f"http://127.0.0.1:{port}"
        figures: dict[str, object] = {}
        for name, path in pages.items():
            rate, failures = load(base, path, args.seconds, args.clients)
            if failures:
                raise RuntimeError(f"{kind}: {failures} answers to {path} were not 200; see {log.name}")
            figures[name] = rate
        workers = children(process.pid) if kind == "gunicorn" else [process.pid]
        figures["rss"] = max(rss_mb(pid) for pid in workers)
        return figures
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def main() -> None:
    args = parse_args()
    temp_dir = tempfile.mkdtemp(prefix="improfile-web-")
    url = f"sqlite:///{Path(temp_dir) / 'bench.sqlite3'}"
    # Plain HTTP on loopback: no TLS in front of the bench, so no secure-only cookies (_benchlib turns
    # the redirect to https off).
    env = app_environment(url, NO_TENCENT, SESSION_COOKIE_SECURE="False", CSRF_COOKIE_SECURE="False")
    set_up_django(env, collect_static=True)
    print(f"Generating {args.rows:,} audit rows and {args.profiles:,} profiles (SQLite) ...")
    generate(args.rows, args.profiles)
    from django.contrib.auth import get_user_model

    from profiles import services
    from profiles.models import Profile

    services.groups_ensure()
    get_user_model().objects.create_superuser(username=USERNAME, password=PASSWORD, email="")
    profile_pk = Profile.objects.order_by("pk").values_list("pk", flat=True)[args.profiles // 2]
    pages = {
        "audit list": "/admin/profiles/imrequest/",
        "change form": f"/admin/profiles/profile/{profile_pk}/change/",
    }
    results = {}
    for kind in ("runserver", "gunicorn"):
        print(f"Loading {kind} ({args.clients} clients, {args.seconds:g} s per page) ...")
        results[kind] = measure(kind, env, pages, args)
    print(f"\nWeb tier, SQLite, {args.rows:,} audit rows, {args.clients} clients, {args.seconds:g} s per page:")
    print("| server | audit list req/s | change form req/s | RSS of a worker |")
    print("|---|---|---|---|")
    labels = {"runserver": "runserver (development)", "gunicorn": f"gunicorn, {GUNICORN_WORKERS} workers"}
    for kind, label in labels.items():
        figures = results[kind]
        print(f"| {label} | {figures['audit list']:.1f} | {figures['change form']:.1f} | {figures['rss']:.0f} MB |")
    ratio = results["gunicorn"]["audit list"] / results["runserver"]["audit list"]
    print(f"\ngunicorn / runserver on the audit list: x{ratio:.2f}")


if __name__ == "__main__":
    main()
