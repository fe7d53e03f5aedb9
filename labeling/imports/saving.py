"""Keeping validated rows on disk until the file is known good, then writing them as
annotations, BATCH_ROWS at a time.

Each batch is one transaction that takes its locks in the order the labeling engine takes them
(the raters' membership rows, then their assignment rows, then the items, each in primary-key
order), so a batch and a rater's claim or submit on the same items wait for each other rather
than deadlock. Inside it, with bulk statements: new annotations with their first revision and
chosen labels; a new revision for each annotation whose value changed; a submitted assignment
for every (item, rater), so that the engine never gives a rater an item they have a label on;
the items' slots, annotation counts, status and change counters; the members' labeled totals;
the job's counts; and the call that tells agreement which items changed. A value the
annotation already has writes nothing, which is what makes a second run of the same file (or a
retry after a crash midway, which finds the batches that committed) add nothing.
"""

from __future__ import annotations

import pickle
import tempfile
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.db import connection, transaction
from django.db.models import F

from core import sql
from labeling.changes import ChangeReason, LabelsChanged, labels_changed
from labeling.imports.bulk import any_of, pairs_select, rows_insert
from labeling.imports.rows import Row
from labeling.models import (
    Annotation,
    AnnotationImportJob,
    AnnotationLabel,
    AnnotationRevision,
    Assignment,
    AssignmentStatus,
)
from projects.models import ItemStatus, LabelKind, Project

SPOOL_BATCH_ROWS = 5_000
BATCH_ROWS = 2_000
# An assignment in these states spends no slot: the rater needs one again for their label.
NOT_HOLDING = (AssignmentStatus.SKIPPED, AssignmentStatus.EXPIRED)


class ImportStopped(Exception):
    """The project changed under the import between reading and writing (a member removed, an
    item deleted): the batch wrote nothing, and the job fails saying why."""


class Spool:
    """Validated rows, pickled in batches to an anonymous temporary file, so that memory holds
    one batch rather than the file. Use as a context manager."""

    def __init__(self) -> None:
        self.count = 0
        self._batch: list[tuple[Any, ...]] = []
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="accord-annotations-")  # noqa: SIM115

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def append(self, row: Row) -> None:
        self._batch.append(row[:])  # a plain tuple pickles several times faster
        self.count += 1
        if len(self._batch) >= SPOOL_BATCH_ROWS:
            self._flush()

    def batches(self, size: int) -> Iterator[list[Row]]:
        """The rows in file order, `size` at a time."""
        self._flush()
        self._file.seek(0)
        pending: list[Row] = []
        while True:
            try:
                stored = pickle.load(self._file)  # our own file, written by _flush
            except EOFError:
                break
            pending.extend(Row(*values) for values in stored)
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        if pending:
            yield pending

    def _flush(self) -> None:
        if self._batch:
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []


@dataclass
class BatchCounts:
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    closed: int = 0  # rows on items a lead has resolved: left out, as a submit would be


def annotations_write(
    *,
    job: AnnotationImportJob,
    project: Project,
    rows: Sequence[Row],
    user_ids: Sequence[int],
    now: datetime,
) -> BatchCounts:
    """Write one batch of rows in one transaction (see the module's docstring); `user_ids[i]`
    is the user of the rater named `Raters.names[i]`. Call outside a transaction."""
    pairs = [(row.item_id, user_ids[row.rater]) for row in rows]
    item_ids = sorted({item_id for item_id, _ in pairs})
    rater_ids = sorted({rater_id for _, rater_id in pairs})
    multi = project.label_kind == LabelKind.MULTI
    counts = BatchCounts()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The job's counts commit with the batch, so a crash that loses this commit loses
            # both, and the retry writes the batch again: no need to wait for the WAL flush.
            sql.execute("SET LOCAL synchronous_commit TO OFF", [])
        # 1. The raters' membership rows, as their own claims and submits take them first.
        users, users_params = any_of("user_id", rater_ids)
        locked = sql.fetch_all(
            f"SELECT user_id FROM projects_membership WHERE project_id = %s AND {users}"
            " ORDER BY id" + sql.locking("FOR NO KEY UPDATE"),
            [project.pk, *users_params],
        )
        if len(locked) != len(rater_ids):
            gone = sorted(set(rater_ids) - {row[0] for row in locked})
            raise ImportStopped(
                f"{len(gone)} rater(s) of the file left the project while it was imported "
                f"(user ids {gone[:10]})."
            )
        # 2. Their assignment rows on these items (a reclaim of an expired lease, a lead's
        # assignment or a member's removal changes them too), then 3. the items.
        distinct_pairs = sorted(set(pairs))
        # In (item, rater) order, as every batch locks them.
        held_rows = sql.fetch_all(*pairs_select(
            "labeling_assignment", "id, item_id, rater_id, status", distinct_pairs,
            lock="FOR UPDATE",
        ))  # fmt: skip
        held = {(item_id, rater_id): (pk, status) for pk, item_id, rater_id, status in held_rows}
        ids, ids_params = any_of("id", item_ids)
        items = {
            pk: (status, bool(is_gold))
            for pk, status, is_gold in sql.fetch_all(
                f"SELECT id, status, is_gold FROM projects_item WHERE project_id = %s AND {ids}"
                " ORDER BY id" + sql.locking("FOR NO KEY UPDATE"),
                [project.pk, *ids_params],
            )
        }
        if len(items) != len(item_ids):
            raise ImportStopped("Items of the file were deleted while it was imported.")
        # What the raters hold now: the rows above keep it from changing until the commit.
        existing_rows = sql.fetch_all(*pairs_select(
            "labeling_annotation", "id, item_id, rater_id, label_id, rating, revision",
            distinct_pairs,
        ))  # fmt: skip
        existing = {(row[1], row[2]): (row[0], *row[3:]) for row in existing_rows}
        chosen_now: dict[int, set[int]] = defaultdict(set)
        if multi and existing:
            of_annotations, params = any_of(
                "annotation_id", [found[0] for found in existing.values()]
            )
            for annotation_id, label_id in sql.fetch_all(
                "SELECT annotation_id, label_id FROM labeling_annotationlabel"
                f" WHERE {of_annotations}",
                params,
            ):
                chosen_now[annotation_id].add(label_id)

        new: list[tuple[Row, int]] = []
        changed: list[tuple[Row, int, int]] = []  # row, annotation id, its new revision
        for row, (item_id, rater_id) in zip(rows, pairs, strict=True):
            found = existing.get((item_id, rater_id))
            if found is not None:
                pk, label_id, rating, revision = found
                same = (label_id, rating) == (row.label_id, row.rating) and (
                    not multi or chosen_now.get(pk, set()) == set(row.chosen)
                )
                if same:
                    counts.unchanged += 1
                elif items[item_id][0] == ItemStatus.RESOLVED:
                    counts.closed += 1
                else:
                    changed.append((row, pk, revision + 1))
            elif items[item_id][0] == ItemStatus.RESOLVED:
                counts.closed += 1
            else:
                new.append((row, rater_id))
        counts.created, counts.changed = len(new), len(changed)
        if not new and not changed:
            return counts

        _annotations_insert(job=job, project=project, new=new, now=now)
        _annotations_change(changed=changed, multi=multi, now=now)
        # Every (item, rater) with a new label spends a slot, as a submit does: a submitted
        # assignment, which the claim's "never twice to one rater" rule also reads.
        slots = _assignments_submit(project=project, new=new, held=held, items=items, now=now)
        added = Counter(row.item_id for row, _ in new)
        touched = sorted({row.item_id for row, _ in new} | {row.item_id for row, *_ in changed})
        statuses = _items_update(project=project, item_ids=touched, added=added, slots=slots,
                                 now=now)  # fmt: skip
        _labeled_totals_add(project=project, counts=Counter(rater_id for _, rater_id in new))
        AnnotationImportJob.objects.filter(pk=job.pk).update(
            created_count=F("created_count") + counts.created,
            changed_count=F("changed_count") + counts.changed,
        )
        # Inside the transaction, after the items: the listener sees the batch's labels and
        # counters, and what it writes commits or rolls back with them.
        labels_changed(
            LabelsChanged(
                project=project, item_ids=touched, reason=ChangeReason.IMPORT,
                actor_id=job.created_by_id, statuses=statuses,
            )
        )  # fmt: skip
    return counts


def _annotations_insert(
    *, job: AnnotationImportJob, project: Project, new: list[tuple[Row, int]], now: datetime
) -> None:
    """The new annotations, each with its first revision (the same client id, as a submit
    writes) and, in a multi-label project, its chosen labels."""
    if not new:
        return
    client_ids = [uuid.uuid4() for _ in new]
    annotation_ids = rows_insert(
        Annotation,
        ("project_id", "item_id", "rater_id", "label_id", "rating", "client_id",
         "time_spent_ms", "revision", "import_job_id", "created_at", "updated_at"),
        [
            (project.pk, row.item_id, rater_id, row.label_id, row.rating, client_id,
             row.time_spent_ms, 1, job.pk, row.created_at or now, now)
            for (row, rater_id), client_id in zip(new, client_ids, strict=True)
        ],
        with_ids=True,
    )  # fmt: skip
    rows = [row for row, _ in new]
    _revisions_insert(list(zip(annotation_ids, [1] * len(new), rows, client_ids, strict=True)),
                      now=now)  # fmt: skip
    rows_insert(
        AnnotationLabel, ("annotation_id", "label_id"),
        [(pk, label_id) for pk, row in zip(annotation_ids, rows, strict=True)
         for label_id in row.chosen],
    )  # fmt: skip


def _annotations_change(*, changed: list[tuple[Row, int, int]], multi: bool, now: datetime) -> None:
    """A new value for annotations the raters had: each keeps its id (lineage) and gains a
    revision, as a rater's own change does."""
    if not changed:
        return
    stamp = sql.param(Annotation, "updated_at", now)
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE labeling_annotation SET label_id = %s, rating = %s, revision = %s,"
            " time_spent_ms = time_spent_ms + %s, updated_at = %s WHERE id = %s",
            [(row.label_id, row.rating, revision, row.time_spent_ms, stamp, pk)
             for row, pk, revision in changed],
        )  # fmt: skip
    if multi:
        annotations, params = any_of("annotation_id", [pk for _, pk, _ in changed])
        sql.execute(f"DELETE FROM labeling_annotationlabel WHERE {annotations}", params)
        rows_insert(
            AnnotationLabel, ("annotation_id", "label_id"),
            [(pk, label_id) for row, pk, _ in changed for label_id in row.chosen],
        )  # fmt: skip
    _revisions_insert([(pk, revision, row, uuid.uuid4()) for row, pk, revision in changed],
                      now=now)  # fmt: skip


def _revisions_insert(revisions: list[tuple[int, int, Row, uuid.UUID]], *, now: datetime) -> None:
    rows_insert(
        AnnotationRevision,
        ("annotation_id", "revision", "value", "client_id", "time_spent_ms", "created_at"),
        [
            (annotation_id, revision, row.value, client_id, row.time_spent_ms,
             row.created_at or now)
            for annotation_id, revision, row, client_id in revisions
        ],
    )  # fmt: skip


def _assignments_submit(
    *, project: Project, new: list[tuple[Row, int]],
    held: dict[tuple[int, int], tuple[int, str]], items: dict[int, tuple[str, bool]],
    now: datetime,
) -> Counter[int]:  # fmt: skip
    """Mark each new label's (item, rater) submitted: the rater's lease or a lead's assignment
    becomes the record of the label; without one (or after a skip, or a lease reclaimed) a new
    row spends one of the item's slots. Returns the slots taken per item."""
    slots: Counter[int] = Counter()
    to_submit: list[int] = []
    to_insert: list[tuple[Any, ...]] = []
    for row, rater_id in new:
        found = held.get((row.item_id, rater_id))
        if found is None:
            to_insert.append((project.pk, row.item_id, rater_id, AssignmentStatus.SUBMITTED.value,
                              "", items[row.item_id][1], now, now))  # fmt: skip
            slots[row.item_id] += 1
            continue
        pk, status = found
        if status in NOT_HOLDING:
            slots[row.item_id] += 1
        if status != AssignmentStatus.SUBMITTED:
            to_submit.append(pk)
    if to_submit:
        ids, params = any_of("id", to_submit)
        sql.execute(
            "UPDATE labeling_assignment SET status = 'submitted', expires_at = NULL,"
            f" updated_at = %s WHERE {ids}",
            [sql.param(Assignment, "updated_at", now), *params],
        )
    rows_insert(
        Assignment,
        ("project_id", "item_id", "rater_id", "status", "skip_reason", "is_gold", "created_at",
         "updated_at"),
        to_insert,
    )  # fmt: skip
    return slots


def _items_update(
    *, project: Project, item_ids: list[int], added: Counter[int], slots: Counter[int],
    now: datetime,
) -> dict[int, str]:  # fmt: skip
    """Count the new holders and labels on their items, move each item's change counter, and
    set the labeling status as a submit does: labeled at k (plus any extra slots) labels, in
    progress once a slot is taken; later statuses are agreement's. Items with the same
    increments go in one statement. Returns each item's status after the update."""
    stamp = sql.param(Annotation, "updated_at", now)
    by_increment: dict[tuple[int, int], list[int]] = defaultdict(list)
    for item_id in item_ids:
        by_increment[slots[item_id], added[item_id]].append(item_id)
    statuses: dict[int, str] = {}
    for (more_slots, more_labels), chunk in by_increment.items():
        ids, params = any_of("id", chunk)
        # Every expression reads the row as it was (SQL's SET semantics).
        statuses.update(sql.fetch_all(
            "UPDATE projects_item SET slots_taken = slots_taken + %s,"
            " annotation_count = annotation_count + %s, change_count = change_count + 1,"
            " status = CASE"
            " WHEN status IN ('open', 'in_progress')"
            " AND annotation_count + %s >= %s + extra_slots THEN 'labeled'"
            " WHEN status = 'open' AND slots_taken + %s > 0 THEN 'in_progress'"
            f" ELSE status END, updated_at = %s WHERE {ids} RETURNING id, status",
            [more_slots, more_labels, more_labels, project.raters_per_item, more_slots, stamp,
             *params],
        ))  # fmt: skip
    return statuses


def _labeled_totals_add(*, project: Project, counts: Counter[int]) -> None:
    """Each rater's new labels in their labeled total. Not in labeled today: imported labels
    are history, whenever they were made."""
    by_count: dict[int, list[int]] = defaultdict(list)
    for rater_id, count in counts.items():
        by_count[count].append(rater_id)
    for count, rater_ids in by_count.items():
        users, params = any_of("user_id", rater_ids)
        sql.execute(
            "UPDATE projects_membership SET labeled_total = labeled_total + %s"
            f" WHERE project_id = %s AND {users}",
            [count, project.pk, *params],
        )
