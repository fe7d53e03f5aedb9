"""Submitting, changing and skipping labels."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from labeling.assignment import STATUS_AFTER_TAKE, slots_release
from labeling.errors import ItemClosed, LeaseExpired, NoLease
from labeling.models import Annotation, AnnotationRevision, Assignment, AssignmentStatus
from labeling.values import annotation_value_clean, gold_matches
from projects.models import Item, ItemStatus

MAX_TIME_SPENT_MS = 6 * 60 * 60 * 1000  # a client clock gone wrong must not poison the stats


@dataclass(frozen=True)
class SubmitResult:
    annotation: Annotation
    created: bool  # a new annotation (first label of this rater on this item)
    replayed: bool  # a retried request: nothing was written


def _label_values(item: Item) -> set[str]:
    # order_by(): the default ordering would join the project table for nothing.
    return set(item.project.labels.order_by().values_list("value", flat=True))


def _replay(client_id: uuid.UUID, rater: AbstractBaseUser) -> Annotation | None:
    revision = (
        AnnotationRevision.objects.select_related("annotation").filter(client_id=client_id).first()
    )
    if revision is None:
        return None
    if revision.annotation.rater_id != rater.pk:
        raise NoLease("This client_id belongs to another rater's submit.")
    return revision.annotation


def annotation_submit(
    *,
    item: Item,
    rater: AbstractBaseUser,
    value: Any,
    client_id: uuid.UUID | str,
    time_spent_ms: int = 0,
    now: datetime | None = None,
) -> SubmitResult:
    """Record the rater's label on the item, or change it.

    Idempotent by `client_id`: a request retried after a dropped connection finds its revision
    and writes nothing. Accepted only while the rater holds the item (a lease, even one past its
    expiry that no claim has reclaimed yet, since its slot is still counted; or a lead's
    assignment), or to change the rater's own label before the item is resolved. A label sent
    after the lease was reclaimed (a connection lost for longer than the lease) is still
    accepted while one of the item's k slots is free. Otherwise a NoLease / LeaseExpired /
    ItemClosed error (HTTP 409).
    """
    now = now or timezone.now()
    client_id = uuid.UUID(str(client_id))
    time_spent_ms = max(0, min(int(time_spent_ms or 0), MAX_TIME_SPENT_MS))
    project = item.project
    if (replayed := _replay(client_id, rater)) is not None:
        return SubmitResult(annotation=replayed, created=False, replayed=True)
    clean = annotation_value_clean(project=project, value=value, label_values=_label_values(item))
    gold_correct = gold_matches(value=clean, gold_value=item.gold_value) if item.is_gold else None
    try:
        with transaction.atomic():
            # The lock on the rater's assignment row orders this submit against a reclaim of the
            # same lease: whichever commits first wins, and the loser sees it.
            assignment = (
                Assignment.objects.select_for_update().filter(item=item, rater=rater).first()
            )
            if assignment is None:
                raise NoLease("You do not hold this item: take items from your queue.")
            # Read the status afresh: the caller's `item` may predate a lead's resolution.
            if Item.objects.filter(pk=item.pk, status=ItemStatus.RESOLVED).exists():
                raise ItemClosed("A lead has resolved this item; its labels can no longer change.")
            if assignment.status == AssignmentStatus.SUBMITTED:
                return _annotation_change(
                    item=item, rater=rater, value=clean, client_id=client_id,
                    time_spent_ms=time_spent_ms, gold_correct=gold_correct, now=now,
                )  # fmt: skip
            if assignment.status == AssignmentStatus.EXPIRED:
                # The rater's page sends a label late (a lost connection outlived the lease):
                # accept it if one of the item's k slots is still free.
                try:
                    _slot_retake(item=item, now=now)
                except ItemClosed:
                    raise LeaseExpired(
                        "Your lease on this item expired and other raters took the item."
                    ) from None
            elif assignment.status == AssignmentStatus.SKIPPED:
                _slot_retake(item=item, now=now)
            annotation = Annotation.objects.create(
                project=project, item=item, rater=rater, value=clean, client_id=client_id,
                time_spent_ms=time_spent_ms, gold_correct=gold_correct,
            )  # fmt: skip
            AnnotationRevision.objects.create(
                annotation=annotation, revision=1, value=clean, client_id=client_id,
                time_spent_ms=time_spent_ms,
            )  # fmt: skip
            assignment.status = AssignmentStatus.SUBMITTED
            assignment.expires_at = None
            assignment.save(update_fields=["status", "expires_at", "updated_at"])
            k = project.raters_per_item
            Item.objects.filter(pk=item.pk).update(
                annotation_count=F("annotation_count") + 1,
                status=Case(
                    When(
                        Q(annotation_count__gte=k - 1)
                        & Q(status__in=[ItemStatus.OPEN, ItemStatus.IN_PROGRESS]),
                        then=Value(ItemStatus.LABELED),
                    ),
                    default=F("status"),
                ),
                updated_at=now,
            )
            return SubmitResult(annotation=annotation, created=True, replayed=False)
    except IntegrityError:
        # Two copies of the same request raced past the replay check; the loser hit the unique
        # client_id and rolled back. Return what the winner wrote.
        if (replayed := _replay(client_id, rater)) is not None:
            return SubmitResult(annotation=replayed, created=False, replayed=True)
        raise


def _slot_retake(*, item: Item, now: datetime) -> None:
    """A rater labels an item they skipped earlier: they need one of its k slots again (and an
    item the skip left open is in progress again)."""
    items = Item.objects.filter(pk=item.pk).exclude(status=ItemStatus.RESOLVED)
    if not item.is_gold:
        items = items.filter(slots_taken__lt=item.project.raters_per_item)
    taken = items.update(slots_taken=F("slots_taken") + 1, status=STATUS_AFTER_TAKE, updated_at=now)
    if not taken:
        raise ItemClosed("Enough raters have labeled this item since you skipped it.")


def _annotation_change(
    *,
    item: Item,
    rater: AbstractBaseUser,
    value: Any,
    client_id: uuid.UUID,
    time_spent_ms: int,
    gold_correct: bool | None,
    now: datetime,
) -> SubmitResult:
    """Change a submitted label: the annotation keeps its id (lineage) and gains a revision."""
    annotation = Annotation.objects.select_for_update().get(item=item, rater=rater)
    annotation.revision = F("revision") + 1
    annotation.value = value
    annotation.gold_correct = gold_correct
    annotation.time_spent_ms = F("time_spent_ms") + time_spent_ms
    annotation.save(update_fields=["revision", "value", "gold_correct", "time_spent_ms",
                                   "updated_at"])  # fmt: skip
    annotation.refresh_from_db()
    AnnotationRevision.objects.create(
        annotation=annotation, revision=annotation.revision, value=value, client_id=client_id,
        time_spent_ms=time_spent_ms,
    )  # fmt: skip
    return SubmitResult(annotation=annotation, created=False, replayed=False)


def item_skip(
    *, item: Item, rater: AbstractBaseUser, reason: str = "", now: datetime | None = None
) -> Assignment:
    """The rater passes on an item they hold: its slot goes back to the queue for others, and
    the rater never gets it again. Skipping twice is harmless."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().filter(item=item, rater=rater).first()
        if assignment is None:
            raise NoLease("You do not hold this item: take items from your queue.")
        if assignment.status == AssignmentStatus.SKIPPED:
            return assignment
        if assignment.status == AssignmentStatus.SUBMITTED:
            raise ItemClosed("You already labeled this item; change the label instead.")
        # An expired lease's slot was freed when it was reclaimed: nothing more to give back.
        holds_slot = assignment.status != AssignmentStatus.EXPIRED
        assignment.status = AssignmentStatus.SKIPPED
        assignment.expires_at = None
        assignment.skip_reason = reason.strip()[:500]
        assignment.save(update_fields=["status", "expires_at", "skip_reason", "updated_at"])
        if holds_slot:
            slots_release({item.pk: 1}, now)
    return assignment
