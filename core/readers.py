"""Reading records from CSV, JSON Lines and JSON-array files, and the problems found on the way.

Every importer of Accord (items, annotations, feedback events) reads its files through these
readers, so a bad file is named the same way everywhere: a `RowError` says where (`line 7`,
`index 3`, `manifest.csv line 4`, or `file`), which field, the offending value, and what is
wrong. A `FileRejected` stops reading at once; other problems are collected in `Problems` and
reading goes on, so that one pass names all of them (up to ACCORD_IMPORT_ERROR_LIMIT).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

from django.conf import settings

CSV_FIELD_MAX_CHARS = 16 * 1024 * 1024


# --- problems ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem in an import file: where (`line 7`, `index 3`, `photos/cat.png`,
    `manifest.csv line 4`, or `file`), which field, the offending value, and what is wrong."""

    location: str
    message: str
    field: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = self.location
        if self.field is not None:
            where += f", field {self.field!r}"
        if self.value is not None:
            where += f", value {self.value!r}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "location": self.location,
            "field": self.field,
            "value": self.value,
            "message": self.message,
            "text": str(self),
        }


class FileRejected(Exception):
    """A problem that stops reading the file at once (bad encoding, not JSON, no header...)."""

    def __init__(self, error: RowError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Problems:
    """The first ACCORD_IMPORT_ERROR_LIMIT problems of a file, and how many there are in all."""

    first: list[RowError] = field(default_factory=list)
    count: int = 0

    def add(self, error: RowError) -> None:
        self.count += 1
        if len(self.first) < settings.ACCORD_IMPORT_ERROR_LIMIT:
            self.first.append(error)

    def __bool__(self) -> bool:
        return self.count > 0


def show(value: Any, limit: int = 80) -> str:
    """A value as an error shows it: text as is, anything else as JSON, cut to `limit`."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rejected(location: str, message: str) -> FileRejected:
    return FileRejected(RowError(location=location, message=message))


# --- records -----------------------------------------------------------------------------------


class Record(NamedTuple):
    """One row of the file as read: where it is, and its fields by name."""

    location: str
    fields: dict[str, Any]


# --- text --------------------------------------------------------------------------------------


def _refuse_utf16(head: bytes) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _rejected("file", "The file is UTF-16 text: save it as UTF-8.")


def line_count(upload: IO[bytes]) -> int:
    """Lines in the file, counted on the bytes (fast); leaves the file at its start."""
    upload.seek(0)
    lines = 0
    last = b"\n"
    while chunk := upload.read(1 << 20):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    upload.seek(0)
    return lines + (last != b"\n")


@contextmanager
def _decoding(upload: IO[bytes], prefix: str) -> Iterator[None]:
    """Turn a decoding error into a FileRejected naming the line of the first bad byte."""
    try:
        yield
    except UnicodeDecodeError:
        upload.seek(0)
        for number, raw_line in enumerate(upload, start=1):
            try:
                raw_line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise _rejected(f"{prefix}{number}", _not_utf8(raw_line, error.start)) from None
        raise _rejected("file", "not UTF-8 text: save it as UTF-8.") from None


def _not_utf8(line: bytes, start: int) -> str:
    """The message for a byte that is not UTF-8, at offset `start` in `line`."""
    bad = line[start : start + 1].hex()
    return f"not UTF-8 text (byte 0x{bad} at column {start + 1}): save the file as UTF-8."


# CSV


def csv_records(
    upload: IO[bytes],
    *,
    problems: Problems,
    required: tuple[str, ...],
    known: Collection[str] = (),
    prefix: str = "line ",
) -> Iterator[Record]:
    """The data rows of a CSV file with a header row (comma, semicolon or tab separated).
    Locations count records as a spreadsheet shows them, the header being line 1. The header
    must name at least one of the `required` columns; headers that match a `known` (lower-case)
    name ignoring case and surrounding spaces are read as that name."""
    _refuse_utf16(upload.read(4))
    upload.seek(0)
    stream = io.TextIOWrapper(upload, encoding="utf-8-sig", newline="")  # type: ignore[type-var]
    csv.field_size_limit(CSV_FIELD_MAX_CHARS)
    try:
        with _decoding(upload, prefix):
            first_line = stream.readline()
            stream.seek(0)
            delimiter = max((",", ";", "\t"), key=first_line.count)
            reader = csv.reader(stream, delimiter=delimiter, strict=True)
            line = 0
            try:
                header = next(reader, None)
                line = 1
                columns = _csv_columns(header, prefix=prefix, required=required, known=known)
                width = len(columns)
                for line, cells in enumerate(reader, start=2):  # `line` is read on csv.Error
                    if not any(cells):
                        continue  # a blank line, or a row of empty cells
                    if len(cells) > width:
                        problems.add(
                            RowError(
                                location=f"{prefix}{line}",
                                message=f"{len(cells)} values, but the header names {width} "
                                "columns.",
                                value=show(cells[width:]),
                            )
                        )
                        continue
                    # A short row left out its trailing empty cells.
                    yield Record(f"{prefix}{line}", dict(zip(columns, cells, strict=False)))
            except csv.Error as error:
                raise _rejected(f"{prefix}{line + 1}", f"not valid CSV: {error}.") from None
    finally:
        stream.detach()


def _csv_columns(
    header: list[str] | None, *, prefix: str, required: tuple[str, ...], known: Collection[str]
) -> list[str]:
    location = f"{prefix}1"
    if not header or not any(header):
        raise _rejected(location, "the header row is missing.")
    columns: list[str] = []
    for number, raw in enumerate(header, start=1):
        name = raw.strip()
        if not name:
            raise _rejected(location, f"column {number} has no name.")
        if name.lower() in known:
            name = name.lower()
        if name in columns:
            raise FileRejected(
                RowError(location=location, message="two columns have this name.", field=name)
            )
        columns.append(name)
    if not set(required) & set(columns):
        raise _rejected(
            location,
            f"the header has no {' or '.join(required)} column (it has: {', '.join(columns)}).",
        )
    return columns


# JSON Lines and JSON arrays


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _json_loads(text: str) -> Any:
    # NaN and Infinity are Python's extensions, and PostgreSQL's jsonb refuses them.
    return json.loads(text, parse_constant=_no_constants)


def jsonl_records(
    upload: IO[bytes], *, problems: Problems, prefix: str = "line "
) -> Iterator[Record]:
    """One JSON object per line; blank lines are skipped."""
    for number, raw_line in enumerate(upload, start=1):
        if number == 1:
            _refuse_utf16(raw_line)
            raw_line = raw_line.removeprefix(codecs.BOM_UTF8)
        if raw_line.isspace() or not raw_line:
            continue
        location = f"{prefix}{number}"
        try:
            value = _json_loads(raw_line.decode("utf-8").strip())
        except UnicodeDecodeError as error:
            problems.add(RowError(location=location, message=_not_utf8(raw_line, error.start)))
            continue
        except json.JSONDecodeError as error:
            message = f"not valid JSON: {error.msg} (column {error.colno})."
            problems.add(RowError(location=location, message=message))
            continue
        except ValueError as error:
            problems.add(RowError(location=location, message=f"not valid JSON: {error}."))
            continue
        if not isinstance(value, dict):
            problems.add(_not_an_object(location, value))
            continue
        yield Record(location, value)


def _not_an_object(location: str, value: Any) -> RowError:
    return RowError(
        location=location,
        message=f"expected a JSON object, found {_json_type(value)}.",
        value=show(value),
    )


def json_array(upload: IO[bytes]) -> list[Any]:
    """The whole array, in memory: an array is only known valid once read to its end.
    (JSON Lines suits very large files.)"""
    data = upload.read()
    _refuse_utf16(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line = data.count(b"\n", 0, line_start) + 1
        raise _rejected(
            f"line {line}", _not_utf8(data[line_start:], error.start - line_start)
        ) from None
    del data
    try:
        value = _json_loads(text)
    except json.JSONDecodeError as error:
        raise _rejected(
            f"line {error.lineno} column {error.colno}", f"not valid JSON: {error.msg}."
        ) from None
    except ValueError as error:
        raise _rejected("file", f"not valid JSON: {error}.") from None
    if not isinstance(value, list):
        raise _rejected("file", f"expected a JSON array of objects, found {_json_type(value)}.")
    return value


def json_records(array: list[Any], *, problems: Problems) -> Iterator[Record]:
    for index, value in enumerate(array):
        location = f"index {index}"
        if not isinstance(value, dict):
            problems.add(_not_an_object(location, value))
            continue
        array[index] = None  # the record holds the object now; the array need not
        yield Record(location, value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string",
             list: "an array", dict: "an object"}  # fmt: skip
    return names.get(type(value), type(value).__name__)
