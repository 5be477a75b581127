"""Is this installation healthy? The database, its migrations, a running django-q2 cluster and the
last call to Tencent, for ``/healthz`` and for the admin's "no worker" banner.

Nothing here may reveal where things run or how to reach them: a failing part is named with a short
reason of our own words, never an exception's text (which can hold a hostname or a DSN).

A worker's heartbeat is django-q2's own cluster status (``Stat``): each running cluster saves it
every guard cycle (0.5 s) with a 3-second expiry, in Redis with the Redis broker, else in the
"qcluster" cache (a table in the shared database). So every web server sees every machine's
clusters, and a cluster that stopped or died drops out within 3 seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from ..im.errors import CONFIGURATION_CODES, SERVICE_FAILURE_CODES, describe
from ..models import BulkJob, ImRequest

logger = logging.getLogger(__name__)

OK, FAIL, SKIPPED = "ok", "fail", "skipped"
# django-q2 saves a cluster's status with this expiry (django_q.status.Stat.save).
HEARTBEAT_EXPIRY_SECONDS = 3
# The banner's answer is kept this long per process, so admin pages cost no query most of the time.
BANNER_CACHE_SECONDS = 5
_BANNER_CACHE_KEY = "improfile:worker-banner"


@dataclass(frozen=True)
class Check:
    """One part's verdict and the figures behind it (JSON-ready)."""

    status: str
    reason: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, **({"reason": self.reason} if self.reason else {}), **self.figures}


@dataclass(frozen=True)
class Health:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(check.status != FAIL for check in self.checks.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if check.status == FAIL]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": OK if self.ok else FAIL,
            "failing": self.failing,
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
        }


@dataclass(frozen=True)
class WorkerStatus:
    """The django-q2 clusters running now, on any machine."""

    clusters: int
    workers: int
    last_seen_seconds: float | None  # age of the newest running cluster's heartbeat
    reachable: bool = True  # False: the heartbeats' store (Redis, the database) could not be read

    @property
    def running(self) -> bool:
        return self.clusters > 0


@dataclass(frozen=True)
class WaitingWork:
    jobs: int  # bulk jobs queued or running
    tasks: int  # tasks in the django-q2 queue, not yet taken by a worker


def _seconds_since(moment: datetime) -> float:
    return round(max(0.0, (timezone.now() - moment).total_seconds()), 1)


def worker_status() -> WorkerStatus:
    """The running clusters seen through django-q2's heartbeats."""
    from django_q.conf import Conf
    from django_q.status import Stat

    try:
        stats = Stat.get_all()
    except Exception as exc:  # the broker's client raises its own errors (redis, the database)
        logger.warning("health: the workers' heartbeats could not be read (%s)", type(exc).__name__)
        return WorkerStatus(clusters=0, workers=0, last_seen_seconds=None, reachable=False)
    running = [stat for stat in stats if str(stat.status) in (str(Conf.IDLE), str(Conf.WORKING))]
    newest = max((stat.timestamp for stat in running), default=None)
    return WorkerStatus(
        clusters=len(running), workers=sum(len(stat.workers) for stat in running),
        last_seen_seconds=_seconds_since(newest) if newest else None,
    )


def waiting_work() -> WaitingWork:
    """Work that needs a worker: bulk jobs not finished, and tasks nobody has taken yet."""
    from django_q.brokers import get_broker

    jobs = BulkJob.objects.filter(state__in=[BulkJob.State.QUEUED, BulkJob.State.RUNNING]).count()
    try:
        tasks = get_broker().queue_size() or 0
    except Exception as exc:  # the broker is down: the jobs still wait
        logger.warning("health: the task queue's size could not be read (%s)", type(exc).__name__)
        tasks = 0
    return WaitingWork(jobs=jobs, tasks=tasks)


def _database_check() -> Check:
    try:
        connections[DEFAULT_DB_ALIAS].ensure_connection()
    except Exception as exc:  # any driver's error; its text may name the host, so it is logged, not shown
        logger.warning("health: the database is unreachable (%s)", type(exc).__name__)
        return Check(FAIL, "cannot connect to the database")
    return Check(OK, figures={"vendor": connections[DEFAULT_DB_ALIAS].vendor})


def _migrations_check() -> Check:
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        logger.warning("health: the applied migrations could not be read (%s)", type(exc).__name__)
        return Check(FAIL, "cannot read which migrations are applied")
    if plan:
        names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        return Check(
            FAIL, f"{len(names)} migration(s) not applied: run manage.py migrate",
            {"unapplied": names[:20]},
        )
    return Check(OK)


def _worker_check() -> Check:
    status = worker_status()
    figures = {"clusters": status.clusters, "workers": status.workers, "last_seen_seconds": status.last_seen_seconds}
    if not status.reachable:
        return Check(FAIL, "cannot read the workers' heartbeats from the broker", figures)
    if not status.running:
        reason = f"no running qcluster has reported in the last {HEARTBEAT_EXPIRY_SECONDS} s: start manage.py qcluster"
        return Check(FAIL, reason, figures)
    return Check(OK, figures=figures)


def _tencent_check() -> Check:
    """The outcome of the newest call that has one. No call yet is no failure; a refusal about one
    request (a bad value, an unknown UserID, the rate limit) is Tencent working as it should."""
    try:
        last = (
            ImRequest.objects.filter(state__in=[
                ImRequest.State.OK, ImRequest.State.IM_ERROR, ImRequest.State.TRANSPORT_ERROR,
            ]).order_by("-created_at", "-id")
            .values("command", "state", "error_code", "http_status", "created_at", "completed_at").first()
        )
    except DatabaseError as exc:
        logger.warning("health: the audit trail could not be read (%s)", type(exc).__name__)
        return Check(FAIL, "cannot read the audit trail")
    if last is None:
        return Check(OK, "no call to Tencent yet", {"last_call": None})
    finished = last["completed_at"] or last["created_at"]
    figures = {
        "last_call": finished.isoformat(), "command": last["command"], "outcome": last["state"],
        "error_code": last["error_code"], "age_seconds": _seconds_since(finished),
    }
    if last["state"] == ImRequest.State.TRANSPORT_ERROR:
        status = f" (HTTP {last['http_status']})" if last["http_status"] else ""
        return Check(FAIL, f"the last call got no answer from Tencent{status}: connection, timeout or server error",
                     figures)
    code = last["error_code"]
    if code in CONFIGURATION_CODES:
        return Check(FAIL, f"the last call was refused for the app's configuration: {describe(code).describe()}",
                     figures)
    if code in SERVICE_FAILURE_CODES:
        return Check(FAIL, f"Tencent's service failed the last call: {describe(code).describe()}", figures)
    return Check(OK, figures=figures)


def health_status() -> Health:
    """Every check; those that need the database are skipped when it cannot be reached."""
    database = _database_check()
    if database.status == FAIL:
        skipped = Check(SKIPPED, "needs the database")
        # The Redis broker's heartbeats do not live in the database.
        worker = _worker_check() if "redis" in settings.Q_CLUSTER else skipped
        return Health({"database": database, "migrations": skipped, "worker": worker, "tencent": skipped})
    return Health({
        "database": database, "migrations": _migrations_check(), "worker": _worker_check(), "tencent": _tencent_check(),
    })


@dataclass(frozen=True)
class WorkerBanner:
    """What the admin tells staff when work waits and no worker runs (None from worker_banner: all well)."""

    jobs: int
    tasks: int


def worker_banner() -> WorkerBanner | None:
    """A warning for the admin pages, or None; kept BANNER_CACHE_SECONDS per process. Waiting work is
    looked at first (one or two queries); the heartbeats only when something waits."""
    cached = cache.get(_BANNER_CACHE_KEY)
    if cached is not None:
        return cached or None
    waiting = waiting_work()
    banner: WorkerBanner | None = None
    if (waiting.jobs or waiting.tasks) and not worker_status().running:
        banner = WorkerBanner(jobs=waiting.jobs, tasks=waiting.tasks)
    cache.set(_BANNER_CACHE_KEY, banner or False, BANNER_CACHE_SECONDS)
    return banner
