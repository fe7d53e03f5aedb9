"""Keeping validated rows on disk until the file is known good, then writing them as items.

On PostgreSQL the rows go in with one COPY, inside the transaction that also marks the job
succeeded, so the items and the job's counts commit together or not at all: row locks let
everyone else go on meanwhile. SQLite has one write lock for the whole database, and a
transaction of a million rows would hold it for a minute while every rater's claim waits and
fails: there the rows go in short transactions of SQLITE_BATCH_ROWS, with a pause between them
in which waiting writers take the lock. A crash midway leaves the rows written so far, and the
retry adds the rest. Both writers skip keys the project already has.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from django.db import connection, transaction
from django.utils import timezone

from projects.models import ImportJob, Item, ItemStatus
from projects.services.imports.rows import Row

SPOOL_BATCH_ROWS = 5_000
SQLITE_BATCH_ROWS = 2_000
SQLITE_PAUSE_MIN_SECONDS = 0.005
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


def items_insert_sqlite(
    *,
    job: ImportJob,
    spool: Spool,
    image_ids: dict[str, int],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Insert the rows in transactions of SQLITE_BATCH_ROWS, skipping keys the project has,
    and pause after each for half as long as it held the write lock (at least
    SQLITE_PAUSE_MIN_SECONDS): a claim waiting on the lock (SQLite polls for it) takes it then.
    Call outside a transaction. `progress(done)` follows the rows written."""
    quote = connection.ops.quote_name
    column = {f.name: quote(f.column) for f in Item._meta.concrete_fields if f.column}
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    names = ["project", "import_job", "status", "slots_taken", "annotation_count", "change_count",
             "created_at", "updated_at", *(name for name, _ in COPY_FIELDS)]  # fmt: skip
    statement = (
        f"INSERT INTO {quote(Item._meta.db_table)} ({', '.join(column[n] for n in names)}) "
        f"VALUES ({', '.join(['%s'] * len(names))}) "
        f"ON CONFLICT ({column['project']}, {column['key']}) DO NOTHING"
    )
    fixed = (job.project_id, job.pk, ItemStatus.OPEN.value, 0, 0, 0, now, now)
    done = 0
    for rows in _rebatched(spool.batches(), SQLITE_BATCH_ROWS):
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                statement,
                [
                    (*fixed, key, text, data, content_hash, priority, shuffle, gold,
                     gold is not None, image_ids[image] if image else None)
                    for key, text, data, content_hash, priority, shuffle, gold, image in rows
                ],
            )  # fmt: skip
        held = time.monotonic() - started
        done += len(rows)
        if progress is not None:
            progress(done)
        time.sleep(max(SQLITE_PAUSE_MIN_SECONDS, held / 2))


def _rebatched(batches: Iterator[list[SpooledRow]], size: int) -> Iterator[list[SpooledRow]]:
    pending: list[SpooledRow] = []
    for batch in batches:
        pending.extend(batch)
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending
