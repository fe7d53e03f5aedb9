"""The frame of a management command that imports a file into a project as a job, in this
process, with a progress bar (`import_items`, `import_annotations`): the same services as an
upload in the UI or the API, run here rather than by a Celery worker. Exits non-zero, printing
the problems, when the file is rejected."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.jobs.cli import progress_bar
from core.jobs.models import Job, JobStatus
from projects.models import Project, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class FileImportCommand(BaseCommand):
    """Subclasses say what they import (`what`, `formats`, `default_format`), create the job
    (`create`) and run it (`run`), and sum up a finished job (`summary`)."""

    what = "items"
    formats: list[str] = []
    default_format = "auto"

    def create(self, *, project: Project, file: File, user: User | None, format: str) -> Job:
        raise NotImplementedError

    def run(self, *, job_id: int, progress: Any) -> Any:
        raise NotImplementedError

    def summary(self, job: Any) -> str:
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id", type=int, help="The project's id.")
        parser.add_argument("path", type=Path, help="The file to import.")
        parser.add_argument(
            "--format", choices=self.formats, default=self.default_format,
            help="The file's format (default: from the file name, else from its content).",
        )  # fmt: skip
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
                job = self.create(
                    project=project, file=File(handle, name=path.name), user=user,
                    format=options["format"],
                )  # fmt: skip
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
        kind = str(job._meta.verbose_name).capitalize()
        self.stdout.write(
            f"{kind} {job.pk}: {path.name} ({job.get_format_display()}) into {project}"  # type: ignore[attr-defined]
        )
        with progress_bar(" rows") as progress:
            job = self.run(job_id=job.pk, progress=progress)
        if job.status != JobStatus.SUCCEEDED:
            for problem in job.errors:
                self.stderr.write(f"  {problem['text']}")
            raise CommandError(job.message)
        self.stdout.write(self.style.SUCCESS(job.message))
        self.stdout.write(self.summary(job))

    def _user(self, username: str | None, project: Project) -> User | None:
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        is_lead = project.memberships.filter(user=user, role=Role.LEAD).exists()
        if not (is_lead or user.is_staff):
            raise CommandError(
                f"{username} does not lead {project}; only leads import {self.what}."
            )
        return user
