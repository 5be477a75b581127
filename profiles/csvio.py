"""The CSV format for bulk profile edits: checking an upload, streaming its good rows into a job,
and exporting local copies in the same format (so an export can be edited and imported again).

Format (UTF-8, with or without a BOM; comma-separated; CRLF or LF):

- The header row names a ``UserID`` column (also ``user_id``, any case) and one column per tag: a
  standard wire name (``Tag_Profile_IM_Nick``), its short name (``nick``), or a custom tag
  ``Tag_Profile_Custom_<keyword>`` that is defined here with "App admin may write" (docs/tencent-im.md §3).
- Each following row is one user. An empty cell means "leave this tag alone": it is not sent. So a
  CSV file cannot set a tag to the empty string; use the profile form for that.
- uint32 cells are whole numbers (docs/tencent-im.md §2); every value is checked with the catalogue's rules
  before anything is sent. Rows whose cells are all empty are skipped (spreadsheets leave them).

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

from .im import tags as catalogue
from .models import CustomTagDefinition, Profile
from .services.jobs import JobRow
from .services.validation import TagValidationError, custom_tag_definitions, validate_tag_values

USER_ID_HEADER = "UserID"
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


def _decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    """Decode the file line by line, so an encoding error names its line.

    io.TextIOWrapper would decode whole 8 KB chunks, and its error could not say which line is
    bad. Splitting the bytes on b"\\n" is safe for UTF-8: no multi-byte sequence contains 0x0A.
    """
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvFormatError([
                f"The file is not UTF-8: line {number} has the byte 0x{raw[exc.start]:02x} at position "
                f"{exc.start + 1}, which UTF-8 does not allow. Save the file as \"CSV UTF-8\" and upload it again."
            ]) from None
        if number == 1:
            text = text.removeprefix(BOM)
        yield text


def _resolve_header(
    header: list[str], definitions: Mapping[str, CustomTagDefinition]
) -> tuple[int, list[str | None]]:
    """Return the UserID column's index and each column's wire name (None for UserID)."""
    problems: list[str] = []
    user_id_index: int | None = None
    columns: list[str | None] = []
    seen: dict[str, int] = {}
    for index, raw_name in enumerate(header, start=1):
        name = raw_name.strip()
        # As messages quote it: a 100 KB header cell makes no 100 KB message, a line break no second line.
        label = name if len(name) <= 40 and name.isprintable() else catalogue.shown(name)
        if name.lower() in ("userid", "user_id"):
            if user_id_index is not None:
                problems.append(f"Column {index} is a second UserID column.")
            user_id_index = index - 1
            columns.append(None)
            continue
        if not name:
            problems.append(f"Column {index} has no name in the header row.")
            columns.append(None)
            continue
        try:
            wire_name = catalogue.resolve_tag_name(name)
        except ValueError:
            problems.append(
                f"Column {index} ({catalogue.shown(name)}) is not a tag: use a standard tag's wire name "
                "(Tag_Profile_IM_Nick) or short name (nick), or a custom tag defined here."
            )
            columns.append(None)
            continue
        if catalogue.is_custom_tag_name(wire_name):
            definition = definitions.get(wire_name)
            if definition is None:
                problems.append(
                    f"Column {index} ({label}) is a custom tag that is not defined here "
                    "(Tencent would answer 40009); define it under Custom tag definitions first."
                )
            elif not definition.admin_write:
                problems.append(
                    f"Column {index} ({label}): the app admin has no write permission on this custom tag "
                    "(Tencent would answer 40008)."
                )
        if wire_name in seen:
            problems.append(f"Column {index} ({label}) repeats column {seen[wire_name]} ({wire_name}).")
        seen.setdefault(wire_name, index)
        columns.append(wire_name)
    if user_id_index is None:
        found = ", ".join(catalogue.shown(name) for name in header[:20]) or "nothing"
        problems.insert(0, f"The header row has no UserID column (found {found}).")
    elif not seen and not problems:
        problems.append("The header row names no tag column: there is nothing to set.")
    if problems:
        raise CsvFormatError(problems)
    assert user_id_index is not None
    return user_id_index, columns


def _scan(
    stream: IO[bytes], definitions: Mapping[str, CustomTagDefinition] | None
) -> tuple[list[str], Iterator[_Row]]:
    """Read the header (raising CsvFormatError) and return the columns and an iterator of checked rows."""
    _header, columns, rows = _scan_file(stream, definitions)
    return columns, rows


def _scan_file(
    stream: IO[bytes], definitions: Mapping[str, CustomTagDefinition] | None
) -> tuple[list[str], list[str], Iterator[_Row]]:
    """Read the header (raising CsvFormatError): the header row as written, the tag columns, and an
    iterator of checked rows."""
    if definitions is None:
        definitions = custom_tag_definitions()
    reader = csv.reader(_decoded_lines(stream), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except csv.Error as exc:
        raise CsvFormatError([f"Line {reader.line_num}: the header row is not valid CSV ({exc})."]) from None
    if header is None:
        raise CsvFormatError(["The file is empty: the first line must be a header row starting with UserID."])
    user_id_index, columns = _resolve_header(header, definitions)
    tag_columns = [(index, wire_name) for index, wire_name in enumerate(columns) if wire_name is not None]
    return header, [name for _i, name in tag_columns], _rows(reader, header, user_id_index, tag_columns, definitions)


def _rows(
    reader: Any, header: list[str], user_id_index: int, tag_columns: list[tuple[int, str]],
    definitions: Mapping[str, CustomTagDefinition],
) -> Iterator[_Row]:
    first_line_of: dict[str, int] = {}
    while True:
        line = reader.line_num + 1  # a quoted cell may span lines: report where the row starts
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFormatError([f"Line {line} is not valid CSV ({exc}); nothing after it could be read."]) from None
        if not any(cell.strip() for cell in cells):
            continue
        user_id = unguard_cell(cells[user_id_index]) if user_id_index < len(cells) else ""
        original = tuple(cells)
        if len(cells) != len(header):
            yield _Row(line, user_id, None, f"The row has {len(cells)} cells; the header has {len(header)}.", original)
            continue
        try:
            catalogue.validate_user_id(user_id)  # docs/tencent-im.md §5
        except ValueError as exc:
            yield _Row(line, user_id, None, str(exc), original)
            continue
        first = first_line_of.setdefault(user_id, line)
        if first != line:
            yield _Row(line, user_id, None, f"Duplicate of line {first}: each UserID may appear only once.", original)
            continue
        row = _check_values(line, user_id, cells, tag_columns, definitions)
        yield row if row.values is not None else dataclasses.replace(row, cells=original)


def _check_values(
    line: int, user_id: str, cells: list[str], tag_columns: list[tuple[int, str]],
    definitions: Mapping[str, CustomTagDefinition],
) -> _Row:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for index, wire_name in tag_columns:
        text = cells[index]
        if text == "":
            continue  # empty cell: leave this tag alone
        text = unguard_cell(text)
        try:
            values[wire_name] = catalogue.parse_text_value(wire_name, text)
        except catalogue.TagValueError as exc:
            errors[wire_name] = f"{exc.message} (Tencent would answer {exc.error_code})."
    if not values and not errors:
        return _Row(line, user_id, None, "Nothing to set: every tag cell is empty.")
    try:
        cleaned = validate_tag_values(values, definitions=definitions)
    except TagValidationError as exc:
        errors.update(exc.errors)
        cleaned = {}
    if errors:
        return _Row(line, user_id, None, "; ".join(f"{tag}: {message}" for tag, message in errors.items()))
    return _Row(line, user_id, cleaned)


def csv_check(
    stream: IO[bytes], *, definitions: Mapping[str, CustomTagDefinition] | None = None,
    max_bad_rows: int = MAX_BAD_ROWS_SHOWN,
) -> CsvCheck:
    """Check every row of a binary CSV stream; count good and bad rows, keep the first bad ones."""
    result = CsvCheck()
    try:
        result.columns, rows = _scan(stream, definitions)
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
    stream: IO[bytes], *, definitions: Mapping[str, CustomTagDefinition] | None = None
) -> Iterator[JobRow]:
    """Yield a JobRow for each good row, by the same rules as csv_check; raise CsvFormatError for a
    file that cannot be used at all. Meant for ``job_create(rows=...)`` after the user confirmed."""
    _columns, rows = _scan(stream, definitions)
    for row in rows:
        if row.values is not None:
            yield JobRow(user_id=row.user_id, values=row.values, line=row.line)


def csv_job_rows(
    stream: IO[bytes], *, definitions: Mapping[str, CustomTagDefinition] | None = None
) -> Iterator[JobRow]:
    """Every row of the file for ``job_create``, in file order: a JobRow to send for each good row, and
    one marked ``rejected`` with the check's reason for each bad row (never sent, but listed in the
    job's results). Raises CsvFormatError for a file that cannot be used at all."""
    _columns, rows = _scan(stream, definitions)
    for row in rows:
        if row.values is not None:
            yield JobRow(user_id=row.user_id, values=row.values, line=row.line)
        else:
            yield JobRow(user_id=row.user_id, values={}, line=row.line, rejected=row.reason)


# --- writing ----------------------------------------------------------------------------------------


def csv_bad_rows_lines(
    stream: IO[bytes], *, definitions: Mapping[str, CustomTagDefinition] | None = None
) -> Iterator[str]:
    """The rows the check refuses, as CSV lines (header first): line number, reason, then the row's
    own cells under the file's header, so a person can fix them and import them again. Streams; raises
    CsvFormatError for a file that cannot be used at all."""
    header, _columns, rows = _scan_file(stream, definitions)
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(["line", "reason", *(guard_cell(unguard_cell(name)) for name in header)])
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
