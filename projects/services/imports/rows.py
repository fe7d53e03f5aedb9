"""Turning records of an import file into validated rows for the items table (the readers
are `core.readers`; ZIPs are in `zips.py`)."""

from __future__ import annotations

import hashlib
import json
import math
from contextlib import suppress
from json.encoder import encode_basestring  # what json uses for str, in C when it can
from typing import Any, NamedTuple

from core.readers import Problems, Record, RowError, show
from projects.models import Item, LabelKind, Project
from projects.services.images import ImageInfo
from projects.values import InvalidValue, annotation_value_clean

KEY_MAX_LENGTH = Item._meta.get_field("key").max_length or 255
# Names with a meaning in a row; matched ignoring case and spaces in CSV headers.
RESERVED_FIELDS = ("text", "key", "gold", "priority", "file", "image")


# --- rows ----------------------------------------------------------------------------------------


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
