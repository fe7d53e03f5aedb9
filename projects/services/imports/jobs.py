"""Import jobs: create (store the upload, enqueue after commit), run, retry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from core.jobs.models import JobStatus
from core.jobs.services import (
    JobProgress,
    ProgressCallback,
    job_enqueue_on_commit,
    job_fail,
    job_retry,
    job_run,
    job_upload_save,
)
from core.readers import (
    FileRejected,
    Problems,
    Record,
    RowError,
    csv_records,
    json_array,
    json_records,
    jsonl_records,
    line_count,
)
from projects.models import ContentType, ImageBlob, ImportFormat, ImportJob, Item, Project
from projects.services.archive import project_ensure_writable
from projects.services.images import ImageInfo, image_store
from projects.services.imports.rows import RESERVED_FIELDS, RowValidator
from projects.services.imports.saving import (
    Spool,
    items_insert_postgresql,
    items_insert_sqlite,
)
from projects.services.imports.zips import ZipUpload

if TYPE_CHECKING:
    from django.contrib.auth.models import User


IMPORT_SOURCES = ("ui", "api", "cli")
FORMAT_BY_EXTENSION = {
    "csv": ImportFormat.CSV,
    "tsv": ImportFormat.CSV,
    "jsonl": ImportFormat.JSONL,
    "ndjson": ImportFormat.JSONL,
    "json": ImportFormat.JSON,
    "zip": ImportFormat.ZIP,
}

PHASE_READING = "reading"
PHASE_STORING_IMAGES = "storing images"
PHASE_SAVING = "saving"
PHASE_DONE = "done"
PHASE_REJECTED = "rejected"


# --- create, retry -----------------------------------------------------------------------------


def import_format_detect(*, name: str, head: bytes) -> str:
    """A file's format from its extension, else from its first bytes."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if extension == "json" and start.startswith(b"{"):
        return ImportFormat.JSONL  # JSON Lines saved as .json: an object on each line
    if extension in FORMAT_BY_EXTENSION:
        return FORMAT_BY_EXTENSION[extension]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ImportFormat.ZIP
    if start.startswith(b"["):
        return ImportFormat.JSON
    if start.startswith(b"{"):
        return ImportFormat.JSONL
    return ImportFormat.CSV


def _format_problem(*, project: Project, file_format: str) -> str | None:
    """Why files of this format cannot feed this project, or None when they can."""
    if project.content_type == ContentType.IMAGE and file_format != ImportFormat.ZIP:
        return (
            f"This project labels images, and a {ImportFormat(file_format).label} file holds "
            "text: import a ZIP of images (with an optional manifest.csv or manifest.jsonl "
            "inside)."
        )
    if project.content_type == ContentType.TEXT and file_format == ImportFormat.ZIP:
        return (
            "This project labels text, and a ZIP holds images: import a CSV, JSONL or JSON file "
            "with a `text` field."
        )
    return None


def import_job_create(
    *,
    project: Project,
    uploaded_file: File,
    created_by: User | None,
    source: str,
    format: str = ImportFormat.AUTO,
    enqueue: bool = True,
) -> ImportJob:
    """Store the upload, create its ImportJob (format resolved) and, once the transaction
    commits, enqueue its run. With `enqueue=False` the caller runs it (`manage.py import_items`
    does, in-process, to show a progress bar).

    What can be told without reading the file (too large, empty, a format that cannot feed
    the project) raises ValidationError, and no job is created.
    """
    project_ensure_writable(project=project)
    name = os.path.basename(uploaded_file.name or "") or "upload"
    size = uploaded_file.size
    if source not in IMPORT_SOURCES:
        raise ValidationError(
            {"source": f"Unknown source {source!r}; use one of {IMPORT_SOURCES}."}
        )
    if format not in ImportFormat.values:
        raise ValidationError(
            {"format": f"Unknown format {format!r}; use one of {', '.join(ImportFormat.values)}."}
        )
    if not size:
        raise ValidationError({"file": f"{name} is empty."})
    limit = settings.ACCORD_IMPORT_MAX_BYTES
    if size > limit:
        raise ValidationError(
            {"file": f"{name} is {size / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB."}
        )
    uploaded_file.seek(0)
    head = uploaded_file.read(4096)
    uploaded_file.seek(0)
    if format == ImportFormat.AUTO:
        format = import_format_detect(name=name, head=head)
    problem = _format_problem(project=project, file_format=format)
    if problem:
        raise ValidationError({"file": problem})

    job = ImportJob(
        project=project, created_by=created_by, source=source, original_name=name[:255],
        format=format,
    )  # fmt: skip
    job_upload_save(job, uploaded_file, name=name)
    if enqueue:
        job_enqueue_on_commit(job, _enqueue_run)
    return job


def import_job_retry(*, job: ImportJob) -> ImportJob:
    """Queue a failed (or stalled) import again. A new attempt skips keys already present: on
    PostgreSQL a failed attempt wrote no item (one transaction); on SQLite it may have written
    some batches, and the new attempt adds the rest."""
    project_ensure_writable(project=job.project)
    return job_retry(job, enqueue=_enqueue_run)


def _enqueue_run(job_id: int) -> None:
    from projects.tasks import import_job_run_task  # the task module imports this one

    import_job_run_task.delay(job_id)


# --- run ---------------------------------------------------------------------------------------


def import_job_run(*, job_id: int, progress: ProgressCallback | None = None) -> ImportJob:
    """Run an import: read and validate the whole file, store its images, then write its
    items in one transaction. `progress(done, total)` is called as rows are read (and images
    stored), at most every PROGRESS_EVERY_SECONDS, like the row's own progress.

    Safe to call again for the same job, even concurrently: a succeeded job is returned as it
    is, and the final write happens under a lock on the job row. Call outside a transaction,
    so that pollers see progress and images are stored before the items' transaction.

    A bad file ends the job FAILED with its problems (no exception). An unexpected exception
    marks the job FAILED and propagates.
    """
    return job_run(
        ImportJob, job_id=job_id, run=_run, progress=progress,
        reset={"created_count": 0, "duplicate_count": 0},
        on_error="Nothing was imported; retry it, and if it fails again, tell an administrator.",
    )  # fmt: skip


def _run(job: ImportJob, progress: JobProgress) -> ImportJob:
    problems = Problems()
    problem = _format_problem(project=job.project, file_format=job.format)
    if problem:
        problems.add(RowError(location="file", message=problem))
        return _reject(job, problems)
    with _open_upload(job) as upload, Spool() as spool, ExitStack() as open_zip:
        zip_upload: ZipUpload | None = None
        records: Iterator[tuple[Record, ImageInfo | None]]
        validator = RowValidator(project=job.project, problems=problems)
        try:
            if job.format == ImportFormat.ZIP:
                zip_upload = open_zip.enter_context(ZipUpload(upload))
                total, records = zip_upload.records(problems)
            else:
                total, records = _text_records(job.format, upload, problems)
            progress.phase(PHASE_READING, total=total)
            for done, (record, image) in enumerate(records, start=1):
                row = validator.row(record, image=image)
                if row is not None and not problems:  # past a problem, only count the others
                    spool.append(row)
                progress.advance(done)
            progress.finish()
        except FileRejected as rejected:
            problems.add(rejected.error)
        if not problems and spool.count == 0:
            problems.add(RowError(location="file", message="The file holds no items."))
        if problems:
            return _reject(job, problems)
        image_ids = _images_store(zip_upload, progress) if zip_upload else {}
        ignored = zip_upload.ignored if zip_upload else []
        if connection.vendor == "postgresql":
            progress.phase(PHASE_SAVING, total=spool.count, done=spool.count)
            return _save(job, spool=spool, image_ids=image_ids, ignored=ignored)
        progress.phase(PHASE_SAVING, total=spool.count)
        items_insert_sqlite(job=job, spool=spool, image_ids=image_ids, progress=progress.advance)
        progress.finish()
        # Counted by job, not by this run's inserts, so that a retry after a crash midway counts
        # its first run's rows; and before the final transaction, which then holds SQLite's
        # write lock only for its one row.
        written = Item.objects.filter(import_job=job).count()
        return _save(job, spool=spool, image_ids=image_ids, ignored=ignored, written=written)


def _text_records(
    file_format: str, upload: IO[bytes], problems: Problems
) -> tuple[int, Iterator[tuple[Record, ImageInfo | None]]]:
    """How many records to expect, and the records of a CSV, JSONL or JSON file."""
    if file_format == ImportFormat.CSV:
        total = max(line_count(upload) - 1, 0)  # less the header
        records = csv_records(upload, problems=problems, required=("text",), known=RESERVED_FIELDS)
    elif file_format == ImportFormat.JSONL:
        total = line_count(upload)
        records = jsonl_records(upload, problems=problems)
    elif file_format == ImportFormat.JSON:
        array = json_array(upload)
        total = len(array)
        records = json_records(array, problems=problems)
    else:
        raise FileRejected(RowError(location="file", message=f"Unknown format {file_format!r}."))
    return total, ((record, None) for record in records)


def _images_store(zip_upload: ZipUpload, progress: JobProgress) -> dict[str, int]:
    """Store each distinct image of the ZIP once, outside any transaction; return the
    ImageBlob id for each SHA-256."""
    images = zip_upload.images
    ids = dict(ImageBlob.objects.filter(sha256__in=list(images)).values_list("sha256", "id"))
    missing = [(sha256, member) for sha256, member in images.items() if sha256 not in ids]
    progress.phase(PHASE_STORING_IMAGES, total=len(missing))
    for done, (sha256, member) in enumerate(missing, start=1):
        data = zip_upload.read(member, limit=settings.ACCORD_IMAGE_MAX_BYTES)
        ids[sha256] = image_store(data=data, name=member).pk
        progress.advance(done)
    progress.finish()
    return ids


def _save(
    job: ImportJob,
    *,
    spool: Spool,
    image_ids: dict[str, int],
    ignored: list[str],
    written: int | None = None,
) -> ImportJob:
    """Write every row (unless `written` rows went in batches before, on SQLite) and the job's
    outcome, in one transaction."""
    total = spool.count
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == JobStatus.SUCCEEDED:
            # Two runs of one job (a redelivered task beside a retry) race to here; the row
            # lock lets exactly one of them write the items and the counts.
            return locked
        if written is None:
            created = items_insert_postgresql(job=job, spool=spool, image_ids=image_ids)
        else:
            created = written
        duplicates = total - created
        message = f"Imported {created:,} new item{'s' if created != 1 else ''}"
        message += f"; {duplicates:,} already in the project." if duplicates else "."
        if ignored:
            message += f" Ignored (not items): {', '.join(ignored[:10])}"
            message += f" and {len(ignored) - 10} more." if len(ignored) > 10 else "."
        locked.status = JobStatus.SUCCEEDED
        locked.phase = PHASE_DONE
        locked.progress = locked.total = total
        locked.created_count = created
        locked.duplicate_count = duplicates
        locked.message = message
        locked.finished_at = timezone.now()
        locked.save(
            update_fields=[
                "status", "phase", "progress", "total", "created_count", "duplicate_count",
                "message", "finished_at",
            ]
        )  # fmt: skip
    return locked


def _reject(job: ImportJob, problems: Problems) -> ImportJob:
    listed = len(problems.first)
    message = f"The file was rejected: {problems.count} problem{'s' if problems.count > 1 else ''}"
    if problems.count > listed:
        message += f" (the first {listed} are listed)"
    message += ". Nothing was imported; fix the file and import it again."
    job_fail(
        job, message=message, phase=PHASE_REJECTED,
        errors=[error.as_dict() for error in problems.first], error_count=problems.count,
    )  # fmt: skip
    return job


@contextmanager
def _open_upload(job: ImportJob) -> Iterator[IO[bytes]]:
    assert job.file.name, "an import job always has its file"
    stored = default_storage.open(job.file.name, "rb")
    try:
        # The storage's own file object: Django's File wrapper would also split lines on "\r".
        yield getattr(stored, "file", stored)
    finally:
        stored.close()
