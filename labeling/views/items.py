"""A lead's page of one item: the item, every rater's label with each value it held, when and
after how long, the skips and holds, and the gold answer with each rater's match against it.

Lead-only, like the items list it is opened from: a rater gets 403 (raters never see each
other's labels) and a non-member 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from labeling.selectors import RaterOnItem, item_raters
from projects.models import Item, Label, LabelKind, Project
from projects.views.access import AuthenticatedRequest, project_for

# An image smaller than this (its longer side, in pixels) is shown enlarged by a whole factor,
# with sharp pixels, to about SMALL_IMAGE_SHOWN pixels; a larger one is shown to fit.
SMALL_IMAGE_SIDE = 200
SMALL_IMAGE_SHOWN = 320


@dataclass(frozen=True)
class Chip:
    """A label value as the page shows it: the label's name and colour (a rating is a number)."""

    name: str
    color: str | None = None


@dataclass(frozen=True)
class Revision:
    number: int
    chips: list[Chip]
    at: datetime
    time_spent: str


@dataclass(frozen=True)
class RaterRow:
    username: str  # an external rater's name in the file that named them
    external: bool  # named in an imported file: no account
    imported: bool  # the label came from an imported file
    state: str  # labeled, skipped, leased, assigned, expired
    chips: list[Chip]  # the current label; empty for none (or "none of these")
    revisions: list[Revision]
    gold_match: bool | None
    time_spent: str  # over every revision
    note: str  # a skip's reason, or who assigned the item
    at: datetime | None  # when the label was last changed, or the hold or skip happened
    lease_until: datetime | None


def duration(ms: int) -> str:
    """1234 -> "1.2 s"; 125000 -> "2 min 5 s"; 3720000 -> "1 h 2 min"."""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, second = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {second} s"
    hours, minute = divmod(minutes, 60)
    return f"{hours} h {minute} min"


def value_chips(value: Any, *, project: Project, labels: dict[str, Label]) -> list[Chip]:
    """A stored value as chips: a rating as its number, one label or several by their names (a
    label no longer in the schema by its stored value)."""
    if value is None:
        return []
    if project.label_kind == LabelKind.RATING:
        return [Chip(name=str(value))]
    values = value if isinstance(value, list) else [value]
    chips = []
    for stored in values:
        label = labels.get(str(stored))
        chips.append(
            Chip(name=label.display_name, color=label.color) if label else Chip(name=str(stored))
        )
    return chips


def _row(entry: RaterOnItem, *, project: Project, labels: dict[str, Label]) -> RaterRow:
    annotation, assignment = entry.annotation, entry.assignment
    external = entry.external_name
    note = ""
    if assignment is not None and annotation is None:
        if assignment.skip_reason:
            note = assignment.skip_reason
        elif assignment.assigned_by is not None:
            note = f"assigned by {assignment.assigned_by.get_username()}"
    return RaterRow(
        username=external if external is not None else entry.rater.get_username(),
        external=external is not None,
        imported=annotation is not None and annotation.import_job_id is not None,
        state=entry.state,
        chips=value_chips(annotation.value if annotation else None, project=project, labels=labels),
        revisions=[
            Revision(
                number=revision.revision,
                chips=value_chips(revision.value, project=project, labels=labels),
                at=revision.created_at,
                time_spent=duration(revision.time_spent_ms),
            )
            for revision in entry.revisions
        ],
        gold_match=entry.gold_match,
        time_spent=duration(annotation.time_spent_ms) if annotation else "",
        note=note,
        at=annotation.updated_at if annotation else (assignment.updated_at if assignment else None),
        lease_until=assignment.expires_at if assignment and entry.state == "leased" else None,
    )


def _shown_size(item: Item) -> tuple[int, int] | None:
    """The size to show a small image at (a whole multiple of its own), or None to fit."""
    if item.image is None or max(item.image.width, item.image.height) >= SMALL_IMAGE_SIDE:
        return None
    factor = max(1, SMALL_IMAGE_SHOWN // max(item.image.width, item.image.height))
    return item.image.width * factor, item.image.height * factor


@login_required
def item_detail(request: AuthenticatedRequest, pk: int, item_id: int) -> HttpResponse:
    access = project_for(request, pk)
    project = access.project
    item = Item.objects.select_related("project", "image", "import_job").filter(
        pk=item_id, project=project
    ).first()  # fmt: skip
    if item is None:
        raise Http404("No such item in this project.")
    labels = {label.value: label for label in project.labels.all()}
    rows = [_row(entry, project=project, labels=labels) for entry in item_raters(item=item)]
    siblings = Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)
    return render(
        request,
        "labeling/item_detail.html",
        {
            "access": access,
            "project": project,
            "active_tab": "items",
            "item": item,
            "rows": rows,
            "labeled": sum(row.state == "labeled" for row in rows),
            "gold_chips": value_chips(
                item.gold_value if item.is_gold else None, project=project, labels=labels
            ),
            "matched": sum(row.gold_match is True for row in rows),
            "shown_size": _shown_size(item),
            "previous_id": siblings.filter(pk__lt=item.pk).order_by("-pk").first(),
            "next_id": siblings.filter(pk__gt=item.pk).first(),
        },
    )
