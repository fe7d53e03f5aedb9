"""Importing items: the upload form, a job's live page, its status for the poller, retry."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.jobs.views import job_state, job_state_response
from projects.forms import ImportForm
from projects.models import ImportJob
from projects.services.imports import import_job_create, import_job_retry
from projects.views.access import (
    AuthenticatedRequest,
    ProjectAccess,
    apply_service_error,
    project_for,
)

IMPORT_COUNTS = [("created_count", "items created"), ("duplicate_count", "already there (skipped)")]


# --- imports -----------------------------------------------------------------------------------


@login_required
def project_import(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    access = project_for(request, pk)
    project = access.project
    form = ImportForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        content_type=project.content_type,
    )
    if request.method == "POST" and form.is_valid():
        try:
            job = import_job_create(
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
            return redirect("import-job", pk=project.pk, job_id=job.pk)
    return render(
        request,
        "projects/import.html",
        {
            "access": access,
            "project": project,
            "form": form,
            "jobs": project.import_jobs.select_related("created_by")[:20],
            "active_tab": "import",
        },
    )


def _job_for(request: HttpRequest, pk: int, job_id: int) -> tuple[ProjectAccess, ImportJob]:
    access = project_for(request, pk)
    job = get_object_or_404(
        ImportJob.objects.select_related("created_by"), pk=job_id, project=access.project
    )
    return access, job


def _counts(job: ImportJob) -> dict[str, int]:
    return {"created_count": job.created_count, "duplicate_count": job.duplicate_count}


@login_required
def import_job(request: AuthenticatedRequest, pk: int, job_id: int) -> HttpResponse:
    access, job = _job_for(request, pk, job_id)
    return render(
        request,
        "projects/import_job.html",
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
def import_job_status(request: AuthenticatedRequest, pk: int, job_id: int) -> JsonResponse:
    _, job = _job_for(request, pk, job_id)
    return job_state_response(job, **_counts(job))


@login_required
@require_POST
def import_job_retry_view(request: AuthenticatedRequest, pk: int, job_id: int) -> HttpResponse:
    _, job = _job_for(request, pk, job_id)
    try:
        import_job_retry(job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The import was started again.")
    return redirect("import-job", pk=pk, job_id=job.pk)
