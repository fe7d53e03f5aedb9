"""Drop the single-column indexes of foreign keys that a composite index already leads with.

Only the indexes go: the database operations are DROP INDEX statements, so the foreign-key
constraints are kept as they are (Django's own AlterField would drop and re-add them, which
re-checks every row of the table under a lock). On PostgreSQL they run CONCURRENTLY, outside a
transaction, so that raters can keep labeling during the migration.
"""

import django.db.models.deletion
from django.conf import settings
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


def assigner_index(apps, schema_editor):
    schema_editor.execute(
        f'CREATE INDEX{_concurrently(schema_editor)} IF NOT EXISTS "assignment_assigned_by"'
        ' ON "labeling_assignment" ("assigned_by_id") WHERE "assigned_by_id" IS NOT NULL'
    )


def assigner_index_drop(apps, schema_editor):
    schema_editor.execute(f'DROP INDEX{_concurrently(schema_editor)} IF EXISTS "assignment_assigned_by"')


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run inside a transaction
    dependencies = [
        ("labeling", "0003_assignment_rater_protect"),
        ("projects", "0004_drop_indexes_the_composites_serve"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="annotation",
                    name="item",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="annotations",
                        to="projects.item",
                    ),
                )
            ],
            database_operations=[
                index_drop("labeling_annotation_item_id_b8a53f88", "labeling_annotation", "item_id"),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="annotation",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="annotations",
                        to="projects.project",
                    ),
                )
            ],
            database_operations=[
                index_drop("labeling_annotation_project_id_a017b813", "labeling_annotation", "project_id"),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="annotationrevision",
                    name="annotation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="revisions",
                        to="labeling.annotation",
                    ),
                )
            ],
            database_operations=[
                index_drop("labeling_annotationrevision_annotation_id_9b1667fc", "labeling_annotationrevision", "annotation_id"),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="assignment",
                    name="assigned_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                )
            ],
            database_operations=[
                index_drop("labeling_assignment_assigned_by_id_cbc97da3", "labeling_assignment", "assigned_by_id"),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="assignment",
                    name="item",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to="projects.item",
                    ),
                )
            ],
            database_operations=[
                index_drop("labeling_assignment_item_id_1719d8a2", "labeling_assignment", "item_id"),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="assignment",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="projects.project",
                    ),
                )
            ],
            database_operations=[
                index_drop("labeling_assignment_project_id_184e5909", "labeling_assignment", "project_id"),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="assignment",
                    name="rater",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="assignments",
                        to=settings.AUTH_USER_MODEL,
                    ),
                )
            ],
            database_operations=[
                index_drop("labeling_assignment_rater_id_2667265e", "labeling_assignment", "rater_id"),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="assignment",
                    index=models.Index(
                        condition=models.Q(("assigned_by__isnull", False)),
                        fields=["assigned_by"],
                        name="assignment_assigned_by",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(assigner_index, assigner_index_drop)],
        ),
    ]
