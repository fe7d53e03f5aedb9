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

import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar, cast

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model

Row = tuple[Any, ...]


def _db() -> Any:
    """The default connection itself. `django.db.connection` is a proxy that looks the
    connection up at every attribute access, which a hot path pays for dozens of times."""
    return connections[DEFAULT_DB_ALIAS]


def locking(clause: str) -> str:
    """A row-locking clause (`FOR UPDATE ...`) on PostgreSQL; nothing on SQLite."""
    return f" {clause}" if _db().vendor == "postgresql" else ""


@contextmanager
def _cursor() -> Iterator[tuple[Any, Any]]:
    """The connection and a cursor that lets PostgreSQL keep each statement prepared.

    Django's own PostgreSQL cursors bind parameters on the client, so the server parses and
    plans every statement anew. A plain psycopg cursor on the same connection binds on the
    server, and psycopg prepares a statement once it has run `prepare_threshold` times on the
    connection (DATABASES OPTIONS, config/settings/base.py). Same connection, same transaction;
    errors are Django's (IntegrityError, ...), and the statement is recorded where Django
    records queries (tests that count queries, DEBUG)."""
    db = _db()
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield db, cursor
        return
    import psycopg

    if db.connection is None:
        db.ensure_connection()
    db.validate_no_broken_transaction()
    # One cursor per connection, kept: making a psycopg cursor copies the connection's adapters.
    cursor = db.__dict__.get("_accord_cursor")
    if cursor is None or cursor.connection is not db.connection or cursor.closed:
        cursor = db.__dict__["_accord_cursor"] = psycopg.Cursor(db.connection)
    with db.wrap_database_errors:
        yield db, cursor


def _execute(sql: str, params: Sequence[Any], many: bool, context: dict[str, Any]) -> None:
    # Innermost, as in Django's CursorWrapper: wrappers see Django's exceptions.
    with context["connection"].wrap_database_errors:
        context["cursor"].execute(sql, params)


def _through_wrappers(db: Any, cursor: Any, sql: str, params: Sequence[Any]) -> None:
    """Hooks installed with `connection.execute_wrapper()` (APM agents, query counters) see these
    statements as they see the ORM's, in the order Django calls them; context["cursor"] is the
    psycopg cursor itself, not Django's CursorWrapper."""
    executor = _execute
    for wrapper in reversed(db.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    executor(sql, params, False, {"connection": db, "cursor": cursor})


def _run(db: Any, cursor: Any, sql: str, params: Sequence[Any]) -> None:
    if db.vendor != "postgresql":
        cursor.execute(sql, params)  # Django's cursor: it calls the wrappers and logs itself
        return
    start = time.monotonic() if db.queries_logged else None
    try:
        if db.execute_wrappers:
            _through_wrappers(db, cursor, sql, params)
        else:
            cursor.execute(sql, params)
    finally:
        if start is not None:
            db.queries_log.append(
                {"sql": f"{sql} -- {list(params)!r}", "time": f"{time.monotonic() - start:.3f}",
                 "statement": sql, "params": list(params)}
            )  # fmt: skip


def fetch_all(sql: str, params: Sequence[Any]) -> list[Row]:
    with _cursor() as (db, cursor):
        _run(db, cursor, sql, params)
        return cursor.fetchall()


def fetch_one(sql: str, params: Sequence[Any]) -> Row | None:
    with _cursor() as (db, cursor):
        _run(db, cursor, sql, params)
        return cursor.fetchone()


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run a statement; return how many rows it changed."""
    with _cursor() as (db, cursor):
        _run(db, cursor, sql, params)
        return cursor.rowcount


def param(model: type[Model], field: str, value: Any) -> Any:
    """`value` as the database stores `model.field` (a UUID as hex on SQLite, JSON wrapped for
    psycopg, a datetime as text on SQLite), as the ORM would write it."""
    return cast(Field, model._meta.get_field(field)).get_db_prep_save(value, _db())


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
        self._columns: dict[str, str] = {}

    def columns(self, alias: str = "") -> str:
        if alias not in self._columns:
            prefix = f"{alias}." if alias else ""
            self._columns[alias] = ", ".join(f"{prefix}{field.column}" for field in self.fields)
        return self._columns[alias]

    def _converters_now(self, db: Any) -> list[tuple[int, list[Any]]]:
        if db.vendor not in self._converters:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                funcs = db.ops.get_db_converters(column) + field.get_db_converters(db)
                if funcs:
                    found.append((index, funcs))
            self._converters[db.vendor] = found
        return self._converters[db.vendor]

    def load(self, values: Sequence[Any]) -> M:
        db = _db()
        converted = list(values)
        for index, funcs in self._converters_now(db):
            value = converted[index]
            for func in funcs:
                value = func(value, self.fields[index], db)
            converted[index] = value
        return self.model.from_db(db.alias, self.attnames, converted)
