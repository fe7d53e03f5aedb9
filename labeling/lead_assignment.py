"""A lead's assignment of items to a named rater: assigned items come first in the rater's
queue, never expire, and each takes one of the item's k slots (the claim engine is in
`labeling.assignment`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from labeling.assignment import STATUS_AFTER_TAKE
from labeling.errors import NotAMember
from labeling.models import Assignment, AssignmentStatus
from projects.models import Item, ItemStatus, Membership, Project
from projects.services.archive import project_ensure_writable

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@dataclass(frozen=True)
class AssignResult:
    assigned: list[int]  # item ids now assigned to the rater
    already_held: list[int]  # the rater already had (or had done) these
    full: list[int]  # k raters already hold or labeled these, or a lead resolved them
    unknown: list[str]  # keys or ids not found in the project


def items_assign(
    *,
    project: Project,
    rater: User,
    assigned_by: User | None,
    item_ids: Iterable[int] = (),
    keys: Iterable[str] = (),
    now: datetime | None = None,
) -> AssignResult:
    """A lead assigns a batch of items to a named rater. Assigned items come first in the
    rater's queue and do not expire; each takes one of the item's k slots. Items the rater
    already holds or did, and items already full, are reported and left alone. Not in an
    archived project."""
    project_ensure_writable(project=project)
    now = now or timezone.now()
    wanted_ids = {int(i) for i in item_ids}
    wanted_keys = {str(k) for k in keys}
    member = Membership.objects.filter(project=project, user=rater).first()
    if member is None:
        raise NotAMember(f"{rater} is not a member of this project.")
    if member.is_external:
        raise NotAMember(
            f"{member.external_name} is an external rater: their labels come from imported "
            "files, and they get no items to label."
        )
    with transaction.atomic():
        # Lock the items in pk order (see slots_release) so concurrent claims and other
        # assignments see consistent slot counts.
        found: Sequence[tuple[int, str, int, bool, str]] = list(
            Item.objects.select_for_update()
            .filter(project=project)
            .filter(Q(pk__in=wanted_ids) | Q(key__in=wanted_keys))
            .order_by("pk")
            .values_list("pk", "key", "slots_taken", "is_gold", "status")
        )
        unknown = sorted(
            (wanted_keys - {row[1] for row in found})
            | {str(i) for i in wanted_ids - {row[0] for row in found}}
        )
        held = set(
            Assignment.objects.filter(
                rater=rater, item_id__in=[row[0] for row in found]
            ).values_list("item_id", flat=True)
        )
        k = project.raters_per_item
        assigned: list[int] = []
        full: list[int] = []
        for pk, _, taken, gold, status in found:
            if pk in held:
                continue
            has_room = status != ItemStatus.RESOLVED and (gold or taken < k)
            (assigned if has_room else full).append(pk)
        Assignment.objects.bulk_create(
            [
                Assignment(
                    project=project,
                    item_id=pk,
                    rater=rater,
                    status=AssignmentStatus.ASSIGNED,
                    assigned_by=assigned_by,
                )
                for pk in assigned
            ]
        )
        Item.objects.filter(pk__in=assigned).update(
            slots_taken=F("slots_taken") + 1, status=STATUS_AFTER_TAKE, updated_at=now
        )
    return AssignResult(assigned=assigned, already_held=sorted(held), full=full, unknown=unknown)


def item_rater_add(*, item_id: int, now: datetime | None = None) -> None:
    """Give an item one more slot beyond k (a lead asks for one more rater on a conflict): it
    returns to the queue, in progress, and is labeled again once the extra label is in.

    `slots_taken` counts holders less `extra_slots` (Item says why), so both move together and
    the claim serves the item with its test `slots_taken < k` as it is. Precondition: the
    caller holds the item's row lock."""
    now = now or timezone.now()
    Item.objects.filter(pk=item_id).update(
        extra_slots=F("extra_slots") + 1, slots_taken=F("slots_taken") - 1,
        status=ItemStatus.IN_PROGRESS, updated_at=now,
    )  # fmt: skip
