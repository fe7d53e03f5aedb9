"""Drop the single-column indexes of foreign keys that a composite index already leads with
(assignment: project, item, rater; annotation: project, item; revision: annotation), and index
`assigned_by` only where a lead set it. Only the indexes change, concurrently on PostgreSQL, so
that raters can keep labeling during the migration (projects/migrations/_indexes.py)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from projects.migrations._indexes import fk_index_drop, index_create

CASCADE, PROTECT, SET_NULL = (
    django.db.models.deletion.CASCADE,
    django.db.models.deletion.PROTECT,
    django.db.models.deletion.SET_NULL,
)


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run inside a transaction
    dependencies = [
        ("labeling", "0003_assignment_rater_protect"),
        ("projects", "0004_drop_indexes_the_composites_serve"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        fk_index_drop(
            "annotation", "item",
            models.ForeignKey(db_index=False, on_delete=CASCADE, related_name="annotations",
                              to="projects.item"),
            "labeling_annotation_item_id_b8a53f88", "labeling_annotation",
        ),
        fk_index_drop(
            "annotation", "project",
            models.ForeignKey(db_index=False, on_delete=CASCADE, related_name="annotations",
                              to="projects.project"),
            "labeling_annotation_project_id_a017b813", "labeling_annotation",
        ),
        fk_index_drop(
            "annotationrevision", "annotation",
            models.ForeignKey(db_index=False, on_delete=CASCADE, related_name="revisions",
                              to="labeling.annotation"),
            "labeling_annotationrevision_annotation_id_9b1667fc", "labeling_annotationrevision",
        ),
        fk_index_drop(
            "assignment", "assigned_by",
            models.ForeignKey(blank=True, db_index=False, null=True, on_delete=SET_NULL,
                              related_name="+", to=settings.AUTH_USER_MODEL),
            "labeling_assignment_assigned_by_id_cbc97da3", "labeling_assignment",
        ),
        fk_index_drop(
            "assignment", "item",
            models.ForeignKey(db_index=False, on_delete=CASCADE, related_name="assignments",
                              to="projects.item"),
            "labeling_assignment_item_id_1719d8a2", "labeling_assignment",
        ),
        fk_index_drop(
            "assignment", "project",
            models.ForeignKey(db_index=False, on_delete=CASCADE, related_name="+",
                              to="projects.project"),
            "labeling_assignment_project_id_184e5909", "labeling_assignment",
        ),
        fk_index_drop(
            "assignment", "rater",
            models.ForeignKey(db_index=False, on_delete=PROTECT, related_name="assignments",
                              to=settings.AUTH_USER_MODEL),
            "labeling_assignment_rater_id_2667265e", "labeling_assignment",
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
            database_operations=[
                index_create(
                    "assignment_assigned_by", "labeling_assignment", "assigned_by_id",
                    where='"assigned_by_id" IS NOT NULL',
                ),
            ],
        ),
    ]  # fmt: skip
