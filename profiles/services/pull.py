"""Reading profiles from Tencent (``v4/profile/portrait_get``, spec §5) into the local copies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..im import tags as catalogue
from ..im.client import PORTRAIT_GET, ImClient, ImError, TransportError
from ..im.errors import describe
from ..models import CustomTagDefinition, ImRequest, Profile
from .gateway import im_call
from .validation import custom_tag_definitions

# spec §5: To_Account holds at most 100 accounts per call.
PULL_BATCH_SIZE = 100
STANDARD_FIELDS = [tag.field_name for tag in catalogue.STANDARD_TAGS]


@dataclass(frozen=True)
class PullFailure:
    user_id: str
    error_code: int | None
    reason: str

    def describe(self) -> str:
        code = f"ErrorCode {self.error_code}: " if self.error_code is not None else ""
        return f"{self.user_id}: {code}{self.reason}"


@dataclass
class RemoteProfile:
    """One user's profile as Tencent answered it: known tags (None = not set) and unknown ones."""

    values: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, Any] = field(default_factory=dict)


@dataclass
class RemoteRead:
    profiles: dict[str, RemoteProfile] = field(default_factory=dict)
    failures: dict[str, PullFailure] = field(default_factory=dict)
    calls: int = 0
    audits: list[ImRequest] = field(default_factory=list)


@dataclass
class PullOutcome:
    pulled: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    failures: dict[str, PullFailure] = field(default_factory=dict)
    calls: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def message(self) -> str:
        parts = [f"Refreshed {len(self.pulled)} profile(s) from Tencent in {self.calls} call(s)."]
        if self.failures:
            shown = "; ".join(f.describe() for f in list(self.failures.values())[:5])
            more = f" (and {len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
            parts.append(f"{len(self.failures)} failed: {shown}{more}.")
        return " ".join(parts)


def readable_tags(definitions: Mapping[str, CustomTagDefinition]) -> list[str]:
    """Every standard tag and every custom tag the app admin may read (spec §3: else 40007)."""
    return [tag.wire_name for tag in catalogue.STANDARD_TAGS] + [
        wire_name for wire_name, definition in definitions.items() if definition.admin_read
    ]


def parse_profile_items(
    items: Any, *, requested: Sequence[str], definitions: Mapping[str, CustomTagDefinition]
) -> RemoteProfile:
    """Turn one user's ``ProfileItem`` list into typed values. A requested tag that is missing is
    None ("not set", spec §3); a value of the wrong shape, or a tag nobody defined, is kept as
    unknown rather than dropped."""
    remote = RemoteProfile()
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("Tag"), str):
            continue
        tag, value = item["Tag"], item.get("Value")
        standard = catalogue.STANDARD_BY_WIRE.get(tag)
        if standard is not None:
            if standard.value_type is catalogue.ValueType.UINT32:
                # spec §2: a uint32 may arrive as a number or as a numeric string.
                number = catalogue.coerce_uint32_from_wire(value)
                if number is None:
                    remote.unknown[tag] = value
                else:
                    remote.values[tag] = number
            elif isinstance(value, str):
                remote.values[tag] = value
            else:
                remote.unknown[tag] = value
        elif tag in definitions and isinstance(value, str):
            remote.values[tag] = value
        else:
            remote.unknown[tag] = value
    for tag in requested:
        if tag not in remote.values and tag not in remote.unknown:
            remote.values[tag] = None
    return remote


def remote_read(
    *,
    user_ids: Sequence[str],
    tags: Sequence[str],
    actor: AbstractBaseUser | None,
    source: str,
    definitions: Mapping[str, CustomTagDefinition] | None = None,
    purpose: str = "",
    client: ImClient | None = None,
) -> RemoteRead:
    """``portrait_get`` for ``user_ids`` in batches of 100, each call audited. Per-user failures
    (ResultCode != 0, Fail_Account, a whole call refused) are collected, never raised."""
    if definitions is None:
        definitions = custom_tag_definitions()
    result = RemoteRead()
    for start in range(0, len(user_ids), PULL_BATCH_SIZE):
        batch = list(user_ids[start:start + PULL_BATCH_SIZE])
        result.calls += 1
        try:
            audit, response = im_call(
                command=PORTRAIT_GET, body={"To_Account": batch, "TagList": list(tags)}, actor=actor,
                source=source, user_id=batch[0] if len(batch) == 1 else "",
                subjects=batch if len(batch) > 1 else None, purpose=purpose, client=client,
            )
            result.audits.append(audit)
        except ImError as exc:
            for user_id in batch:
                result.failures[user_id] = PullFailure(user_id, exc.error_code, exc.info.meaning)
            continue
        except TransportError as exc:
            for user_id in batch:
                result.failures[user_id] = PullFailure(user_id, None, f"no answer from Tencent ({exc.reason})")
            continue
        failed_accounts = set(response.body.get("Fail_Account") or [])
        answered: set[str] = set()
        for item in response.body.get("UserProfileItem") or []:
            user_id = item.get("To_Account") if isinstance(item, dict) else None
            if user_id not in batch:
                continue
            answered.add(user_id)
            code = item.get("ResultCode", 0)
            if code != 0 or user_id in failed_accounts:
                code = code if isinstance(code, int) and code != 0 else None
                reason = describe(code).meaning if code is not None else "listed in Fail_Account"
                info = item.get("ResultInfo")
                result.failures[user_id] = PullFailure(user_id, code, f"{reason}{f' ({info})' if info else ''}")
                continue
            result.profiles[user_id] = parse_profile_items(
                item.get("ProfileItem"), requested=tags, definitions=definitions
            )
        for user_id in batch:
            if user_id not in answered and user_id not in result.failures:
                result.failures[user_id] = PullFailure(user_id, None, "missing from Tencent's answer")
    return result


def profile_pull(
    *, user_ids: Iterable[str], actor: AbstractBaseUser | None, source: str, purpose: str = "refresh",
    client: ImClient | None = None,
) -> PullOutcome:
    """Refresh local copies from Tencent: every standard tag and every readable custom tag.

    Creates local copies that do not exist yet. A copy's version is bumped only when a value
    actually changed, so an agent editing it is told only about real changes.
    """
    ids = list(dict.fromkeys(user_ids))
    for user_id in ids:
        catalogue.validate_user_id(user_id)
    definitions = custom_tag_definitions()
    tags = readable_tags(definitions)
    read = remote_read(
        user_ids=ids, tags=tags, actor=actor, source=source, definitions=definitions, purpose=purpose,
        client=client,
    )
    outcome = PullOutcome(failures=read.failures, calls=read.calls)
    if read.profiles:
        outcome.created = store_remote_profiles(read.profiles)
        outcome.pulled = list(read.profiles)
    return outcome


def store_remote_profiles(profiles: Mapping[str, RemoteProfile]) -> list[str]:
    """Write pulled profiles into local copies (bulk, one transaction). Returns the created UserIDs."""
    now = timezone.now()
    existing = {p.user_id: p for p in Profile.objects.filter(user_id__in=list(profiles))}
    to_update: list[Profile] = []
    to_create: list[Profile] = []
    for user_id, remote in profiles.items():
        profile = existing.get(user_id)
        is_new = profile is None
        if profile is None:
            profile = Profile(user_id=user_id)
        changed = any(profile.tag_value(tag) != value for tag, value in remote.values.items())
        changed = changed or (profile.unknown_tags or {}) != remote.unknown
        profile.apply_tag_values(remote.values)
        profile.unknown_tags = remote.unknown
        profile.last_pulled_at = now
        profile.updated_at = now
        if is_new:
            to_create.append(profile)
        else:
            if changed:
                profile.version += 1
            to_update.append(profile)
    with transaction.atomic():
        if to_update:
            Profile.objects.bulk_update(
                to_update,
                [*STANDARD_FIELDS, "custom_values", "unknown_tags", "last_pulled_at", "updated_at", "version"],
                batch_size=PULL_BATCH_SIZE,
            )
        if to_create:
            # ignore_conflicts: another process may have created the same copy meanwhile; its
            # values come from the same Tencent answer moments apart.
            Profile.objects.bulk_create(to_create, ignore_conflicts=True)
    return [profile.user_id for profile in to_create]
