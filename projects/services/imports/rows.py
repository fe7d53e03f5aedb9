"""Reading an import file into validated rows: the problems found, the record readers for CSV,
JSON Lines and JSON arrays (ZIPs are in `zips.py`), and the validator that turns a record into a
row for the items table."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # what json uses for str, in C when it can
from typing import IO, Any, NamedTuple

from django.conf import settings

from labeling.errors import InvalidValue
from labeling.values import annotation_value_clean
from projects.models import Item, LabelKind, Project
from projects.services.images import ImageInfo

KEY_MAX_LENGTH = Item._meta.get_field("key").max_length or 255
CSV_FIELD_MAX_CHARS = 16 * 1024 * 1024
# Names with a meaning in a row; matched ignoring case and spaces in CSV headers.
RESERVED_FIELDS = ("text", "key", "gold", "priority", "file", "image")


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


# --- records and rows --------------------------------------------------------------------------


class Record(NamedTuple):
    """One row of the file as read: where it is, and its fields by name."""

    location: str
    fields: dict[str, Any]


class Row(NamedTuple):
    """A validated row, ready to become an Item. `data` and `gold` are JSON text (encoded once
    here: the database takes them as text, and the spool stores strings fastest)."""

    key: str
    text: str
    data: str
    content_hash: str
    priority: float
    shuffle_key: int
    gold: str | None
    image_sha256: str | None


def shuffle_key_for(key: str) -> int:
    """A stable pseudo-random order from the key: 31 bits of its SHA-256 (fits a signed
    32-bit integer column)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFF_FFFF


# Compact, and non-ASCII kept as is; control characters (NUL among them) are still escaped.
json_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def data_json(data: dict[str, Any]) -> str:
    """`json_text(data)`, twice as fast for the common case of text values (every CSV row)."""
    try:
        return (
            "{"
            + ",".join([f"{encode_basestring(k)}:{encode_basestring(v)}" for k, v in data.items()])
            + "}"
        )
    except (TypeError, AttributeError):  # a value that is not a string
        return json_text(data)


class RowValidator:
    """Turns records into rows, checking each field against the project and keys across the
    whole file. Problems go to `problems`; a record with any problem gives no row.

    `row` runs once per row of files of millions: the common cases (a text, a key, no gold,
    no priority) are checked inline, and the rarer ones in methods.
    """

    def __init__(self, *, project: Project, problems: Problems) -> None:
        self.project = project
        self.problems = problems
        self.label_values = set(project.labels.values_list("value", flat=True))
        self.seen_keys: dict[str, str] = {}  # key -> location of its first row

    def row(self, record: Record, *, image: ImageInfo | None = None) -> Row | None:
        """The record's row, or None after adding its problems. `image` is the validated image
        of a ZIP record, whose text is then optional."""
        fields = record.fields
        before = self.problems.count
        text = fields.pop("text", None)
        if text is None or text == "":
            if image is None:
                self._problem(record, "missing: every item needs a text.", "text")
            text = ""
        elif not isinstance(text, str):
            self._problem(record, "must be a string.", "text", text)
        elif image is None and text.isspace():
            self._problem(record, "is blank: every item needs a text.", "text", text)
        elif "\x00" in text:
            self._problem(record, "contains a NUL character.", "text", text)
        key = fields.pop("key", None)
        if type(key) is str:
            key = key.strip()
            if len(key) > KEY_MAX_LENGTH or "\x00" in key:
                self._key_problem(record, key)
        else:
            key = self._key(record, key)
        priority = fields.pop("priority", None)
        priority = 0.0 if priority is None or priority == "" else self._priority(record, priority)
        gold = fields.pop("gold", None)
        gold = None if gold is None or gold == "" else self._gold(record, gold)
        data = data_json(fields)
        if "\\u0000" in data:
            self._nul_in_data(record)
        if self.problems.count > before:
            return None

        content_hash = image.sha256 if image else hashlib.sha256(text.encode()).hexdigest()
        derived = not key
        if derived:
            key = f"sha256:{content_hash[:16]}"
        first = self.seen_keys.get(key)
        if first is not None:
            if derived:
                what = "image" if image else "text"
                message = (
                    f"the same {what} as {first} (without a key, the key is derived from the "
                    f"{what}); give each row a `key` to import both, or remove one."
                )
            else:
                message = f"is used twice in the file (first at {first})."
            self._problem(record, message, "key", key)
            return None
        self.seen_keys[key] = record.location
        return Row(
            key,
            text,
            data,
            content_hash,
            priority,
            shuffle_key_for(key),
            None if gold is None else json_text(gold),
            image.sha256 if image else None,
        )

    def _problem(self, record: Record, message: str, field: str | None, value: Any = None) -> None:
        shown = None if value is None else show(value)
        self.problems.add(
            RowError(location=record.location, message=message, field=field, value=shown)
        )

    def _key(self, record: Record, raw: Any) -> str:
        """A key given as something other than text: a whole number becomes its text; None
        gives '' (the key is then derived); anything else is a problem."""
        if raw is None:
            return ""
        if isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)
        self._problem(record, "must be a string.", "key", raw)
        return ""

    def _key_problem(self, record: Record, key: str) -> None:
        if len(key) > KEY_MAX_LENGTH:
            message = f"is {len(key)} characters long; the limit is {KEY_MAX_LENGTH}."
            self._problem(record, message, "key", key)
        else:
            self._problem(record, "contains a NUL character.", "key", key)

    def _priority(self, record: Record, raw: Any) -> float:
        value = math.nan
        if isinstance(raw, str | int | float) and not isinstance(raw, bool):
            with suppress(ValueError):
                value = float(raw)
        if not math.isfinite(value):
            self._problem(record, "must be a number.", "priority", raw)
            return 0.0
        return value

    def _gold(self, record: Record, raw: Any) -> Any:
        """The gold answer in the canonical form annotations use, checked like one: a label
        value; a sorted list of label values (`a|b` in text); a whole number on the scale."""
        kind = self.project.label_kind
        value = raw
        if isinstance(raw, str):
            if kind == LabelKind.MULTI:
                value = [part.strip() for part in raw.split("|") if part.strip()]
            elif kind == LabelKind.RATING:
                try:
                    value = float(raw)
                except ValueError:
                    message = (
                        f"must be a whole number from {self.project.rating_min} to "
                        f"{self.project.rating_max}."
                    )
                    self._problem(record, message, "gold", raw)
                    return None
            else:
                value = raw.strip()
        try:
            return annotation_value_clean(
                project=self.project, value=value, label_values=self.label_values
            )
        except InvalidValue as error:
            self._problem(record, error.message, "gold", raw)
            return None

    def _nul_in_data(self, record: Record) -> None:
        """PostgreSQL refuses NUL characters in text and JSON: name the field that has one."""
        for name, value in record.fields.items():
            if "\\u0000" in json_text(value):
                self._problem(record, "contains a NUL character.", name, value)


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
    upload: IO[bytes], *, problems: Problems, required: tuple[str, ...], prefix: str = "line "
) -> Iterator[Record]:
    """The data rows of a CSV file with a header row (comma, semicolon or tab separated).
    Locations count records as a spreadsheet shows them, the header being line 1. The header
    must name at least one of the `required` columns."""
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
                columns = _csv_columns(header, prefix=prefix, required=required)
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


def _csv_columns(header: list[str] | None, *, prefix: str, required: tuple[str, ...]) -> list[str]:
    location = f"{prefix}1"
    if not header or not any(header):
        raise _rejected(location, "the header row is missing.")
    columns: list[str] = []
    for number, raw in enumerate(header, start=1):
        name = raw.strip()
        if not name:
            raise _rejected(location, f"column {number} has no name.")
        if name.lower() in RESERVED_FIELDS:
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
