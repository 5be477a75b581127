"""The CSV format for bulk profile edits: checking an upload, streaming its good rows into a job,
and exporting local copies in the same format (so an export can be edited and imported again).

Format (UTF-8, with or without a BOM; comma-separated; CRLF or LF):

- The header row names a ``UserID`` column (also ``user_id``, ``User ID`` or its translation) and
  one column per tag: a standard tag by its wire name (``Tag_Profile_IM_Nick``), short name
  (``nick``) or label in any language the app offers (``Nickname``, ``昵称``); a custom tag defined
  here with "App admin may write" (docs/tencent-im.md §3) by its wire name
  (``Tag_Profile_Custom_Mood``), keyword (``Mood``) or label. Names match ignoring case and
  surrounding spaces; a name that fits two tags is refused, naming both.
- Each following row is one user. An empty cell means "leave this tag alone": it is not sent. So a
  CSV file cannot set a tag to the empty string; use the profile form for that.
- uint32 cells are whole numbers (docs/tencent-im.md §2); enum cells are Tencent's value
  (``Gender_Type_Female``) or its label in any offered language (``Female``, ``女``). Every value is
  checked with the catalogue's rules before anything is sent. The export writes wire names, so files
  round-trip. Rows whose cells are all empty are skipped (spreadsheets leave them).

Everything here streams: a file is read one line at a time, never whole, so a file of 100,000
rows is checked in bounded memory. Only the set of UserIDs seen (for duplicates) grows with it.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from django.db.models import QuerySet
from django.utils.translation import gettext, gettext_noop

from . import labels
from .errortext import recorded_text
from .im import tags as catalogue
from .models import CustomTagDefinition, Profile
from .services.jobs import JobRow
from .services.validation import TagValidationError, custom_tag_definitions, validate_tag_values

USER_ID_HEADER = "UserID"
# Besides these, the label "User ID" in each language the app offers names the UserID column.
USER_ID_NAMES = ("UserID", "user_id")
USER_ID_LABEL = gettext_noop("User ID")
MAX_BAD_ROWS_SHOWN = 1000
EXPORT_CHUNK_SIZE = 2000
BOM = "\ufeff"


class CsvFormatError(ValueError):
    """The file as a whole cannot be used (empty, not UTF-8, a bad header); ``problems`` lists why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(" ".join(problems))


@dataclass(frozen=True)
class BadRow:
    line: int
    user_id: str
    reason: str


@dataclass
class CsvCheck:
    """What a check of a file found: the counts, the first bad rows, and any fatal problem."""

    columns: list[str] = field(default_factory=list)
    # The same columns in plain words, for people ("Nickname").
    column_labels: list[str] = field(default_factory=list)
    good: int = 0
    bad: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    # Fatal problems (header, encoding): when there are any, no row of the file may be used.
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_rows_hidden(self) -> int:
        return self.bad - len(self.bad_rows)


@dataclass(frozen=True)
class _Row:
    line: int
    user_id: str
    values: dict[str, Any] | None
    reason: str = ""
    # The row's cells as the file has them (for the download of the bad rows).
    cells: tuple[str, ...] = ()


def binary_lines(stream: IO[bytes], chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """The lines of a binary file split on b"\\n" only, each with its b"\\n", read a chunk at a time.

    For a file opened through a storage (profiles/services/storages.py): iterating a Django ``File``
    splits on a lone b"\\r" too, which would move the line numbers the check reports."""
    pending = b""
    while chunk := stream.read(chunk_size):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def _decoded_lines(stream: Iterable[bytes]) -> Iterator[str]:
    """Decode the file line by line, so an encoding error names its line.

    io.TextIOWrapper would decode whole 8 KB chunks, and its error could not say which line is
    bad. Splitting the bytes on b"\\n" is safe for UTF-8: no multi-byte sequence contains 0x0A.
    """
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvFormatError([gettext(
                "The file is not UTF-8: line %(line)s has the byte 0x%(byte)s at position %(position)s, which "
                "UTF-8 does not allow. Save the file as “CSV UTF-8” and upload it again."
            ) % {"line": number, "byte": f"{raw[exc.start]:02x}", "position": exc.start + 1}]) from None
        if number == 1:
            text = text.removeprefix(BOM)
        yield text


def _user_id_names() -> set[str]:
    return {catalogue.normalize_name(name) for name in (*USER_ID_NAMES, *labels.in_each_language(USER_ID_LABEL))}


def _accepted_names(vocabulary: labels.TagVocabulary, definitions: Mapping[str, CustomTagDefinition]) -> str:
    """Every column name the file may use, grouped by tag, for the error that says what is accepted."""
    writable = [tag.wire_name for tag in catalogue.STANDARD_TAGS]
    writable += sorted(name for name, definition in definitions.items() if definition.admin_write)
    tags = "; ".join(" / ".join(vocabulary.accepted.get(name, [name])) for name in writable)
    return gettext(
        "Accepted column names (case and surrounding spaces do not matter): %(user_id)s; %(tags)s."
    ) % {"user_id": " / ".join((USER_ID_HEADER, *labels.in_each_language(USER_ID_LABEL))), "tags": tags}


def _resolve_header(
    header: list[str], definitions: Mapping[str, CustomTagDefinition], vocabulary: labels.TagVocabulary,
) -> tuple[int, list[str | None]]:
    """Return the UserID column's index and each column's wire name (None for UserID)."""
    problems: list[str] = []
    unknown = False
    user_id_index: int | None = None
    columns: list[str | None] = []
    seen: dict[str, int] = {}
    user_id_names = _user_id_names()
    custom = {name: definition.label or definition.keyword for name, definition in definitions.items()}
    for index, raw_name in enumerate(header, start=1):
        name = raw_name.strip()
        # As messages quote it: a 100 KB header cell makes no 100 KB message, a line break no second line.
        label = name if len(name) <= 40 and name.isprintable() else catalogue.shown(name)
        column = {"index": index, "name": label, "quoted": catalogue.shown(name)}
        if catalogue.normalize_name(name) in user_id_names:
            if user_id_index is not None:
                problems.append(gettext("Column %(index)s is a second UserID column.") % column)
            user_id_index = index - 1
            columns.append(None)
            continue
        if not name:
            problems.append(gettext("Column %(index)s has no name in the header row.") % column)
            columns.append(None)
            continue
        try:
            wire_name = vocabulary.resolve(name)
        except catalogue.TagNameError as exc:
            if exc.candidates:
                problems.append(gettext(
                    "Column %(index)s (%(quoted)s) could mean %(choices)s; write the wire name to say which."
                ) % {**column, "choices": gettext(" or ").join(
                    f"{labels.tag_label(wire, custom)} ({wire})" for wire in exc.candidates
                )})
            else:
                unknown = True
                problems.append(gettext("Column %(index)s (%(quoted)s) is not a tag this app knows.") % column)
            columns.append(None)
            continue
        if catalogue.is_custom_tag_name(wire_name):
            definition = definitions.get(wire_name)
            if definition is None:
                problems.append(gettext(
                    "Column %(index)s (%(name)s) is a custom tag that is not defined here (Tencent would answer "
                    "40009); define it under Custom tag definitions first."
                ) % column)
            elif not definition.admin_write:
                problems.append(gettext(
                    "Column %(index)s (%(name)s): the app admin has no write permission on this custom tag "
                    "(Tencent would answer 40008)."
                ) % column)
        if wire_name in seen:
            problems.append(gettext("Column %(index)s (%(name)s) repeats column %(first)s (%(label)s).") % {
                **column, "first": seen[wire_name], "label": labels.tag_label(wire_name, custom),
            })
        seen.setdefault(wire_name, index)
        columns.append(wire_name)
    if user_id_index is None:
        found = ", ".join(catalogue.shown(name) for name in header[:20]) or gettext("nothing")
        problems.insert(0, gettext("The header row has no UserID column (found %(found)s).") % {"found": found})
    elif not seen and not problems:
        problems.append(gettext("The header row names no tag column: there is nothing to set."))
    if unknown and user_id_index is not None:
        # Without a UserID column the first line is hardly a header (a file of NULs, a wrong file):
        # the list would only bury the problem.
        problems.append(_accepted_names(vocabulary, definitions))
    if problems:
        raise CsvFormatError(problems)
    assert user_id_index is not None
    return user_id_index, columns


@dataclass(frozen=True)
class _Header:
    """The header row as written, its tag columns (index, wire name), and their labels."""

    row: list[str]
    tag_columns: list[tuple[int, str]]
    labels: list[str]

    @property
    def columns(self) -> list[str]:
        return [wire_name for _index, wire_name in self.tag_columns]


def _scan(
    stream: Iterable[bytes], definitions: Mapping[str, CustomTagDefinition] | None
) -> tuple[_Header, Iterator[_Row]]:
    """Read the header (raising CsvFormatError) and return it with an iterator of checked rows."""
    if definitions is None:
        definitions = custom_tag_definitions()
    vocabulary = labels.tag_vocabulary(definitions.values())
    reader = csv.reader(_decoded_lines(stream), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except csv.Error as exc:
        raise CsvFormatError([
            gettext("Line %(line)s: the header row is not valid CSV (%(error)s).") % {
                "line": reader.line_num, "error": exc}
        ]) from None
    if header is None:
        raise CsvFormatError([
            gettext("The file is empty: the first line must be a header row starting with UserID.")
        ])
    user_id_index, columns = _resolve_header(header, definitions, vocabulary)
    tag_columns = [(index, wire_name) for index, wire_name in enumerate(columns) if wire_name is not None]
    custom = {name: definition.label or definition.keyword for name, definition in definitions.items()}
    described = _Header(header, tag_columns, [labels.tag_label(wire_name, custom) for _i, wire_name in tag_columns])
    return described, _rows(reader, header, user_id_index, tag_columns, definitions, vocabulary)


def _rows(
    reader: Any, header: list[str], user_id_index: int, tag_columns: list[tuple[int, str]],
    definitions: Mapping[str, CustomTagDefinition], vocabulary: labels.TagVocabulary,
) -> Iterator[_Row]:
    first_line_of: dict[str, int] = {}
    while True:
        line = reader.line_num + 1  # a quoted cell may span lines: report where the row starts
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFormatError([
                gettext("Line %(line)s is not valid CSV (%(error)s); nothing after it could be read.")
                % {"line": line, "error": exc}
            ]) from None
        if not any(cell.strip() for cell in cells):
            continue
        user_id = unguard_cell(cells[user_id_index]) if user_id_index < len(cells) else ""
        original = tuple(cells)
        if len(cells) != len(header):
            yield _Row(line, user_id, None, gettext("The row has %(cells)s cells; the header has %(header)s.") % {
                "cells": len(cells), "header": len(header),
            }, original)
            continue
        try:
            catalogue.validate_user_id(user_id)  # docs/tencent-im.md §5
        except ValueError as exc:
            yield _Row(line, user_id, None, recorded_text(str(exc)), original)
            continue
        first = first_line_of.setdefault(user_id, line)
        if first != line:
            yield _Row(line, user_id, None, gettext(
                "Duplicate of line %(first)s: each UserID may appear only once."
            ) % {"first": first}, original)
            continue
        row = _check_values(line, user_id, cells, tag_columns, definitions, vocabulary)
        yield row if row.values is not None else dataclasses.replace(row, cells=original)


def _check_values(
    line: int, user_id: str, cells: list[str], tag_columns: list[tuple[int, str]],
    definitions: Mapping[str, CustomTagDefinition], vocabulary: labels.TagVocabulary,
) -> _Row:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for index, wire_name in tag_columns:
        text = cells[index]
        if text == "":
            continue  # empty cell: leave this tag alone
        text = unguard_cell(text)
        try:
            values[wire_name] = vocabulary.parse(wire_name, text)
        except catalogue.TagValueError as exc:
            errors[wire_name] = gettext("%(refusal)s (Tencent would answer %(code)s).") % {
                "refusal": labels.refusal_text(exc), "code": exc.error_code,
            }
    if not values and not errors:
        return _Row(line, user_id, None, gettext("Nothing to set: every tag cell is empty."))
    try:
        cleaned = validate_tag_values(values, definitions=definitions)
    except TagValidationError as exc:
        errors.update(exc.errors)
        cleaned = {}
    if errors:
        # Each message names its tag by label already ("Gender: 'Robot' is not one of …").
        return _Row(line, user_id, None, " ".join(errors.values()))
    return _Row(line, user_id, cleaned)


def csv_check(
    stream: Iterable[bytes], *, definitions: Mapping[str, CustomTagDefinition] | None = None,
    max_bad_rows: int = MAX_BAD_ROWS_SHOWN,
) -> CsvCheck:
    """Check every row of a binary CSV stream; count good and bad rows, keep the first bad ones."""
    result = CsvCheck()
    try:
        header, rows = _scan(stream, definitions)
        result.columns = header.columns
        result.column_labels = header.labels
        for row in rows:
            if row.values is not None:
                result.good += 1
                continue
            result.bad += 1
            if len(result.bad_rows) < max_bad_rows:
                # Cut: a bad row's UserID cell may be anything up to the csv module's 128 KB field.
                result.bad_rows.append(BadRow(row.line, row.user_id[:64], row.reason))
    except CsvFormatError as exc:
        result.problems = exc.problems
    return result


def csv_good_rows(
    stream: Iterable[bytes], *, definitions: Mapping[str, CustomTagDefinition] | None = None
) -> Iterator[JobRow]:
    """Yield a JobRow for each good row, by the same rules as csv_check; raise CsvFormatError for a
    file that cannot be used at all. Meant for ``job_create(rows=...)`` after the user confirmed."""
    _header, rows = _scan(stream, definitions)
    for row in rows:
        if row.values is not None:
            yield JobRow(user_id=row.user_id, values=row.values, line=row.line)


def csv_job_rows(
    stream: Iterable[bytes], *, definitions: Mapping[str, CustomTagDefinition] | None = None
) -> Iterator[JobRow]:
    """Every row of the file for ``job_create``, in file order: a JobRow to send for each good row, and
    one marked ``rejected`` with the check's reason for each bad row (never sent, but listed in the
    job's results). Raises CsvFormatError for a file that cannot be used at all."""
    _header, rows = _scan(stream, definitions)
    for row in rows:
        if row.values is not None:
            yield JobRow(user_id=row.user_id, values=row.values, line=row.line)
        else:
            yield JobRow(user_id=row.user_id, values={}, line=row.line, rejected=row.reason)


# --- writing ----------------------------------------------------------------------------------------


def csv_bad_rows_lines(
    stream: Iterable[bytes], *, definitions: Mapping[str, CustomTagDefinition] | None = None
) -> Iterator[str]:
    """The rows the check refuses, as CSV lines (header first): line number, reason, then the row's
    own cells under the file's header, so a person can fix them and import them again. Streams; raises
    CsvFormatError for a file that cannot be used at all."""
    header, rows = _scan(stream, definitions)
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(["line", "reason", *(guard_cell(unguard_cell(name)) for name in header.row)])
    for row in rows:
        if row.values is None:
            cells = [guard_cell(unguard_cell(cell)) for cell in row.cells]
            yield writer.writerow([row.line, guard_cell(row.reason), *cells])


# --- export ----------------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def export_columns(definitions: Iterable[CustomTagDefinition] | None = None) -> list[str]:
    """UserID, the 12 standard tags, then the custom tags the app admin may write (the others
    could not be imported again, docs/tencent-im.md §3)."""
    if definitions is None:
        definitions = custom_tag_definitions().values()
    custom = sorted(d.wire_name for d in definitions if d.admin_write)
    return [USER_ID_HEADER, *(tag.wire_name for tag in catalogue.STANDARD_TAGS), *custom]


# A cell starting with one of these runs as a formula when the file is opened in a spreadsheet (CSV
# injection, OWASP): a nickname and even a UserID are user-chosen text. Export prefixes one apostrophe,
# which spreadsheets hide, to any text cell matching _GUARDED (apostrophes already leading such a cell
# included), and the import removes exactly one from a cell matching _UNGUARD. Exported cells that
# match _UNGUARD are exactly the guarded ones, so export then import gives back every value, one
# that really begins with apostrophes too.
_FORMULA_STARTS = "=+\\-@\t\r"
_GUARDED = re.compile(f"'*[{_FORMULA_STARTS}]")
_UNGUARD = re.compile(f"'+[{_FORMULA_STARTS}]")
_FORMULA_GUARD = "'"


def guard_cell(value: Any) -> str:
    """A value as CSV cell text, guarded against formula injection (every CSV this app writes uses it).

    Only text is guarded: a number such as -1 is a number to a spreadsheet, never a formula."""
    text = "" if value is None else str(value)
    if isinstance(value, str) and _GUARDED.match(text):
        return _FORMULA_GUARD + text
    return text


def unguard_cell(text: str) -> str:
    """Undo ``guard_cell``: one apostrophe off a cell of apostrophes followed by a formula start."""
    return text[1:] if _UNGUARD.match(text) else text


def csv_export_lines(
    queryset: QuerySet[Profile], *, definitions: Iterable[CustomTagDefinition] | None = None, bom: bool = True
) -> Iterator[str]:
    """The local copies in the import format, one CSV line at a time (header first).

    A BOM leads by default so spreadsheet programs read the file as UTF-8; the import accepts it.
    Unset tags are empty cells, which the import reads as "leave alone".
    """
    columns = export_columns(definitions)
    writer = csv.writer(_Echo())
    header = writer.writerow(columns)
    yield (BOM + header) if bom else header
    tags = columns[1:]
    for profile in queryset.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        yield writer.writerow([guard_cell(profile.user_id), *(guard_cell(profile.tag_value(tag)) for tag in tags)])


__all__ = [
    "BadRow",
    "CsvCheck",
    "CsvFormatError",
    "MAX_BAD_ROWS_SHOWN",
    "csv_check",
    "csv_export_lines",
    "csv_bad_rows_lines",
    "csv_good_rows",
    "csv_job_rows",
    "export_columns",
    "guard_cell",
    "unguard_cell",
]
