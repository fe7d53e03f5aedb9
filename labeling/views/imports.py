"""Importing annotations made elsewhere: the upload form with the history, a job's live page,
its status for the poller, and retry. Leads only (a rater gets 403, a non-member 404)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.jobs.views import job_state, job_state_response
from labeling.forms import AnnotationImportForm
from labeling.imports import annotation_import_create, annotation_import_retry
from labeling.models import AnnotationImportJob
from projects.views.access import (
    AuthenticatedRequest,
    ProjectAccess,
    apply_service_error,
    project_for,
)

JOBS_SHOWN = 20
IMPORT_COUNTS = [
    ("created_count", "new annotations"),
    ("changed_count", "changed values"),
    ("unchanged_count", "already there"),
    ("external_rater_count", "new external raters"),
]


@login_required
def annotation_import(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    access = project_for(request, pk)
    project = access.project
    posted = request.method == "POST"
    form = AnnotationImportForm(request.POST if posted else None, request.FILES if posted else None)
    if posted and form.is_valid():
        try:
            job = annotation_import_create(
                project=project,
                uploaded_file=form.cleaned_data["file"],
                created_by=request.user,
                source="ui",
                format=form.cleaned_data["format"],
            )
        except ValidationError as error:
            for message in apply_service_error(form, error):
                form.add_error("file", message)
        else:
            return redirect("annotation-import-job", pk=project.pk, job_id=job.pk)
    return render(
        request,
        "labeling/annotation_import.html",
        {
            "access": access,
            "project": project,
            "form": form,
            "jobs": project.annotation_import_jobs.select_related("created_by")[:JOBS_SHOWN],
            "labels": project.labels.order_by("position", "id"),
            "active_tab": "import",
        },
    )


def _job_for(
    request: HttpRequest, pk: int, job_id: int
) -> tuple[ProjectAccess, AnnotationImportJob]:
    access = project_for(request, pk)
    job = get_object_or_404(
        AnnotationImportJob.objects.select_related("created_by"), pk=job_id, project=access.project
    )
    return access, job


def _counts(job: AnnotationImportJob) -> dict[str, int]:
    return {key: getattr(job, key) for key, _ in IMPORT_COUNTS}


@login_required
def annotation_import_job(request: AuthenticatedRequest, pk: int, job_id: int) -> HttpResponse:
    access, job = _job_for(request, pk, job_id)
    return render(
        request,
        "labeling/annotation_import_job.html",
        {
            "access": access,
            "project": access.project,
            "job": job,
            "state": job_state(job, **_counts(job)),
            "counts": IMPORT_COUNTS,
            "active_tab": "import",
        },
    )


@login_required
@require_GET
def annotation_import_job_status(
    request: AuthenticatedRequest, pk: int, job_id: int
) -> JsonResponse:
    _, job = _job_for(request, pk, job_id)
    return job_state_response(job, **_counts(job))


@login_required
@require_POST
def annotation_import_job_retry(
    request: AuthenticatedRequest, pk: int, job_id: int
) -> HttpResponse:
    _, job = _job_for(request, pk, job_id)
    try:
        annotation_import_retry(job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The annotation import was started again.")
    return redirect("annotation-import-job", pk=pk, job_id=job.pk)
