"""A project's annotations read out of the database into numpy arrays, for the statistics and
label models (STYLE.md: statistics apart from storage).

Rows stream through a chunked (server-side, on PostgreSQL) cursor and are packed into arrays
chunk by chunk: no ORM object and no Python tuple per annotation outlive their chunk, so a
million annotations take some 50 MB.

Codes: a single-label annotation's code is its label's index in the schema (labels in schema
order, archived ones included, since old labels keep their meaning); a rating's is the rating
minus the scale's minimum; a multi-label annotation's is a bit mask of the chosen labels'
indexes (a schema has at most 63 labels for this to hold).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection

from projects.models import Label, LabelKind, Project

CHUNK = 200_000
MAX_MULTI_LABELS = 63
NO_LABEL = -1
NO_RATING = -(2**31)


@dataclass
class ProjectAnnotations:
    """One row per annotation (ids ascending), and the maps from index to database id."""

    kind: str
    ids: np.ndarray  # annotation ids
    item: np.ndarray  # index into item_ids
    rater: np.ndarray  # index into rater_ids
    code: np.ndarray  # see the module docstring
    revision: np.ndarray
    created: np.ndarray  # seconds since the epoch (UTC)
    time_spent_ms: np.ndarray
    item_ids: np.ndarray  # the items that have annotations, ascending
    rater_ids: np.ndarray  # the raters who annotated, ascending
    values: list[Any]  # code -> label value (single, multi: per bit) or rating (rating)
    label_ids: list[int]

    @property
    def n_categories(self) -> int:
        return len(self.values)

    def rows_of(self, index: int) -> np.ndarray:
        """The rows of item `index`, in annotation order (grouped once, on first use)."""
        if not hasattr(self, "_by_item"):
            self._by_item = np.argsort(self.item, kind="stable")
            self._bounds = np.searchsorted(
                self.item[self._by_item], np.arange(len(self.item_ids) + 1)
            )
        return self._by_item[self._bounds[index] : self._bounds[index + 1]]

    def value_of(self, code: int) -> Hashable:
        """A code as the live evaluation's hashable value (`agreement.rules`)."""
        if self.kind == LabelKind.MULTI:
            return frozenset(self.values[bit] for bit in range(len(self.values)) if code >> bit & 1)
        return self.values[code]


def _epoch_sql() -> str:
    if connection.vendor == "postgresql":
        return "EXTRACT(EPOCH FROM a.created_at)::float8"
    return "(julianday(a.created_at) - 2440587.5) * 86400.0"


def stream(columns: list[str], source: str, key: str, params: list[Any]) -> np.ndarray:
    """All rows of `SELECT columns FROM source` (numeric, never NULL) as a float64 array (n,
    len(columns)), read in batches of CHUNK rows by the key column `key` (columns[0]).

    On PostgreSQL each batch comes back as ONE bytea of packed big-endian float8s
    (`string_agg(float8send(...))`), which numpy reads in place: no Python object per value,
    and one message per batch (binary COPY sends one per row, which costs Python more than
    the rest of the read). Elsewhere, a chunked cursor."""
    width = len(columns)
    chunks: list[np.ndarray] = []
    after = -1
    with connection.cursor() as cursor:
        while True:
            inner = (
                f"SELECT {', '.join(f'{c} AS c{i}' for i, c in enumerate(columns))} FROM {source}"
                f" AND {key} > %s ORDER BY {key} LIMIT {CHUNK}"
            )
            if connection.vendor == "postgresql":
                packed = " || ".join(f"float8send(c{i}::float8)" for i in range(width))
                cursor.execute(
                    f"SELECT max(c0), string_agg({packed}, ''::bytea) FROM ({inner}) AS q",
                    [*params, after],
                )
                last, data = cursor.fetchone()
                if last is None:
                    break
                chunk = np.frombuffer(data, dtype=">f8").reshape(-1, width).astype(np.float64)
            else:
                cursor.execute(inner, [*params, after])
                rows = cursor.fetchall()
                if not rows:
                    break
                chunk = np.asarray(rows, dtype=np.float64).reshape(-1, width)
                last = chunk[:, 0].max()
            chunks.append(chunk)
            if len(chunk) < CHUNK:
                break
            after = int(last)
    if not chunks:
        return np.empty((0, width), dtype=np.float64)
    return np.concatenate(chunks)


def project_annotations(project: Project) -> ProjectAnnotations:
    """Every annotation of the project, as arrays."""
    kind = project.label_kind
    labels = list(
        Label.objects.filter(project=project).order_by("position", "pk").values_list("pk", "value")
    )
    label_ids = [pk for pk, _ in labels]
    if kind == LabelKind.RATING:
        assert project.rating_min is not None and project.rating_max is not None
        values: list[Any] = list(range(project.rating_min, project.rating_max + 1))
    else:
        values = [value for _, value in labels]
    if kind == LabelKind.MULTI and len(values) > MAX_MULTI_LABELS:
        raise ValueError(
            f"A multi-label schema of {len(values)} labels is beyond {MAX_MULTI_LABELS}."
        )
    # Floats carry ids exactly up to 2**53, far beyond any id here; one array keeps the read
    # to a single conversion per chunk.
    rows = stream(
        ["a.id", "a.item_id", "a.rater_id", f"COALESCE(a.label_id, {NO_LABEL})",
         f"COALESCE(a.rating, {NO_RATING})", "a.revision", _epoch_sql(), "a.time_spent_ms"],
        "labeling_annotation a WHERE a.project_id = %s", "a.id", [project.pk],
    )  # fmt: skip
    rows = rows[np.argsort(rows[:, 0], kind="stable")]  # by annotation id
    ids = rows[:, 0].astype(np.int64)
    item_ids, item = np.unique(rows[:, 1].astype(np.int64), return_inverse=True)
    rater_ids, rater = np.unique(rows[:, 2].astype(np.int64), return_inverse=True)
    if kind == LabelKind.RATING:
        code = rows[:, 4].astype(np.int64) - int(values[0])
    elif kind == LabelKind.SINGLE:
        code = _label_codes(rows[:, 3].astype(np.int64), label_ids)
    else:
        code = _multi_codes(project, ids, label_ids)
    return ProjectAnnotations(
        kind=kind, ids=ids, item=item.astype(np.int64), rater=rater.astype(np.int64), code=code,
        revision=rows[:, 5].astype(np.int64), created=rows[:, 6],
        time_spent_ms=rows[:, 7].astype(np.int64), item_ids=item_ids, rater_ids=rater_ids,
        values=values, label_ids=label_ids,
    )  # fmt: skip


def _label_codes(label_column: np.ndarray, label_ids: list[int]) -> np.ndarray:
    order = np.asarray(label_ids, dtype=np.int64)
    sorter = np.argsort(order)
    found = np.searchsorted(order, label_column, sorter=sorter)
    return sorter[np.clip(found, 0, len(order) - 1)].astype(np.int64)


def _multi_codes(project: Project, ids: np.ndarray, label_ids: list[int]) -> np.ndarray:
    chosen = stream(
        ["c.id", "c.annotation_id", "c.label_id"],
        "labeling_annotationlabel c JOIN labeling_annotation a ON a.id = c.annotation_id"
        " WHERE a.project_id = %s",
        "c.id",
        [project.pk],
    )[:, 1:]
    code = np.zeros(len(ids), dtype=np.int64)
    if len(chosen):
        row = np.searchsorted(ids, chosen[:, 0].astype(np.int64))
        bits = np.left_shift(1, _label_codes(chosen[:, 1].astype(np.int64), label_ids))
        np.bitwise_or.at(code, row, bits)
    return code
