"""The gateway to Tencent: one client per configuration, and ``im_call``, the single audited path
for every request the application sends."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from ..im.client import ACCOUNT_CHECK, ImClient, ImError, ImResponse, TransportError, new_random
from ..im.config import ImConfig
from ..im.usersig import UserSigProvider
from ..models import ImRequest, ImRequestSubject
from .ratelimit import rate_limit_acquire

# A second connection to the same database, outside any caller's transaction (settings.DATABASES).
AUTOCOMMIT_DB = "autocommit"

_clients: dict[ImConfig, ImClient] = {}
_clients_lock = threading.Lock()


def im_client() -> ImClient:
    """The process's client for the configured app (one per configuration, so the UserSig and
    the keep-alive connections are shared)."""
    config: ImConfig = settings.IM
    with _clients_lock:
        client = _clients.get(config)
        if client is None:
            client = ImClient(
                base_url=config.api_base,
                sdkappid=config.sdkappid,
                usersig=UserSigProvider(
                    sdkappid=config.sdkappid, secret_key=config.secret_key,
                    identifier=config.admin_identifier, expire=config.usersig_expire,
                ),
                read_timeout=config.read_timeout,
            )
            _clients[config] = client
        return client


def _actor_fields(actor: AbstractBaseUser | None) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor": None, "actor_username": ""}
    return {"actor": actor, "actor_username": actor.get_username()}


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
    client: ImClient | None = None,
) -> tuple[ImRequest, ImResponse]:
    """Send one request to Tencent with its audit row written first and completed after.

    The row goes through the "autocommit" connection, so it survives whatever the
    caller's transaction does. Raises ImError / TransportError after completing the row, with
    the row attached as ``exc.audit``.
    """
    client = client or im_client()
    # Every process shares one rate limit (spec §1); background work leaves room for agents.
    rate_limit_acquire(command=command, background=background)
    nonce = new_random()
    audit = ImRequest.objects.using(AUTOCOMMIT_DB).create(
        source=source, purpose=purpose, user_id=user_id, command=command, job_id=job_id,
        attempt=attempt, request_body=body, random=nonce,
        changes=changes or [], **_actor_fields(actor),
    )
    if subjects:
        ImRequestSubject.objects.using(AUTOCOMMIT_DB).bulk_create(
            [ImRequestSubject(request=audit, user_id=subject) for subject in dict.fromkeys(subjects)]
        )
    try:
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
        audit.save(using=AUTOCOMMIT_DB)
        exc.audit = audit
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
    audit.response_body = response.body
    audit.latency_ms = response.latency_ms
    audit.completed_at = timezone.now()
    audit.save(using=AUTOCOMMIT_DB)


def im_check(*, actor: AbstractBaseUser | None, source: str) -> ImRequest:
    """One audited ``account_check`` of the admin account: proves the endpoint, SDKAppID, admin
    identifier and secret key all work (spec §5). Raises ImError / TransportError."""
    client = im_client()
    audit, _response = im_call(
        command=ACCOUNT_CHECK, body={"CheckItem": [{"UserID": client.identifier}]},
        actor=actor, source=source, user_id=client.identifier, purpose="configuration check", client=client,
    )
    return audit
