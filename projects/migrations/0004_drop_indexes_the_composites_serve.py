"""Drop the single-column indexes of foreign keys that a composite index already leads with.

Only the indexes go: the database operations are plain DROP INDEX statements, so the foreign-key
constraints are kept as they are (Django's own AlterField would drop and re-add them, which
re-checks every row of the table under a lock).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
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
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "projects_membership_project_id_5f65bf3f"',
                    'CREATE INDEX "projects_membership_project_id_5f65bf3f" ON "projects_membership" ("project_id")',
                ),
            ],
        ),
    ]
