"""Helpers for the hand-written SQL of the hot path: a rater's claim and submit, and the
lookups every API request makes (the token, the project with the caller's role).

Why SQL rather than the ORM there: a rater's page makes one claim and one submit per item, and
at a hundred annotations a second those two requests are the whole load of the server. Built
with the ORM they ran about thirteen queries each, and compiling those queries cost some 30 ms
of CPU per annotation: the bound of the whole system (bench/RESULTS.md). Written out, each
statement costs a few tens of microseconds of Python.

The same SQL serves PostgreSQL and SQLite. The only difference is row locking, which SQLite
has no syntax for and does not need: its write transactions are serialized whole
(`BEGIN IMMEDIATE`, config/settings/base.py), so `locking(...)` adds the clause on PostgreSQL
only. Values go in through the model fields' own adapters (`param`) and come back through their
converters (`Loader`), so both databases read and write the same representation the ORM does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from django.db import connection
from django.db.models import Model

Row = tuple[Any, ...]


def locking(clause: str) -> str:
    """A row-locking clause (`FOR UPDATE ...`) on PostgreSQL; nothing on SQLite."""
    return f" {clause}" if connection.vendor == "postgresql" else ""


@contextmanager
def _cursor() -> Iterator[Any]:
    """A cursor that lets PostgreSQL keep each statement prepared.

    Django's own PostgreSQL cursors bind parameters on the client, so the server parses and
    plans every statement anew. A plain psycopg cursor on the same connection binds on the
    server, and psycopg prepares a statement once it has run `prepare_threshold` times on the
    connection (DATABASES OPTIONS, config/settings/base.py). Same connection, same transaction;
    errors are Django's (IntegrityError, ...), and the statement is recorded where Django
    records queries (tests that count queries, DEBUG)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def _run(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    if connection.vendor != "postgresql" or not connection.queries_logged:
        cursor.execute(sql, params)
        return
    start = time.monotonic()
    try:
        cursor.execute(sql, params)
    finally:
        connection.queries_log.append(
            {"sql": f"{sql} -- {list(params)!r}", "time": f"{time.monotonic() - start:.3f}"}
        )


def fetch_all(sql: str, params: Sequence[Any]) -> list[Row]:
    with _cursor() as cursor:
        _run(cursor, sql, params)
        return cursor.fetchall()


def fetch_one(sql: str, params: Sequence[Any]) -> Row | None:
    with _cursor() as cursor:
        _run(cursor, sql, params)
        return cursor.fetchone()


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run a statement; return how many rows it changed."""
    with _cursor() as cursor:
        _run(cursor, sql, params)
        return cursor.rowcount


def param(model: type[Model], field: str, value: Any) -> Any:
    """`value` as the database stores `model.field` (a UUID as hex on SQLite, JSON wrapped for
    psycopg, a datetime as text on SQLite), as the ORM would write it."""
    return model._meta.get_field(field).get_db_prep_save(value, connection)


M = TypeVar("M", bound=Model)


class Loader(Generic[M]):
    """Reads rows of hand-written SQL into model instances, converting each value as the ORM
    does (JSON decoded, SQLite's booleans, datetimes and UUIDs), without a QuerySet.

    `columns(alias)` is the select list for `fields` (default: all), in model order;
    `load(values)` makes an instance of those values. Fields not loaded are deferred: they load
    from the database on first access, as with `QuerySet.only()`.
    """

    def __init__(self, model: type[M], fields: Sequence[str] | None = None) -> None:
        self.model = model
        concrete = model._meta.concrete_fields
        wanted = set(fields) if fields is not None else {f.attname for f in concrete}
        self.fields = [f for f in concrete if f.attname in wanted]
        self.attnames = tuple(f.attname for f in self.fields)
        self._converters: dict[str, list[tuple[int, list[Any]]]] = {}

    def columns(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(f"{prefix}{field.column}" for field in self.fields)

    def _converters_now(self) -> list[tuple[int, list[Any]]]:
        if connection.vendor not in self._converters:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                funcs = connection.ops.get_db_converters(column) + field.get_db_converters(
                    connection
                )
                if funcs:
                    found.append((index, funcs))
            self._converters[connection.vendor] = found
        return self._converters[connection.vendor]

    def load(self, values: Sequence[Any]) -> M:
        converted = list(values)
        for index, funcs in self._converters_now():
            value = converted[index]
            for func in funcs:
                value = func(value, self.fields[index], connection)
            converted[index] = value
        return self.model.from_db(connection.alias, self.attnames, converted)
