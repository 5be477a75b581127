"""The one writer of the local copies of Tencent profiles: a push, a pull, a webhook and a revert all
store tag values through ``local_copies_store``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from ..im import tags as catalogue
from ..models import Profile
from .audit import AUTOCOMMIT_DB

# Local copies read per query: under the 999 query parameters of SQLite before 3.32.
READ_CHUNK = 500
# Every column a store may write (besides the timestamps): the catalogue's standard tags and the two
# JSON columns. ``version`` is bumped only when one of them changed.
TAG_FIELDS = [tag.field_name for tag in catalogue.STANDARD_TAGS] + ["custom_values", "unknown_tags"]


@dataclass(frozen=True)
class CopyUpdate:
    """What to store into one user's local copy."""

    user_id: str
    # Tag wire name → value (None: not set). Tags not named keep what the copy holds.
    values: Mapping[str, Any]
    # Tags reported in a shape the catalogue does not know (a pull's or a webhook's): kept and
    # shown, never dropped. A tag that now arrives well-formed is no longer unknown.
    unknown: Mapping[str, Any] = field(default_factory=dict)
    # Store only if the copy still has this version (it was read before Tencent was asked).
    expected_version: int | None = None
    # The copy as the caller read it (a push has it in hand): stored with one conditional UPDATE
    # when it is still at the version read, instead of being read again under a lock.
    read: Profile | None = None


@dataclass
class StoreResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # a value changed: written, version bumped
    unchanged: list[str] = field(default_factory=list)  # only the timestamps written
    skipped: list[str] = field(default_factory=list)  # changed (or gone) since it was read: left alone
    # The copies as stored, by UserID (a copy created here may have no primary key on some databases).
    copies: dict[str, Profile] = field(default_factory=dict)
    # Per updated copy, the tags whose value changed: {"tag", "before", "after"} dicts, as audit rows keep them.
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def local_copies_store(
    updates: Sequence[CopyUpdate], *, create_missing: bool = True, touched: str | None = None
) -> StoreResult:
    """Store tag values into local copies, in one transaction, and bump the version of each copy in
    which a value actually changed (so an agent editing it is told only about real changes).

    The copies are locked while they are written, and the write holds only if none changed since
    they were compared (otherwise they are compared again under the lock), so two writers (a pull
    and a push of the same user) never interleave. The store runs on the service layer's own
    connection, never inside a caller's transaction: a copy records what Tencent holds, which a
    rollback of the caller's work does not undo. ``create_missing`` creates copies that do not exist
    yet; ``touched`` names the timestamp to set on every copy stored (``last_pulled_at`` or
    ``last_pushed_at``).
    """
    result = StoreResult()
    if not updates:
        return result
    now = timezone.now()
    stamps = {"updated_at": now, **({touched: now} if touched else {})}
    if len(updates) == 1 and (stored := _store_read_copy(updates[0], stamps)) is not None:
        return stored
    user_ids = list(dict.fromkeys(update.user_id for update in updates))
    # Compared before the write begins, so that other writers wait only for the write itself: under
    # the lock, the copies' versions are read again, and if any moved (or a copy came or went) the
    # copies are read and compared again there.
    current = _copies(user_ids)
    versions = {user_id: (copy.pk, copy.version) for user_id, copy in current.items()}
    rows, result = _plan(updates, current, stamps, create_missing=create_missing)
    with transaction.atomic(using=AUTOCOMMIT_DB):
        if _locked_versions(user_ids) != versions:
            rows, result = _plan(updates, _copies(user_ids, locked=True), stamps, create_missing=create_missing)
        # One statement for new, changed and unchanged copies alike (each row carries its values).
        Profile.objects.using(AUTOCOMMIT_DB).bulk_create(
            rows, update_conflicts=True, unique_fields=["user_id"],
            update_fields=[*TAG_FIELDS, "version", *stamps],
        )
    return result


def _plan(
    updates: Sequence[CopyUpdate], current: dict[str, Profile], stamps: dict[str, Any], *, create_missing: bool
) -> tuple[list[Profile], StoreResult]:
    """The rows to write for ``updates`` into the copies ``current``, and what storing them does."""
    result = StoreResult()
    rows: list[Profile] = []
    for update in updates:
        copy = current.get(update.user_id)
        if copy is None:
            if not create_missing or update.expected_version is not None:
                result.skipped.append(update.user_id)
                continue
            copy = Profile(user_id=update.user_id, version=0)
            _apply(copy, update)
            result.created.append(update.user_id)
        elif update.expected_version is not None and copy.version != update.expected_version:
            result.skipped.append(update.user_id)
            continue
        elif _apply_and_compare(copy, update, result):
            copy.version += 1
        for name, value in stamps.items():
            setattr(copy, name, value)
        rows.append(copy)
        result.copies[update.user_id] = copy
    return rows, result


def _store_read_copy(update: CopyUpdate, stamps: dict[str, Any]) -> StoreResult | None:
    """Store ``update`` into the copy its caller read, in one UPDATE that holds only if no other
    writer changed the copy since (its version is still the one read); None, with nothing written,
    when it cannot be used (no copy read, a version to expect, or a change meanwhile)."""
    read = update.read
    if read is None or read.pk is None or update.expected_version is not None:
        return None
    copy = Profile(**{f.attname: getattr(read, f.attname) for f in Profile._meta.concrete_fields})
    copy.custom_values = dict(read.custom_values or {})
    copy.unknown_tags = dict(read.unknown_tags or {})
    result = StoreResult()
    changed = _apply_and_compare(copy, update, result)
    columns: dict[str, Any] = {name: getattr(copy, name) for name in TAG_FIELDS} if changed else {}
    if changed:
        columns["version"] = F("version") + 1
    if not Profile.objects.using(AUTOCOMMIT_DB).filter(pk=read.pk, version=read.version).update(
        **columns, **stamps
    ):
        return None
    if changed:
        copy.version += 1
    for name, value in stamps.items():
        setattr(copy, name, value)
    result.copies[update.user_id] = copy
    return result


def _apply_and_compare(copy: Profile, update: CopyUpdate, result: StoreResult) -> bool:
    """Apply ``update`` to an existing ``copy`` and note in ``result`` whether a value changed
    (with the changes) or not; True when one did (the version is then to be bumped)."""
    before = [getattr(copy, name) for name in TAG_FIELDS]
    values_before = {tag: copy.tag_value(tag) for tag in update.values}
    _apply(copy, update)
    if [getattr(copy, name) for name in TAG_FIELDS] == before:
        result.unchanged.append(update.user_id)
        return False
    result.updated.append(update.user_id)
    result.changes[update.user_id] = [
        {"tag": tag, "before": old, "after": copy.tag_value(tag)}
        for tag, old in values_before.items() if copy.tag_value(tag) != old
    ]
    return True


def by_user_id(rows: QuerySet, user_ids: Sequence[str]) -> Iterator[Any]:
    """The rows of ``rows`` for ``user_ids``, read READ_CHUNK UserIDs per query."""
    for start in range(0, len(user_ids), READ_CHUNK):
        yield from rows.filter(user_id__in=user_ids[start:start + READ_CHUNK])


def _copies(user_ids: Sequence[str], *, locked: bool = False) -> dict[str, Profile]:
    profiles = Profile.objects.using(AUTOCOMMIT_DB)
    return {copy.user_id: copy for copy in by_user_id(profiles.select_for_update() if locked else profiles, user_ids)}


def _locked_versions(user_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each copy's primary key and version, the copies locked (a copy deleted and made again has a
    new key)."""
    locked = Profile.objects.using(AUTOCOMMIT_DB).select_for_update().values_list("user_id", "pk", "version")
    return {user_id: (pk, version) for user_id, pk, version in by_user_id(locked, user_ids)}


def _apply(copy: Profile, update: CopyUpdate) -> None:
    copy.apply_tag_values(dict(update.values))
    unknown = {tag: value for tag, value in (copy.unknown_tags or {}).items() if tag not in update.values}
    unknown.update(update.unknown)
    copy.unknown_tags = unknown
