"""What the benchmarks share: a database (a throwaway SQLite file, or a PostgreSQL URL migrated and
flushed), Django set up for it, the emulator in a process of its own (Tencent's servers are not in
ours, so it must not share our interpreter lock), and a real ``manage.py qcluster`` as a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def add_database_option(parser) -> None:
    parser.add_argument(
        "--database-url", default=None,
        help="a PostgreSQL URL (migrated, then flushed); default: a throwaway SQLite file in a temp dir",
    )


def database_url(option: str | None, temp_dir: str) -> str:
    return option or f"sqlite:///{Path(temp_dir) / 'bench.sqlite3'}"


def engine_name(url: str) -> str:
    return "SQLite" if url.startswith("sqlite") else "PostgreSQL"


def app_environment(url: str, im_api_base: str | None = None, **extra: object) -> dict[str, str]:
    """The environment the app runs with in the bench (this process, qcluster, manage.py commands):
    the database, DEBUG off as in production, and, when given, the emulator as Tencent under the
    emulator's own credentials (set explicitly: with DEBUG off the app no longer falls back to them)."""
    from profiles.im.config import EMULATOR_SDKAPPID, EMULATOR_SECRET_KEY

    env = {
        **os.environ, "DATABASE_URL": url, "DEBUG": "False", "SECRET_KEY": "bench-not-a-secret",
        "AUDIT_KEY": "bench-audit-key-not-a-secret", "AUDIT_DIGEST_DIR": tempfile.mkdtemp(prefix="improfile-digests-"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE":
        "improfile_site.settings",
        # The bench talks plain HTTP to the app in its own process (no TLS proxy in front), and pages link
        # the collected static files (set_up_django(collect_static=True)).
        "SECURE_SSL_REDIRECT": "off", "STATIC_ROOT": tempfile.mkdtemp(prefix="improfile-static-"),
    }
    if im_api_base:
        env.update(IM_API_BASE=im_api_base, IM_SDKAPPID=str(EMULATOR_SDKAPPID), IM_SECRET_KEY=EMULATOR_SECRET_KEY)
    env.update({name: str(value) for name, value in extra.items()})
    return env


def set_up_django(env: dict[str, str], *, collect_static: bool = False) -> None:
    """Django in this process with ``env``; the database migrated, and flushed unless it is a new
    SQLite file (a PostgreSQL database may hold an earlier run's rows and queued tasks). With
    ``collect_static``, the static files are collected as in production, for a bench that renders pages."""
    os.environ.update(env)  # before django.setup(): settings read the environment once, at import
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if collect_static:
        call_command("collectstatic", verbosity=0, interactive=False)
    if not env["DATABASE_URL"].startswith("sqlite"):
        call_command("flush", verbosity=0, interactive=False)


def _serve_emulator(sdkappid: int, secret_key: str, admin: str, port_queue) -> None:
    sys.path.insert(0, str(ROOT))
    from profiles.im.emulator import Emulator, EmulatorServer

    server = EmulatorServer(Emulator(sdkappid=sdkappid, secret_key=secret_key, admin_identifiers=[admin]))
    port_queue.put(server.port)
    server.serve_forever()


class EmulatorProcess:
    """The emulator in a child process (the app's default emulator credentials), steered through
    its /_emulator/ control API."""

    def __init__(self) -> None:
        import multiprocessing

        import requests

        from profiles.im.config import EMULATOR_SDKAPPID, EMULATOR_SECRET_KEY

        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        self.process = context.Process(
            target=_serve_emulator, args=(EMULATOR_SDKAPPID, EMULATOR_SECRET_KEY, "administrator", ports),
            daemon=True,
        )
        self.process.start()
        self.url = f"http://127.0.0.1:{ports.get(timeout=30)}"
        self.session = requests.Session()
        self.session.trust_env = False

    def control(self, action: str, payload: dict) -> dict:
        response = self.session.post(f"{self.url}/_emulator/{action}", json=payload, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


class QCluster:
    """``manage.py qcluster`` in its own process group with ``env`` (Q_WORKERS etc.); ``stop`` ends
    the whole group. Its output goes to ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until a worker has run a trivial task (the cluster is up and polling)."""
        from django_q.tasks import async_task, result

        started = time.monotonic()
        task_id = async_task("math.fsum", [1.0, 2.0])
        while result(task_id) is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"qcluster exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"qcluster ran no task in {timeout} s; see {self.log_path}")
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stragglers of the group (its workers)
        self.process.wait()
        self.log.close()

    def __enter__(self) -> QCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
