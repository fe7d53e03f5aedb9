"""A project's dataset versions (a lead's pages): the versions list with the build form, a
version's page (status and progress, files, validation report, dataset card, manifest), its
status for the poller and its retry, and the diff between two ready versions. Each write is one
call to `exports.services.build`; reads go through `exports.selectors`, the API's. A rater gets
403, anyone outside the project 404."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import Conflict
from core.jobs.models import JobStatus
from core.jobs.views import job_state, job_state_response
from exports.diffs import DIFF_KINDS, Transition, VersionsDiff
from exports.forms import DatasetBuildForm
from exports.models import DatasetFile, DatasetVersion, VersionOutcome
from exports.selectors import (
    DATA_FILE,
    LATEST,
    version_by_ref,
    version_ready,
    versions_diff_of,
    versions_of,
)
from exports.services.build import dataset_version_request, dataset_version_retry
from projects.markdown import render_markdown
from projects.views.access import AuthenticatedRequest, apply_service_error, project_for

VERSIONS_PER_PAGE = 25
KEYS_PER_PAGE = 50
# The dataset card is shown up to this size (a card is a few kilobytes).
MAX_CARD_BYTES = 256 * 1024


def _version(request: AuthenticatedRequest, pk: int, version_id: int) -> DatasetVersion:
    access = project_for(request, pk)
    return get_object_or_404(versions_of(project_id=access.project.pk), pk=version_id)


@login_required
def project_datasets(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The versions, newest first, and the form that builds one."""
    access = project_for(request, pk)
    project = access.project
    form = DatasetBuildForm(request.POST if request.method == "POST" else None, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            version = dataset_version_request(
                project=project, spec=form.spec(), name=form.cleaned_data["name"],
                note=form.cleaned_data["note"], requested_by=request.user,
            )  # fmt: skip
        except ValidationError as error:
            for message in apply_service_error(form, form.spec_error(error)):
                form.add_error(None, message)
        else:
            messages.success(request, f"Build {version.pk} is queued.")
            return redirect("project-dataset-version", pk=pk, version_id=version.pk)
    page = Paginator(versions_of(project_id=project.pk), VERSIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    versions: list[DatasetVersion] = list(page.object_list)
    for version in versions:
        version.state = job_state(version)  # type: ignore[attr-defined]
    return render(
        request,
        "exports/datasets.html",
        {
            "access": access, "project": project, "active_tab": "datasets", "form": form,
            "page": page, "versions": versions,
            "building": any(not v.is_finished for v in versions),
        },
    )  # fmt: skip


def _label_rows(validation: dict[str, Any]) -> list[dict[str, Any]]:
    """The label distribution of the parent and of the version, side by side, as shares (for
    the bars), most frequent in the version first."""
    labels = validation.get("labels") or {}
    parent = labels.get("parent") or {}
    mine = labels.get("version") or {}
    parent_total, total = sum(parent.values()), sum(mine.values())
    rows = [
        {
            "label": label,
            "parent": parent.get(label) if labels.get("parent") is not None else None,
            "parent_share": parent.get(label, 0) / parent_total if parent_total else None,
            "version": mine.get(label, 0),
            "share": mine.get(label, 0) / total if total else None,
        }
        for label in set(parent) | set(mine)
    ]
    return sorted(rows, key=lambda row: (-row["version"], -(row["parent"] or 0), row["label"]))


def _card(files: list[DatasetFile]) -> tuple[str, str] | None:
    """The dataset card's front matter and its body rendered (sanitized) as HTML."""
    card = next((file for file in files if file.kind == DatasetFile.Kind.CARD), None)
    if card is None or card.size > MAX_CARD_BYTES:
        return None
    try:
        with default_storage.open(card.storage_name, "rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    front = ""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            front, text = text[4:end], text[end + 5 :]
    return front, render_markdown(text)


@login_required
@require_GET
def dataset_version(request: AuthenticatedRequest, pk: int, version_id: int) -> HttpResponse:
    """One version: status (and progress while it builds), files, the validation report, the
    dataset card and the manifest."""
    access = project_for(request, pk)
    version = get_object_or_404(versions_of(project_id=access.project.pk), pk=version_id)
    files = list(version.files.all()) if version.is_ready else []
    api = "api-dataset-file"
    for file in files:
        file.url = reverse(api, kwargs={"project_pk": pk, "version": version.pk, "name": file.name})  # type: ignore[attr-defined]
    latest_url = request.build_absolute_uri(
        reverse(api, kwargs={"project_pk": pk, "version": LATEST, "name": DATA_FILE})
    )
    validation = dict(version.validation or {})
    order = list((version.spec or {}).get("splits") or {})
    validation["splits"] = sorted(
        validation.get("splits") or [],
        key=lambda entry: order.index(entry["split"]) if entry["split"] in order else len(order),
    )
    state = job_state(version)
    return render(
        request,
        "exports/dataset_version.html",
        {
            "access": access, "project": access.project, "active_tab": "datasets",
            "version": version, "job": version, "state": state, "files": files,
            "status_url": reverse("project-dataset-version-status", args=[pk, version.pk]),
            "can_retry": version.status == JobStatus.FAILED or state["stalled"],
            "latest_url": latest_url,
            "snippet": _snippet(latest_url),
            "validation": validation,
            "label_rows": _label_rows(validation),
            "card": _card(files),
            "manifest_text": json.dumps(version.manifest, indent=2, ensure_ascii=False),
            "spec_text": json.dumps(version.spec, indent=2, ensure_ascii=False),
            "unchanged": version.outcome == VersionOutcome.UNCHANGED,
        },
    )  # fmt: skip


def _snippet(url: str) -> str:
    return (
        "import os\n\nimport pandas as pd\n\n"
        'headers = {"Authorization": f"Token {os.environ[\'ACCORD_TOKEN\']}"}  # a pipeline token\n'
        f'frame = pd.read_parquet(\n    "{url}",\n    storage_options=headers,\n)\n'
    )


@login_required
@require_GET
def dataset_version_status(request: AuthenticatedRequest, pk: int, version_id: int) -> JsonResponse:
    return job_state_response(_version(request, pk, version_id))


@login_required
@require_POST
def dataset_version_retry_view(
    request: AuthenticatedRequest, pk: int, version_id: int
) -> HttpResponse:
    version = _version(request, pk, version_id)
    try:
        dataset_version_retry(version=version)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{version.label} is queued again; it starts afresh.")
    return redirect("project-dataset-version", pk=pk, version_id=version.pk)


def _matrix(transitions: list[Transition]) -> dict[str, Any]:
    """The relabeled items as a table: old labels down, new labels across, each cell's count
    and its shade (its share of the largest cell)."""
    sources = sorted({t.source for t in transitions})
    targets = sorted({t.target for t in transitions})
    counts = {(t.source, t.target): t.count for t in transitions}
    largest = max(counts.values(), default=1)
    rows = [
        {
            "label": source,
            "total": sum(counts.get((source, target), 0) for target in targets),
            "cells": [
                {
                    "count": counts.get((source, target), 0),
                    "shade": round(counts.get((source, target), 0) / largest, 3),
                }
                for target in targets
            ],
        }
        for source in sources
    ]
    return {"targets": targets, "rows": rows}


def _kind_pages(request: AuthenticatedRequest, diff: VersionsDiff) -> list[dict[str, Any]]:
    """Each kind's page of keys (`after_<kind>` in the query pages it) with its next link."""
    pages = []
    for kind in DIFF_KINDS:
        after = request.GET.get(f"after_{kind}") or None
        page = diff.page(kind, after=after, limit=KEYS_PER_PAGE)
        following = first = None
        if page.after is not None:
            query = request.GET.copy()
            query[f"after_{kind}"] = page.after
            following = f"?{query.urlencode()}#{kind}"
        if after is not None:
            query = request.GET.copy()
            query.pop(f"after_{kind}", None)
            first = f"?{query.urlencode()}#{kind}"
        pages.append(
            {"kind": kind, "count": diff.counts[kind], "rows": page.rows, "next": following,
             "first": first}
        )  # fmt: skip
    return pages


@login_required
@require_GET
def dataset_diff(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """What changed between two ready versions (`from` and `to`: an id, v<number> or latest);
    by default the latest ready version against its parent."""
    access = project_for(request, pk)
    project = access.project
    ready = list(
        versions_of(project_id=project.pk)
        .filter(status=JobStatus.SUCCEEDED, outcome=VersionOutcome.BUILT, number__isnull=False)
        .order_by("-number")
    )
    context: dict[str, Any] = {
        "access": access, "project": project, "active_tab": "datasets", "ready": ready,
    }  # fmt: skip
    error = None
    old = new = None
    try:
        new = version_by_ref(project_id=project.pk, ref=request.GET.get("to") or LATEST)
        if request.GET.get("from"):
            old = version_by_ref(project_id=project.pk, ref=request.GET["from"])
        else:
            old = new.parent
        if old is not None:
            version_ready(old)
        version_ready(new)
    except Http404 as missing:
        error = str(missing)
    except Conflict as not_ready:
        error = " ".join(not_ready.messages)
    context.update(old=old, new=new, error=error)
    if error is None and old is not None and new is not None:
        diff = versions_diff_of(old=old, new=new)
        context.update(
            diff=diff, counts=diff.counts, matrix=_matrix(diff.transitions),
            split_moves=diff.split_moves, kinds=_kind_pages(request, diff),
        )  # fmt: skip
    return render(request, "exports/dataset_diff.html", context)
