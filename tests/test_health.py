"""``GET /healthz``: 200 when the database answers, every migration is applied, a django-q2 cluster
runs and the last call to Tencent went through; 503 naming the failing part otherwise; never a
hostname, a DSN or a secret."""

from __future__ import annotations

import contextlib
import json

import pytest
import requests
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from profiles import services
from profiles.im.client import ImClientError
from profiles.im.emulator import Fault

from .conftest import audited_db, wait_for

pytestmark = [audited_db, pytest.mark.usefixtures("no_heartbeats")]


def health(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def call_tencent() -> None:
    with contextlib.suppress(ImClientError):  # a refusal is recorded all the same
        services.im_check(actor=None, source="command")


def test_healthz_is_ok_while_a_cluster_runs_and_names_the_worker_once_it_stops(client, emulator, qcluster):
    status, body = health(client)
    assert (status, body["failing"]) == (503, ["worker"])
    assert body["checks"]["worker"]["reason"].startswith("no running qcluster has reported")

    cluster = qcluster(Q_WORKERS="1")
    wait_for(lambda: health(client)[0] == 200, 30, "healthz to see the cluster")
    _status, body = health(client)
    assert body["status"] == "ok" and body["failing"] == []
    worker = body["checks"]["worker"]
    assert (worker["status"], worker["clusters"], worker["workers"]) == ("ok", 1, 1)
    assert 0 <= worker["last_seen_seconds"] < 3
    assert body["checks"]["database"]["status"] == body["checks"]["migrations"]["status"] == "ok"

    qcluster.kill(cluster)  # killed outright: it says nothing as it goes
    wait_for(lambda: health(client)[1]["failing"] == ["worker"], 10, "healthz to miss the dead cluster")
    assert health(client)[0] == 503


def test_the_last_call_to_tencent_decides_the_tencent_check(client, emulator):
    tencent = lambda: health(client)[1]["checks"]["tencent"]  # noqa: E731
    assert tencent() == {"status": "ok", "reason": "no call to Tencent yet", "last_call": None}

    call_tencent()
    check = tencent()
    assert (check["status"], check["outcome"], check["error_code"]) == ("ok", "ok", 0)
    assert check["command"].endswith("account_check") and check["age_seconds"] >= 0

    emulator.inject(Fault(kind="error_code", error_code=40003))  # about one request: Tencent works
    call_tencent()
    assert (tencent()["status"], tencent()["error_code"]) == ("ok", 40003)

    emulator.inject(Fault(kind="error_code", error_code=70009))  # the secret key is wrong: every call fails
    call_tencent()
    check = tencent()
    assert check["status"] == "fail" and check["error_code"] == 70009
    assert check["reason"].startswith("the last call was refused for the app's configuration: ErrorCode 70009")
    assert "tencent" in health(client)[1]["failing"]

    emulator.inject(Fault(kind="drop"))
    call_tencent()
    check = tencent()
    assert (check["status"], check["outcome"]) == ("fail", "transport_error")
    assert "got no answer from Tencent" in check["reason"]

    emulator.inject(Fault(kind="error_code", error_code=70500))
    call_tencent()
    assert tencent()["reason"].startswith("Tencent's service failed the last call: ErrorCode 70500")

    call_tencent()  # answered again
    assert tencent()["status"] == "ok"


def test_healthz_names_migrations_that_are_not_applied(client):
    graph = MigrationLoader(connection).graph
    latest = graph.leaf_nodes("profiles")[0]
    previous = next(parent for parent in graph.node_map[latest].parents if parent.key[0] == "profiles").key
    call_command("migrate", "profiles", previous[1], verbosity=0)
    try:
        status, body = health(client)
        migrations = body["checks"]["migrations"]
        assert status == 503 and "migrations" in body["failing"]
        assert migrations["reason"] == "1 migration(s) not applied: run manage.py migrate"
        assert migrations["unapplied"] == [f"profiles.{latest[1]}"]
    finally:
        call_command("migrate", "profiles", verbosity=0)
    assert health(client)[1]["checks"]["migrations"] == {"status": "ok"}


def test_a_server_whose_database_cannot_be_reached_says_so_and_nothing_more(web_server):
    dsn = "postgres://improfile_probe:pw-never-shown@127.0.0.1:1/db_never_shown"
    url = web_server(DATABASE_URL=dsn)
    answer = requests.get(url + "/healthz", timeout=30)
    body = answer.json()
    assert (answer.status_code, body["status"], body["failing"]) == (503, "fail", ["database"])
    assert body["checks"]["database"] == {"status": "fail", "reason": "cannot connect to the database"}
    assert body["checks"]["migrations"]["status"] == body["checks"]["tencent"]["status"] == "skipped"
    for secret in ("pw-never-shown", "db_never_shown", "improfile_probe", "127.0.0.1", ":1/"):
        assert secret not in answer.text


def test_healthz_shows_no_secret_or_location_and_needs_no_login(client, emulator):
    call_tencent()
    response = client.get("/healthz")
    text = response.content.decode()
    assert response.status_code in (200, 503) and "/admin/login" not in text
    database = django_settings.DATABASES["default"]
    for secret in (django_settings.SECRET_KEY, django_settings.AUDIT_KEY, django_settings.IM.secret_key,
                   django_settings.IM.api_base, str(database["NAME"]), database.get("HOST") or "\0"):
        assert secret not in text


def test_healthz_answers_get_only(client):
    assert client.post("/healthz").status_code == 405
