"""`manage.py recount_counters [project_id ...] [--check]`: recount the labeling counters.

Items' slots and annotation counts, their engine status, and members' labeled counts are
recounted from the assignment and annotation rows (`labeling.counters`), with a progress bar,
and those that disagree are repaired. Safe on a live project. `--check` only reports, and exits
with 1 when something disagrees (for a cron job or a deploy's last step).
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from labeling.counters import counters_recount
from projects.models import Project

SHOWN_CHANGES = 50


class Command(BaseCommand):
    help = (
        "Recount items' slots, annotation counts and statuses, and members' labeled counts, "
        "from the assignment and annotation rows; repair those that drifted (--check: only "
        "report)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "project_ids", nargs="*", type=int, help="Projects to recount (default: all)."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only report what disagrees, change nothing; exit with 1 if anything does.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        wanted: list[int] = options["project_ids"]
        projects = Project.objects.order_by("pk")
        if wanted:
            projects = projects.filter(pk__in=wanted)
            missing = sorted(set(wanted) - set(projects.values_list("pk", flat=True)))
            if missing:
                raise CommandError(f"No project with id {', '.join(map(str, missing))}.")
        fix = not options["check"]
        drifted = 0
        for project in projects:
            with tqdm(
                desc=f"project {project.pk}", unit=" items", file=sys.stderr, disable=None,
                dynamic_ncols=True,
            ) as bar:  # fmt: skip

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                report = counters_recount(project=project, fix=fix, progress=progress)
            verb = "repaired" if fix else "disagree"
            summary = (
                f"Project {project.pk} ({project.name}): {report.items_checked} items and "
                f"{report.memberships_checked} members checked; "
            )
            if report.clean:
                self.stdout.write(summary + "every counter agrees with its rows.")
                continue
            drifted += 1
            self.stdout.write(summary + f"{len(report.changes)} counters {verb}:")
            for line in report.changes[:SHOWN_CHANGES]:
                self.stdout.write(f"  {line}")
            if len(report.changes) > SHOWN_CHANGES:
                self.stdout.write(f"  ... and {len(report.changes) - SHOWN_CHANGES} more")
        if drifted and not fix:
            raise CommandError(
                f"Counters disagree with their rows in {drifted} project(s); run without "
                "--check to repair them.",
                returncode=1,
            )
