"""A lead's decisions on conflicts: choose the final label, ask for one more rater, mark the item
ambiguous, or reopen an earlier decision. Each is a `Resolution` row (who, when, from what to
what, a note) and a line of the item's history; none is ever changed afterwards.

Every decision locks the item's row first, then the conflict's, in that order as the live
evaluation does (a submit locks the item and then writes the conflict), so a decision and a
late label on the same item are serialized and never deadlock.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agreement.models import (
    OPEN_STATUSES,
    Conflict,
    ConflictStatus,
    EventKind,
    ItemEvent,
    LabelOfRecord,
    LabelSource,
    Method,
    Resolution,
    ResolutionAction,
)
from agreement.services.evaluation import items_evaluate
from core.errors import Conflict as StateConflict
from labeling.lead_assignment import item_rater_add
from labeling.models import Annotation
from projects.models import Item, ItemStatus, Project
from projects.services.archive import project_ensure_writable
from projects.services.items import items_status_set
from projects.values import InvalidValue, annotation_value_clean

if TYPE_CHECKING:
    from django.contrib.auth.models import User

NOTE_MAX = 2000


def _locked(conflict: Conflict) -> tuple[Conflict, Any]:
    """The conflict afresh under its item's lock and its own; and the item's label of record
    value now (None when it has none)."""
    Item.objects.select_for_update().filter(pk=conflict.item_id).values_list("pk").get()
    fresh = Conflict.objects.select_for_update().select_related("project").get(pk=conflict.pk)
    before = (
        LabelOfRecord.objects.filter(item_id=fresh.item_id).values_list("value", flat=True).first()
    )
    return fresh, before


def _record(
    conflict: Conflict, *, lead: User, action: str, status_before: str, value_before: Any,
    value_after: Any, note: str, now: datetime, message: str,
) -> Resolution:  # fmt: skip
    conflict.save(update_fields=["status", "closed_at", "times_opened"])
    resolution = Resolution.objects.create(
        conflict=conflict, lead=lead, action=action, value_before=value_before,
        value_after=value_after, status_before=status_before, status_after=conflict.status,
        note=note.strip()[:NOTE_MAX], created_at=now,
    )  # fmt: skip
    text = message + (f" Note: {note.strip()}" if note.strip() else "")
    ItemEvent.objects.create(
        item_id=conflict.item_id, project_id=conflict.project_id, kind=EventKind.RESOLUTION,
        actor=lead, message=text[:500], created_at=now,
    )  # fmt: skip
    return resolution


def _require(conflict: Conflict, allowed: tuple[str, ...], doing: str) -> None:
    if conflict.status not in allowed:
        raise StateConflict(
            f"This conflict is {conflict.get_status_display().lower()}: it cannot be {doing} "
            "now. Reload it to see its current state."
        )


@transaction.atomic
def conflict_resolve(
    *, conflict: Conflict, lead: User, value: Any, note: str = "", now: datetime | None = None
) -> Resolution:
    """Choose the item's final label: it becomes the label of record (source: resolution) and
    the item is resolved; raters can no longer change their labels on it."""
    now = now or timezone.now()
    conflict, before = _locked(conflict)
    project = conflict.project
    project_ensure_writable(project=project)
    _require(conflict, (ConflictStatus.OPEN, ConflictStatus.WAITING), "resolved")
    labels = set(project.labels.filter(archived=False).values_list("value", flat=True))
    try:
        clean = annotation_value_clean(project=project, value=value, label_values=labels)
    except InvalidValue as error:
        raise ValidationError({"value": error.message}) from error
    status_before = conflict.status
    conflict.status, conflict.closed_at = ConflictStatus.RESOLVED, now
    resolution = _record(
        conflict, lead=lead, action=ResolutionAction.RESOLVE, status_before=status_before,
        value_before=before, value_after=clean, note=note, now=now,
        message=f"{_name(lead)} chose {clean!r} as the final label.",
    )  # fmt: skip
    LabelOfRecord.objects.update_or_create(
        item_id=conflict.item_id,
        defaults={
            "project_id": project.pk, "value": clean, "source": LabelSource.RESOLUTION,
            "method": Method.LEAD, "confidence": None, "annotations": _annotations(conflict),
            "resolution": resolution, "updated_at": now,
        },
    )  # fmt: skip
    items_status_set(statuses={conflict.item_id: ItemStatus.RESOLVED}, now=now)
    return resolution


@transaction.atomic
def conflict_more_raters(
    *, conflict: Conflict, lead: User, note: str = "", now: datetime | None = None
) -> Resolution:
    """Ask for one more rater: the item goes back to the queue with one more slot, and is
    evaluated again when that label is in (agreed then, or open again for a lead)."""
    now = now or timezone.now()
    conflict, before = _locked(conflict)
    project_ensure_writable(project=conflict.project)
    _require(conflict, (ConflictStatus.OPEN,), "sent to one more rater")
    conflict.status = ConflictStatus.WAITING
    resolution = _record(
        conflict, lead=lead, action=ResolutionAction.MORE_RATERS,
        status_before=ConflictStatus.OPEN, value_before=before, value_after=before, note=note,
        now=now, message=f"{_name(lead)} asked for one more rater.",
    )  # fmt: skip
    item_rater_add(item_id=conflict.item_id, now=now)
    return resolution


@transaction.atomic
def conflict_mark_ambiguous(
    *, conflict: Conflict, lead: User, note: str = "", now: datetime | None = None
) -> Resolution:
    """Mark the item ambiguous: it has no label of record and stays out of datasets."""
    now = now or timezone.now()
    conflict, before = _locked(conflict)
    project_ensure_writable(project=conflict.project)
    _require(conflict, (ConflictStatus.OPEN, ConflictStatus.WAITING), "marked ambiguous")
    status_before = conflict.status
    conflict.status, conflict.closed_at = ConflictStatus.AMBIGUOUS, now
    resolution = _record(
        conflict, lead=lead, action=ResolutionAction.AMBIGUOUS, status_before=status_before,
        value_before=before, value_after=None, note=note, now=now,
        message=f"{_name(lead)} marked the item ambiguous (kept out of datasets).",
    )  # fmt: skip
    LabelOfRecord.objects.filter(item_id=conflict.item_id).delete()
    items_status_set(statuses={conflict.item_id: ItemStatus.RESOLVED}, now=now)
    return resolution


@transaction.atomic
def conflict_reopen(
    *, conflict: Conflict, lead: User, note: str = "", now: datetime | None = None
) -> Resolution:
    """Take back a resolution or an ambiguity mark: the item is evaluated afresh from its
    raters' labels (a conflict again, unless its labels changed since and now agree)."""
    now = now or timezone.now()
    conflict, before = _locked(conflict)
    project = conflict.project
    project_ensure_writable(project=project)
    _require(conflict, (ConflictStatus.RESOLVED, ConflictStatus.AMBIGUOUS), "reopened")
    status_before = conflict.status
    conflict.status, conflict.closed_at = ConflictStatus.OPEN, None
    conflict.times_opened += 1
    resolution = _record(
        conflict, lead=lead, action=ResolutionAction.REOPEN, status_before=status_before,
        value_before=before, value_after=None, note=note, now=now,
        message=f"{_name(lead)} reopened the item's conflict.",
    )  # fmt: skip
    LabelOfRecord.objects.filter(item_id=conflict.item_id).delete()
    items_status_set(statuses={conflict.item_id: ItemStatus.CONFLICT}, now=now)
    items_evaluate(
        project=project, item_ids=[conflict.item_id], reason="resolution", actor_id=lead.pk,
        now=now,
    )  # fmt: skip
    resolution.refresh_from_db()
    return resolution


def _annotations(conflict: Conflict) -> dict[str, int]:
    return {
        str(pk): revision
        for pk, revision in Annotation.objects.filter(item_id=conflict.item_id).values_list(
            "pk", "revision"
        )
    }


def _name(user: User) -> str:
    return user.get_full_name() or user.get_username()


def conflict_next(*, project: Project, after: Conflict | None = None) -> Conflict | None:
    """The open conflict a lead should look at next: lowest agreement first (ties by id), after
    `after` in that order when given (so that resolving moves on to the next)."""
    # Conflicts with no agreement figure (a single rater) last, on every database, as the
    # queue's list shows them (agreement.selectors.QUEUE_ORDER).
    queue = Conflict.objects.filter(project=project, status__in=OPEN_STATUSES[:1]).order_by(
        F("observed").asc(nulls_last=True), "pk"
    )
    if after is not None:
        queue = queue.exclude(pk=after.pk)
    return queue.first()
