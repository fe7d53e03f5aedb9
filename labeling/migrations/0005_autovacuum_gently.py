"""PostgreSQL: autovacuum the labeling tables gently.

Every claim and submit leaves dead row versions in these tables, so autovacuum passes over
them about once a minute under load. Unthrottled (PostgreSQL's default cost delay of 2 ms
barely slows a pass over cached pages), a pass took a core for 0.3-0.5 s, and with the raters'
requests already keeping the server 70% busy, every claim in that second queued behind it
(bench/RESULTS.md, 2026-11-23). A longer delay spreads the same work over a few seconds. The
tables stay small next to their write rate, so the passes still keep up.
"""

from django.db import migrations

TABLES = (
    "labeling_assignment",
    "labeling_annotation",
    "labeling_annotationrevision",
    "projects_membership",
)
COST_DELAY_MS = 10  # PostgreSQL's default for autovacuum: 2


def gently(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f'ALTER TABLE "{table}" SET (autovacuum_vacuum_cost_delay = {COST_DELAY_MS})'
        )


def as_before(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f'ALTER TABLE "{table}" RESET (autovacuum_vacuum_cost_delay)')


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0004_drop_indexes_the_composites_serve"),
        ("projects", "0004_drop_indexes_the_composites_serve"),
    ]

    operations = [migrations.RunPython(gently, as_before)]
