"""`manage.py import_annotations <project_id> <path>`: import annotations made elsewhere into a
project, in this process.

The same service as an upload in the UI or the API (`labeling.imports`), run here rather than by
a Celery worker, with a progress bar. Exits non-zero, printing the problems, when the file is
rejected.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.jobs.cli import progress_bar
from core.jobs.models import JobStatus
from labeling.imports import annotation_import_create, annotation_import_run
from labeling.models import AnnotationImportFormat
from projects.models import Project, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Command(BaseCommand):
    help = (
        "Import annotations made elsewhere into a project from a CSV or JSON Lines file of "
        "item_key, rater, value (and optional created_at, time_spent_ms), with a progress bar. "
        "A rater that is not a member's username becomes an external rater of the project."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id", type=int, help="The project's id.")
        parser.add_argument("path", type=Path, help="The file to import.")
        parser.add_argument(
            "--format",
            choices=AnnotationImportFormat.values,
            default=AnnotationImportFormat.AUTO,
            help="The file's format (default: from the file name, else from its content).",
        )
        parser.add_argument(
            "--user", help="Username recorded as the importer; must lead the project."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(pk=options["project_id"]).first()
        if project is None:
            raise CommandError(f"No project with id {options['project_id']}.")
        user = self._user(options["user"], project)
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"No file at {path}.")

        with path.open("rb") as handle:
            try:
                job = annotation_import_create(
                    project=project,
                    uploaded_file=File(handle, name=path.name),
                    created_by=user,
                    source="cli",
                    format=options["format"],
                    enqueue=False,
                )
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(
            f"Annotation import {job.pk}: {path.name} ({job.get_format_display()}) into {project}"
        )

        with progress_bar(" rows") as progress:
            job = annotation_import_run(job_id=job.pk, progress=progress)

        if job.status != JobStatus.SUCCEEDED:
            for problem in job.errors:
                self.stderr.write(f"  {problem['text']}")
            raise CommandError(job.message)
        self.stdout.write(self.style.SUCCESS(job.message))
        self.stdout.write(
            f"created={job.created_count} changed={job.changed_count} "
            f"unchanged={job.unchanged_count} closed={job.closed_count} "
            f"external_raters={job.external_rater_count}"
        )

    def _user(self, username: str | None, project: Project) -> User | None:
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        is_lead = project.memberships.filter(user=user, role=Role.LEAD).exists()
        if not (is_lead or user.is_staff):
            raise CommandError(
                f"{username} does not lead {project}; only leads import annotations."
            )
        return user
