"""The service layer: every request to Tencent goes through here, and every one is audited.

``profile_push`` is the only path to ``v4/profile/portrait_set``; the admin and the command line
both call it. ``im_call`` is the single audited path for any Tencent request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from .im import tags as catalogue
from .im.client import ACCOUNT_CHECK, PORTRAIT_SET, ImClient, ImError, ImResponse, TransportError, new_random
from .im.config import ImConfig
from .im.usersig import UserSigProvider
from .models import CustomTagDefinition, ImRequest, Profile

logger = logging.getLogger(__name__)

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


# --- validation -------------------------------------------------------------------------------


class TagValidationError(ValueError):
    """One or more values Tencent would refuse; nothing was sent. ``errors`` maps tag → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{tag}: {message}" for tag, message in errors.items()))


def custom_tag_definitions() -> dict[str, CustomTagDefinition]:
    # Read outside the caller's transaction: on SQLite (WAL) a read there would pin a snapshot
    # that the audit row's commit makes stale, and the later local-copy write would fail.
    return {
        definition.wire_name: definition
        for definition in CustomTagDefinition.objects.using(AUTOCOMMIT_DB).all()
    }


def validate_tag_values(
    values: Mapping[str, Any], *, definitions: Mapping[str, CustomTagDefinition] | None = None,
) -> dict[str, Any]:
    """Check every value against the catalogue (spec §2, §3) and return them in wire form.

    Raises TagValidationError naming each bad tag, so nothing is sent when anything is wrong.
    """
    if definitions is None:
        definitions = custom_tag_definitions()
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for wire_name, value in values.items():
        standard = catalogue.STANDARD_BY_WIRE.get(wire_name)
        try:
            if standard is not None:
                cleaned[wire_name] = standard.validate(value)
                continue
            definition = definitions.get(wire_name)
            if definition is None:
                errors[wire_name] = (
                    f"{wire_name} is not a standard tag nor a custom tag defined here "
                    "(Tencent would answer 40009)."
                )
                continue
            if not definition.admin_write:
                errors[wire_name] = (
                    f"The app admin has no write permission on {wire_name} in the Tencent console "
                    "(Tencent would answer 40008); grant 'App admin write' there first."
                )
                continue
            cleaned[wire_name] = definition.as_catalogue().validate(value)
        except catalogue.TagValueError as exc:
            errors[wire_name] = f"{exc.message} (Tencent would answer {exc.error_code})."
    if errors:
        raise TagValidationError(errors)
    return cleaned


def custom_tag_check_limit() -> None:
    """spec §3: at most 20 custom tags per app. Raises ValueError when the app is full."""
    count = CustomTagDefinition.objects.count()
    if count >= catalogue.CUSTOM_TAG_LIMIT:
        raise ValueError(
            f"This app already has {count} custom tags; Tencent allows at most {catalogue.CUSTOM_TAG_LIMIT} "
            "and they cannot be deleted."
        )


# --- the audited call -------------------------------------------------------------------------


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
    client: ImClient | None = None,
) -> tuple[ImRequest, ImResponse]:
    """Send one request to Tencent with its audit row written first and completed after.

    The row goes through the "autocommit" connection, so it survives whatever the
    caller's transaction does. Raises ImError / TransportError after completing the row, with
    the row attached as ``exc.audit``.
    """
    client = client or im_client()
    nonce = new_random()
    audit = ImRequest.objects.using(AUTOCOMMIT_DB).create(
        source=source, user_id=user_id, command=command, request_body=body, random=nonce,
        changes=changes or [], **_actor_fields(actor),
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


# --- profile_push -----------------------------------------------------------------------------


@dataclass
class PushOutcome:
    """What happened to one push, in words a caller can show."""

    ok: bool
    user_id: str
    pushed: list[str] = field(default_factory=list)
    audit: ImRequest | None = None
    error_code: int | None = None
    message: str = ""
    # The tag an error concerns, when it can be told (for placing the error on a form field).
    tag: str | None = None
    retryable: bool = False

    @property
    def sent(self) -> bool:
        return self.audit is not None


def _error_tag(exc: ImError, pushed: dict[str, Any]) -> str | None:
    """Which pushed tag a tag-related ErrorCode concerns, when that can be told."""
    if not exc.info.concerns_tag:
        return None
    text = f"{exc.response.error_info} {exc.response.error_display}"
    named = [tag for tag in pushed if tag in text]
    if len(named) == 1:
        return named[0]
    if len(pushed) == 1:
        return next(iter(pushed))
    # spec §2: each standard tag breaks with one code; if only one pushed tag can give it, it is that.
    candidates = [
        tag for tag in pushed
        if (std := catalogue.STANDARD_BY_WIRE.get(tag)) is not None and std.error_code == exc.error_code
    ]
    if exc.error_code in (40008, 40009):
        candidates = [tag for tag in pushed if catalogue.is_custom_tag_name(tag)]
    return candidates[0] if len(candidates) == 1 else None


def profile_push(
    *,
    profile: Profile,
    values: Mapping[str, Any],
    actor: AbstractBaseUser | None,
    source: str,
    client: ImClient | None = None,
) -> PushOutcome:
    """Push the tags in ``values`` that differ from the local copy to Tencent (spec §4).

    Validates everything first (raises TagValidationError, nothing sent), sends only changed
    tags, audits the request, and updates the local copy only when Tencent accepts.
    """
    cleaned = validate_tag_values(values)
    changed = {
        tag: value for tag, value in cleaned.items()
        if not _same(profile.tag_value(tag), value)
    }
    if not changed:
        return PushOutcome(ok=True, user_id=profile.user_id, message="Nothing changed; nothing was sent to Tencent.")

    body = {
        "From_Account": profile.user_id,
        "ProfileItem": [{"Tag": tag, "Value": value} for tag, value in changed.items()],
    }
    changes = [{"tag": tag, "before": profile.tag_value(tag), "after": value} for tag, value in changed.items()]
    try:
        audit, _response = im_call(
            command=PORTRAIT_SET, body=body, actor=actor, source=source, user_id=profile.user_id,
            changes=changes, client=client,
        )
    except ImError as exc:
        # spec §4: any ErrorCode != 0 means nothing was applied; the local copy stays as it was.
        return PushOutcome(
            ok=False, user_id=profile.user_id, audit=exc.audit, error_code=exc.error_code,
            message=f"Tencent refused the change — {exc.info.describe()}"
            + (f" (Tencent said: {exc.response.error_info})" if exc.response.error_info else ""),
            tag=_error_tag(exc, changed), retryable=exc.retryable,
        )
    except TransportError as exc:
        return PushOutcome(
            ok=False, user_id=profile.user_id, audit=exc.audit,
            message=f"No answer from Tencent ({exc.reason}); the change may or may not have been "
            "applied. Saving again is safe: the same edit sent twice gives the same result.",
            retryable=True,
        )

    fields = profile.apply_tag_values(changed)
    profile.last_pushed_at = timezone.now()
    if profile.pk:
        profile.save(update_fields=[*fields, "last_pushed_at", "updated_at"])
    else:
        profile.save()
    return PushOutcome(
        ok=True, user_id=profile.user_id, pushed=list(changed), audit=audit, error_code=0,
        message=f"Tencent accepted the change to {profile.user_id}: {', '.join(changed)}.",
    )


def _same(before: Any, after: Any) -> bool:
    # An unknown string (None) and an empty string both mean "nothing there": no request for it.
    if before is None and after == "":
        return True
    return before == after


def push_outcome_summary(outcome: PushOutcome) -> str:
    """One line for a terminal or a log."""
    if outcome.ok:
        return outcome.message
    code = f" [ErrorCode {outcome.error_code}]" if outcome.error_code is not None else ""
    return f"{outcome.user_id}: {outcome.message}{code}"


def im_check(*, actor: AbstractBaseUser | None, source: str) -> ImRequest:
    """One audited ``account_check`` of the admin account: proves the endpoint, SDKAppID, admin
    identifier and secret key all work (spec §5). Raises ImError / TransportError."""
    client = im_client()
    audit, _response = im_call(
        command=ACCOUNT_CHECK, body={"CheckItem": [{"UserID": client.identifier}]},
        actor=actor, source=source, user_id=client.identifier, client=client,
    )
    return audit


# --- set-up -----------------------------------------------------------------------------------

EDITORS_GROUP = "Profile editors"
AUDITORS_GROUP = "Audit reviewers"
_GROUP_PERMISSIONS = {
    EDITORS_GROUP: [
        "view_profile", "add_profile", "change_profile", "view_customtagdefinition", "view_imrequest",
    ],
    AUDITORS_GROUP: ["view_imrequest", "view_profile", "view_customtagdefinition"],
}


def groups_ensure() -> None:
    """Create the two staff groups with their permissions (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    for name, codenames in _GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="profiles", codename__in=codenames))


def demo_seed_local(*, accounts: Mapping[str, Mapping[str, Any]], custom_tags: list[catalogue.CustomTag]) -> int:
    """Create the demo custom tag definitions and local copies that match the emulator's demo data."""
    for tag in custom_tags:
        CustomTagDefinition.objects.get_or_create(
            keyword=tag.keyword,
            defaults={"label": tag.label, "admin_read": tag.admin_read, "admin_write": tag.admin_write},
        )
    created = 0
    for user_id, profile_values in accounts.items():
        if Profile.objects.filter(user_id=user_id).exists():
            continue
        profile = Profile(user_id=user_id, last_pulled_at=timezone.now())
        profile.apply_tag_values(dict(profile_values))
        profile.save()
        created += 1
    return created
