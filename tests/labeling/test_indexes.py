"""The labeling tables carry the indexes their queries need and no more, and autovacuum passes
over them gently: every claim and submit writes a new version of an assignment row into each of
its indexes, and autovacuum passes over each of them (bench/RESULTS.md, 2026-11-23)."""

from __future__ import annotations

import pytest
from django.db import connection

# The composite index that serves each foreign key, which therefore has no index of its own.
SERVED_BY = {
    "labeling_assignment": {
        ("project_id",): "assignment_rater_status",
        ("item_id",): "assignment_unique_rater",
        ("rater_id",): "assignment_rater_recent",
    },
    "labeling_annotation": {
        ("project_id",): "annotation_rater_day",
        ("item_id",): "annotation_unique_rater",
    },
    "labeling_annotationrevision": {("annotation_id",): "annotation_revision_unique"},
    "labeling_annotationlabel": {("annotation_id",): "annotation_label_unique"},
    "projects_membership": {("project_id",): "membership_unique_user"},
}


def indexes(table: str) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return {name: c["columns"] for name, c in found.items() if c["index"] or c["unique"]}


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(SERVED_BY))
def test_a_foreign_key_a_composite_index_leads_with_has_no_index_of_its_own(table: str) -> None:
    present = indexes(table)
    for columns, composite in SERVED_BY[table].items():
        assert present[composite][: len(columns)] == list(columns)
        alone = [name for name, cols in present.items() if tuple(cols) == columns]
        assert alone == [], f"{table}{columns} is indexed twice: {alone} and {composite}"


@pytest.mark.django_db
def test_the_assigner_is_indexed_only_where_there_is_one() -> None:
    # Deleting a user sets assigned_by to NULL: that needs an index, but only a lead's
    # assignments have an assigner.
    assert indexes("labeling_assignment")["assignment_assigned_by"] == ["assigned_by_id"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'assignment_assigned_by'"
            )
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'assignment_assigned_by'")
        (definition,) = cursor.fetchone()
    assert "IS NOT NULL" in definition


@pytest.mark.django_db
def test_autovacuum_passes_gently_over_the_labeling_tables_on_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL storage parameter; set DATABASE_URL=postgres://...")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)",
            [["labeling_assignment", "labeling_annotation", "labeling_annotationrevision",
              "projects_membership"]],
        )  # fmt: skip
        found = dict(cursor.fetchall())
    assert len(found) == 4
    for table, options in found.items():
        assert "autovacuum_vacuum_cost_delay=10" in (options or []), table


@pytest.mark.django_db(transaction=True)
def test_the_index_migration_runs_back_and_forth_outside_a_transaction() -> None:
    """On PostgreSQL the indexes are dropped and built CONCURRENTLY, which a transaction would
    refuse; back, the single-column indexes return."""
    from django.core.management import call_command

    call_command("migrate", "labeling", "0003", verbosity=0)
    try:
        present = indexes("labeling_assignment")
        assert present["labeling_assignment_item_id_1719d8a2"] == ["item_id"]
        assert "assignment_assigned_by" not in present
    finally:
        call_command("migrate", "labeling", verbosity=0)
    present = indexes("labeling_assignment")
    assert "labeling_assignment_item_id_1719d8a2" not in present
    assert present["assignment_assigned_by"] == ["assigned_by_id"]
