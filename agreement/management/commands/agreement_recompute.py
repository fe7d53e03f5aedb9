"""`manage.py agreement_recompute <project_id>`: recompute a project's agreement in this process,
with a progress bar: the same service and job row as the dashboard's and the API's button."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agreement.services.recompute import agreement_recompute_request, agreement_recompute_run
from core.jobs.cli import progress_bar
from core.jobs.models import JobStatus
from projects.models import Project


class Command(BaseCommand):
    help = (
        "Recompute a project's agreement: every item's consensus and status, the label model, "
        "the project's figures and the raters' scorecards. Safe while raters label."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id", type=int, help="The project's id.")
        parser.add_argument("--user", help="Username recorded as having asked for it.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(pk=options["project_id"]).first()
        if project is None:
            raise CommandError(f"No project with id {options['project_id']}.")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
        job = agreement_recompute_request(project=project, requested_by=user, enqueue=False)
        if job.status == JobStatus.RUNNING:
            raise CommandError(
                f"Recompute {job.pk} of {project} is already running (phase: {job.phase}); "
                "wait for it, or retry it once it has stalled."
            )
        self.stdout.write(f"Agreement recompute {job.pk} of {project}")
        with progress_bar(" items") as progress:
            job = agreement_recompute_run(job_id=job.pk, progress=progress)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(job.message)
        self.stdout.write(self.style.SUCCESS(job.message))
