"""The gateway to Tencent: one client per configuration, and ``im_call``, the single audited path
for every request the application sends."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from ..im.client import (
    ACCOUNT_CHECK,
    DEFAULT_POOL_SIZE,
    PORTRAIT_GET,
    ImClient,
    ImError,
    ImResponse,
    TransportError,
    new_random,
)
from ..im.config import ImConfig
from ..im.usersig import UserSigProvider
from ..models import ImRequest, ImRequestSubject
from .audit import AUTOCOMMIT_DB, audit_seal
from .ratelimit import rate_limited


@dataclass(frozen=True)
class JobCall:
    """Which background job, attempt and purpose a request is made for (audited with it, and
    rate-limited as background work)."""

    job_id: int
    attempt: int
    purpose: str

    def call_options(self) -> dict[str, Any]:
        return {"background": True, "job_id": self.job_id, "attempt": self.attempt, "purpose": self.purpose}


# One client per process and configuration. Keyed by the process id too: a forked child (a
# django-q2 worker) makes its own, never sending on its parent's keep-alive connections.
_clients: dict[tuple[int, ImConfig], ImClient] = {}


def im_client() -> ImClient:
    """The process's client for the configured app (one per configuration, so the UserSig and
    the keep-alive connections are shared by its threads)."""
    config: ImConfig = settings.IM
    key = (os.getpid(), config)
    client = _clients.get(key)
    if client is None:
        client = _clients.setdefault(key, ImClient(
            base_url=config.api_base,
            sdkappid=config.sdkappid,
            usersig=UserSigProvider(
                sdkappid=config.sdkappid, secret_key=config.secret_key,
                identifier=config.admin_identifier, expire=config.usersig_expire,
            ),
            read_timeout=config.read_timeout,
            pool_size=max(DEFAULT_POOL_SIZE, settings.IM_JOB_CONCURRENCY),
        ))
    return client


def im_call(
    *,
    command: str,
    body: dict[str, Any],
    actor: AbstractBaseUser | None,
    source: str,
    user_id: str = "",
    changes: list[dict[str, Any]] | None = None,
    subjects: list[str] | None = None,
    purpose: str = "",
    background: bool = False,
    job_id: int | None = None,
    attempt: int = 1,
    reverts: ImRequest | None = None,
    conclude: Callable[[ImResponse], str] | None = None,
    client: ImClient | None = None,
    note: str = "",
) -> tuple[ImRequest, ImResponse]:
    """Send one request to Tencent with its audit row written first and completed after.

    The row is inserted and sealed on the "autocommit" connection, never on the caller's, so it
    survives whatever the caller's transaction does. Completing it seals it into the audit chain,
    after which it cannot change: ``note`` is what the caller knew before sending (e.g. the change
    it overwrites), and ``conclude`` turns an accepted answer into the row's note (what the service
    made of it, e.g. a conflict) before that. Raises ImError / TransportError after completing the row, with
    the row attached as ``exc.audit``.
    """
    client = client or im_client()
    nonce = new_random()
    audit = ImRequest(
        source=source, purpose=purpose, user_id=user_id, command=command, job_id=job_id,
        attempt=attempt, request_body=body, random=nonce, reverts=reverts,
        changes=changes or [], note=note, **ImRequest.actor_values(actor),
    )
    # The actor's account id as the keyed chain covers it (``actor`` is cleared if the account goes).
    audit.actor_pk = audit.actor_id
    # Written on its own connection (never the caller's transaction), before the request leaves;
    # with the users of a batch read, in one transaction.
    with transaction.atomic(using=AUTOCOMMIT_DB) if subjects else nullcontext():
        audit.save(using=AUTOCOMMIT_DB)
        if subjects:
            ImRequestSubject.objects.using(AUTOCOMMIT_DB).bulk_create(
                [ImRequestSubject(request=audit, user_id=subject) for subject in dict.fromkeys(subjects)]
            )
    try:
        # Every process shares one rate limit (docs/tencent-im.md §1); background work leaves room
        # for agents. The call holds its place in the window until its answer is back.
        with rate_limited(command=command, background=background):
            response = client.call(command, body, random=nonce)
    except ImError as exc:
        _complete(audit, ImRequest.State.IM_ERROR, exc.response)
        exc.audit = audit
        raise
    except TransportError as exc:
        audit.state = ImRequest.State.TRANSPORT_ERROR
        audit.http_status = exc.http_status
        audit.transport_error = exc.reason
        audit.response_body = {"text": exc.response_text} if exc.response_text else None
        audit.latency_ms = exc.latency_ms
        audit.completed_at = timezone.now()
        audit_seal(audit, ["state", "http_status", "transport_error", "response_body", "latency_ms", "completed_at"])
        exc.audit = audit
        raise
    if conclude is not None:
        try:
            audit.note = conclude(response)
        except Exception as exc:
            # The row is completed whatever happens; the caller still gets the error.
            audit.note = f"The answer could not be processed: {type(exc).__name__}: {exc}"[:1000]
            _complete(audit, ImRequest.State.OK, response)
            raise
    _complete(audit, ImRequest.State.OK, response)
    return audit, response


def _complete(audit: ImRequest, state: str, response: ImResponse) -> None:
    audit.state = state
    audit.http_status = response.http_status
    audit.action_status = response.action_status
    audit.error_code = response.error_code
    audit.error_info = response.error_info
    audit.error_display = response.error_display
    audit.response_body = _stored_answer(response)
    audit.latency_ms = response.latency_ms
    audit.completed_at = timezone.now()
    audit_seal(audit, _COMPLETION_FIELDS)


def _stored_answer(response: ImResponse) -> dict[str, Any]:
    """The answer as the audit keeps it. A batch read's answer holds up to 100 whole profiles:
    the audit keeps every user's ResultCode and how many tags came back, not the values, which
    the local copies hold (and the trail need not duplicate)."""
    items = response.body.get("UserProfileItem")
    if response.command != PORTRAIT_GET or not isinstance(items, list) or len(items) <= 1:
        return response.body
    summary = []
    for item in items:
        if isinstance(item, dict):
            returned = item.get("ProfileItem")
            summary.append({
                **{k: v for k, v in item.items() if k != "ProfileItem"},
                "TagCount": len(returned) if isinstance(returned, list) else 0,
            })
    return {**response.body, "UserProfileItem": summary, "ProfileItemValuesOmitted": True}


# Why im_check reads an account, as its audit row records it (English, translated when shown).
CONFIGURATION_CHECK = gettext_noop("configuration check")

_COMPLETION_FIELDS = [
    "state", "http_status", "action_status", "error_code", "error_info", "error_display", "response_body",
    "latency_ms", "completed_at", "note",
]


def im_check(*, actor: AbstractBaseUser | None, source: str) -> ImRequest:
    """One audited ``account_check`` of the admin account: proves the endpoint, SDKAppID, admin
    identifier and secret key all work (docs/tencent-im.md §5). Raises ImError / TransportError."""
    client = im_client()
    audit, _response = im_call(
        command=ACCOUNT_CHECK, body={"CheckItem": [{"UserID": client.identifier}]},
        actor=actor, source=source, user_id=client.identifier, purpose=CONFIGURATION_CHECK, client=client,
    )
    return audit
