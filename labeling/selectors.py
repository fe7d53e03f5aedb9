"""Reads for the labeling page, the rater's home and a lead's view of an item."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery
from django.utils import timezone

from labeling.assignment import CLAIM_ORDER
from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationRevision,
    Assignment,
    AssignmentStatus,
)
from projects.models import Item, ItemStatus, LabelKind, Membership, Project
from projects.values import gold_matches

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

OPEN_STATUSES = (ItemStatus.OPEN, ItemStatus.IN_PROGRESS)


def start_of_today(now: datetime) -> datetime:
    """Midnight (TIME_ZONE) of the day `now` falls in."""
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date(), time.min), local.tzinfo)


def labeled_counts(*, project_id: int, user_id: int, now: datetime) -> tuple[int, int]:
    """The member's labeled items in the project, counted from their annotations: in all, and
    since midnight of `now`'s day (the counts the membership row keeps). Imported labels count
    in the total only: they are history, whenever they were made."""
    today = Q(created_at__gte=start_of_today(now), import_job__isnull=True)
    counted = Annotation.objects.filter(project=project_id, rater=user_id).aggregate(
        total=Count("pk"), today=Count("pk", filter=today)
    )
    return counted["total"], counted["today"]


@dataclass(frozen=True)
class PastItem:
    assignment: Assignment
    item: Item
    annotation: Annotation | None  # None when skipped


def rater_history(
    *, project: Project, rater: User, before_id: int | None = None, limit: int = 20
) -> list[PastItem]:
    """The rater's own submitted and skipped items, most recently claimed first (paged by id).
    Only the rater's own labels: never another rater's."""
    assignments = Assignment.objects.filter(
        project=project,
        rater=rater,
        status__in=(AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED),
    ).select_related("item", "item__image")
    if before_id is not None:
        assignments = assignments.filter(id__lt=before_id)
    rows = list(assignments.order_by("-id")[:limit])
    annotations = {
        a.item_id: a
        for a in Annotation.objects.filter(rater=rater, item_id__in=[r.item_id for r in rows])
        .select_related("label")
        .prefetch_related("chosen__label")
    }
    return [
        PastItem(assignment=r, item=r.item, annotation=annotations.get(r.item_id)) for r in rows
    ]


def items_open_for_rater(*, project: Project, rater: User, limit: int) -> list[int]:
    """Ids of up to `limit` regular items the rater could be given now, in the claim order
    (the same order and filters as `assignment._pick_regular`, served by `item_claim_order`):
    a slot free, not resolved, and never held by this rater."""
    held_by_rater = Assignment.objects.filter(item=OuterRef("pk"), rater_id=rater.pk)
    return list(
        Item.objects.filter(project=project, is_gold=False, slots_taken__lt=project.raters_per_item)
        .exclude(status=ItemStatus.RESOLVED)
        .exclude(Exists(held_by_rater))
        .order_by(*CLAIM_ORDER)
        .values_list("pk", flat=True)[:limit]
    )


def assigned_waiting_by_rater(*, project: Project) -> list[tuple[str, int]]:
    """Lead-assigned items not yet labeled or skipped, per rater username, most first."""
    rows = (
        Assignment.objects.filter(project=project, status=AssignmentStatus.ASSIGNED)
        .order_by()
        .values("rater__username")
        .annotate(n=Count("id"))
        .values_list("rater__username", "n")
    )
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def annotation_counts_by_project(
    *, project_ids: list[int], user: User | None = None
) -> dict[int, int]:
    """Annotations per project (only `user`'s, when given)."""
    annotations = Annotation.objects.filter(project_id__in=project_ids)
    if user is not None:
        annotations = annotations.filter(rater=user)
    return dict(
        annotations.order_by()
        .values("project_id")
        .annotate(n=Count("id"))
        .values_list("project_id", "n")
    )


def rater_counts(*, project: Project, user: User) -> dict[str, int]:
    """A rater's own figures in a project: labels submitted, items skipped, items in hand."""
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


def annotation_gold_correct(annotation: Annotation) -> bool | None:
    """Whether a gold item's annotation matches the item's gold answer as it is now (a lead may
    have corrected it since); None for a regular item."""
    item = annotation.item
    if not item.is_gold:
        return None
    return gold_matches(value=annotation.value, gold_value=item.gold_value)


# --- a lead's view of one item --------------------------------------------------------------


@dataclass(frozen=True)
class RaterOnItem:
    """One rater's part in an item: their hold or skip, their label and every value it held."""

    rater: User
    assignment: Assignment | None  # None for a label whose assignment row was deleted
    annotation: Annotation | None
    revisions: list[AnnotationRevision]  # oldest first
    gold_match: bool | None  # the label against the item's current gold answer; None: no gold
    # An external rater's name in the file that named them (None: a person with an account).
    external_name: str | None = None

    @property
    def state(self) -> str:
        """labeled, skipped, leased, assigned or expired."""
        if self.annotation is not None:
            return "labeled"
        assert self.assignment is not None
        return str(self.assignment.status)


def item_raters(*, item: Item) -> list[RaterOnItem]:
    """Everyone who holds, skipped or labeled the item, labels first (in the order they came),
    with each label's revisions, and whether it matches the item's gold answer as it is now (a
    lead may have corrected it since the label was given). Three queries however many raters
    (four in a multi-label project: the chosen labels). `item.project` is read."""
    assignments = {
        a.rater_id: a
        for a in Assignment.objects.filter(item=item).select_related("rater", "assigned_by")
    }
    # External raters only ever have labels (they hold no lease), so their names come with the
    # annotations, in the same query.
    external = Membership.objects.filter(
        project=OuterRef("project"), user=OuterRef("rater"), is_external=True
    ).values("external_name")[:1]
    annotations = (
        Annotation.objects.filter(item=item)
        .select_related("rater", "label")
        .annotate(external_name=Subquery(external))
    )
    if item.project.label_kind == LabelKind.MULTI:
        chosen = AnnotationLabel.objects.select_related("label")
        annotations = annotations.prefetch_related(Prefetch("chosen", queryset=chosen))
    annotations = annotations.prefetch_related("revisions").order_by("created_at", "id")
    raters = []
    for annotation in annotations:
        annotation.item = item  # the one the caller loaded
        raters.append(
            RaterOnItem(
                rater=annotation.rater,
                assignment=assignments.get(annotation.rater_id),
                annotation=annotation,
                revisions=list(annotation.revisions.all()),
                gold_match=annotation_gold_correct(annotation),
                external_name=annotation.external_name,  # type: ignore[attr-defined]
            )
        )
    labeled = {entry.rater.pk for entry in raters}
    others = sorted(
        (a for rater_id, a in assignments.items() if rater_id not in labeled),
        key=lambda a: (a.status == AssignmentStatus.EXPIRED, a.updated_at, a.pk),
    )
    raters += [
        RaterOnItem(rater=a.rater, assignment=a, annotation=None, revisions=[], gold_match=None)
        for a in others
    ]
    return raters
