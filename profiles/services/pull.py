"""Reading profiles from Tencent (``v4/profile/portrait_get``, docs/tencent-im.md §5) into the local
copies. ``im_pull --all`` runs the same pull as a background job (services/pulljobs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext, gettext_noop

from .. import labels
from ..errortext import read_failure_text
from ..im import tags as catalogue
from ..im.client import PORTRAIT_GET, ImClient, ImError, ImResponse, TransportError
from ..im.portrait import ReadFailure, RemoteProfile, parse_portrait_answer
from ..models import CustomTagDefinition, Profile
from .gateway import JobCall, im_call
from .localcopy import CopyUpdate, by_user_id, local_copies_store
from .threads import map_in_threads
from .validation import custom_tag_definitions

# docs/tencent-im.md §5: To_Account holds at most 100 accounts per call.
PULL_BATCH_SIZE = 100
# portrait_get calls one pull keeps in flight. Tencent allows 200 calls/s (docs/tencent-im.md §1); a
# few at once keep this process busy storing answers while the next ones travel.
PULL_CONCURRENCY = 4

# The name callers know a pull's per-user failure by.
PullFailure = ReadFailure

# A user's failure as job items record it (English; profiles.errortext translates it when shown).
NO_ANSWER = gettext_noop("no answer from Tencent (%(reason)s)")
INVALID_USER_ID = gettext_noop("invalid UserID, not sent: %(why)s")
CHANGED_MEANWHILE = gettext_noop(
    "the local copy changed (or was deleted) while Tencent was being read, so it was left as it is; refresh it again"
)
RECORDED_REASONS = (NO_ANSWER, INVALID_USER_ID, CHANGED_MEANWHILE)


@dataclass
class RemoteRead:
    profiles: dict[str, RemoteProfile] = field(default_factory=dict)
    failures: dict[str, ReadFailure] = field(default_factory=dict)
    calls: int = 0


@dataclass
class PullOutcome:
    pulled: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    failures: dict[str, ReadFailure] = field(default_factory=dict)
    calls: int = 0
    # Per UserID, the tags whose local value the pull changed ({"tag", "before", "after"} dicts).
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def message(self) -> str:
        if len(self.pulled) == 1 and not self.failures:
            # One profile (the Refresh button, opening a user): say what changed, in plain words.
            user_id = self.pulled[0]
            found = self.changes.get(user_id)
            if not found:
                return gettext("Refreshed %(user_id)s from Tencent; nothing had changed there.") % {"user_id": user_id}
            return gettext("Refreshed %(user_id)s from Tencent; changed there since the last read: %(changes)s.") % {
                "user_id": user_id, "changes": "; ".join(str(text) for text in labels.describe_changes(found)),
            }
        parts = [gettext("Refreshed %(count)s profile(s) from Tencent in %(calls)s call(s).") % {
            "count": len(self.pulled), "calls": self.calls,
        }]
        if self.failures:
            shown = "; ".join(read_failure_text(f) for f in list(self.failures.values())[:5])
            more = (" " + gettext("(and %(count)s more)") % {"count": len(self.failures) - 5}
                    if len(self.failures) > 5 else "")
            parts.append(gettext("%(count)s failed: %(shown)s%(more)s.") % {
                "count": len(self.failures), "shown": shown, "more": more,
            })
        return " ".join(parts)


def readable_tags(definitions: Mapping[str, CustomTagDefinition]) -> list[str]:
    """Every standard tag and every custom tag the app admin may read (docs/tencent-im.md §3: else 40007)."""
    return [tag.wire_name for tag in catalogue.STANDARD_TAGS] + [
        wire_name for wire_name, definition in definitions.items() if definition.admin_read
    ]


def remote_read(
    *,
    user_ids: Sequence[str],
    tags: Sequence[str],
    actor: AbstractBaseUser | None,
    source: str,
    definitions: Mapping[str, CustomTagDefinition] | None = None,
    purpose: str = "",
    conclude: Callable[[RemoteRead], str] | None = None,
    client: ImClient | None = None,
    job: JobCall | None = None,
) -> RemoteRead:
    """``portrait_get`` for ``user_ids`` in batches of 100, each call audited. Per-user failures
    (ResultCode != 0, Fail_Account, a whole call refused) are collected, never raised.

    Up to PULL_CONCURRENCY calls are in flight at once (each still takes its place in the shared
    rate limit). ``conclude`` sees each batch's read as its answer arrives and gives that audit
    row its note. ``job``: the background job the reads are made for (rate-limited as such).
    """
    if definitions is None:
        definitions = custom_tag_definitions()
    batches = [list(user_ids[start:start + PULL_BATCH_SIZE]) for start in range(0, len(user_ids), PULL_BATCH_SIZE)]

    def read_batch(batch: list[str]) -> RemoteRead:
        read = RemoteRead(calls=1)

        def take_answer(response: ImResponse) -> str:
            answer = parse_portrait_answer(response.body, asked=batch, requested=tags, custom_tags=definitions)
            read.profiles.update(answer.profiles)
            read.failures.update(answer.failures)
            return conclude(read) if conclude is not None else ""

        try:
            im_call(
                command=PORTRAIT_GET, body={"To_Account": batch, "TagList": list(tags)}, actor=actor,
                source=source, user_id=batch[0] if len(batch) == 1 else "",
                subjects=batch if len(batch) > 1 else None, client=client, conclude=take_answer,
                **(job.call_options() if job else {"purpose": purpose}),
            )
        except ImError as exc:
            for user_id in batch:
                read.failures[user_id] = ReadFailure(user_id, exc.error_code, exc.info.meaning)
        except TransportError as exc:
            for user_id in batch:
                read.failures[user_id] = ReadFailure(user_id, None, NO_ANSWER % {"reason": exc.reason})
        return read

    result = RemoteRead()
    # Merged in batch order, whatever order the answers came in.
    for read in map_in_threads(read_batch, batches, PULL_CONCURRENCY):
        result.profiles.update(read.profiles)
        result.failures.update(read.failures)
        result.calls += read.calls
    return result


def profile_pull(
    *, user_ids: Iterable[str], actor: AbstractBaseUser | None, source: str, purpose: str = "refresh",
    client: ImClient | None = None, job: JobCall | None = None,
) -> PullOutcome:
    """Refresh local copies from Tencent: every standard tag and every readable custom tag.

    Creates local copies that do not exist yet. A copy's version is bumped only when a value
    actually changed, so an agent editing it is told only about real changes; a copy that changed
    locally while Tencent was being read is left alone (and reported). An invalid UserID fails on
    its own, unsent, instead of stopping the pull of the others.
    """
    ids: list[str] = []
    invalid: dict[str, ReadFailure] = {}
    for user_id in dict.fromkeys(user_ids):
        try:
            ids.append(catalogue.validate_user_id(user_id))
        except ValueError as exc:
            invalid[user_id] = ReadFailure(user_id, None, INVALID_USER_ID % {"why": exc})
    definitions = custom_tag_definitions()
    # Read before asking Tencent: a copy written after this (a push, a webhook, another pull) may
    # hold something newer than Tencent's answer, and the store leaves it alone.
    versions = _local_versions(ids)
    read = remote_read(
        user_ids=ids, tags=readable_tags(definitions), actor=actor, source=source, definitions=definitions,
        purpose=purpose, client=client, job=job,
    )
    outcome = PullOutcome(failures={**invalid, **read.failures}, calls=read.calls)
    if read.profiles:
        stored = local_copies_store(
            [
                CopyUpdate(user_id, remote.values, remote.unknown, expected_version=versions.get(user_id))
                for user_id, remote in read.profiles.items()
            ],
            touched="last_pulled_at",
        )
        skipped = set(stored.skipped)
        outcome.created = stored.created
        outcome.changes = stored.changes
        outcome.pulled = [user_id for user_id in read.profiles if user_id not in skipped]
        for user_id in stored.skipped:
            outcome.failures[user_id] = ReadFailure(user_id, None, CHANGED_MEANWHILE)
    return outcome


def _local_versions(user_ids: Sequence[str]) -> dict[str, int]:
    return dict(by_user_id(Profile.objects.values_list("user_id", "version"), user_ids))
