"""Keeping validated rows on disk until the file is known good, then writing them as items.

The writers run inside the transaction that also marks the job succeeded, so the items and the
job's counts commit together or not at all. Both skip keys the project already has.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from django.db import connection
from django.utils import timezone

from projects.models import ImportJob, Item, ItemStatus
from projects.services.imports.rows import Row

SPOOL_BATCH_ROWS = 5_000
BULK_CREATE_BATCH = 1_000
# The Item fields a row fills, with their PostgreSQL types, in the order COPY receives them.
COPY_FIELDS = (
    ("key", "text"),
    ("text", "text"),
    ("data", "jsonb"),
    ("content_hash", "text"),
    ("priority", "double precision"),
    ("shuffle_key", "integer"),
    ("gold_value", "jsonb"),
    ("is_gold", "boolean"),
    ("image", "bigint"),
)


# A Row as a plain tuple, in Row's field order: pickling plain tuples is several times faster.
SpooledRow = tuple[str, str, str, str, float, int, str | None, str | None]


class Spool:
    """Validated rows, pickled in batches to an anonymous temporary file, so that memory holds
    one batch rather than the file. Use as a context manager."""

    def __init__(self) -> None:
        self.count = 0
        self._batch: list[SpooledRow] = []
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="accord-import-")  # noqa: SIM115

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def append(self, row: Row) -> None:
        self._batch.append(row[:])  # a slice of a named tuple is a plain tuple
        self.count += 1
        if len(self._batch) >= SPOOL_BATCH_ROWS:
            self._flush()

    def batches(self) -> Iterator[list[SpooledRow]]:
        self._flush()
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)  # our own file, written by _flush
            except EOFError:
                return

    def _flush(self) -> None:
        if self._batch:
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []


def items_insert_postgresql(*, job: ImportJob, spool: Spool, image_ids: dict[str, int]) -> int:
    """COPY the rows into a temporary table, then insert, in file order, those whose key the
    project lacks. Returns how many were created."""
    quote = connection.ops.quote_name
    table = quote(f"accord_import_{job.pk}")
    items = quote(Item._meta.db_table)
    column = {f.name: quote(f.column) for f in Item._meta.concrete_fields if f.column}
    copied = [column[name] for name, _ in COPY_FIELDS]
    definitions = ", ".join(f"{column[name]} {kind}" for name, kind in COPY_FIELDS)
    now = timezone.now()
    fixed: dict[str, Any] = {
        column["project"]: job.project_id,
        column["import_job"]: job.pk,
        column["status"]: ItemStatus.OPEN.value,
        column["slots_taken"]: 0,
        column["annotation_count"]: 0,
        column["created_at"]: now,
        column["updated_at"]: now,
    }
    new_values = ", ".join(f"new.{name}" for name in copied)
    with connection.cursor() as cursor:
        # The job row commits in this same transaction, so a crash that loses the commit
        # loses both: the job stays "running", shows as stalled, and is retried. Not waiting
        # for the WAL flush is therefore safe, and saves the wait at commit.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        # Enough memory to sort a large file's rows into file order without spilling to disk.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {table} (position integer, {definitions}) ON COMMIT DROP"
        )
        position = 0
        with cursor.cursor.copy(f"COPY {table} (position, {', '.join(copied)}) FROM STDIN") as copy:
            for batch in spool.batches():
                for key, text, data, content_hash, priority, shuffle, gold, image in batch:
                    position += 1
                    copy.write_row(
                        (
                            position, key, text, data, content_hash, priority, shuffle, gold,
                            gold is not None, image_ids[image] if image else None,
                        )
                    )  # fmt: skip
        params: list[Any] = [*fixed.values(), job.project_id]
        # NOT EXISTS skips known keys cheaply (a re-import is then a read); ON CONFLICT covers
        # a concurrent import of the same keys committing in between.
        cursor.execute(
            f"INSERT INTO {items} ({', '.join([*fixed, *copied])}) "
            f"SELECT {', '.join(['%s'] * len(fixed))}, {new_values} "
            f"FROM {table} AS new WHERE NOT EXISTS (SELECT 1 FROM {items} AS old "
            f"WHERE old.{column['project']} = %s AND old.{column['key']} = new.{column['key']}) "
            f"ORDER BY new.position ON CONFLICT ({column['project']}, {column['key']}) DO NOTHING",
            params,
        )
        created: int = cursor.rowcount
        cursor.execute(f"DROP TABLE {table}")
    return created


def items_insert_bulk_create(*, job: ImportJob, spool: Spool, image_ids: dict[str, int]) -> int:
    """bulk_create(ignore_conflicts=True); returns how many rows are new. On SQLite the
    transaction holds the only write lock, so counting before and after is exact."""
    items = Item.objects.filter(project_id=job.project_id)
    before = items.count()
    for batch in spool.batches():
        Item.objects.bulk_create(
            [
                Item(
                    project_id=job.project_id, key=key, text=text, data=json.loads(data),
                    content_hash=content_hash, priority=priority, shuffle_key=shuffle,
                    gold_value=None if gold is None else json.loads(gold),
                    is_gold=gold is not None, import_job_id=job.pk,
                    image_id=image_ids[image] if image else None,
                )
                for key, text, data, content_hash, priority, shuffle, gold, image in batch
            ],
            ignore_conflicts=True,
            batch_size=BULK_CREATE_BATCH,
        )  # fmt: skip
    return items.count() - before
