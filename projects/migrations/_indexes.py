"""Index operations for migrations that must not lock the labeling tables (the loader skips this
module: its name starts with an underscore). Migrations that use them set `atomic = False`:
on PostgreSQL the indexes are built and dropped CONCURRENTLY, which a transaction refuses."""

from django.db import migrations, models


def index_create(name: str, table: str, column: str, where: str = "") -> migrations.RunPython:
    """Build a single-column index (dropped on the way back). Each step can be re-run."""

    def create(apps, schema_editor):
        schema_editor.execute(
            f'CREATE INDEX{_concurrently(schema_editor)} IF NOT EXISTS "{name}"'
            f' ON "{table}" ("{column}"){f" WHERE {where}" if where else ""}'
        )

    def drop(apps, schema_editor):
        schema_editor.execute(f'DROP INDEX{_concurrently(schema_editor)} IF EXISTS "{name}"')

    return migrations.RunPython(create, drop)


def index_drop(name: str, table: str, column: str) -> migrations.RunPython:
    """Drop a single-column index (built again on the way back)."""
    create = index_create(name, table, column)
    assert create.reverse_code is not None  # index_create always builds both ways
    return migrations.RunPython(create.reverse_code, create.code)


def fk_index_drop(
    model_name: str, name: str, field: models.ForeignKey, index: str, table: str
) -> migrations.SeparateDatabaseAndState:
    """The foreign key `name` loses its own index (`db_index=False` in the state); the database
    drops only the index and keeps the constraint (Django's AlterField would drop and re-add the
    constraint, which re-checks every row of the table under a lock)."""
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name=model_name, name=name, field=field)],
        database_operations=[index_drop(index, table, f"{name}_id")],
    )


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
