"""The recompute's writes as set operations, on PostgreSQL.

A recompute that changes many items (the first one over an imported project: every item) would
spend minutes planning and writing them one by one (`evaluation.outcomes_apply`). Most of them
are plain: not gold, never a conflict. For those the outcome decides everything, so their rows
are built from the recompute's arrays, copied into a temporary table (COPY), and written with
one statement per table, in chunks of CHUNK items:

- `ItemAgreement` upserted; the item agreed (a `LabelOfRecord` from the consensus) or a
  conflict (its label of record dropped, a `Conflict` opened, a history line written);
- the items' statuses set through `projects.services.items.items_status_set_from`.

Each chunk runs in its own transaction under the chunk's item row locks, taken in id order, and
keeps only the items whose change counter is still the one the recompute read: an item labeled
meanwhile was evaluated live by the change that moved its counter, and is left alone (the same
guard as the per-item path). Items with a conflict row, or gold, take the per-item path, whose
planning knows the lead's decisions and history lines.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection, transaction

from agreement.decisions import Decisions
from agreement.models import EventKind, LabelSource
from agreement.rules import MULTI_SEPARATOR
from agreement.services.arrays import ProjectAnnotations, stream
from agreement.services.evaluation import REASON_WORDS, describe_outcome
from projects.models import Project
from projects.services.items import items_status_set_from

CHUNK = 50_000
TABLE = "agreement_recompute_rows"
COLUMNS = [
    ("item_id", "bigint PRIMARY KEY"), ("seen", "bigint"), ("n_annotations", "integer"),
    ("observed", "float8"), ("consensus", "jsonb"), ("confidence", "float8"),
    ("tie", "boolean"), ("passes", "boolean"), ("label_pair", "text"),
    ("annotation_ids", "jsonb"), ("record_annotations", "jsonb"), ("message", "text"),
    ("status", "text"),
]  # fmt: skip


def plain_items(project: Project, candidates: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """The candidates (indexes into `item_ids`) that are neither gold nor have a conflict row:
    the ones this module writes. The rest go the per-item way."""
    special = stream(
        ["i.id"],
        "projects_item i WHERE i.project_id = %s AND (i.is_gold OR EXISTS"
        " (SELECT 1 FROM agreement_conflict c WHERE c.item_id = i.id))",
        "i.id",
        [project.pk],
    )[:, 0].astype(np.int64)
    return candidates[~np.isin(item_ids[candidates], special)]


class Texts:
    """The consensus JSON and label pairs of the rows, in COPY's text format, made once per
    distinct code."""

    def __init__(self, annotations: ProjectAnnotations) -> None:
        self.annotations = annotations
        self._consensus: dict[int, str] = {}
        self._pair: dict[Any, str] = {}

    def consensus(self, code: int) -> str:
        if code not in self._consensus:
            if code < 0:
                self._consensus[code] = NULL
            else:
                value = self.annotations.value_of(code)
                shaped = sorted(str(v) for v in value) if isinstance(value, frozenset) else value
                self._consensus[code] = _text(json.dumps(shaped))
        return self._consensus[code]

    def pair(self, pair: Any) -> str:
        """The conflict queue's label pair, as `recompute._outcome` names it."""
        key = int(pair) if np.ndim(pair) == 0 else tuple(int(c) for c in pair)
        if key not in self._pair:
            values = self.annotations.values
            if isinstance(key, int):  # multi-label: a bit mask of the tied labels
                tied = self.annotations.value_of(key)
                assert isinstance(tied, frozenset)
                text = MULTI_SEPARATOR.join(sorted(str(label) for label in tied))
            else:
                codes = [c for c in key if c >= 0]
                text = MULTI_SEPARATOR.join(sorted(str(values[c]) for c in codes))
                text = text if len(codes) == 2 else ""
            self._pair[key] = _text(text[:300])
        return self._pair[key]


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def _text(value: str | None) -> str:
    """A value in COPY's text format."""
    return NULL if value is None else value.translate(_COPY_ESCAPES)


def _float(value: float) -> str:
    return NULL if math.isnan(value) else repr(float(value))


def copy_data(
    *, annotations: ProjectAnnotations, decisions: Decisions, seen: np.ndarray, chunk: np.ndarray,
    texts: Texts, outcome_of: Any,
) -> bytes:  # fmt: skip
    """The temporary table's rows for the items `chunk` (indexes into annotations.item_ids), in
    COPY's text format: built apart from the writes, so that the next chunk's rows are made
    while the database writes this one's."""
    annotations.rows_of(0)  # groups the rows by item once
    order, bounds = annotations._by_item, annotations._bounds
    ids = annotations.ids[order].tolist()
    revisions = annotations.revision[order].tolist()
    item_ids = annotations.item_ids[chunk].tolist()
    starts, ends = bounds[chunk].tolist(), bounds[chunk + 1].tolist()
    observed = [_float(v) for v in decisions.observed[chunk].tolist()]
    confidence = [_float(v) for v in decisions.confidence[chunk].tolist()]
    consensus = [texts.consensus(c) for c in decisions.consensus[chunk].tolist()]
    pairs = [texts.pair(p) for p in decisions.pair[chunk]]
    ties = decisions.tie[chunk].tolist()
    passes = decisions.passes[chunk].tolist()
    seen_list = seen.tolist()
    words = REASON_WORDS["recompute"]
    lines = []
    for n, index in enumerate(chunk.tolist()):
        start, end = starts[n], ends[n]
        id_text = ", ".join(map(str, ids[start:end]))
        if passes[n]:
            record = ", ".join(f'"{i}": {r}' for i, r in zip(
                ids[start:end], revisions[start:end], strict=True))  # fmt: skip
            tail = f"{{{record}}}\t{NULL}\tagreed"
        else:
            message = f"Became a conflict after {words}: {describe_outcome(outcome_of(index))}."
            tail = f"{NULL}\t{_text(message[:500])}\tconflict"
        lines.append(
            f"{item_ids[n]}\t{seen_list[n]}\t{end - start}\t{observed[n]}\t{consensus[n]}\t"
            f"{confidence[n]}\t{'t' if ties[n] else 'f'}\t{'t' if passes[n] else 'f'}\t"
            f"{pairs[n]}\t[{id_text}]\t{tail}\n"
        )
    return "".join(lines).encode()


def plain_items_write(*, project: Project, method: str, data: bytes, now: datetime) -> int:
    """Write the rows `data` (`copy_data`) of plain items (the module says how). Returns how
    many items were written."""
    names = ", ".join(name for name, _ in COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {TABLE}"
            f" ({', '.join(f'{name} {kind}' for name, kind in COLUMNS)}) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {TABLE}")  # rows of an earlier chunk in the same transaction
        with cursor.cursor.copy(f"COPY {TABLE} ({names}) FROM STDIN") as copy:
            copy.write(data)
        cursor.execute(f"ANALYZE {TABLE}")
        # The race: a rater's label arriving now. Lock the items in id order (as every other
        # writer does), and keep only those whose counter has not moved since it was read (a
        # row changed while we waited for its lock is checked again on its new version).
        cursor.execute(
            f"WITH locked AS (SELECT i.id FROM projects_item i JOIN {TABLE} t ON t.item_id = i.id"
            " WHERE i.change_count = t.seen ORDER BY i.id FOR UPDATE OF i)"
            f" DELETE FROM {TABLE} t WHERE NOT EXISTS"
            " (SELECT 1 FROM locked WHERE locked.id = t.item_id)"
        )
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        written = cursor.fetchone()[0]
        params: dict[str, Any] = {"project": project.pk, "method": method, "now": now}
        cursor.execute(
            "INSERT INTO agreement_itemagreement (item_id, project_id, change_count,"
            " n_annotations, observed, consensus, method, confidence, tie, passes, label_pair,"
            " annotation_ids, evaluated_at)"
            " SELECT item_id, %(project)s, seen, n_annotations, observed, consensus, %(method)s,"
            f" confidence, tie, passes, label_pair, annotation_ids, %(now)s FROM {TABLE}"
            " ON CONFLICT (item_id) DO UPDATE SET change_count = excluded.change_count,"
            " n_annotations = excluded.n_annotations, observed = excluded.observed,"
            " consensus = excluded.consensus, method = excluded.method,"
            " confidence = excluded.confidence, tie = excluded.tie, passes = excluded.passes,"
            " label_pair = excluded.label_pair, annotation_ids = excluded.annotation_ids,"
            " evaluated_at = excluded.evaluated_at",
            params,
        )
        cursor.execute(
            "INSERT INTO agreement_labelofrecord (item_id, project_id, value, source, method,"
            " confidence, annotations, resolution_id, updated_at)"
            f" SELECT item_id, %(project)s, consensus, '{LabelSource.CONSENSUS}', %(method)s,"
            f" confidence, record_annotations, NULL, %(now)s FROM {TABLE} WHERE passes"
            " ON CONFLICT (item_id) DO UPDATE SET value = excluded.value,"
            " source = excluded.source, method = excluded.method,"
            " confidence = excluded.confidence, annotations = excluded.annotations,"
            " updated_at = excluded.updated_at",
            params,
        )
        cursor.execute(
            f"DELETE FROM agreement_labelofrecord r USING {TABLE} t"
            " WHERE r.item_id = t.item_id AND NOT t.passes AND r.source <> %s",
            [LabelSource.RESOLUTION],
        )
        cursor.execute(
            "INSERT INTO agreement_conflict (item_id, project_id, status, observed, label_pair,"
            " opened_at, times_opened)"
            f" SELECT item_id, %(project)s, 'open', observed, label_pair, %(now)s, 1 FROM {TABLE}"
            " WHERE NOT passes ORDER BY item_id",
            params,
        )
        cursor.execute(
            "INSERT INTO agreement_itemevent (item_id, project_id, kind, actor_id, message,"
            f" created_at) SELECT item_id, %(project)s, '{EventKind.CONFLICT}', NULL, message,"
            f" %(now)s FROM {TABLE} WHERE NOT passes ORDER BY item_id",
            params,
        )
        items_status_set_from(table=TABLE, now=now)
    return int(written)
