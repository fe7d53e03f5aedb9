"""Celery tasks of the projects app: thin, each loads by id and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from projects.models import ImportJob
from projects.services.imports import import_job_run

logger = logging.getLogger(__name__)


@shared_task(
    name="projects.tasks.import_job_run",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def import_job_run_task(job_id: int) -> None:
    """Run an import job. Safe to run twice: a finished job is left as it is, and items are
    keyed, so a second run creates none."""
    try:
        import_job_run(job_id=job_id)
    except ImportJob.DoesNotExist:
        logger.warning("Import job %s no longer exists; nothing to run.", job_id)
