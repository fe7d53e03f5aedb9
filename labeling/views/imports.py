"""Importing annotations made elsewhere: the upload form with the history, a job's live page,
its status for the poller, and retry. Leads only (a rater gets 403, a non-member 404)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from labeling.forms import AnnotationImportForm
from labeling.imports import annotation_import_create, annotation_import_retry
from labeling.models import AnnotationImportJob
from projects.models import Project
from projects.views.access import AuthenticatedRequest, apply_service_error, project_for
from projects.views.file_jobs import FileJobPages

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


def _done_links(project: Project, job: AnnotationImportJob) -> list[tuple[str, str]]:
    links = [("View items", reverse("project-items", args=[project.pk]))]
    if job.external_rater_count:
        links.append(("See the external raters", reverse("project-members", args=[project.pk])))
    return links


annotation_import_job_pages = FileJobPages(
    model=AnnotationImportJob, kind="Annotation import", url="annotation-import-job",
    upload_url="annotation-import", counts=IMPORT_COUNTS, retry=annotation_import_retry,
    done_links=_done_links,
)  # fmt: skip
(
    annotation_import_job,
    annotation_import_job_status,
    annotation_import_job_retry,
) = annotation_import_job_pages.views()
