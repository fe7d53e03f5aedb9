"""Creating a project, and its settings and label schema."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import (
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from projects.forms import BaseLabelFormSet, ProjectForm, label_formset
from projects.markdown import render_markdown
from projects.models import LabelKind, Project
from projects.services.archive import (
    project_archive,
    project_unarchive,
)
from projects.services.projects import (
    project_create,
    project_has_labels,
    project_labels_set,
    project_update,
)
from projects.views.access import AuthenticatedRequest, apply_service_error, project_for

MARKDOWN_PREVIEW_MAX_CHARS = 200_000


# --- creating and editing a project ------------------------------------------------------------


@login_required
def project_new(request: AuthenticatedRequest) -> HttpResponse:
    """Anyone signed in may start a project; they become its first lead."""
    data = request.POST if request.method == "POST" else None
    form = ProjectForm(data)
    labels = label_formset(data)
    label_errors: list[str] = []
    if data is not None and _both_valid(form, labels):
        try:
            _check_label_count(form, labels)
            project = project_create(
                created_by=request.user, labels=labels.label_specs(), **form.service_fields()
            )
        except ValidationError as error:
            label_errors = apply_service_error(form, error)
        else:
            messages.success(request, f"Project “{project.name}” created. Import items next.")
            return redirect("project-detail", pk=project.pk)
    return render(
        request,
        "projects/project_form.html",
        {"form": form, "labels": labels, "label_errors": label_errors, "is_new": True},
    )


@login_required
def project_settings(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    access = project_for(request, pk)
    project = access.project
    data = request.POST if request.method == "POST" else None
    current_labels = list(project.labels.all())
    form = ProjectForm(
        data,
        initial={name: getattr(project, name) for name in ProjectForm.Meta.fields},
        content_type_locked=project.items.exists(),
        schema_locked=project_has_labels(project=project),
    )
    labels = label_formset(data, labels=current_labels)
    label_errors: list[str] = []
    if data is not None and _both_valid(form, labels):
        # A fresh copy: the header keeps showing the saved name if the write is refused.
        target = Project.objects.get(pk=project.pk)
        try:
            _check_label_count(form, labels)
            # Settings and schema are saved together or not at all.
            with transaction.atomic():
                project_update(project=target, **form.service_fields())
                project_labels_set(project=target, labels=labels.label_specs())
        except ValidationError as error:
            label_errors = apply_service_error(form, error)
        else:
            messages.success(request, "Settings saved.")
            return redirect("project-settings", pk=project.pk)
    return render(
        request,
        "projects/project_form.html",
        {
            "access": access,
            "project": project,
            "form": form,
            "labels": labels,
            "label_errors": label_errors,
            "is_new": False,
            "active_tab": "settings",
        },
    )


@login_required
@require_POST
def project_archive_view(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    project = project_archive(project=project_for(request, pk).project)
    messages.success(
        request,
        f"“{project.name}” is archived: read-only, and hidden from the project list "
        "(“Show archived” lists it).",
    )
    return redirect("project-settings", pk=pk)


@login_required
@require_POST
def project_unarchive_view(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    project = project_unarchive(project=project_for(request, pk).project)
    messages.success(request, f"“{project.name}” is active again.")
    return redirect("project-settings", pk=pk)


def _both_valid(form: ProjectForm, labels: BaseLabelFormSet) -> bool:
    form_ok = form.is_valid()  # evaluate both, so both show their errors
    labels_ok = labels.is_valid()
    return form_ok and labels_ok


def _check_label_count(form: ProjectForm, labels: BaseLabelFormSet) -> None:
    # project_create checks a schema only when it is given one, so an empty one is caught here.
    if form.cleaned_data["label_kind"] != LabelKind.RATING and not labels.label_specs():
        raise ValidationError("A single- or multi-label project needs at least one label.")


@login_required
@require_POST
def markdown_preview(request: AuthenticatedRequest) -> JsonResponse:
    """Instructions as raters will see them: rendered and sanitized by the same function."""
    source = request.POST.get("source", "")[:MARKDOWN_PREVIEW_MAX_CHARS]
    return JsonResponse({"html": render_markdown(source)})
