"""Running a job row: start a run, write its progress, finish or fail it, retry it, and tell
when its worker is gone.

Every write is a conditional UPDATE on the row, so that two runs of one job (a task redelivered
after a worker died, beside a retry a lead asked for) cannot both claim it, and a late write of a
losing run cannot touch a finished job.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from core.jobs.models import Job, JobStatus

J = TypeVar("J", bound=Job)
ProgressCallback = Callable[[int, int | None], None]
logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 0.5


def stalled_after() -> timedelta:
    """How long a running job may go without a heartbeat (or a pending one without a worker
    taking it) before it counts as stalled and may be retried."""
    return timedelta(seconds=settings.ACCORD_JOB_STALLED_SECONDS)


def job_is_stalled(job: Job, *, now: Any = None) -> bool:
    """A running job whose heartbeat stopped lost its worker; a pending job that no worker took
    for as long has no worker. Either may be retried."""
    now = now or timezone.now()
    before = now - stalled_after()
    if job.status == JobStatus.RUNNING:
        return (job.heartbeat_at or job.started_at or job.created_at) < before
    if job.status == JobStatus.PENDING:
        return (job.queued_at or job.created_at) < before
    return False


def _stalled_or_failed(now: Any) -> Q:
    before = now - stalled_after()
    return (
        Q(status=JobStatus.FAILED)
        | Q(status=JobStatus.RUNNING, heartbeat_at__lt=before)
        | Q(status=JobStatus.RUNNING, heartbeat_at__isnull=True, started_at__lt=before)
        | Q(status=JobStatus.PENDING, queued_at__lt=before)
        | Q(status=JobStatus.PENDING, queued_at__isnull=True, created_at__lt=before)
    )


def job_start(model: type[J], *, job_id: int, **reset: Any) -> J | None:
    """Claim a run of the job: RUNNING, one more attempt, progress and errors cleared (and the
    `reset` fields, the kind's own counts). Returns the row, or None when it is already
    finished or running under a live worker.

    A RUNNING job may be claimed again only when stalled: a redelivered task whose first run
    died must be able to go on, but two live runs must not both work.
    """
    now = timezone.now()
    started = (
        model._default_manager.filter(pk=job_id)
        .filter(Q(status__in=(JobStatus.PENDING, JobStatus.FAILED)) | _stalled_or_failed(now))
        .update(
            status=JobStatus.RUNNING, phase="", attempts=F("attempts") + 1, started_at=now,
            heartbeat_at=now, finished_at=None, progress=0, total=None, message="", errors=[],
            error_count=0, **reset,
        )
    )  # fmt: skip
    if not started:
        return None
    return model._default_manager.get(pk=job_id)


def job_run(
    model: type[J], *, job_id: int, run: Callable[[J, JobProgress], Any],
    progress: ProgressCallback | None = None, reset: dict[str, Any] | None = None,
    on_error: str,
) -> J:  # fmt: skip
    """Run a job with `run(job, progress)`: the shared frame of every kind's run.

    Safe to call again for the same job, even concurrently: a succeeded job is returned as it
    is, and one finished meanwhile or running under a live worker is left alone (`job_start`,
    with the kind's own counts to clear in `reset`). An unexpected exception marks the job
    FAILED, its message saying the error and then `on_error` (what was kept, what a retry
    does), and propagates. Returns the job as the run left it.
    """
    job = model._default_manager.select_related("project").get(pk=job_id)
    if job.status == JobStatus.SUCCEEDED:
        return job
    if job_start(model, job_id=job_id, **(reset or {})) is None:
        job.refresh_from_db()
        return job
    job.refresh_from_db()
    try:
        run(job, JobProgress(job, callback=progress))
    except Exception as error:
        logger.exception("%s %s failed", job._meta.verbose_name, job.pk)
        job_fail(
            job,
            message=f"The {job._meta.verbose_name} stopped on an unexpected error "
            f"({type(error).__name__}: {error}). {on_error}",
        )
        raise
    job.refresh_from_db()
    return job


def job_fail(
    job: Job, *, message: str, phase: str = "failed", errors: list[dict[str, Any]] | None = None,
    error_count: int | None = None,
) -> None:  # fmt: skip
    """End the job FAILED with a message (and the problems found, if any). A job that another
    run finished meanwhile is left as it is."""
    errors = errors or []
    type(job)._default_manager.filter(pk=job.pk).exclude(status=JobStatus.SUCCEEDED).update(
        status=JobStatus.FAILED, phase=phase, finished_at=timezone.now(), message=message,
        errors=errors, error_count=len(errors) if error_count is None else error_count,
    )  # fmt: skip
    job.refresh_from_db()


def job_retry(job: J, *, enqueue: Callable[[int], None]) -> J:
    """Queue a failed or stalled job again; `enqueue(job_id)` runs once the transaction commits.
    Raises ValidationError naming why when the job is neither."""
    now = timezone.now()
    with transaction.atomic():
        # A conditional update, so that two retries (or a retry beside a finishing run) cannot
        # both queue the job: the row count says who won.
        queued = (
            type(job)
            ._default_manager.filter(pk=job.pk)
            .filter(_stalled_or_failed(now))
            .update(
                status=JobStatus.PENDING, phase="", message="Queued again.", finished_at=None,
                queued_at=now,
            )
        )  # fmt: skip
        if not queued:
            job.refresh_from_db()
            minutes = settings.ACCORD_JOB_STALLED_SECONDS // 60
            kind = str(job._meta.verbose_name)
            status = job.get_status_display().lower()  # type: ignore[attr-defined]
            raise ValidationError(
                f"{kind.capitalize()} {job.pk} is {status}: only a failed {kind}, or one that "
                f"has shown no progress for {minutes} minutes (its worker is gone), can be "
                "retried."
            )
        transaction.on_commit(lambda: enqueue(job.pk))
    job.refresh_from_db()
    return job


def job_upload_save(job: Any, uploaded_file: Any, *, name: str) -> None:
    """Store a file import's upload in `job.file`, then save the job row: the file first, so
    that a row never points at a missing file. In a folder of its own, so that two uploads of
    one name never share a file, on a storage that overwrites (S3 with file_overwrite,
    config.settings.base.s3_storage) as on one that does not."""
    stored_name = f"{uuid.uuid4().hex}/{get_valid_filename(name) or 'upload'}"
    job.file.save(stored_name, uploaded_file, save=False)
    job.save()


def job_enqueue_on_commit(job: Job, enqueue: Callable[[int], None]) -> None:
    """Stamp the job as queued and hand it to `enqueue` once the transaction commits: the
    worker must find the committed row."""
    type(job)._default_manager.filter(pk=job.pk).update(queued_at=timezone.now())
    transaction.on_commit(lambda: enqueue(job.pk))


class JobProgress:
    """Writes a running job's progress (and heartbeat) with an UPDATE, so that pollers see it at
    once: at most every PROGRESS_EVERY_SECONDS, and at the start and end of each phase. Calls
    `callback(done, total)` then too (a CLI's progress bar).

    Call outside the transaction that does the work, or pollers see nothing until it commits.
    """

    def __init__(self, job: Job, *, callback: ProgressCallback | None = None) -> None:
        self.model = type(job)
        self.job_id = job.pk
        self.callback = callback
        self.total: int | None = None
        self.done = 0
        self.last_write = 0.0

    def phase(self, name: str, *, total: int | None, done: int = 0) -> None:
        self.total, self.done = total, done
        self._write(phase=name)

    def advance(self, done: int) -> None:
        self.done = done
        if time.monotonic() - self.last_write >= PROGRESS_EVERY_SECONDS:
            self._write()

    def finish(self) -> None:
        """The phase is over: `done` is the true total (a count estimated from lines can be a
        little high when quoted values span lines)."""
        self.total = self.done
        self._write()

    def _write(self, **fields: Any) -> None:
        self.last_write = time.monotonic()
        # Only while running: a late write from a losing concurrent run must not touch a
        # finished job.
        self.model._default_manager.filter(pk=self.job_id, status=JobStatus.RUNNING).update(
            progress=self.done, total=self.total, heartbeat_at=timezone.now(), **fields
        )
        if self.callback is not None:
            self.callback(self.done, self.total)
