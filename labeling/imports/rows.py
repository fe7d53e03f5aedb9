"""Turning the records of an annotation file into validated rows: the item by its key, the
rater by name, the value against the label schema, and the optional time and duration.

Records are checked as they are read, and their item keys looked up LOOKUP_BATCH at a time (one
query each), so memory holds a batch of records, the rater names, and three numbers for each
valid row (its item, its rater, its line) for the check of duplicates at the end.
"""

from __future__ import annotations

import json
import math
from array import array
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from django.conf import settings
from django.utils import timezone

from core import sql
from core.readers import Problems, Record, RowError, show
from labeling.imports.bulk import any_of
from labeling.services import MAX_TIME_SPENT_MS
from projects.models import Item, LabelKind, Membership, Project
from projects.values import InvalidValue, annotation_value_clean

# The fields of a row; CSV headers match them ignoring case and surrounding spaces.
FIELDS = ("item_key", "rater", "value", "created_at", "time_spent_ms")
REQUIRED = ("item_key", "rater", "value")
RATER_NAME_MAX = Membership._meta.get_field("external_name").max_length or 150
LOOKUP_BATCH = 2_000
# A clock a little ahead of the server's is not "in the future".
FUTURE_SLACK = timedelta(minutes=5)
TIME_FORMAT_HINT = "an ISO 8601 date and time, such as 2024-05-01T14:30:00Z"


class Row(NamedTuple):
    """A validated row, ready to become (or to change) an annotation. `rater` is the index of
    the rater's name in `Raters.names`; `value` is the canonical value (a label value, a sorted
    list of them, or a whole number), and `label_id`, `rating`, `chosen` are its codes."""

    item_id: int
    rater: int
    label_id: int | None
    rating: int | None
    chosen: tuple[int, ...]
    value: Any
    created_at: datetime | None
    time_spent_ms: int


class Raters:
    """Who each rater name of a file is.

    A name that is the username of a member of the project (exactly, case and all) means that
    member. Any other name is an external rater of this project: the one of that name made by an
    earlier import, or a new one (`labeling.imports.raters` makes them before anything is
    written). So the same name in this file or a later one is always the same rater.
    """

    def __init__(self, *, project: Project) -> None:
        memberships = Membership.objects.filter(project=project)
        self.members: dict[str, int] = dict(memberships.values_list("user__username", "user_id"))
        self.externals: dict[str, int] = dict(
            memberships.filter(is_external=True).values_list("external_name", "user_id")
        )
        self.names: list[str] = []  # every distinct name of the file, in order of appearance
        self.index: dict[str, int] = {}  # each name's place in `names`

    def code(self, name: str) -> int:
        """The name's index in `names`, adding it on its first appearance."""
        index = self.index.get(name)
        if index is None:
            index = self.index[name] = len(self.names)
            self.names.append(name)
        return index

    def known(self, name: str) -> int | None:
        """The user id the name stands for now, or None for a new external rater."""
        found = self.members.get(name)
        return found if found is not None else self.externals.get(name)

    def new_names(self) -> list[str]:
        """Names of the file that are neither a member nor a known external rater."""
        return [name for name in self.names if self.known(name) is None]


@dataclass
class _Pending:
    """A record checked but for its item key, which is looked up with its batch."""

    line: int
    location: str
    key: str | None
    rater: int | None
    value: tuple[int | None, int | None, tuple[int, ...], Any] | None
    created_at: datetime | None
    time_spent_ms: int
    errors: list[RowError] = field(default_factory=list)


class RowValidator:
    """Turns records into rows, checking each field against the project, and (item, rater)
    pairs across the whole file. Problems go to `problems`; a record with any gives no row.

    Feed it with `add` and end with `finish`; both return the rows that are ready, in file
    order. Archived labels are accepted: an import of historic labels may use them.
    """

    def __init__(self, *, project: Project, problems: Problems, raters: Raters) -> None:
        self.project = project
        self.problems = problems
        self.raters = raters
        self.kind = project.label_kind
        # Every label, archived ones too (hidden from raters, kept for history).
        self.codes: dict[str, int] = dict(project.labels.values_list("value", "id"))
        self.now = timezone.now()
        self.zone = timezone.get_default_timezone()
        self._pending: list[_Pending] = []
        # Each valid row's item, rater and line, for the check of duplicates at the end.
        self._items = array("q")
        self._raters = array("q")
        self._lines = array("q")

    # --- feeding ---------------------------------------------------------------------------

    def add(self, record: Record) -> list[Row]:
        self._pending.append(self._check(record))
        if len(self._pending) >= LOOKUP_BATCH:
            return self._flush()
        return []

    def finish(self) -> list[Row]:
        rows = self._flush()
        self._duplicates()
        return rows

    # --- a record --------------------------------------------------------------------------

    def _check(self, record: Record) -> _Pending:
        fields = record.fields
        location = record.location
        errors: list[RowError] = []

        def problem(message: str, name: str, value: Any = None) -> None:
            # A NUL shown as the symbol for one: the job's errors are JSON that PostgreSQL
            # keeps as jsonb, which refuses the character itself.
            shown = None if value is None else show(value).replace("\x00", "\u2400")
            errors.append(RowError(location=location, message=message, field=name, value=shown))

        key = self._text(fields.get("item_key"), "item_key", problem)
        if key is not None and "\x00" in key:  # no key has one (PostgreSQL text cannot)
            problem("contains a NUL character.", "item_key", key)
            key = None
        name = self._text(fields.get("rater"), "rater", problem)
        rater = None
        if name is not None:
            rater = self.raters.index.get(name)  # a name seen before was checked then
            if rater is None:
                if len(name) > RATER_NAME_MAX:
                    problem(f"is {len(name)} characters long; the limit is {RATER_NAME_MAX}.",
                            "rater", name)  # fmt: skip
                elif not name.isprintable():
                    problem("contains a control character.", "rater", name)
                else:
                    rater = self.raters.code(name)
        value = self._value(fields.get("value"), problem)
        created_at = self._created_at(fields.get("created_at"), problem)
        time_spent_ms = self._time_spent(fields.get("time_spent_ms"), problem)
        return _Pending(
            line=_line_of(location), location=location, key=key, rater=rater, value=value,
            created_at=created_at, time_spent_ms=time_spent_ms, errors=errors,
        )  # fmt: skip

    @staticmethod
    def _text(raw: Any, name: str, problem: Any) -> str | None:
        """A required text field: a string (stripped) or a whole number as its text."""
        if isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            problem(f"missing: every row needs a {name}.", name)
            return None
        if not isinstance(raw, str):
            problem("must be a string.", name, raw)
            return None
        return raw.strip()

    def _value(
        self, raw: Any, problem: Any
    ) -> tuple[int | None, int | None, tuple[int, ...], Any] | None:
        """The value's codes and canonical form: a label value; several as a JSON list or
        `a|b`; a whole number on the scale (a number, or its text)."""
        kind = self.kind
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            hint = " (write [] for none of the labels)" if kind == LabelKind.MULTI else ""
            problem(f"missing: every row needs a value{hint}.", "value")
            return None
        value = raw
        if isinstance(raw, str):
            text = raw.strip()
            if kind == LabelKind.MULTI:
                if text.startswith("["):
                    try:
                        value = json.loads(text)
                    except ValueError:
                        problem("is not a JSON list of label values.", "value", raw)
                        return None
                else:
                    value = [part.strip() for part in text.split("|") if part.strip()]
            elif kind == LabelKind.RATING:
                try:
                    value = float(text)
                except ValueError:
                    problem(self._rating_hint(), "value", raw)
                    return None
            else:
                value = text
        try:
            clean = annotation_value_clean(
                project=self.project, value=value, label_values=self.codes
            )
        except InvalidValue as error:
            problem(error.message, "value", raw)
            return None
        if kind == LabelKind.RATING:
            return None, int(clean), (), clean
        if kind == LabelKind.MULTI:
            return None, None, tuple(self.codes[label] for label in clean), clean
        return self.codes[clean], None, (), clean

    def _rating_hint(self) -> str:
        return (
            f"must be a whole number from {self.project.rating_min} to {self.project.rating_max}."
        )

    def _created_at(self, raw: Any, problem: Any) -> datetime | None:
        """When the label was made: ISO 8601; without an offset, in the server's TIME_ZONE."""
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str):
            problem(f"must be {TIME_FORMAT_HINT}.", "created_at", raw)
            return None
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            problem(f"is not {TIME_FORMAT_HINT}.", "created_at", raw)
            return None
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, self.zone)
        if moment > self.now + FUTURE_SLACK:
            problem("is in the future.", "created_at", raw)
            return None
        return moment

    @staticmethod
    def _time_spent(raw: Any, problem: Any) -> int:
        """Milliseconds spent on the label: a whole number, 0 or more (capped as a submit's)."""
        if raw is None or raw == "":
            return 0
        number = math.nan
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            number = float(raw)
        elif isinstance(raw, str):
            with suppress(ValueError):
                number = float(raw.strip())
        if not math.isfinite(number) or number < 0 or not number.is_integer():
            problem("must be a whole number of milliseconds, 0 or more.", "time_spent_ms", raw)
            return 0
        return min(int(number), MAX_TIME_SPENT_MS)

    # --- a batch of records ----------------------------------------------------------------

    def _flush(self) -> list[Row]:
        """Look the batch's item keys up (one query), and turn its records into rows."""
        pending, self._pending = self._pending, []
        keys = {entry.key for entry in pending if entry.key is not None}
        ids: dict[str, int] = {}
        if keys:
            condition, params = any_of("key", keys)
            ids = dict(sql.fetch_all(  # type: ignore[arg-type]
                f"SELECT key, id FROM projects_item WHERE project_id = %s AND {condition}",
                [self.project.pk, *params],
            ))  # fmt: skip
        rows = []
        for entry in pending:
            errors = entry.errors
            item_id = ids.get(entry.key) if entry.key is not None else None
            if entry.key is not None and item_id is None:
                # First: it is the row's first field.
                errors.insert(0, RowError(
                    location=entry.location, message="no item of this project has this key.",
                    field="item_key", value=show(entry.key),
                ))  # fmt: skip
            for error in errors:
                self.problems.add(error)
            if errors or item_id is None or entry.rater is None or entry.value is None:
                continue
            self._items.append(item_id)
            self._raters.append(entry.rater)
            self._lines.append(entry.line)
            label_id, rating, chosen, clean = entry.value
            rows.append(Row(item_id, entry.rater, label_id, rating, chosen, clean,
                            entry.created_at, entry.time_spent_ms))  # fmt: skip
        return rows

    # --- the whole file --------------------------------------------------------------------

    def _duplicates(self) -> None:
        """Name each row that gives an item a second label from the same rater, with the line
        of the first. Sorted once at the end (numpy), in file order of the repeats."""
        count = len(self._items)
        if count < 2:
            return
        items = np.frombuffer(self._items, dtype=np.int64)
        raters = np.frombuffer(self._raters, dtype=np.int64)
        lines = np.frombuffer(self._lines, dtype=np.int64)
        order = np.lexsort((lines, raters, items))  # by item, rater, then line
        same = (items[order][1:] == items[order][:-1]) & (raters[order][1:] == raters[order][:-1])
        repeats = np.flatnonzero(same) + 1  # positions (in `order`) of every later row
        if not len(repeats):
            return
        # The first row of each run of equal pairs.
        starts = np.where(np.concatenate(([True], ~same)), np.arange(count), 0)
        first = np.maximum.accumulate(starts)
        found = sorted(
            (int(lines[order[p]]), int(lines[order[first[p]]]), int(items[order[p]]),
             int(raters[order[p]]))
            for p in repeats
        )  # fmt: skip
        shown = found[: settings.ACCORD_IMPORT_ERROR_LIMIT]
        keys = dict(Item.objects.filter(pk__in={f[2] for f in shown}).values_list("pk", "key"))
        for line, first_line, item_id, rater in found:
            name = self.raters.names[rater]
            self.problems.add(RowError(
                location=f"line {line}", field="rater", value=show(name),
                message=f"labels item {keys.get(item_id, item_id)!r} a second time (first at "
                f"line {first_line}): keep one row per item and rater.",
            ))  # fmt: skip


def _line_of(location: str) -> int:
    """The number in a reader's location (`line 7`)."""
    try:
        return int(location.rsplit(" ", 1)[-1])
    except ValueError:
        return 0
