"""Annotation import jobs: create (store the upload, enqueue after commit), run, retry."""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    jsonl_records,
    line_count,
)
from labeling.imports.raters import external_raters_ensure
from labeling.imports.rows import FIELDS, REQUIRED, Raters, RowValidator
from labeling.imports.saving import BATCH_ROWS, BatchCounts, Spool, annotations_write
from labeling.models import AnnotationImportFormat, AnnotationImportJob
from projects.models import ImportFormat, Project
from projects.services.archive import project_ensure_writable
from projects.services.imports import import_format_detect

if TYPE_CHECKING:
    from django.contrib.auth.models import User


IMPORT_SOURCES = ("ui", "api", "cli")
PHASE_READING = "reading"
PHASE_RATERS = "adding external raters"
PHASE_SAVING = "saving"
PHASE_DONE = "done"
PHASE_REJECTED = "rejected"
# How often the reading loop hands its count to JobProgress (which writes at most twice a second).
PROGRESS_EVERY_ROWS = 500
# SQLite has one write lock: between batches, a pause in which raters' claims and submits
# (which poll for the lock) take it; half as long as the batch held it, at least this.
SQLITE_PAUSE_MIN_SECONDS = 0.005


# --- create, retry -----------------------------------------------------------------------------


def annotation_format_detect(*, name: str, head: bytes) -> str:
    """A file's format from its extension, else from its first bytes (as item imports read
    it); a JSON array or a ZIP stays what it is, and is refused."""
    return import_format_detect(name=name, head=head)


def _format_problem(file_format: str) -> str | None:
    if file_format in (AnnotationImportFormat.CSV, AnnotationImportFormat.JSONL):
        return None
    if file_format == ImportFormat.JSON:
        return (
            "A JSON array cannot be read a row at a time: save the annotations as JSON Lines "
            "(one object per line) or CSV."
        )
    return "Annotations come as CSV or JSON Lines, one row per label, not as a ZIP."


def annotation_import_create(
    *,
    project: Project,
    uploaded_file: File,
    created_by: User | None,
    source: str,
    format: str = AnnotationImportFormat.AUTO,
    enqueue: bool = True,
) -> AnnotationImportJob:
    """Store the upload, create its AnnotationImportJob (format resolved) and, once the
    transaction commits, enqueue its run. With `enqueue=False` the caller runs it
    (`manage.py import_annotations` does, in-process, to show a progress bar).

    What can be told without reading the file (too large, empty, a format that holds no rows)
    raises ValidationError, and no job is created.
    """
    project_ensure_writable(project=project)
    name = os.path.basename(uploaded_file.name or "") or "upload"
    size = uploaded_file.size
    if source not in IMPORT_SOURCES:
        raise ValidationError(
            {"source": f"Unknown source {source!r}; use one of {IMPORT_SOURCES}."}
        )
    if format not in AnnotationImportFormat.values:
        raise ValidationError(
            {"format": f"Unknown format {format!r}; use one of "
             f"{', '.join(AnnotationImportFormat.values)}."}
        )  # fmt: skip
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
    if format == AnnotationImportFormat.AUTO:
        format = annotation_format_detect(name=name, head=head)
    problem = _format_problem(format)
    if problem:
        raise ValidationError({"file": problem})

    job = AnnotationImportJob(
        project=project, created_by=created_by, source=source, original_name=name[:255],
        format=format,
    )  # fmt: skip
    job_upload_save(job, uploaded_file, name=name)
    if enqueue:
        job_enqueue_on_commit(job, _enqueue_run)
    return job


def annotation_import_retry(*, job: AnnotationImportJob) -> AnnotationImportJob:
    """Queue a failed (or stalled) annotation import again. The new attempt reads the file
    afresh; the batches an earlier attempt wrote are found already there and write nothing."""
    project_ensure_writable(project=job.project)
    return job_retry(job, enqueue=_enqueue_run)


def _enqueue_run(job_id: int) -> None:
    from labeling.tasks import annotation_import_run_task  # the task module imports this one

    annotation_import_run_task.delay(job_id)


# --- run ---------------------------------------------------------------------------------------


def annotation_import_run(
    *, job_id: int, progress: ProgressCallback | None = None
) -> AnnotationImportJob:
    """Run an annotation import: read and validate the whole file, make its external raters,
    then write its rows in batches (`labeling.imports.saving`). `progress(done, total)` is
    called as rows are read and written, like the row's own progress.

    Safe to call again for the same job, even concurrently: a succeeded job is returned as it
    is, a live run is left alone, and a batch writes only what is not there yet. Call outside a
    transaction, so that pollers see progress and each batch commits on its own.

    A bad file ends the job FAILED with its problems (no exception), having written nothing.
    An unexpected exception marks the job FAILED and propagates.
    """
    # The counts of new and changed annotations are not reset: they grew with the batches
    # an earlier attempt committed, which this one finds there and does not count again.
    return job_run(
        AnnotationImportJob, job_id=job_id, run=_run, progress=progress,
        reset={"closed_count": 0, "unchanged_count": 0},
        on_error="Batches written before it are kept; retry it, and the retry adds the rest "
        "without repeating them. If it fails again, tell an administrator.",
    )  # fmt: skip


def _run(job: AnnotationImportJob, progress: JobProgress) -> AnnotationImportJob:
    project = job.project
    problems = Problems()
    problem = _format_problem(job.format)
    if problem:
        problems.add(RowError(location="file", message=problem))
        return _reject(job, problems)
    with _open_upload(job) as upload, Spool() as spool:
        raters = Raters(project=project)
        validator = RowValidator(project=project, problems=problems, raters=raters)
        try:
            total, records = _records(job.format, upload, problems)
            progress.phase(PHASE_READING, total=total)
            done = 0
            for done, record in enumerate(records, start=1):
                for row in validator.add(record):
                    if not problems:  # past a problem, only count the others
                        spool.append(row)
                if not done % PROGRESS_EVERY_ROWS:
                    progress.advance(done)
            for row in validator.finish():
                if not problems:
                    spool.append(row)
            progress.advance(done)
            progress.finish()
        except FileRejected as rejected:
            problems.add(rejected.error)
        if not problems and spool.count == 0:
            problems.add(RowError(location="file", message="The file holds no annotations."))
        if problems:
            return _reject(job, problems)
        AnnotationImportJob.objects.filter(pk=job.pk).update(row_count=spool.count)

        new_names = raters.new_names()
        progress.phase(PHASE_RATERS, total=len(new_names))
        made = external_raters_ensure(project=project, names=new_names, job=job)
        user_ids = [raters.known(name) or made[name] for name in raters.names]
        progress.advance(len(new_names))

        progress.phase(PHASE_SAVING, total=spool.count)
        counts = BatchCounts()
        done = 0
        pause = connection.vendor == "sqlite"
        for rows in spool.batches(BATCH_ROWS):
            started = time.monotonic()
            batch = annotations_write(
                job=job, project=project, rows=rows, user_ids=user_ids, now=timezone.now()
            )
            counts.closed += batch.closed
            done += len(rows)
            progress.advance(done)
            if pause:
                time.sleep(max(SQLITE_PAUSE_MIN_SECONDS, (time.monotonic() - started) / 2))
        progress.finish()
    return _succeed(job, closed=counts.closed)


def _records(
    file_format: str, upload: IO[bytes], problems: Problems
) -> tuple[int, Iterator[Record]]:
    """How many records to expect, and the records of a CSV or JSON Lines file."""
    if file_format == AnnotationImportFormat.CSV:
        _csv_header_check(upload)
        total = max(line_count(upload) - 1, 0)  # less the header
        return total, csv_records(upload, problems=problems, required=REQUIRED, known=FIELDS)
    return line_count(upload), jsonl_records(upload, problems=problems)


def _csv_header_check(upload: IO[bytes]) -> None:
    """Refuse a CSV file whose header lacks a column every row needs, naming it once (rather
    than once per row)."""
    upload.seek(0)
    head = upload.readline(1 << 16).decode("utf-8-sig", errors="replace")
    upload.seek(0)
    delimiter = max((",", ";", "\t"), key=head.count)
    columns = {cell.strip().lower() for cell in next(csv.reader([head], delimiter=delimiter), [])}
    missing = [name for name in REQUIRED if name not in columns]
    if missing and columns - {""}:
        raise FileRejected(
            RowError(
                location="line 1",
                message=f"the header has no {', '.join(missing)} column (every row needs "
                f"{', '.join(REQUIRED)}; created_at and time_spent_ms are optional).",
            )
        )


def _reject(job: AnnotationImportJob, problems: Problems) -> AnnotationImportJob:
    shown = len(problems.first)
    message = f"The file was rejected: {problems.count} problem{'s' if problems.count != 1 else ''}"
    if problems.count > shown:
        message += f" (the first {shown} are listed)"
    message += ". Nothing was imported; fix the file and upload it again."
    job_fail(
        job, message=message, phase=PHASE_REJECTED,
        errors=[error.as_dict() for error in problems.first], error_count=problems.count,
    )  # fmt: skip
    return job


def _succeed(job: AnnotationImportJob, *, closed: int) -> AnnotationImportJob:
    """Mark the job succeeded with its counts, once: two runs of one job (a redelivered task
    beside a retry) may both get here, and the row lock lets one of them write the outcome."""
    with transaction.atomic():
        locked = AnnotationImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == JobStatus.SUCCEEDED:
            return locked
        unchanged = max(0, locked.row_count - locked.created_count - locked.changed_count - closed)
        locked.status, locked.phase = JobStatus.SUCCEEDED, PHASE_DONE
        locked.closed_count, locked.unchanged_count = closed, unchanged
        locked.finished_at = timezone.now()
        locked.message = _outcome(locked)
        locked.save(update_fields=["status", "phase", "closed_count", "unchanged_count",
                                   "finished_at", "message"])  # fmt: skip
    from labeling.progress import project_remaining_recount

    # The labeling page's figure of remaining items: imported labels may have finished some.
    project_remaining_recount(job.project_id, locked=False)
    return locked


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def _outcome(job: AnnotationImportJob) -> str:
    text = (
        f"Imported {_plural(job.created_count, 'new annotation', 'new annotations')} and "
        f"{_plural(job.changed_count, 'changed value', 'changed values')}"
    )
    if job.external_rater_count:
        raters = _plural(job.external_rater_count, "new external rater", "new external raters")
        text += f", from {raters}"
    text += f"; {_plural(job.unchanged_count, 'row was', 'rows were')} already there."
    if job.closed_count:
        text += (
            f" {_plural(job.closed_count, 'row was', 'rows were')} left out: a lead has "
            "resolved their items."
        )
    return text


@contextmanager
def _open_upload(job: AnnotationImportJob) -> Iterator[IO[bytes]]:
    assert job.file.name, "an import job always has its file"
    stored = default_storage.open(job.file.name, "rb")
    try:
        # The storage's own file object: Django's File wrapper would also split lines on "\r".
        yield getattr(stored, "file", stored)
    finally:
        stored.close()
