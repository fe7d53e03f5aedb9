"""Benchmark: the labeling page's remaining figures, counted on a 1,000,000-item project.

    .venv/bin/python bench/remaining.py [--items 1000000] [--runs 7] [--record]

The count runs on the Celery worker once per ACCORD_PROGRESS_CACHE_SECONDS for each project
being labeled (labeling/progress.py); the claim itself only reads its cached result. This times
that count on PostgreSQL: the items that still need a label (the count the page had before it
showed each rater's share: the status index, less the gold items), and the whole count with
each member's share of them (one pass over the assignments of the items still open).

The project (made once, then reused; found by its name) has k=3 and 16 raters: a tenth of its
items fully labeled (three submitted assignments each), three hundredths in progress with two,
the rest open. The database comes from DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/accord_bench, created and migrated when missing).
`--record` appends the figures and the machine to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accord_bench"
RESULTS = ROOT / "bench" / "RESULTS.md"
RATERS = 16


def setup() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    url = os.environ["DATABASE_URL"]
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/remaining.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    name = url.rsplit("/", 1)[-1]
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name],
                   capture_output=True, check=False)  # fmt: skip
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def project_of(items: int) -> Any:
    """The bench's project of `items` items, made with SQL the first time."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from labeling.members import membership_set
    from projects.models import Project, Role
    from projects.services.projects import project_create

    name = f"bench: remaining figures, {items:,} items"
    project = Project.objects.filter(name=name).first()
    if project is not None:
        return project
    label = {"value": "a", "display_name": "A", "color": "#4f6bed", "hotkey": "1"}
    project = project_create(created_by=None, name=name, raters_per_item=3, labels=[label])
    accounts = get_user_model()
    raters = [accounts.objects.get_or_create(username=f"bench-remaining-{n}")[0]
              for n in range(RATERS)]  # fmt: skip
    for rater in raters:
        membership_set(project=project, user=rater, role=Role.RATER)
    labeled, started = items // 10, items // 10 + items * 3 // 100
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projects_item (project_id, key, text, data, content_hash, status,"
            " slots_taken, annotation_count, priority, shuffle_key, is_gold, change_count,"
            " created_at, updated_at)"
            " SELECT %s, 'k' || g, 'text ' || g, '{}', md5(g::text),"
            " CASE WHEN g <= %s THEN 'labeled' WHEN g <= %s THEN 'in_progress' ELSE 'open' END,"
            " CASE WHEN g <= %s THEN 3 WHEN g <= %s THEN 2 ELSE 0 END,"
            " CASE WHEN g <= %s THEN 3 WHEN g <= %s THEN 2 ELSE 0 END,"
            " 0, (g * 2654435761) %% 2147483647, false, 0, now(), now()"
            " FROM generate_series(1, %s) g",
            [project.pk, labeled, started, labeled, started, labeled, started, items],
        )
        # Three raters on each labeled item and two on each started one, taking turns.
        cursor.execute(
            "INSERT INTO labeling_assignment (project_id, item_id, rater_id, status, skip_reason,"
            " is_gold, created_at, updated_at)"
            " SELECT i.project_id, i.id, (%s::int[])[1 + ((i.id + o) %% %s)], 'submitted', '',"
            " false, now(), now()"
            " FROM projects_item i CROSS JOIN (VALUES (0), (5), (11)) AS turn(o)"
            " WHERE i.project_id = %s AND i.slots_taken > 0 AND (i.slots_taken = 3 OR o < 11)",
            [[r.pk for r in raters], RATERS, project.pk],
        )
        cursor.execute("ANALYZE projects_item")
        cursor.execute("ANALYZE labeling_assignment")
    return project


def timed(count: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = count()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def machine() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores (nproc), {memory_kb / 2**20:.0f} GiB memory, "
        f"{platform.platform()}, Python {platform.python_version()}, PostgreSQL {postgres}. "
        f"Load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    options = parser.parse_args()
    setup()
    from django.db.models import Count

    from labeling import progress
    from labeling.models import Assignment
    from projects.models import Item

    project = project_of(options.items)
    where = machine()
    open_items = Item.objects.filter(project=project, status__in=progress.OPEN_STATUSES)

    def items_only() -> int:
        with progress._counting():
            return open_items.count() - open_items.filter(is_gold=True).count()

    items_ms, remaining = timed(items_only, options.runs)
    full_ms, figures = timed(lambda: progress._remaining_count(project.pk), options.runs)
    assignments = Assignment.objects.filter(project=project).aggregate(n=Count("id"))["n"]
    lines = [
        f"remaining.project items={options.items} assignments={assignments} "
        f"raters={RATERS} k=3 need_labels={remaining}",
        f"remaining.items_only runs={options.runs} median_ms={statistics.median(items_ms):.0f} "
        f"min_ms={min(items_ms):.0f}",
        f"remaining.with_rater_shares runs={options.runs} "
        f"median_ms={statistics.median(full_ms):.0f} min_ms={min(full_ms):.0f} "
        f"left_for_a_rater={figures.for_rater(min(figures.rater_bases), labeled_total=0)}",
    ]
    print("\n".join(lines))
    if options.record:
        command = "python bench/remaining.py " + " ".join(sys.argv[1:])
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## {date.today().isoformat()}: the labeling page's remaining figures, "
                f"counted on {options.items:,} items\n\n"
                f"Machine: {where}.\nCommand: `{command.strip()}`. One core (no parallel "
                "workers), one snapshot, as the worker counts.\n\n"
                "```\n" + "\n".join(lines) + "\n```\n"
            )


if __name__ == "__main__":
    main()
