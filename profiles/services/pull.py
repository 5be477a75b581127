"""Reading profiles from Tencent (``v4/profile/portrait_get``, spec §5) into the local copies."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connections, models, router, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from ..im import tags as catalogue
from ..im.client import PORTRAIT_GET, ImClient, ImError, ImResponse, TransportError
from ..im.errors import describe
from ..models import CustomTagDefinition, ImRequest, Profile
from .audit import AUTOCOMMIT_DB
from .concurrency import ThreadPool, map_in_processes
from .gateway import im_call
from .validation import custom_tag_definitions
from .writeturn import write_turn

# spec §5: To_Account holds at most 100 accounts per call.
PULL_BATCH_SIZE = 100
# portrait_get calls one pull keeps in flight. Tencent allows 200 calls/s (spec §1); a few at once
# are enough to keep parsing and sealing answers busy while the next ones travel.
PULL_CONCURRENCY = 4
# Worker processes of a pull in rounds (im_pull --all): one process parses and stores about 50 calls'
# answers a second, a quarter of Tencent's ceiling (spec §1), so a few share the rounds; more than
# the CPUs this process may run on (a container's or taskset's share, where the OS tells it) would
# only wait for one another.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
PULL_PROCESSES = max(1, min(4, _CPUS))
STANDARD_FIELDS = [tag.field_name for tag in catalogue.STANDARD_TAGS]
STANDARD_WIRES = [tag.wire_name for tag in catalogue.STANDARD_TAGS]  # in the order of STANDARD_FIELDS
# Local copies read per query: under the 999 query parameters of SQLite before 3.32.
LOCAL_READ_CHUNK = 500


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


def pull_pool() -> ThreadPool:
    """Threads for the portrait_get calls of a pull in rounds, kept (with their database
    connections) across the rounds: ``with pull_pool() as pool: profile_pull(..., pool=pool)``."""
    return ThreadPool(PULL_CONCURRENCY)


def pull_rounds(
    rounds: Iterable[Sequence[str]], *, actor: AbstractBaseUser | None, source: str, purpose: str = "refresh",
    processes: int = 1,
) -> Iterator[PullOutcome]:
    """``profile_pull`` for each round of UserIDs (``im_pull --all`` reads rounds of 1,000 local
    copies), yielding each round's outcome as it ends.

    With one process the rounds follow one another here, with one pool of threads for them all.
    With more, where this process may fork (``can_fork``), they are spread over that many worker
    processes, each with a pool of its own; every call still takes its place in the one rate limit
    of all processes. A round whose worker process failed comes back with each of its users
    failed, and the reason.
    """

    def work(batches: Iterator[list[str]]) -> Iterator[PullOutcome]:
        with pull_pool() as pool:
            for batch in batches:
                yield profile_pull(user_ids=batch, actor=actor, source=source, purpose=purpose, pool=pool)

    def lost(batch: list[str], reason: str) -> PullOutcome:
        return PullOutcome(failures={
            user_id: PullFailure(user_id, None, f"not refreshed: {reason}") for user_id in dict.fromkeys(batch)
        })

    return map_in_processes(work, (list(batch) for batch in rounds), processes, lost=lost)


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
    values, unknown = remote.values, remote.unknown
    standard_by_wire = catalogue.STANDARD_BY_WIRE
    uint32 = catalogue.ValueType.UINT32
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("Tag"), str):
            continue
        tag, value = item["Tag"], item.get("Value")
        standard = standard_by_wire.get(tag)
        if standard is not None and standard.value_type is uint32:
            # spec §2: a uint32 may arrive as a number or as a numeric string.
            number = catalogue.coerce_uint32_from_wire(value)
            if number is None:
                unknown[tag] = value
            else:
                values[tag] = number
        elif (standard is not None or tag in definitions) and isinstance(value, str):
            values[tag] = value
        else:
            unknown[tag] = value
    for tag in requested:
        if tag not in values and tag not in unknown:
            values[tag] = None
    return remote


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
    pool: ThreadPool | None = None,
) -> RemoteRead:
    """``portrait_get`` for ``user_ids`` in batches of 100, each call audited. Per-user failures
    (ResultCode != 0, Fail_Account, a whole call refused) are collected, never raised.

    Up to PULL_CONCURRENCY calls are in flight at once (each still takes its place in the shared
    rate limit), so one batch's answer is parsed and sealed while the next ones are on the wire.
    ``conclude`` sees each batch's read as its answer arrives and gives that audit row its note.
    ``pool`` (threads kept from one call to the next, with their connections) serves a caller that
    reads in rounds; without it the calls get threads of their own.
    """
    if definitions is None:
        definitions = custom_tag_definitions()
    batches = [list(user_ids[start:start + PULL_BATCH_SIZE]) for start in range(0, len(user_ids), PULL_BATCH_SIZE)]

    def read_batch(batch: list[str]) -> RemoteRead:
        read = RemoteRead(calls=1)

        def take_answer(response: ImResponse) -> str:
            _take_answer(read, response, batch, tags, definitions)
            return conclude(read) if conclude is not None else ""

        try:
            audit, _response = im_call(
                command=PORTRAIT_GET, body={"To_Account": batch, "TagList": list(tags)}, actor=actor,
                source=source, user_id=batch[0] if len(batch) == 1 else "",
                subjects=batch if len(batch) > 1 else None, purpose=purpose, client=client,
                conclude=take_answer,
            )
            read.audits.append(audit)
        except ImError as exc:
            for user_id in batch:
                read.failures[user_id] = PullFailure(user_id, exc.error_code, exc.info.meaning)
        except TransportError as exc:
            for user_id in batch:
                read.failures[user_id] = PullFailure(user_id, None, f"no answer from Tencent ({exc.reason})")
        return read

    result = RemoteRead()
    with nullcontext(pool) if pool is not None else pull_pool() as workers:
        reads = workers.map(read_batch, batches)
    # Merged in batch order, whatever order the answers came in.
    for read in reads:
        result.profiles.update(read.profiles)
        result.failures.update(read.failures)
        result.audits.extend(read.audits)
        result.calls += read.calls
    return result


def _take_answer(
    result: RemoteRead, response: ImResponse, batch: list[str], tags: Sequence[str],
    definitions: Mapping[str, CustomTagDefinition],
) -> None:
    """Record one portrait_get answer's profiles and per-user failures into ``result``."""
    failed_accounts = {a for a in response.body.get("Fail_Account") or [] if isinstance(a, str)}
    asked = set(batch)
    answered: set[str] = set()
    for item in response.body.get("UserProfileItem") or []:
        user_id = item.get("To_Account") if isinstance(item, dict) else None
        # An answer for a user nobody asked about (or not a string at all) is ignored.
        if not isinstance(user_id, str) or user_id not in asked:
            continue
        answered.add(user_id)
        code = item.get("ResultCode", 0)
        if code != 0 or user_id in failed_accounts:
            code = code if isinstance(code, int) and code != 0 else None
            reason = describe(code).meaning if code is not None else "listed in Fail_Account"
            info = item.get("ResultInfo")
            result.failures[user_id] = PullFailure(user_id, code, f"{reason}{f' ({info})' if info else ''}")
            continue
        result.profiles[user_id] = parse_profile_items(item.get("ProfileItem"), requested=tags, definitions=definitions)
    for user_id in batch:
        if user_id not in answered and user_id not in result.failures:
            result.failures[user_id] = PullFailure(user_id, None, "missing from Tencent's answer")


def profile_pull(
    *, user_ids: Iterable[str], actor: AbstractBaseUser | None, source: str, purpose: str = "refresh",
    client: ImClient | None = None, pool: ThreadPool | None = None,
) -> PullOutcome:
    """Refresh local copies from Tencent: every standard tag and every readable custom tag.

    Creates local copies that do not exist yet. A copy's version is bumped only when a value
    actually changed, so an agent editing it is told only about real changes. An invalid UserID
    fails on its own, unsent, instead of stopping the pull of the others. A caller pulling in
    rounds passes one ``pool`` (``pull_pool()``) for all of them.
    """
    ids: list[str] = []
    invalid: dict[str, PullFailure] = {}
    for user_id in dict.fromkeys(user_ids):
        try:
            ids.append(catalogue.validate_user_id(user_id))
        except ValueError as exc:
            invalid[user_id] = PullFailure(user_id, None, f"invalid UserID, not sent: {exc}")
    definitions = custom_tag_definitions()
    tags = readable_tags(definitions)
    # Read before asking Tencent: a copy written after this (a push, a webhook, another pull) may
    # hold something newer than Tencent's answer, and the conditional write leaves it alone.
    local = local_copies(ids)
    read = remote_read(
        user_ids=ids, tags=tags, actor=actor, source=source, definitions=definitions, purpose=purpose,
        client=client, pool=pool,
    )
    outcome = PullOutcome(failures={**invalid, **read.failures}, calls=read.calls)
    if read.profiles:
        stored = store_remote_profiles(read.profiles, local=local)
        skipped = set(stored.skipped)
        outcome.created = stored.created
        outcome.pulled = [user_id for user_id in read.profiles if user_id not in skipped]
        for user_id in stored.skipped:
            outcome.failures[user_id] = PullFailure(
                user_id, None, "the local copy changed (or was deleted) while Tencent was being read, "
                "so it was left as it is; refresh it again",
            )
    return outcome


class LocalCopy(NamedTuple):
    """What a local copy held when a pull began."""

    pk: int
    version: int
    standard: tuple[Any, ...]  # the values of STANDARD_FIELDS, in that order
    custom_values: dict[str, Any]
    unknown_tags: dict[str, Any]


def local_copies(user_ids: Sequence[str]) -> dict[str, LocalCopy]:
    """The existing local copies of ``user_ids``, by UserID."""
    # Outside any caller's transaction, like custom_tag_definitions: on SQLite a read there would
    # pin a snapshot that the audit rows' commits make stale, and the write would fail.
    connection = connections[AUTOCOMMIT_DB]
    quote = connection.ops.quote_name
    meta = Profile._meta
    # Plain SQL: the standard columns are text and integers that need no conversion, and the two
    # JSON columns are decoded here once, without the ORM's per-value converters (this reads up to
    # 1,000 rows per round of a pull).
    columns = ", ".join(
        quote(meta.get_field(name).column)
        for name in ["id", "user_id", "version", *STANDARD_FIELDS, "custom_values", "unknown_tags"]
    )
    custom_at = 3 + len(STANDARD_FIELDS)
    copies: dict[str, LocalCopy] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(user_ids), LOCAL_READ_CHUNK):
            chunk = list(user_ids[start:start + LOCAL_READ_CHUNK])
            cursor.execute(
                f"SELECT {columns} FROM {quote(meta.db_table)} "  # noqa: S608 (names from the model)
                f"WHERE {quote(meta.get_field('user_id').column)} IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
            for row in cursor.fetchall():
                copies[row[1]] = LocalCopy(
                    row[0], row[2], row[3:custom_at], _json_column(row[custom_at]), _json_column(row[custom_at + 1])
                )
    return copies


# The decoder json.loads uses, without its checks for surrounding whitespace: a JSON column holds what
# json.dumps wrote.
_decode_json = json.JSONDecoder().raw_decode


def _json_column(value: Any) -> dict[str, Any]:
    # Text on SQLite (and from drivers that leave JSON undecoded); already decoded elsewhere. Most
    # copies have no unknown tags: "{}" needs no decoder.
    if isinstance(value, str):
        value = _decode_json(value)[0] if value != "{}" else {}
    elif isinstance(value, bytes):
        value = json.loads(value)
    return value or {}


@dataclass
class StoreResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # a value changed: written, version bumped
    unchanged: list[str] = field(default_factory=list)  # only last_pulled_at written
    skipped: list[str] = field(default_factory=list)  # changed locally since it was read: left alone


def store_remote_profiles(
    profiles: Mapping[str, RemoteProfile], *, local: Mapping[str, LocalCopy] | None = None
) -> StoreResult:
    """Write pulled profiles into the local copies, in one transaction.

    ``local`` is what the copies held before Tencent was asked (read now if not given). A copy is
    written only if its version is still the one read, and its version is bumped only when a
    value changed. Unknown tags the answer does not mention are kept: they were reported earlier
    (by a webhook) for a tag this app does not define, which a pull cannot read again.
    """
    if local is None:
        local = local_copies(list(profiles))
    now = timezone.now()
    result = StoreResult()
    new_rows: list[tuple[str, _Row]] = []
    changed_rows: list[tuple[str, LocalCopy, _Row]] = []
    unchanged_pks: list[int] = []
    no_standard = (None,) * len(STANDARD_WIRES)
    standard_by_wire = catalogue.STANDARD_BY_WIRE
    for user_id, remote in profiles.items():
        copy = local.get(user_id)
        values = remote.values
        before = copy.standard if copy else no_standard
        # A standard tag the answer has no (well-formed) value for keeps what the copy held.
        standard = tuple([values.get(wire, old) for wire, old in zip(STANDARD_WIRES, before, strict=True)])
        custom_before = copy.custom_values if copy else {}
        custom = dict(custom_before)
        for tag, value in values.items():
            if tag in standard_by_wire:
                continue
            if value is None:  # spec §3: a custom tag with no value is simply absent
                custom.pop(tag, None)
            else:
                custom[tag] = value
        unknown_before = copy.unknown_tags if copy else {}
        unknown = {
            tag: value for tag, value in unknown_before.items() if tag not in values and tag not in remote.unknown
        }
        unknown.update(remote.unknown)
        row = _Row(standard, custom, unknown)
        if copy is None:
            new_rows.append((user_id, row))
        elif standard != before or custom != custom_before or unknown != unknown_before:
            changed_rows.append((user_id, copy, row))
        else:
            result.unchanged.append(user_id)
            unchanged_pks.append(copy.pk)
    db = router.db_for_write(Profile)
    with write_turn(db), transaction.atomic(using=db):
        # Writes only: on SQLite the transaction takes its write lock with its first statement.
        if changed_rows:
            _update_if_unchanged_locally(db, changed_rows, now, result)
        for start in range(0, len(unchanged_pks), LOCAL_READ_CHUNK):
            Profile.objects.using(db).filter(pk__in=unchanged_pks[start:start + LOCAL_READ_CHUNK]).update(
                last_pulled_at=now, updated_at=now
            )
        if new_rows:
            _insert_new(db, new_rows, now)
            # Like bulk_create(ignore_conflicts=True): a copy created meanwhile by another process
            # (from the same Tencent data, moments apart) is kept, and still counted here.
            result.created = [user_id for user_id, _row in new_rows]
    return result


# SQL rather than bulk_update/bulk_create: bulk_update builds a CASE WHEN per field over every row
# in Python (10,000 copies took 45 s on SQLite) and cannot make a row's write conditional on its
# version; bulk_create spends most of its time in the query compiler. Values still go through each
# field's get_db_prep_save and the statements through Django's connection and its operations, so
# every backend Django supports works.


class _Row(NamedTuple):
    """A local copy's values as a pull writes them."""

    standard: tuple[Any, ...]  # in the order of STANDARD_FIELDS
    custom_values: dict[str, Any]
    unknown_tags: dict[str, Any]


class _Parameters:
    """Statement parameters for pulled rows: the standard values, the two JSON columns, then the
    values every row shares (timestamps, defaults), prepared once."""

    def __init__(self, connection: Any, shared: Mapping[str, Any]) -> None:
        self.connection = connection
        meta = Profile._meta
        self.standard_fields = [meta.get_field(name) for name in STANDARD_FIELDS]
        self.json_fields = [meta.get_field("custom_values"), meta.get_field("unknown_tags")]
        self.shared_fields = [meta.get_field(name) for name in shared]
        self.fields = [*self.standard_fields, *self.json_fields, *self.shared_fields]
        self.shared = [f.get_db_prep_save(shared[f.name], connection) for f in self.shared_fields]
        # The standard tags are text and integers (their values parsed or read as str and int),
        # which every driver takes as they are: no per-value conversion for a dozen values a row.
        self.standard_native = all(isinstance(f, models.CharField | models.IntegerField) for f in self.standard_fields)
        # On SQLite a JSON column is text that Django writes with json.dumps; calling it directly
        # skips the field machinery (two JSON columns on every pulled row).
        self.as_json = connection.vendor == "sqlite" and all(f.encoder is None for f in self.json_fields)

    def of(self, row: _Row) -> list[Any]:
        if self.standard_native:
            params = list(row.standard)
        else:
            params = [
                f.get_db_prep_save(v, self.connection) for f, v in zip(self.standard_fields, row.standard, strict=True)
            ]
        for model_field, value in zip(self.json_fields, (row.custom_values, row.unknown_tags), strict=True):
            if self.as_json:
                params.append(json.dumps(value) if value else "{}")
            else:
                params.append(model_field.get_db_prep_save(value, self.connection))
        params.extend(self.shared)
        return params


def _update_if_unchanged_locally(
    db: str, rows: Sequence[tuple[str, LocalCopy, _Row]], now: Any, result: StoreResult
) -> None:
    connection = connections[db]
    quote = connection.ops.quote_name
    parameters = _Parameters(connection, {"last_pulled_at": now, "updated_at": now})
    version = quote(Profile._meta.get_field("version").column)
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in parameters.fields)
    # Only quoted names from the model's metadata are interpolated; every value is a parameter.
    sql = (
        f"UPDATE {quote(Profile._meta.db_table)} SET {assignments}, {version} = {version} + 1 "  # noqa: S608
        f"WHERE {quote(Profile._meta.pk.column)} = %s AND {version} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[*parameters.of(row), copy.pk, copy.version] for _user_id, copy, row in rows])
        written_total = cursor.rowcount
    if written_total == len(rows):  # the usual case: every copy was still as read
        result.updated.extend(user_id for user_id, _copy, _row in rows)
        return
    # executemany gives no count per row (nor, on every driver, a total): the rows written are the
    # ones that now carry this pull's timestamp. The others changed (or went) since they were read.
    pks = [copy.pk for _user_id, copy, _row in rows]
    written: set[int] = set()
    for start in range(0, len(pks), LOCAL_READ_CHUNK):
        written.update(
            Profile.objects.using(db).filter(pk__in=pks[start:start + LOCAL_READ_CHUNK], last_pulled_at=now)
            .values_list("pk", flat=True)
        )
    for user_id, copy, _row in rows:
        (result.updated if copy.pk in written else result.skipped).append(user_id)


def _insert_new(db: str, rows: Sequence[tuple[str, _Row]], now: Any) -> None:
    connection = connections[db]
    quote = connection.ops.quote_name
    per_row = {*STANDARD_FIELDS, "user_id", "custom_values", "unknown_tags"}
    shared = {"created_at": now, "updated_at": now, "last_pulled_at": now, "version": 0}
    # Any other column (last_pushed_at, or one added later) gets its default.
    shared.update({
        f.name: f.get_default() for f in Profile._meta.concrete_fields
        if not f.primary_key and f.name not in per_row and f.name not in shared
    })
    parameters = _Parameters(connection, shared)
    fields = [Profile._meta.get_field("user_id"), *parameters.fields]
    on_conflict = OnConflict.IGNORE
    sql = (
        f"{connection.ops.insert_statement(on_conflict=on_conflict)} {quote(Profile._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))}) "
        f"{connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None)}"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[user_id, *parameters.of(row)] for user_id, row in rows])
