"""`manage.py import_items <project_id> <path>`: import a file into a project, in this process.

The same service as an upload in the UI or the API (`projects.services.imports`), run here
rather than by a Celery worker, with a progress bar. Exits non-zero, printing the problems,
when the file is rejected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.files import File

from projects.management.file_import import FileImportCommand
from projects.models import ImportFormat, ImportJob, Project
from projects.services.imports import import_job_create, import_job_run

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Command(FileImportCommand):
    help = (
        "Import items into a project from a CSV, JSONL or JSON file, or a ZIP of images "
        "(with an optional manifest.csv or manifest.jsonl), with a progress bar."
    )
    what = "items"
    formats = list(ImportFormat.values)
    default_format = ImportFormat.AUTO

    def create(self, *, project: Project, file: File, user: User | None, format: str) -> ImportJob:
        return import_job_create(
            project=project, uploaded_file=file, created_by=user, source="cli", format=format,
            enqueue=False,
        )  # fmt: skip

    def run(self, *, job_id: int, progress: Any) -> ImportJob:
        return import_job_run(job_id=job_id, progress=progress)

    def summary(self, job: ImportJob) -> str:
        return f"created={job.created_count} duplicates={job.duplicate_count}"
