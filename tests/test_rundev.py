"""``make run`` (``manage.py rundev``): it starts the emulator, the web server and the django-q2 cluster,
says where to log in, and one Ctrl-C stops them all cleanly within seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from django.conf import settings as django_settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_one_ctrl_c_stops_the_emulator_the_web_server_and_the_cluster_cleanly(tmp_path):
    web, emulator = free_port(), free_port()
    env = {
        **os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}", "IM_EMULATOR_PORT": str(emulator),
        "DEBUG": "true", "AUDIT_DIGEST_DIR": str(tmp_path / "audit-digests"),
    }
    for name in ("IM_SDKAPPID", "IM_SECRET_KEY", "IM_API_BASE", "IM_REGION", "IM_CALLBACK_TOKEN"):
        env.pop(name, None)  # the built-in emulator, as on a fresh machine
    run = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "manage.py", "rundev", "--port", str(web)], cwd=django_settings.BASE_DIR, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in run.stdout:
            lines.append(line)
            if "Q Cluster" in line and "running" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not (ready.is_set() and any("Log in as 'admin'" in line for line in lines)):
            assert run.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        assert listening(web) and listening(emulator)
        run.send_signal(signal.SIGINT)  # a terminal's Ctrl-C reaches rundev alone (its children have sessions)
        asked = time.monotonic()
        run.wait(timeout=60)
        took = time.monotonic() - asked
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    reader.join(timeout=10)
    output = "".join(lines)
    assert run.returncode == 0, output
    # The cluster stopped its workers itself, instead of being killed after rundev's 15 s wait.
    assert took < 10, output
    assert "has stopped." in output and output.rstrip().endswith("Stopped."), output
    assert not listening(web) and not listening(emulator)


def _recording_python(tmp_path) -> tuple[str, str]:
    """A stand-in for the venv's Python that writes down the DEBUG it was given and its arguments, and a
    stamp newer than pyproject.toml, so `make run` only runs its recipe (nothing is installed)."""
    record = tmp_path / "record.txt"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho "DEBUG=${{DEBUG-unset}} $*" > {record}\n')
    python.chmod(0o755)
    stamp = tmp_path / "installed-run"
    stamp.touch()
    return str(python), str(stamp)


def test_make_run_turns_debug_on_for_itself_unless_debug_is_set(tmp_path):
    python, stamp = _recording_python(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "MAKEFLAGS", "MAKELEVEL"}}
    for debug, expected in ((None, "DEBUG=on manage.py rundev"), ("off", "DEBUG=off manage.py rundev")):
        run_env = env if debug is None else {**env, "DEBUG": debug}
        done = subprocess.run(
            ["make", "--no-print-directory", "run", f"PY={python}", f"STAMP_RUN={stamp}"],
            cwd=django_settings.BASE_DIR, env=run_env, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert (tmp_path / "record.txt").read_text().strip() == expected


def test_rundev_refuses_to_run_with_debug_off(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IM_")},
        "DEBUG": "off", "SECRET_KEY": "s" * 50, "AUDIT_KEY": "a" * 48, "ALLOWED_HOSTS": "x.example.com",
        "IM_SDKAPPID": "1400123456", "IM_SECRET_KEY": "k" * 64, "IM_REGION": "singapore",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "rundev", "--port", str(free_port())], cwd=django_settings.BASE_DIR,
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "rundev is for development and needs DEBUG=on (`make run` sets it)" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "run.sqlite3").exists()
