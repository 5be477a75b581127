"""`make run`: migrate, seed the demo, start the emulator, the web server and the django-q2 cluster;
Ctrl-C stops them all."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from profiles import services
from profiles.demo import DEMO_CUSTOM_TAGS, demo_accounts

DEMO_USERNAME = "admin"


def _start(command: list[str]) -> subprocess.Popen:
    # Its own session: a terminal's Ctrl-C reaches only rundev, which then stops each child once
    # (qcluster stops its workers cleanly on one SIGTERM to itself, not on a SIGINT followed by a
    # SIGTERM, nor when its workers are signalled too).
    return subprocess.Popen(command, start_new_session=True)


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((host, port)) == 0


def _callback_host(addr: str) -> str:
    """The web server's address as a URL host: a wildcard address is reached on loopback."""
    host = addr.strip("[]")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 - mapped away
    return f"[{host}]" if ":" in host else host


def _wait_for_port(host: str, port: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Command(BaseCommand):
    help = "Run improfile for development: web server + built-in Tencent emulator, with a demo login."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1", help="Web server address (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Web server port (default 8000).")

    def handle(self, *args, addr: str, port: int, **options):
        if not settings.DEBUG:
            raise CommandError(
                "rundev is for development and needs DEBUG=on (`make run` sets it); in production run "
                "gunicorn (README, Deploy)."
            )
        config = settings.IM
        emulator_port = urlsplit(config.api_base).port if config.uses_emulator else None
        for name, host, busy_port in (("web server", addr, port), ("emulator", "127.0.0.1", emulator_port)):
            if busy_port and _port_in_use(host, busy_port):
                hint = "--port" if name == "web server" else "IM_EMULATOR_PORT"
                raise CommandError(
                    f"Port {busy_port} for the {name} is already in use (is improfile already running?); "
                    f"stop that process or choose another port with {hint}."
                )
        call_command("migrate", interactive=False, verbosity=0)
        services.groups_ensure()
        password = self._demo_superuser()
        children: list[subprocess.Popen] = []
        # Ctrl-C (SIGINT) and SIGTERM both stop everything. Set explicitly: a shell that starts us in
        # the background makes us inherit SIGINT as ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _interrupt)
        try:
            if config.uses_emulator:
                services.demo_seed_local(
                    accounts=demo_accounts(settings.IM_DEMO_ACCOUNTS), custom_tags=list(DEMO_CUSTOM_TAGS)
                )
                children.append(_start([
                    sys.executable, "manage.py", "im_emulator", "--demo",
                    # The webhook (docs/tencent-im.md §8) goes to this web server; the token comes from settings.
                    "--callback-url", f"http://{_callback_host(addr)}:{port}/im/callback",
                ]))
                if not _wait_for_port("127.0.0.1", emulator_port):
                    raise CommandError(f"The emulator did not start on port {emulator_port}.")
            else:
                self.stdout.write(f"Using Tencent at {config.api_base} (SDKAppID {config.sdkappid}).")
            children.append(_start([sys.executable, "manage.py", "runserver", f"{addr}:{port}", "--noreload"]))
            # The django-q2 cluster (ORM broker) that runs bulk jobs.
            children.append(_start([sys.executable, "manage.py", "qcluster"]))
            if not _wait_for_port(addr, port):
                raise CommandError(f"The web server did not start on {addr}:{port}.")
            self.stdout.write(self.style.SUCCESS(
                f"\nimprofile is running: http://{addr}:{port}/admin/\n"
                f"Log in as {DEMO_USERNAME!r} with password {password!r}. Ctrl-C stops everything.\n"
            ))
            self._wait(children)
        except KeyboardInterrupt:
            pass
        finally:
            # One SIGTERM to each child itself, which stops what it started: qcluster stops its
            # workers, pusher and monitor in about a second, but hangs when they get a SIGTERM of
            # their own (a signal to its whole process group). Then SIGKILL to each child's process
            # group for anything left.
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
            for child in children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=15)
                _signal_group(child, signal.SIGKILL)
            self.stdout.write("Stopped.")

    def _wait(self, children: list[subprocess.Popen]) -> None:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        raise CommandError("A process stopped unexpectedly; stopping the rest.")

    def _demo_superuser(self) -> str:
        """A demo superuser with a fresh random password each run (printed, never stored in clear)."""
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            **{user_model.USERNAME_FIELD: DEMO_USERNAME}, defaults={"is_staff": True, "is_superuser": True}
        )
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        user.is_staff = user.is_superuser = user.is_active = True
        user.save()
        return password
