"""Drop the single-column indexes of foreign keys that a composite index already leads with.

Only the indexes go: the database operations are DROP INDEX statements, so the foreign-key
constraints are kept as they are (Django's own AlterField would drop and re-add them, which
re-checks every row of the table under a lock). On PostgreSQL they run CONCURRENTLY, outside a
transaction, so that raters can keep labeling during the migration.
"""

import django.db.models.deletion
from django.db import migrations, models


def index_drop(name: str, table: str, column: str) -> migrations.RunPython:
    """Drop a single-column index (re-created on the way back). On PostgreSQL CONCURRENTLY, so
    that the labeling tables stay readable and writable meanwhile: the migration is not atomic,
    and each step can be re-run."""

    def forwards(apps, schema_editor):
        schema_editor.execute(f'DROP INDEX{_concurrently(schema_editor)} IF EXISTS "{name}"')

    def backwards(apps, schema_editor):
        schema_editor.execute(
            f'CREATE INDEX{_concurrently(schema_editor)} IF NOT EXISTS "{name}"'
            f' ON "{table}" ("{column}")'
        )

    return migrations.RunPython(forwards, backwards)


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run inside a transaction
    dependencies = [
        ("projects", "0003_membership_labeled_counts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="membership",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="projects.project",
                    ),
                )
            ],
            database_operations=[
                index_drop("projects_membership_project_id_5f65bf3f", "projects_membership", "project_id"),
            ],
        ),
    ]
