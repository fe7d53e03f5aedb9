"""Reads of agreement that several callers need: a project's conflicts (the lead's queue) and one
conflict with everything a lead decides on, the project's annotations as pipelines read them, and
its items' agreement rows. Each reads a page in a fixed number of queries, whatever its size.
The admin's queue spans the projects a lead leads, narrowed as its filters say
(`conflicts_in_queue`), and moves from one conflict to the next in the same order.

Raters are named as a lead knows them: by username, or, for an external rater (a name from an
imported file: `Membership.is_external`), by that name.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery

from agreement.models import Conflict, ConflictStatus, ItemAgreement, ItemEvent, Resolution
from labeling.models import Annotation, AnnotationLabel, AnnotationRevision
from projects.models import LabelKind, Membership, Project

# The lead's queue: lowest agreement first, conflicts with no figure yet (fewer than two labels)
# last, then by id.
QUEUE_ORDER = (F("observed").asc(nulls_last=True), "pk")
# An item's text and imported fields can be large; no list here shows them.
_ITEM_BULK = ("item__text", "item__data")


def conflict_queue(*, project_id: int) -> QuerySet[Conflict]:
    """The project's conflicts in every status, in queue order; each with its item, the item's
    current consensus (`item.agreement`) and label of record (`item.label_of_record`) read in
    the same query.

    The order is the one `conflict_next` follows, so a lead going down the list and one pressing
    "next" meet the same conflicts in the same order."""
    return (
        Conflict.objects.filter(project_id=project_id)
        .select_related("item__agreement", "item__label_of_record")
        .defer(*_ITEM_BULK)
        .order_by(*QUEUE_ORDER)
    )


@dataclass(frozen=True)
class ConflictDetail:
    """A conflict with what a lead decides on: every current label on its item (with who gave
    it), every decision taken on it, and the item's agreement history, each oldest first."""

    conflict: Conflict
    annotations: list[Annotation]
    resolutions: list[Resolution]
    events: list[ItemEvent]


def conflict_detail(*, conflict: Conflict, label_kind: str) -> ConflictDetail:
    """Three queries (four in a multi-label project: the chosen labels), however many labels,
    decisions and events the item has. `conflict` comes from `conflict_queue`."""
    annotations = annotations_with_raters(
        Annotation.objects.filter(item_id=conflict.item_id), label_kind=label_kind
    ).order_by("pk")
    resolutions = (
        Resolution.objects.filter(conflict=conflict)
        .annotate(lead_username=F("lead__username"))
        .order_by("created_at", "pk")
    )
    events = (
        ItemEvent.objects.filter(item_id=conflict.item_id)
        .annotate(actor_username=F("actor__username"))
        .order_by("created_at", "pk")
    )
    return ConflictDetail(
        conflict=conflict,
        annotations=list(annotations),
        resolutions=list(resolutions),
        events=list(events),
    )


def annotations_with_raters(
    annotations: QuerySet[Annotation], *, label_kind: str, revisions: bool = False
) -> QuerySet[Annotation]:
    """The annotations with what shows them: their value (`Annotation.value`: the label row, or
    the chosen labels of a multi-label project in one more query), the rater's username
    (`rater_username`) and external name (`rater_external_name`, None for a member with an
    account), and with `revisions` every value each held (`revision_list`, oldest first, one more
    query)."""
    external_name = Membership.objects.filter(
        project_id=OuterRef("project_id"), user_id=OuterRef("rater_id"), is_external=True
    ).values("external_name")[:1]
    annotations = annotations.select_related("label").annotate(
        rater_username=F("rater__username"), rater_external_name=Subquery(external_name)
    )
    if label_kind == LabelKind.MULTI:
        chosen = AnnotationLabel.objects.select_related("label")
        annotations = annotations.prefetch_related(Prefetch("chosen", queryset=chosen))
    if revisions:
        annotations = annotations.prefetch_related(
            Prefetch(
                "revisions",
                queryset=AnnotationRevision.objects.order_by("revision"),
                to_attr="revision_list",
            )
        )
    return annotations


def project_annotations(*, project: Project, revisions: bool = False) -> QuerySet[Annotation]:
    """Every annotation of the project (unordered: the caller pages it by id), with its item's
    key (`item_key`) and what `annotations_with_raters` adds."""
    return annotations_with_raters(
        Annotation.objects.filter(project=project).annotate(item_key=F("item__key")),
        label_kind=project.label_kind, revisions=revisions,
    )  # fmt: skip


def rater_ids_named(*, project_id: int, name: str) -> list[int]:
    """The users a lead may mean by `name` in the project: the user with that username (a member
    or a former one, whose labels stay), and an external rater of the project by that name."""
    users = get_user_model().objects.filter(username=name).order_by().values_list("pk", flat=True)
    externals = (
        Membership.objects.filter(project_id=project_id, is_external=True, external_name=name)
        .order_by()
        .values_list("user_id", flat=True)
    )
    return sorted(set(users.union(externals)))


def item_agreements(*, project_id: int) -> QuerySet[ItemAgreement]:
    """The project's per-item agreement rows (unordered: the caller pages them by item id), each
    with its item and the item's label of record in the same query."""
    return (
        ItemAgreement.objects.filter(project_id=project_id)
        .select_related("item__label_of_record")
        .defer(*_ITEM_BULK)
    )


# --- the admin's queue: across the projects a lead leads ---------------------------------------


def conflicts_in_queue(
    *,
    project_ids: Collection[int] | None,
    statuses: Collection[str] = (ConflictStatus.OPEN,),
    label_pair: str = "",
    key_contains: str = "",
) -> QuerySet[Conflict]:
    """The conflicts of the given projects (of every project when None) in queue order, narrowed
    as the admin's queue narrows them: by status, label pair and a part of the item's key."""
    queue = Conflict.objects.filter(status__in=list(statuses))
    if project_ids is not None:
        queue = queue.filter(project_id__in=list(project_ids))
    if label_pair:
        queue = queue.filter(label_pair=label_pair)
    if key_contains:
        queue = queue.filter(item__key__icontains=key_contains)
    return queue.order_by(*QUEUE_ORDER)


def conflict_after(*, queue: QuerySet[Conflict], current: Conflict) -> Conflict | None:
    """The conflict after `current` in queue order, else the first of the queue (the lead
    skipped those before); never `current` itself. `current` need not be in the queue any more
    (a decision has just taken it out): its place is where its agreement puts it."""
    if current.observed is None:
        later = Q(observed__isnull=True, pk__gt=current.pk)
    else:
        later = (
            Q(observed__gt=current.observed)
            | Q(observed=current.observed, pk__gt=current.pk)
            | Q(observed__isnull=True)
        )
    others = queue.exclude(pk=current.pk)
    return others.filter(later).first() or others.first()


def conflict_label_pairs(*, conflicts: QuerySet[Conflict]) -> list[tuple[str, int]]:
    """The label pairs that occur in these conflicts, with how many, most frequent first."""
    rows = (
        conflicts.exclude(label_pair="")
        .order_by()
        .values("label_pair")
        .annotate(n=Count("pk"))
        .values_list("label_pair", "n")
    )
    return sorted(rows, key=lambda row: (-row[1], row[0]))
