"""The production path of README, Deploy: with DEBUG off, `migrate` and `collectstatic`, then gunicorn serves
the admin and (through whitenoise) the collected static files, HTTPS enforced behind a TLS-terminating proxy."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from profiles.im.callback import CALLBACK_COMMAND, callback_query

ROOT = Path(__file__).resolve().parent.parent
HOST = "improfile.example.com"
FROM_PROXY = {"Host": HOST, "X-Forwarded-Proto": "https"}  # what the reverse proxy adds to a browser's request


def production_env(tmp_path: Path) -> dict[str, str]:
    """A production environment as in .env.example's production section, its secrets filled in, its paths
    and database in ``tmp_path``; nothing the test suite itself set (DEBUG=on) is inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IM_", "SECURE_", "DJANGO_"))}
    for name in ("DEBUG", "SECRET_KEY", "AUDIT_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "STATIC_ROOT"):
        env.pop(name, None)
    env.update({
        "DEBUG": "off", "SECRET_KEY": secrets.token_urlsafe(50), "AUDIT_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": HOST, "IM_SDKAPPID": "1400123456", "IM_SECRET_KEY": secrets.token_urlsafe(32),
        "IM_REGION": "singapore", "IM_CALLBACK_TOKEN": secrets.token_urlsafe(24),
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO", "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        "AUDIT_DIGEST_DIR": str(tmp_path / "audit-digests"), "LOG_LEVEL": "WARNING",
    })
    return env


def manage(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@contextlib.contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[str]:
    """README's gunicorn command on a free loopback port (one worker here); yields its base URL. The proxy
    is on another machine as far as gunicorn knows (``--forwarded-allow-ips``), so HTTPS is Django's to see
    through SECURE_PROXY_SSL_HEADER, not gunicorn's."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "improfile_site.wsgi", "--workers", "1", "--bind", "127.0.0.1:0",
         "--forwarded-allow-ips", "192.0.2.1"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    lines: list[str] = []
    listening = threading.Event()
    port: list[int] = []

    def read() -> None:
        for line in server.stderr:
            lines.append(line)
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line)
            if found:
                port.append(int(found.group(1)))
            if "Booting worker" in line:
                listening.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while not (listening.is_set() and port):
            assert server.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port[0]}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment between the test and gunicorn
        yield session


def assert_policy(response: requests.Response) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy, policy
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy, policy


def test_gunicorn_serves_the_admin_and_the_collected_static_files_with_debug_off(tmp_path, http):
    env = production_env(tmp_path)
    manage("collectstatic", "--no-input", "--verbosity", "0", env=env)  # the login page needs no table
    with gunicorn(env) as base:
        login = http.get(f"{base}/admin/login/", headers=FROM_PROXY, timeout=30)
        assert login.status_code == 200, login.text[:2000]
        assert_policy(login)
        assert login.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        assert login.headers["X-Frame-Options"] == "DENY"
        assert login.headers["Referrer-Policy"] == "same-origin"
        assert login.headers["X-Content-Type-Options"] == "nosniff"
        assert "Secure" in login.raw.headers.get("Set-Cookie", ""), login.raw.headers
        # The page links the collected, hashed copies, which are cached for good.
        hashed = re.findall(r'href="(/static/(?:admin/css/base|profiles/improfile)\.[0-9a-f]{12}\.css)"', login.text)
        assert len(hashed) == 2, login.text
        for url in hashed:
            css = http.get(f"{base}{url}", headers={**FROM_PROXY, "Accept-Encoding": "gzip"}, timeout=30)
            assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
            assert "immutable" in css.headers["Cache-Control"] and css.headers.get("Content-Encoding") == "gzip"
            assert_policy(css)
        for name in ("profiles/bytecount.js", "profiles/jobprogress.js", "admin/css/base.css"):
            static = http.get(f"{base}/static/{name}", headers=FROM_PROXY, timeout=30)
            assert static.status_code == 200, name
            assert static.content == (tmp_path / "static" / name).read_bytes()
            assert_policy(static)
        assert (ROOT / "profiles" / "static" / "profiles" / "bytecount.js").read_bytes() == (
            tmp_path / "static" / "profiles" / "bytecount.js").read_bytes()


def test_behind_the_proxy_plain_http_is_redirected_but_not_health_probes_nor_https_callbacks(tmp_path, http):
    env = production_env(tmp_path)
    manage("migrate", "--no-input", "--verbosity", "0", env=env)
    body = {
        "CallbackCommand": CALLBACK_COMMAND, "Operator_Account": "u_1", "From_Account": "u_1",
        "EventTime": int(time.time() * 1000), "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "from the app"}],
    }
    with gunicorn(env) as base:
        plain = http.get(f"{base}/admin/login/", headers={"Host": HOST}, allow_redirects=False, timeout=30)
        assert plain.status_code == 301 and plain.headers["Location"] == f"https://{HOST}/admin/login/"
        # A load balancer's plain-HTTP probe of /healthz is answered, not redirected.
        probe = http.get(f"{base}/healthz", headers={"Host": HOST}, allow_redirects=False, timeout=30)
        assert probe.status_code != 301, probe.headers
        # Tencent calls https://<host>/im/callback; the proxy passes it on as HTTPS, and it is recorded.
        query = callback_query(sdkappid=int(env["IM_SDKAPPID"]), token=env["IM_CALLBACK_TOKEN"], client_ip="",
                               platform="iOS")
        callback = http.post(f"{base}/im/callback", params=query, headers=FROM_PROXY, data=json.dumps(body),
                             allow_redirects=False, timeout=30)
        assert callback.status_code == 200 and callback.json()["ActionStatus"] == "OK", callback.text
        # The same callback over plain HTTP gets the redirect, not the webhook (README, Deploy).
        over_http = http.post(f"{base}/im/callback", params=query, headers={"Host": HOST}, data=json.dumps(body),
                              allow_redirects=False, timeout=30)
        assert over_http.status_code == 301
