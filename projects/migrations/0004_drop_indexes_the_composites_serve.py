"""Drop the single-column index of a foreign key that a composite index already leads with:
membership's project (membership_unique_user). Only the index goes, concurrently on PostgreSQL
(projects/migrations/_indexes.py)."""

import django.db.models.deletion
from django.db import migrations, models

from projects.migrations._indexes import fk_index_drop


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run inside a transaction
    dependencies = [
        ("projects", "0003_membership_labeled_counts"),
    ]

    operations = [
        fk_index_drop(
            "membership", "project",
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                              related_name="memberships", to="projects.project"),
            "projects_membership_project_id_5f65bf3f", "projects_membership",
        ),  # fmt: skip
    ]
