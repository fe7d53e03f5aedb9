"""Pages that gather figures from every app: the home page (the caller's projects) and a
project's overview (a lead's dashboard, or a rater's own figures)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import (
    HttpResponse,
)
from django.shortcuts import render

from agreement.models import OPEN_STATUSES
from agreement.services.figures import conflict_counts, figures_of
from labeling.selectors import annotation_counts_by_project, rater_counts
from projects.markdown import render_markdown
from projects.models import ItemStatus, Membership, Role
from projects.selectors import (
    ArchivedFilter,
    item_status_counts,
    projects_by_archived,
    projects_for_user,
)
from projects.views.access import AuthenticatedRequest, project_for

RECENT_IMPORTS = 5

# The statuses the agreement step will set (planned): shown only when an item has one.
PLANNED_STATUSES = frozenset({ItemStatus.AGREED, ItemStatus.CONFLICT, ItemStatus.RESOLVED})
# Order and colour class of each status on the stacked bars and legends.
STATUS_ORDER = [
    ItemStatus.OPEN,
    ItemStatus.IN_PROGRESS,
    ItemStatus.LABELED,
    ItemStatus.CONFLICT,
    ItemStatus.AGREED,
    ItemStatus.RESOLVED,
]


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
                    "planned": status in PLANNED_STATUSES,
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
    def waiting(self) -> int:
        """Items that still need a label (open or in progress)."""
        return self.total - self.done

    @property
    def done_percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


@login_required
def home(request: AuthenticatedRequest) -> HttpResponse:
    """The caller's projects; archived ones only with `?archived=true`, and counted otherwise
    (the page links to them)."""
    showing_archived = request.GET.get("archived") == ArchivedFilter.ARCHIVED
    visible = projects_for_user(user=request.user)
    archived = ArchivedFilter.ARCHIVED if showing_archived else ArchivedFilter.ACTIVE
    projects = list(projects_by_archived(visible, archived=archived).order_by("name", "id"))
    archived_count = 0 if showing_archived else visible.filter(archived_at__isnull=False).count()
    ids = [p.pk for p in projects]
    roles = dict(
        Membership.objects.filter(user=request.user, project_id__in=ids).values_list(
            "project_id", "role"
        )
    )
    counts = item_status_counts(project_ids=ids)
    mine = annotation_counts_by_project(user=request.user, project_ids=ids)
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
    context = {
        "cards": cards, "showing_archived": showing_archived, "archived_count": archived_count
    }  # fmt: skip
    return render(request, "overview/home.html", context)


# --- the project's dashboard -------------------------------------------------------------------


@login_required
def project_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    access = project_for(request, pk, lead=False)
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
            annotation_count=annotation_counts_by_project(project_ids=[project.pk]).get(
                project.pk, 0
            ),
            lead_count=members.get(Role.LEAD, 0),
            rater_count=members.get(Role.RATER, 0),
            agreement=figures_of(project),
            conflicts_open=sum(conflict_counts(project).get(s, 0) for s in OPEN_STATUSES),
        )
        return render(request, "overview/project_detail.html", context)
    context.update(my=rater_counts(project=project, user=request.user))
    return render(request, "overview/project_detail_rater.html", context)
