"""The pages of a file import's job (items, annotations): its live page, its status for the
poller, and retry. Leads only, like the upload form (`project_for`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.jobs.models import Job
from core.jobs.views import job_state, job_state_response
from projects.models import Project
from projects.views.access import ProjectAccess, project_for


@dataclass(frozen=True)
class FileJobPages:
    """One kind of file import's job pages. `url` is the job page's URL name; the status and
    retry pages are `url + "-status"` and `url + "-retry"`; `upload_url` names the form."""

    model: type[Job]
    kind: str  # "Import", "Annotation import"
    url: str
    upload_url: str
    counts: list[tuple[str, str]]  # (field, words) shown as the job runs
    retry: Callable[..., Any]  # the service: retry(job=...)
    done_links: Callable[[Project, Any], list[tuple[str, str]]]  # (words, URL), first primary

    def _job_for(self, request: HttpRequest, pk: int, job_id: int) -> tuple[ProjectAccess, Any]:
        access = project_for(request, pk)
        jobs: Any = self.model._default_manager  # every file import's job has its creator
        job = get_object_or_404(
            jobs.select_related("created_by"), pk=job_id, project=access.project
        )
        return access, job

    def _counts(self, job: Any) -> dict[str, int]:
        return {key: getattr(job, key) for key, _ in self.counts}

    def page(self, request: HttpRequest, pk: int, job_id: int) -> HttpResponse:
        access, job = self._job_for(request, pk, job_id)
        project = access.project
        return render(
            request,
            "projects/file_job.html",
            {
                "access": access, "project": project, "job": job, "kind": self.kind,
                "state": job_state(job, **self._counts(job)), "counts": self.counts,
                "active_tab": "import",
                "status_url": reverse(f"{self.url}-status", args=[pk, job.pk]),
                "retry_url": reverse(f"{self.url}-retry", args=[pk, job.pk]),
                "upload_url": reverse(self.upload_url, args=[pk]),
                "done_links": self.done_links(project, job),
            },
        )  # fmt: skip

    def status(self, request: HttpRequest, pk: int, job_id: int) -> JsonResponse:
        _, job = self._job_for(request, pk, job_id)
        return job_state_response(job, **self._counts(job))

    def retry_page(self, request: HttpRequest, pk: int, job_id: int) -> HttpResponse:
        _, job = self._job_for(request, pk, job_id)
        try:
            self.retry(job=job)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"The {self.kind.lower()} was started again.")
        return redirect(self.url, pk=pk, job_id=job.pk)

    def views(self) -> tuple[Callable[..., HttpResponse], ...]:
        """The job page, its status and its retry, as view functions."""
        return (
            login_required(self.page),
            login_required(require_GET(self.status)),
            login_required(require_POST(self.retry_page)),
        )
