"""Bulk statements for the import's batches, on PostgreSQL and SQLite.

On PostgreSQL rows go in with COPY (psycopg formats them in C), and lists go as one array
parameter (`= ANY(%s)`), so that every statement keeps one short text: a statement with a
thousand `%s` placeholders is a new text at every size, which psycopg parses afresh each time
and the server plans afresh, at a cost above that of the writes themselves. New rows take their
ids from the table's sequence first, so that COPY (which returns nothing) can be told them.
SQLite has neither: there rows go as multi-row VALUES, in chunks below its parameter limit.

Values are given as Python values (a JSON field's as the object it holds), and adapted here as
the ORM would write them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, JSONField, Model

from core import sql

SQLITE_MAX_PARAMETERS = 30_000  # SQLite's limit is 32,766 (since 3.32)


def any_of(column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
    """A condition that `column` is one of `values`, and its parameters."""
    listed = list(values)
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [listed]
    return f"{column} IN ({', '.join(['%s'] * len(listed))})", listed


def pairs_select(
    table: str, columns: str, pairs: Sequence[tuple[int, int]], *, lock: str = ""
) -> tuple[str, list[Any]]:
    """A SELECT of `columns` from the rows of `table` whose (item_id, rater_id) is one of
    `pairs` (sorted), with `lock` (a locking clause, PostgreSQL only), and its parameters.

    On PostgreSQL, one probe of the (item, rater) index per pair, in the order of the pairs:
    the LIMIT keeps the planner from turning the lateral subquery into a join, which it would
    answer with a scan of the whole table (and two `= ANY` conditions would probe every item
    against every rater)."""
    if connection.vendor == "postgresql":
        locking = f" {lock}" if lock else ""
        return (
            f"SELECT t.* FROM unnest(%s::bigint[], %s::integer[]) AS p (item_id, rater_id)"
            f" CROSS JOIN LATERAL (SELECT {columns} FROM {table}"
            f" WHERE item_id = p.item_id AND rater_id = p.rater_id LIMIT 1{locking}) t",
            [[item for item, _ in pairs], [rater for _, rater in pairs]],
        )
    marks = ", ".join(["(%s, %s)"] * len(pairs))
    return (
        f"SELECT {columns} FROM {table} WHERE (item_id, rater_id) IN (VALUES {marks})",
        [value for pair in pairs for value in pair],
    )


def rows_insert(
    model: type[Model], columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
    with_ids: bool = False,
) -> list[int]:  # fmt: skip
    """Insert `rows` (the values of `columns`) into the model's table. With `with_ids`, return
    the new rows' ids, in the order of `rows`."""
    if not rows:
        return []
    fields = {field.column: field for field in model._meta.concrete_fields}
    chosen = [fields[column] for column in columns]
    if connection.vendor == "postgresql":
        return _copy(model, chosen, rows, with_ids=with_ids)
    return _values(model, chosen, rows, with_ids=with_ids)


def _copy(
    model: type[Model], fields: list[Field[Any, Any]], rows: Sequence[Sequence[Any]], *,
    with_ids: bool,
) -> list[int]:  # fmt: skip
    table = model._meta.db_table
    names = [str(field.column) for field in fields]
    json_columns = [n for n, field in enumerate(fields) if isinstance(field, JSONField)]
    ids: list[int] = []
    if with_ids:
        assert model._meta.pk is not None
        ids = [row[0] for row in sql.fetch_all(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, model._meta.pk.column, len(rows)],
        )]  # fmt: skip
        names.insert(0, str(model._meta.pk.column))
    statement = f"COPY {table} ({', '.join(names)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for position, row in enumerate(rows):
            values = list(row)
            for n in json_columns:
                values[n] = json.dumps(values[n])
            if with_ids:
                values.insert(0, ids[position])
            copy.write_row(values)
    return ids


def _values(
    model: type[Model], fields: list[Field[Any, Any]], rows: Sequence[Sequence[Any]], *,
    with_ids: bool,
) -> list[int]:  # fmt: skip
    table = model._meta.db_table
    names = ", ".join(str(field.column) for field in fields)
    # The fields whose values the database stores in another form (uuids, times, JSON).
    adapted = [
        (n, field) for n, field in enumerate(fields)
        if field.get_internal_type() in ("UUIDField", "DateTimeField", "JSONField")
    ]  # fmt: skip
    per_statement = max(1, SQLITE_MAX_PARAMETERS // len(fields))
    row_marks = f"({', '.join(['%s'] * len(fields))})"
    ids: list[int] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        params: list[Any] = []
        for row in chunk:
            values = list(row)
            for n, field in adapted:
                values[n] = field.get_db_prep_save(values[n], connection)
            params += values
        statement = f"INSERT INTO {table} ({names}) VALUES {', '.join([row_marks] * len(chunk))}"
        if with_ids:
            # In the order of the VALUES, as Django's bulk_create reads them on SQLite too.
            ids += [row[0] for row in sql.fetch_all(f"{statement} RETURNING id", params)]
        else:
            sql.execute(statement, params)
    return ids
