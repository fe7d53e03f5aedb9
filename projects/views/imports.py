"""Importing items: the upload form, and a job's pages (projects.views.file_jobs)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from projects.forms import ImportForm
from projects.models import ImportJob
from projects.services.imports import import_job_create, import_job_retry
from projects.views.access import AuthenticatedRequest, apply_service_error, project_for
from projects.views.file_jobs import FileJobPages

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


import_job_pages = FileJobPages(
    model=ImportJob, kind="Import", url="import-job", upload_url="project-import",
    counts=IMPORT_COUNTS, retry=import_job_retry,
    done_links=lambda project, job: [("View items", reverse("project-items", args=[project.pk]))],
)  # fmt: skip
import_job, import_job_status, import_job_retry_view = import_job_pages.views()
