"""Celery tasks of the labeling app: thin, each loads by id and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from labeling.assignment import leases_tidy
from labeling.imports import annotation_import_run
from labeling.models import AnnotationImportJob
from labeling.progress import project_remaining_recount

logger = logging.getLogger(__name__)


@shared_task(name="labeling.tasks.leases_tidy")
def leases_tidy_task() -> int:
    """Periodic tidy of expired leases in projects where nobody is claiming."""
    return leases_tidy()


@shared_task(name="labeling.tasks.project_remaining_recount")
def project_remaining_recount_task(project_id: int) -> int:
    """Recount a project's remaining items for the labeling page (asked for by the first
    request that found the cached figure stale; it holds the recount lock, released here)."""
    return project_remaining_recount(project_id, locked=True)


@shared_task(
    name="labeling.tasks.annotation_import_run",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def annotation_import_run_task(job_id: int) -> None:
    """Run an annotation import job. Safe to run twice: a finished job is left as it is, and a
    batch writes only the labels that are not there yet (a deadlock or lost connection midway
    is retried, and adds the rest)."""
    try:
        annotation_import_run(job_id=job_id)
    except AnnotationImportJob.DoesNotExist:
        logger.warning("Annotation import job %s no longer exists; nothing to run.", job_id)
