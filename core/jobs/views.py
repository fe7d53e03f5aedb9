"""A job's state for the UI's poller (`static/js/job-progress.js`) and its first render."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from core.jobs.models import Job
from core.jobs.services import job_is_stalled


def job_state(job: Job, **counts: int) -> dict[str, Any]:
    """What the progress partial shows: status, phase, progress and the kind's `counts`."""
    return {
        "id": job.pk,
        "status": job.status,
        "status_display": job.get_status_display(),  # type: ignore[attr-defined]
        "phase": job.phase,
        "progress": job.progress,
        "total": job.total,
        "percent": job.percent,
        "error_count": job.error_count,
        "message": job.message,
        "finished": job.is_finished,
        "stalled": job_is_stalled(job),
        "counts": counts,
    }


def job_state_response(job: Job, **counts: int) -> JsonResponse:
    response = JsonResponse(job_state(job, **counts))
    response["Cache-Control"] = "no-store"
    return response
