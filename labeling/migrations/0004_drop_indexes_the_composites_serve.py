"""Drop the single-column indexes of foreign keys that a composite index already leads with.

Only the indexes go: the database operations are plain DROP INDEX statements, so the foreign-key
constraints are kept as they are (Django's own AlterField would drop and re-add them, which
re-checks every row of the table under a lock).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
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
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "labeling_annotation_item_id_b8a53f88"',
                    'CREATE INDEX "labeling_annotation_item_id_b8a53f88" ON "labeling_annotation" ("item_id")',
                ),
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
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "labeling_annotation_project_id_a017b813"',
                    'CREATE INDEX "labeling_annotation_project_id_a017b813" ON "labeling_annotation" ("project_id")',
                ),
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
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "labeling_annotationrevision_annotation_id_9b1667fc"',
                    'CREATE INDEX "labeling_annotationrevision_annotation_id_9b1667fc" ON "labeling_annotationrevision" ("annotation_id")',
                ),
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
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "labeling_assignment_assigned_by_id_cbc97da3"',
                    'CREATE INDEX "labeling_assignment_assigned_by_id_cbc97da3" ON "labeling_assignment" ("assigned_by_id")',
                ),
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
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "labeling_assignment_item_id_1719d8a2"',
                    'CREATE INDEX "labeling_assignment_item_id_1719d8a2" ON "labeling_assignment" ("item_id")',
                ),
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
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "labeling_assignment_project_id_184e5909"',
                    'CREATE INDEX "labeling_assignment_project_id_184e5909" ON "labeling_assignment" ("project_id")',
                ),
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
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "labeling_assignment_rater_id_2667265e"',
                    'CREATE INDEX "labeling_assignment_rater_id_2667265e" ON "labeling_assignment" ("rater_id")',
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="assignment",
            index=models.Index(
                condition=models.Q(("assigned_by__isnull", False)),
                fields=["assigned_by"],
                name="assignment_assigned_by",
            ),
        ),
    ]
