"""Pages for leads, and the parts of a project a rater may see: the project list, settings and
label schema, members, items, imports and API tokens.

Every project page starts with `_project_for`: a non-member gets 404 (they must not learn that
the project exists) and a rater gets 403 on a lead's page. Forms validate; each write is one call
to a service in `projects.services`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Substr
from django.forms import BaseForm
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from labeling.models import Annotation, Assignment, AssignmentStatus
from projects.forms import (
    BaseLabelFormSet,
    ImportForm,
    ItemFilterForm,
    MemberAddForm,
    MemberRoleForm,
    ProjectForm,
    TokenCreateForm,
    label_formset,
)
from projects.markdown import render_markdown
from projects.models import (
    ApiToken,
    ImportJob,
    Item,
    ItemStatus,
    JobStatus,
    LabelKind,
    Membership,
    Project,
    Role,
)
from projects.selectors import item_status_counts, project_role, projects_for_user
from projects.services.imports import import_job_create, import_job_retry
from projects.services.projects import (
    membership_remove,
    membership_set,
    project_create,
    project_labels_set,
    project_update,
)
from projects.services.tokens import api_token_create, api_token_revoke

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    class AuthenticatedRequest(HttpRequest):
        """What a view behind @login_required receives."""

        user: User
else:
    AuthenticatedRequest = HttpRequest

ITEMS_PER_PAGE = 50
RECENT_IMPORTS = 5
MARKDOWN_PREVIEW_MAX_CHARS = 200_000
NEW_TOKEN_SESSION_KEY = "accord_new_token"

# Order and colour class of each status on the stacked bars and legends.
STATUS_ORDER = [
    ItemStatus.OPEN,
    ItemStatus.IN_PROGRESS,
    ItemStatus.LABELED,
    ItemStatus.CONFLICT,
    ItemStatus.AGREED,
    ItemStatus.RESOLVED,
]


# --- access ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: str

    @property
    def is_lead(self) -> bool:
        return self.role == Role.LEAD


def _project_for(request: HttpRequest, pk: int, *, lead: bool = True) -> ProjectAccess:
    """The project in the URL and the user's role in it.

    Raises 404 for a missing project and for a non-member alike, so that a non-member cannot
    learn that a project exists; raises 403 for a rater on a lead's page.
    """
    project = Project.objects.filter(pk=pk).first()
    role = project_role(project=project, user=request.user) if project else None
    if project is None or role is None:
        raise Http404("No such project.")
    if lead and role != Role.LEAD:
        raise PermissionDenied("Only a lead of this project can open this page.")
    return ProjectAccess(project=project, role=role)


def _apply_service_error(form: BaseForm, error: ValidationError) -> list[str]:
    """Put a service's ValidationError on the form's fields where it names one; return the
    messages that belong to no field of the form."""
    leftover: list[str] = []
    if hasattr(error, "error_dict"):
        for name, errors in error.message_dict.items():
            if name in form.fields:
                form.add_error(name, errors)
            else:
                leftover.extend(errors)
    else:
        leftover.extend(error.messages)
    return leftover


# --- the project list --------------------------------------------------------------------------


@dataclass
class StatusSummary:
    """Item counts by status, ready for a stacked bar and its legend."""

    counts: dict[str, int]
    total: int = 0
    segments: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.total = sum(self.counts.values())
        for status in STATUS_ORDER:
            n = self.counts.get(status, 0)
            self.segments.append(
                {
                    "status": status.value,
                    "label": status.label,
                    "count": n,
                    "percent": round(100 * n / self.total, 2) if self.total else 0,
                }
            )

    @property
    def done(self) -> int:
        """Items that have all their labels in (whatever agreement then says)."""
        return (
            self.total
            - self.counts.get(ItemStatus.OPEN, 0)
            - self.counts.get(ItemStatus.IN_PROGRESS, 0)
        )

    @property
    def done_percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


@login_required
def home(request: AuthenticatedRequest) -> HttpResponse:
    projects = list(projects_for_user(user=request.user).order_by("name", "id"))
    ids = [p.pk for p in projects]
    roles = dict(
        Membership.objects.filter(user=request.user, project_id__in=ids).values_list(
            "project_id", "role"
        )
    )
    counts = item_status_counts(project_ids=ids)
    mine = dict(
        Annotation.objects.filter(rater=request.user, project_id__in=ids)
        .order_by()
        .values("project_id")
        .annotate(n=Count("id"))
        .values_list("project_id", "n")
    )
    cards = [
        {
            "project": p,
            # Superusers see every project and act as its lead.
            "role": roles.get(p.pk, Role.LEAD),
            "summary": StatusSummary(counts.get(p.pk, {})),
            "my_annotations": mine.get(p.pk, 0),
        }
        for p in projects
    ]
    return render(request, "projects/home.html", {"cards": cards})


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
            label_errors = _apply_service_error(form, error)
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
    access = _project_for(request, pk)
    project = access.project
    data = request.POST if request.method == "POST" else None
    current_labels = list(project.labels.all())
    form = ProjectForm(
        data,
        initial={name: getattr(project, name) for name in ProjectForm.Meta.fields},
        content_type_locked=project.items.exists(),
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
            label_errors = _apply_service_error(form, error)
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


# --- the project's dashboard -------------------------------------------------------------------


@login_required
def project_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    access = _project_for(request, pk, lead=False)
    project = access.project
    context: dict[str, Any] = {
        "access": access,
        "project": project,
        "instructions_html": render_markdown(project.instructions),
        "active_tab": "overview",
    }
    if access.is_lead:
        members = dict(
            project.memberships.order_by()
            .values("role")
            .annotate(n=Count("id"))
            .values_list("role", "n")
        )
        context.update(
            summary=StatusSummary(item_status_counts(project_ids=[project.pk]).get(project.pk, {})),
            labels=list(project.labels.all()),
            recent_imports=list(project.import_jobs.select_related("created_by")[:RECENT_IMPORTS]),
            annotation_count=Annotation.objects.filter(project=project).count(),
            lead_count=members.get(Role.LEAD, 0),
            rater_count=members.get(Role.RATER, 0),
        )
        return render(request, "projects/project_detail.html", context)
    context.update(my=_rater_counts(project, request.user))
    return render(request, "projects/project_detail_rater.html", context)


def _rater_counts(project: Project, user: User) -> dict[str, int]:
    held = Assignment.objects.filter(project=project, rater=user).aggregate(
        skipped=Count("id", filter=Q(status=AssignmentStatus.SKIPPED)),
        in_hand=Count(
            "id", filter=Q(status__in=[AssignmentStatus.LEASED, AssignmentStatus.ASSIGNED])
        ),
    )
    return {
        "submitted": Annotation.objects.filter(project=project, rater=user).count(),
        "skipped": held["skipped"],
        "in_hand": held["in_hand"],
    }


# --- members -----------------------------------------------------------------------------------


@login_required
def project_members(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    access = _project_for(request, pk)
    project = access.project
    form = MemberAddForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        existing = project.memberships.filter(user=user).first() if user else None
        if user is None:
            form.add_error("username", f"There is no user named “{username}”.")
        elif existing is not None:
            form.add_error(
                "username",
                f"{username} is already a {existing.get_role_display().lower()} here; "
                "change their role in the list.",
            )
        else:
            try:
                membership_set(project=project, user=user, role=form.cleaned_data["role"])
            except ValidationError as error:
                for message in _apply_service_error(form, error):
                    form.add_error(None, message)
            else:
                role = Role(form.cleaned_data["role"]).label.lower()
                messages.success(request, f"{username} joined as a {role}.")
                return redirect("project-members", pk=project.pk)
    memberships = project.memberships.select_related("user").order_by("role", "user__username")
    return render(
        request,
        "projects/members.html",
        {
            "access": access,
            "project": project,
            "form": form,
            "memberships": memberships,
            "roles": Role.choices,
            "active_tab": "members",
        },
    )


@login_required
@require_POST
def project_member_role(request: AuthenticatedRequest, pk: int, membership_id: int) -> HttpResponse:
    access = _project_for(request, pk)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, project=access.project
    )
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: lead or rater.")
        return redirect("project-members", pk=pk)
    try:
        membership_set(project=access.project, user=membership.user, role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("project-members", pk=pk)
    role = Role(form.cleaned_data["role"]).label.lower()
    messages.success(request, f"{membership.user.username} is now a {role}.")
    if membership.user_id == request.user.pk and form.cleaned_data["role"] != Role.LEAD:
        return redirect("project-detail", pk=pk)
    return redirect("project-members", pk=pk)


@login_required
@require_POST
def project_member_remove(
    request: AuthenticatedRequest, pk: int, membership_id: int
) -> HttpResponse:
    access = _project_for(request, pk)
    membership = get_object_or_404(
        Membership.objects.select_related("user", "project"),
        pk=membership_id,
        project=access.project,
    )
    username = membership.user.username
    try:
        membership_remove(membership=membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("project-members", pk=pk)
    if membership.user_id == request.user.pk:
        messages.success(request, f"You left “{access.project.name}”.")
        return redirect("home")
    messages.success(request, f"{username} was removed from the project.")
    return redirect("project-members", pk=pk)


# --- items -------------------------------------------------------------------------------------


@login_required
def project_items(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Items, newest import last, in pages of ITEMS_PER_PAGE walked by id (keyset), so the
    hundredth page of a 100k-item project costs what the first one does."""
    access = _project_for(request, pk)
    project = access.project
    filters = ItemFilterForm(request.GET)
    items: QuerySet[Item] = Item.objects.filter(project=project)
    filtering = False
    if filters.is_valid():
        if filters.cleaned_data["status"]:
            items = items.filter(status=filters.cleaned_data["status"])
            filtering = True
        if filters.cleaned_data["q"].strip():
            items = items.filter(key__icontains=filters.cleaned_data["q"].strip())
            filtering = True
    total = items.count()
    after, before = _int_param(request, "after"), _int_param(request, "before")
    rows = items.annotate(
        text_preview=Substr("text", 1, 240), source_file=KT("data__file")
    ).only(
        "id", "key", "status", "annotation_count", "priority", "is_gold", "image_id",
        "created_at", "project_id",
    )  # fmt: skip
    if before is not None:
        page = list(rows.filter(pk__lt=before).order_by("-pk")[: ITEMS_PER_PAGE + 1])
        has_previous = len(page) > ITEMS_PER_PAGE
        page = page[:ITEMS_PER_PAGE][::-1]
        has_next = bool(page) and items.filter(pk__gt=page[-1].pk).exists()
    else:
        start = rows.filter(pk__gt=after) if after is not None else rows
        page = list(start.order_by("pk")[: ITEMS_PER_PAGE + 1])
        has_next = len(page) > ITEMS_PER_PAGE
        page = page[:ITEMS_PER_PAGE]
        has_previous = bool(page) and items.filter(pk__lt=page[0].pk).exists()
    query = request.GET.copy()
    for name in ("after", "before"):
        query.pop(name, None)
    return render(
        request,
        "projects/items.html",
        {
            "access": access,
            "project": project,
            "filters": filters,
            "filtering": filtering,
            "items": page,
            "total": total,
            "next_after": page[-1].pk if page and has_next else None,
            "previous_before": page[0].pk if page and has_previous else None,
            "base_query": query.urlencode(),
            "active_tab": "items",
        },
    )


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


@login_required
@require_GET
def item_image(request: AuthenticatedRequest, item_id: int) -> HttpResponseBase:
    return _item_file(request, item_id, thumbnail=False)


@login_required
@require_GET
def item_thumbnail(request: AuthenticatedRequest, item_id: int) -> HttpResponseBase:
    return _item_file(request, item_id, thumbnail=True)


def _item_file(request: HttpRequest, item_id: int, *, thumbnail: bool) -> HttpResponseBase:
    """Stream an item's image to a member of its project. Blobs are named by content hash, so
    the hash is a perfect ETag and the browser may keep the file."""
    item = Item.objects.select_related("image").filter(pk=item_id).only(
        "id", "project_id", "image"
    ).first()  # fmt: skip
    if item is None or project_role(project=item.project_id, user=request.user) is None:
        raise Http404("No such item.")
    if item.image is None:
        raise Http404("This item has no image.")
    blob_file = item.image.thumbnail if thumbnail else item.image.file
    etag = f'"{item.image.sha256}{"-t" if thumbnail else ""}"'
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponseBase = HttpResponseNotModified()
    else:
        try:
            response = FileResponse(blob_file.open("rb"))
        except (FileNotFoundError, ValueError) as error:
            raise Http404("The image file is missing.") from error
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=86400"
    return response


# --- imports -----------------------------------------------------------------------------------


@login_required
def project_import(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    access = _project_for(request, pk)
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
            for message in _apply_service_error(form, error):
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
    access = _project_for(request, pk)
    job = get_object_or_404(
        ImportJob.objects.select_related("created_by"), pk=job_id, project=access.project
    )
    return access, job


def _job_state(job: ImportJob) -> dict[str, Any]:
    percent = None
    if job.total:
        percent = min(100, round(100 * job.progress / job.total))
    elif job.status == JobStatus.SUCCEEDED:
        percent = 100
    return {
        "id": job.pk,
        "status": job.status,
        "status_display": job.get_status_display(),
        "phase": job.phase,
        "progress": job.progress,
        "total": job.total,
        "percent": percent,
        "created_count": job.created_count,
        "duplicate_count": job.duplicate_count,
        "error_count": job.error_count,
        "message": job.message,
        "finished": job.is_finished,
    }


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
            "state": _job_state(job),
            "active_tab": "import",
        },
    )


@login_required
@require_GET
def import_job_status(request: AuthenticatedRequest, pk: int, job_id: int) -> JsonResponse:
    _, job = _job_for(request, pk, job_id)
    response = JsonResponse(_job_state(job))
    response["Cache-Control"] = "no-store"
    return response


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


# --- API tokens --------------------------------------------------------------------------------


@login_required
def tokens(request: AuthenticatedRequest) -> HttpResponse:
    """The user's API tokens. A new token's secret is kept in the session only until the page
    that shows it once has been rendered (post, redirect, get: a reload does not create another)."""
    form = TokenCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            for message in _apply_service_error(form, error):
                form.add_error(None, message)
        else:
            request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "secret": secret}
            return redirect("tokens")
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    response = render(
        request,
        "projects/tokens.html",
        {
            "form": form,
            "tokens": ApiToken.objects.filter(user=request.user),
            "new_token": new_token,
            "api_base": request.build_absolute_uri(reverse("api-schema")).rsplit("/api/", 1)[0],
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    api_token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” was revoked; requests that use it now fail.")
    return redirect("tokens")
