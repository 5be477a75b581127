"""Shared fixtures: the emulator on a loopback port, settings pointing at it, and a cast of users."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import translation

from profiles import services
from profiles.im import tags as catalogue
from profiles.im.emulator import Emulator, EmulatorServer
from profiles.models import CustomTagDefinition, Profile

# Audit rows are written through a second connection ("autocommit"), so tests that send requests use
# real transactions: rows from both connections are then visible to each other, as in production.
audited_db = pytest.mark.django_db(transaction=True, databases=["default", "autocommit"])



def pytest_sessionstart(session):
    """Remove test databases left by runs that died (one per process id; see settings.py), with their
    WAL files, so a run never starts beside a stale write-ahead log."""
    var_dir = Path(django_settings.BASE_DIR) / "var"
    for path in var_dir.glob("test-*.sqlite3*"):
        match = re.match(r"test-(\d+)\.sqlite3", path.name)
        if match and (int(match.group(1)) == os.getpid() or not Path(f"/proc/{match.group(1)}").exists()):
            path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def audit_digest_dir(settings, tmp_path_factory):
    """Each test's audit digests in a folder of its own (its database starts empty too)."""
    settings.AUDIT_DIGEST_DIR = tmp_path_factory.mktemp("audit-digests")
    return settings.AUDIT_DIGEST_DIR


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the site's default language: LocaleMiddleware activates a request's
    language in the thread, and it would stay active after the test client returned."""
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def file_storages(settings, tmp_path_factory):
    """Each test's CSV uploads and audit archives in folders of its own, through the storages the
    code uses (settings.STORAGES), never the project's var/. Returns the two folders."""
    folders = {"csv_uploads": tmp_path_factory.mktemp("uploads"), "audit_archives": tmp_path_factory.mktemp("archives")}
    settings.STORAGES = {
        **settings.STORAGES,
        **{name: {**settings.STORAGES[name], "OPTIONS": {**settings.STORAGES[name].get("OPTIONS", {}),
                                                          "location": str(folder)}}
           for name, folder in folders.items()},
    }
    return dataclasses.make_dataclass("Folders", ["uploads", "archives"])(
        uploads=folders["csv_uploads"], archives=folders["audit_archives"]
    )


@pytest.fixture
def no_heartbeats():
    """Forget every django-q2 cluster heartbeat left by an earlier test's cluster (they expire after
    3 s, but a test that starts at once would still see them), and the admin banner's cached answer."""
    from django.core.cache import caches

    caches["qcluster"].clear()
    caches["default"].clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The cast's passwords need no strength in tests; PBKDF2 would cost ~0.3 s per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def emulator_server():
    config = django_settings.IM
    emulator = Emulator(
        sdkappid=config.sdkappid, secret_key=config.secret_key, admin_identifiers=[config.admin_identifier]
    )
    server = EmulatorServer(emulator).start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server, settings) -> Emulator:
    """A fresh emulated Tencent app, with the project's settings pointing at it over HTTP."""
    emulator_server.emulator.reset()
    settings.IM = dataclasses.replace(settings.IM, api_base=emulator_server.url)
    return emulator_server.emulator


@pytest.fixture
def define_custom_tag(emulator):
    """Define a custom tag the way an operator would: in the console (emulator) and in the app."""

    def define(keyword: str, *, admin_write: bool = True, admin_read: bool = True, label: str = ""):
        emulator.define_custom_tag(
            catalogue.CustomTag(keyword=keyword, admin_write=admin_write, admin_read=admin_read)
        )
        return CustomTagDefinition.objects.create(
            keyword=keyword, admin_write=admin_write, admin_read=admin_read, label=label
        )

    return define


@pytest.fixture
def cast(django_user_model):
    """A superuser, a profile editor, an auditor and a staff member with no group."""
    services.groups_ensure()
    from django.contrib.auth.models import Group

    def make(username: str, *, group: str | None = None, superuser: bool = False):
        user = django_user_model.objects.create_user(
            username=username, password="pw-" + username, is_staff=True, is_superuser=superuser
        )
        if group:
            user.groups.add(Group.objects.get(name=group))
        return user

    return dataclasses.make_dataclass("Cast", ["root", "editor", "auditor", "outsider"])(
        root=make("root", superuser=True),
        editor=make("editor", group=services.EDITORS_GROUP),
        auditor=make("auditor", group=services.AUDITORS_GROUP),
        outsider=make("outsider"),
    )


@pytest.fixture
def remote_user(emulator):
    """A user that exists in Tencent and has a matching local copy."""

    def create(user_id: str = "u_8812", **wire_values):
        values = {"Tag_Profile_IM_Nick": "old nick", **wire_values}
        emulator.add_account(user_id, values)
        profile = Profile(user_id=user_id)
        profile.apply_tag_values(values)
        profile.save()
        return profile

    return create


@pytest.fixture
def app_callbacks(emulator, live_server, settings):
    """The emulator delivers its signed Profile.CallbackPortraitSet (docs/tencent-im.md §8) to this
    app's webhook on the live server, as Tencent would; ``wait()`` until every one was answered."""
    token = "test-callback-token-0123456789"
    settings.IM_CALLBACK_TOKEN = token
    emulator.set_callback(live_server.url + reverse("im-callback"), token)

    def wait() -> None:
        assert emulator.wait_for_callbacks(10), "the emulator's callbacks were not delivered"
        assert all(delivery.status == 200 for delivery in emulator.callback_deliveries())

    return dataclasses.make_dataclass("AppCallbacks", ["wait"])(wait=wait)


@pytest.fixture
def browser_page(page):
    """The ``page`` fixture (headless Chromium on the live server, its Content-Security-Policy checked), with
    ``browser_page.log_in(username, password)`` to sign in."""
    page.log_in = functools.partial(log_in, page)
    return page


def test_database_url() -> str:
    """A DATABASE_URL for a child process (a command, a worker) to use the test database."""
    from urllib.parse import quote

    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[db["ENGINE"].rsplit(".", 1)[-1]]
    credentials = f"{quote(db.get('USER') or '')}:{quote(db.get('PASSWORD') or '')}@" if db.get("USER") else ""
    return f"{scheme}://{credentials}{db.get('HOST') or 'localhost'}:{db.get('PORT') or ''}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def child_env() -> dict[str, str]:
    """The environment of a child process that works on the test database and the test emulator."""
    env = {
        **os.environ, "DATABASE_URL": test_database_url(), "IM_API_BASE": django_settings.IM.api_base,
        "AUDIT_DIGEST_DIR": str(django_settings.AUDIT_DIGEST_DIR),
        "CSV_UPLOAD_DIR": str(django_settings.STORAGES["csv_uploads"]["OPTIONS"]["location"]),
        "AUDIT_ARCHIVE_DIR": str(django_settings.STORAGES["audit_archives"]["OPTIONS"]["location"]),
    }
    for name in ("IM_SDKAPPID", "IM_SECRET_KEY", "IM_REGION"):
        env.pop(name, None)
    return env


def run_manage(*args: str) -> subprocess.CompletedProcess:
    """Run ``manage.py`` in a child process on the test database and the test emulator, as an
    operator would from a shell (exit code and stderr included)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], capture_output=True, text=True, env=child_env(),
        cwd=django_settings.BASE_DIR, timeout=60,
    )


@pytest.fixture
def editor_client(client, cast):
    """The test client, logged in as the cast's profile editor."""
    client.force_login(cast.editor)
    return client


@pytest.fixture
def admin_login():
    """Sign in through the admin's login form as a browser does (``code``: the authentication code;
    keywords: request META such as ``REMOTE_ADDR``); the response, not followed."""

    def post(client, username: str, password: str, *, code: str | None = None, **meta: str):
        data = {"username": username, "password": password, "next": "/admin/"}
        if code is not None:
            data["otp_token"] = code
        return client.post(reverse("admin:login"), data, **meta)

    return post


@pytest.fixture
def signed_in():
    """Whether ``client`` now holds a signed-in admin session (the index opens rather than redirecting)."""

    def check(client) -> bool:
        return client.get(reverse("admin:index")).status_code == 200

    return check


@pytest.fixture
def messages_of():
    """The texts of the messages a response shows (none without a rendered page)."""

    def messages(response) -> list[str]:
        return [str(message) for message in response.context["messages"]] if response.context else []

    return messages


@pytest.fixture
def change_url():
    """The admin change form's URL of a profile."""

    def url(profile: Profile) -> str:
        return reverse("admin:profiles_profile_change", args=[profile.pk])

    return url


@pytest.fixture
def form_data(change_url):
    """What the browser posts from a profile's change form: every field as the page shows it
    (hidden fields included), plus the overrides."""

    def data(client, profile: Profile, **overrides) -> dict[str, str]:
        form = client.get(change_url(profile)).context["adminform"].form
        posted: dict[str, str] = {}
        for name, field in form.fields.items():
            if field.disabled:
                continue
            value = form.initial.get(name, field.initial)
            posted[name] = "" if value is None else str(value)
        posted.update({key: str(value) for key, value in overrides.items()})
        return posted

    return data


@pytest.fixture
def qcluster():
    """Start real django-q2 clusters (``manage.py qcluster``) on the test database and the test
    emulator, with extra environment variables (``Q_WORKERS="2"``); each is killed, workers and
    all, when the test ends (or earlier with ``kill``)."""
    started: list[subprocess.Popen] = []

    def start(**env: str) -> subprocess.Popen:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
            [sys.executable, "manage.py", "qcluster"], env={**child_env(), "LOG_LEVEL": "WARNING", **env},
            cwd=django_settings.BASE_DIR, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    def kill(process: subprocess.Popen) -> None:
        # A session of its own: the whole cluster (sentinel, pusher, monitor, workers) goes.
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    start.kill = kill
    yield start
    for process in started:
        kill(process)


@pytest.fixture
def web_server():
    """Start a second web server (tests/web_server.py in a child process, on a free loopback
    port) on the test database, the test emulator and the test's storages, with extra environment
    variables; returns its base URL. It is stopped when the test ends."""
    import socket
    import urllib.error
    import urllib.request

    started: list[subprocess.Popen] = []

    def start(**env: str) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
            [sys.executable, str(Path(__file__).with_name("web_server.py")), str(port)],
            env={**child_env(), "LOG_LEVEL": "WARNING", **env}, cwd=django_settings.BASE_DIR,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert process.poll() is None, f"the web server stopped: {process.stderr.read()[-2000:]}"
            try:
                urllib.request.urlopen(url + "/admin/login/", timeout=2).close()  # noqa: S310 (loopback)
            except urllib.error.HTTPError:
                return True  # it answers, if not with 200
            except OSError:
                return False
            return True

        wait_for(answers, 30, "the second web server to answer")
        return url

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for(condition, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def send_checks():
    """Send ``count`` audited requests (configuration checks, as ``actor``); the audit rows in chain order."""
    from profiles.models import ImRequest

    def send(count: int, *, actor=None) -> list:
        for _ in range(count):
            services.im_check(actor=actor, source="command")
        return list(ImRequest.objects.order_by("chain_seq"))

    return send


@pytest.fixture
def raw_audit_sql():
    """Run a statement on the audit table as someone with database access would: on PostgreSQL the
    append-only trigger is switched off first (which itself needs the table's owner)."""
    from django.db import connection

    from profiles.models import ImRequest

    table = ImRequest._meta.db_table

    def run(statement: str, params=()) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            try:
                cursor.execute(statement, params)
            finally:
                if connection.vendor == "postgresql":
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")

    return run


# --- Browser tests --------------------------------------------------------------------------------------
# The Debian package; `playwright install` cannot download here (docs/conventions.md, Tests).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
# Runs in every page before its own scripts (injected by the browser's DevTools protocol, which the page's
# Content-Security-Policy does not govern) and hands each violation of that policy to the test.
CSP_VIOLATION_REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.improfileCspViolation(
    `${event.effectiveDirective} refused ${event.blockedURI || "an inline resource"} on ${location.pathname}`
    + ` (${event.sourceFile || "?"}:${event.lineNumber})`);
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """Every Content-Security-Policy violation the browser met on the ``page`` fixture's pages: its
    ``securitypolicyviolation`` events and console messages about the policy."""
    return []


@pytest.fixture
def browser_locale() -> str:
    """The language the ``page`` fixture's browser asks for (its Accept-Language); a test module runs
    in Chinese too by parametrizing it: ``pytest.mark.parametrize("browser_locale", ["en-US", "zh-CN"])``."""
    return "en-US"


@pytest.fixture
def page(live_server, monkeypatch, csp_violations, browser_locale) -> Iterator:
    """A page in a fresh headless Chromium, with relative URLs resolved against the live server. The
    policy is enforced (the browser does not bypass it), and a test that met a violation fails. The
    browser asks for ``browser_locale``'s language.

    Requesting ``live_server`` here makes this fixture tear down first: the browser is closed
    before the server stops.
    """
    from django.db import connections
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        # Fail, not skip: CI installs Chromium (.ci/run), so a missing one is a broken set-up.
        pytest.fail(f"{CHROMIUM} is missing; install it with `apt-get install chromium`.", pytrace=False)
    # Playwright's sync API keeps an event loop on this thread, and Django refuses ORM calls
    # from a thread with a running loop; the ORM here (fixtures, flush) is still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=live_server.url, bypass_csp=False, locale=browser_locale)
            context.set_default_timeout(10_000)

            def report(violation: str) -> None:
                csp_violations.append(violation)

            context.expose_function("improfileCspViolation", report)
            context.add_init_script(CSP_VIOLATION_REPORTER)
            page = context.new_page()
            page.on("console", lambda message: csp_violations.append(message.text)
                    if "Content Security Policy" in message.text else None)
            yield page
            page.wait_for_timeout(100)  # a violation reported while the test ended
            assert csp_violations == [], f"the pages broke their Content-Security-Policy: {csp_violations}"
        finally:
            browser.close()
            # While that loop runs, asgiref keeps this thread's Django connections in a separate,
            # context-local store, so ORM calls in the test body opened connections of their own
            # that the test database teardown never sees. Left open, they outlive the deleted
            # file and strand its -wal/-shm in var/. Close them while that store is still current.
            connections.close_all()


def log_in(page, username: str, password: str) -> None:
    """Log in through the admin's login form."""
    from playwright.sync_api import expect

    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)
