"""Submitting, changing and skipping labels."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core import sql
from labeling.assignment import STATUS_AFTER_TAKE, slots_release
from labeling.changes import ChangeReason, LabelsChanged, labels_changed
from labeling.errors import InvalidValue, ItemClosed, ItemNotFound, LeaseExpired, NoLease
from labeling.models import Annotation, AnnotationRevision, Assignment, AssignmentStatus
from projects.models import Item, ItemStatus, LabelKind, Membership, Project
from projects.services.archive import project_ensure_writable
from projects.values import InvalidValue as ValueInvalid
from projects.values import annotation_value_clean

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_TIME_SPENT_MS = 6 * 60 * 60 * 1000  # a client clock gone wrong must not poison the stats


@dataclass(frozen=True)
class SubmitResult:
    annotation: Annotation
    created: bool  # a new annotation (first label of this rater on this item)
    replayed: bool  # a retried request: nothing was written


def _label_codes(project: Project) -> dict[str, int]:
    """The id of each label a rater may choose (archived labels are hidden from raters)."""
    return {value: label_id for label_id, value in sql.fetch_all(
        "SELECT id, value FROM projects_label WHERE project_id = %s AND NOT archived",
        [project.pk],
    )}  # fmt: skip


def _coded(
    kind: str, clean: Any, codes: dict[str, int]
) -> tuple[int | None, int | None, list[int]]:
    """A clean value as the columns store it: (label_id, rating, chosen label ids)."""
    if kind == LabelKind.RATING:
        return None, int(clean), []
    if kind == LabelKind.MULTI:
        return None, None, [codes[value] for value in clean]
    return codes[clean], None, []


ANNOTATIONS = sql.Loader(Annotation)


def _replay(client_id: uuid.UUID, rater: User, item_id: int) -> Annotation | None:
    """The annotation a submit with this client_id already wrote, if any."""
    row = sql.fetch_one(
        f"SELECT {ANNOTATIONS.columns()} FROM labeling_annotation WHERE id = ("
        "SELECT annotation_id FROM labeling_annotationrevision WHERE client_id = %s)",
        [sql.param(AnnotationRevision, "client_id", client_id)],
    )
    if row is None:
        return None
    annotation = ANNOTATIONS.load(row)
    if annotation.rater_id != rater.pk or annotation.item_id != item_id:
        raise NoLease("This client_id belongs to another submit; generate one per submit.")
    return annotation


def annotation_submit(
    *,
    project: Project,
    item_id: int,
    rater: User,
    value: Any,
    client_id: uuid.UUID | str,
    time_spent_ms: int = 0,
    now: datetime | None = None,
) -> SubmitResult:
    """Record the rater's label on the project's item `item_id`, or change it.

    Idempotent by `client_id`: a request retried after a dropped connection finds its revision
    and writes nothing. Accepted only while the rater holds the item (a lease, even one past its
    expiry that no claim has reclaimed yet, since its slot is still counted; or a lead's
    assignment), or to change the rater's own label before the item is resolved. A label sent
    after the lease was reclaimed (a connection lost for longer than the lease) is still
    accepted while one of the item's k slots is free. Otherwise a NoLease / LeaseExpired /
    ItemClosed error (HTTP 409), or ItemNotFound when the project has no such item.

    The first label is the hot path of the whole application (one per item per rater), so it
    is hand-written SQL: one read that locks, the label schema, five writes (core/sql.py
    says why).
    """
    project_ensure_writable(project=project)  # archived: read-only (no query: in memory)
    now = now or timezone.now()
    client_id = uuid.UUID(str(client_id))
    time_spent_ms = max(0, min(int(time_spent_ms or 0), MAX_TIME_SPENT_MS))
    stamp = sql.param(Annotation, "created_at", now)
    try:
        with transaction.atomic():
            # The rater's membership row first, as a claim takes it: a claim holding it may
            # reclaim leases and lock their items, so a submit that locked an item (a late or
            # skipped label retakes its slot) and then waited for the row would deadlock.
            sql.fetch_one(
                "SELECT id FROM projects_membership WHERE project_id = %s AND user_id = %s"
                + sql.locking("FOR NO KEY UPDATE"),
                [project.pk, rater.pk],
            )
            # The lock on the rater's assignment row orders this submit against a reclaim of the
            # same lease: whichever commits first wins, and the loser sees it. The item's status
            # is read in the same statement, afresh: a lead may have resolved it meanwhile.
            held = sql.fetch_one(
                "SELECT a.id, a.status, i.status, i.is_gold"
                " FROM labeling_assignment a JOIN projects_item i ON i.id = a.item_id"
                " WHERE a.item_id = %s AND a.rater_id = %s AND i.project_id = %s"
                + sql.locking("FOR UPDATE OF a"),
                [item_id, rater.pk, project.pk],
            )
            if held is None:
                if not Item.objects.filter(pk=item_id, project=project).exists():
                    raise ItemNotFound("No item with this id in this project.")
                raise NoLease("You do not hold this item: take items from your queue.")
            assignment_id, assignment_status, item_status, is_gold = held
            # Only a submitted item can have seen this client_id: a retry of a first label finds
            # the row submitted, as do two copies of one request, serialized by the lock above.
            # (A client_id reused for another item fails the insert below: see the except.)
            if assignment_status == AssignmentStatus.SUBMITTED and (
                replayed := _replay(client_id, rater, item_id)
            ):
                return SubmitResult(annotation=replayed, created=False, replayed=True)
            if item_status == ItemStatus.RESOLVED:
                raise ItemClosed("A lead has resolved this item; its labels can no longer change.")
            kind = project.label_kind
            codes = _label_codes(project) if kind != LabelKind.RATING else {}
            try:
                clean = annotation_value_clean(project=project, value=value, label_values=codes)
            except ValueInvalid as error:
                raise InvalidValue(error.message) from None
            label_id, rating, chosen = _coded(kind, clean, codes)
            if assignment_status == AssignmentStatus.SUBMITTED:
                return _annotation_change(
                    project=project, item_id=item_id, rater=rater, value=clean,
                    coded=(label_id, rating, chosen), client_id=client_id,
                    time_spent_ms=time_spent_ms, now=now,
                )  # fmt: skip
            if assignment_status == AssignmentStatus.EXPIRED:
                # The rater's page sends a label late (a lost connection outlived the lease):
                # accept it if one of the item's k slots is still free.
                try:
                    _slot_retake(project=project, item_id=item_id, is_gold=is_gold, now=now)
                except ItemClosed:
                    raise LeaseExpired(
                        "Your lease on this item expired and other raters took the item."
                    ) from None
            elif assignment_status == AssignmentStatus.SKIPPED:
                _slot_retake(project=project, item_id=item_id, is_gold=is_gold, now=now)
            json_value = sql.param(AnnotationRevision, "value", clean)
            db_client_id = sql.param(Annotation, "client_id", client_id)
            row = sql.fetch_one(
                "INSERT INTO labeling_annotation (project_id, item_id, rater_id, label_id, rating,"
                " client_id, time_spent_ms, revision, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s, %s)"
                f" RETURNING {ANNOTATIONS.columns()}",
                [project.pk, item_id, rater.pk, label_id, rating, db_client_id, time_spent_ms,
                 stamp, stamp],
            )  # fmt: skip
            assert row is not None
            annotation = ANNOTATIONS.load(row)
            annotation.value_known(clean)
            if chosen:
                _chosen_insert(annotation.pk, chosen)
            sql.execute(
                "INSERT INTO labeling_annotationrevision (annotation_id, revision, value,"
                " client_id, time_spent_ms, created_at) VALUES (%s, 1, %s, %s, %s, %s)",
                [annotation.pk, json_value, db_client_id, time_spent_ms, stamp],
            )
            sql.execute(
                "UPDATE labeling_assignment SET status = 'submitted', expires_at = NULL,"
                " updated_at = %s WHERE id = %s",
                [stamp, assignment_id],
            )
            # Forward only: a submit stamped just before midnight may commit after one stamped
            # just after it; it counts in the total, not in the new day's count.
            today = sql.param(Membership, "labeled_on", timezone.localdate(now))
            sql.execute(
                "UPDATE projects_membership SET labeled_total = labeled_total + 1,"
                " labeled_today = CASE WHEN labeled_on = %s THEN labeled_today + 1"
                " WHEN labeled_on > %s THEN labeled_today ELSE 1 END,"
                " labeled_on = CASE WHEN labeled_on > %s THEN labeled_on ELSE %s END"
                " WHERE project_id = %s AND user_id = %s",
                [today, today, today, today, project.pk, rater.pk],
            )
            # The k-th label makes the item labeled (ready for agreement); every label is a
            # change of what the item's agreement rests on.
            status = sql.fetch_one(
                "UPDATE projects_item SET annotation_count = annotation_count + 1, status = CASE"
                " WHEN annotation_count >= %s + extra_slots AND status IN ('open', 'in_progress')"
                " THEN 'labeled' ELSE status END, change_count = change_count + 1,"
                " updated_at = %s WHERE id = %s RETURNING status",
                [project.raters_per_item - 1, stamp, item_id],
            )
            assert status is not None
            # The item's last label: its agreement is evaluated now, in this transaction.
            labels_changed(
                LabelsChanged(
                    project=project, item_ids=[item_id], reason=ChangeReason.SUBMIT,
                    actor_id=rater.pk, statuses={item_id: status[0]},
                )
            )  # fmt: skip
            return SubmitResult(annotation=annotation, created=True, replayed=False)
    except IntegrityError:
        # The client_id is taken: by another submit, which is an error; or (defensively: the
        # lock above orders copies of one request) by a copy of this one, whose answer stands.
        if (replayed := _replay(client_id, rater, item_id)) is not None:
            return SubmitResult(annotation=replayed, created=False, replayed=True)
        raise


def _slot_retake(*, project: Project, item_id: int, is_gold: bool, now: datetime) -> None:
    """A rater labels an item they skipped earlier: they need one of its k slots again (and an
    item the skip left open is in progress again)."""
    items = Item.objects.filter(pk=item_id).exclude(status=ItemStatus.RESOLVED)
    if not is_gold:
        items = items.filter(slots_taken__lt=project.raters_per_item)
    taken = items.update(slots_taken=F("slots_taken") + 1, status=STATUS_AFTER_TAKE, updated_at=now)
    if not taken:
        raise ItemClosed("Enough raters have labeled this item since you skipped it.")


def _chosen_insert(annotation_id: int, label_ids: list[int]) -> None:
    """The labels of a multi-label annotation, one row each, in one statement."""
    sql.execute(
        "INSERT INTO labeling_annotationlabel (annotation_id, label_id) VALUES "
        + ", ".join(["(%s, %s)"] * len(label_ids)),
        [param for label_id in label_ids for param in (annotation_id, label_id)],
    )


def _annotation_change(
    *,
    project: Project,
    item_id: int,
    rater: User,
    value: Any,
    coded: tuple[int | None, int | None, list[int]],
    client_id: uuid.UUID,
    time_spent_ms: int,
    now: datetime,
) -> SubmitResult:
    """Change a submitted label: the annotation keeps its id (lineage) and gains a revision,
    and the item's change counter moves (even on an item long fully labeled), so that what
    rests on its labels is computed again."""
    label_id, rating, chosen = coded
    annotation = Annotation.objects.select_for_update().get(item_id=item_id, rater=rater)
    annotation.revision = F("revision") + 1
    annotation.label_id = label_id
    annotation.rating = rating
    annotation.time_spent_ms = F("time_spent_ms") + time_spent_ms
    annotation.save(update_fields=["revision", "label", "rating", "time_spent_ms", "updated_at"])
    annotation.refresh_from_db()
    if label_id is None and rating is None:  # multi-label: the chosen labels are rows
        annotation.chosen.all().delete()
        if chosen:
            _chosen_insert(annotation.pk, chosen)
    annotation.value_known(value)
    AnnotationRevision.objects.create(
        annotation=annotation, revision=annotation.revision, value=value, client_id=client_id,
        time_spent_ms=time_spent_ms,
    )  # fmt: skip
    Item.objects.filter(pk=item_id).update(change_count=F("change_count") + 1, updated_at=now)
    labels_changed(
        LabelsChanged(
            project=project, item_ids=[item_id], reason=ChangeReason.EDIT,
            actor_id=rater.pk,
        )
    )  # fmt: skip
    return SubmitResult(annotation=annotation, created=False, replayed=False)


def item_skip(
    *, item: Item, rater: User, reason: str = "", now: datetime | None = None
) -> Assignment:
    """The rater passes on an item they hold: its slot goes back to the queue for others, and
    the rater never gets it again. Skipping twice is harmless."""
    project_ensure_writable(project=item.project)
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
