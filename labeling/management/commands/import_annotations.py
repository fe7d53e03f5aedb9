"""`manage.py import_annotations <project_id> <path>`: import annotations made elsewhere into a
project, in this process.

The same service as an upload in the UI or the API (`labeling.imports`), run here rather than by
a Celery worker, with a progress bar. Exits non-zero, printing the problems, when the file is
rejected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.files import File

from labeling.imports import annotation_import_create, annotation_import_run
from labeling.models import AnnotationImportFormat, AnnotationImportJob
from projects.management.file_import import FileImportCommand
from projects.models import Project

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Command(FileImportCommand):
    help = (
        "Import annotations made elsewhere into a project from a CSV or JSON Lines file of "
        "item_key, rater, value (and optional created_at, time_spent_ms), with a progress bar. "
        "A rater that is not a member's username becomes an external rater of the project."
    )
    what = "annotations"
    formats = list(AnnotationImportFormat.values)
    default_format = AnnotationImportFormat.AUTO

    def create(
        self, *, project: Project, file: File, user: User | None, format: str
    ) -> AnnotationImportJob:
        return annotation_import_create(
            project=project, uploaded_file=file, created_by=user, source="cli", format=format,
            enqueue=False,
        )  # fmt: skip

    def run(self, *, job_id: int, progress: Any) -> AnnotationImportJob:
        return annotation_import_run(job_id=job_id, progress=progress)

    def summary(self, job: AnnotationImportJob) -> str:
        return (
            f"created={job.created_count} changed={job.changed_count} "
            f"unchanged={job.unchanged_count} closed={job.closed_count} "
            f"external_raters={job.external_rater_count}"
        )
